"""What the sender's queue holds, and how queued items become requests.

Metric points are plain tuples ``(run, key, value, timestamp, step)`` (for speed); params,
tags, artifacts and run ends are ``Op``s; ``flush()`` puts a ``Marker``. The sender pops
them into ``Work``: one ``log_batch`` request cut within MLflow's limits, an artifact, or an
end.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from .journal import Journal
from .transport import (
    MAX_ENTITIES,
    MAX_METRICS,
    MAX_PARAMS_TAGS,
    MAX_REQUEST_BYTES,
    Point,
    Transport,
)

#: a queued operation other than a metric point
OpKind = Literal["param", "tag", "artifact", "end"]
#: what one unit of work sends (also the op of its journal record)
WorkOp = Literal["batch", "artifact", "end"]


class StoreLink:
    """One tracking store as the sender sees it: reachable or not, and when to try again."""

    def __init__(self, uri: str, shown: str, transport: Transport) -> None:
        self.uri = uri
        self.shown = shown  # the URI without credentials, for messages
        self.transport = transport
        self.offline = False
        self.backoff = 0.0
        self.retry_at = 0.0


class RunRef:
    """A run as the queue knows it. ``run_id`` is None until a run started while the store was
    unreachable has been created on it."""

    __slots__ = ("ended", "experiment_id", "journal", "local_id", "run_id", "store")

    def __init__(self, local_id: str, run_id: str | None, experiment_id: str | None,
                 store: StoreLink, journal: Journal) -> None:
        self.local_id = local_id
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.store = store
        self.journal = journal
        self.ended = False


@dataclass
class Op:
    """A queued operation other than a metric point (those are plain tuples, for speed)."""

    kind: OpKind
    run: RunRef
    key: str = ""
    value: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class Marker:
    """Put by ``flush()``: set when everything queued before it was sent or journaled."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.pending_points = 0


@dataclass
class FlushResult:
    done: bool  # everything logged so far is in the tracking store
    pending_points: int  # metric points waiting in the queue or a journal
    offline: bool  # a store could not be reached
    error: str | None  # the last error, if any

    def __bool__(self) -> bool:
        return self.done


@dataclass
class Work:
    """One unit of the sender's work: a batch for one run, an artifact or a run's end, with
    its journal sequence number; ``send`` is False when it only goes to the journal."""

    run: RunRef
    op: WorkOp
    data: dict[str, Any]
    seq: int = 0
    send: bool = True


def take_batch(first: Any, run: RunRef, buf: deque[Any]) -> Work:
    """``first`` and what follows it in ``buf`` for the same run, popped into one ``log_batch``
    request within MLflow's limits (a param or tag key twice ends the batch)."""
    metrics: list[Point] = []
    params: list[tuple[str, str]] = []
    tags: list[tuple[str, str]] = []
    param_keys: set[str] = set()
    tag_keys: set[str] = set()
    size = 0
    item = first
    while True:
        if type(item) is tuple:
            metrics.append((item[1], item[2], item[3], item[4]))
            size += len(item[1]) + 64
        elif item.kind == "param":
            params.append((item.key, item.value))
            param_keys.add(item.key)
            size += len(item.key) + len(item.value) + 32
        else:
            tags.append((item.key, item.value))
            tag_keys.add(item.key)
            size += len(item.key) + len(item.value) + 32
        try:
            nxt = buf[0]
        except IndexError:
            break
        if type(nxt) is tuple:
            if nxt[0] is not run or len(metrics) >= MAX_METRICS:
                break
            extra = len(nxt[1]) + 64
        elif isinstance(nxt, Op) and nxt.kind in ("param", "tag") and nxt.run is run:
            keys, count = (param_keys, len(params)) if nxt.kind == "param" \
                else (tag_keys, len(tags))
            if nxt.key in keys or count >= MAX_PARAMS_TAGS:
                break
            extra = len(nxt.key) + len(nxt.value) + 32
        else:
            break
        if len(metrics) + len(params) + len(tags) >= MAX_ENTITIES or \
                size + extra > MAX_REQUEST_BYTES:
            break
        item = buf.popleft()
    data: dict[str, Any] = {}
    if metrics:
        data["m"] = metrics
    if params:
        data["p"] = params
    if tags:
        data["t"] = tags
    return Work(run, "batch", data)
