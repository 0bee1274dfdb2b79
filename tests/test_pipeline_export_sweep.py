"""A ``%%mlops sweep`` cell in a pipeline is a fan-out step on each engine: a plan task, one
mapped trial task per trial (Airflow ``.expand``, Prefect ``.map``, KFP ``ParallelFor``), each a
child run of the sweep's parent run, and a best task whose outputs the later steps read. Checked
on the real Airflow 3 and Prefect 3 (their venvs, tests/engines.py, with MLflow's client added
beside them) against a real MLflow server, and compiled by the real kfp compiler."""

from __future__ import annotations

import ast
import csv
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.errors import UserInputError
from jupyter_mlops.pipeline import from_notebook, runtime, sweep_runtime

from .engines import ENGINES_DIR
from .pipeline_notebooks import write_notebook
from .test_pipeline_export import _engine, _env

pytestmark = pytest.mark.usefixtures("tracking_reset")

TRIALS = 4
#: load -> sweep (x, y over a quadratic; a trial with x above 4 raises) -> report
SWEEP_CELL = (
    f"%%mlops sweep --trials {TRIALS} --seed 7 --metric loss\n"
    "if x > 4:\n"
    "    raise ValueError('x is too far out')\n"
    "loss = (x - 2) ** 2 + (y + 1) ** 2 + 0 * sum(data)\n"
    "model = {'x': x, 'y': y}\n"
    "mlops.log(loss=loss)")
NOTEBOOK = [
    ("import json\nimport jupyter_mlops as mlops", ["imports"]),
    ("x = 0.0  # sweep: uniform(-5, 5)\ny = 0.0  # sweep: uniform(-5, 5)\nlabel = 'demo'",
     ["parameters"]),
    "%%mlops step load\ndata = [1.0, 2.0, 3.0]",
    SWEEP_CELL,
    "%%mlops step report\nprint('REPORT', json.dumps({'model': model, 'label': label}))",
]


def _planned() -> list[dict[str, Any]]:
    """The trials the plan draws for NOTEBOOK (seed 7), and their losses (None: raises)."""
    space = {"x": {"kind": "uniform", "low": -5.0, "high": 5.0},
             "y": {"kind": "uniform", "low": -5.0, "high": 5.0}}
    rows = sweep_runtime.sample({"space": space, "trials": TRIALS, "sampler": "tpe",
                                 "seed": 7})
    return [{**p, "loss": None if p["x"] > 4 else (p["x"] - 2) ** 2 + (p["y"] + 1) ** 2}
            for p in rows]


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(uri)


def _sweep_runs(uri: str, study: str) -> tuple[Any, list[Any]]:
    """The sweep's (latest) parent run and its child runs."""
    client = _client(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    parents = client.search_runs(experiments, f"tags.`mlops.sweep.study` = '{study}' and "
                                 "tags.`mlops.sweep.role` = 'parent'",
                                 order_by=["attributes.start_time DESC"], max_results=1)
    assert parents, f"no parent run of sweep {study}"
    parent = parents[0]
    children = client.search_runs(experiments,
                                  f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                                  max_results=100)
    return parent, list(children)


def _check_tracked(uri: str, study: str) -> None:
    """One parent, a child per trial (FAILED for the raising one), the best on the parent."""
    planned = _planned()
    parent, children = _sweep_runs(uri, study)
    assert len(children) == TRIALS
    states = sorted(c.info.status for c in children)
    failing = sum(p["loss"] is None for p in planned)
    assert states == sorted(["FAILED"] * failing + ["FINISHED"] * (TRIALS - failing))
    best = min(p["loss"] for p in planned if p["loss"] is not None)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best_loss"] == pytest.approx(best)
    winner = next(c for c in children if c.info.run_id == parent.data.tags[
        "mlops.sweep.best_run_id"])
    assert winner.data.metrics["loss"] == pytest.approx(best)
    assert parent.data.params["sweep.trials"] == str(TRIALS)


def _best_model() -> dict[str, float]:
    planned = [p for p in _planned() if p["loss"] is not None]
    best = min(planned, key=lambda p: p["loss"])
    return {"x": best["x"], "y": best["y"]}


# --------------------------------------------------------------------------- reading


def test_a_sweep_cell_is_a_step_of_its_own(project: Path) -> None:
    pipeline = from_notebook(write_notebook(project / "tune.ipynb", NOTEBOOK))
    assert [s.name for s in pipeline.steps] == ["load", "sweep", "report"]
    sweep = pipeline.step("sweep")
    assert sweep.inputs == {"data": "load"} and sweep.outputs == ["model"]
    assert sorted(sweep.parameters) == ["x", "y"]
    assert pipeline.step("report").inputs == {"model": "sweep"}
    # its line stays in the step's code: the local runner runs the magic as the kernel does
    assert "%%mlops sweep --trials" in pipeline.step_code("sweep")
    # a tag names it
    tagged = [*NOTEBOOK[:3], (SWEEP_CELL, ["step:tune"]), NOTEBOOK[4]]
    named = from_notebook(write_notebook(project / "named.ipynb", tagged))
    assert [s.name for s in named.steps] == ["load", "tune", "report"]


@pytest.mark.parametrize(("cells", "message"), [
    ([*NOTEBOOK[:4], "print(model)", NOTEBOOK[4]],
     r"step 'sweep' \(cell 4\) is a sweep, and cells 5 join it: start them with %%mlops step"),
    ([*NOTEBOOK[:3], SWEEP_CELL.replace("--metric loss", "--metric loss --space 'z=uniform(0,1)'"),
      NOTEBOOK[4]], r"step 'sweep' \(cell 4\): z not in the parameters cell \(label, x, y\)"),
    ([*NOTEBOOK[:3], SWEEP_CELL.replace("--trials 4", "--trials none"), NOTEBOOK[4]],
     r"step 'sweep' \(cell 4\): argument --trials: "),
    ([NOTEBOOK[0], ("x = 0.0\ny = 0.0\nlabel = 'demo'", ["parameters"]), *NOTEBOOK[2:]],
     r"step 'sweep' \(cell 4\): nothing to sweep"),
])
def test_a_sweep_step_an_engine_cannot_run_is_one_line_and_nothing_is_written(
        project: Path, cells: list[Any], message: str) -> None:
    pipeline = from_notebook(write_notebook(project / "tune.ipynb", cells))
    for target in ("airflow", "prefect", "kfp"):
        with pytest.raises(UserInputError, match=message):
            pipeline.export(target, project / "out" / target)
        assert not (project / "out" / target).exists()


def _constant(source: str, name: str) -> Any:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"no constant {name} in the export")


def test_each_export_fans_the_sweep_out_between_a_plan_and_a_best_task(project: Path) -> None:
    pipeline = from_notebook(write_notebook(project / "tune.ipynb", NOTEBOOK))
    sources = {}
    for target in ("airflow", "prefect", "kfp"):
        result = pipeline.export(target, project / "out" / target)
        sources[target] = result.files[0].read_text()
        assert any(n.startswith("sweep step sweep: the trials' parameters are drawn up front")
                   for n in result.notes), result.notes
        # the sweep's own %%mlops line is not IPython syntax a task runs
        assert not any("4 (%%mlops)" in n for n in result.notes)
    airflow = sources["airflow"]
    assert "@task(task_id='sweep.plan')" in airflow
    assert "@task(task_id='sweep.trial', retries=0)" in airflow
    assert "@task(task_id='sweep.best')" in airflow
    assert ("out_sweep = sweep__best(sweep__trial.partial(load=out_load)"
            ".expand(trial=sweep__plan()))") in airflow
    assert "out_report = report(out_sweep)" in airflow
    settings = _constant(airflow, "SWEEP_SWEEP")
    assert settings == _constant(sources["prefect"], "SWEEP_SWEEP")
    assert settings["space"]["x"] == {"kind": "uniform", "low": -5.0, "high": 5.0,
                                      "log": False, "values": []}
    assert (settings["study"], settings["trials"], settings["seed"]) == ("tune-sweep", 4, 7)

    prefect = sources["prefect"]
    assert "from prefect import flow, task, unmapped" in prefect
    assert ("out_sweep = sweep__best.submit(sweep__trial.map(sweep__plan(), "
            "unmapped(pipeline_params), load=unmapped(out_load)))") in prefect

    kfp = sources["kfp"]
    assert "with dsl.ParallelFor(task_sweep__plan.output) as sweep__item:" in kfp
    assert ("task_sweep__trial = sweep__trial(trial=sweep__item, load=task_load.output, "
            "x=x, y=y)") in kfp
    assert "task_sweep = sweep__best(trials=dsl.Collected(task_sweep__trial.output))" in kfp
    assert "report(sweep=task_sweep.output, label=label)" in kfp
    assert "'jupyter-mlops[tracking]'" in kfp  # the trials' runs need MLflow's client


def test_names_and_values_of_a_sweep_reach_the_export_as_literals(project: Path) -> None:
    """A study name, an experiment and choice values written to break out of a string are
    data in the export: the file compiles, runs nothing, and its settings read back as is."""
    hostile = "x'); open('pwned', 'w'); ('\"\"\"\\n"
    cell = ("%%mlops sweep --trials 2 --name " + json.dumps(hostile)
            + """ --experiment "e'''" --space "act=choice('a\\"b', \\"c'd\\")"\n"""
            "mlops.log(loss=len(act))")
    cells = [NOTEBOOK[0], ("act = 'a'\nlabel = 'demo'", ["parameters"]), cell]
    pipeline = from_notebook(write_notebook(project / "tune.ipynb", cells))
    for target in ("airflow", "prefect", "kfp"):
        path = pipeline.export(target, project / "out" / target).files[0]
        source = path.read_text()
        if target == "kfp":  # the settings are inside the components: read them there
            calls = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)
                     and ast.unparse(n.func) == "sweep_runtime.plan"]
            settings = ast.literal_eval(calls[0].args[0])
        else:
            settings = _constant(source, "SWEEP_SWEEP")
        assert settings["study"] == hostile and settings["experiment"] == "e'''"
        assert settings["space"]["act"]["values"] == ['a"b', "c'd"]
        compile(source, str(path), "exec")
    assert not (project / "pwned").exists()


def test_a_grid_plan_takes_the_grids_points_in_order() -> None:
    space = {"n": {"kind": "integer", "low": 1, "high": 2, "log": False, "values": []},
             "act": {"kind": "choice", "low": 0, "high": 0, "log": False,
                     "values": ["relu", "tanh"]}}
    assert sweep_runtime.sample({"space": space, "trials": 3, "sampler": "grid"}) == [
        {"n": 1, "act": "relu"}, {"n": 1, "act": "tanh"}, {"n": 2, "act": "relu"}]
    drawn = sweep_runtime.sample({"space": {"lr": {"kind": "loguniform", "low": 1e-4,
                                                   "high": 1e-1}}, "trials": 50,
                                  "sampler": "random", "seed": 1})
    assert all(1e-4 <= d["lr"] <= 1e-1 for d in drawn) and len({d["lr"] for d in drawn}) == 50


# --------------------------------------------------------------------------- running


def test_the_tasks_track_a_parent_and_a_child_per_trial_and_hand_on_the_best(
        project: Path, tracking_server: str, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """What every engine's tasks call, run here in order: plan, each trial, best, report."""
    monkeypatch.setenv("MLOPS_TRACKING_URI", tracking_server)
    pipeline = from_notebook(write_notebook(project / "tune.ipynb", NOTEBOOK))
    source = pipeline.export("airflow", project / "dags").files[0].read_text()
    spec = {name: _constant(source, name) for name in ("LOAD", "SWEEP", "REPORT",
                                                       "SWEEP_SWEEP")}
    artifacts = str(tmp_path / "store")
    load = runtime.run_step(spec["LOAD"], artifacts=artifacts)
    plan = sweep_runtime.plan(spec["SWEEP_SWEEP"])
    assert [p["params"] for p in plan] == [{"x": p["x"], "y": p["y"]} for p in _planned()]
    rows = [sweep_runtime.trial(spec["SWEEP"], spec["SWEEP_SWEEP"], p, artifacts=artifacts,
                                upstream={"load": load}, params={"x": 0.0, "y": 0.0},
                                echo=False) for p in plan]
    failed = [r for r in rows if r["state"] == "failed"]
    assert [r["number"] for r in failed] == [p["number"] for p, q in zip(
        plan, _planned(), strict=True) if q["loss"] is None]
    assert all("ValueError: x is too far out" in r["error"] and "cell 4, line 3" in r["error"]
               for r in failed)
    best = sweep_runtime.best(spec["SWEEP_SWEEP"], rows)
    assert best["step"] == "sweep" and set(best["outputs"]) == {"model"}
    assert best["sweep"]["best_params"] == _best_model()
    _check_tracked(tracking_server, "tune-sweep")
    capfd.readouterr()
    runtime.run_step(spec["REPORT"], artifacts=artifacts, upstream={"sweep": best},
                     params={"label": "demo"}, echo=True)
    printed = capfd.readouterr().out
    assert f"REPORT {json.dumps({'model': _best_model(), 'label': 'demo'})}" in printed


def test_a_sweep_whose_trials_all_fail_fails_its_best_task(
        project: Path, tracking_server: str, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    monkeypatch.setenv("MLOPS_TRACKING_URI", tracking_server)
    cells = [*NOTEBOOK[:3], SWEEP_CELL.replace("mlops.log(loss=loss)", "pass")]
    pipeline = from_notebook(write_notebook(project / "never.ipynb", cells))
    source = pipeline.export("airflow", project / "dags").files[0].read_text()
    settings, spec = _constant(source, "SWEEP_SWEEP"), _constant(source, "SWEEP")
    load = runtime.run_step(_constant(source, "LOAD"), artifacts=str(tmp_path))
    rows = [sweep_runtime.trial(spec, settings, p, artifacts=str(tmp_path),
                                upstream={"load": load}, echo=False)
            for p in sweep_runtime.plan(settings)[:2]]
    assert all("never logged metric 'loss'" in r["error"] or "too far" in r["error"]
               for r in rows)
    with pytest.raises(sweep_runtime.SweepFailed, match=r"none of its 2 trials completed"):
        sweep_runtime.best(settings, rows)


# --------------------------------------------------------------------------- the real engines


def _tracking_overlay(engine: str, python: Path) -> Path:
    """MLflow's client for an engine's venv: mlflow-skinny and what it needs that the venv
    lacks, in a folder of their own put on PYTHONPATH (nothing the engine has is shadowed)."""
    target = ENGINES_DIR / f"{engine}-tracking"
    if (target / ".done").is_file():
        return target
    work = target.with_name(target.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    from importlib import metadata

    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--target", str(work),
                    f"mlflow-skinny=={metadata.version('mlflow-skinny')}"],
                   check=True, capture_output=True, timeout=900)
    listed = subprocess.run([str(python), "-c", "import importlib.metadata as m, json; "
                             "print(json.dumps([d.metadata['Name'] for d in m.distributions()]))"],
                            capture_output=True, text=True, check=True).stdout
    have = {str(n).lower().replace("_", "-") for n in json.loads(listed)}
    for info in work.glob("*.dist-info"):
        if info.name[:-len(".dist-info")].rsplit("-", 1)[0].lower().replace("_", "-") in have:
            for row in csv.reader((info / "RECORD").read_text().splitlines()):
                path = (work / row[0]).resolve()
                if work.resolve() in path.parents and path.is_file():
                    path.unlink()
            shutil.rmtree(info, ignore_errors=True)
    for root, _dirs, _files in sorted(os.walk(work), key=lambda w: -len(w[0])):
        if root != str(work) and not os.listdir(root):
            os.rmdir(root)
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    (target / ".done").write_text("")
    return target


def _engine_env(tmp: Path, project: Path, overlay: Path, uri: str,
                **extra: str) -> dict[str, str]:
    env = _env(tmp, MLFLOW_TRACKING_URI=uri,
               MLOPS_PIPELINE_ARTIFACTS=str(project / ".mlops" / "pipelines"), **extra)
    env["PYTHONPATH"] += os.pathsep + str(overlay)
    return env


def test_airflow_3_maps_the_trials_of_an_exported_sweep(
        project: Path, tmp_path: Path, tracking_server: str) -> None:
    python = _engine("airflow")
    airflow = python.parent / "airflow"
    overlay = _tracking_overlay("airflow", python)
    dags = tmp_path / "dags"
    from_notebook(write_notebook(project / "tune.ipynb", NOTEBOOK)).export("airflow", dags)
    env = _engine_env(tmp_path, project, overlay, tracking_server,
                      AIRFLOW_HOME=str(tmp_path / "airflow-home"),
                      AIRFLOW__CORE__DAGS_FOLDER=str(dags),
                      AIRFLOW__CORE__LOAD_EXAMPLES="False")
    migrate = subprocess.run([str(airflow), "db", "migrate"], env=env, capture_output=True,
                             text=True, timeout=300, check=False)
    assert migrate.returncode == 0, migrate.stderr[-3000:]

    test = subprocess.run([str(airflow), "dags", "test", "tune"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, check=False)

    output = test.stdout + test.stderr
    assert test.returncode == 0, output[-6000:]
    assert "state=success" in output, output[-6000:]
    # one task instance per trial (map_index 0..TRIALS-1), then the best and the report
    for index in range(TRIALS):
        assert "task_id=sweep.trial" in output and f"map_index={index}" in output
    assert f"REPORT {json.dumps({'model': _best_model(), 'label': 'demo'})}" in output
    _check_tracked(tracking_server, "tune-sweep")


def test_prefect_3_maps_the_trials_of_an_exported_sweep(
        project: Path, tmp_path: Path, tracking_server: str) -> None:
    python = _engine("prefect")
    overlay = _tracking_overlay("prefect", python)
    notebook = write_notebook(project / "tune.ipynb", NOTEBOOK)
    flow_file = from_notebook(notebook).export("prefect", tmp_path / "flows").files[0]
    env = _engine_env(tmp_path, project, overlay, tracking_server,
                      PREFECT_HOME=str(tmp_path / "prefect-home"),
                      PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")

    done = subprocess.run([str(python), str(flow_file)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, check=False)

    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "Finished in state Completed()" in output
    assert "sweep.trial" in output  # the mapped task's runs (the children are counted below)
    assert f"REPORT {json.dumps({'model': _best_model(), 'label': 'demo'})}" in output
    _check_tracked(tracking_server, "tune-sweep")


def test_kfp_compiles_the_sweep_to_a_parallel_for(project: Path, tmp_path: Path) -> None:
    python = _engine("kfp")
    notebook = write_notebook(project / "tune.ipynb", NOTEBOOK)
    result = from_notebook(notebook).export("kfp", tmp_path / "kfp", compile_with=str(python))
    assert result.compiled is True
    check = ("import json, sys, yaml\n"
             "from google.protobuf import json_format\n"
             "from kfp.pipeline_spec import pipeline_spec_pb2\n"
             "docs = list(yaml.safe_load_all(open(sys.argv[1])))\n"
             "json_format.ParseDict(docs[0], pipeline_spec_pb2.PipelineSpec())\n"
             "print(json.dumps(docs[0]))\n")
    done = subprocess.run([str(python), "-c", check, str(result.files[1])],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    spec: dict[str, Any] = json.loads(done.stdout)
    tasks = spec["root"]["dag"]["tasks"]
    names = {t["taskInfo"]["name"] for t in tasks.values()}
    assert {"load", "sweep.plan", "sweep.best", "report"} <= names
    loop = next(t for t in tasks.values() if "parameterIterator" in t)
    assert loop["parameterIterator"]["items"]["inputParameter"].endswith("sweep-plan-Output")
    inner = spec["components"][loop["componentRef"]["name"]]["dag"]["tasks"]
    assert [t["taskInfo"]["name"] for t in inner.values()] == ["sweep.trial"]
    assert tasks[next(k for k, t in tasks.items() if t["taskInfo"]["name"] == "report")][
        "dependentTasks"] == [next(k for k, t in tasks.items()
                                   if t["taskInfo"]["name"] == "sweep.best")]


def test_the_local_runner_runs_a_sweep_cell_as_the_kernel_does(
        project: Path, tracking_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Locally the sweep step runs the magic (trials one after another, a parent and a child
    run each), reading the parameters cell of its own notebook, even when started from a
    kernel of another notebook; the steps after it get the last trial's values."""
    monkeypatch.setenv("MLOPS_TRACKING_URI", tracking_server)
    write_notebook(project / "elsewhere.ipynb", ["x = 1"])
    monkeypatch.setenv("JPY_SESSION_NAME", str(project / "elsewhere.ipynb"))
    pipeline = from_notebook(write_notebook(project / "tune.ipynb", NOTEBOOK))
    run = pipeline.run()
    states = {name: step.state for name, step in run.steps.items()}
    assert states == {"load": "done", "sweep": "done", "report": "done"}, run.to_text()
    parent, children = _sweep_runs(tracking_server, "tune-1")  # the notebook's first study
    assert parent.data.params["sweep.trials"] == str(TRIALS) and len(children) == TRIALS
