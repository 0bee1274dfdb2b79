"""Recent latency, request counts and batch sizes of a serving process, for the Deploy panel,
``deployments`` and the admin status route."""

from __future__ import annotations

import time
from collections import deque
from typing import Any


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


HISTORY_INTERVAL_S = 10
HISTORY_SAMPLES = 360  # an hour
MAX_LATENCIES = 20_000  # per interval; beyond, a uniform sample of them (reservoir)


class History:
    """Counts per 10-second interval over the last hour, for ``/-/admin/history`` (the
    Monitor panel's sparklines survive a reload of the page). Each sample is one interval,
    ``t`` its end (epoch seconds); counts are per interval, not cumulative; p50/p99 are of
    the requests answered with HTTP 200."""

    def __init__(self, interval: int = HISTORY_INTERVAL_S, keep: int = HISTORY_SAMPLES,
                 clock: Any = time.time) -> None:
        import random

        self.interval = interval
        self.clock = clock
        self.samples: deque[dict[str, Any]] = deque(maxlen=keep)
        self.end = (int(clock()) // interval + 1) * interval
        self._random = random.Random()
        self._clear()

    def _clear(self) -> None:
        self.requests = self.errors = self.client_errors = self.rows = 0
        self.batches = self.batch_rows = 0
        self.latencies: list[float] = []
        self.seen = 0

    def request(self, status: int, seconds: float, rows: int) -> None:
        self.requests += 1
        if status >= 500:
            self.errors += 1
        elif status >= 400:
            self.client_errors += 1
        elif status == 200:
            self.rows += rows
            self.seen += 1
            if len(self.latencies) < MAX_LATENCIES:
                self.latencies.append(seconds)
            else:
                slot = self._random.randrange(self.seen)
                if slot < MAX_LATENCIES:
                    self.latencies[slot] = seconds

    def batch(self, rows: int) -> None:
        self.batches += 1
        self.batch_rows += rows

    def roll(self, queue_depth: int) -> None:
        """Close the intervals that have ended: what was counted since the last roll goes
        to the latest of them, the ones before it (no roll, no traffic) are zeros."""
        now = self.clock()
        if now < self.end:
            return
        last = int(now) // self.interval * self.interval  # end of the latest closed interval
        keep = self.samples.maxlen or 1
        empty = min((last - self.end) // self.interval, keep - 1)
        for i in range(empty, 0, -1):
            self.samples.append({"t": last - i * self.interval, "requests": 0, "errors": 0,
                                 "client_errors": 0, "rows": 0, "batches": 0, "p50_ms": None,
                                 "p99_ms": None, "mean_batch": None, "queue_depth": 0})
        ordered = sorted(self.latencies)
        n = len(ordered)
        self.samples.append({
            "t": last, "requests": self.requests, "errors": self.errors,
            "client_errors": self.client_errors, "rows": self.rows, "batches": self.batches,
            "p50_ms": round(ordered[n // 2] * 1000, 3) if n else None,
            "p99_ms": round(ordered[min(n - 1, int(n * .99))] * 1000, 3) if n else None,
            "mean_batch": round(self.batch_rows / self.batches, 3) if self.batches else None,
            "queue_depth": queue_depth})
        self._clear()
        self.end = last + self.interval

    def to_dict(self, queue_depth: int) -> dict[str, Any]:
        self.roll(queue_depth)
        return {"interval_s": self.interval, "samples": list(self.samples)}
