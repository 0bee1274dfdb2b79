"""Hardening of a local deployment's serving process (issue 16, items 5 to 7), against a real
serving process and a real Jupyter server: a prediction that hangs is a 504 and /health says
the model is stuck until it answers; a body over the limit or a full queue (requests or
bytes) is refused before the body is read; a request addressed to another host (DNS
rebinding) is a 403; ``deploy.auth = "token"`` guards /invocations with a token shown once;
deeply nested JSON is a 400; a deploy body of the wrong type is a 400 of one line, and a local
model reference never reaches a folder outside the server root, whatever its form."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import stat
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.deploy_fixtures import DeployProject, get, post

pytestmark = pytest.mark.timeout(600)

SLEEPY_MODEL = '''
import time

import mlflow
from mlflow.pyfunc import PythonModel


class Sleepy(PythonModel):
    """Sleeps as many seconds as its first row's x says: a prediction that hangs."""

    def predict(self, context, model_input, params=None):
        time.sleep(float(model_input["x"].iloc[0]))
        return model_input["x"] * 2


mlflow.models.set_model(Sleepy())
'''
TIMEOUT_S = 1.5


def _sleepy_model(folder: Path) -> Path:
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    code = folder / "sleepy_model.py"
    code.write_text(SLEEPY_MODEL)
    model = folder / "sleepy"
    mlflow.pyfunc.save_model(str(model), python_model=str(code),
                             signature=ModelSignature(Schema([ColSpec("double", "x")])))
    return model


@pytest.fixture(scope="module")
def sleepy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A model that sleeps on demand, served with a short request timeout and small limits:
    1,000 bytes a request, 3 requests or 2,500 bytes held at once."""
    from jupyter_mlops.deploy import deploy, undeploy

    root = tmp_path_factory.mktemp("sleepy-project")
    (root / "mlops.toml").write_text(f"[deploy]\nrequest_timeout = {TIMEOUT_S}\n")
    model = _sleepy_model(root)
    deployment = deploy(str(model), name="sleepy", cwd=root, max_request_bytes=1000,
                        max_queue=3, max_queue_bytes=2500, max_batch_size=1)
    try:
        yield deployment
    finally:
        undeploy("sleepy", cwd=root)


def _rows(x: float) -> dict[str, Any]:
    return {"dataframe_records": [{"x": x}]}


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _raw(url: str, head: str, body: bytes = b"", timeout: float = 5.0
         ) -> tuple[socket.socket, bytes]:
    """Send ``head`` (and ``body``) on a new connection; the connection and the answer, its
    body whole when it says how long it is (b"" when nothing came within ``timeout``). The
    headers and the body may come in separate packets."""
    sock = socket.create_connection(("127.0.0.1", _port(url)), timeout=timeout)
    sock.sendall(head.encode() + body)
    answer = b""
    try:
        answer = sock.recv(65536)
        headers, _, content = answer.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in headers.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(content) < length:
            more = sock.recv(65536)
            if not more:
                break
            answer, content = answer + more, content + more
    except TimeoutError:
        pass
    return sock, answer


def _post_head(url: str, length: int, host: str | None = None) -> str:
    return (f"POST /invocations HTTP/1.1\r\nHost: {host or f'127.0.0.1:{_port(url)}'}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n")


# ---------------------------------------------------------------------------- a hung model


def test_a_prediction_that_hangs_is_a_504_and_health_says_stuck_until_it_answers(
        sleepy: Any) -> None:
    url = sleepy.url
    assert get(f"{url}/health")[0] == 200
    began = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        hung = pool.submit(post, f"{url}/invocations", _rows(6.0))
        status, answer, _ = hung.result(timeout=30)
        waited = time.monotonic() - began
        assert status == 504, answer
        assert TIMEOUT_S - 0.2 < waited < TIMEOUT_S + 3, waited
        assert "did not answer within 1.5 s" in answer["message"]
        assert "deploy.request_timeout" in answer["message"]
        health, text = get(f"{url}/health")
        assert health == 503, text
        assert "stuck" in json.loads(text)["message"]
        # the model answers at last (6 s after the request came): healthy again
        deadline = time.monotonic() + 30
        while get(f"{url}/health")[0] != 200:
            assert time.monotonic() < deadline, "/health stayed unhealthy"
            time.sleep(0.2)
    assert time.monotonic() - began > 5.5  # not before the hung prediction ended
    status, answer, _ = post(f"{url}/invocations", _rows(0.0))
    assert status == 200, answer


# ---------------------------------------------------------------------------- limits first


def test_a_body_over_the_limit_is_refused_before_it_is_sent(sleepy: Any) -> None:
    """Content-Length alone says it: the 413 comes while the body has not been sent."""
    sock, answer = _raw(sleepy.url, _post_head(sleepy.url, 10_000_000))
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"larger than this deployment's limit of 1000 bytes" in answer


def test_a_queue_full_of_bytes_or_of_requests_refuses_before_reading(sleepy: Any) -> None:
    """Requests whose bodies are still coming hold their declared bytes: two of 1,000 bytes
    and one more of 600 is over the 2,500 bytes; a fourth request over the 3 requests."""
    url = sleepy.url
    held = [_raw(url, _post_head(url, 1000), b'{"dataframe_records": [', timeout=1.0)
            for _ in range(2)]
    try:
        assert [answer for _, answer in held] == [b"", b""]  # admitted: waiting for the rest
        sock, answer = _raw(url, _post_head(url, 600))
        sock.close()
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        assert b"2000 bytes of requests held, at most 2500" in answer
        small = _raw(url, _post_head(url, 300), b"{", timeout=1.0)
        held.append(small)
        assert small[1] == b""  # 2,300 bytes: admitted
        sock, answer = _raw(url, _post_head(url, 10))
        sock.close()
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        assert b"the queue is full (3 requests waiting)" in answer
    finally:
        for sock, _ in held:
            sock.close()
    deadline = time.monotonic() + 10  # the callers left: their bytes are free again
    while post(f"{url}/invocations", _rows(0.0))[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)


# ---------------------------------------------------------------------------- Host


@pytest.mark.parametrize(("host", "allowed"), [
    ("127.0.0.1:{port}", True), ("localhost:{port}", True), ("LOCALHOST:{port}", True),
    ("127.0.0.1", True), ("[::1]:{port}", True),
    ("evil.example:{port}", False), ("evil.example", False), ("127.0.0.1:1", False),
    ("localhost.evil.example:{port}", False),
])
def test_only_requests_addressed_to_the_deployment_are_answered(
        sleepy: Any, host: str, allowed: bool) -> None:
    """DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 sends
    ``Host: evil.example:PORT``; it gets a 403 on every route, the model included."""
    url = sleepy.url
    named = host.format(port=_port(url))
    body = json.dumps(_rows(0.0)).encode()
    for head in (f"GET /ping HTTP/1.1\r\nHost: {named}\r\n\r\n",
                 f"GET /-/admin/status HTTP/1.1\r\nHost: {named}\r\n\r\n",
                 _post_head(url, len(body), named)):
        sock, answer = _raw(url, head, body if head.startswith("POST") else b"")
        sock.close()
        status = int(answer[9:12])
        if allowed:  # the admin route still wants its token: a 403 of its own
            assert b"answers only requests addressed to it" not in answer, answer[:300]
            assert status in (200, 403) if "admin" in head else status == 200, answer[:300]
        else:
            assert status == 403, (named, head, answer[:300])
            assert b"answers only requests addressed to it" in answer


# ---------------------------------------------------------------------------- nesting


def test_deeply_nested_json_is_a_400_from_the_serving_process(served: Any) -> None:
    """100,000 levels are refused by the front's parser; 1,000 pass it and overflow the
    standard library's parser in the model process (MLflow's): a 400 too, not a 500."""
    for depth in (100_000, 1000):
        body = b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}"
        status, answer, _ = post(f"{served.url}/invocations", body)
        assert status == 400, (depth, answer)
        assert "\n" not in answer["message"]
    assert get(f"{served.url}/health")[0] == 200


# ---------------------------------------------------------------------------- auth


def test_a_token_guards_the_model_and_is_shown_once(tmp_path: Path,
                                                    deploy_project: DeployProject) -> None:
    from jupyter_mlops.deploy import deploy, get_deployment, predict, undeploy

    (tmp_path / "mlops.toml").write_text('[deploy]\nauth = "token"\n')
    deployment = deploy(str(deploy_project.local_v1), name="guarded", cwd=tmp_path)
    try:
        token = deployment.new_token
        assert token and len(token) >= 32
        assert token in str(deployment) and token in deployment._repr_html_()
        assert "shown once" in str(deployment)
        again = get_deployment("guarded", cwd=tmp_path)
        assert again.new_token is None and token not in str(again)
        state = tmp_path / ".mlops" / "deployments" / "guarded"
        assert token not in (state / "deployment.json").read_text()
        secret = state / "secret.json"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert json.loads(secret.read_text())["invocations"] == token
        rows = {"inputs": deploy_project.X.tolist()}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
            status, answer, got = post(f"{deployment.url}/invocations", rows,
                                       headers=headers)
            assert status == 401, (headers, answer)
            assert "bearer token" in answer["message"]
            assert got["WWW-Authenticate"] == "Bearer"
        status, answer, _ = post(f"{deployment.url}/invocations", rows,
                                 headers={"Authorization": f"Bearer {token}"})
        assert status == 200, answer
        assert len(predict("guarded", deploy_project.X, cwd=tmp_path)) == len(deploy_project.X)
        assert get(f"{deployment.url}/ping")[0] == 200  # health needs no token
    finally:
        undeploy("guarded", cwd=tmp_path)


# ---------------------------------------------------------------------------- REST deploy


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


async def _refused(jp_fetch: Any, body: Any) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "api", "deployments", method="POST",
                       body=json.dumps(body))
    response = caught.value.response
    assert response is not None
    reply = json.loads(response.body.decode())
    assert set(reply) == {"message"} and "\n" not in reply["message"], reply
    return caught.value.code, reply["message"]


@pytest.mark.parametrize(("body", "says"), [
    ({"model": 5}, "'model' must be a string, not 5"),
    ({"model": ["models:/a/1"]}, "'model' must be a string, not a list"),
    ({"model": "models:/a/1", "port": "8080"}, "'port' must be a whole number or null"),
    ({"model": "models:/a/1", "port": 70000}, "'port' must be 1-65535"),
    ({"model": "models:/a/1", "canary": True}, "'canary' must be a whole number or null"),
    ({"model": "models:/a/1", "dry_run": "yes"}, "'dry_run' must be true or false or null"),
    ({"model": "models:/a/1", "max_wait_ms": {}}, "'max_wait_ms' must be a number or null"),
    ({"model": "models:/a/1", "name": 3}, "'name' must be a string or null"),
    ({"model": "  "}, "'model' is required"),
])
async def test_a_deploy_body_of_the_wrong_type_is_a_400_naming_the_field(
        jp_fetch: Any, body: Any, says: str) -> None:
    code, message = await _refused(jp_fetch, body)
    assert code == 400 and says in message, message


async def _task(jp_fetch: Any, body: dict[str, Any]) -> dict[str, Any]:
    started = await jp_fetch("mlops", "api", "deployments", method="POST",
                             body=json.dumps(body))
    task: dict[str, Any] = json.loads(started.body)["task"]
    deadline = time.monotonic() + 300
    while task["state"] == "running":
        assert time.monotonic() < deadline, task
        await asyncio.sleep(0.2)
        reply = await jp_fetch("mlops", "api", "deployments", "tasks", task["id"])
        task = json.loads(reply.body)["task"]
    return task


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory, deploy_project: DeployProject,
            monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model folder outside the server root, in this process's working folder and home."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "churn-v1").symlink_to(deploy_project.local_v1, target_is_directory=True)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("HOME", str(deploy_project.local_v1))
    return folder


@pytest.mark.parametrize("form", ["~", "bare", "parent", "absolute", "symlink"])
async def test_a_local_model_reference_stays_inside_the_server_root(
        jp_fetch: Any, jp_root_dir: Path, outside: Path, deploy_project: DeployProject,
        form: str) -> None:
    """A KServe dry run reads the model folder (its MLmodel) and starts nothing: before the
    fix, '~' (the home folder) and a bare name (the server process's working folder) were
    read outside the root."""
    (jp_root_dir / "link").symlink_to(deploy_project.local_v1, target_is_directory=True)
    model = {"~": "~", "bare": "churn-v1", "parent": f"../{outside.name}/churn-v1",
             "absolute": str(deploy_project.local_v1), "symlink": "link"}[form]
    body = {"model": model, "target": "kserve", "name": "api-outside", "dry_run": True}
    if form in ("parent", "absolute", "symlink"):
        code, message = await _refused(jp_fetch, body)
        assert code == 403 and "outside the server root" in message
        return
    task = await _task(jp_fetch, body)
    assert task["state"] == "failed", task
    assert task["status_code"] in (400, 404), task
    assert "is not a model reference" in task["error"]
    # the same folder inside the root deploys (the refusal is about where, not what)
    shutil.copytree(deploy_project.local_v1, jp_root_dir / "churn-v1")
    task = await _task(jp_fetch, {**body, "model": "churn-v1"})
    assert task["state"] == "done", task


async def test_a_token_made_by_a_rest_deploy_is_shown_once(
        jp_fetch: Any, jp_root_dir: Path, deploy_project: DeployProject) -> None:
    shutil.copytree(deploy_project.local_v1, jp_root_dir / "churn-v1")
    (jp_root_dir / "mlops.toml").write_text('[deploy]\nauth = "token"\n')
    task = await _task(jp_fetch, {"model": "churn-v1", "name": "api-guarded"})
    try:
        assert task["state"] == "done", task
        token = task["token"]
        assert token and token not in json.dumps(task["deployment"])
        again = json.loads((await jp_fetch("mlops", "api", "deployments", "tasks",
                                           task["id"])).body)["task"]
        assert again["token"] is None  # once
        listed = await jp_fetch("mlops", "api", "deployments")
        assert token not in listed.body.decode()
        url = task["deployment"]["url"]
        assert post(f"{url}/invocations", {"inputs": deploy_project.X.tolist()})[0] == 401
        answer = json.loads((await jp_fetch(
            "mlops", "api", "deployments", "api-guarded", "predict", method="POST",
            body=json.dumps({"data": {"inputs": deploy_project.X.tolist()}}))).body)
        assert len(answer["data"]) == len(deploy_project.X)
    finally:
        await jp_fetch("mlops", "api", "deployments", "api-guarded", method="DELETE")
