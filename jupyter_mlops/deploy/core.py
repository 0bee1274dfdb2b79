"""deploy / deployments / predict / rollback / undeploy / logs: the same functions behind
``%mlops``, ``jupyter mlops`` and the REST API, whatever the target."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, ClassVar

from ..config import Config, load_config
from ..errors import UserInputError
from .local import LocalTarget
from .state import TARGETS, Deployment, DeploymentStore, check_name

Progress = Callable[[str], None]
DEFAULT_MAX_BATCH_SIZE = 64
DEFAULT_MAX_WAIT_MS = 2.0
DEFAULT_MAX_QUEUE = 1024
DEFAULT_TIMEOUT_S = 600.0


def _quiet(_message: str) -> None:
    pass


def _config(config: Config | None, cwd: str | os.PathLike[str] | None) -> Config:
    return config if config is not None else load_config(cwd)


def store_for(config: Config) -> DeploymentStore:
    return DeploymentStore(config.path("deploy.path"))


def _target(kind: str, store: DeploymentStore, config: Config) -> Any:
    if kind == "local":
        return LocalTarget(store)
    if kind == "kserve":
        from .kserve import KServeTarget

        return KServeTarget(store)
    if kind == "sagemaker":
        from .sagemaker import SageMakerTarget

        return SageMakerTarget(store, config)
    raise UserInputError(f"unknown target '{kind}': use one of {', '.join(TARGETS)}")


def _gpu_spec(gpu: str | int | None, config: Config) -> str:
    value = str(config["deploy.gpu"] if gpu is None else gpu).strip().lower()
    if value in ("auto", "none", "cpu") or value.removeprefix("cuda").lstrip(":").isdigit():
        return value
    raise UserInputError(f"invalid gpu '{gpu}': use auto, none or a CUDA device index (0, 1…)")


def deploy(model: str, *, target: str | None = None, name: str | None = None,
           gpu: str | int | None = None, instance_type: str | None = None, replicas: int = 1,
           max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
           max_wait_ms: float = DEFAULT_MAX_WAIT_MS, canary: int | None = None,
           max_queue: int = DEFAULT_MAX_QUEUE, cpu_threads: int = 0,
           max_request_bytes: int = 16 * 1024 * 1024, max_request_rows: int = 100_000,
           port: int | None = None,
           host: str = "127.0.0.1", namespace: str = "default", dry_run: bool = False,
           timeout: float = DEFAULT_TIMEOUT_S, progress: Progress | None = None,
           cwd: str | os.PathLike[str] | None = None, config: Config | None = None
           ) -> Deployment:
    """Serve ``model`` (a run id, ``runs:/…``, ``models:/name@alias``, ``models:/name/N``)
    under ``name`` and return the Deployment once it answers (health-checked).

    Deploying to an existing name rolls out a new version: it starts next to the old one and
    takes the traffic only when healthy (``canary=N``: N % of it). A version that fails
    leaves the old one serving and the error says why.
    """
    config = _config(config, cwd)
    progress = progress or _quiet
    kind = (target or str(config["deploy.target"])).lower()
    if kind not in TARGETS:
        raise UserInputError(f"unknown target '{kind}': use one of {', '.join(TARGETS)}")
    if canary is not None and not 0 < int(canary) < 100:
        raise UserInputError(f"canary is a percentage of traffic between 1 and 99, not {canary}")
    if replicas < 1:
        raise UserInputError("replicas must be at least 1")
    if max_batch_size < 1 or max_wait_ms < 0 or max_queue < 1:
        raise UserInputError("max_batch_size and max_queue must be at least 1 and "
                             "max_wait_ms at least 0")
    if name is not None:
        check_name(name)
    gpu_spec = _gpu_spec(gpu, config) if kind == "local" else gpu
    from .models import download_model, resolve_model

    progress(f"resolving {model}")
    resolved = resolve_model(str(model), config)
    name = name or resolved.default_name
    check_name(name)
    store = store_for(config)
    if dry_run:
        if kind != "kserve":
            raise UserInputError("--dry-run writes a KServe manifest: use it with "
                                 "--target kserve")
        from .kserve import KServeTarget

        return KServeTarget(store).dry_run(resolved, name=name, namespace=namespace, gpu=gpu,
                                           replicas=replicas, canary=canary)
    with store.lock(name):
        if kind == "local":
            return LocalTarget(store).deploy(
                resolved, name=name, gpu=str(gpu_spec), max_batch_size=max_batch_size,
                max_wait_ms=max_wait_ms, max_queue=max_queue,
                limits={"cpu_threads": cpu_threads, "max_request_bytes": max_request_bytes,
                        "max_request_rows": max_request_rows},
                canary=canary, port=port, host=host, timeout=timeout, progress=progress)
        if kind == "kserve":
            from .kserve import KServeTarget

            return KServeTarget(store).deploy(resolved, name=name, namespace=namespace,
                                              gpu=gpu, replicas=replicas, canary=canary,
                                              timeout=timeout, progress=progress)
        import tempfile

        from .sagemaker import SageMakerTarget

        progress(f"downloading {resolved.given}")
        with tempfile.TemporaryDirectory() as tmp:
            folder = download_model(resolved, Path(tmp) / "model")
            return SageMakerTarget(store, config).deploy(
                resolved, folder, name=name, instance_type=instance_type, replicas=replicas,
                canary=canary, timeout=timeout, progress=progress)


def get_deployment(name: str, *, check: bool = True, cwd: str | os.PathLike[str] | None = None,
                   config: Config | None = None) -> Deployment:
    """One deployment; with ``check`` its live status (health, device, recent latency)."""
    config = _config(config, cwd)
    store = store_for(config)
    deployment = store.load(name)
    if check:
        deployment = _target(deployment.target, store, config).refresh(deployment)
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
            deployment = _target(deployment.target, store, config).refresh(deployment)
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
        if not hasattr(target, "rollback"):
            raise UserInputError(f"rollback is not available for {deployment.target} "
                                 "deployments: deploy the previous model again")
        result: Deployment = target.rollback(deployment, timeout, progress or _quiet)
        return result


def promote(name: str, *, cwd: str | os.PathLike[str] | None = None,
            config: Config | None = None) -> Deployment:
    """Give a local canary all the traffic."""
    config = _config(config, cwd)
    store = store_for(config)
    with store.lock(name):
        deployment = store.load(name)
        if deployment.target != "local":
            raise UserInputError("promote is for local canaries; SageMaker and KServe shift "
                                 "the traffic themselves")
        return LocalTarget(store).promote(deployment)


def undeploy(name: str, *, progress: Progress | None = None,
             cwd: str | os.PathLike[str] | None = None, config: Config | None = None
             ) -> Deployment:
    """Stop every version and remove the deployment; returns its last state."""
    config = _config(config, cwd)
    store = store_for(config)
    with store.lock(name):
        deployment = store.load(name)
        target = _target(deployment.target, store, config)
        if deployment.target == "local":
            target.undeploy(deployment)
        else:
            target.undeploy(deployment, progress or _quiet)
    deployment.status, deployment.health = "removed", "stopped"
    deployment.metrics = {}
    return deployment


def request_body(data: Any) -> bytes:
    """A scoring request for ``data``: a DataFrame (dataframe_split), records or a column
    dict (made a DataFrame), a numpy array (inputs), or a ready MLflow payload dict."""
    import json

    if isinstance(data, str):
        return data.encode()
    if isinstance(data, bytes):
        return data
    if isinstance(data, dict) and any(k in data for k in ("dataframe_split", "dataframe_records",
                                                          "instances", "inputs")):
        return json.dumps(data).encode()
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    if isinstance(data, np.ndarray):
        return json.dumps({"inputs": data.tolist()}).encode()
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    split = str(frame.to_json(orient="split", index=False, date_format="iso"))
    return b'{"dataframe_split": ' + split.encode() + b"}"


def predictions_frame(data: bytes) -> Any:
    """MLflow's ``{"predictions": …}`` answer as a DataFrame."""
    import json

    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    payload = json.loads(data)
    predictions = payload.get("predictions", payload) if isinstance(payload, dict) else payload
    if isinstance(predictions, dict):
        return pd.DataFrame(predictions)
    if isinstance(predictions, list) and predictions and not isinstance(
            predictions[0], (dict, list)):
        return pd.DataFrame({"prediction": predictions})
    return pd.DataFrame(predictions)


def predict(name: str, data: Any, *, cwd: str | os.PathLike[str] | None = None,
            config: Config | None = None) -> Any:
    """Send ``data`` (DataFrame, records, column dict, numpy array) to a deployment and get
    its predictions as a DataFrame."""
    config = _config(config, cwd)
    store = store_for(config)
    deployment = store.load(name)
    target = _target(deployment.target, store, config)
    if deployment.target == "kserve":
        import pandas as pd  # type: ignore[import-untyped, unused-ignore]

        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
        return target.predict(deployment, frame)
    return predictions_frame(target.predict(deployment, request_body(data)))


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
