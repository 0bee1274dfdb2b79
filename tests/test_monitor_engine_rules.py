"""Monitoring rules whose target is an engine, against the real Prefect 3 (its venv from
tests/engines.py): a real ``prefect server`` on a free loopback port, the notebook's export
served by Prefect's ``serve()``; a rule with ``target="prefect"`` creates a flow run of that
deployment through Prefect's REST API, the flow's step sees ``MLOPS_TRIGGER`` (so its tracked
runs would carry the tag ``mlops.trigger``), and later checks follow the flow run to its end.
A server that cannot be reached, or that serves no such deployment, is a one-line failed
firing. Airflow rules are still refused."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

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
    """End ``process`` and what it started (its own session)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
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

    # the user serves the export (Prefect's serve(): deployment retrain/retrain)
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
    # the step ran with the trigger: the runs it tracks carry it as the tag mlops.trigger
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
        f"the retraining did not start: cannot reach the Prefect API at {api}/deployments/"
        "name/retrain/retrain (")
    assert "\n" not in result["error"]
    again = check("churn")  # failed, inside the cooldown: it does not fire a second time
    assert again.fired == [] and stored(added.id).last_result == result


def test_a_prefect_rule_needs_a_notebook_prefect_can_run(project: Path) -> None:
    deployed(project, "churn")
    # the notebook's name is its flow's: a step of that name cannot be exported
    write_notebook(project / "train.ipynb", QUICK)
    with pytest.raises(UserInputError, match="step 'train' and the notebook's name would both "
                       "be 'train' in the prefect export") as raised:
        rule("churn", "drift", "train.ipynb", target="prefect")
    assert "\n" not in str(raised.value)
    with pytest.raises(UserInputError, match="target 'airflow' is not supported yet"):
        rule("churn", "drift", "train.ipynb", target="airflow")
    assert rules("churn") == []
    # the same notebook is fine for the local runner, which exports nothing
    assert rule("churn", "drift", "train.ipynb").target == "local"


def test_a_hand_edited_engine_rule_asks_no_server(project: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A rules file is untrusted: an airflow rule (refused by rule()) does not fire on
    Prefect, and a running result's flow run id is never put into a URL unchecked."""
    api = f"http://127.0.0.1:{free_port()}/api"  # nothing listens: a request would say so
    monkeypatch.setenv("MLOPS_PIPELINE_PREFECT_URL", api)
    deployed(project, "churn")
    write_notebook(project / "retrain.ipynb", QUICK)
    added = rule("churn", "rows>=1", "retrain.ipynb", target="prefect")
    path = project / ".mlops" / "monitoring" / "rules" / "churn.json"
    data = json.loads(path.read_text())
    running = {"status": "running", "engine": "prefect", "engine_run": "../../admin",
               "run_id": None, "log": None, "error": None}
    data["rules"][0].update(last_result=running, when="rows>=5")  # polled, does not hold
    data["rules"].append({**data["rules"][0], "id": "0123abcd", "target": "airflow",
                          "when": "rows>=1", "last_result": None})
    path.write_text(json.dumps(data))
    traffic(project, 1, 0)

    checked = {r.id: r for r in check("churn").rules}

    polled = checked[added.id].result
    assert polled is not None and polled["status"] == "failed"
    assert polled["error"] == "'../../admin' is not a Prefect flow run id"
    assert checked["0123abcd"].fired
    assert stored("0123abcd").last_result["error"] == (  # type: ignore[index]
        "the retraining did not start: rule 0123abcd: target 'airflow' is not supported yet")
