"""Non-blocking logging: a bounded in-memory queue and one background thread sending batches.

``put()`` is the hot path of ``mlops.log()``: it appends to a deque and wakes the sender. The
sender takes what is queued, cuts it into ``log_batch`` calls within MLflow's limits, writes
each batch to the run's journal (``journal.py``), sends it, and marks it done. When the store
cannot be reached it keeps writing to the journal and retries with backoff; when the store is
back it replays the journal, checking points of requests that may have been applied so every
point arrives exactly once. Journals left by a kernel that died are replayed by the next one.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .journal import Journal, journal_dir
from .queued import FlushResult, Marker, Op, RunRef, StoreLink, Work, WorkOp, take_batch
from .transport import InDoubt, NotApplied, Rejected, Transport, TransportError

__all__ = ["SENDER", "FlushResult", "Op", "RunRef", "Sender", "StoreLink", "queue_status"]

MAX_QUEUE = 200_000  # points held in memory before the journal takes them
FULL_WAIT = 2.0  # seconds log() may wait for room before the queue is spilled to disk
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0


class Sender:
    """The queue of this process's tracking calls and the thread that sends it (one idea:
    the queue, its journal and its replay share the sender's state and lock)."""

    def __init__(self, max_queue: int = MAX_QUEUE) -> None:
        self.max_queue = max_queue
        self._buf: deque[Any] = deque()
        self._wake = threading.Event()
        self._room = threading.Condition()
        self._pop_lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stores: dict[str, StoreLink] = {}
        self._runs: dict[str, RunRef] = {}  # local_id -> live run with an open journal
        self._orphans: list[tuple[StoreLink, Journal]] = []
        self._scanned: set[tuple[str, Path]] = set()
        self.notices: deque[str] = deque()
        self.sent_points = 0
        self.journaled_points = 0
        self.rejected = 0
        self.dropped_points = 0  # not journaled: the journal was at its cap
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.in_flight = False
        self._requests = 0  # requests completed, to tell a stuck sender from a slow one
        self._spill_mark = -1

    # ------------------------------------------------------------------ user thread

    @contextlib.contextmanager
    def intercept(self, wrap: Callable[[Callable[[Any], None]], Callable[[Any], None]]
                  ) -> Iterator[None]:
        """While the block runs, ``put`` is ``wrap(the put before)``: a sweep's metric watcher
        and a worker's relay see (or take) what is queued. Interceptions nest: each puts back
        the one it replaced."""
        before = vars(self).get("put")
        self.put = wrap(self.put)  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            if before is None:
                vars(self).pop("put", None)
            else:
                self.put = before  # type: ignore[method-assign]

    def put(self, item: Any) -> None:
        """Queue a metric point ``(run, key, value, timestamp, step)`` or an ``Op``."""
        buf = self._buf
        if len(buf) >= self.max_queue:
            self._full()
        buf.append(item)
        if not self._wake.is_set():
            self._wake.set()

    def _full(self) -> None:
        """The sender is behind: wait a little for room, then move the queue to the journals
        on disk rather than stall the training loop. While the request that made it fall
        behind is still out, later overflows go to the journals at once."""
        if self.in_flight and self._spill_mark == self._requests:
            self.spill()
            return
        deadline = time.monotonic() + FULL_WAIT
        with self._room:
            while len(self._buf) >= self.max_queue and time.monotonic() < deadline:
                self._wake.set()
                self._room.wait(0.05)
        if len(self._buf) >= self.max_queue:
            self._spill_mark = self._requests
            self.spill()

    def store(self, uri: str, shown: str, transport_factory: Any) -> StoreLink:
        link = self._stores.get(uri)
        if link is None:
            link = StoreLink(uri, shown, transport_factory())
            self._stores[uri] = link
        return link

    def holds_runs(self) -> bool:
        """Whether any run was started in this process (so there may be something to send)."""
        return bool(self._runs)

    def register(self, run: RunRef) -> None:
        self._runs[run.local_id] = run
        self.start()

    def start(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="mlops-tracking-sender",
                                                daemon=True)
                self._thread.start()

    def adopt_orphans(self, link: StoreLink, state_dir: Path) -> int:
        """Journals of this store under ``state_dir`` left by kernels that are gone: the
        sender replays them."""
        folder = journal_dir(state_dir)
        if (link.uri, folder) in self._scanned:
            return 0
        self._scanned.add((link.uri, folder))
        found = 0
        if folder.is_dir():
            for path in sorted(folder.glob("*.jsonl"), key=_mtime):
                if path.stem in self._runs:
                    continue
                journal = Journal.adopt(path)
                if journal is None:
                    continue
                if journal.header.get("uri") not in (None, link.uri):
                    journal.close(remove=False)
                    continue
                self._orphans.append((link, journal))
                found += 1
        if found:
            link.retry_at = 0.0
            self.start()
            self._wake.set()
        return found

    def flush(self, timeout: float) -> FlushResult:
        """Wait up to ``timeout`` seconds until everything queued so far is in the store (or,
        when the store is unreachable, safe in a journal)."""
        if self._thread is None and not self._buf:
            return self.result(0)
        self.start()
        marker = Marker()
        self._buf.append(marker)
        self._wake.set()
        if not marker.event.wait(max(0.0, timeout)):
            return FlushResult(False, self.queued_points() + self.journaled_points,
                               self.offline, self.last_error)
        return self.result(marker.pending_points)

    def result(self, pending: int) -> FlushResult:
        return FlushResult(pending == 0 and not self.offline, pending, self.offline,
                           self.last_error)

    @property
    def offline(self) -> bool:
        return any(link.offline for link in self._stores.values())

    def queued_points(self) -> int:
        return sum(1 for item in list(self._buf) if type(item) is tuple)

    def spill(self) -> int:
        """Move everything queued to the journals without sending (at exit, or when the queue
        is full): nothing waits in memory; the sender replays the journals."""
        moved = 0
        with self._pop_lock:
            while True:
                work = self._take(spill=True)
                if work is None:
                    break
                if isinstance(work, Marker):
                    work.pending_points = max(1, self.journaled_points)
                    work.event.set()
                    continue
                moved += len(work.data.get("m", ()))
        for run in list(self._runs.values()):
            run.journal.sync()
        with self._room:
            self._room.notify_all()
        return moved

    def mark_offline(self, link: StoreLink, reason: str) -> None:
        self._go_offline(link, NotApplied(reason))
        self._wake.set()

    def take_notices(self) -> list[str]:
        out = []
        while self.notices:
            out.append(self.notices.popleft())
        return out

    def status(self) -> dict[str, Any]:
        return {
            "queued": self.queued_points(),
            "journaled": self.journaled_points,
            "sent": self.sent_points,
            "rejected": self.rejected,
            "offline": sorted(link.shown for link in self._stores.values() if link.offline),
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "running": self._thread is not None and self._thread.is_alive(),
        }

    def reset(self) -> None:
        """Forget every store, run and message (for tests); journals stay on disk."""
        with self._pop_lock:
            self._buf.clear()
            for run in self._runs.values():
                run.journal.close(remove=False)
            for _, journal in self._orphans:
                journal.close(remove=False)
            self._runs.clear()
            self._orphans.clear()
            self._stores.clear()
            self._scanned.clear()
            self.notices.clear()
            self.last_error = self.last_error_at = None
            self.sent_points = self.journaled_points = self.rejected = self.dropped_points = 0

    # ------------------------------------------------------------------ sender thread

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._next_retry())
            self._wake.clear()
            try:
                self._drain()
                self._retry_due()
            except Exception as exc:  # the sender must never die: record, wait, carry on
                self._error(f"{type(exc).__name__}: {exc}")
                for link in self._stores.values():
                    link.retry_at = time.monotonic() + 5.0
                time.sleep(0.1)

    def _next_retry(self) -> float | None:
        waiting = [link.retry_at for link in self._stores.values()
                   if link.offline or self._has_backlog(link)]
        if not waiting:
            return None
        return max(0.0, min(waiting) - time.monotonic())

    def _has_backlog(self, link: StoreLink) -> bool:
        return any(j_link is link for j_link, _ in self._orphans) or any(
            run.store is link and run.journal.has_pending for run in self._runs.values())

    def _drain(self) -> None:
        while True:
            with self._pop_lock:
                work = self._take(spill=False)
            if work is None:
                return
            if isinstance(work, Marker):
                self._replay_now()
                work.pending_points = self._pending_points()
                work.event.set()
                continue
            if work.send:
                self._execute(work)

    def _pending_points(self) -> int:
        total = self.queued_points()
        for run in self._runs.values():
            if run.journal.has_pending:
                total += run.journal.pending().points
        for _, journal in self._orphans:
            total += journal.pending().points
        return total

    def _take(self, *, spill: bool) -> Work | Marker | None:
        """Pop the next unit of work (a batch for one run, an artifact, an end, or a flush
        marker) and write it to the run's journal. Called under ``_pop_lock``."""
        buf = self._buf
        try:
            first = buf.popleft()
        except IndexError:
            return None
        if isinstance(first, Marker):
            return first
        run: RunRef = first[0] if type(first) is tuple else first.run
        if type(first) is not tuple and first.kind in ("artifact", "end"):
            work = Work(run, first.kind, first.data)
        else:
            work = take_batch(first, run, buf)
        with self._room:
            self._room.notify_all()
        journal = run.journal
        send = not spill and not run.store.offline and run.run_id is not None \
            and not journal.has_pending
        seq = journal.append(work.op, work.data, tried=send)
        work.seq, work.send = seq or 0, send
        if seq is None:  # the journal is at its cap: dropped, said once until it empties
            self._dropped(run, len(work.data.get("m", ())))
        elif not send:
            self.journaled_points += len(work.data.get("m", ()))
            if run.store.offline:
                journal.sync()
        return work

    def _dropped(self, run: RunRef, points: int) -> None:
        self.dropped_points += points
        if not run.journal.capped_told:
            run.journal.capped_told = True
            cap = run.journal.cap / 1024 ** 2
            self.notices.append(
                f"mlops: the journal of run {run.run_id or run.local_id} is full ({cap:.3g} MB "
                f"under .mlops/tracking/journal/) while tracking store {run.store.shown} is "
                "unreachable: later points and artifacts of this run are dropped until the "
                "store is back")

    def _execute(self, work: Work) -> None:
        run, link = work.run, work.run.store
        assert run.run_id is not None
        self.in_flight = True
        try:
            self._apply(link.transport, run.run_id, run, work.op, work.data, work.seq)
        except (NotApplied, InDoubt) as exc:
            self.journaled_points += len(work.data.get("m", ()))
            run.journal.sync()
            self._go_offline(link, exc)
            return
        finally:
            self.in_flight = False
            self._requests += 1
        run.journal.mark("done", work.seq)
        run.journal.compact()
        self._after_done(run, work.op, work.data)

    def _apply(self, transport: Transport, run_id: str, run: RunRef | None, op: WorkOp,
               data: dict[str, Any], seq: int) -> None:
        """Send one journal record; a refusal is recorded (never retried), other failures are
        raised for the caller to go offline."""
        try:
            if op == "batch":
                if not (data.get("m") or data.get("p") or data.get("t")):
                    return  # a batch whose points all turned out to be in the store already
                metrics = data.get("m", ())
                transport.log_batch(run_id, metrics, data.get("p", ()), data.get("t", ()))
                self.sent_points += len(metrics)
            elif op == "artifact":
                transport.log_artifact(run_id, Path(data["file"]), data.get("path", ""))
            elif op == "end":
                transport.update_run(run_id, data["status"], data.get("end_time"))
        except Rejected as exc:
            if op == "batch" and sum(len(data.get(k, ())) for k in "mpt") > 1:
                self._apply_split(transport, run_id, data, exc)
            else:
                self._refused(f"{op}", exc)

    def _apply_split(self, transport: Transport, run_id: str, data: dict[str, Any],
                     exc: Rejected) -> None:
        """The store refused a batch: send its parts one kind (params, tags: one by one) at a
        time, so one bad entry does not cost the others."""
        metrics = data.get("m", ())
        if metrics:
            try:
                transport.log_batch(run_id, metrics, [], [])
                self.sent_points += len(metrics)
            except Rejected as inner:
                self._refused(f"{len(metrics)} metric points", inner)
        for kind in ("p", "t"):
            for key, value in data.get(kind, ()):
                try:
                    if kind == "p":
                        transport.log_batch(run_id, [], [(key, value)], [])
                    else:
                        transport.log_batch(run_id, [], [], [(key, value)])
                except Rejected as inner:
                    self._refused(f"{'param' if kind == 'p' else 'tag'} '{key}'", inner)

    def _refused(self, what: str, exc: Exception) -> None:
        self.rejected += 1
        message = f"the tracking store refused {what}: {exc}"
        self._error(message)
        self.notices.append(f"mlops: {message}")

    def _after_done(self, run: RunRef, op: WorkOp, data: dict[str, Any]) -> None:
        if op == "artifact":
            with contextlib.suppress(OSError):
                Path(data["file"]).unlink()
        if op == "end":
            run.ended = True
        if run.ended and not run.journal.has_pending:
            run.journal.close(remove=True)
            self._runs.pop(run.local_id, None)

    def _error(self, message: str) -> None:
        self.last_error = message
        self.last_error_at = time.time()

    def _go_offline(self, link: StoreLink, exc: TransportError) -> None:
        was = link.offline
        link.offline = True
        link.backoff = min(BACKOFF_MAX, max(BACKOFF_FIRST, link.backoff * 2))
        link.retry_at = time.monotonic() + link.backoff
        self._error(f"{link.shown}: {exc}")
        if not was:
            self.notices.append(
                f"mlops: tracking store {link.shown} is unreachable ({exc}); the run goes on: "
                "its points are kept in its journal under .mlops/tracking/journal/ and sent when "
                "the store is back")

    def _retry_due(self) -> None:
        now = time.monotonic()
        for link in list(self._stores.values()):
            if (link.offline or self._has_backlog(link)) and now >= link.retry_at:
                self._replay_store(link)

    def _replay_now(self) -> None:
        """Before answering a flush: try now (not at the next backoff) to send what waits."""
        for link in list(self._stores.values()):
            if link.offline or self._has_backlog(link):
                self._replay_store(link)

    def _replay_store(self, link: StoreLink) -> None:
        if not link.transport.reachable(3.0):
            self._go_offline(link, NotApplied("not reachable"))
            return
        sent_before = self.sent_points
        try:
            for orphan_link, journal in list(self._orphans):
                if orphan_link is link:
                    self._replay(link, journal, None)
                    self._orphans.remove((orphan_link, journal))
            for run in list(self._runs.values()):
                if run.store is link and (run.journal.has_pending or run.run_id is None):
                    self._replay(link, run.journal, run)
        except (NotApplied, InDoubt) as exc:
            self._go_offline(link, exc)
            return
        was = link.offline
        link.offline = False
        link.backoff = 0.0
        if was:
            self.notices.append(f"mlops: tracking store {link.shown} is back: "
                                f"{self.sent_points - sent_before} points sent from the journal")

    def _replay(self, link: StoreLink, journal: Journal, run: RunRef | None) -> None:
        """Send what a journal holds, in order; records that may have been applied already
        are checked first. Raises NotApplied/InDoubt when the store fails again."""
        transport = link.transport
        state = journal.pending()
        run_id = state.run_id
        header = journal.header
        records = state.records
        if run is None and not any(r.op == "end" for r in records):
            # its kernel died before the run ended: end it, so no run stays RUNNING forever
            seq = journal.append("end", {"status": "KILLED", "end_time": _now_ms()})
            records = journal.pending().records
            assert any(r.seq == seq for r in records)
        for record in records:
            data = record.data
            if record.op == "create":
                if run_id is None:
                    experiment_id = data.get("experiment_id") or transport.ensure_experiment(
                        data["experiment"], data.get("artifact_location"))
                    if record.tried:
                        run_id = transport.find_run([experiment_id], header["local_id"])
                    if run_id is None:
                        journal.mark("try", record.seq)
                        tags = dict(data.get("tags") or {})
                        parent = data.get("parent_local_id")
                        if parent:
                            parent_id = self._resolve(transport, parent, experiment_id)
                            if parent_id:
                                tags["mlflow.parentRunId"] = parent_id
                        run_id = transport.create_run(experiment_id, data.get("run_name"),
                                                      data["start_time"], tags)
                    journal.mark("created", record.seq, run_id=run_id)
                    if run is not None:
                        run.run_id = run_id
                        run.experiment_id = experiment_id
                journal.mark("done", record.seq)
                continue
            if run_id is None:  # pragma: no cover - a journal always starts with its run
                raise Rejected("journal has no run")
            if record.op == "batch" and record.tried and data.get("m"):
                data = {**data, "m": self._missing(transport, run_id, data["m"])}
            if not record.tried:
                journal.mark("try", record.seq)
            self.in_flight = True
            try:
                self._apply(transport, run_id, run, record.op, data, record.seq)
            finally:
                self.in_flight = False
                self._requests += 1
            journal.mark("done", record.seq)
            self.journaled_points = max(0, self.journaled_points - len(record.data.get("m", ())))
            if record.op == "artifact":
                with contextlib.suppress(OSError):
                    Path(data["file"]).unlink()
            if record.op == "end" and run is not None:
                run.ended = True
        journal.compact()
        if run is None:
            journal.close(remove=True)
        elif run.ended:
            journal.close(remove=True)
            self._runs.pop(run.local_id, None)

    def _resolve(self, transport: Transport, local_id: str, experiment_id: str) -> str | None:
        live = self._runs.get(local_id)
        if live is not None and live.run_id:
            return live.run_id
        return transport.find_run([experiment_id], local_id)

    @staticmethod
    def _missing(transport: Transport, run_id: str, metrics: list[list[Any]]
                 ) -> list[list[Any]]:
        """The points of a batch that may have been applied which the store does not hold."""
        present: dict[str, Counter[tuple[int, int, float]]] = {}
        for key in {m[0] for m in metrics}:
            present[key] = Counter((ts, step, _canon(value))
                                   for ts, step, value in transport.history(run_id, key))
        missing = []
        for key, value, ts, step in metrics:
            ident = (int(ts), int(step), _canon(float(value)))
            if present[key][ident] > 0:
                present[key][ident] -= 1
            else:
                missing.append([key, value, ts, step])
        return missing


def _canon(value: float) -> float:
    if math.isinf(value) or abs(value) >= 1.7976931348623157e308:
        return math.copysign(math.inf, value)
    return value


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


#: The one sender of this process.
SENDER = Sender()


def queue_status() -> dict[str, Any]:
    """Queue depth, points waiting in journals, points sent and the last error, for
    ``%mlops status`` and the panel."""
    return SENDER.status()
