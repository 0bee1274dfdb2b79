"""Exports from the one representation: Airflow 3 (``airflow.sdk`` TaskFlow), Prefect 3
(``@flow``/``@task`` + ``serve(cron=…)``) and Kubeflow Pipelines v2 (components + compiled YAML).

Each generated file keeps the notebook's step names, embeds each step's code as the notebook
has it (``# %% cell N`` markers), and calls ``jupyter_mlops.pipeline.runtime.run_step`` for
artifacts and caching, so a step behaves as in the local runner. Imports of the step's own
libraries happen inside the step's process, so parsing a DAG file stays cheap; no credentials
are written (S3 uses boto3's credential chain where the task runs).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from .._version import __version__
from ..config import redact
from ..errors import UserInputError
from .magics import parse_cell
from .results import TARGETS, ExportResult, Target

if TYPE_CHECKING:
    from .model import ParameterType, Pipeline, Step

CRON_PRESETS = ("@once", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly",
                "@annually", "@midnight")
CRON_FIELD = re.compile(r"^[0-9*/,\-A-Za-z?LW#]+$")
#: Import names whose distribution has another name (when this environment cannot say).
DISTRIBUTIONS = {"sklearn": "scikit-learn", "PIL": "Pillow", "cv2": "opencv-python",
                 "yaml": "PyYAML", "skimage": "scikit-image", "bs4": "beautifulsoup4"}


def _target(name: str) -> Target:
    for target in TARGETS:
        if name == target:
            return target
    raise UserInputError(f"unknown export target {name!r}: use one of {', '.join(TARGETS)}")


def check_schedule(schedule: str | None) -> str | None:
    """A cron expression (5 fields) or a preset such as @daily; one clear line otherwise."""
    if schedule is None or not schedule.strip():
        return None
    text = " ".join(schedule.split())
    if text in CRON_PRESETS:
        return text
    fields = text.split(" ")
    if len(fields) != 5 or not all(CRON_FIELD.match(f) for f in fields):
        raise UserInputError(f"schedule {schedule!r} is not a cron expression: use five fields "
                             f"such as '0 3 * * *', or one of {', '.join(CRON_PRESETS)}")
    return text


# --------------------------------------------------------------------------- shared pieces


def _string(text: str) -> str:
    """A readable Python literal for a step's code (triple-quoted where it can be)."""
    if "'''" not in text and not text.endswith("\\"):
        escaped = text.replace("\\", "\\\\")
        return "'''\\\n" + escaped + "'''"
    return repr(text)


def _spec_literal(pipeline: Pipeline, step: Step, indent: str = "") -> str:
    spec = pipeline.step_spec(step)
    lines = [f"{indent}{{"]
    for key in ("pipeline", "notebook", "step", "inputs", "outputs", "parameters", "cache"):
        lines.append(f"{indent}    {key!r}: {spec[key]!r},")
    lines.append(f"{indent}    'code': {_string(spec['code'])},")
    lines.append(f"{indent}}}")
    return "\n".join(lines)


def _const(step: Step) -> str:
    return step.ident.upper()


def _needs(step: Step) -> str:
    parts = []
    if step.gpu:
        parts.append(f"{step.gpu} GPU")
    if step.cpu:
        parts.append(f"{step.cpu} CPU")
    if step.memory:
        parts.append(f"{step.memory} memory")
    return ", ".join(parts)


def _artifacts(pipeline: Pipeline) -> str:
    return str(redact(pipeline.artifacts))


def ipython_note(pipeline: Pipeline) -> str:
    """What an export does with IPython syntax (``!ls``, ``%time``): the runtime runs those
    cells through IPython's InteractiveShell where the task runs, as the local runner does."""
    cells = {c.number: c.magics for c in [*pipeline.prelude, *(c for s in pipeline.steps
                                                               for c in s.cells)] if c.magics}
    if not cells:
        return ""
    where = ", ".join(f"{n} ({' '.join(m)})" for n, m in sorted(cells.items()))
    return (f"cells {where} use IPython syntax: their steps run them through IPython's "
            "InteractiveShell where the task runs (IPython comes with jupyter-mlops), as "
            "`pipeline run` does")


def _header(pipeline: Pipeline, engine: str, command: str, extra: str = "") -> str:
    flow = " -> ".join(s.name for s in pipeline.order)
    magics = ipython_note(pipeline)
    if magics:
        extra = "\n\n".join(filter(None, [extra, textwrap.fill(f"IPython: {magics}.", 88)]))
    return (f'"""{engine} for the notebook {pipeline.notebook.name}, written by jupyter-mlops '
            f"{__version__}.\n\nSteps (in dependency order): {flow}\n\n"
            "Each task runs one notebook step through jupyter_mlops.pipeline.runtime: the step's "
            "code in its\nown process, its inputs and outputs saved by type in the artifact "
            "store, and a content-hash\ncache, exactly as `jupyter mlops pipeline run` does. "
            "Re-export instead of editing:\n\n"
            f"    jupyter mlops pipeline export {pipeline.notebook.name} {command}\n"
            + (f"\n{extra}\n" if extra else "") + '"""\n')


def _code_constants(pipeline: Pipeline) -> str:
    parts = ["# " + "-" * 76 + " the notebook's steps\n"]
    for step in pipeline.steps:
        parts.append(f"{_const(step)} = {_spec_literal(pipeline, step)}\n\n")
    return "".join(parts)


def _upstream(step: Step) -> str:
    return "{" + ", ".join(f"{d!r}: {d.replace('-', '_')}" for d in step.depends_on) + "}"


# --------------------------------------------------------------------------- Airflow 3

AIRFLOW_TYPES: dict[ParameterType, str] = {
    "int": "integer", "float": "number", "str": "string", "bool": "boolean", "list": "array",
    "dict": "object"}


def airflow_source(pipeline: Pipeline, schedule: str | None) -> str:
    dag_id = pipeline.name
    params = ", ".join(
        f"{p.name!r}: Param({p.default!r}" + (f", type={AIRFLOW_TYPES[p.type]!r})"
                                             if p.type in AIRFLOW_TYPES else ")")
        for p in pipeline.parameters)
    out = [_header(pipeline, "Airflow 3 DAG", "--target airflow --out DAGS_FOLDER"
                   + (f" --schedule '{schedule}'" if schedule else "")),
           "from __future__ import annotations\n\n",
           "import os\nfrom datetime import datetime, timezone\nfrom typing import Any\n\n",
           "from airflow.sdk import Param, dag, get_current_context, task\n\n",
           "# where step outputs and the cache live (boto3's credential chain for s3://)\n",
           f"ARTIFACTS = os.environ.get('MLOPS_PIPELINE_ARTIFACTS', {_artifacts(pipeline)!r})\n",
           f"ENDPOINT_URL = os.environ.get('AWS_ENDPOINT_URL', {pipeline.endpoint_url!r})\n\n",
           _code_constants(pipeline),
           "def run_step(spec: dict[str, Any], upstream: dict[str, Any]) -> dict[str, Any]:\n",
           '    """Run one notebook step with the parameters of this DAG run."""\n',
           "    from jupyter_mlops.pipeline import runtime\n\n",
           "    params = dict(get_current_context()['params'])\n",
           "    return runtime.run_step(spec, artifacts=ARTIFACTS, endpoint_url=ENDPOINT_URL,\n",
           "                            upstream=upstream, params=params, echo=True)\n\n\n",
           "@dag(\n",
           f"    dag_id={dag_id!r},\n",
           f"    schedule={schedule!r},\n",
           "    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),\n",
           "    catchup=False,\n",
           f"    params={{{params}}},\n",
           "    tags=['jupyter-mlops'],\n",
           "    doc_md=__doc__,\n",
           ")\n",
           f"def {pipeline.name}() -> None:\n"]
    for step in pipeline.order:
        args = ", ".join(f"{d.replace('-', '_')}: dict[str, Any]" for d in step.depends_on)
        needs = _needs(step)
        if needs:
            out.append(f"    # needs {needs}: route it with a pool, queue or the "
                       "KubernetesExecutor's pod_override\n")
        out.append(f"    @task(task_id={step.name!r}, retries={step.retries})\n")
        out.append(f"    def {step.ident}({args}) -> dict[str, Any]:\n")
        out.append(f"        return run_step({_const(step)}, {_upstream(step)})\n\n")
    for step in pipeline.order:
        call = ", ".join(f"out_{d.replace('-', '_')}" for d in step.depends_on)
        out.append(f"    out_{step.ident} = {step.ident}({call})\n")
    out.append(f"\n\n{pipeline.name}()\n")
    return "".join(out)


# --------------------------------------------------------------------------- Prefect 3

PY_TYPES: dict[ParameterType, str] = {
    "int": "int", "float": "float", "str": "str", "bool": "bool", "list": "list", "dict": "dict",
    "any": "Any"}


def prefect_source(pipeline: Pipeline, schedule: str | None) -> str:
    signature = ", ".join(f"{p.name}: {PY_TYPES[p.type]} = {p.default!r}"
                          for p in pipeline.parameters)
    collect = ", ".join(f"{p.name!r}: {p.name}" for p in pipeline.parameters)
    out = [_header(pipeline, "Prefect 3 flow", "--target prefect --out DIR"
                   + (f" --schedule '{schedule}'" if schedule else ""),
                   "Run it once with `python THIS_FILE`; serve it on its schedule with "
                   "`python THIS_FILE serve`."),
           "from __future__ import annotations\n\n",
           "import os\nimport sys\nfrom typing import Any\n\n",
           "# `python THIS_FILE` without PREFECT_API_URL starts Prefect's temporary server, whose\n"
           "# first start creates its database: on a busy machine that takes longer than\n"
           "# Prefect's 20 s default (set before prefect is imported, which reads it once)\n",
           "os.environ.setdefault('PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS', '180')\n\n",
           "from prefect import flow, task  # noqa: E402\n"
           "from prefect.cache_policies import NO_CACHE  # noqa: E402\n\n",
           "# where step outputs and the cache live (boto3's credential chain for s3://)\n",
           f"ARTIFACTS = os.environ.get('MLOPS_PIPELINE_ARTIFACTS', {_artifacts(pipeline)!r})\n",
           f"ENDPOINT_URL = os.environ.get('AWS_ENDPOINT_URL', {pipeline.endpoint_url!r})\n",
           f"SCHEDULE = {schedule!r}  # cron for `python {pipeline.name}_flow.py serve`\n\n",
           _code_constants(pipeline),
           "def run_step(spec: dict[str, Any], upstream: dict[str, Any],\n",
           "             pipeline_params: dict[str, Any]) -> dict[str, Any]:\n",
           "    from jupyter_mlops.pipeline import runtime\n\n",
           "    return runtime.run_step(spec, artifacts=ARTIFACTS, endpoint_url=ENDPOINT_URL,\n",
           "                            upstream=upstream, params=pipeline_params,\n"
           "                            echo=True)\n\n\n",
           "# Caching: run_step serves a step from the content-hash cache (its code, parameters "
           "and\n# inputs' contents), the same cache as the local runner; Prefect's own is off.\n"]
    for step in pipeline.order:
        args = "".join(f", {d.replace('-', '_')}: dict[str, Any]" for d in step.depends_on)
        needs = _needs(step)
        if needs:
            out.append(f"# needs {needs}: run it on a work pool whose workers have them\n")
        tags = "['jupyter-mlops'" + (", 'gpu'" if step.gpu else "") + "]"
        out.append(f"@task(name={step.name!r}, retries={step.retries}, cache_policy=NO_CACHE, "
                   f"tags={tags})\n")
        out.append(f"def {step.ident}(pipeline_params: dict[str, Any]{args}) "
                   "-> dict[str, Any]:\n")
        out.append(f"    return run_step({_const(step)}, {_upstream(step)}, "
                   "pipeline_params)\n\n\n")
    out.append(f"@flow(name={pipeline.name!r}, log_prints=True)\n")
    out.append(f"def {pipeline.name}({signature}) -> dict[str, Any]:\n")
    out.append(f"    pipeline_params = {{{collect}}}\n")
    for step in pipeline.order:
        deps = "".join(f", {d.replace('-', '_')}=out_{d.replace('-', '_')}"
                       for d in step.depends_on)
        out.append(f"    out_{step.ident} = {step.ident}.submit(pipeline_params{deps})\n")
    results = ", ".join(f"{s.name!r}: out_{s.ident}.result()" for s in pipeline.order)
    out.append(f"    return {{{results}}}\n\n\n")
    out.append("if __name__ == '__main__':\n")
    out.append("    if sys.argv[1:2] == ['serve']:\n")
    out.append(f"        {pipeline.name}.serve(name={pipeline.name!r}, cron=SCHEDULE)\n")
    out.append("    else:\n")
    out.append(f"        {pipeline.name}()\n")
    return "".join(out)


# --------------------------------------------------------------------------- Kubeflow Pipelines


def _packages(pipeline: Pipeline) -> list[str]:
    """Distributions a step's imports need, for the components' ``packages_to_install``."""
    modules: set[str] = set()
    for cell in [*pipeline.prelude, *(c for s in pipeline.steps for c in s.cells)]:
        try:
            tree = parse_cell(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module.split(".")[0])
    stdlib = set(getattr(sys, "stdlib_module_names", ()))
    try:
        known = metadata.packages_distributions()
    except Exception:  # pragma: no cover - broken metadata in the environment
        known = {}
    found = {"jupyter-mlops", "cloudpickle"}
    for module in sorted(modules - stdlib):
        if module in ("jupyter_mlops", "__future__"):
            continue
        names = known.get(module)
        found.add(DISTRIBUTIONS.get(module) or (names[0] if names else module))
    if "pandas" in found:
        found.add("pyarrow")
    return sorted(found, key=str.lower)


def kfp_source(pipeline: Pipeline, schedule: str | None) -> str:
    ptypes = {p.name: PY_TYPES[p.type] for p in pipeline.parameters}
    defaults = {p.name: p.default for p in pipeline.parameters}
    # no `from __future__ import annotations`: kfp reads the components' annotations as types
    out = [_header(pipeline, "Kubeflow Pipelines v2 pipeline", "--target kfp --out DIR"),
           "import os\nfrom typing import Any\n\n",
           "from kfp import compiler, dsl\n\n",
           "BASE_IMAGE = os.environ.get('MLOPS_KFP_BASE_IMAGE', 'python:3.11-slim')\n",
           f"PACKAGES = {_packages(pipeline)!r}\n",
           "# recurring runs are created with the client: kfp.Client().create_recurring_run(...,\n",
           f"#     cron_expression=SCHEDULE)\nSCHEDULE = {schedule!r}\n\n\n"]
    artifacts = _artifacts(pipeline)
    for step in pipeline.order:
        names = pipeline.step_spec(step)["parameters"]
        args = [f"{d.replace('-', '_')}: dict" for d in step.depends_on]
        args += [f"{n}: {ptypes.get(n, 'Any')}" for n in names]
        out.append("@dsl.component(base_image=BASE_IMAGE, packages_to_install=PACKAGES)\n")
        out.append(f"def {step.ident}({', '.join(args)}) -> dict:\n")
        out.append("    import os\n\n    from jupyter_mlops.pipeline import runtime\n\n")
        out.append("    spec = " + _spec_literal(pipeline, step, "    ").lstrip() + "\n")
        params = "{" + ", ".join(f"{n!r}: {n}" for n in names) + "}"
        out.append("    return runtime.run_step(\n")
        out.append(f"        spec, artifacts=os.environ.get('MLOPS_PIPELINE_ARTIFACTS', "
                   f"{artifacts!r}),\n")
        out.append(f"        endpoint_url=os.environ.get('AWS_ENDPOINT_URL', "
                   f"{pipeline.endpoint_url!r}),\n")
        out.append(f"        upstream={_upstream(step)}, params={params}, echo=True)\n\n\n")
    signature = ", ".join(f"{n}: {ptypes[n]} = {defaults[n]!r}" for n in ptypes)
    out.append(f"@dsl.pipeline(name={pipeline.name.replace('_', '-')!r}, "
               f"description={('Notebook ' + pipeline.notebook.name)!r})\n")
    out.append(f"def {pipeline.name}({signature}) -> None:\n")
    for step in pipeline.order:
        names = pipeline.step_spec(step)["parameters"]
        kwargs = [f"{d.replace('-', '_')}=task_{d.replace('-', '_')}.output"
                  for d in step.depends_on]
        kwargs += [f"{n}={n}" if n in ptypes else f"{n}={defaults.get(n)!r}" for n in names]
        var = f"task_{step.ident}"
        out.append(f"    {var} = {step.ident}({', '.join(kwargs)})\n")
        out.append(f"    {var}.set_display_name({step.name!r})\n")
        out.append(f"    {var}.set_caching_options(enable_caching={step.cache})\n")
        if step.retries:
            out.append(f"    {var}.set_retry(num_retries={step.retries})\n")
        if step.gpu:
            out.append(f"    {var}.set_accelerator_type('nvidia.com/gpu')"
                       f".set_accelerator_limit({step.gpu})\n")
        if step.cpu:
            out.append(f"    {var}.set_cpu_limit({step.cpu!r})\n")
        if step.memory:
            out.append(f"    {var}.set_memory_limit({step.memory!r})\n")
    out.append("\n\nif __name__ == '__main__':\n")
    out.append("    here = os.path.dirname(os.path.abspath(__file__))\n")
    out.append(f"    compiler.Compiler().compile({pipeline.name}, "
               f"os.path.join(here, {pipeline.name + '.yaml'!r}))\n")
    return "".join(out)


# --------------------------------------------------------------------------- writing


def export_pipeline(pipeline: Pipeline, target: str, out_dir: str | Path,
                    schedule: str | None = None, *, compile_with: str | None = None
                    ) -> ExportResult:
    """Write ``target``'s code for the pipeline into ``out_dir``; for kfp also compile the
    YAML with ``compile_with`` (a Python that has kfp; default: this one, when it has kfp)."""
    engine = _target(target)
    cron = check_schedule(schedule)
    if pipeline.name in {s.ident for s in pipeline.steps}:
        raise UserInputError(f"a step has the notebook's name {pipeline.name!r}: rename the "
                             "step (the exported DAG/flow function takes the notebook's name)")
    folder = Path(out_dir).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise UserInputError(f"{folder} is a file: --out needs a folder")
    source = {"airflow": airflow_source, "prefect": prefect_source, "kfp": kfp_source}[engine](
        pipeline, cron)
    compile(source, f"<{engine} export>", "exec")  # a bug of ours must not reach a DAG folder
    folder.mkdir(parents=True, exist_ok=True)
    suffix = {"airflow": "_dag", "prefect": "_flow", "kfp": "_kfp"}[engine]
    path = folder / f"{pipeline.name}{suffix}.py"
    path.write_text(source, encoding="utf-8")
    result = ExportResult(engine, [path])
    local = "://" not in pipeline.artifacts
    magics = ipython_note(pipeline)
    if magics:
        result.notes.append(magics)
    if engine == "kfp":
        if local:
            result.notes.append(f"artifacts go to the local folder {pipeline.artifacts}: pods "
                                "need a shared store, so set pipeline.artifacts to s3://… "
                                "(or MLOPS_PIPELINE_ARTIFACTS in the pods)")
        if cron:
            result.notes.append(f"schedule {cron}: create a recurring run with it (KFP keeps "
                                "schedules outside the pipeline spec)")
        _compile_kfp(path, folder / f"{pipeline.name}.yaml", compile_with, result)
    elif local:
        result.notes.append(f"artifacts go to {pipeline.artifacts}: workers on other machines "
                            "need pipeline.artifacts = s3://… (or MLOPS_PIPELINE_ARTIFACTS)")
    if pipeline.warnings:
        result.notes.append(f"{len(pipeline.warnings)} warning(s) about the notebook: see "
                            "'pipeline show'")
    return result


def _compile_kfp(path: Path, yaml_path: Path, python: str | None,
                 result: ExportResult) -> None:
    interpreter = python or sys.executable
    if python is None:
        from importlib.util import find_spec

        if find_spec("kfp") is None:
            result.compiled = False
            result.notes.append("kfp is not installed here, so the YAML was not compiled: "
                                f"pip install 'jupyter-mlops[kfp]' and run python {path.name}")
            return
    done = subprocess.run([interpreter, str(path)], cwd=path.parent, capture_output=True,
                          text=True, timeout=300, check=False)
    if done.returncode != 0 or not yaml_path.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserInputError(f"the KFP compiler refused the export: {last}")
    result.compiled = True
    result.files.append(yaml_path)
