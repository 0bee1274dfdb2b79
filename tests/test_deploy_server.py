"""The Deploy REST API through a real Jupyter server (pytest-jupyter, authentication on)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tornado.httpclient import HTTPClientError

from tests.deploy_fixtures import DeployProject

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


@pytest.fixture
def model_folder(jp_root_dir: Path, deploy_project: DeployProject) -> str:
    """churn v1 as a model folder inside the server root (relative path)."""
    shutil.copytree(deploy_project.local_v1, jp_root_dir / "models" / "churn-v1")
    return "models/churn-v1"


async def _json(response: Any) -> Any:
    return json.loads(response.body.decode())


async def _error(call: Any) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as caught:
        await call
    return caught.value.code, json.loads(caught.value.response.body)["message"]


async def test_a_deployment_made_by_another_process_is_listed_and_served(
        jp_fetch: Any, jp_root_dir: Path, model_folder: str, deploy_project: DeployProject,
        child_env: Any) -> None:
    """Deployed by the CLI (a process that then exits), as before a restart of Jupyter: the
    server lists it, predicts through it, shows its logs and undeploys it."""
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "deploy", model_folder, "--name",
         "api-mlp"], cwd=jp_root_dir, env=child_env(), capture_output=True, text=True,
        timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    try:
        body = await _json(await jp_fetch("mlops", "api", "deployments"))
        (listed,) = body["deployments"]
        assert listed["name"] == "api-mlp" and listed["status"] == "serving"
        assert listed["health"] == "ok" and listed["target"] == "local"
        assert listed["device"] in ("cpu", "cuda:0") and listed["version"] == 1
        assert listed["url"].startswith("http://127.0.0.1:")
        assert {t["id"] for t in body["targets"]} == {"local", "kserve", "sagemaker"}
        assert body["default_target"] == "local"
        raw = json.dumps(body)
        secret = json.loads((jp_root_dir / ".mlops" / "deployments" / "api-mlp" /
                             "secret.json").read_text())["token"]
        assert secret not in raw  # the admin token never leaves the server
        X = deploy_project.X
        answer = await _json(await jp_fetch(
            "mlops", "api", "deployments", "api-mlp", "predict", method="POST",
            body=json.dumps({"data": {"columns": [str(i) for i in range(16)],
                                      "data": X.tolist()}})))
        assert len(answer["data"]) == len(X)
        np.testing.assert_allclose(np.array(answer["data"], dtype="float32"),
                                   deploy_project.expected_v1, rtol=1e-6)
        one = await _json(await jp_fetch("mlops", "api", "deployments", "api-mlp"))
        assert one["deployment"]["metrics"]["requests"] >= 1
        logs = await _json(await jp_fetch("mlops", "api", "deployments", "api-mlp", "logs",
                                          params={"lines": "20"}))
        assert "serving process" in logs["sections"]
        assert any("ready on" in line for line in logs["sections"]["version 1"])
    finally:
        gone = await _json(await jp_fetch("mlops", "api", "deployments", "api-mlp",
                                          method="DELETE"))
    assert gone["deployment"]["status"] == "removed"
    code, message = await _error(jp_fetch("mlops", "api", "deployments", "api-mlp"))
    assert code == 404 and "no deployment named 'api-mlp'" in message


async def test_deploying_through_the_api_runs_off_the_event_loop_with_progress(
        jp_fetch: Any, model_folder: str) -> None:
    started = await jp_fetch("mlops", "api", "deployments", method="POST",
                             body=json.dumps({"model": model_folder, "name": "api-task"}))
    assert started.code == 202
    task = (await _json(started))["task"]
    assert task["state"] == "running" and task["kind"] == "deploy"
    answered_meanwhile = 0
    deadline = time.monotonic() + 300
    try:
        while task["state"] == "running":
            assert time.monotonic() < deadline, task
            # the server answers other requests while the model loads
            status = await jp_fetch("api", "status")
            answered_meanwhile += status.code == 200
            await asyncio.sleep(0.2)
            task = (await _json(await jp_fetch("mlops", "api", "deployments", "tasks",
                                               task["id"])))["task"]
        assert task["state"] == "done", task
        assert answered_meanwhile >= 3
        messages = [p["message"] for p in task["progress"]]
        assert any(m.startswith("starting the serving process on http://127.0.0.1:")
                   for m in messages), messages
        deployment = task["deployment"]
        assert deployment["status"] == "serving" and deployment["health"] == "ok"
        assert deployment["warmup_ms"] > 0
        # a rollback with nothing to return to fails as a task, with the reason
        rolled = await _json(await jp_fetch("mlops", "api", "deployments", "api-task",
                                            "rollback", method="POST", body="{}"))
        task_id = rolled["task"]["id"]
        while True:
            task = (await _json(await jp_fetch("mlops", "api", "deployments", "tasks",
                                               task_id)))["task"]
            if task["state"] != "running":
                break
            await asyncio.sleep(0.1)
        assert task["state"] == "failed" and task["status_code"] == 400
        assert "no previous version" in task["error"]
    finally:
        await jp_fetch("mlops", "api", "deployments", "api-task", method="DELETE")


@pytest.mark.parametrize(("method", "parts", "body", "code", "says"), [
    ("POST", ["deployments"], {}, 400, "'model' is required"),
    ("POST", ["deployments"], {"model": "x", "colour": "red"}, 400, "unknown field: colour"),
    ("POST", ["deployments"], {"model": "../outside"}, 403, "outside the server root"),
    ("GET", ["deployments", "Bad_Name"], None, 400, "invalid deployment name"),
    ("GET", ["deployments", "nobody"], None, 404, "no deployment named 'nobody'"),
    ("DELETE", ["deployments", "nobody"], None, 404, "no deployment named 'nobody'"),
    ("POST", ["deployments", "nobody", "predict"], {"data": [{"a": 1}]}, 404, "no deployment"),
    ("POST", ["deployments", "nobody", "predict"], {}, 400, "'data' is required"),
    ("POST", ["deployments", "nobody", "rollback"], {}, 404, "no deployment"),
    ("GET", ["deployments", "nobody", "logs"], None, 404, "no deployment"),
    ("GET", ["deployments", "tasks", "nope"], None, 404, "no deploy task 'nope'"),
])
async def test_bad_requests_are_json_4xx(jp_fetch: Any, method: str, parts: list[str],
                                         body: Any, code: int, says: str) -> None:
    kwargs: dict[str, Any] = {"method": method}
    if body is not None:
        kwargs["body"] = json.dumps(body)
    got, message = await _error(jp_fetch("mlops", "api", *parts, **kwargs))
    assert got == code and says in message, message


async def test_deployments_of_a_folder_outside_the_root_are_refused(jp_fetch: Any) -> None:
    code, message = await _error(jp_fetch("mlops", "api", "deployments",
                                          params={"path": "../.."}))
    assert code == 403 and "outside the server root" in message


async def _finished(jp_fetch: Any, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        task: dict[str, Any] = (await _json(await jp_fetch(
            "mlops", "api", "deployments", "tasks", task_id)))["task"]
        if task["state"] != "running":
            return task
        assert time.monotonic() < deadline, task
        await asyncio.sleep(0.1)


async def test_a_kserve_dry_run_returns_the_yaml_and_applies_nothing(
        jp_fetch: Any, jp_root_dir: Path, model_folder: str) -> None:
    """No kubeconfig here: the dry run is what the KServe target offers, and it needs none."""
    body = await _json(await jp_fetch("mlops", "api", "deployments"))
    (kserve,) = [t for t in body["targets"] if t["id"] == "kserve"]
    assert kserve["dry_run"] is True
    started = await _json(await jp_fetch(
        "mlops", "api", "deployments", method="POST",
        body=json.dumps({"model": model_folder, "target": "kserve", "name": "api-dry",
                         "dry_run": True})))
    assert started["task"]["dry_run"] is True and started["task"]["label"].endswith(
        "models/churn-v1")
    task = await _finished(jp_fetch, started["task"]["id"])
    assert task["state"] == "done", task
    deployment = task["deployment"]
    assert deployment["status"] == "dry-run" and deployment["target"] == "kserve"
    yaml = deployment["details"]["yaml"]
    assert "kind: InferenceService" in yaml and "name: api-dry" in yaml
    assert "is local to this machine" in deployment["message"]  # a cluster cannot read it
    # nothing was deployed: the list stays empty
    listed = await _json(await jp_fetch("mlops", "api", "deployments"))
    assert listed["deployments"] == []


async def test_the_task_list_shows_a_projects_deploys_to_every_client(
        jp_fetch: Any, jp_root_dir: Path, model_folder: str) -> None:
    """Another tab (or the CLI's user in another browser) sees the deploys started here;
    another project (its own mlops.toml) does not."""
    (jp_root_dir / "mlops.toml").write_text('[deploy]\ntarget = "local"\n')
    started = await _json(await jp_fetch(
        "mlops", "api", "deployments", method="POST",
        body=json.dumps({"model": model_folder, "target": "kserve", "name": "api-listed",
                         "dry_run": True})))
    task_id = started["task"]["id"]
    listed = (await _json(await jp_fetch("mlops", "api", "deployments", "tasks")))["tasks"]
    assert [t["id"] for t in listed] == [task_id]
    assert listed[0]["kind"] == "deploy" and listed[0]["label"] == started["task"]["label"]
    # a subfolder without its own configuration is the same project (the one above)
    (jp_root_dir / "notebooks").mkdir()
    same = await _json(await jp_fetch("mlops", "api", "deployments", "tasks",
                                      params={"path": "notebooks"}))
    assert [t["id"] for t in same["tasks"]] == [task_id]
    other = jp_root_dir / "other"
    other.mkdir()
    (other / "mlops.toml").write_text('[deploy]\ntarget = "local"\n')
    elsewhere = await _json(await jp_fetch("mlops", "api", "deployments", "tasks",
                                           params={"path": "other"}))
    assert elsewhere["tasks"] == []
    done = await _finished(jp_fetch, task_id)
    assert done["state"] == "done", done
    running = await _json(await jp_fetch("mlops", "api", "deployments", "tasks",
                                         params={"state": "running"}))
    assert running["tasks"] == []
    finished = await _json(await jp_fetch("mlops", "api", "deployments", "tasks",
                                          params={"state": "done"}))
    assert [t["id"] for t in finished["tasks"]] == [task_id]
    code, message = await _error(jp_fetch("mlops", "api", "deployments", "tasks",
                                          params={"state": "sleeping"}))
    assert code == 400 and "unknown state 'sleeping'" in message
