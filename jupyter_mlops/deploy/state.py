"""What a deployment is, and where its state lives: one folder per deployment under
``deploy.path`` (default ``.mlops/deployments/<name>/``) holding ``deployment.json``, the
local copies of its model versions and its logs. The state survives a restart of Jupyter,
so the deployments are listed again (and dead ones detected) by the next process."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from html import escape
from pathlib import Path
from typing import Any, Literal, get_args

from ..errors import NotFoundError, UserInputError
from ..paths import make_folder

STATE_FILE = "deployment.json"
SECRET_FILE = "secret.json"  # 0600: the admin token, and the invocations token (auth)
INVOCATIONS_TOKEN = "invocations"  # its key in SECRET_FILE
NAME_RE = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")

TargetKind = Literal["local", "kserve", "sagemaker"]
TARGETS: tuple[TargetKind, ...] = get_args(TargetKind)
DeploymentStatus = Literal[
    "starting", "serving", "restarting", "updating", "stopping", "failed", "dead",
    "unresponsive", "stopped", "removed", "dry-run"]
"""A deployment as a whole; ``health`` says why when it is not ``serving``."""
VersionStatus = Literal[
    "starting", "loading", "warming", "restarting", "serving", "canary", "standby", "stopped",
    "failed", "rolled back", "dry-run"]
"""One model version: the first four while its process comes up (local target)."""
DEFAULT_MAX_BATCH_SIZE = 64
DEFAULT_MAX_WAIT_MS = 2.0
DEFAULT_MAX_QUEUE = 1024
DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_REQUEST_ROWS = 100_000
DEFAULT_MAX_QUEUE_BYTES = 256 * 1024 * 1024
DEFAULT_TIMEOUT_S = 600.0
DEFAULT_REQUEST_TIMEOUT_S = 60.0
ServingAuth = Literal["none", "token"]
"""Who may call a local deployment's ``/invocations``: anyone who reaches its port, or only
callers with its bearer token (``deploy.auth``)."""


TOKEN_NOTE = ("shown once: send it as 'Authorization: Bearer TOKEN' to /invocations "
              "('predict' does); it is kept in the deployment's secret.json (mode 0600)")


def check_name(name: str) -> str:
    """Deployment names work as a URL path, a Kubernetes name and a SageMaker endpoint."""
    if not NAME_RE.fullmatch(name):  # $ alone passes a final newline
        raise UserInputError(
            f"invalid deployment name '{name}': use 1-40 lowercase letters, digits and '-', "
            "starting with a letter (it becomes a Kubernetes/SageMaker name)")
    return name


def slug(text: str) -> str:
    """A valid deployment name made from a model name or run id."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = "model-" + name
    return name[:40].rstrip("-")


@dataclass
class VersionInfo:
    """One model version of a deployment."""

    version: int
    model_uri: str  # as the user gave it
    source_uri: str = ""  # where its artifacts were read from
    run_id: str | None = None
    registered_name: str | None = None
    registered_version: str | None = None
    path: str | None = None  # local copy (local target) or packaged location (s3://…)
    status: VersionStatus = "starting"
    device: str | None = None
    warmup_ms: float | None = None
    message: str | None = None
    created_at: float = field(default_factory=time.time)
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VersionInfo:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def model_label(self) -> str:
        if self.registered_name:
            return f"{self.registered_name} v{self.registered_version}"
        return self.model_uri


@dataclass(repr=False)
class Deployment:
    """A model served under a stable name: where, which version, on what device, how healthy."""

    name: str
    target: TargetKind
    url: str | None = None
    status: DeploymentStatus = "starting"
    health: str = "unknown"  # ok, or why not
    version: int | None = None  # the version taking (most of) the traffic
    versions: list[VersionInfo] = field(default_factory=list)
    traffic: dict[str, int] = field(default_factory=dict)  # version -> percent
    history: list[int] = field(default_factory=list)  # versions that served, oldest first
    settings: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    pid: int | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    new_token: str | None = None  # deploy.auth's token when this deploy made it: shown once

    # ------------------------------------------------------------------ views
    @property
    def current(self) -> VersionInfo | None:
        return self.get_version(self.version) if self.version is not None else None

    def get_version(self, number: int) -> VersionInfo | None:
        return next((v for v in self.versions if v.version == number), None)

    @property
    def model(self) -> str | None:
        current = self.current
        return current.model_uri if current else None

    @property
    def run_id(self) -> str | None:
        current = self.current
        return current.run_id if current else None

    @property
    def device(self) -> str | None:
        current = self.current
        return current.device if current else None

    @property
    def warmup_ms(self) -> float | None:
        current = self.current
        return current.warmup_ms if current else None

    def next_version(self) -> int:
        return max((v.version for v in self.versions), default=0) + 1

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployment:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known and k != "new_token"}
        values["versions"] = [VersionInfo.from_dict(v) for v in data.get("versions", [])]
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; never holds credentials or the admin token."""
        data = asdict(self)
        del data["new_token"]
        data["model"] = self.model
        data["run_id"] = self.run_id
        data["device"] = self.device
        data["warmup_ms"] = self.warmup_ms
        return data

    def __str__(self) -> str:
        lines = [f"{self.name}: {self.status} ({self.target})"]
        if self.url:
            lines.append(f"  url:      {self.url}")
        current = self.current
        if current:
            lines.append(f"  model:    {current.model_label}  (version {current.version}"
                         + (f", run {current.run_id}" if current.run_id else "") + ")")
        if self.device:
            lines.append(f"  device:   {self.device}")
        if self.warmup_ms is not None:
            lines.append(f"  warm-up:  {self.warmup_ms:.1f} ms")
        if len(self.traffic) > 1:
            lines.append("  traffic:  " + ", ".join(f"v{v} {p}%" for v, p in self.traffic.items()))
        lines.append(f"  health:   {self.health}")
        latency = self.metrics.get("p50_ms")
        if latency is not None:
            p99 = self.metrics.get("p99_ms", 0)
            lines.append(f"  latency:  p50 {latency:.1f} ms, p99 {p99:.1f} ms over "
                         f"{self.metrics.get('requests', 0)} requests")
        if self.message:
            lines.append(f"  note:     {self.message}")
        if self.new_token:
            lines.append(f"  token:    {self.new_token}")
            lines.append(f"            {TOKEN_NOTE}")
        return "\n".join(lines)

    def __repr__(self) -> str:  # what terminals and text frontends show
        return str(self)

    def _repr_html_(self) -> str:
        color = {"serving": "#2e7d32", "starting": "#ef6c00", "restarting": "#ef6c00",
                 "dry-run": "#1565c0"}.get(self.status, "#c62828")
        rows = []
        if self.url:
            rows.append(("URL", f'<a href="{escape(self.url)}" target="_blank">'
                         f"<code>{escape(self.url)}</code></a>"))
        current = self.current
        if current:
            run = f" · run <code>{escape(current.run_id)}</code>" if current.run_id else ""
            rows.append(("Model", f"<code>{escape(current.model_label)}</code> "
                         f"(version {current.version}){run}"))
        if self.device:
            rows.append(("Device", escape(self.device)))
        if self.warmup_ms is not None:
            rows.append(("Warm-up", f"{self.warmup_ms:.1f} ms"))
        if len(self.traffic) > 1:
            rows.append(("Traffic", escape(", ".join(f"v{v} {p}%"
                                                     for v, p in self.traffic.items()))))
        rows.append(("Health", escape(self.health)))
        if self.metrics.get("p50_ms") is not None:
            rows.append(("Latency", f"p50 {self.metrics['p50_ms']:.1f} ms · p99 "
                         f"{self.metrics.get('p99_ms', 0):.1f} ms"))
        if self.message:
            rows.append(("Note", escape(self.message)))
        if self.new_token:
            rows.append(("Token", f"<code>{escape(self.new_token)}</code><br>"
                         f"{escape(TOKEN_NOTE)}"))
        body = "".join(f'<tr><td style="text-align:left;opacity:.7;padding:2px 10px 2px 0">'
                       f'{k}</td><td style="text-align:left">{v}</td></tr>' for k, v in rows)
        return (f'<div class="mlops-deployment" data-status="{escape(self.status)}" '
                'style="font-family: var(--jp-ui-font-family, sans-serif); font-size: 13px; '
                'border: 1px solid #ccc; border-radius: 4px; padding: 8px 12px; '
                'display: inline-block">'
                f'<div><b>{escape(self.name)}</b> <span style="color:{color}">● '
                f"{escape(self.status)}</span> "
                f'<span style="opacity:.6">({escape(self.target)})</span></div>'
                f"<table>{body}</table></div>")


@dataclass
class ServingSettings:
    """How a local deployment's serving process runs: its ``Deployment.settings``, typed."""

    host: str = "127.0.0.1"
    port: int = 0
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    max_queue: int = DEFAULT_MAX_QUEUE
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_request_rows: int = DEFAULT_MAX_REQUEST_ROWS
    gpu: str = "auto"
    cpu_threads: int = 0
    start_timeout_s: float = DEFAULT_TIMEOUT_S
    python: str = sys.executable
    max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES  # bodies held (queued or in flight)
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S  # a prediction's answer: else 504
    auth: ServingAuth = "none"
    host_names: list[str] = field(default_factory=list)  # Host names it answers besides IPs

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServingSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class DeploymentStore:
    """Deployment folders under one root (``deploy.path``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder(self, name: str) -> Path:
        return self.root / check_name(name)

    def exists(self, name: str) -> bool:
        return (self.folder(name) / STATE_FILE).is_file()

    def load(self, name: str) -> Deployment:
        path = self.folder(name) / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            known = ", ".join(self.names()) or "none yet"
            raise NotFoundError(f"no deployment named '{name}' (deployments: {known})") from None
        except (OSError, ValueError) as exc:
            raise UserInputError(f"{path} is unreadable ({exc}): undeploy '{name}' or fix "
                                 "the file") from None
        return Deployment.from_dict(data)

    def save(self, deployment: Deployment) -> None:
        deployment.updated_at = time.time()
        write_json(self.folder(deployment.name) / STATE_FILE, deployment.to_dict())

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if (p / STATE_FILE).is_file() and NAME_RE.fullmatch(p.name))

    def remove(self, name: str) -> None:
        shutil.rmtree(self.folder(name), ignore_errors=True)

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """One operation at a time per deployment, across processes (kernel, server, CLI)."""
        folder = make_folder(self.root / ".locks")
        with open(folder / f"{check_name(name)}.lock", "a+b") as handle:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - not POSIX
                yield
                return
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UserInputError(f"deployment '{name}' is busy with another operation "
                                     "(deploy, rollback or undeploy): wait for it") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def write_json(path: Path, data: Any, *, private: bool = False) -> None:
    """Atomically replace ``path`` (readers never see half a file)."""
    make_folder(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        if private:
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, default=str)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
