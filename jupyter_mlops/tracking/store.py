"""The MLflow tracking store of a project: its URI, a client for it (probed first when it is a
server), its experiments, and a run by id.

Shared by the logging side (runs, points, models) and the query side (runs, compare,
register). mlflow is imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import os
import re
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..config import Config
from ..errors import BackendUnavailableError, NotFoundError, UserInputError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

#: MLflow's run statuses
RunStatus = Literal["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]
#: the statuses a run can end with
EndStatus = Literal["FINISHED", "FAILED", "KILLED"]

PROBE_TIMEOUT = 2.0

_clients: dict[str, MlflowClient] = {}
_clients_lock = threading.Lock()


def tracking_uri(config: Config) -> str:
    """The resolved ``tracking.uri``; for the embedded SQLite store its folder is created."""
    uri = str(config["tracking.uri"])
    if uri.startswith("sqlite:///"):
        db = uri[len("sqlite:///"):]
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
    return uri


def is_local_store(uri: str) -> bool:
    """A store this process writes itself (SQLite or a folder), not a tracking server."""
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    return scheme in ("", "file", "sqlite") or scheme.startswith(
        ("postgresql", "mysql", "mssql"))


def _export_s3_settings(config: Config) -> None:
    """MLflow's S3 artifact store reads its endpoint from the environment only: hand it the
    configured ``aws.endpoint_url`` / ``aws.region`` unless the user set MLflow's own."""
    endpoint = str(config["aws.endpoint_url"] or "")
    if endpoint and not os.environ.get("MLFLOW_S3_ENDPOINT_URL"):
        os.environ["MLFLOW_S3_ENDPOINT_URL"] = endpoint
    region = str(config["aws.region"] or "")
    if region and not os.environ.get("AWS_DEFAULT_REGION"):
        os.environ["AWS_DEFAULT_REGION"] = region


def client(config: Config) -> MlflowClient:
    """An ``MlflowClient`` for the project's tracking (and model registry) URI; one per URI."""
    uri = tracking_uri(config)
    _export_s3_settings(config)
    with _clients_lock:
        found = _clients.get(uri)
        if found is None:
            _quiet_mlflow_imports()
            from mlflow import MlflowClient

            found = MlflowClient(tracking_uri=uri, registry_uri=uri)
            _clients[uri] = found
    return found


def reachable_client(config: Config) -> MlflowClient:
    """The project's MLflow client, after a short probe of a tracking server: an unreachable
    one is a BackendUnavailableError at once, not MLflow's minutes of retries."""
    uri = tracking_uri(config)
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=PROBE_TIMEOUT):
                pass
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                raise BackendUnavailableError(
                    f"tracking server {redact_uri(uri)} answered HTTP {exc.code}: check the "
                    "server's log") from None
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackendUnavailableError(
                f"tracking server {redact_uri(uri)} is unreachable ({first_line(str(reason))}): "
                "start it, or set tracking.uri in mlops.toml") from None
    return client(config)


def get_run(mlflow_client: MlflowClient, config: Config, run_id: str) -> Run:
    """Run ``run_id``; an unknown id is a NotFoundError that says how to find the ids."""
    from mlflow.exceptions import MlflowException

    if not run_id or not all(c.isalnum() or c in "-_" for c in run_id):
        raise UserInputError(f"'{run_id}' is not a run id (MLflow's run ids are hexadecimal)")
    try:
        return mlflow_client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or \
                "not found" in str(exc).lower():
            raise NotFoundError(f"no run '{run_id}' in tracking store "
                                f"{redact_uri(tracking_uri(config))}: check the id with "
                                "%mlops runs") from None
        raise BackendUnavailableError(f"tracking store {redact_uri(tracking_uri(config))}: "
                                      f"{first_line(str(exc))}") from exc


def _quiet_mlflow_imports() -> None:
    """What MLflow prints on its own that a notebook user cannot act on: tqdm's "IProgress
    not found" (a kernel without ipywidgets) and the INFO lines of creating and migrating an
    embedded store's tables. Warnings and errors still come through."""
    import logging
    import warnings

    warnings.filterwarnings("ignore", message="IProgress not found")
    for name in ("mlflow.store.db.utils", "alembic.runtime.migration", "alembic"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "experiment"


def artifact_location(config: Config, name: str) -> str | None:
    """Where a new experiment's artifacts go: ``<tracking.artifact_root>/<name>`` for a local
    store or when the user set the root; None lets a tracking server use its own root."""
    root = str(config["tracking.artifact_root"] or "")
    if not root:
        return None
    explicit = config.source("tracking.artifact_root") != "default"
    if not explicit and not is_local_store(tracking_uri(config)):
        return None
    if "://" in root:
        return f"{root.rstrip('/')}/{_slug(name)}"
    folder = Path(root).expanduser().resolve() / _slug(name)
    return folder.as_uri()


def ensure_experiment(config: Config, name: str | None = None) -> str:
    """The id of experiment ``name`` (default: ``tracking.experiment``), created if missing
    with its artifacts under ``tracking.artifact_root``; a deleted one is restored."""
    from mlflow.exceptions import MlflowException

    name = name or str(config["tracking.experiment"])
    if not name.strip():
        raise UserInputError("an experiment name cannot be empty")
    mlflow_client = client(config)
    try:
        found = mlflow_client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                mlflow_client.restore_experiment(found.experiment_id)
            return str(found.experiment_id)
        try:
            return str(mlflow_client.create_experiment(
                name, artifact_location=artifact_location(config, name)))
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            # another kernel created it between our look-up and our create
            again = mlflow_client.get_experiment_by_name(name)
            if again is None:
                raise
            return str(again.experiment_id)
    except MlflowException as exc:
        raise BackendUnavailableError(
            f"tracking store {redact_uri(tracking_uri(config))} refused experiment "
            f"'{name}': {first_line(str(exc))}") from exc


def redact_uri(uri: str) -> str:
    from ..config import redact

    return str(redact(uri))


def first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""
