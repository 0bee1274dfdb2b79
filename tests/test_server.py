"""The REST API through a real Jupyter server (pytest-jupyter), unauthenticated access off."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.utils import JupyterServerAuthWarning, url_path_join
from tornado.httpclient import HTTPClientError
from tornado.routing import PathMatches, Rule

from jupyter_mlops import __version__
from jupyter_mlops.server.app import route_table
from jupyter_mlops.server.base import MLOpsHandler
from tests.deploy_fixtures import DeployProject

from .pipeline_notebooks import write_notebook

CAPABILITIES = ["features", "experiments", "pipeline", "review", "deploy", "monitor"]


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any], request: pytest.FixtureRequest
                     ) -> dict[str, Any]:
    """Unauthenticated access off, unless a test parametrizes this fixture: ``None`` leaves
    the server's default (on)."""
    allow = getattr(request, "param", False)
    server: dict[str, Any] = {"jpserver_extensions": {"jupyter_mlops": True}}
    if allow is not None:
        server["allow_unauthenticated_access"] = allow
    return {"ServerApp": server}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("MLOPS_", "MLFLOW_")):
            monkeypatch.delenv(name)


async def _json(response: Any) -> Any:
    return json.loads(response.body.decode())


async def test_status_reports_config_version_and_five_capabilities(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    response = await jp_fetch("mlops", "api", "status")
    assert response.code == 200
    body = await _json(response)
    assert body["version"] == __version__
    assert body["config_error"] is None
    assert Path(body["config"]["project_root"]) == jp_root_dir
    values = {v["key"]: v for v in body["config"]["values"]}
    assert values["tracking.uri"]["value"] == f"sqlite:///{jp_root_dir}/.mlops/mlflow.db"
    assert values["tracking.uri"]["source"] == "default"
    assert [c["id"] for c in body["capabilities"]] == CAPABILITIES
    for cap in body["capabilities"]:
        assert cap["state"] in ("ok", "warning", "error")
        assert cap["checks"], cap
        assert all(c["elapsed_ms"] >= 0 for c in cap["checks"])
    experiments = body["capabilities"][1]
    assert experiments["state"] == "ok"
    assert "created by the first run" in experiments["checks"][0]["message"]
    # measuring must not create the embedded stores
    assert not (jp_root_dir / ".mlops").exists()


async def test_status_reads_the_servers_project_config(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    (jp_root_dir / "mlops.toml").write_text('[tracking]\nexperiment = "churn"\n')
    body = await _json(await jp_fetch("mlops", "api", "status"))
    values = {v["key"]: v for v in body["config"]["values"]}
    assert values["tracking.experiment"]["value"] == "churn"
    assert values["tracking.experiment"]["source"] == f"file:{jp_root_dir / 'mlops.toml'}:2"


async def test_broken_config_is_reported_in_one_line(jp_fetch: Any, jp_root_dir: Path) -> None:
    (jp_root_dir / "mlops.toml").write_text("[tracking]\nuri = 3\n")
    body = await _json(await jp_fetch("mlops", "api", "status"))
    assert body["config"] is None
    assert body["capabilities"] == []
    error = body["config_error"]
    assert "\n" not in error
    assert f"{jp_root_dir / 'mlops.toml'}:2" in error and "tracking.uri" in error


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


async def test_unreachable_tracking_server_is_a_clear_error(
    jp_fetch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MLOPS_TRACKING_URI", f"http://127.0.0.1:{port}")
    body = await _json(await jp_fetch("mlops", "api", "status"))
    experiments = body["capabilities"][1]
    assert experiments["state"] == "error"
    assert "unreachable" in experiments["summary"]
    assert "MLOPS_TRACKING_URI" in experiments["summary"]


async def test_a_hanging_tracking_server_neither_hangs_status_nor_blocks_the_server(
    jp_fetch: Any, jp_serverapp: Any, blackhole: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_TRACKING_URI", f"http://127.0.0.1:{blackhole}")
    monkeypatch.setenv("MLOPS_STATUS_TIMEOUT", "2")
    began = time.monotonic()
    status = asyncio.ensure_future(jp_fetch("mlops", "api", "status"))
    await asyncio.sleep(0.3)
    # while the check waits on the silent server, the event loop keeps serving
    other = await jp_fetch("api", "status")
    assert other.code == 200
    assert not status.done()
    body = await _json(await status)
    elapsed = time.monotonic() - began
    # bounded by the 2 s check timeout (a hang would run into the client's 20 s one); the upper
    # bound is loose because CI machines are loaded
    assert 1.5 < elapsed < 15
    experiments = body["capabilities"][1]
    assert experiments["state"] == "error"
    assert "timed out" in experiments["summary"]


async def test_unknown_endpoint_is_a_json_404(jp_fetch: Any) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "api", "nope")
    assert caught.value.code == 404
    body = json.loads(caught.value.response.body)
    assert body == {"message": "no such endpoint: /mlops/api/nope"}


def _path_rules(rules: list[Any]) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """Every path rule of the server, in the order tornado tries them: (regex, handler,
    its keyword arguments)."""
    for rule in rules:
        if isinstance(rule, Rule) and hasattr(rule.target, "rules"):
            yield from _path_rules(rule.target.rules)
        elif isinstance(rule, Rule) and isinstance(rule.matcher, PathMatches):
            yield rule.matcher.regex.pattern, rule.target, rule.target_kwargs


def _mlops_rules(rules: list[Any]) -> Iterator[tuple[str, type]]:
    for pattern, target, _ in _path_rules(rules):
        if "/mlops/api/" in pattern:
            yield pattern, target


#: What a route's group is filled with when it is not a list of words (``(a|b)``: each word):
#: the first of these its regex accepts.
SAMPLES = ("churn-1", "churn", "42")
SAMPLE = SAMPLES[0]


def _sample_paths(pattern: str) -> list[str]:
    """URLs that ``pattern`` (a route's regex) matches: each group filled with a sample value
    (every word of an alternation such as ``(approve|request-changes)``)."""
    parts: list[list[str]] = [[""]]
    depth, start, literal = 0, 0, ""
    for i, char in enumerate(pattern):
        if char == "(" and pattern[i - 1:i] != "\\":
            if depth == 0:
                parts.append([literal])
                start = i + 1
            depth += 1
        elif char == ")" and pattern[i - 1:i] != "\\":
            depth -= 1
            if depth == 0:
                group = pattern[start:i]
                words = [w for w in group.split("|") if re.fullmatch(group, w)]
                samples = words or [s for s in SAMPLES if re.fullmatch(group, s)][:1]
                assert samples, f"no sample value fits the group ({group}) of {pattern}"
                parts.append(samples)
                literal = ""
        elif depth == 0:
            literal += char
    parts.append([literal])
    paths = ["".join(choice) for choice in itertools.product(*parts)]
    return [path.removesuffix("$").replace("\\", "") for path in paths]


async def _route_walk(serverapp: Any, client: Any) -> tuple[int, list[str]]:
    """Fetch every /mlops/api route without credentials, each of its methods, with sample
    values for its groups: (how many requests were made, what went wrong). Each URL must reach
    its own handler (not a route before it, not the catch-all) and be refused with a 403."""
    everything = list(_path_rules(serverapp.web_app.default_router.rules))
    problems: list[str] = []
    fetched = 0
    for pattern, handler in _mlops_rules(serverapp.web_app.default_router.rules):
        for path in _sample_paths(pattern):
            reached = next(t for p, t, _ in everything if re.match(p, path))
            if reached is not handler:
                problems.append(f"{path} reaches {reached.__name__}, not {handler.__name__}")
                continue
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                if getattr(handler, method.lower()) is getattr(MLOpsHandler, method.lower()):
                    continue  # not implemented by this handler: tornado answers 405
                response = await client.fetch(
                    path, method=method, raise_error=False, follow_redirects=False,
                    body=b"{}" if method in ("POST", "PUT", "PATCH") else None)
                fetched += 1
                if response.code != 403:
                    problems.append(f"{method} {path} answers {response.code} without "
                                    "credentials")
    return fetched, problems


def _plant(serverapp: Any, handler: type) -> None:
    """Route ``mlops/api/planted/WORD`` to ``handler``, first in our extension's routes (as
    if a capability's ROUTES listed it), bypassing the server's own check of new handlers."""
    router = next(rule.target for rule in serverapp.web_app.default_router.rules
                  if any(isinstance(r, Rule) and isinstance(r.matcher, PathMatches)
                         and r.matcher.regex.pattern.endswith("/mlops/api/status$")
                         for r in getattr(rule.target, "rules", [])))
    status = next(r for r in router.rules if r.matcher.regex.pattern.endswith("/status$"))
    pattern = url_path_join(serverapp.base_url, "mlops/api/planted/([a-z]+)")
    router.rules.insert(0, router.process_rule(
        Rule(PathMatches(pattern), handler, status.target_kwargs)))


class PlantedHandler(MLOpsHandler):
    """A handler someone forgot to decorate with ``@web.authenticated``."""

    def get(self, word: str) -> None:
        self.reply({"secret": word})


@pytest.mark.parametrize("jp_server_config", [False, None], indirect=True,
                         ids=["unauthenticated-access-off", "default"])
async def test_every_route_refuses_requests_without_credentials(
    jp_serverapp: Any, http_server_client: Any, jp_auth_header: dict[str, str]
) -> None:
    registered = list(_mlops_rules(jp_serverapp.web_app.default_router.rules))
    routes = route_table()
    # our extension loaded (the server refuses one with an undecorated handler when
    # unauthenticated access is off) and registered exactly its route table
    assert {target for _, target in registered} == {handler for _, handler in routes}
    assert all(issubclass(handler, MLOpsHandler) for _, handler in registered)
    fetched, problems = await _route_walk(jp_serverapp, http_server_client)
    assert problems == []
    assert fetched >= len(routes)
    # with the token the same URLs are served: the 403s above were about credentials
    for path in (f"{jp_serverapp.base_url}mlops/api/status",
                 f"{jp_serverapp.base_url}mlops/api/features/views/{SAMPLE}"):
        ok = await http_server_client.fetch(path, headers=jp_auth_header, raise_error=False)
        assert ok.code in (200, 404), (path, ok.code)
        assert b"no such endpoint" not in ok.body, path


async def test_every_route_is_fetched_by_its_own_url() -> None:
    """The walk fills groups with values their regex accepts (no URL is the regex's text)."""
    for route, _ in route_table():
        for path in _sample_paths(f"/mlops/api/{route}$"):
            assert "(" not in path and "[" not in path, path
            assert re.fullmatch(f"/mlops/api/{route}", path), (route, path)
    assert _sample_paths("/x/review/(approve|request-changes)$") == [
        "/x/review/approve", "/x/review/request-changes"]


@pytest.mark.parametrize("jp_server_config", [None], indirect=True, ids=["default"])
async def test_the_walk_catches_a_handler_without_authentication(
    jp_serverapp: Any, http_server_client: Any
) -> None:
    _plant(jp_serverapp, PlantedHandler)
    _, problems = await _route_walk(jp_serverapp, http_server_client)
    planted = f"{jp_serverapp.base_url}mlops/api/planted/churn"
    assert problems == [f"GET {planted} answers 200 without credentials"]


@pytest.mark.parametrize("jp_server_config", [False], indirect=True)
async def test_the_server_refuses_an_undecorated_handler_when_access_is_off(
    jp_serverapp: Any
) -> None:
    """With unauthenticated access off, the server itself flags (and so refuses to load) an
    extension whose handler has no authentication rule."""
    with pytest.warns(JupyterServerAuthWarning, match="PlantedHandler"):
        jp_serverapp.web_app.add_handlers(".*$", [
            (url_path_join(jp_serverapp.base_url, "mlops/api/planted/([a-z]+)"),
             PlantedHandler)])


async def test_status_of_a_notebook_folder_uses_that_projects_config(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    project = jp_root_dir / "projects" / "churn"
    (project / "notebooks").mkdir(parents=True)
    (project / "mlops.toml").write_text('[tracking]\nexperiment = "churn"\n')
    body = await _json(await jp_fetch("mlops", "api", "status",
                                      params={"path": "projects/churn/notebooks"}))
    assert Path(body["config"]["project_root"]) == project
    values = {v["key"]: v["value"] for v in body["config"]["values"]}
    assert values["tracking.experiment"] == "churn"


@pytest.mark.parametrize("path", ["..", "../..", "/etc", "projects/../../outside"])
async def test_status_refuses_paths_outside_the_server_root(
    jp_fetch: Any, jp_root_dir: Path, path: str
) -> None:
    (jp_root_dir / "projects").mkdir()
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "api", "status", params={"path": path})
    assert caught.value.code == 403
    assert "outside the server root" in json.loads(caught.value.response.body)["message"]


async def test_status_of_a_missing_folder_is_a_404(jp_fetch: Any) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "api", "status", params={"path": "no/such/folder"})
    assert caught.value.code == 404
    assert json.loads(caught.value.response.body) == {
        "message": "no such file or folder: 'no/such/folder'"}


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, their children, …), read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended while we looked
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _described(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                or Path(f"/proc/{pid}/stat").read_text())  # a zombie has no command line
    except OSError:
        return f"{pid} (gone)"


SERVING_FRONT = "-m jupyter_mlops.deploy.server "


def _our_threads(before: frozenset[threading.Thread] = frozenset()) -> list[str]:
    """Our threads (named mlops-…) that were not running ``before`` (a kernel-side sender
    that earlier tests of this process started is not the server's)."""
    return [t.name for t in threading.enumerate()
            if t.name.startswith("mlops-") and t not in before]


@pytest.mark.timeout(600)
async def test_stopping_the_server_leaves_no_thread_or_process_of_ours_behind(
        jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path, deploy_project: DeployProject
) -> None:
    """A pipeline run and a deploy started through the API are both in flight when the server
    stops: the run is stopped (recorded as cancelled), the deploy interrupted at its next step
    (its serving process stopped, nothing half-deployed), and the deploy pool's threads end."""
    before = _descendants(os.getpid())
    threads_before = frozenset(threading.enumerate())
    write_notebook(jp_root_dir / "slow.ipynb", [
        "%%mlops step wait\nimport pathlib, time\npathlib.Path('started').write_text('x')\n"
        "time.sleep(300)\nx = 1",
    ])
    shutil.copytree(deploy_project.local_v1, jp_root_dir / "models" / "churn-v1")

    response = await jp_fetch("mlops", "api", "pipeline", "runs", method="POST",
                              body=json.dumps({"path": "slow.ipynb"}))
    run_id = (await _json(response))["run_id"]
    deadline = time.monotonic() + 120
    while not (jp_root_dir / "started").exists():
        assert time.monotonic() < deadline, "the run's step never started"
        await asyncio.sleep(0.1)
    response = await jp_fetch("mlops", "api", "deployments", method="POST",
                              body=json.dumps({"model": "models/churn-v1", "name": "stopping"}))
    task = (await _json(response))["task"]
    named: dict[int, str] = {}
    while not any(SERVING_FRONT in line for line in named.values()):  # its front has started
        assert time.monotonic() < deadline, task
        await asyncio.sleep(0.05)
        task = (await _json(await jp_fetch("mlops", "api", "deployments", "tasks",
                                           task["id"])))["task"]
        assert task["state"] == "running", task
        named = {pid: _described(pid) for pid in _descendants(os.getpid()) - before}
    assert any("-m jupyter_mlops.pipeline.runner " in line for line in named.values())
    assert _our_threads(threads_before), "the deploy runs in the app's pool"
    assert jp_serverapp.extension_manager.any_activity()  # no idle shutdown meanwhile

    await jp_serverapp.extension_manager.stop_all_extensions()

    assert _our_threads(threads_before) == []
    assert not jp_serverapp.extension_manager.any_activity()
    left = _descendants(os.getpid()) - before
    assert left == set(), [(_described(pid), "was: " + named.get(pid, "?")) for pid in left]
    record = next((jp_root_dir / ".mlops" / "pipelines").rglob(f"{run_id}/run.json"))
    assert json.loads(record.read_text())["state"] == "cancelled"
    # the handlers still answer until the server itself goes: the task says what happened
    task = (await _json(await jp_fetch("mlops", "api", "deployments", "tasks",
                                       task["id"])))["task"]
    assert task["state"] == "failed" and task["status_code"] == 503
    assert "interrupted: the Jupyter server stopped" in task["error"]
    listed = await _json(await jp_fetch("mlops", "api", "deployments"))
    assert listed["deployments"] == []  # nothing half-deployed
    # and nothing new starts in a stopping server
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "api", "pipeline", "runs", method="POST",
                       body=json.dumps({"path": "slow.ipynb"}))
    assert caught.value.code == 503
    assert "stopping" in json.loads(caught.value.response.body)["message"]
