"""Prometheus metrics of a serving process (``GET /metrics``), in a registry of its own.

The serving front owns them, so they outlive the model worker processes: a restarted worker
of the same version carries on counting, and counters never go backwards while the serving
process lives. The serving process is one process (one event loop), so no multiprocess mode
is needed. Requests refused before a version was chosen (malformed, too large, nothing
ready) carry ``version="none"``.

    mlops_requests_total{deployment,version,code}        counter, every answered request
    mlops_request_latency_seconds{deployment,version}    histogram, received -> answer written
    mlops_batch_size{deployment,version}                 histogram, rows per model call
    mlops_rows_total{deployment,version}                 counter, rows predicted (HTTP 200)
    mlops_queue_depth{deployment}                        gauge, requests waiting
    mlops_model_info{deployment,version,run_id,device}   gauge = 1 per live version
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

NO_VERSION = "none"
LATENCY_BUCKETS = (.001, .0025, .005, .0075, .01, .025, .05, .075, .1, .25, .5, .75, 1.0,
                   2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LiveVersions = Callable[[], Iterable[tuple[int, str | None, str | None]]]
"""(version, run id, device) of each version the front runs now."""


class ServingMetrics:
    """The six metric families of one deployment; children cached per label set (the hot
    path pays a dict lookup and an increment)."""

    def __init__(self, deployment: str, queue_depth: Callable[[], int],
                 live_versions: LiveVersions) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.deployment = deployment
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["deployment", "version"]
        self._requests = Counter("mlops_requests", "Answered scoring requests, by HTTP status.",
                                 [*labels, "code"], registry=self.registry)
        self._latency = Histogram("mlops_request_latency_seconds",
                                  "Scoring request received to answer written, in seconds.",
                                  labels, buckets=LATENCY_BUCKETS, registry=self.registry)
        self._batch = Histogram("mlops_batch_size", "Rows per model call.", labels,
                                buckets=BATCH_BUCKETS, registry=self.registry)
        self._rows = Counter("mlops_rows", "Rows predicted (answered with HTTP 200).", labels,
                             registry=self.registry)
        depth = Gauge("mlops_queue_depth", "Scoring requests waiting for a model call.",
                      ["deployment"], registry=self.registry)
        depth.labels(deployment).set_function(lambda: float(queue_depth()))
        self.registry.register(_ModelInfo(deployment, live_versions))
        self._children: dict[tuple[str, int], tuple[Any, Any, Any]] = {}
        self._batches: dict[str, Any] = {}

    def request(self, version: int | None, status: int, seconds: float, rows: int) -> None:
        """One answered scoring request."""
        label = NO_VERSION if version is None else str(version)
        children = self._children.get((label, status))
        if children is None:
            children = self._children[(label, status)] = (
                self._requests.labels(self.deployment, label, str(status)),
                self._latency.labels(self.deployment, label),
                self._rows.labels(self.deployment, label))
        count, latency, predicted = children
        count.inc()
        latency.observe(seconds)
        if status == 200:
            predicted.inc(rows)

    def batch(self, version: int, rows: int) -> None:
        """One model call of ``rows`` rows."""
        label = str(version)
        child = self._batches.get(label)
        if child is None:
            child = self._batches[label] = self._batch.labels(self.deployment, label)
        child.observe(rows)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))


class _ModelInfo:
    """``mlops_model_info``: one sample per version running at scrape time."""

    def __init__(self, deployment: str, live_versions: LiveVersions) -> None:
        self.deployment = deployment
        self.live_versions = live_versions

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily("mlops_model_info",
                                   "The model versions this deployment serves (value 1).",
                                   labels=["deployment", "version", "run_id", "device"])
        for version, run_id, device in self.live_versions():
            family.add_metric([self.deployment, str(version), run_id or "", device or ""], 1)
        yield family

    def describe(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily("mlops_model_info", "", labels=["deployment", "version",
                                                              "run_id", "device"])
