"""Shared fixtures: an isolated project folder, a clean environment, the CLI in a subprocess,
and loopback-only network endpoints (a closed port and a black hole)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import jupyter_mlops

#: Folders that hold the packages under test, so subprocesses import the same code.
IMPORT_ROOTS = [str(Path(jupyter_mlops.__file__).resolve().parents[1])]
try:
    import jupyter_mlops_kernel

    IMPORT_ROOTS.append(str(Path(jupyter_mlops_kernel.__file__).resolve().parents[1]))
except ImportError:  # pragma: no cover - the kernel package is part of the wheel
    pass

CONFIG_PREFIXES = ("MLOPS_", "MLFLOW_", "AWS_")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's MLOPS_*, MLFLOW_* or AWS_* settings."""
    for name in list(os.environ):
        if name.startswith(CONFIG_PREFIXES):
            monkeypatch.delenv(name)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder (no config file, not in git), made the working folder."""
    root = tmp_path / "proj"
    root.mkdir()
    for folder in (root, *root.parents):
        for marker in ("mlops.toml", "pyproject.toml", ".git"):
            assert not (folder / marker).exists(), f"{folder / marker} would leak into tests"
    monkeypatch.chdir(root)
    return root


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [*IMPORT_ROOTS, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    )
    env.update(extra or {})
    return env


@pytest.fixture
def child_env() -> Callable[..., dict[str, str]]:
    """``child_env({...})``: the current (cleaned) environment plus ``extra``, with the code
    under test first on PYTHONPATH, for subprocesses."""
    return _child_env


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli("status", "--json", cwd=..., env={...})``: the real CLI in a subprocess."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jupyter_mlops.cli", *args],
            cwd=cwd, env=_child_env(env), capture_output=True, text=True,
            timeout=timeout, check=False,
        )

    return run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on (at the time of asking)."""
    return _free_port()


@pytest.fixture
def closed_port_url(free_port: int) -> str:
    """An http URL on loopback where nothing listens: connections are refused at once."""
    return f"http://127.0.0.1:{free_port}"


@pytest.fixture
def blackhole_url() -> Iterator[str]:
    """An http URL on loopback whose socket accepts connections (the kernel's backlog) but
    never answers: a client without a timeout would wait forever."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid"}
    done = subprocess.run(["git", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=True, timeout=30)
    return done.stdout


@pytest.fixture
def git() -> Callable[..., str]:
    """``git(folder, "init", ...)``: git with a fixed identity and no user or system config."""
    return _git


# one-click deploy: models in one project and one shared local deployment (tests/test_deploy_*)
from .attacker_fixtures import attacker  # noqa: E402, F401
from .deploy_fixtures import deploy_project, served  # noqa: E402, F401

# a real IPython shell with the extension loaded (tests/test_kernel.py, tests/test_*_magics.py)
from .shell_fixtures import shell  # noqa: E402, F401

# experiment tracking: one `mlflow server` and one S3 emulator per session (tests/tracking_*)
from .tracking_fixtures import (  # noqa: E402, F401
    _restartable_server,
    restartable_server,
    s3_emulator,
    tracking_reset,
    tracking_server,
)
