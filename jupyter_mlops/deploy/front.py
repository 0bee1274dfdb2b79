"""The serving front of a local deployment: routes each scoring request to a live version
(the canary its share of them), refuses what a version could not take (too large, too many
rows, queue full: 413 / 503), rolls versions out, back and forward, and keeps
``deployment.json`` up to date. A version takes traffic only after it loaded, its warm-up
request succeeded and a health-check request went through this front."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Literal, TypedDict

from .protocol import JSON, PayloadError, error_body, inspect_payload
from .state import (
    SECRET_FILE,
    STATE_FILE,
    Deployment,
    DeploymentStatus,
    ServingSettings,
    VersionInfo,
    VersionStatus,
    write_json,
)
from .stats import Stats
from .version_worker import Answer, Item, VersionWorker, WorkerState, log

RolloutPhase = Literal["queued", "starting", "starting process", "loading model",
                       "warming up", "health check", "done", "failed"]
PHASES: dict[WorkerState, RolloutPhase] = {"loading": "loading model", "warming": "warming up"}


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
        self.workers: dict[int, VersionWorker] = {}
        self.primary: int | None = None
        self.canary: tuple[int, int] | None = None
        self.counter = 0
        self.rollout: Rollout | None = None
        self.stats = Stats()
        self.should_exit: Callable[[], None] = lambda: None
        self.mlflow_version = ""
        self.background: set[asyncio.Task[Any]] = set()

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
        worker = self.workers.get(self.primary) if self.primary is not None else None
        return worker is not None and worker.ready

    def unavailable_reason(self) -> str:
        primary = self.workers.get(self.primary) if self.primary is not None else None
        if primary is None:
            return "no model version is serving yet (starting)"
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
        primary = self.workers.get(self.primary) if self.primary is not None else None
        d.health = "ok" if primary is not None and primary.ready else self.unavailable_reason()
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
        data["metrics"] = {**self.stats.snapshot(), "queued": self.queued()}
        data["workers"] = {str(v): {"state": w.state, "device": w.info.device,
                                    "pid": w.proc.pid if w.proc else None,
                                    "queued": len(w.queue), "in_flight": w.in_flight,
                                    "restarts": w.restarts}
                           for v, w in self.workers.items()}
        data["rollout"] = self.rollout
        data["mlflow_version"] = self.mlflow_version
        return data

    # ------------------------------------------------------------------ scoring
    async def score(self, body: bytes, size: int, content_type: str, began: float
                    ) -> tuple[int, bytes, str, list[tuple[bytes, bytes]]]:
        """One POST /invocations: (status, body, media type, extra headers)."""
        loop = asyncio.get_running_loop()
        settings = self.settings
        retry = [(b"retry-after", b"1")]
        if size > settings.max_request_bytes:
            self.stats.record(413, loop.time() - began)
            return 413, error_body(f"the request body is larger than this deployment's limit "
                                   f"of {settings.max_request_bytes} bytes: split it"), JSON, []
        try:
            info = inspect_payload(body, content_type)
        except PayloadError as exc:
            self.stats.record(exc.status, loop.time() - began)
            return exc.status, error_body(str(exc)), JSON, []
        if info.rows > settings.max_request_rows:
            self.stats.record(413, loop.time() - began)
            return 413, error_body(f"the request has {info.rows} rows; this deployment takes "
                                   f"at most {settings.max_request_rows} per request: split "
                                   "it"), JSON, []
        worker = self.choose()
        if worker is None:
            self.stats.record(503, loop.time() - began)
            return 503, error_body(self.unavailable_reason(), "TEMPORARILY_UNAVAILABLE"), \
                JSON, retry
        if self.queued() >= settings.max_queue:
            self.stats.record(503, loop.time() - began)
            return 503, error_body(f"the queue is full ({settings.max_queue} requests "
                                   "waiting): retry later", "TEMPORARILY_UNAVAILABLE"), \
                JSON, retry
        future: asyncio.Future[Answer] = loop.create_future()
        worker.submit(Item(body, content_type, info, future, began))
        status, data, media = await future
        self.stats.record(status, loop.time() - began)
        return status, data, media, [(b"x-model-version", str(worker.version).encode())]

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
        self.deployment.status = "stopped"
        write_json(self.folder / STATE_FILE, self.deployment.to_dict())
