"""Health of each capability's backend, measured (not assumed), each check bounded in time.

``collect_status()`` is what ``%mlops status``, ``jupyter mlops status`` and
``GET /mlops/api/status`` all report.
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
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from ._version import __version__
from .config import Config, load_config, redact
from .errors import ConfigError


@dataclass
class Check:
    name: str
    ok: bool
    message: str
    level: str = "ok"  # "ok", "warning" (works, but look) or "error" (does not work)
    elapsed_ms: float = 0.0

    def __post_init__(self) -> None:
        if not self.ok and self.level == "ok":
            self.level = "error"


@dataclass
class CapabilityStatus:
    id: str
    title: str
    issue: int
    built: bool
    summary: str
    checks: list[Check] = field(default_factory=list)

    @property
    def state(self) -> str:
        levels = {c.level for c in self.checks}
        return "error" if "error" in levels else "warning" if "warning" in levels else "ok"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state
        return data


@dataclass
class StatusReport:
    version: str
    elapsed_ms: float
    config: dict[str, Any] | None
    config_error: str | None
    capabilities: list[CapabilityStatus]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "config_error": self.config_error,
            "config": self.config,
            "capabilities": [c.to_dict() for c in self.capabilities],
        }

    @property
    def ok(self) -> bool:
        return self.config_error is None and all(c.state != "error" for c in self.capabilities)

    def to_text(self) -> str:
        """Plain-text rendering for terminals and frontends without HTML."""
        marks = {"ok": "✓", "warning": "!", "error": "✗"}
        lines = [f"jupyter-mlops {self.version}"]
        if self.config_error:
            lines.append(f"config error: {self.config_error}")
        if self.config:
            lines.append(f"project root: {self.config['project_root']}")
            shown = self.config["config_file"] or "(none: embedded defaults)"
            lines.append(f"config file:  {shown}")
            for value in self.config["values"]:
                if value["key"] == "tracking.uri":
                    lines.append(f"tracking URI: {value['value']}  [{value['source']}]")
        for cap in self.capabilities:
            built = "" if cap.built else f"  (capability coming in issue #{cap.issue})"
            lines.append("")
            lines.append(f"{marks[cap.state]} {cap.title}: {cap.summary}{built}")
            for check in cap.checks:
                lines.append(f"    {marks[check.level]} {check.name}: {check.message}"
                             f"  ({check.elapsed_ms:.0f} ms)")
        return "\n".join(lines)


# --------------------------------------------------------------------------- running checks


class _RunningCheck:
    """A check running in a daemon thread, so a stuck probe can be reported as timed out and
    left to finish on its own (every probe also bounds its own I/O)."""

    def __init__(self, name: str, fn: Callable[[], Check]) -> None:
        self.name = name
        self._fn = fn
        self._result: Check | None = None
        self._thread = threading.Thread(target=self._run, name=f"mlops-status-{name}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.perf_counter()
        try:
            check = self._fn()
        except Exception as exc:  # a failing probe is a finding, not a crash
            check = Check(self.name, False, f"{type(exc).__name__}: {exc}")
        check.elapsed_ms = (time.perf_counter() - start) * 1000
        self._result = check

    def result(self, deadline: float, limit: float) -> Check:
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._result is not None:
            return self._result
        return Check(self.name, False, f"timed out after {limit:g} s", elapsed_ms=limit * 1000)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)


def check_writable(name: str, folder: str, root: Path) -> Check:
    """A folder is writable if a file can be created in it, or, when it does not exist yet,
    if its nearest existing parent lets us create it. Nothing is left behind."""
    if "://" in folder:
        return check_remote_location(name, folder)
    path = Path(folder)
    shown = _relative(path, root)
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
        return Check(name, False, f"{shown} cannot be created: {_relative(parent, root)} is a "
                     "file, not a folder")
    if parent is not None and os.access(parent, os.W_OK | os.X_OK):
        return Check(name, True, f"{shown} will be created on first use ({_relative(parent, root)}"
                     " is writable)")
    return Check(name, False, f"{shown} cannot be created: {parent} is not writable")


def check_review_store(config: Config) -> Check:
    """The review folder is writable; how many notebooks have reviews and open threads."""
    writable = check_writable("review store", config["review.path"], config.project_root)
    if not writable.ok or "://" in config["review.path"]:
        return writable
    from .review.reviews import review_counts

    reviews, open_threads = review_counts(config.path("review.path"))
    if not reviews:
        return writable
    return Check("review store", True, f"{writable.message}; {reviews} review"
                 f"{'s' if reviews != 1 else ''}, {open_threads} open thread"
                 f"{'s' if open_threads != 1 else ''}")


def check_remote_location(name: str, url: str) -> Check:
    scheme = urlsplit(url).scheme
    if scheme == "s3":
        if find_spec("boto3") is None:
            return Check(name, False, f"{url} needs boto3: pip install 'jupyter-mlops[aws]'")
        return Check(name, True, f"{url} (S3; reachability is checked on first use)",
                     level="warning")
    return Check(name, True, f"{url} ({scheme}; not probed)", level="warning")


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


def check_tracking(uri: str, root: Path, timeout: float,
                   environ: Mapping[str, str]) -> Check:
    """Reach the MLflow tracking store and count its active experiments, without importing
    mlflow (which costs seconds): SQLite is read directly, a server through its REST API."""
    name = "tracking store"
    parts = urlsplit(uri)
    scheme = parts.scheme
    if scheme == "sqlite":
        db = Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None
        if db is None or str(db) in ("", ":memory:"):
            return Check(name, True, f"{uri} (in-memory SQLite)", level="warning")
        shown = _relative(db, root)
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
        return Check(name, True, f"embedded MLflow store {shown}: {_count(count)}")
    if scheme in ("http", "https"):
        base = uri.rstrip("/")
        count, token = 0, ""
        deadline = time.monotonic() + timeout
        for _ in range(20):  # at most 20 pages of 1000
            query = urlencode({"max_results": 1000, **({"page_token": token} if token else {})})
            request = urllib.request.Request(
                f"{base}/api/2.0/mlflow/experiments/search?{query}",
                headers={"Accept": "application/json", **_auth_headers(environ)},
            )
            left = max(0.1, deadline - time.monotonic())
            try:
                with urllib.request.urlopen(request, timeout=left) as response:
                    body = json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as exc:
                hint = " (check MLFLOW_TRACKING_TOKEN)" if exc.code in (401, 403) else ""
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
        return Check(name, True, f"MLflow server {redact(uri)}: {_count(count)}")
    if scheme in ("", "file"):
        folder = Path(parts.path if scheme == "file" else uri)
        if not folder.exists():
            return Check(name, True, f"file store {folder}, created by the first run")
        count = sum(1 for p in folder.iterdir() if (p / "meta.yaml").is_file()
                    and p.name not in (".trash", "models"))
        return Check(name, True, f"file store {folder}: {_count(count)}")
    if parts.hostname:
        port = parts.port or {"postgresql": 5432, "mysql": 3306, "mssql": 1433}.get(
            scheme.split("+")[0], 443)
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
        except OSError as exc:
            return Check(name, False, f"{redact(uri)} is unreachable ({exc})")
        return Check(name, True, f"{redact(uri)} answers on port {port} (experiments not "
                     "counted for this store)", level="warning")
    return Check(name, True, f"{redact(uri)} (not probed)", level="warning")


def check_logging(config: Config) -> Check:
    """Points waiting to reach the tracking store: in this process's queue and in the
    journals under ``.mlops/`` (which hold them while the store is unreachable)."""
    from .tracking.journal import backlog, journal_dir
    from .tracking.sender import queue_status

    queue = queue_status()
    journals, points = backlog(config.state_dir)
    where = _relative(journal_dir(config.state_dir), config.project_root)
    parts = [f"{queue['queued']} points queued", f"{points} in {journals} journal"
             f"{'s' if journals != 1 else ''} ({where})", f"{queue['sent']} sent"]
    message = "; ".join(parts)
    if queue["offline"]:
        return Check("logging queue", True, f"{message}; store unreachable, retrying: "
                     f"{queue['last_error']}", level="warning")
    if points:
        return Check("logging queue", True, f"{message}; sent when a kernel tracks a run here "
                     "and the store answers", level="warning")
    if queue["last_error"]:
        return Check("logging queue", True, f"{message}; last error: {queue['last_error']}",
                     level="warning")
    return Check("logging queue", True, message)


def _count(n: int) -> str:
    return f"{n} experiment{'s' if n != 1 else ''}"


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


def check_engines() -> Check:
    """Which engines this Python can import (exports are written either way) and whether the
    local runner can hand on any value (cloudpickle)."""
    engines = (("Airflow", "airflow"), ("Prefect", "prefect"), ("Kubeflow Pipelines", "kfp"))
    found = [name for name, module in engines if find_spec(module)]
    missing = [name for name, module in engines if name not in found]
    parts = ["local runner ready"]
    if found:
        parts.append("importable here: " + ", ".join(found))
    if missing:
        parts.append("not installed here: " + ", ".join(missing)
                     + " (exports are written all the same)")
    if find_spec("cloudpickle") is None:
        return Check("engines", True, "; ".join(parts) + "; cloudpickle is missing, so steps "
                     "can hand on only values plain pickle saves: pip install cloudpickle",
                     level="warning")
    return Check("engines", True, "; ".join(parts))


# --------------------------------------------------------------------------- the report

CAPABILITIES: tuple[tuple[str, str, int], ...] = (
    ("features", "Features", 4),
    ("experiments", "Experiments", 3),
    ("pipeline", "Pipeline", 5),
    ("review", "Review", 6),
    ("deploy", "Deploy", 7),
)
#: Capabilities whose verbs are built; each capability's issue adds itself here.
BUILT: frozenset[str] = frozenset({"features", "experiments", "pipeline", "review", "deploy"})


def _plan(config: Config, timeout: float, environ: Mapping[str, str]
          ) -> dict[str, list[tuple[str, Callable[[], Check]]]]:
    root = config.project_root
    return {
        "features": [("feature store", lambda: _features_check(config))],
        "experiments": [("tracking store",
                         lambda: check_tracking(config["tracking.uri"], root, timeout, environ)),
                        ("logging queue", lambda: check_logging(config))],
        "pipeline": [
            ("artifact store", lambda: check_writable("artifact store",
                                                      config["pipeline.artifacts"], root)),
            ("engines", check_engines),
        ],
        "review": [
            ("git", lambda: check_git(root, timeout)),
            ("review store", lambda: check_review_store(config)),
        ],
        "deploy": [
            ("GPU", lambda: check_gpu(timeout)),
            ("deployment store", lambda: check_writable("deployment store",
                                                        config["deploy.path"], root)),
        ],
    }


def _features_check(config: Config) -> Check:
    if config["features.backend"] == "feast":
        repo = config["features.repo"]
        if not repo:
            return Check("feature store", False, "backend is feast but features.repo is not set")
        if not (Path(repo) / "feature_store.yaml").is_file():
            return Check("feature store", False, f"{repo} has no feature_store.yaml")
        if find_spec("feast") is None:
            return Check("feature store", False,
                         "Feast is not installed: pip install 'jupyter-mlops[feast]'")
        return Check("feature store", True, f"Feast repository {repo}")
    writable = check_writable("feature store", config["features.path"], config.project_root)
    if writable.level == "error" or "://" in str(config["features.path"]):
        return writable  # an S3 store is not probed here
    if find_spec("duckdb") is None or find_spec("pyarrow") is None:
        return Check("feature store", False, "the embedded store needs duckdb and pyarrow: "
                     "pip install 'jupyter-mlops[features]'")
    from .features.api import describe_store

    ok, holds = describe_store(config)
    return Check("feature store", ok, f"{writable.message}; {holds}")


def _summary(cap_id: str, config: Config, checks: list[Check]) -> str:
    """One line per capability; the checks carry the details."""
    failed = [c for c in checks if c.level == "error"]
    if failed:
        return failed[0].message
    root = config.project_root
    if cap_id == "features":
        where = config["features.repo"] if config["features.backend"] == "feast" else _relative(
            Path(config["features.path"]), root) if "://" not in config["features.path"] \
            else config["features.path"]
        return f"{config['features.backend']} store at {where}"
    if cap_id == "pipeline":
        return f"{config['pipeline.target']} runner; {checks[1].message}"
    if cap_id == "review":
        return checks[0].message
    if cap_id == "deploy":
        gpu = checks[0].message if checks[0].level == "ok" else "CPU only (no GPU visible)"
        return f"{config['deploy.target']} target; GPU: {gpu}"
    return checks[0].message


def collect_status(start: str | os.PathLike[str] | None = None,
                   environ: Mapping[str, str] | None = None,
                   timeout: float | None = None,
                   default_timeout: float | None = None) -> StatusReport:
    """Resolve the config and run every backend check in parallel, each within ``timeout``
    seconds; without it, the ``status.timeout`` setting where the user set one, else
    ``default_timeout`` (the server's option), else 3 s."""
    began = time.perf_counter()
    env = os.environ if environ is None else environ
    try:
        config = load_config(start, env)
    except ConfigError as exc:
        return StatusReport(__version__, (time.perf_counter() - began) * 1000, None, str(exc), [])
    if timeout is None and default_timeout is not None and config.source(
            "status.timeout") == "default":
        timeout = default_timeout
    limit = float(timeout if timeout is not None else config["status.timeout"])
    running = {cap_id: [_RunningCheck(name, fn) for name, fn in checks]
               for cap_id, checks in _plan(config, limit, env).items()}
    deadline = time.monotonic() + limit
    capabilities = []
    for cap_id, title, issue in CAPABILITIES:
        checks = [check.result(deadline, limit) for check in running[cap_id]]
        capabilities.append(CapabilityStatus(cap_id, title, issue, cap_id in BUILT,
                                             _summary(cap_id, config, checks), checks))
    return StatusReport(__version__, (time.perf_counter() - began) * 1000, config.report(),
                        None, capabilities)
