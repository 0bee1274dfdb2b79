"""One model version as the serving front drives it: its model process (``worker.py``), its
request queue and its dynamic batcher.

Requests wait in a queue per version; the batcher sends them to the process in batches of up
to ``max_batch_size`` rows (requests with the same merge key are merged), waiting at most
``max_wait_ms`` for more while the process is busy, with at most ``MAX_IN_FLIGHT`` batches
out at once. A process that dies is restarted with backoff; what it held is answered 503.
A request that times out (the front answers it 504) leaves the queue; if its batch was sent
already, the answer that comes later is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, Literal, Protocol

from ..paths import make_folder
from .ipc import WorkerEvent, encode, read_frame
from .protocol import JSON, PayloadError, PayloadInfo, error_body, inspect_payload
from .state import ServingSettings, VersionInfo
from .stats import Stats

MAX_IN_FLIGHT = 2  # batches sent to a worker before the first comes back
MAX_RESTARTS = 5  # consecutive failed restarts before a version is marked failed
STABLE_AFTER_S = 60.0  # a worker up this long resets the restart counter

WorkerState = Literal["starting", "loading", "warming", "ready", "restarting", "stopped",
                      "failed"]
Answer = tuple[int, bytes, str]  # HTTP status, body, media type


def log(message: str) -> None:
    """One line of the serving process's log (``logs/server.log``)."""
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} front: {message}", flush=True)


class Front(Protocol):
    """What a version worker needs of the serving front that owns it."""

    folder: Path
    settings: ServingSettings
    stats: Stats

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None: ...

    def batched(self, version: int, rows: int) -> None: ...

    def persist(self) -> None: ...


class Item:
    """One request waiting for its answer: its body, content type, rows and merge key."""

    __slots__ = ("body", "ct", "future", "key", "rows", "t")

    def __init__(self, body: bytes, ct: str, info: PayloadInfo,
                 future: asyncio.Future[Answer], t: float) -> None:
        self.body, self.ct, self.rows, self.key = body, ct, info.rows, info.merge_key
        self.future = future
        self.t = t


def fail(items: Iterable[Item], status: int, message: str) -> None:
    """Answer every item not answered yet with an error."""
    body = error_body(message, "TEMPORARILY_UNAVAILABLE" if status == 503 else "INTERNAL_ERROR")
    for item in items:
        if not item.future.done():
            item.future.set_result((status, body, JSON))


class VersionWorker:
    """One version's model process, its queue and its batcher."""

    def __init__(self, front: Front, info: VersionInfo) -> None:
        self.front = front
        self.info = info
        self.version = info.version
        self.queue: deque[Item] = deque()
        self.queued_rows = 0
        self.in_flight = 0
        self.pending: dict[int, list[Item]] = {}
        self.sent_at: dict[int, float] = {}  # batch id -> when it went to the process
        self.next_id = 0
        self.state: WorkerState = "starting"
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

    def busy_for(self) -> float:
        """Seconds the oldest batch out has waited for its answer (0: none is out)."""
        if not self.sent_at:
            return 0.0
        return time.monotonic() - min(self.sent_at.values())

    # ------------------------------------------------------------------ process
    async def launch(self, on_phase: Callable[[WorkerState], None]) -> tuple[bool, str]:
        """Start the process and wait until it loaded and warmed up (or failed)."""
        settings = self.front.settings
        logs = make_folder(self.front.folder / "logs")
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
                               f"({self.last_log_line()})")
            except asyncio.TimeoutError:
                await self._kill()
                return False, (f"the model was not ready within {settings.start_timeout_s:g} s"
                               " (see its log)")
            event: WorkerEvent | None = header.get("event")
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
        future: asyncio.Future[Answer] = loop.create_future()
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
        fail(list(self.queue), 503, f"version {self.version} was stopped: retry")
        self.queue.clear()
        self.state = "stopped"

    # ------------------------------------------------------------------ requests
    def submit(self, item: Item) -> None:
        self.queue.append(item)
        self.queued_rows += item.rows
        self.changed.set()

    def forget(self, item: Item) -> None:
        """``item`` was answered without the model (timed out): out of the queue if there."""
        with contextlib.suppress(ValueError):
            self.queue.remove(item)
            self.queued_rows -= item.rows

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
        self.sent_at[self.next_id] = time.monotonic()
        header = {"id": self.next_id, "merge": len(batch) > 1 and batch[0].key is not None,
                  "items": [{"ct": i.ct, "len": len(i.body), "rows": i.rows} for i in batch]}
        self.in_flight += 1
        self.front.batched(self.version, sum(i.rows for i in batch))
        proc.stdin.write(encode(header, b"".join(i.body for i in batch)))

    async def _read_loop(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while True:
                header, body = await read_frame(proc.stdout)
                items = self.pending.pop(header["id"], [])
                self.sent_at.pop(header["id"], None)
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
            fail(batch, 503, message)
        self.pending.clear()
        self.sent_at.clear()
        fail(list(self.queue), 503, message)
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

    def last_log_line(self) -> str:
        try:
            lines = (self.front.folder / "logs" / f"v{self.version}.log").read_text(
                errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1][:300] if lines else "empty log"
