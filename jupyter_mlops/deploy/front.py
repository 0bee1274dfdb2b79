"""The serving front of a local deployment: routes each scoring request to a live version
(the canary its share of them), refuses what a version could not take (too large, too many
rows, queue full in requests or bytes: 413 / 503; without its token: 401), answers 504 when
the model does not answer within ``request_timeout_s`` (and reports the version stuck until
it does), rolls versions out, back and forward, and keeps ``deployment.json`` up to date. A
version takes traffic only after it loaded, its warm-up request succeeded and a health-check
request went through this front.

It also measures what it answers (``monitor.enabled``, the default): the Prometheus metrics
(``metrics``), the 10-second history of the last hour (``stats.History``) and the inference
log (``jupyter_mlops.monitor.inference_log``, written by a process of its own). Error answers
are logged with their request id (at most ``ERROR_LINES_PER_S`` lines a second)."""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Literal, TypedDict

from ..monitor.inference_log import InferenceLog, Names, Record, log_folder
from ..monitor.remote_log import RemoteLog
from .metrics import ServingMetrics
from .protocol import JSON, PayloadError, error_body, inspect_payload, loads
from .state import (
    INVOCATIONS_TOKEN,
    SECRET_FILE,
    STATE_FILE,
    Deployment,
    DeploymentStatus,
    ServingSettings,
    VersionInfo,
    VersionStatus,
    write_json,
)
from .stats import History, Stats
from .version_worker import Answer, Item, VersionWorker, WorkerState, log

RolloutPhase = Literal["queued", "starting", "starting process", "loading model",
                       "warming up", "health check", "done", "failed"]
PHASES: dict[WorkerState, RolloutPhase] = {"loading": "loading model", "warming": "warming up"}
ERROR_LINES_PER_S = 10
Scored = tuple[int, bytes, str, list[tuple[bytes, bytes]], int | None, int]
"""What one scoring request got: status, body, media type, extra headers, the version that
answered (None: refused before one was chosen) and its rows."""


class Rollout(TypedDict, total=False):
    """The rollout (or rollback) in progress or last done, as the admin status shows it."""

    version: int | None
    phase: RolloutPhase
    ok: bool | None  # None while it runs
    message: str | None
    started_at: float
    kind: Literal["deploy", "rollback"]


class ServingFront:
    """Routes requests to the live versions and keeps ``deployment.json`` up to date."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        secret = json.loads((folder / SECRET_FILE).read_text(encoding="utf-8"))
        self.token: str = secret["token"]
        self.deployment = Deployment.from_dict(
            json.loads((folder / STATE_FILE).read_text(encoding="utf-8")))
        self.settings = ServingSettings.from_dict(self.deployment.settings)
        # deploy.auth = "token": the bearer /invocations wants (none made: nobody gets in)
        self.bearer: bytes | None = None
        if self.settings.auth == "token":
            self.bearer = f"Bearer {secret.get(INVOCATIONS_TOKEN) or os.urandom(32).hex()}" \
                .encode()
        self.reading = 0  # admitted requests whose body is being read
        self.held_bytes = 0  # bytes of the bodies admitted and not answered yet
        self.stuck: int | None = None  # the live version that has not answered in time
        self.workers: dict[int, VersionWorker] = {}
        self.primary: int | None = None
        self.canary: tuple[int, int] | None = None
        self.counter = 0
        self.rollout: Rollout | None = None
        self.stats = Stats()
        self.should_exit: Callable[[], None] = lambda: None
        self.mlflow_version = ""
        self.background: set[asyncio.Task[Any]] = set()
        self._monitor_setup()

    # ------------------------------------------------------------------ monitoring
    def _monitor_setup(self) -> None:
        monitor: dict[str, Any] = dict(self.deployment.settings.get("monitor") or {})
        self.monitoring = bool(monitor.get("enabled", True))
        self.metrics: ServingMetrics | None = None
        self.history: History | None = None
        self.inference_log: InferenceLog | None = None
        self._names: dict[int, Names] = {}
        self._error_second = 0
        self._error_lines = 0
        self._errors_unlogged = 0
        if not self.monitoring:
            return
        name = self.deployment.name
        self.metrics = ServingMetrics(name, self.queued, self._live_versions)
        self.history = History()
        folder = Path(str(monitor["folder"])) if monitor.get("folder") else log_folder(
            self.folder.parent.parent, name)  # <state_dir>/deployments/<name> by default
        remote = RemoteLog(str(monitor["remote"]), str(monitor.get("endpoint_url") or ""),
                           str(monitor.get("region") or "")) if monitor.get("remote") else None
        self.inference_log = InferenceLog(
            folder, sample_rate=float(monitor.get("sample_rate", 1.0)),
            max_rows_per_s=int(monitor.get("max_rows_per_s", 0)), names=self._names_of,
            log=log, remote=remote)

    def _live_versions(self) -> list[tuple[int, str | None, str | None]]:
        return [(v, w.info.run_id, w.info.device) for v, w in sorted(self.workers.items())
                if w.state not in ("stopped", "failed")]

    def _names_of(self, version: int) -> Names:
        names = self._names.get(version)
        if names is None:
            info = self.deployment.get_version(version)
            signature = info.details.get("signature") if info is not None else None
            names = self._names[version] = Names.from_signature(
                signature if isinstance(signature, dict) else None)
        return names

    def batched(self, version: int, rows: int) -> None:
        """A model call of ``rows`` rows went to ``version``."""
        self.stats.batch(rows)
        if self.metrics is not None and self.history is not None:
            self.metrics.batch(version, rows)
            self.history.batch(rows)

    def answered(self, request_id: str, scored: Scored, seconds: float, body: bytes,
                 content_type: str) -> None:
        """One scoring request was answered (its last byte written) ``seconds`` after it
        came in: count it, and hand it to the inference log."""
        status, answer, _, _, version, rows = scored
        self.stats.record(status, seconds)
        if status >= 400:
            self._log_error(request_id, status, version, answer)
        if self.metrics is None or self.history is None:
            return
        self.metrics.request(version, status, seconds, rows)
        self.history.request(status, seconds, rows)
        if status == 200 and version is not None and self.inference_log is not None:
            self.inference_log.offer(Record(request_id, time.time(), version, body,
                                            content_type, answer, seconds * 1000, rows))

    def _log_error(self, request_id: str, status: int, version: int | None,
                   answer: bytes) -> None:
        second = int(time.monotonic())
        if second != self._error_second:
            if self._errors_unlogged:
                log(f"({self._errors_unlogged} more error answers not logged)")
            self._error_second, self._error_lines, self._errors_unlogged = second, 0, 0
        if self._error_lines >= ERROR_LINES_PER_S:
            self._errors_unlogged += 1
            return
        self._error_lines += 1
        try:
            message = str(loads(answer).get("message", ""))
        except (ValueError, AttributeError):
            message = answer[:200].decode(errors="replace")
        where = f" (version {version})" if version is not None else ""
        first = message.splitlines()[0][:300] if message.strip() else ""
        log(f"request {request_id}: HTTP {status}{where}: {first}")

    async def keep_history(self) -> None:
        """Close each 10-second interval of the history when it ends."""
        history = self.history
        if history is None:
            return
        while True:
            await asyncio.sleep(max(0.05, history.end - time.time() + 0.01))
            history.roll(self.queued())

    def history_dict(self) -> dict[str, Any]:
        if self.history is None:
            return {"interval_s": 10, "samples": [], "enabled": False}
        return {**self.history.to_dict(self.queued()), "enabled": True}

    # ------------------------------------------------------------------ routing
    def choose(self) -> VersionWorker | None:
        primary = self.workers.get(self.primary) if self.primary is not None else None
        if self.canary is not None:
            version, percent = self.canary
            canary = self.workers.get(version)
            if canary is not None and canary.ready:
                if primary is None or not primary.ready:
                    return canary
                self.counter += 1
                n = self.counter
                if (n * percent) // 100 != ((n - 1) * percent) // 100:
                    return canary
        return primary if primary is not None and primary.ready else None

    def queued(self) -> int:
        return sum(len(w.queue) for w in self.workers.values())

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` in the background, holding a reference until it is done."""
        task = asyncio.create_task(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def primary_ready(self) -> bool:
        """Healthy: the primary version is ready and none is stuck on a prediction."""
        worker = self.workers.get(self.primary) if self.primary is not None else None
        return worker is not None and worker.ready and self.stuck_worker() is None

    def stuck_worker(self) -> VersionWorker | None:
        """A live version holding a batch longer than ``request_timeout_s``."""
        limit = self.settings.request_timeout_s
        return next((w for w in self.workers.values() if w.ready and w.busy_for() > limit),
                    None)

    async def watch_health(self) -> None:
        """Say (log, ``deployment.json``) when a version gets stuck and when it answers."""
        while True:
            await asyncio.sleep(min(1.0, self.settings.request_timeout_s / 4))
            worker = self.stuck_worker()
            stuck = worker.version if worker is not None else None
            if stuck != self.stuck:
                log(f"v{stuck}: stuck: {self.unavailable_reason()}" if worker is not None
                    else f"v{self.stuck}: answers again")
                self.stuck = stuck
                self.persist()

    def unavailable_reason(self) -> str:
        primary = self.workers.get(self.primary) if self.primary is not None else None
        if primary is None:
            return "no model version is serving yet (starting)"
        stuck = self.stuck_worker()
        if stuck is not None:
            return (f"version {stuck.version} has not answered a prediction for "
                    f"{stuck.busy_for():.0f} s (deploy.request_timeout is "
                    f"{self.settings.request_timeout_s:g} s): the model is stuck")
        if primary.recovering:
            return (f"version {primary.version} crashed and is being restarted "
                    f"({primary.state}): retry shortly")
        return f"version {primary.version} is {primary.state}"

    # ------------------------------------------------------------------ state
    def status(self) -> DeploymentStatus:
        primary = self.workers.get(self.primary) if self.primary is not None else None
        if primary is None:
            return "starting" if self.rollout and self.rollout.get("ok") is None else "failed"
        if primary.recovering:
            return "restarting"
        return "serving" if primary.ready else "failed"

    def persist(self) -> None:
        d = self.deployment
        d.status = self.status()
        d.version = self.primary
        d.health = "ok" if self.primary_ready() else self.unavailable_reason()
        if self.primary is not None:
            d.traffic = {str(self.primary): 100}
            if self.canary is not None:
                d.traffic = {str(self.primary): 100 - self.canary[1],
                             str(self.canary[0]): self.canary[1]}
        d.pid = os.getpid()
        d.settings = {**d.settings}
        for info in d.versions:
            worker = self.workers.get(info.version)
            if worker is not None and worker.state in ("starting", "loading", "warming",
                                                       "restarting", "failed"):
                info.status = worker.state  # not ready yet, or no more: the version says so
        d.updated_at = time.time()
        write_json(self.folder / STATE_FILE, d.to_dict())

    def live(self) -> dict[str, Any]:
        """deployment.json plus what only this process knows: queue, workers, latency."""
        data = self.deployment.to_dict()
        data["status"] = self.status()
        data["health"] = "ok" if self.primary_ready() else self.unavailable_reason()
        data["metrics"] = {**self.stats.snapshot(), "queued": self.queued()}
        data["workers"] = {str(v): {"state": w.state, "device": w.info.device,
                                    "pid": w.proc.pid if w.proc else None,
                                    "queued": len(w.queue), "in_flight": w.in_flight,
                                    "restarts": w.restarts}
                           for v, w in self.workers.items()}
        data["rollout"] = self.rollout
        data["mlflow_version"] = self.mlflow_version
        data["monitor"] = {"enabled": self.monitoring,
                           "log": self.inference_log.status() if self.inference_log else None,
                           "log_folder": str(self.inference_log.folder)
                           if self.inference_log else None}
        return data

    # ------------------------------------------------------------------ scoring
    def refuse(self, authorization: bytes, length: int | None) -> Scored | None:
        """Why a POST /invocations is refused before its body is read (no token, too large,
        nothing serving, queue full in requests or bytes); None: admitted, and counted until
        ``read_done`` and ``release``."""
        settings = self.settings
        if self.bearer is not None and not hmac.compare_digest(authorization, self.bearer):
            return 401, error_body("this deployment wants its bearer token (deploy.auth = "
                                   "'token'): send 'Authorization: Bearer TOKEN'",
                                   "UNAUTHENTICATED"), JSON, \
                [(b"www-authenticate", b"Bearer")], None, 0
        if length is not None and length > settings.max_request_bytes:
            return *self._too_large(), JSON, [], None, 0
        retry = [(b"retry-after", b"1")]
        if not any(w.ready for w in self.workers.values()
                   if w.version == self.primary or (self.canary and w.version == self.canary[0])):
            return 503, error_body(self.unavailable_reason(), "TEMPORARILY_UNAVAILABLE"), \
                JSON, retry, None, 0
        if self.queued() + self.reading >= settings.max_queue:
            return 503, error_body(f"the queue is full ({settings.max_queue} requests "
                                   "waiting): retry later", "TEMPORARILY_UNAVAILABLE"), \
                JSON, retry, None, 0
        if length is not None and self.held_bytes + length > settings.max_queue_bytes:
            return 503, error_body(f"the queue is full ({self.held_bytes} bytes of requests "
                                   f"held, at most {settings.max_queue_bytes}): retry later",
                                   "TEMPORARILY_UNAVAILABLE"), JSON, retry, None, 0
        self.reading += 1
        self.held_bytes += length or 0
        return None

    def hold(self, size: int) -> None:
        """A chunked body (no Content-Length) grew by ``size`` bytes."""
        self.held_bytes += size

    def read_done(self) -> None:
        self.reading -= 1

    def release(self, size: int) -> None:
        """An admitted request of ``size`` bytes was answered (or its caller left)."""
        self.held_bytes -= size

    def _too_large(self) -> tuple[int, bytes]:
        return 413, error_body(f"the request body is larger than this deployment's limit of "
                               f"{self.settings.max_request_bytes} bytes: split it")

    async def score(self, body: bytes, size: int, content_type: str, began: float) -> Scored:
        """One admitted POST /invocations (counted by ``answered`` once the answer is
        written): 504 when the model has not answered ``request_timeout_s`` after it came."""
        settings = self.settings
        if size > settings.max_request_bytes:
            return *self._too_large(), JSON, [], None, 0
        try:
            info = inspect_payload(body, content_type)
        except PayloadError as exc:
            return exc.status, error_body(str(exc)), JSON, [], None, 0
        if info.rows > settings.max_request_rows:
            return 413, error_body(f"the request has {info.rows} rows; this deployment takes "
                                   f"at most {settings.max_request_rows} per request: split "
                                   "it"), JSON, [], None, info.rows
        worker = self.choose()
        if worker is None:
            return 503, error_body(self.unavailable_reason(), "TEMPORARILY_UNAVAILABLE"), \
                JSON, [(b"retry-after", b"1")], None, info.rows
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        item = Item(body, content_type, info, future, began)
        worker.submit(item)
        version = [(b"x-model-version", str(worker.version).encode())]
        try:
            status, data, media = await asyncio.wait_for(
                future, max(0.0, began + settings.request_timeout_s - loop.time()))
        except asyncio.TimeoutError:  # the future is cancelled: an answer is dropped
            worker.forget(item)
            return 504, error_body(
                f"version {worker.version} did not answer within "
                f"{settings.request_timeout_s:g} s (deploy.request_timeout)",
                "DEADLINE_EXCEEDED"), JSON, version, worker.version, info.rows
        return status, data, media, version, worker.version, info.rows

    # ------------------------------------------------------------------ versions
    async def start_version(self, info: VersionInfo) -> tuple[VersionWorker | None, str]:
        """Launch a version and health-check it; it takes no traffic yet."""
        def phase(name: WorkerState) -> None:
            if self.rollout is not None:
                self.rollout["phase"] = PHASES.get(name, "starting process")

        if self.rollout is not None:
            self.rollout["phase"] = "starting process"
        worker = VersionWorker(self, info)
        self.workers[info.version] = worker
        ok, why = await worker.launch(phase)
        if ok:
            if self.rollout is not None:
                self.rollout["phase"] = "health check"
            ok, why = await worker.health_check()
        if not ok:
            await worker.stop(drain=False)
            self.workers.pop(info.version, None)
            return None, why
        self.mlflow_version = worker.mlflow_version
        return worker, ""

    async def roll_out(self, info: VersionInfo, canary: int | None) -> None:
        self.rollout = {"version": info.version, "phase": "starting", "ok": None,
                        "message": None, "started_at": time.time(), "kind": "deploy"}
        if self.deployment.get_version(info.version) is None:
            self.deployment.versions.append(info)
        info = self.deployment.get_version(info.version) or info
        info.status = "starting"
        self.persist()
        log(f"v{info.version}: starting {info.model_uri}")
        worker, why = await self.start_version(info)
        if worker is None:
            info.status = "failed"
            info.message = why
            keeps = (f"; version {self.primary} keeps serving" if self.primary is not None
                     else "")
            self._finish(False, f"version {info.version} did not become healthy: {why}{keeps}")
            log(f"v{info.version}: failed to become healthy: {why}{keeps}")
            self.persist()
            return
        old = self.primary
        if canary and old is not None and old != info.version:
            if self.canary is not None and self.canary[0] != info.version:
                await self._retire(self.canary[0], "stopped")
            self.canary = (info.version, canary)
            info.status = "canary"
            log(f"v{info.version}: canary with {canary}% of the traffic")
        else:
            if self.canary is not None and self.canary[0] != info.version:
                await self._retire(self.canary[0], "stopped")
            self.canary = None
            self.primary = info.version
            info.status = "serving"
            self.deployment.history.append(info.version)
            log(f"v{info.version}: serving 100% on {info.device}")
            if old is not None and old != info.version:
                self.spawn(self._retire(old, "standby"))
        self._finish(True)
        self.persist()

    def _finish(self, ok: bool, message: str | None = None) -> None:
        """The rollout in progress ended: done, or failed and why."""
        if self.rollout is not None:
            self.rollout.update({"ok": ok, "phase": "done" if ok else "failed"})
            if message is not None:
                self.rollout["message"] = message

    async def _retire(self, version: int, status: VersionStatus) -> None:
        worker = self.workers.pop(version, None)
        record = self.deployment.get_version(version)
        if record is not None:
            record.status = status
        self.persist()
        if worker is not None:
            await worker.stop(drain=True)
            log(f"v{version}: stopped ({status})")

    async def roll_back(self) -> None:
        self.rollout = {"version": None, "phase": "starting", "ok": None, "message": None,
                        "started_at": time.time(), "kind": "rollback"}
        if self.canary is not None:
            version = self.canary[0]
            self.canary = None
            await self._retire(version, "rolled back")
            self.rollout["version"] = self.primary
            self._finish(True, f"canary version {version} removed")
            log(f"rollback: canary v{version} removed, v{self.primary} takes all traffic")
            self.persist()
            return
        history = self.deployment.history
        if len(history) < 2:
            self._finish(False, "there is no previous version to roll back to")
            return
        current, target = history[-1], history[-2]
        info = self.deployment.get_version(target)
        assert info is not None
        self.rollout["version"] = target
        worker, why = await self.start_version(info)
        if worker is None:
            info.message = why
            self._finish(False, f"version {target} did not start again: {why}; version "
                         f"{current} keeps serving")
            self.persist()
            return
        history.pop()
        self.primary = target
        info.status = "serving"
        log(f"rollback: v{target} serving again; v{current} rolled back")
        self.spawn(self._retire(current, "rolled back"))
        self._finish(True)
        self.persist()

    async def promote(self) -> str:
        if self.canary is None:
            return "there is no canary to promote"
        version = self.canary[0]
        info = self.deployment.get_version(version)
        old = self.primary
        self.canary = None
        self.primary = version
        self.deployment.history.append(version)
        if info is not None:
            info.status = "serving"
        if old is not None:
            self.spawn(self._retire(old, "standby"))
        log(f"v{version}: promoted to 100%")
        self.persist()
        return ""

    async def shutdown(self) -> None:
        for version in list(self.workers):
            worker = self.workers.pop(version)
            await worker.stop(drain=True, timeout=10)
        if self.inference_log is not None:
            await asyncio.to_thread(self.inference_log.stop)
        self.deployment.status = "stopped"
        write_json(self.folder / STATE_FILE, self.deployment.to_dict())
