"""Real JupyterLab (a `jupyter lab` process) driven by Playwright in Debian's Chromium.

Playwright's own browser download cannot run here, so the system Chromium is launched with
flags for a root user on a machine without network. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("MLOPS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: what `make demo` and binder add to the Jupyter config path (no news prompt, say)
DEMO_CONFIG = Path(__file__).resolve().parents[2] / "binder" / "jupyter-config"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path

    def page_url(self, path: str = "lab") -> str:
        return f"{self.url}{path}?token={self.token}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_lab(root: Path, tmp: Path, config: dict[str, Any] | None = None,
              settings: dict[str, Any] | None = None) -> Lab:
    """Start `jupyter lab` on loopback with a token and unauthenticated access disallowed;
    ``config`` goes to the user's jupyter_server_config.json, ``settings`` are the
    user's settings of this extension (``jupyter-mlops:plugin``)."""
    port, token = _free_port(), "mlops-ui-test-token"
    config_dir = tmp / "jupyter-config"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(config or {}))
    log = tmp / f"lab-{port}.log"
    # no answer to JupyterLab's "get notified about Jupyter news?" here: binder's
    # jupyter-config (which `make demo` and binder use) makes "never" the default
    # (test_newcomer checks no prompt shows)
    if settings is not None:
        ours = tmp / "lab-settings" / "jupyter-mlops"
        ours.mkdir(parents=True, exist_ok=True)
        (ours / "plugin.jupyterlab-settings").write_text(json.dumps(settings))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_"))}
    env.update(JUPYTER_CONFIG_DIR=str(config_dir), JUPYTER_CONFIG_PATH=str(DEMO_CONFIG),
               JUPYTER_RUNTIME_DIR=str(tmp / "jupyter-runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "lab-settings"))
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
           "--ip=127.0.0.1", f"--IdentityProvider.token={token}",
           "--ServerApp.allow_unauthenticated_access=False",
           f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited: {log.read_text()[-3000:]}")
        try:
            request = urllib.request.Request(f"{url}api/status",
                                             headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=2):
                return Lab(url, token, root, process, log)
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"jupyter lab did not start in 90 s: {log.read_text()[-3000:]}")


def stop_lab(lab: Lab) -> None:
    lab.process.terminate()
    try:
        lab.process.wait(15)
    except subprocess.TimeoutExpired:
        lab.process.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def lab_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(Path(__file__).resolve().parents[2] / "binder" / "demo.ipynb", root)
    return root


@pytest.fixture
def lab(lab_root: Path, tmp_path: Path) -> Iterator[Lab]:
    running = start_lab(lab_root, tmp_path)
    yield running
    stop_lab(running)


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}.png"))
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def screenshot(page: Any, name: str, locator: Any | None = None) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    (locator or page).screenshot(path=str(path))
    return path


# pytest-jupyter (loaded for the server tests) runs an autouse clean-up on its own asyncio
# loop; Playwright's sync API runs a loop in this thread too, and the two collide at teardown.
# The UI tests start `jupyter lab` as a separate process and need neither.
@pytest.fixture
def jp_asyncio_loop() -> None:
    return None


@pytest.fixture
def jp_server_cleanup() -> None:
    return None
