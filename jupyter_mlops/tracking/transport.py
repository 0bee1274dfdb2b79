"""How the background sender talks to a tracking store, with failures sorted by what they mean.

- ``NotApplied``: the store was not reached (connection refused, DNS): safe to send again.
- ``InDoubt``: the request may have been applied (timeout or connection lost after sending,
  a 5xx): metric points are checked against the store before being sent again.
- ``Rejected``: the store refused the request (4xx): sending it again cannot help.

A tracking server is spoken to over its REST API with our own short timeouts and no hidden
retries (MLflow's client retries for minutes, which would stall the queue); a local store
(SQLite, a folder, a database URL) goes through ``MlflowClient``.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .store import first_line, is_local_store, redact_uri

if TYPE_CHECKING:
    import requests
    from mlflow import MlflowClient

# MLflow's limits for one log_batch call (mlflow.utils.validation)
MAX_METRICS = 1000
MAX_PARAMS_TAGS = 100
MAX_ENTITIES = 1000
MAX_REQUEST_BYTES = 900_000  # MLflow refuses bodies over 1e6 bytes; keep a margin
MAX_KEY_LENGTH = 250
MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 30.0

Point = tuple[str, float, int, int]  # key, value, timestamp (ms), step

_KEY = re.compile(r"^[/\w.\- :]+$")


class TransportError(Exception):
    pass


class NotApplied(TransportError):
    pass


class InDoubt(TransportError):
    pass


class Rejected(TransportError):
    pass


def valid_key(key: str) -> bool:
    """MLflow's rule for metric and param names, checked here so one bad key cannot make the
    store refuse a whole batch."""
    if not key or len(key) > MAX_KEY_LENGTH or not _KEY.match(key):
        return False
    norm = posixpath.normpath(key)
    return norm == key and norm != "." and not norm.startswith(("..", "/"))


def same_value(a: float, b: float) -> bool:
    # SQL stores keep +-inf as the largest finite double
    if math.isinf(a):
        return math.isinf(b) or abs(b) >= 1.7976931348623157e308
    return a == b


class Transport:
    """Operations the sender needs; one instance per tracking URI."""

    uri: str

    def log_batch(self, run_id: str, metrics: Sequence[Point],
                  params: Sequence[tuple[str, str]], tags: Sequence[tuple[str, str]]) -> None:
        raise NotImplementedError

    def history(self, run_id: str, key: str) -> list[tuple[int, int, float]]:
        """(timestamp, step, value) of every point of ``key``."""
        raise NotImplementedError

    def create_run(self, experiment_id: str, run_name: str | None, start_time: int,
                   tags: dict[str, str]) -> str:
        raise NotImplementedError

    def find_run(self, experiment_ids: Iterable[str], client_id: str) -> str | None:
        """The run tagged ``mlops.client_run_id = client_id`` (a create that may have been
        applied before its answer was lost)."""
        raise NotImplementedError

    def update_run(self, run_id: str, status: str, end_time: int | None) -> None:
        raise NotImplementedError

    def reachable(self, timeout: float) -> bool:
        return True

    # artifacts and experiments go through MLflow's client in both cases
    def __init__(self, client: MlflowClient) -> None:
        self.client = client

    def log_artifact(self, run_id: str, local_path: Path, artifact_path: str) -> None:
        try:
            self.client.log_artifact(run_id, str(local_path), artifact_path or None)
        except Exception as exc:
            raise _classify_client_error(exc) from exc

    def ensure_experiment(self, name: str, artifact_location: str | None) -> str:
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.get_experiment_by_name(name)
            if found is not None:
                return str(found.experiment_id)
            return str(self.client.create_experiment(name, artifact_location=artifact_location))
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_ALREADY_EXISTS":
                again = self.client.get_experiment_by_name(name)
                if again is not None:
                    return str(again.experiment_id)
            raise _classify_client_error(exc) from exc
        except Exception as exc:
            raise _classify_client_error(exc) from exc


_PERMANENT_CODES = {"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "INVALID_STATE",
                    "BAD_REQUEST", "PERMISSION_DENIED", "UNAUTHENTICATED",
                    "RESOURCE_ALREADY_EXISTS"}


def _classify_client_error(exc: BaseException) -> TransportError:
    code = getattr(exc, "error_code", "")
    message = first_line(str(exc))
    if code in _PERMANENT_CODES:
        return Rejected(message)
    if isinstance(exc, OSError | ConnectionError) or "Connection refused" in message \
            or "Failed to establish a new connection" in message:
        return NotApplied(message)
    return InDoubt(message)


class StoreTransport(Transport):
    """A store this process writes itself (SQLite, a folder, a database server)."""

    def __init__(self, client: MlflowClient, uri: str) -> None:
        super().__init__(client)
        self.uri = uri

    def log_batch(self, run_id: str, metrics: Sequence[Point],
                  params: Sequence[tuple[str, str]], tags: Sequence[tuple[str, str]]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        try:
            self.client.log_batch(
                run_id,
                metrics=[Metric(k, v, ts, s) for k, v, ts, s in metrics],
                params=[Param(k, v) for k, v in params],
                tags=[RunTag(k, v) for k, v in tags],
                synchronous=True,
            )
        except Exception as exc:
            raise _classify_client_error(exc) from exc

    def history(self, run_id: str, key: str) -> list[tuple[int, int, float]]:
        try:
            return [(m.timestamp, m.step, m.value)
                    for m in self.client.get_metric_history(run_id, key)]
        except Exception as exc:
            raise _classify_client_error(exc) from exc

    def create_run(self, experiment_id: str, run_name: str | None, start_time: int,
                   tags: dict[str, str]) -> str:
        try:
            run = self.client.create_run(experiment_id, start_time=start_time, tags=tags,
                                         run_name=run_name)
        except Exception as exc:
            raise _classify_client_error(exc) from exc
        return str(run.info.run_id)

    def find_run(self, experiment_ids: Iterable[str], client_id: str) -> str | None:
        try:
            found = self.client.search_runs(
                list(experiment_ids), f"tags.`mlops.client_run_id` = '{client_id}'",
                max_results=1)
        except Exception as exc:
            raise _classify_client_error(exc) from exc
        return str(found[0].info.run_id) if found else None

    def update_run(self, run_id: str, status: str, end_time: int | None) -> None:
        try:
            if status == "RUNNING":
                self.client.update_run(run_id, status=status)
            else:
                self.client.set_terminated(run_id, status, end_time)
        except Exception as exc:
            raise _classify_client_error(exc) from exc


class RestTransport(Transport):
    """An MLflow tracking server, over its REST API."""

    def __init__(self, client: MlflowClient, uri: str) -> None:
        super().__init__(client)
        self.uri = uri.rstrip("/")
        self._session: requests.Session | None = None

    def _http(self) -> requests.Session:
        if self._session is None:
            import requests
            from mlflow.utils.credentials import get_default_host_creds

            creds = get_default_host_creds(self.uri)  # type: ignore[no-untyped-call]
            session = requests.Session()
            if creds.token:
                session.headers["Authorization"] = f"Bearer {creds.token}"
            elif creds.username and creds.password:
                session.auth = (creds.username, creds.password)
            session.verify = creds.verify if creds.server_cert_path is None \
                else creds.server_cert_path
            if creds.client_cert_path:
                session.cert = creds.client_cert_path
            self._session = session
        return self._session

    def _call(self, method: str, endpoint: str, body: dict[str, Any] | None = None,
              *, timeout: float = READ_TIMEOUT) -> dict[str, Any]:
        import requests

        url = f"{self.uri}/api/2.0/mlflow/{endpoint}"
        try:
            if method == "GET":
                response = self._http().get(url, params=body,
                                            timeout=(CONNECT_TIMEOUT, timeout))
            else:
                response = self._http().post(
                    url, data=json.dumps(body, separators=(",", ":")),
                    headers={"Content-Type": "application/json"},
                    timeout=(CONNECT_TIMEOUT, timeout))
        except requests.exceptions.ConnectTimeout as exc:
            raise NotApplied(f"{redact_uri(self.uri)} did not accept a connection "
                             f"({CONNECT_TIMEOUT:g} s)") from exc
        except requests.exceptions.ConnectionError as exc:
            if _refused(exc):
                raise NotApplied(f"{redact_uri(self.uri)} refused the connection") from exc
            raise InDoubt(f"connection to {redact_uri(self.uri)} lost: "
                          f"{first_line(str(exc))[:120]}") from exc
        except requests.exceptions.Timeout as exc:
            raise InDoubt(f"{redact_uri(self.uri)} did not answer within {timeout:g} s") \
                from exc
        except requests.exceptions.RequestException as exc:
            raise InDoubt(first_line(str(exc))) from exc
        if response.status_code == 200:
            try:
                data: dict[str, Any] = response.json() if response.content else {}
            except ValueError:
                data = {}
            return data
        detail = _error_message(response)
        if response.status_code == 429:
            raise NotApplied(f"{redact_uri(self.uri)} is rate limiting (HTTP 429)")
        if 400 <= response.status_code < 500:
            raise Rejected(f"HTTP {response.status_code}: {detail}")
        raise InDoubt(f"HTTP {response.status_code}: {detail}")

    def reachable(self, timeout: float) -> bool:
        """Any HTTP answer counts: the server is up (``/health`` on an MLflow server)."""
        import requests

        try:
            self._http().get(f"{self.uri}/health", timeout=(min(timeout, CONNECT_TIMEOUT),
                                                            timeout))
        except requests.exceptions.RequestException:
            return False
        return True

    def log_batch(self, run_id: str, metrics: Sequence[Point],
                  params: Sequence[tuple[str, str]], tags: Sequence[tuple[str, str]]) -> None:
        body: dict[str, Any] = {"run_id": run_id}
        if metrics:
            body["metrics"] = [{"key": k, "value": v, "timestamp": ts, "step": s}
                               for k, v, ts, s in metrics]
        if params:
            body["params"] = [{"key": k, "value": v} for k, v in params]
        if tags:
            body["tags"] = [{"key": k, "value": v} for k, v in tags]
        self._call("POST", "runs/log-batch", body)

    def history(self, run_id: str, key: str) -> list[tuple[int, int, float]]:
        points: list[tuple[int, int, float]] = []
        token = None
        while True:
            query: dict[str, Any] = {"run_id": run_id, "metric_key": key,
                                     "max_results": 25000}
            if token:
                query["page_token"] = token
            data = self._call("GET", "metrics/get-history", query)
            for m in data.get("metrics", []):
                points.append((int(m.get("timestamp", 0)), int(m.get("step", 0)),
                               float(m.get("value", 0.0))))
            token = data.get("next_page_token")
            if not token:
                return points

    def create_run(self, experiment_id: str, run_name: str | None, start_time: int,
                   tags: dict[str, str]) -> str:
        body: dict[str, Any] = {"experiment_id": experiment_id, "start_time": start_time,
                                "tags": [{"key": k, "value": v} for k, v in tags.items()]}
        if run_name:
            body["run_name"] = run_name
        data = self._call("POST", "runs/create", body)
        return str(data["run"]["info"]["run_id"])

    def find_run(self, experiment_ids: Iterable[str], client_id: str) -> str | None:
        data = self._call("POST", "runs/search", {
            "experiment_ids": list(experiment_ids),
            "filter": f"tags.`mlops.client_run_id` = '{client_id}'", "max_results": 1})
        runs = data.get("runs") or []
        return str(runs[0]["info"]["run_id"]) if runs else None

    def update_run(self, run_id: str, status: str, end_time: int | None) -> None:
        body: dict[str, Any] = {"run_id": run_id, "status": status}
        if end_time is not None and status != "RUNNING":
            body["end_time"] = end_time
        self._call("POST", "runs/update", body)

    def log_artifact(self, run_id: str, local_path: Path, artifact_path: str) -> None:
        # MLflow's artifact client retries for minutes when the server is down: ask first
        if not self.reachable(CONNECT_TIMEOUT):
            raise NotApplied(f"{redact_uri(self.uri)} is unreachable")
        super().log_artifact(run_id, local_path, artifact_path)


def _refused(exc: BaseException) -> bool:
    """Did the connection fail before anything was sent?"""
    text = str(exc)
    return any(marker in text for marker in (
        "NewConnectionError", "Connection refused", "Failed to establish a new connection",
        "Name or service not known", "nodename nor servname", "No route to host",
        "Network is unreachable"))


def _error_message(response: Any) -> str:
    try:
        data = response.json()
        return first_line(str(data.get("message") or data))
    except ValueError:
        return first_line(response.text or response.reason or "")


def make_transport(client: MlflowClient, uri: str) -> Transport:
    scheme = urlsplit(uri).scheme
    if scheme in ("http", "https") and not is_local_store(uri):
        return RestTransport(client, uri)
    return StoreTransport(client, uri)
