"""Exports, checked by the real engines: Airflow 3 runs the DAG (`airflow dags test`), Prefect 3
runs the flow, the kfp compiler compiles the pipeline; each engine in its own venv
(tests/engines.py, built by `make engines`)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.errors import UserInputError
from jupyter_mlops.pipeline import from_notebook

from .conftest import IMPORT_ROOTS
from .engines import engine_python
from .pipeline_notebooks import CHAIN, step_states, write_notebook

#: the chain notebook, with a GPU step, retries, a no-cache step and a numpy output
EXPORTED = [
    *CHAIN[:6],
    "%%mlops step scaled --gpu 1 --retries 2 --memory 1Gi\nimport numpy as np\n"
    "scaled = np.array(clean) * scale",
    "%%mlops step report --no-cache\nsummary = {'label': label, 'mean': mean, "
    "'scaled': scaled.tolist()}\nprint(json.dumps(summary))",
]
STEPS = ["load", "clean", "stats", "scaled", "report"]


def _engine(name: str) -> Path:
    python, why = engine_python(name)
    if python is None:
        pytest.skip(why)
    return python


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "AIRFLOW",
                                                                     "PREFECT"))}
    env["PYTHONPATH"] = os.pathsep.join(IMPORT_ROOTS)
    env["HOME"] = str(tmp)
    env.update(extra)
    return env


def _top_level_imports(source: str) -> set[str]:
    tree = ast.parse(source)
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
    return names


def test_exports_are_readable_code_with_the_notebooks_step_names(project: Path) -> None:
    nb = write_notebook(project / "chain.ipynb", EXPORTED)
    pipeline = from_notebook(nb)
    sources = {}
    for target in ("airflow", "prefect", "kfp"):
        result = pipeline.export(target, project / "out" / target, "0 3 * * *")
        sources[target] = result.files[0].read_text()
        compile(sources[target], str(result.files[0]), "exec")

    airflow = sources["airflow"]
    # parsing the DAG file imports Airflow and the standard library only
    assert _top_level_imports(airflow) == {"__future__", "os", "datetime", "typing",
                                           "airflow.sdk"}
    for step in STEPS:
        assert f"@task(task_id={step!r}" in airflow
        assert f"def {step}(" in airflow
    assert "@task(task_id='scaled', retries=2)" in airflow
    assert "schedule='0 3 * * *'" in airflow
    assert "'n': Param(5, type='integer')" in airflow
    assert "# %% cell 7\n" in airflow  # the notebook's own cell, as it is there
    assert "out_report = report(out_stats, out_scaled)" in airflow

    prefect = sources["prefect"]
    # mlops_trigger: what a monitoring rule that starts a run passes (monitor.engines)
    assert ("def chain(n: int = 5, scale: float = 2.0, label: str = 'demo', "
            "mlops_trigger: str = '')") in prefect
    assert "@task(name='scaled', retries=2" in prefect
    assert "chain.serve(name='chain', cron=SCHEDULE)" in prefect
    assert "SCHEDULE = '0 3 * * *'" in prefect

    kfp = sources["kfp"]
    assert "task_scaled.set_accelerator_type('nvidia.com/gpu').set_accelerator_limit(1)" in kfp
    assert "task_scaled.set_retry(num_retries=2)" in kfp
    assert "task_report.set_caching_options(enable_caching=False)" in kfp
    assert "task_scaled.set_memory_limit('1Gi')" in kfp
    assert "'numpy'" in kfp and "'jupyter-mlops'" in kfp  # packages_to_install


#: a step with IPython syntax: a shell command, a line magic and a cell magic
WITH_MAGICS = [
    "%%mlops step listing\nfiles = !ls\n%time y = 3",
    "%%bash\necho from bash",
    "%%mlops step use\ntotal = y + len(files)",
]


def _embedded_spec(source: str, step: str) -> dict[str, Any]:
    """The step spec an export embeds (a module constant, or inside the kfp component)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Dict) and any(
                isinstance(k, ast.Constant) and k.value == "step" and isinstance(v, ast.Constant)
                and v.value == step for k, v in zip(node.keys, node.values, strict=True)):
            spec: dict[str, Any] = ast.literal_eval(node)
            return spec
    raise AssertionError(f"no spec of step {step!r} in the export")


def test_exports_run_magic_lines_through_ipython_and_say_so(project: Path,
                                                            tmp_path: Path) -> None:
    from jupyter_mlops.pipeline import runtime

    nb = write_notebook(project / "magics.ipynb", WITH_MAGICS)
    pipeline = from_notebook(nb)
    assert pipeline.warnings == []
    note = ("cells 1 (! %time), 2 (%%bash) use IPython syntax: their steps run them through "
            "IPython's InteractiveShell where the task runs")
    for target in ("airflow", "prefect", "kfp"):
        result = pipeline.export(target, project / "out" / target, compile_with=None)
        assert any(n.startswith(note) for n in result.notes), result.notes
        source = result.files[0].read_text()
        header = " ".join(ast.get_docstring(ast.parse(source)).split())  # type: ignore[union-attr]
        assert "IPython: " + note in header
        spec = _embedded_spec(source, "listing")
        # the magic lines are in the task's code as the notebook has them, not left out
        assert "files = !ls\n%time y = 3" in spec["code"]
        assert "%%bash\necho from bash" in spec["code"]
        # and the runtime every task calls runs them (here, as the engine's worker would)
        done = runtime.run_step(spec, artifacts=str(tmp_path / target), cwd=str(project),
                                log=str(tmp_path / f"{target}.log"))
        assert set(done["outputs"]) == {"files", "y"}
        assert runtime.load_output(done, "y", artifacts=str(tmp_path / target)) == 3
        assert "from bash" in (tmp_path / f"{target}.log").read_text()


def test_no_credentials_reach_an_export(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_PIPELINE_ARTIFACTS", "s3://bucket/prefix")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY")
    nb = write_notebook(project / "chain.ipynb", CHAIN)
    for target in ("airflow", "prefect", "kfp"):
        path = from_notebook(nb).export(target, project / target).files[0]
        text = path.read_text()
        assert "very-secret-value" not in text and "AKIAEXAMPLEKEY" not in text
        assert "'s3://bucket/prefix'" in text


@pytest.mark.parametrize(("target", "schedule", "message"), [
    ("luigi", None, r"unknown export target 'luigi': use one of airflow, prefect, kfp"),
    ("airflow", "every day", r"schedule 'every day' is not a cron expression"),
])
def test_bad_export_requests_are_one_line_and_write_nothing(
        project: Path, target: str, schedule: str | None, message: str) -> None:
    nb = write_notebook(project / "chain.ipynb", CHAIN)
    with pytest.raises(UserInputError, match=message):
        from_notebook(nb).export(target, project / "out", schedule)
    assert not (project / "out").exists()


def test_airflow_3_runs_the_exported_dag(project: Path, tmp_path: Path) -> None:
    python = _engine("airflow")
    airflow = python.parent / "airflow"
    nb = write_notebook(project / "chain.ipynb", EXPORTED)
    dags = tmp_path / "dags"
    from_notebook(nb).export("airflow", dags, "@daily")
    env = _env(tmp_path, AIRFLOW_HOME=str(tmp_path / "airflow-home"),
               AIRFLOW__CORE__DAGS_FOLDER=str(dags), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               MLOPS_PIPELINE_ARTIFACTS=str(project / ".mlops" / "pipelines"))
    migrate = subprocess.run([str(airflow), "db", "migrate"], env=env, capture_output=True,
                             text=True, timeout=300, check=False)
    assert migrate.returncode == 0, migrate.stderr[-3000:]

    test = subprocess.run([str(airflow), "dags", "test", "chain"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False)

    output = test.stdout + test.stderr
    assert test.returncode == 0, output[-5000:]
    assert "state=success" in output, output[-5000:]
    assert '{"label": "demo", "mean": 2.0, "scaled": [0.0, 4.0, 8.0]}' in output
    # Airflow ran the steps through the same runtime and cache as the local runner: the local
    # run finds every cacheable step done already
    local = from_notebook(nb).run()
    assert step_states(local) == {**dict.fromkeys(STEPS[:4], "cached"), "report": "done"}
    assert local.value("scaled", "scaled").tolist() == [0.0, 4.0, 8.0]


def test_prefect_3_runs_the_exported_flow(project: Path, tmp_path: Path) -> None:
    python = _engine("prefect")
    nb = write_notebook(project / "chain.ipynb", EXPORTED)
    flow_file = from_notebook(nb).export("prefect", tmp_path / "flows", "0 3 * * *").files[0]
    source = flow_file.read_text()
    # Prefect reads its settings once, on import: the longer start-up allowance for its temporary
    # server (the first start creates its database; 20 s was too short on a loaded CI machine)
    # must come before it
    assert (source.index("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS")
            < source.index("from prefect import"))
    env = _env(tmp_path, PREFECT_HOME=str(tmp_path / "prefect-home"),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               MLOPS_PIPELINE_ARTIFACTS=str(project / ".mlops" / "pipelines"))

    done = subprocess.run([str(python), str(flow_file)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False)

    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    assert "Finished in state Completed()" in output
    assert '{"label": "demo", "mean": 2.0, "scaled": [0.0, 4.0, 8.0]}' in output
    local = from_notebook(nb).run()
    assert step_states(local) == {**dict.fromkeys(STEPS[:4], "cached"), "report": "done"}


def test_kfp_compiles_the_export_to_a_valid_pipeline_spec(project: Path,
                                                          tmp_path: Path) -> None:
    python = _engine("kfp")
    nb = write_notebook(project / "chain.ipynb", EXPORTED)
    result = from_notebook(nb).export("kfp", tmp_path / "kfp", "0 3 * * *",
                                      compile_with=str(python))
    assert result.compiled is True
    spec_file = result.files[1]
    assert spec_file.name == "chain.yaml"

    # the kfp venv's own protobuf schema accepts it
    check = (
        "import json, sys, yaml\n"
        "from google.protobuf import json_format\n"
        "from kfp.pipeline_spec import pipeline_spec_pb2\n"
        "docs = list(yaml.safe_load_all(open(sys.argv[1])))\n"
        "spec = json_format.ParseDict(docs[0], pipeline_spec_pb2.PipelineSpec())\n"
        "print(json.dumps(docs[0]))\n")
    done = subprocess.run([str(python), "-c", check, str(spec_file)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    spec: dict[str, Any] = json.loads(done.stdout)

    assert spec["pipelineInfo"]["name"] == "chain"
    tasks = spec["root"]["dag"]["tasks"]
    assert {t["taskInfo"]["name"] for t in tasks.values()} == set(STEPS)
    assert tasks["report"]["dependentTasks"] == ["scaled", "stats"] or sorted(
        tasks["report"]["dependentTasks"]) == ["scaled", "stats"]
    assert tasks["scaled"]["retryPolicy"]["maxRetryCount"] == 2
    assert tasks["report"]["cachingOptions"].get("enableCache", False) is False
    assert tasks["load"]["cachingOptions"]["enableCache"] is True
    executors = spec["deploymentSpec"]["executors"]
    scaled = next(e for k, e in executors.items() if "scaled" in k)["container"]
    resources = json.dumps(scaled["resources"])
    assert "nvidia.com/gpu" in resources
    assert spec["root"]["inputDefinitions"]["parameters"]["n"]["defaultValue"] == 5
