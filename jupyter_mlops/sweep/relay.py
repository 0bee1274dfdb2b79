"""A trial in a worker process does not talk to the tracking store: the sweep's process creates
the trial's child run (``trial.start_child``), and what the trial logs to it (points, params,
tags, small files, its end) comes back down the worker's pipe and joins that process's
logging queue, in order, as if it had been logged there.

So a worker needs neither MLflow nor a connection to the store: it starts in a fraction of a
second instead of the ~2 s that importing MLflow costs on each worker (and the 2 CPU-seconds
a core spends on it while the trials wait for that core). A trial's items are sent in
batches at most ``FLUSH_SECONDS`` old, so a trial whose process dies loses at most what it
logged in its last 0.1 s (its end is sent at once; the sweep's process ends the run of a dead
one).

A trial that does use MLflow itself (``mlops.log_model``, ``mlflow.log_*``, autologging) still
can: when the trial's code names it (``needs_mlflow``) the worker imports MLflow before it
forks, and MLflow writes to the trial's run by its id (``MLFLOW_RUN_ID`` where a library the
trial calls imports it unseen).

- worker -> sweep: ``{"kind": "log", "items": [...]}``, each item one of
  ``("m", key, value, timestamp, step)``, ``("p", key, value)``, ``("t", key, value)``,
  ``("f", folder, name, content)`` and ``("e", status, end_time)``.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import threading
import time
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..tracking.queued import Op
from ..tracking.sender import SENDER

if TYPE_CHECKING:
    from ..pipeline.workers import Channel
    from ..tracking.lifecycle import ActiveRun

#: a trial's items wait at most this long (or this many) before they are sent
FLUSH_SECONDS = 0.1
FLUSH_ITEMS = 1000
#: what in a trial's code means it uses MLflow itself (the workers then import it up front)
_MLFLOW = re.compile(r"\b(mlflow|log_model|log_artifacts?|log_figure|log_table|log_dict|"
                     r"log_text|log_image|log_input|autolog)\b")


def needs_mlflow(*sources: str, function: Any = None) -> bool:
    """Whether a trial's code uses MLflow beyond ``mlops.log``: the cells' sources, or the
    names ``function``'s code (and the functions it calls, a few levels down) refers to."""
    if any(_MLFLOW.search(source) for source in sources):
        return True
    return function is not None and any(_MLFLOW.fullmatch(name) for name in _names(function))


def _names(function: Any, depth: int = 3) -> set[str]:
    found: set[str] = set()
    seen: set[int] = set()

    def visit(fn: Any, level: int) -> None:
        fn = getattr(fn, "func", fn)  # functools.partial
        code = getattr(fn, "__code__", None)
        if code is None or id(code) in seen or level > depth:
            return
        seen.add(id(code))
        stack = [code]
        names: set[str] = set()
        while stack:
            current = stack.pop()
            names.update(current.co_names)
            stack.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
        found.update(names)
        scope = getattr(fn, "__globals__", {})
        for name in names:
            value = scope.get(name)
            if isinstance(value, types.FunctionType):
                visit(value, level + 1)
            elif isinstance(value, types.ModuleType):
                found.add(value.__name__.partition(".")[0])

    visit(function, 0)
    return found


class Stage:
    """Where the trial's run stages the files it queues (the journal of a run this process
    holds would): they are read back and sent, then deleted."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="mlops-trial-"))

    def stage(self, source: Path | None, name: str, content: bytes | None = None) -> Path:
        target = Path(tempfile.mkdtemp(dir=self.folder)) / name
        if content is not None:
            target.write_bytes(content)
        elif source is not None:
            shutil.copyfile(source, target)
        return target

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class Relay:
    """In the worker's process, while a trial runs: what ``SENDER.put`` gets for the trial's
    run goes to the sweep's process, batched (at most ``FLUSH_SECONDS`` late); everything
    else (a run the trial starts itself) goes to this process's queue as usual."""

    def __init__(self, channel: Channel, run: ActiveRun) -> None:
        self.channel, self.ref = channel, run.ref
        self.items: list[tuple[Any, ...]] = []
        self.lock = threading.Lock()
        self.first = 0.0  # when the oldest waiting item came
        self._put: Any = None
        self._intercept: contextlib.AbstractContextManager[None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Relay:
        def wrap(put: Any) -> Any:
            self._put = put
            return self.put

        self._intercept = SENDER.intercept(wrap)
        self._intercept.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()
        if self._intercept is not None:
            self._intercept.__exit__(None, None, None)

    def put(self, item: Any) -> None:
        if type(item) is tuple and item[0] is self.ref:
            self._add(("m", *item[1:]))
        elif isinstance(item, Op) and item.run is self.ref:
            if item.kind == "param":
                self._add(("p", item.key, item.value))
            elif item.kind == "tag":
                self._add(("t", item.key, item.value))
            elif item.kind == "artifact":
                staged = Path(item.data["file"])
                self._add(("f", item.data["path"], staged.name, staged.read_bytes()))
                shutil.rmtree(staged.parent, ignore_errors=True)
            elif item.kind == "end":
                self._add(("e", item.data["status"], item.data["end_time"]))
                self.flush()  # the trial's end goes out before it says it is done
        else:
            self._put(item)

    def _add(self, item: tuple[Any, ...]) -> None:
        with self.lock:
            if not self.items:
                self.first = time.monotonic()
            self.items.append(item)
            full = len(self.items) >= FLUSH_ITEMS
        if full:
            self.flush()
        elif self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name="mlops-trial-relay")
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS / 2):
            with self.lock:
                due = bool(self.items) and time.monotonic() - self.first >= FLUSH_SECONDS
            if due:
                self.flush()

    def flush(self) -> None:
        with self.lock:
            items, self.items = self.items, []
            if items:  # (under the lock: batches go out in their order)
                self.channel.send({"kind": "log", "items": items})


class LockedChannel:
    """The worker's channel shared by the trial and its relay's thread: one message at a
    time on the pipe."""

    def __init__(self, channel: Channel, lock: threading.Lock) -> None:
        self.channel, self.lock = channel, lock

    def send(self, message: dict[str, Any]) -> None:
        with self.lock:
            self.channel.send(message)

    def ask(self, message: dict[str, Any]) -> Any:
        with self.lock:
            self.channel.send(message)
        return self.channel.answer()


# --------------------------------------------------------------------------- the sweep's side


def apply(run: ActiveRun, items: list[tuple[Any, ...]]) -> None:
    """A worker's items queued on ``run`` (the trial's, held here), as its own calls would
    have queued them (an end sets its status: ``run.status`` is RUNNING until then)."""
    from ..tracking import lifecycle

    ref, put = run.ref, SENDER.put
    for item in items:
        kind = item[0]
        if kind == "m":
            put((ref, *item[1:]))
            run.points += 1
        elif kind == "p":
            lifecycle._queue_params(run, {item[1]: item[2]})
        elif kind == "t":
            lifecycle._queue_tags(run, {item[1]: item[2]})
        elif kind == "f":
            lifecycle._queue_file(run, item[1], item[2], item[3])
        elif kind == "e":
            run.status = item[1]
            put(Op("end", ref, data={"status": item[1], "end_time": item[2]}))


def end_lost(run: ActiveRun, status: str, tags: dict[str, str]) -> None:
    """The run of a trial whose process is gone (or was stopped) before it ended it: ended
    here, after whatever it had sent."""
    from ..tracking import lifecycle

    with contextlib.suppress(Exception):
        lifecycle._queue_tags(run, tags)
    apply(run, [("e", status, lifecycle._now_ms())])
