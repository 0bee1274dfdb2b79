"""What a health check is, and the probes more than one capability (or the server) uses:
a writable folder, a remote location, the tracking store, git, the GPU.

Each capability's ``health.py`` lists its checks in ``CHECKS`` (``HealthCheck`` objects, made
with ``@health_check("name")``) and says its one line in ``summary(config, checks)``; ``status``
runs them, each bounded in time. Probes never import heavy libraries (mlflow, torch): they ask
the files, the drivers and the servers directly.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlencode, urlsplit

from .config import Config, redact

Level = Literal["ok", "warning", "error"]
"""``ok``; ``warning``: works, but look; ``error``: does not work."""


@dataclass
class Check:
    """The outcome of one probe: one line for the user, and how long it took."""

    name: str
    ok: bool
    message: str
    level: Level = "ok"
    elapsed_ms: float = 0.0

    def __post_init__(self) -> None:
        if not self.ok and self.level == "ok":
            self.level = "error"


Probe = Callable[[Config, float, Mapping[str, str]], Check]
"""``probe(config, timeout, environ)``: measure one backend within ``timeout`` seconds."""


@dataclass(frozen=True)
class HealthCheck:
    """A named probe. The name is known before the probe runs, so a probe that overruns its
    time can still be reported under it."""

    name: str
    probe: Probe

    def __call__(self, config: Config, timeout: float, environ: Mapping[str, str]) -> Check:
        return self.probe(config, timeout, environ)


def health_check(name: str) -> Callable[[Probe], HealthCheck]:
    """``@health_check("tracking store")`` over a probe makes it an entry of ``CHECKS``."""

    def make(probe: Probe) -> HealthCheck:
        return HealthCheck(name, probe)

    return make


class Health(Protocol):
    """What a capability's ``health`` module exports."""

    CHECKS: Sequence[HealthCheck]

    def summary(self, config: Config, checks: Sequence[Check]) -> str:
        """One line for the capability when none of its checks failed."""


def find(checks: Sequence[Check], name: str) -> Check:
    """The check called ``name`` (summaries read checks by name, never by position)."""
    return next(c for c in checks if c.name == name)


def relative(path: Path, root: Path) -> str:
    """``path`` as the user sees it: relative to the project root when it is inside."""
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


# --------------------------------------------------------------------------- folders


def check_writable(name: str, folder: str, root: Path) -> Check:
    """A folder is writable if a file can be created in it, or, when it does not exist yet,
    if its nearest existing parent lets us create it. Nothing is left behind."""
    if "://" in folder:
        return check_remote_location(name, folder)
    path = Path(folder)
    shown = relative(path, root)
    if path.is_dir():
        try:
            with tempfile.NamedTemporaryFile(dir=path, prefix=".mlops-probe-"):
                pass
        except OSError as exc:
            return Check(name, False, f"{shown} is not writable ({exc.strerror}): fix its "
                         "permissions or point the setting elsewhere")
        return Check(name, True, f"{shown} is writable")
    if path.exists():
        return Check(name, False, f"{shown} exists but is not a folder")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        return Check(name, False, f"{shown} cannot be created: {relative(parent, root)} is a "
                     "file, not a folder")
    if parent is not None and os.access(parent, os.W_OK | os.X_OK):
        return Check(name, True, f"{shown} will be created on first use ({relative(parent, root)}"
                     " is writable)")
    return Check(name, False, f"{shown} cannot be created: {parent} is not writable")


def check_remote_location(name: str, url: str) -> Check:
    scheme = urlsplit(url).scheme
    if scheme == "s3":
        if find_spec("boto3") is None:
            return Check(name, False, f"{url} needs boto3: pip install 'jupyter-mlops[aws]'")
        return Check(name, True, f"{url} (S3; reachability is checked on first use)",
                     level="warning")
    return Check(name, True, f"{url} ({scheme}; not probed)", level="warning")


# --------------------------------------------------------------------------- tracking store


def credential_names(environ: Mapping[str, str]) -> str:
    """The MLflow credentials the environment holds, as status names them ("" when none)."""
    names = [n for n in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME",
                         "MLFLOW_TRACKING_PASSWORD") if environ.get(n)]
    return "/".join(n.removeprefix("MLFLOW_TRACKING_") if i else n
                    for i, n in enumerate(names))


def _auth_headers(environ: Mapping[str, str]) -> dict[str, str]:
    token = environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user, password = environ.get("MLFLOW_TRACKING_USERNAME"), environ.get(
        "MLFLOW_TRACKING_PASSWORD")
    if user and password:
        raw = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}
    return {}


def _experiments(n: int) -> str:
    return plural(n, "experiment")


def check_tracking(uri: str, root: Path, timeout: float, environ: Mapping[str, str],
                   withheld: str | None = None) -> Check:
    """Reach the MLflow tracking store and count its active experiments, without importing
    mlflow (which costs seconds): SQLite is read directly, a server through its REST API.
    ``withheld``: why the environment's credentials must not go to this server (a project
    file named it), said in the message when there are credentials; None: they are sent."""
    name = "tracking store"
    held = credential_names(environ) if withheld else ""
    not_sent = f"{held} not sent: {withheld}" if held else ""
    parts = urlsplit(uri)
    scheme = parts.scheme
    if scheme == "sqlite":
        db = Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None
        if db is None or str(db) in ("", ":memory:"):
            return Check(name, True, f"{redact(uri)} (in-memory SQLite)", level="warning")
        shown = relative(db, root)
        if not db.exists():
            return Check(name, True, f"embedded MLflow store {shown}, created by the first run")
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=timeout)
            try:
                (count,) = conn.execute(
                    "SELECT COUNT(*) FROM experiments WHERE lifecycle_stage = 'active'"
                ).fetchone()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return Check(name, False, f"{shown} is not a readable MLflow database ({exc})")
        return Check(name, True, f"embedded MLflow store {shown}: {_experiments(count)}")
    if scheme in ("http", "https"):
        base = uri.rstrip("/")
        count, token = 0, ""
        deadline = time.monotonic() + timeout
        for _ in range(20):  # at most 20 pages of 1000
            query = urlencode({"max_results": 1000, **({"page_token": token} if token else {})})
            request = urllib.request.Request(
                f"{base}/api/2.0/mlflow/experiments/search?{query}",
                headers={"Accept": "application/json",
                         **({} if withheld else _auth_headers(environ))},
            )
            left = max(0.1, deadline - time.monotonic())
            try:
                with urllib.request.urlopen(request, timeout=left) as response:
                    body = json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as exc:
                hint = "" if exc.code not in (401, 403) else f" ({not_sent})" if not_sent \
                    else " (check MLFLOW_TRACKING_TOKEN)"
                return Check(name, False, f"tracking server {redact(uri)} answered HTTP "
                             f"{exc.code}{hint}")
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", exc)
                return Check(name, False, f"tracking server {redact(uri)} is unreachable "
                             f"({reason}): start it or set MLOPS_TRACKING_URI")
            count += len(body.get("experiments", []))
            token = body.get("next_page_token", "")
            if not token:
                break
        if not_sent:
            return Check(name, True, f"MLflow server {redact(uri)}: {_experiments(count)}; "
                         f"{not_sent}", level="warning")
        return Check(name, True, f"MLflow server {redact(uri)}: {_experiments(count)}")
    if scheme in ("", "file"):
        folder = Path(parts.path if scheme == "file" else uri)
        if not folder.exists():
            return Check(name, True, f"file store {folder}, created by the first run")
        count = sum(1 for p in folder.iterdir() if (p / "meta.yaml").is_file()
                    and p.name not in (".trash", "models"))
        return Check(name, True, f"file store {folder}: {_experiments(count)}")
    if parts.hostname:
        try:
            given = parts.port
        except ValueError:
            return Check(name, False, f"{redact(uri)}: the port is not a number")
        port = given or {"postgresql": 5432, "mysql": 3306, "mssql": 1433}.get(
            scheme.split("+")[0], 443)
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
        except OSError as exc:
            return Check(name, False, f"{redact(uri)} is unreachable ({exc})")
        return Check(name, True, f"{redact(uri)} answers on port {port} (experiments not "
                     "counted for this store)", level="warning")
    return Check(name, True, f"{redact(uri)} (not probed)", level="warning")


# --------------------------------------------------------------------------- tools


def check_git(root: Path, timeout: float) -> Check:
    git = shutil.which("git")
    if git is None:
        return Check("git", False, "git is not installed: install it to review notebook changes")
    version = subprocess.run([git, "--version"], capture_output=True, text=True,
                             timeout=timeout, check=False).stdout.strip()
    inside = subprocess.run([git, "-C", str(root), "rev-parse", "--abbrev-ref", "HEAD"],
                            capture_output=True, text=True, timeout=timeout, check=False)
    if inside.returncode != 0:
        if "unknown revision" in inside.stderr or "ambiguous argument 'HEAD'" in inside.stderr:
            return Check("git", True, f"{version}; repository has no commits yet",
                         level="warning")
        return Check("git", True, f"{version}; {root} is not in a git repository: reviews "
                     "compare against checkpoints", level="warning")
    return Check("git", True, f"{version}; branch {inside.stdout.strip()}")


def check_gpu(timeout: float) -> Check:
    """Visible NVIDIA GPUs, asked of the driver (nvidia-smi), not of torch (slow to import)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return Check("GPU", True, "no GPU visible (no NVIDIA driver): local serving uses the CPU",
                     level="warning")
    done = subprocess.run(
        [smi, "--query-gpu=index,name,memory.total", "--format=csv,noheader"],
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    gpus = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not gpus:
        reason = (done.stderr or done.stdout).strip().splitlines()[:1]
        return Check("GPU", True, "no GPU visible (nvidia-smi: "
                     f"{reason[0] if reason else 'none found'}): local serving uses the CPU",
                     level="warning")
    return Check("GPU", True, f"{len(gpus)} visible: " + "; ".join(gpus))
