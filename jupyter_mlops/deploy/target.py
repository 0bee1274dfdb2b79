"""What a deploy target is: the ``Target`` protocol the local process, KServe and SageMaker
implement with the same signatures, the options ``deploy`` passes them, and ``TargetBase``
with the answers a target gives for what it does not do (dry run, rollback, promote)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from ..config import Config
from ..errors import MLOpsError, UserInputError
from .models import ResolvedModel
from .state import (
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_QUEUE,
    DEFAULT_MAX_QUEUE_BYTES,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_REQUEST_ROWS,
    DEFAULT_MAX_WAIT_MS,
    DEFAULT_TIMEOUT_S,
    Deployment,
    DeploymentStore,
    TargetKind,
)

Progress = Callable[[str], None]


class DeployFailed(MLOpsError):
    """A version did not become healthy; what serves (if anything) is unchanged."""

    http_status = 422


@dataclass(frozen=True)
class DeployOptions:
    """What ``deploy`` was asked besides the model and the name, validated; each target reads
    the options it knows (``gpu`` means a device for the local process and a GPU count per
    replica for KServe; ``instance_type`` is SageMaker's; batching and limits are local)."""

    gpu: str | int | None = None
    instance_type: str | None = None
    replicas: int = 1
    canary: int | None = None
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    max_queue: int = DEFAULT_MAX_QUEUE
    cpu_threads: int = 0
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_request_rows: int = DEFAULT_MAX_REQUEST_ROWS
    max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES
    port: int | None = None
    host: str = "127.0.0.1"
    namespace: str = "default"
    timeout: float = DEFAULT_TIMEOUT_S


class Target(Protocol):
    """A place deployments run. ``deploy`` and ``rollback`` return once the result serves
    (or raise ``DeployFailed`` with what keeps serving); ``status`` asks the backend for the
    deployment's live state; ``undeploy`` stops it and forgets it."""

    kind: ClassVar[TargetKind]

    def check(self, options: DeployOptions) -> DeployOptions:
        """Refuse options this target cannot use before anything is resolved or downloaded."""

    def dry_run(self, model: ResolvedModel, name: str, options: DeployOptions) -> Deployment:
        """What would be deployed, written down (a manifest), without deploying it."""

    def deploy(self, model: ResolvedModel, name: str, options: DeployOptions,
               progress: Progress) -> Deployment: ...

    def status(self, deployment: Deployment) -> Deployment: ...

    def rollback(self, deployment: Deployment, timeout: float, progress: Progress
                 ) -> Deployment: ...

    def promote(self, deployment: Deployment) -> Deployment:
        """Give a canary all the traffic."""

    def undeploy(self, deployment: Deployment, progress: Progress) -> None: ...

    def predict(self, deployment: Deployment, data: Any) -> Any:
        """``data`` (DataFrame, records, column dict, numpy array) in, a DataFrame out."""

    def logs(self, deployment: Deployment, lines: int) -> dict[str, list[str]]:
        """The last ``lines`` of each log the deployment has, by title."""


class TargetBase:
    """What every target shares: its store and config, the refusal of a name another target
    holds, and the answers for the operations it does not offer."""

    kind: ClassVar[TargetKind]

    def __init__(self, store: DeploymentStore, config: Config) -> None:
        self.store = store
        self.config = config

    def existing(self, name: str) -> Deployment | None:
        """The deployment already under ``name``, refused when another target serves it."""
        if not self.store.exists(name):
            return None
        existing = self.store.load(name)
        if existing.target != self.kind:
            raise UserInputError(f"'{name}' is a {existing.target} deployment: undeploy it "
                                 "first or choose another name")
        return existing

    def check(self, options: DeployOptions) -> DeployOptions:
        return options

    def dry_run(self, model: ResolvedModel, name: str, options: DeployOptions) -> Deployment:
        raise UserInputError("--dry-run writes a KServe manifest: use it with --target kserve")

    def rollback(self, deployment: Deployment, timeout: float, progress: Progress
                 ) -> Deployment:
        raise UserInputError(f"rollback is not available for {deployment.target} "
                             "deployments: deploy the previous model again")

    def promote(self, deployment: Deployment) -> Deployment:
        raise UserInputError("promote is for local canaries; SageMaker and KServe shift "
                             "the traffic themselves")
