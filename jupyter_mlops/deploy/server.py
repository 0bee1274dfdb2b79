"""The serving front of a local deployment: ``python -m jupyter_mlops.deploy.server DIR``.

One detached process per deployment. It answers MLflow's scoring protocol on the
deployment's stable port (FastAPI on uvicorn) and supervises one model worker process per
live version (``worker.py``). Requests are batched dynamically per version (up to
``max_batch_size`` rows, waiting at most ``max_wait_ms`` for more while the worker is busy)
through a bounded queue (503 when full). A version takes traffic only after it loaded, its
warm-up request succeeded and a health-check request went through this front; a crashed
worker is restarted with backoff. Admin routes under ``/-/admin/`` (bearer token from
``secret.json``) start versions, roll back, promote a canary and shut down.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from .ipc import encode, read_frame
from .protocol import JSON, PayloadError, PayloadInfo, dumps, error_body, inspect_payload
from .state import SECRET_FILE, STATE_FILE, Deployment, VersionInfo, write_json

DRAIN_LIMIT = 64 * 1024 * 1024  # an oversized body is read to here before the 413
MAX_IN_FLIGHT = 2  # batches sent to a worker before the first comes back
MAX_RESTARTS = 5  # consecutive failed restarts before a version is marked failed
STABLE_AFTER_S = 60.0  # a worker up this long resets the restart counter


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} front: {message}", flush=True)


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 0
    max_batch_size: int = 64
    max_wait_ms: float = 2.0
    max_queue: int = 1024
    max_request_bytes: int = 16 * 1024 * 1024
    max_request_rows: int = 100_000
    gpu: str = "auto"
    cpu_threads: int = 0
    start_timeout_s: float = 600.0
    python: str = sys.executable

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


class Item:
    __slots__ = ("body", "ct", "future", "key", "rows", "t")

    def __init__(self, body: bytes, ct: str, info: PayloadInfo,
                 future: asyncio.Future[tuple[int, bytes, str]], t: float) -> None:
        self.body, self.ct, self.rows, self.key = body, ct, info.rows, info.merge_key
        self.future = future
        self.t = t


def _fail(items: Any, status: int, message: str) -> None:
    body = error_body(message, "TEMPORARILY_UNAVAILABLE" if status == 503 else "INTERNAL_ERROR")
    for item in items:
        if not item.future.done():
            item.future.set_result((status, body, JSON))


class Stats:
    """Recent latency and counts, for the Deploy panel and ``deployments``."""

    def __init__(self, keep: int = 2048) -> None:
        self.latencies: deque[float] = deque(maxlen=keep)
        self.counts = {"requests": 0, "ok": 0, "client_errors": 0, "rejected": 0,
                       "server_errors": 0}
        self.per_second: deque[list[float]] = deque(maxlen=12)
        self.batches = 0
        self.batched_rows = 0
        self.max_batch_rows = 0

    def batch(self, rows: int) -> None:
        self.batches += 1
        self.batched_rows += rows
        self.max_batch_rows = max(self.max_batch_rows, rows)

    def record(self, status: int, seconds: float) -> None:
        self.counts["requests"] += 1
        if status == 200:
            self.counts["ok"] += 1
            self.latencies.append(seconds)
        elif status == 503:
            self.counts["rejected"] += 1
        elif status < 500:
            self.counts["client_errors"] += 1
        else:
            self.counts["server_errors"] += 1
        now = int(time.time())
        if self.per_second and self.per_second[-1][0] == now:
            self.per_second[-1][1] += 1
        else:
            self.per_second.append([now, 1])

    def snapshot(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.counts)
        ordered = sorted(self.latencies)
        if ordered:
            data["p50_ms"] = round(ordered[len(ordered) // 2] * 1000, 2)
            data["p99_ms"] = round(ordered[min(len(ordered) - 1, int(len(ordered) * .99))]
                                   * 1000, 2)
        now = int(time.time())
        recent = [c for t, c in self.per_second if now - 10 <= t < now]
        data["rps"] = round(sum(recent) / 10, 1)
        data["batches"] = self.batches
        data["max_batch_rows"] = self.max_batch_rows
        data["mean_batch_rows"] = round(self.batched_rows / self.batches, 2) \
            if self.batches else 0.0
        return data


class Worker:
    """One version's model process, its queue and its batcher."""

    def __init__(self, front: ServingFront, info: VersionInfo) -> None:
        self.front = front
        self.info = info
        self.version = info.version
        self.queue: deque[Item] = deque()
        self.queued_rows = 0
        self.in_flight = 0
        self.pending: dict[int, list[Item]] = {}
        self.next_id = 0
        self.state = "starting"  # starting, loading, warming, ready, restarting, stopped, failed
        self.proc: asyncio.subprocess.Process | None = None
        self.changed = asyncio.Event()
        self.restarts = 0
        self.started_at = 0.0
        self.warmup_payload = b""
        self.mlflow_version = ""
        self.stopping = False
        self.recovering = False  # restarting after a crash
        self.tasks: list[asyncio.Task[Any]] = []

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    # ------------------------------------------------------------------ process
    async def launch(self, on_phase: Callable[[str], None]) -> tuple[bool, str]:
        """Start the process and wait until it loaded and warmed up (or failed)."""
        settings = self.front.settings
        logs = self.front.folder / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"v{self.version}.log", "ab") as log_file:
            self.proc = await asyncio.create_subprocess_exec(
                settings.python, "-m", "jupyter_mlops.deploy.worker",
                "--model", str(self.info.path), "--device", settings.gpu,
                "--threads", str(settings.cpu_threads),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=log_file, limit=2 ** 26,
            )
        proc = self.proc
        assert proc.stdout is not None
        deadline = time.monotonic() + settings.start_timeout_s
        self.state = "loading"
        while True:
            try:
                header, body = await asyncio.wait_for(
                    read_frame(proc.stdout), max(0.1, deadline - time.monotonic()))
            except asyncio.IncompleteReadError:
                code = await proc.wait()
                return False, (f"the model process exited with code {code} while starting "
                               f"({self.front.last_log_line(self.version)})")
            except asyncio.TimeoutError:
                await self._kill()
                return False, (f"the model was not ready within {settings.start_timeout_s:g} s"
                               " (see its log)")
            event = header.get("event")
            if event in ("loading", "warming"):
                self.state = event
                on_phase(event)
            elif event == "failed":
                await proc.wait()
                return False, str(header.get("message"))
            elif event == "ready":
                self.info.device = header.get("device")
                self.info.warmup_ms = header.get("warmup_ms")
                if header.get("note"):
                    self.info.message = header["note"]
                self.mlflow_version = str(header.get("mlflow_version", ""))
                self.warmup_payload = body
                break
        self.state = "ready"
        self.started_at = time.monotonic()
        self.tasks = [asyncio.create_task(self._read_loop(proc)),
                      asyncio.create_task(self._batch_loop())]
        return True, ""

    async def health_check(self) -> tuple[bool, str]:
        """The warm-up payload once more, through this front's own queue and batcher."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[int, bytes, str]] = loop.create_future()
        try:
            info = inspect_payload(self.warmup_payload, JSON)
        except PayloadError as exc:
            return False, f"the warm-up payload is not a valid request: {exc}"
        self.submit(Item(self.warmup_payload, JSON, info, future, loop.time()))
        try:
            status, body, _ = await asyncio.wait_for(future, 120)
        except asyncio.TimeoutError:
            return False, "the health-check request got no answer within 120 s"
        if status != 200:
            return False, f"the health-check request failed with HTTP {status}: " + \
                body.decode(errors="replace")[:300]
        return True, ""

    async def _kill(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()

    async def stop(self, *, drain: bool = True, timeout: float = 30.0) -> None:
        """Finish what is queued (when ``drain``), then end the process."""
        self.stopping = True
        if drain:
            deadline = time.monotonic() + timeout
            while (self.queue or self.in_flight) and time.monotonic() < deadline \
                    and self.state == "ready":
                self.changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), 0.5)
        proc = self.proc
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()  # the worker exits at end of input
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except asyncio.TimeoutError:
                await self._kill()
        for task in self.tasks:
            task.cancel()
        _fail(list(self.queue), 503, f"version {self.version} was stopped: retry")
        self.queue.clear()
        self.state = "stopped"

    # ------------------------------------------------------------------ requests
    def submit(self, item: Item) -> None:
        self.queue.append(item)
        self.queued_rows += item.rows
        self.changed.set()

    def _take(self, max_rows: int) -> list[Item]:
        head = self.queue.popleft()
        batch, rows = [head], head.rows
        if head.key is not None:
            while self.queue and self.queue[0].key == head.key \
                    and rows + self.queue[0].rows <= max_rows:
                item = self.queue.popleft()
                batch.append(item)
                rows += item.rows
        self.queued_rows -= rows
        return [item for item in batch if not item.future.done()]

    async def _batch_loop(self) -> None:
        settings = self.front.settings
        max_rows = settings.max_batch_size
        wait = settings.max_wait_ms / 1000
        loop = asyncio.get_running_loop()
        while True:
            while not self.queue or self.in_flight >= MAX_IN_FLIGHT or not self.ready:
                self.changed.clear()
                await self.changed.wait()
            if self.in_flight and self.queued_rows < max_rows:
                # the worker is busy: gather more rows while it works, at most max_wait
                deadline = self.queue[0].t + wait
                while self.in_flight and self.queued_rows < max_rows:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    self.changed.clear()
                    try:
                        await asyncio.wait_for(self.changed.wait(), left)
                    except asyncio.TimeoutError:
                        break
                if self.in_flight >= MAX_IN_FLIGHT or not self.queue or not self.ready:
                    continue
            batch = self._take(max_rows)
            if batch:
                self._send(batch)

    def _send(self, batch: list[Item]) -> None:
        proc = self.proc
        assert proc is not None and proc.stdin is not None
        self.next_id += 1
        self.pending[self.next_id] = batch
        header = {"id": self.next_id, "merge": len(batch) > 1 and batch[0].key is not None,
                  "items": [{"ct": i.ct, "len": len(i.body), "rows": i.rows} for i in batch]}
        self.in_flight += 1
        self.front.stats.batch(sum(i.rows for i in batch))
        proc.stdin.write(encode(header, b"".join(i.body for i in batch)))

    async def _read_loop(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while True:
                header, body = await read_frame(proc.stdout)
                items = self.pending.pop(header["id"], [])
                offset = 0
                for item, result in zip(items, header["results"], strict=False):
                    data = body[offset:offset + result["len"]]
                    offset += result["len"]
                    if not item.future.done():
                        item.future.set_result((result["status"], data, result["ct"]))
                self.in_flight -= 1
                self.changed.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        code = await proc.wait()
        if self.stopping:
            return
        self.front.spawn(self._recover(code))

    async def _recover(self, code: int | None) -> None:
        """The worker died under us: fail what it held, restart it with backoff."""
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        message = (f"the model process of version {self.version} exited (code {code}); "
                   "it is being restarted: retry")
        for batch in self.pending.values():
            _fail(batch, 503, message)
        self.pending.clear()
        _fail(list(self.queue), 503, message)
        self.queue.clear()
        self.queued_rows = 0
        self.in_flight = 0
        if time.monotonic() - self.started_at > STABLE_AFTER_S:
            self.restarts = 0
        log(f"v{self.version}: model process exited with code {code}; restarting")
        self.recovering = True
        while not self.stopping:
            self.state = "restarting"
            self.front.persist()
            self.restarts += 1
            if self.restarts > MAX_RESTARTS:
                self.state = "failed"
                self.recovering = False
                self.info.message = (f"crashed {MAX_RESTARTS} times in a row; last exit code "
                                     f"{code}: see its log")
                log(f"v{self.version}: giving up after {MAX_RESTARTS} restarts")
                self.front.persist()
                return
            await asyncio.sleep(min(30.0, 0.5 * 2 ** (self.restarts - 1)))
            ok, why = await self.launch(lambda _phase: None)
            if ok:
                self.recovering = False
                log(f"v{self.version}: restarted on {self.info.device}")
                self.front.persist()
                return
            log(f"v{self.version}: restart failed: {why}")


class ServingFront:
    """Routes requests to the live versions and keeps ``deployment.json`` up to date."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        secret = json.loads((folder / SECRET_FILE).read_text(encoding="utf-8"))
        self.token: str = secret["token"]
        self.deployment = Deployment.from_dict(
            json.loads((folder / STATE_FILE).read_text(encoding="utf-8")))
        self.settings = Settings.from_dict(self.deployment.settings)
        self.workers: dict[int, Worker] = {}
        self.primary: int | None = None
        self.canary: tuple[int, int] | None = None
        self.counter = 0
        self.rollout: dict[str, Any] | None = None
        self.busy = asyncio.Lock()
        self.stats = Stats()
        self.should_exit: Callable[[], None] = lambda: None
        self.mlflow_version = ""
        self.background: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ routing
    def choose(self) -> Worker | None:
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
    def status(self) -> str:
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
            if worker is not None and worker.state not in ("ready", "stopped"):
                info.status = worker.state
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

    def last_log_line(self, version: int) -> str:
        try:
            lines = (self.folder / "logs" / f"v{version}.log").read_text(
                errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1][:300] if lines else "empty log"

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
        future: asyncio.Future[tuple[int, bytes, str]] = loop.create_future()
        worker.submit(Item(body, content_type, info, future, began))
        status, data, media = await future
        self.stats.record(status, loop.time() - began)
        return status, data, media, [(b"x-model-version", str(worker.version).encode())]

    # ------------------------------------------------------------------ versions
    async def start_version(self, info: VersionInfo) -> tuple[Worker | None, str]:
        """Launch a version and health-check it; it takes no traffic yet."""
        def phase(name: str) -> None:
            if self.rollout is not None:
                self.rollout["phase"] = {"loading": "loading model",
                                         "warming": "warming up"}.get(name, name)

        if self.rollout is not None:
            self.rollout["phase"] = "starting process"
        worker = Worker(self, info)
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
            self.rollout.update(ok=False, phase="failed", message=(
                f"version {info.version} did not become healthy: {why}{keeps}"))
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
        self.rollout.update(ok=True, phase="done")
        self.persist()

    async def _retire(self, version: int, status: str) -> None:
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
            self.rollout.update(version=self.primary, ok=True, phase="done",
                                message=f"canary version {version} removed")
            log(f"rollback: canary v{version} removed, v{self.primary} takes all traffic")
            self.persist()
            return
        history = self.deployment.history
        if len(history) < 2:
            self.rollout.update(ok=False, phase="failed",
                                message="there is no previous version to roll back to")
            return
        current, target = history[-1], history[-2]
        info = self.deployment.get_version(target)
        assert info is not None
        self.rollout["version"] = target
        worker, why = await self.start_version(info)
        if worker is None:
            info.message = why
            self.rollout.update(ok=False, phase="failed", message=(
                f"version {target} did not start again: {why}; version {current} keeps "
                "serving"))
            self.persist()
            return
        history.pop()
        self.primary = target
        info.status = "serving"
        log(f"rollback: v{target} serving again; v{current} rolled back")
        self.spawn(self._retire(current, "rolled back"))
        self.rollout.update(ok=True, phase="done")
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


# ---------------------------------------------------------------------------- the app


def create_app(front: ServingFront) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        boot = front.deployment.get_version(front.deployment.details.get("boot_version", -1))
        if boot is not None:
            task = asyncio.create_task(front.roll_out(boot, None))
        yield
        if boot is not None:
            task.cancel()
        await front.shutdown()

    app = FastAPI(title=f"jupyter-mlops deployment {front.deployment.name}", docs_url=None,
                  redoc_url=None, openapi_url=None, lifespan=lifespan)

    def unavailable() -> Response:
        return Response(error_body(front.unavailable_reason(), "TEMPORARILY_UNAVAILABLE"),
                        503, media_type=JSON, headers={"Retry-After": "1"})

    async def health() -> Response:
        if front.primary_ready():
            return Response("\n", 200, media_type=JSON)
        return unavailable()

    app.get("/ping")(health)
    app.get("/health")(health)

    @app.get("/version")
    async def version() -> Response:
        return Response(front.mlflow_version or "unknown", 200, media_type=JSON)

    # -------------------------------------------------------------- admin
    def authorized(request: Request) -> bool:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {front.token}".encode())

    def reply(data: Any, status: int = 200) -> Response:
        return Response(dumps(data), status, media_type=JSON)

    def forbidden() -> Response:
        return reply({"message": "admin token required"}, 403)

    @app.get("/-/admin/status")
    async def admin_status(request: Request) -> Response:
        if not authorized(request):
            return forbidden()
        return reply(front.live())

    @app.post("/-/admin/versions")
    async def admin_version(request: Request) -> Response:
        if not authorized(request):
            return forbidden()
        if front.rollout is not None and front.rollout.get("ok") is None:
            return reply({"message": f"a rollout of version {front.rollout.get('version')} "
                                     "is in progress: wait for it"}, 409)
        body = json.loads(await request.body())
        info = VersionInfo.from_dict(body["version"])
        canary = body.get("canary")
        front.rollout = {"version": info.version, "phase": "queued", "ok": None}
        front.spawn(front.roll_out(info, int(canary) if canary else None))
        return reply({"version": info.version}, 202)

    @app.post("/-/admin/rollback")
    async def admin_rollback(request: Request) -> Response:
        if not authorized(request):
            return forbidden()
        if front.rollout is not None and front.rollout.get("ok") is None:
            return reply({"message": "a rollout is in progress: wait for it"}, 409)
        if front.canary is None and len(front.deployment.history) < 2:
            return reply({"message": "there is no previous version to roll back to"}, 400)
        front.rollout = {"version": None, "phase": "queued", "ok": None, "kind": "rollback"}
        front.spawn(front.roll_back())
        return reply({"accepted": True}, 202)

    @app.post("/-/admin/promote")
    async def admin_promote(request: Request) -> Response:
        if not authorized(request):
            return forbidden()
        why = await front.promote()
        return reply({"message": why}, 400) if why else reply(front.live())

    @app.post("/-/admin/shutdown")
    async def admin_shutdown(request: Request) -> Response:
        if not authorized(request):
            return forbidden()
        asyncio.get_running_loop().call_later(0.05, front.should_exit)
        return reply({"stopping": True}, 202)

    return app


class ScoringApp:
    """The ASGI app uvicorn runs: ``POST /invocations`` is answered here directly (the hot
    path: no routing, no dependency injection), everything else by the FastAPI app."""

    def __init__(self, front: ServingFront, app: FastAPI) -> None:
        self.front = front
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/invocations" \
                or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        began = asyncio.get_running_loop().time()
        content_type = JSON
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value.decode("latin-1")
        limit = self.front.settings.max_request_bytes
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
            elif size > DRAIN_LIMIT:
                break
            # an oversized body is read (and dropped) so the client gets the 413, not a reset
        status, body, media, headers = await self.front.score(
            b"".join(chunks), size, content_type, began)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", media.encode()),
                                (b"content-length", str(len(body)).encode()), *headers]})
        await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m jupyter_mlops.deploy.server DEPLOYMENT_FOLDER", file=sys.stderr)
        return 2
    folder = Path(args[0]).resolve()
    import uvicorn

    front = ServingFront(folder)
    settings = front.settings
    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        front.deployment.status = "failed"
        front.deployment.message = (f"port {settings.port} on {settings.host} is in use "
                                    f"({exc.strerror}): deploy with another port")
        write_json(folder / STATE_FILE, front.deployment.to_dict())
        log(front.deployment.message)
        return 2
    sock.listen(2048)
    sock.set_inheritable(False)
    front.deployment.pid = os.getpid()
    app = ScoringApp(front, create_app(front))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=10, backlog=2048)
    server = uvicorn.Server(config)

    def stop() -> None:
        server.should_exit = True

    front.should_exit = stop
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # detached: a closed terminal is no reason
    log(f"serving {front.deployment.name} on http://{settings.host}:{settings.port} "
        f"(pid {os.getpid()}, uvicorn {uvicorn.__version__}, max batch "
        f"{settings.max_batch_size} rows, max wait {settings.max_wait_ms:g} ms, queue "
        f"{settings.max_queue})")
    server.run(sockets=[sock])
    log("stopped")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
