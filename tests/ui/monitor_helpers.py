"""What the Monitor panel's UI tests share: the server's REST routes as another client calls
them, deployments made over REST and waited for, requests sent to a deployment with the
caller's id, and a sidebar with only one section open."""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from .conftest import Lab
from .helpers import expand_section, section_title

DEPLOY_TIMEOUT_S = 240  # a model process starting on a busy 2-core machine
SECTIONS = ["features", "experiments", "pipeline", "review", "deploy", "monitor"]


def api(lab: Lab, route: str, body: dict[str, Any] | None = None) -> Any:
    """``/mlops/api/<route>`` as another client would call it (the token, no browser)."""
    request = urllib.request.Request(
        f"{lab.url}mlops/api/{route}", method="GET" if body is None else "POST",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        # the server's one line in the failure (the body stays readable for the caller)
        body = error.read()
        raise urllib.error.HTTPError(error.url, error.code, f"{error.msg}: {body[:500]!r}",
                                     error.headers, io.BytesIO(body)) from None


def deploy(lab: Lab, models: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Deploy each model under its name (``{name: model}``; the deploys run side by side);
    each deployment as the finished task reports it."""
    tasks = {name: api(lab, "deployments", {"model": model, "name": name})["task"]
             for name, model in models.items()}
    deadline = time.monotonic() + DEPLOY_TIMEOUT_S
    done: dict[str, dict[str, Any]] = {}
    while len(done) < len(models):
        assert time.monotonic() < deadline, f"deploys still running: {tasks}"
        time.sleep(1)
        for name, task in tasks.items():
            if name in done:
                continue
            task = tasks[name] = api(lab, f"deployments/tasks/{task['id']}")["task"]
            assert task["state"] != "failed", task["error"]
            if task["state"] == "done":
                done[name] = task["deployment"]
    return done


def send(url: str, request_id: str, body: dict[str, Any]) -> tuple[int, str]:
    """POST /invocations with the caller's X-Request-Id; the status and the id answered."""
    request = urllib.request.Request(
        f"{url}/invocations", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "X-Request-Id": request_id})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers["X-Request-Id"]
    except urllib.error.HTTPError as error:
        return error.code, error.headers["X-Request-Id"]


def split(rows: list[dict[str, float]]) -> dict[str, Any]:
    """Rows in MLflow's ``dataframe_split`` body."""
    return {"dataframe_split": {"columns": list(rows[0]),
                                "data": [list(r.values()) for r in rows]}}


def undeploy_all(root: Path) -> None:
    """Stop and remove every deployment of the project at ``root`` (a test's clean-up: what
    cannot be undeployed is printed, not hidden)."""
    from jupyter_mlops.deploy import deployments, undeploy

    for deployment in deployments(check=False, cwd=root):
        try:
            undeploy(deployment.name, cwd=root)
        except Exception as exc:  # pragma: no cover - reported, not hidden
            print(f"could not undeploy {deployment.name}: {exc}")


def only_open(page: Any, capability: str) -> None:
    """Close every other section, so that this one has the sidebar's height."""
    for other in SECTIONS:
        title = section_title(page, other)
        if other != capability and title.get_attribute("aria-expanded") == "true":
            title.click()
            expect(title).to_have_attribute("aria-expanded", "false")
    expand_section(page, capability)
