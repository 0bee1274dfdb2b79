"""The Monitor REST routes through a real Jupyter server (pytest-jupyter, unauthenticated
access off): the deployments, a deployment's summary and its logged requests; 404 for an
unknown deployment, one-line 400s for a window that does not parse, 403 without a token."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.deploy_fixtures import DeployProject, post
from tests.monitor_fixtures import make_churn_log

from .rest_helpers import api_error, api_get

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


@pytest.fixture
def logged(jp_root_dir: Path) -> Path:
    """A project folder ``proj`` under the server root whose deployment 'churn' logged nine
    requests (see ``make_churn_log``)."""
    project = jp_root_dir / "proj"
    project.mkdir()
    (project / "mlops.toml").write_text('[tracking]\nexperiment = "monitor-test"\n')
    return make_churn_log(project)


async def _get(jp_fetch: Any, *parts: str, **params: Any) -> Any:
    return await api_get(jp_fetch, "monitor", *parts, **params)


async def _error(jp_fetch: Any, *parts: str, **params: Any) -> tuple[int, str]:
    return await api_error(jp_fetch, "monitor", *parts, **params)


async def test_deployments_summary_and_inferences(jp_fetch: Any, logged: Path) -> None:
    listed = (await _get(jp_fetch, "deployments", path="proj"))["deployments"]
    assert [(d["name"], d["target"]) for d in listed] == [("churn", "local")]
    assert set(listed[0]) == {"name", "target", "status", "version", "device", "url"}

    summary = await _get(jp_fetch, "deployments", "churn", path="proj", since="2h")
    assert summary["name"] == "churn" and summary["target"] == "local"
    assert set(summary["series"]) == {"t", "rps", "p50_ms", "p99_ms", "error_rate",
                                      "batch_size"}
    assert set(summary["totals"]) >= {"requests", "errors", "rows"}
    assert set(summary["log"]) == {"rows_written", "dropped", "sampled_out", "error"}

    page = await _get(jp_fetch, "deployments", "churn", "inferences", path="proj", limit="3")
    assert page["total"] == 9
    assert page["columns"] == ["request_id", "timestamp", "version", "x0", "x1",
                               "prediction", "latency_ms"]
    assert [r[0] for r in page["rows"]] == ["req-21", "req-22", "req-23"]
    assert page["rows"][0][1].endswith("Z")  # ISO 8601, UTC
    recent = await _get(jp_fetch, "deployments", "churn", "inferences", path="proj",
                        since="1h")
    assert recent["total"] == 4 and len(recent["rows"]) == 4  # the default limit is 50
    window = await _get(jp_fetch, "deployments", "churn", "inferences", path="proj",
                        since="2h", until="1h")
    assert [r[0] for r in window["rows"]] == ["req-10", "req-11"]


@pytest.mark.parametrize(("parts", "params", "code", "message"), [
    (("deployments", "nobody"), {}, 404, "no deployment named 'nobody' (deployments: churn)"),
    (("deployments", "nobody", "inferences"), {}, 404, "no deployment named 'nobody'"),
    (("deployments", "churn"), {"since": "a while"}, 400, "since: cannot read 'a while'"),
    (("deployments", "churn", "inferences"), {"since": "then"}, 400, "since: cannot read"),
    (("deployments", "churn", "inferences"), {"until": "later"}, 400, "until: cannot read"),
    (("deployments", "churn", "inferences"), {"limit": "ten"}, 400,
     "limit must be a whole number, not 'ten'"),
    (("deployments", "churn", "inferences"), {"limit": "0"}, 400, "at least 1"),
    (("deployments", "Not_A_Name"), {}, 400, "invalid deployment name"),
])
async def test_mistakes_are_one_line_4xx(jp_fetch: Any, logged: Path, parts: tuple[str, ...],
                                         params: dict[str, str], code: int,
                                         message: str) -> None:
    got, text = await _error(jp_fetch, *parts, path="proj", **params)
    assert (got, message in text) == (code, True), text


async def test_paths_outside_the_root_are_403(jp_fetch: Any, logged: Path) -> None:
    code, _message = await _error(jp_fetch, "deployments", path="../elsewhere")
    assert code == 403


@pytest.mark.parametrize("parts", [
    ("deployments",), ("deployments", "churn"), ("deployments", "churn", "inferences")])
async def test_routes_need_authentication(jp_fetch: Any, logged: Path,
                                          parts: tuple[str, ...]) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "api", "monitor", *parts, params={"path": "proj"},
                       headers={"Authorization": ""})
    assert caught.value.code == 403


async def test_a_served_deployment_through_the_routes(
        jp_fetch: Any, jp_root_dir: Path, deploy_project: DeployProject) -> None:
    """A real serving process in a project under the server root: the routes list it, count
    its requests and return them by id."""
    from jupyter_mlops.deploy import deploy, undeploy

    project = jp_root_dir / "served"
    shutil.copytree(deploy_project.local_v1, project / "models" / "churn-v1")
    (project / "mlops.toml").write_text('[tracking]\nexperiment = "monitor-rest"\n')
    endpoint = await asyncio.to_thread(deploy, str(project / "models" / "churn-v1"),
                                       name="rest-watched", cwd=project)
    try:
        ids = [f"rest-{i}" for i in range(3)]
        for i, request_id in enumerate(ids):
            status, _body, _headers = await asyncio.to_thread(
                post, f"{endpoint.url}/invocations",
                {"inputs": deploy_project.X[i:i + 1].tolist()},
                headers={"X-Request-Id": request_id})
            assert status == 200
        listed = (await _get(jp_fetch, "deployments", path="served"))["deployments"]
        assert [(d["name"], d["status"], d["url"]) for d in listed] == [
            ("rest-watched", "serving", endpoint.url)]
        deadline = time.monotonic() + 10
        while True:
            page = await _get(jp_fetch, "deployments", "rest-watched", "inferences",
                              path="served", limit="10")
            if page["total"] >= len(ids) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
        assert [r[page["columns"].index("request_id")] for r in page["rows"]] == ids
        summary = await _get(jp_fetch, "deployments", "rest-watched", path="served")
        assert summary["status"] == "serving" and summary["device"] == endpoint.device
        assert summary["totals"]["requests"] == len(ids) and summary["totals"]["errors"] == 0
        assert summary["totals"]["by_code"] == {"200": len(ids)}
        assert summary["versions"][0]["version"] == 1
    finally:
        await asyncio.to_thread(undeploy, "rest-watched", cwd=project)
