"""Exports from the one representation: Airflow 3 (``airflow.sdk`` TaskFlow), Prefect 3
(``@flow``/``@task`` + ``serve(cron=…)``) and Kubeflow Pipelines v2 (components + compiled YAML).

Each generated file keeps the notebook's step names, embeds each step's code as the notebook
has it (``# %% cell N`` markers), and calls ``jupyter_mlops.pipeline.runtime.run_step`` for
artifacts and caching, so a step behaves as in the local runner. Imports of the step's own
libraries happen inside the step's process, so parsing a DAG file stays cheap; no credentials
are written (S3 uses boto3's credential chain where the task runs).

A notebook's names and values are untrusted (a cloned repository names its own files): every
string of theirs reaches the generated source as a ``repr`` literal, an escaped docstring or a
one-line comment, every name in a code position is checked to be an identifier, and the source
is compiled (and its docstring read back) before it is written; the KFP export runs only then,
in a folder of its own with ``python -I``.
"""

from __future__ import annotations

import ast
import keyword
import os
import re
import secrets
import shlex
import subprocess
import sys
import tempfile
import textwrap
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..config import redact
from ..errors import UserInputError
from . import sweeps
from .magics import parse_cell
from .marks import check_step_name, is_sweep_cell
from .results import TARGETS, ExportResult, Target
from .sweeps import is_sweep_step, sweep_settings

if TYPE_CHECKING:
    from .model import Parameter, ParameterType, Pipeline, Step

CRON_PRESETS = ("@once", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly",
                "@annually", "@midnight")
CRON_FIELD = re.compile(r"[0-9*/,\-A-Za-z?LW#]+")
#: Import names whose distribution has another name (when this environment cannot say).
DISTRIBUTIONS = {"sklearn": "scikit-learn", "PIL": "Pillow", "cv2": "opencv-python",
                 "yaml": "PyYAML", "skimage": "scikit-image", "bs4": "beautifulsoup4"}


def _target(name: str) -> Target:
    for target in TARGETS:
        if name == target:
            return target
    raise UserInputError(f"unknown export target {name!r}: use one of {', '.join(TARGETS)}")


def check_schedule(schedule: object) -> str | None:
    """A cron expression (5 fields) or a preset such as @daily; one clear line otherwise."""
    if schedule is not None and not isinstance(schedule, str):
        raise UserInputError(f"schedule must be a cron expression as a string, not "
                             f"{type(schedule).__name__} {schedule!r}")
    if schedule is None or not schedule.strip():
        return None
    text = " ".join(schedule.split())
    if text in CRON_PRESETS:
        return text
    fields = text.split(" ")
    if len(fields) != 5 or not all(CRON_FIELD.fullmatch(f) for f in fields):
        raise UserInputError(f"schedule {schedule!r} is not a cron expression: use five fields "
                             f"such as '0 3 * * *', or one of {', '.join(CRON_PRESETS)}")
    return text


# --------------------------------------------------------------------------- shared pieces


def _escaped(text: str, keep: str = "") -> str:
    """``text`` with every character that is not printable (a newline, a control character,
    a lone surrogate from a file name that is not UTF-8) as its backslash escape, except those
    in ``keep``."""
    return "".join(c if c in keep or c.isprintable() else repr(c)[1:-1] for c in text)


def _string(text: str) -> str:
    """A readable Python literal for a step's code (triple-quoted where it can be)."""
    if ("'''" not in text and not text.endswith(("\\", "'"))
            and all(c in "\n\t" or c.isprintable() for c in text)):
        escaped = text.replace("\\", "\\\\")
        return "'''\\\n" + escaped + "'''"
    return repr(text)


def _docstring(text: str) -> str:
    """``text`` as a triple-quoted literal that nothing in it can close: backslashes and double
    quotes escaped, newlines kept, other unprintable characters as escapes."""
    body = _escaped(text.replace("\\", "\\\\").replace('"', '\\"'), keep="\n")
    return '"""' + body + '"""'


def _comment(text: str) -> str:
    """``text`` for a ``#`` comment: on one line, whatever it holds."""
    return _escaped(text)


def _literal(value: Any, what: str) -> str:
    """``value`` as Python source that evaluates back to it, or one line saying it cannot be
    (a default of ``1e999`` is ``inf``, which is no literal)."""
    text = repr(value)
    try:
        same = bool(ast.literal_eval(text) == value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        same = False
    if not same:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise UserInputError(f"{what} {shown} cannot be written into an export as a Python "
                             "literal: give it a plain value")
    return text


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
    return _comment(", ".join(parts))


def _artifacts(pipeline: Pipeline) -> str:
    return str(redact(pipeline.artifacts))


def ipython_note(pipeline: Pipeline) -> str:
    """What an export does with IPython syntax (``!ls``, ``%time``): the runtime runs those
    cells through IPython's InteractiveShell where the task runs, as the local runner does."""
    cells = {c.number: c.magics for c in [*pipeline.prelude, *(c for s in pipeline.steps
                                                               for c in s.cells)]
             if c.magics and not (c.magics == ("%%mlops",) and is_sweep_cell(c.source))}
    if not cells:
        return ""
    where = ", ".join(f"{n} ({' '.join(m)})" for n, m in sorted(cells.items()))
    return (f"cells {where} use IPython syntax: their steps run them through IPython's "
            "InteractiveShell where the task runs (IPython comes with jupyter-mlops), as "
            "`pipeline run` does")


#: The Prefect flow's parameter (the Airflow DAG run's conf key) a monitoring rule fills with
#: its trigger (JSON, see ``tracking.trigger``): the export sets ``MLOPS_TRIGGER`` from it for
#: the steps it runs.
TRIGGER_PARAMETER = "mlops_trigger"
ENGINE_NAMES: dict[Target, str] = {"airflow": "Airflow 3 DAG", "prefect": "Prefect 3 flow",
                                   "kfp": "Kubeflow Pipelines v2 pipeline"}


def header_text(pipeline: Pipeline, engine: Target, schedule: str | None) -> str:
    """The generated file's docstring, as text (``_docstring`` makes it source)."""
    again = f"--target {engine} --out " + ("DAGS_FOLDER" if engine == "airflow" else "DIR")
    if schedule and engine != "kfp":
        again += f" --schedule {shlex.quote(schedule)}"
    return _header_text(pipeline, ENGINE_NAMES[engine], again, (
        "Run it once with `python THIS_FILE`; serve it on its schedule with "
        "`python THIS_FILE serve`." if engine == "prefect" else ""))


def _header_text(pipeline: Pipeline, engine: str, command: str, extra: str) -> str:
    flow = " -> ".join(s.name for s in pipeline.order)
    magics = ipython_note(pipeline)
    if magics:
        extra = "\n\n".join(filter(None, [extra, textwrap.fill(f"IPython: {magics}.", 88)]))
    notebook = pipeline.notebook.name
    return (f"{engine} for the notebook {notebook}, written by jupyter-mlops {__version__}.\n\n"
            f"Steps (in dependency order): {flow}\n\n"
            "Each task runs one notebook step through jupyter_mlops.pipeline.runtime: the step's "
            "code in its\nown process, its inputs and outputs saved by type in the artifact "
            "store, and a content-hash\ncache, exactly as `jupyter mlops pipeline run` does. "
            "Re-export instead of editing:\n\n"
            f"    jupyter mlops pipeline export {shlex.quote(notebook)} {command}\n"
            + (f"\n{extra}\n" if extra else ""))


def _header(pipeline: Pipeline, engine: Target, schedule: str | None) -> str:
    return _docstring(header_text(pipeline, engine, schedule)) + "\n"


def _code_constants(pipeline: Pipeline) -> str:
    parts = ["# " + "-" * 76 + " the notebook's steps\n"]
    for step in pipeline.steps:
        parts.append(f"{_const(step)} = {_spec_literal(pipeline, step)}\n\n")
    for step in pipeline.steps:
        if is_sweep_step(step):
            parts.append(f"# the sweep of step {step.name!r}: its plan, trial and best tasks\n"
                         f"{sweeps.settings_const(step)} = {_sweep_literal(pipeline, step)}\n\n")
    return "".join(parts)


def _sweep_literal(pipeline: Pipeline, step: Step, indent: str = "") -> str:
    """The sweep's settings, a key a line, each value a checked literal."""
    settings = sweep_settings(pipeline, step)
    what = f"in the sweep of step {step.name!r}, the value"
    lines = [f"    {key!r}: {_literal(value, what)}," for key, value in settings.items()]
    return "{\n" + "".join(f"{indent}{line}\n" for line in lines) + indent + "}"


def _has_sweeps(pipeline: Pipeline) -> bool:
    return any(is_sweep_step(step) for step in pipeline.steps)


def _default(parameter: Parameter) -> str:
    return _literal(parameter.default, f"the default of parameter {parameter.name!r},")


def _upstream(step: Step) -> str:
    return "{" + ", ".join(f"{d!r}: {d.replace('-', '_')}" for d in step.depends_on) + "}"


# --------------------------------------------------------------------------- Airflow 3

AIRFLOW_TYPES: dict[ParameterType, str] = {
    "int": "integer", "float": "number", "str": "string", "bool": "boolean", "list": "array",
    "dict": "object"}


def airflow_source(pipeline: Pipeline, schedule: str | None) -> str:
    dag_id = pipeline.name
    params = ", ".join(
        f"{p.name!r}: Param({_default(p)}" + (f", type={AIRFLOW_TYPES[p.type]!r})"
                                             if p.type in AIRFLOW_TYPES else ")")
        for p in pipeline.parameters)
    out = [_header(pipeline, "airflow", schedule),
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
           "    context = get_current_context()\n",
           "    params = dict(context['params'])\n",
           f"    params.pop({TRIGGER_PARAMETER!r}, None)\n",
           f"    trigger = (context['dag_run'].conf or {{}}).get({TRIGGER_PARAMETER!r})\n",
           "    if trigger:  # a monitoring rule started this run: the runs its steps track "
           "say why\n",
           "        os.environ['MLOPS_TRIGGER'] = str(trigger)\n",
           "    # a rule's retraining reruns every step on today's data (none from the cache)\n",
           "    return runtime.run_step(spec, artifacts=ARTIFACTS, endpoint_url=ENDPOINT_URL,\n",
           "                            upstream=upstream, params=params, echo=True,\n",
           "                            force=bool(trigger))\n\n\n",
           sweeps.airflow_helpers(TRIGGER_PARAMETER) if _has_sweeps(pipeline) else "",
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
        if is_sweep_step(step):
            out.append(sweeps.airflow_tasks(step, _const(step), args, _upstream(step)))
            continue
        out.append(f"    @task(task_id={step.name!r}, retries={step.retries!r})\n")
        out.append(f"    def {step.ident}({args}) -> dict[str, Any]:\n")
        out.append(f"        return run_step({_const(step)}, {_upstream(step)})\n\n")
    for step in pipeline.order:
        if is_sweep_step(step):
            out.append(sweeps.airflow_call(step, [d.replace("-", "_") for d in step.depends_on]))
            continue
        call = ", ".join(f"out_{d.replace('-', '_')}" for d in step.depends_on)
        out.append(f"    out_{step.ident} = {step.ident}({call})\n")
    out.append(f"\n\n{pipeline.name}()\n")
    return "".join(out)


# --------------------------------------------------------------------------- Prefect 3

PY_TYPES: dict[ParameterType, str] = {
    "int": "int", "float": "float", "str": "str", "bool": "bool", "list": "list", "dict": "dict",
    "any": "Any"}


def prefect_source(pipeline: Pipeline, schedule: str | None) -> str:
    signature = ", ".join([*(f"{p.name}: {PY_TYPES[p.type]} = {_default(p)}"
                             for p in pipeline.parameters), f"{TRIGGER_PARAMETER}: str = ''"])
    collect = ", ".join(f"{p.name!r}: {p.name}" for p in pipeline.parameters)
    out = [_header(pipeline, "prefect", schedule),
           "from __future__ import annotations\n\n",
           "import os\nimport sys\nfrom typing import Any\n\n",
           "# `python THIS_FILE` without PREFECT_API_URL starts Prefect's temporary server, whose\n"
           "# first start creates its database: on a busy machine that takes longer than\n"
           "# Prefect's 20 s default (set before prefect is imported, which reads it once)\n",
           "os.environ.setdefault('PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS', '180')\n\n",
           f"from prefect import flow, task{', unmapped' if _has_sweeps(pipeline) else ''}"
           "  # noqa: E402\n"
           "from prefect.cache_policies import NO_CACHE  # noqa: E402\n\n",
           "# where step outputs and the cache live (boto3's credential chain for s3://)\n",
           f"ARTIFACTS = os.environ.get('MLOPS_PIPELINE_ARTIFACTS', {_artifacts(pipeline)!r})\n",
           f"ENDPOINT_URL = os.environ.get('AWS_ENDPOINT_URL', {pipeline.endpoint_url!r})\n",
           f"SCHEDULE = {schedule!r}  # cron for `python {pipeline.name}_flow.py serve`\n\n",
           _code_constants(pipeline),
           "def run_step(spec: dict[str, Any], upstream: dict[str, Any],\n",
           "             pipeline_params: dict[str, Any]) -> dict[str, Any]:\n",
           "    from jupyter_mlops.pipeline import runtime\n\n",
           "    # a rule's retraining (see the flow) reruns every step on today's data, none "
           "from the cache\n",
           "    return runtime.run_step(spec, artifacts=ARTIFACTS, endpoint_url=ENDPOINT_URL,\n",
           "                            upstream=upstream, params=pipeline_params, echo=True,\n"
           "                            force=bool(os.environ.get('MLOPS_TRIGGER')))\n\n\n",
           sweeps.PREFECT_HELPERS if _has_sweeps(pipeline) else "",
           "# Caching: run_step serves a step from the content-hash cache (its code, parameters "
           "and\n# inputs' contents), the same cache as the local runner; Prefect's own is off.\n"]
    for step in pipeline.order:
        args = "".join(f", {d.replace('-', '_')}: dict[str, Any]" for d in step.depends_on)
        needs = _needs(step)
        if needs:
            out.append(f"# needs {needs}: run it on a work pool whose workers have them\n")
        tags = "['jupyter-mlops'" + (", 'gpu'" if step.gpu else "") + "]"
        if is_sweep_step(step):
            out.append(sweeps.prefect_tasks(step, _const(step), args, _upstream(step), tags))
            continue
        out.append(f"@task(name={step.name!r}, retries={step.retries!r}, cache_policy=NO_CACHE, "
                   f"tags={tags})\n")
        out.append(f"def {step.ident}(pipeline_params: dict[str, Any]{args}) "
                   "-> dict[str, Any]:\n")
        out.append(f"    return run_step({_const(step)}, {_upstream(step)}, "
                   "pipeline_params)\n\n\n")
    out.append(f"@flow(name={pipeline.name!r}, log_prints=True)\n")
    out.append(f"def {pipeline.name}({signature}) -> dict[str, Any]:\n")
    out.append(f"    pipeline_params = {{{collect}}}\n")
    out.append(f"    if {TRIGGER_PARAMETER}:  # a monitoring rule started this run: the runs its "
               "steps track say why\n")
    out.append(f"        os.environ['MLOPS_TRIGGER'] = {TRIGGER_PARAMETER}\n")
    for step in pipeline.order:
        if is_sweep_step(step):
            out.append(sweeps.prefect_call(step, [d.replace("-", "_") for d in step.depends_on]))
            continue
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
    # a sweep's tasks log runs (its trials' objective is what they log): MLflow's client
    found = {"jupyter-mlops[tracking]" if _has_sweeps(pipeline) else "jupyter-mlops",
             "cloudpickle"}
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
    defaults = {p.name: _default(p) for p in pipeline.parameters}
    # no `from __future__ import annotations`: kfp reads the components' annotations as types
    out = [_header(pipeline, "kfp", schedule),
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
        params = "{" + ", ".join(f"{n!r}: {n}" for n in names) + "}"
        if is_sweep_step(step):
            out.append(sweeps.kfp_components(
                step, _spec_literal(pipeline, step, "    ").lstrip(),
                _sweep_literal(pipeline, step, "    "), args, _upstream(step), params,
                repr(artifacts), repr(pipeline.endpoint_url)))
            continue
        out.append("@dsl.component(base_image=BASE_IMAGE, packages_to_install=PACKAGES)\n")
        out.append(f"def {step.ident}({', '.join(args)}) -> dict:\n")
        out.append("    import os\n\n    from jupyter_mlops.pipeline import runtime\n\n")
        out.append("    spec = " + _spec_literal(pipeline, step, "    ").lstrip() + "\n")
        out.append("    return runtime.run_step(\n")
        out.append(f"        spec, artifacts=os.environ.get('MLOPS_PIPELINE_ARTIFACTS', "
                   f"{artifacts!r}),\n")
        out.append(f"        endpoint_url=os.environ.get('AWS_ENDPOINT_URL', "
                   f"{pipeline.endpoint_url!r}),\n")
        out.append(f"        upstream={_upstream(step)}, params={params}, echo=True)\n\n\n")
    signature = ", ".join(f"{n}: {ptypes[n]} = {defaults[n]}" for n in ptypes)
    out.append(f"@dsl.pipeline(name={pipeline.name.replace('_', '-')!r}, "
               f"description={('Notebook ' + _escaped(pipeline.notebook.name))!r})\n")
    out.append(f"def {pipeline.name}({signature}) -> None:\n")
    for step in pipeline.order:
        names = pipeline.step_spec(step)["parameters"]
        kwargs = [f"{d.replace('-', '_')}=task_{d.replace('-', '_')}.output"
                  for d in step.depends_on]
        kwargs += [f"{n}={n}" if n in ptypes else f"{n}={defaults.get(n, 'None')}" for n in names]
        calls = _kfp_settings(step)
        if is_sweep_step(step):
            out.append(sweeps.kfp_call(step, kwargs, calls))
            continue
        var = f"task_{step.ident}"
        out.append(f"    {var} = {step.ident}({', '.join(kwargs)})\n")
        out.append(f"    {var}.set_display_name({step.name!r})\n")
        out.append(f"    {var}.set_caching_options(enable_caching={step.cache!r})\n")
        out.extend(f"    {var}{call}\n" for call in calls)
    out.append("\n\nif __name__ == '__main__':\n")
    out.append("    here = os.path.dirname(os.path.abspath(__file__))\n")
    out.append(f"    compiler.Compiler().compile({pipeline.name}, "
               f"os.path.join(here, {pipeline.name + '.yaml'!r}))\n")
    return "".join(out)


def _kfp_settings(step: Step) -> list[str]:
    """A step's task's retries and resources, as calls on it."""
    calls = []
    if step.retries:
        calls.append(f".set_retry(num_retries={step.retries!r})")
    if step.gpu:
        calls.append(f".set_accelerator_type('nvidia.com/gpu').set_accelerator_limit({step.gpu!r})")
    if step.cpu:
        calls.append(f".set_cpu_limit({step.cpu!r})")
    if step.memory:
        calls.append(f".set_memory_limit({step.memory!r})")
    return calls


# --------------------------------------------------------------------------- writing


#: The names each export's own code binds or reads where the notebook's names are bound too: a
#: step, parameter or notebook of the same name would shadow them.
OWN_NAMES: dict[Target, frozenset[str]] = {
    "airflow": frozenset({"annotations", "os", "datetime", "timezone", "Any", "Param", "dag",
                          "get_current_context", "task", "ARTIFACTS", "ENDPOINT_URL",
                          "run_step", TRIGGER_PARAMETER, "dict"}),
    "prefect": frozenset({"annotations", "os", "sys", "Any", "flow", "task", "NO_CACHE",
                          "ARTIFACTS", "ENDPOINT_URL", "SCHEDULE", "run_step",
                          "pipeline_params", TRIGGER_PARAMETER, "dict"}),
    "kfp": frozenset({"os", "Any", "compiler", "dsl", "BASE_IMAGE", "PACKAGES", "SCHEDULE",
                      "runtime", "spec", "here", "dict"}),
}


def check_names(pipeline: Pipeline, engine: Target) -> None:
    """Every name of the notebook's that the generated code uses as a name (the notebook's, the
    steps', the parameters') is an identifier, and no two of them, or one of them and the
    export's own, are the same name."""
    taken = dict.fromkeys(OWN_NAMES[engine], "a name of the export's own code")

    def claim(name: str, what: str) -> None:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise UserInputError(f"{what} {name!r} is not a Python identifier, so it cannot be "
                                 f"exported: rename it")
        if name in taken:
            raise UserInputError(f"{what} and {taken[name]} would both be {name!r} in the "
                                 f"{engine} export: rename {what}")
        taken[name] = what

    claim(pipeline.name, "the notebook's name")
    for param in pipeline.parameters:
        claim(param.name, f"parameter {param.name!r}")
    for step in pipeline.steps:
        check_step_name(step.name)
        claim(step.ident, f"step {step.name!r}")
    for step in pipeline.steps:
        if engine == "kfp":
            claim(f"task_{step.ident}", f"the task of step {step.name!r}")
        else:
            claim(f"out_{step.ident}", f"the output of step {step.name!r}")
            claim(_const(step), f"the spec of step {step.name!r}")
    if _has_sweeps(pipeline):
        for name in sweeps.OWN_NAMES[engine]:
            claim(name, "a name of the export's own code")
    for step in pipeline.steps:
        if is_sweep_step(step):
            for name, what in sweeps.own_names(step, engine):
                claim(name, what)


def check_source(source: str, engine: Target, header: str) -> None:
    """The generated ``source`` compiles and its docstring reads back as ``header``: what the
    notebook names is data in it, never code. Otherwise one line, and nothing is written."""
    where = f"<{engine} export>"
    try:
        tree = ast.parse(source, where)
        compile(tree, where, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise UserInputError(f"the {engine} export does not compile ({exc.msg}, line "
                             f"{exc.lineno}), so nothing was written") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise UserInputError(f"the {engine} export does not compile ({type(exc).__name__}: "
                             f"{str(exc)[:120]}), so nothing was written") from None
    if ast.get_docstring(tree, clean=False) != header:
        raise UserInputError(f"the {engine} export's docstring does not read back as written "
                             "(a name in the notebook breaks out of it), so nothing was written")


def write_file(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: written to a new file beside it, then renamed over it,
    so a link planted at ``path`` is replaced, never written through, and a reader never sees
    half a file."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise UserInputError(f"cannot write {path}: {exc.strerror or exc}") from None


def export_pipeline(pipeline: Pipeline, target: str, out_dir: str | Path,
                    schedule: str | None = None, *, compile_with: str | None = None
                    ) -> ExportResult:
    """Write ``target``'s code for the pipeline into ``out_dir``; for kfp also compile the
    YAML with ``compile_with`` (a Python that has kfp; default: this one, when it has kfp)."""
    engine = _target(target)
    cron = check_schedule(schedule)
    check_names(pipeline, engine)
    folder = Path(out_dir).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise UserInputError(f"{folder} is a file: --out needs a folder")
    source = {"airflow": airflow_source, "prefect": prefect_source, "kfp": kfp_source}[engine](
        pipeline, cron)
    check_source(source, engine, header_text(pipeline, engine, cron))
    folder.mkdir(parents=True, exist_ok=True)
    suffix = {"airflow": "_dag", "prefect": "_flow", "kfp": "_kfp"}[engine]
    path = folder / f"{pipeline.name}{suffix}.py"
    write_file(path, source)
    result = ExportResult(engine, [path])
    local = "://" not in pipeline.artifacts
    magics = ipython_note(pipeline)
    if magics:
        result.notes.append(magics)
    result.notes.extend(sweeps.engine_notes(pipeline))
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
    """Run the checked export (``check_source``) to compile its YAML: a copy of it in a new
    folder of its own, under ``python -I``, so nothing planted beside the output folder's file
    (a ``kfp.py``, a ``typing.py``) is imported, nor any PYTHON* variable read; the YAML then
    replaces ``yaml_path``."""
    interpreter = python or sys.executable
    if python is None:
        from importlib.util import find_spec

        if find_spec("kfp") is None:
            result.compiled = False
            result.notes.append("kfp is not installed here, so the YAML was not compiled: "
                                f"pip install 'jupyter-mlops[kfp]' and run python {path.name}")
            return
    with tempfile.TemporaryDirectory(prefix="mlops-kfp-") as work:
        script = Path(work) / path.name
        script.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
        try:
            done = subprocess.run([interpreter, "-I", str(script)], cwd=work,
                                  capture_output=True, text=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            raise UserInputError("the KFP compiler did not finish in 300 s") from None
        except OSError as exc:
            raise UserInputError(f"cannot run {interpreter} to compile the KFP export: "
                                 f"{exc.strerror or exc}") from None
        compiled = Path(work) / yaml_path.name
        if done.returncode != 0 or not compiled.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserInputError(f"the KFP compiler refused the export: {last}")
        write_file(yaml_path, compiled.read_text(encoding="utf-8"))
    result.compiled = True
    result.files.append(yaml_path)
