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
