"""The MLflow tracking store of a project: its URI, a client for it (probed first when it is a
server), its experiments, and a run by id.

MLflow reads its credentials (MLFLOW_TRACKING_TOKEN, _USERNAME/_PASSWORD, ~/.mlflow/credentials,
a client certificate, an auth plugin) from the process for every server it talks to; it has no
per-client credentials (mlflow/mlflow#8584). A tracking server that only a project's file names
(``Config.sends_credentials``) must not get them: ``client()`` enters its scheme, host and port
in this process's list of servers that get none, and MLflow's credentials for them are built
without their secrets (``_guard_credentials``), for MLflow's REST stores, its artifact
repositories and the sender's own HTTP session alike.

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
from typing import TYPE_CHECKING, Any, Literal

from ..config import Config, url_origin
from ..errors import BackendUnavailableError, NotFoundError, UserInputError
from ..paths import make_folder

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

#: servers (scheme, host, port) MLflow sends no credentials to from this process
_withheld: set[tuple[str, str, int | None]] = set()
_guard_installed = False
#: what MLflow's host credentials keep for such a server: how to check its TLS certificate
_KEPT = frozenset({"ignore_tls_verification", "server_cert_path"})


def tracking_uri(config: Config) -> str:
    """The resolved ``tracking.uri``; for the embedded SQLite store its folder is created."""
    uri = str(config["tracking.uri"])
    if uri.startswith("sqlite:///"):
        db = uri[len("sqlite:///"):]
        if db and db != ":memory:":
            make_folder(Path(db).parent)
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


def _guard_credentials(config: Config) -> None:
    """Withhold MLflow's credentials from the project's tracking server when only a project
    file names it (and give them back once the user trusts it).

    MLflow builds the credentials of every request in ``get_default_host_creds(uri)``, which
    makes them with the ``MlflowHostCreds`` of its module: that one name is wrapped (once per
    process) so that, for a withheld server, the token, username, password, client
    certificate and auth plugin are left out."""
    global _guard_installed
    uri = str(config["tracking.uri"])
    if not uri.startswith(("http://", "https://")):
        return
    origin = url_origin(uri)
    if config.sends_credentials():
        _withheld.discard(origin)
        return
    with _clients_lock:
        if not _guard_installed:
            from mlflow.utils import credentials
            from mlflow.utils.rest_utils import MlflowHostCreds

            def host_creds(host: str, **fields: Any) -> MlflowHostCreds:
                if url_origin(host) in _withheld:
                    fields = {k: v for k, v in fields.items() if k in _KEPT}
                return MlflowHostCreds(host, **fields)  # type: ignore[no-untyped-call]

            vars(credentials)["MlflowHostCreds"] = host_creds
            _guard_installed = True
        _withheld.add(origin)


def client(config: Config) -> MlflowClient:
    """An ``MlflowClient`` for the project's tracking (and model registry) URI; one per URI."""
    uri = tracking_uri(config)
    _export_s3_settings(config)
    _guard_credentials(config)
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


def run_url(uri: str, experiment_id: str | None, run_id: str) -> str | None:
    """The run in MLflow's UI, for a tracking server (credentials and query left out)."""
    if not uri.startswith(("http://", "https://")) or not experiment_id:
        return None
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    base = urlunsplit(parts._replace(netloc=netloc, query="", fragment="")).rstrip("/")
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


def redact_uri(uri: str) -> str:
    from ..config import redact

    return str(redact(uri))


def first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""
