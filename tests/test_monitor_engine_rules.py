"""Monitoring rules whose target is an engine, against the real engines (their venvs from
tests/engines.py). Prefect 3: a real ``prefect server`` on a free loopback port and the
notebook's export served by Prefect's ``serve()``; Airflow 3: ``airflow standalone`` with the
exported DAG. A rule with ``target="prefect"`` creates a flow run of the deployment through
Prefect's REST API, one with ``target="airflow"`` a DAG run; the step runs again (not from the
cache) and sees ``MLOPS_TRIGGER`` (so its tracked runs carry the tag ``mlops.trigger``), and
later checks follow the engine's run to its end. A server that cannot be reached, a
deployment not served and a paused DAG are one-line failed firings."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.config import load_config
from jupyter_mlops.errors import UserInputError
from jupyter_mlops.monitor.check import check
from jupyter_mlops.monitor.rules import Rule, rule, rules
from jupyter_mlops.pipeline import from_notebook
from tests.conftest import IMPORT_ROOTS
from tests.engines import engine_python
from tests.monitor_fixtures import deployed, row, write_part
from tests.pipeline_notebooks import write_notebook

UTC = timezone.utc
#: seconds the Prefect server may take to answer its health check (it creates its database)
SERVER_START_S = 180
#: seconds a served flow run may take from its creation to its end
RUN_S = 150


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def engine_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a process of the Prefect venv: none of the caller's MLOPS_,
    PREFECT_ or AIRFLOW variables, the code under test on PYTHONPATH (the venv does not
    install it; the export's steps import its runtime)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLOPS_", "PREFECT", "AIRFLOW"))}
    env.update(PYTHONPATH=os.pathsep.join(IMPORT_ROOTS), HOME=str(home),
               PREFECT_HOME=str(home / "prefect-home"), DO_NOT_TRACK="1",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_UI_ENABLED="false", **extra)
    return env


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def stop(process: subprocess.Popen[bytes]) -> None:
    """End ``process`` and what it started (its own session, so its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(20)
    with contextlib.suppress(ProcessLookupError):  # what outlived it
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def start(argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(what: str, probe: Any, timeout: float, process: subprocess.Popen[bytes],
             log: Path) -> Any:
    """``probe()``'s first true answer (errors count as not yet), while ``process`` lives."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = probe()
        except (OSError, ValueError):
            found = None
        if found:
            return found
        tail = log.read_text(errors="replace")[-3000:]
        assert process.poll() is None, f"{what}: the process ended ({process.returncode}):\n{tail}"
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s:\n{tail}"
        time.sleep(0.5)


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[tuple[Path, str, Path]]:
    """(the Prefect venv's python, the API URL, the engine processes' home folder)."""
    python, why = engine_python("prefect")
    if python is None:
        pytest.skip(why)
    home = tmp_path / "engine-home"
    home.mkdir()
    port = free_port()
    log = tmp_path / "prefect-server.log"
    server = start([str(python.parent / "prefect"), "server", "start", "--host", "127.0.0.1",
                    "--port", str(port)], engine_env(home), log, home)
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_for("the Prefect server", lambda: get_json(f"{api}/health") is True,
                 SERVER_START_S, server, log)
        yield python, api, home
    finally:
        stop(server)


QUICK = ["%%mlops step train\nprint('retrained')"]


def trigger_notebook(project: Path, seen: Path) -> Path:
    """A retraining notebook whose step writes what it saw: MLOPS_TRIGGER and the tags
    ``tracking.trigger`` gives a run started in it."""
    return write_notebook(project / "retrain.ipynb", [
        "%%mlops step train\nimport json, os\n"
        "from jupyter_mlops.tracking.trigger import run_tags\n"
        f"with open({str(seen)!r}, 'w') as out:\n"
        "    json.dump({'env': os.environ.get('MLOPS_TRIGGER'), 'tags': run_tags()}, out)\n"
        "print('retrained')"])


def traffic(project: Path, count: int, first: int) -> None:
    write_part(project, "churn", [row(datetime.now(UTC), first + i) for i in range(count)])


def stored(rule_id: str) -> Rule:
    (found,) = [r for r in rules("churn") if r.id == rule_id]
    return found


@pytest.mark.timeout(420)
def test_a_prefect_rule_runs_the_served_export_and_follows_it(
        project: Path, tmp_path: Path, prefect_server: tuple[Path, str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    python, api, home = prefect_server
    monkeypatch.setenv("MLOPS_PIPELINE_PREFECT_URL", api)
    deployed(project, "churn")
    seen = tmp_path / "seen.json"
    notebook = trigger_notebook(project, seen)
    added = rule("churn", "rows>=2", "retrain.ipynb", target="prefect", cooldown=0)
    assert added.target == "prefect"

    # nothing serves the export yet: the firing fails with one line saying what to do
    traffic(project, 2, 0)
    early = check("churn")
    assert early.fired == [added.id]
    result = stored(added.id).last_result
    assert result is not None and result["status"] == "failed", result
    assert result["engine"] == "prefect"
    assert result["error"] == (
        f"the retraining did not start: the Prefect server at {api} has no deployment "
        "retrain/retrain: serve the export (jupyter mlops pipeline export retrain.ipynb "
        "--target prefect --out DIR, then python DIR/retrain_flow.py serve)")

    # the pipeline ran before (its step is in the cache); the user serves the export
    # (Prefect's serve(): deployment retrain/retrain)
    assert from_notebook(notebook).run().ok
    assert json.loads(seen.read_text())["env"] is None
    flow_file = from_notebook(notebook).export("prefect", tmp_path / "flows").files[0]
    log = tmp_path / "serve.log"
    served = start([str(python), str(flow_file), "serve"], engine_env(
        home, PREFECT_API_URL=api,
        MLOPS_PIPELINE_ARTIFACTS=str(project / ".mlops" / "pipelines")), log, tmp_path)
    try:
        deployment = wait_for("the served deployment", lambda: get_json(
            f"{api}/deployments/name/retrain/retrain"), 120, served, log)
        traffic(project, 3, 10)
        fired = check("churn")
        assert fired.fired == [added.id], fired.to_text()
        result = stored(added.id).last_result
        assert result is not None and result["status"] == "running", result
        flow_run = result["engine_run"]
        uuid.UUID(flow_run)
        assert result["engine"] == "prefect" and result["error"] is None
        assert result["url"] == f"{api[:-4]}/runs/flow-run/{flow_run}"
        assert f"retraining running (prefect flow run {flow_run})" in fired.to_text()

        # Prefect has the run, of that deployment, with the trigger as its parameter
        run = get_json(f"{api}/flow_runs/{flow_run}")
        assert run["deployment_id"] == deployment["id"]
        trigger = json.loads(run["parameters"]["mlops_trigger"])
        assert trigger["deployment"] == "churn" and trigger["rule"] == added.id
        assert trigger["when"] == "rows>=2" and trigger["engine"] == "prefect"
        assert trigger["report"].startswith("3 requests logged since ")

        # later checks follow the flow run to its end
        def ended() -> Rule | None:
            check("churn")
            now = stored(added.id)
            return now if (now.last_result or {}).get("status") != "running" else None

        final = wait_for("the flow run's end", ended, RUN_S, served, log)
        state = get_json(f"{api}/flow_runs/{flow_run}")["state"]["type"]
    finally:
        stop(served)
    assert final.last_result is not None
    assert final.last_result["status"] == "succeeded", (final.last_result,
                                                        log.read_text()[-3000:])
    assert final.last_result["finished"] and final.last_result["error"] is None
    assert final.last_result["engine_run"] == flow_run
    assert state == "COMPLETED"
    # the step ran again (not from the cache) with the trigger: the runs it tracks carry it
    # as the tag mlops.trigger
    saw = json.loads(seen.read_text())
    assert json.loads(saw["env"]) == trigger
    assert json.loads(saw["tags"]["mlops.trigger"]) == trigger


def test_an_unreachable_prefect_server_is_a_one_line_failed_firing(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
    monkeypatch.setenv("MLOPS_PIPELINE_PREFECT_URL", api)
    deployed(project, "churn")
    write_notebook(project / "retrain.ipynb", QUICK)
    added = rule("churn", "rows>=1", "retrain.ipynb", target="prefect")
    traffic(project, 1, 0)

    fired = check("churn")

    assert fired.fired == [added.id]
    result = stored(added.id).last_result
    assert result is not None and result["status"] == "failed" and result["engine"] == "prefect"
    assert result["error"].startswith(
        f"the retraining did not start: cannot reach Prefect at {api}/deployments/"
        "name/retrain/retrain (")
    assert "\n" not in result["error"]
    again = check("churn")  # failed, inside the cooldown: it does not fire a second time
    assert again.fired == [] and stored(added.id).last_result == result


@pytest.mark.parametrize("target", ["prefect", "airflow"])
def test_an_engine_rule_needs_a_notebook_the_engine_can_run(project: Path, target: str
                                                            ) -> None:
    deployed(project, "churn")
    # the notebook's name is its flow's (DAG's): a step of that name cannot be exported
    write_notebook(project / "train.ipynb", QUICK)
    with pytest.raises(UserInputError, match="step 'train' and the notebook's name would both "
                       f"be 'train' in the {target} export") as raised:
        rule("churn", "drift", "train.ipynb", target=target)
    assert "\n" not in str(raised.value)
    assert rules("churn") == []
    # the same notebook is fine for the local runner, which exports nothing
    assert rule("churn", "drift", "train.ipynb").target == "local"


def test_a_hand_edited_engine_result_puts_nothing_unchecked_into_a_url(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rules file is untrusted: a running result's run id (or DAG id) that is not one is
    never put into a URL; the result fails with one line."""
    for key in ("MLOPS_PIPELINE_PREFECT_URL", "MLOPS_PIPELINE_AIRFLOW_URL"):
        # nothing listens: a request would end in 'its state is unknown', not a failure
        monkeypatch.setenv(key, f"http://127.0.0.1:{free_port()}/api")
    deployed(project, "churn")
    write_notebook(project / "retrain.ipynb", QUICK)
    prefect = rule("churn", "rows>=5", "retrain.ipynb", target="prefect")
    airflow = rule("churn", "rows>=5", "retrain.ipynb", target="airflow")
    path = project / ".mlops" / "monitoring" / "rules" / "churn.json"
    data = json.loads(path.read_text())
    base = {"status": "running", "run_id": None, "log": None, "error": None}
    data["rules"][0]["last_result"] = {**base, "engine": "prefect", "engine_run": "../../admin"}
    data["rules"][1]["last_result"] = {**base, "engine": "airflow", "engine_run": "manual__1",
                                       "engine_pipeline": "../../admin"}
    path.write_text(json.dumps(data))

    checked = {r.id: r.result or {} for r in check("churn").rules}

    assert checked[prefect.id]["status"] == checked[airflow.id]["status"] == "failed"
    assert checked[prefect.id]["error"] == "'../../admin' is not a run id of 'prefect'"
    assert checked[airflow.id]["error"] == "'manual__1' is not a run id of 'airflow'"
    assert stored(airflow.id).last_result == checked[airflow.id]


@pytest.mark.timeout(420)
def test_an_airflow_rule_triggers_the_dag_and_follows_its_run(
        project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    python, why = engine_python("airflow")
    if python is None:
        pytest.skip(why)
    deployed(project, "churn")
    seen = tmp_path / "seen.json"
    notebook = trigger_notebook(project, seen)
    assert from_notebook(notebook).run().ok  # the step is in the cache
    dags = tmp_path / "dags"
    from_notebook(notebook).export("airflow", dags)
    home = tmp_path / "engine-home"
    home.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLOPS_PIPELINE_AIRFLOW_URL", base)
    # Airflow standalone (scheduler, DAG processor, API server; SQLite), letting every
    # caller in as admin: the rules send no credentials
    env = engine_env(home, AIRFLOW_HOME=str(home / "airflow"), AIRFLOW__CORE__DAGS_FOLDER=str(
        dags), AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{base}/execution/",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        MLOPS_PIPELINE_ARTIFACTS=str(project / ".mlops" / "pipelines"))
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    log = tmp_path / "airflow.log"
    airflow = start([str(python.parent / "airflow"), "standalone"], env, log, home)
    try:
        dag = wait_for("the DAG in Airflow", lambda: get_json(f"{base}/api/v2/dags/retrain"),
                       SERVER_START_S, airflow, log)
        assert dag["is_paused"] is True  # as Airflow makes a new DAG
        added = rule("churn", "rows>=2", "retrain.ipynb", target="airflow", cooldown=0)
        traffic(project, 2, 0)
        check("churn")
        result = stored(added.id).last_result
        assert result is not None and result["status"] == "failed", result
        assert result["error"] == (
            f"the retraining did not start: the DAG retrain is paused in Airflow at {base}: a "
            "run would wait for ever; unpause it (airflow dags unpause retrain)")

        unpause = urllib.request.Request(f"{base}/api/v2/dags/retrain", method="PATCH",
                                         data=b'{"is_paused": false}',
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(unpause, timeout=10) as answer:
            assert json.loads(answer.read())["is_paused"] is False
        traffic(project, 3, 10)
        fired = check("churn")
        assert fired.fired == [added.id], fired.to_text()
        result = stored(added.id).last_result
        assert result is not None and result["status"] == "running", result
        run_id = result["engine_run"]
        assert result["engine"] == "airflow" and result["engine_pipeline"] == "retrain"
        assert result["url"] == (f"{base}/dags/retrain/runs/"
                                 + urllib.parse.quote(run_id, safe=""))
        run = get_json(f"{base}/api/v2/dags/retrain/dagRuns/"
                       + urllib.parse.quote(run_id, safe=""))
        trigger = json.loads(run["conf"]["mlops_trigger"])
        assert trigger["deployment"] == "churn" and trigger["rule"] == added.id
        assert trigger["engine"] == "airflow"
        assert trigger["report"].startswith("3 requests logged since ")

        def ended() -> Rule | None:
            check("churn")
            now = stored(added.id)
            return now if (now.last_result or {}).get("status") != "running" else None

        final = wait_for("the DAG run's end", ended, RUN_S, airflow, log)
    finally:
        stop(airflow)
    assert final.last_result is not None
    assert final.last_result["status"] == "succeeded", (final.last_result,
                                                        log.read_text()[-3000:])
    assert final.last_result["finished"] and final.last_result["error"] is None
    # the step ran again (not from the cache) with the trigger: its tracked runs carry it
    saw = json.loads(seen.read_text())
    assert json.loads(saw["env"]) == trigger
    assert json.loads(saw["tags"]["mlops.trigger"]) == trigger


def test_an_engine_retraining_that_succeeded_registers_its_runs_models_as_candidates(
        project: Path, tracking_server: str, monkeypatch: pytest.MonkeyPatch,
        tracking_reset: None) -> None:
    """What the engine's step does is done here, in this process (the engine venvs have no
    MLflow): a run tracked while MLOPS_TRIGGER holds the firing's trigger logs a model. The
    check that sees the engine run succeed finds that run by the trigger's id on the real
    tracking server and registers its model as the deployment's candidate; a run of another
    firing is left alone."""
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.linear_model import LinearRegression

    import jupyter_mlops as mlops
    from jupyter_mlops.monitor.check import _registered

    monkeypatch.setenv("MLOPS_TRACKING_URI", tracking_server)
    deployed(project, "churn")
    ours, other = "ab" * 16, "cd" * 16
    X = np.arange(8.0).reshape(4, 2)
    for trigger_id in (ours, other):
        monkeypatch.setenv("MLOPS_TRIGGER", json.dumps(
            {"deployment": "churn", "rule": "0123abcd", "when": "drift", "report": "x",
             "model": "churn", "engine": "prefect", "trigger_id": trigger_id}))
        with mlops.start_run(cwd=str(project)) as run:
            mlops.log_model(LinearRegression().fit(X, X[:, 0]), "model", input_example=X[:2])
        if trigger_id == ours:
            retrained = run.run_id
    monkeypatch.delenv("MLOPS_TRIGGER")
    succeeded = {"status": "succeeded", "engine": "prefect", "engine_run": "r",
                 "trigger_id": ours, "model": "churn", "error": None}

    result = _registered(load_config(project), "churn", succeeded)

    assert result["tracked_runs"] == [retrained] and result["error"] is None
    candidate = MlflowClient(tracking_server).get_model_version_by_alias("churn", "candidate")
    assert candidate.run_id == retrained
    assert result["candidates"] == [
        f"churn version {candidate.version} → models:/churn@candidate"]
    planted = _registered(load_config(project), "churn", {**succeeded,
                                                         "trigger_id": "%' OR '1'='1"})
    assert "is not a trigger id" in planted["error"] and "candidates" not in planted
