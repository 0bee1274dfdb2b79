"""deploy / deployments / predict / rollback / undeploy / logs: the same functions behind
``%mlops``, ``jupyter mlops`` and the REST API, whatever the target."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any, ClassVar, TypeGuard

from ..config import Config, load_config
from ..errors import UserInputError
from .kserve import KServeTarget
from .local import LocalTarget
from .models import resolve_model
from .sagemaker import SageMakerTarget
from .state import (
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_QUEUE,
    DEFAULT_MAX_QUEUE_BYTES,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_REQUEST_ROWS,
    DEFAULT_MAX_WAIT_MS,
    DEFAULT_TIMEOUT_S,
    TARGETS,
    Deployment,
    DeploymentStore,
    TargetKind,
    check_name,
)
from .target import DeployOptions, Progress, Target

__all__ = ["DEFAULT_MAX_BATCH_SIZE", "DEFAULT_MAX_QUEUE", "DEFAULT_MAX_WAIT_MS",
           "DEFAULT_TIMEOUT_S", "DeploymentList", "DeploymentLogs", "deploy", "deployments",
           "get_deployment", "logs", "predict", "promote", "rollback", "store_for", "undeploy"]

TARGET_CLASSES: dict[TargetKind, Callable[[DeploymentStore, Config], Target]] = {
    "local": LocalTarget, "kserve": KServeTarget, "sagemaker": SageMakerTarget}


def _quiet(_message: str) -> None:
    pass


def _config(config: Config | None, cwd: str | os.PathLike[str] | None) -> Config:
    return config if config is not None else load_config(cwd)


def store_for(config: Config) -> DeploymentStore:
    return DeploymentStore(config.path("deploy.path"))


def _is_kind(kind: str) -> TypeGuard[TargetKind]:
    return kind in TARGET_CLASSES


def _target(kind: str, store: DeploymentStore, config: Config) -> Target:
    """The target that serves ``kind`` deployments (the only place that looks at the kind)."""
    if not _is_kind(kind):
        raise UserInputError(f"unknown target '{kind}': use one of {', '.join(TARGETS)}")
    return TARGET_CLASSES[kind](store, config)


def deploy(model: str, *, target: str | None = None, name: str | None = None,
           gpu: str | int | None = None, instance_type: str | None = None, replicas: int = 1,
           max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
           max_wait_ms: float = DEFAULT_MAX_WAIT_MS, canary: int | None = None,
           max_queue: int = DEFAULT_MAX_QUEUE, cpu_threads: int = 0,
           max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
           max_request_rows: int = DEFAULT_MAX_REQUEST_ROWS,
           max_queue_bytes: int | None = None,
           port: int | None = None,
           host: str = "127.0.0.1", namespace: str = "default", dry_run: bool = False,
           timeout: float = DEFAULT_TIMEOUT_S, progress: Progress | None = None,
           cwd: str | os.PathLike[str] | None = None, config: Config | None = None,
           root: str | os.PathLike[str] | None = None) -> Deployment:
    """Serve ``model`` (a run id, ``runs:/…``, ``models:/name@alias``, ``models:/name/N``)
    under ``name`` and return the Deployment once it answers (health-checked).

    Deploying to an existing name rolls out a new version: it starts next to the old one and
    takes the traffic only when healthy (``canary=N``: N % of it). A version that fails
    leaves the old one serving and the error says why. ``root``: a local model folder must
    lie inside it (the REST API passes the server root), whatever the form of its path.
    """
    config = _config(config, cwd)
    progress = progress or _quiet
    store = store_for(config)
    chosen = _target((target or str(config["deploy.target"])).lower(), store, config)
    if canary is not None and not 0 < int(canary) < 100:
        raise UserInputError(f"canary is a percentage of traffic between 1 and 99, not {canary}")
    if replicas < 1:
        raise UserInputError("replicas must be at least 1")
    if max_batch_size < 1 or max_wait_ms < 0 or max_queue < 1:
        raise UserInputError("max_batch_size and max_queue must be at least 1 and "
                             "max_wait_ms at least 0")
    if max_queue_bytes is None:
        max_queue_bytes = max(DEFAULT_MAX_QUEUE_BYTES, max_request_bytes)
    if max_queue_bytes < max_request_bytes:
        raise UserInputError(f"max_queue_bytes ({max_queue_bytes}) must hold at least one "
                             f"request of max_request_bytes ({max_request_bytes})")
    if name is not None:
        check_name(name)
    options = chosen.check(DeployOptions(
        gpu=gpu, instance_type=instance_type, replicas=replicas, canary=canary,
        max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, max_queue=max_queue,
        cpu_threads=cpu_threads, max_request_bytes=max_request_bytes,
        max_request_rows=max_request_rows, max_queue_bytes=max_queue_bytes, port=port,
        host=host, namespace=namespace, timeout=timeout))
    progress(f"resolving {model}")
    resolved = resolve_model(str(model), config, root=root)
    name = name or resolved.default_name
    check_name(name)
    if dry_run:
        return chosen.dry_run(resolved, name, options)
    with store.lock(name):
        return chosen.deploy(resolved, name, options, progress)


def get_deployment(name: str, *, check: bool = True, cwd: str | os.PathLike[str] | None = None,
                   config: Config | None = None) -> Deployment:
    """One deployment; with ``check`` its live status (health, device, recent latency)."""
    config = _config(config, cwd)
    store = store_for(config)
    deployment = store.load(name)
    if check:
        deployment = _target(deployment.target, store, config).status(deployment)
    return deployment


def deployments(*, check: bool = True, cwd: str | os.PathLike[str] | None = None,
                config: Config | None = None) -> DeploymentList:
    """Every deployment of the project, with live status unless ``check=False``."""
    config = _config(config, cwd)
    store = store_for(config)
    found = []
    for name in store.names():
        try:
            deployment = store.load(name)
        except UserInputError:
            continue
        if check:
            deployment = _target(deployment.target, store, config).status(deployment)
        found.append(deployment)
    return DeploymentList(found)


def rollback(name: str, *, timeout: float = DEFAULT_TIMEOUT_S, progress: Progress | None = None,
             cwd: str | os.PathLike[str] | None = None, config: Config | None = None
             ) -> Deployment:
    """Return to the previous version (or drop the canary); health-checked before it
    takes the traffic back."""
    config = _config(config, cwd)
    store = store_for(config)
    with store.lock(name):
        deployment = store.load(name)
        target = _target(deployment.target, store, config)
        return target.rollback(deployment, timeout, progress or _quiet)


def promote(name: str, *, cwd: str | os.PathLike[str] | None = None,
            config: Config | None = None) -> Deployment:
    """Give a local canary all the traffic."""
    config = _config(config, cwd)
    store = store_for(config)
    with store.lock(name):
        deployment = store.load(name)
        return _target(deployment.target, store, config).promote(deployment)


def undeploy(name: str, *, progress: Progress | None = None,
             cwd: str | os.PathLike[str] | None = None, config: Config | None = None
             ) -> Deployment:
    """Stop every version and remove the deployment; returns its last state."""
    config = _config(config, cwd)
    store = store_for(config)
    with store.lock(name):
        deployment = store.load(name)
        _target(deployment.target, store, config).undeploy(deployment, progress or _quiet)
    deployment.status, deployment.health = "removed", "stopped"
    deployment.metrics = {}
    return deployment


def predict(name: str, data: Any, *, cwd: str | os.PathLike[str] | None = None,
            config: Config | None = None) -> Any:
    """Send ``data`` (DataFrame, records, column dict, numpy array) to a deployment and get
    its predictions as a DataFrame."""
    config = _config(config, cwd)
    store = store_for(config)
    deployment = store.load(name)
    return _target(deployment.target, store, config).predict(deployment, data)


@dataclass
class DeploymentLogs:
    name: str
    sections: dict[str, list[str]] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = []
        for title, lines in self.sections.items():
            parts.append(f"== {self.name}: {title}")
            parts.extend(lines or ["(empty)"])
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        blocks = "".join(
            f"<details open><summary><b>{escape(title)}</b></summary>"
            f'<pre style="max-height: 300px; overflow: auto; font-size: 12px">'
            f"{escape(chr(10).join(lines) or '(empty)')}</pre></details>"
            for title, lines in self.sections.items())
        return f'<div class="mlops-logs">{blocks}</div>'

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sections": self.sections}


def logs(name: str, lines: int = 200, *, cwd: str | os.PathLike[str] | None = None,
         config: Config | None = None) -> DeploymentLogs:
    """The last ``lines`` of a deployment's logs: serving process and live versions."""
    config = _config(config, cwd)
    store = store_for(config)
    deployment = store.load(name)
    target = _target(deployment.target, store, config)
    return DeploymentLogs(name, target.logs(deployment, max(1, int(lines))))


class DeploymentList(list[Deployment]):
    """``deployments()``: a list that shows as a table."""

    def to_dicts(self) -> list[dict[str, Any]]:
        return [d.to_dict() for d in self]

    def _rows(self) -> list[list[str]]:
        rows = []
        for d in self:
            current = d.current
            latency = d.metrics.get("p50_ms")
            rows.append([d.name, d.target, d.status,
                         f"v{d.version}" + (f" ({current.model_label})" if current else "")
                         if d.version else "-",
                         d.device or "-", d.health,
                         f"{latency:.1f} ms" if latency is not None else "-", d.url or "-"])
        return rows

    HEADER: ClassVar[list[str]] = ["name", "target", "status", "version", "device", "health",
                                   "p50", "url"]

    def __str__(self) -> str:
        if not self:
            return "no deployments yet: '%mlops deploy MODEL' (or 'jupyter mlops deploy MODEL')"
        rows = [self.HEADER, *self._rows()]
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(self.HEADER))]
        return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                         for r in rows)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        if not self:
            return f"<p>{escape(str(self))}</p>"
        head = "".join(f'<th style="text-align:left">{h}</th>' for h in self.HEADER)
        body = "".join(
            "<tr>" + "".join(f'<td style="text-align:left">{escape(str(c))}</td>' for c in row)
            + "</tr>" for row in self._rows())
        return f'<table class="mlops-deployments"><tr>{head}</tr>{body}</table>'
