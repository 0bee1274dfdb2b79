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

from bisect import bisect_left
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
    """The six metric families of one deployment. The hot path adds to plain lists (one
    event loop, no locks); the families are built when ``/metrics`` is scraped, in the same
    thread."""

    def __init__(self, deployment: str, queue_depth: Callable[[], int],
                 live_versions: LiveVersions) -> None:
        from prometheus_client import CollectorRegistry

        self.deployment = deployment
        self.queue_depth = queue_depth
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self.registry.register(_ModelInfo(deployment, live_versions))
        self._requests: dict[tuple[str, int], list[int]] = {}
        self._latency: dict[str, list[float]] = {}  # bucket counts, then count and sum
        self._rows: dict[str, list[int]] = {}
        self._batches: dict[str, list[float]] = {}

    def request(self, version: int | None, status: int, seconds: float, rows: int) -> None:
        """One answered scoring request."""
        label = NO_VERSION if version is None else str(version)
        count = self._requests.get((label, status))
        if count is None:
            count = self._requests[(label, status)] = [0]
        count[0] += 1
        latency = self._latency.get(label)
        if latency is None:
            latency = self._latency[label] = [0.0] * (len(LATENCY_BUCKETS) + 3)
        latency[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        latency[-2] += 1
        latency[-1] += seconds
        if status == 200:
            predicted = self._rows.get(label)
            if predicted is None:
                predicted = self._rows[label] = [0]
            predicted[0] += rows

    def batch(self, version: int, rows: int) -> None:
        """One model call of ``rows`` rows."""
        label = str(version)
        sizes = self._batches.get(label)
        if sizes is None:
            sizes = self._batches[label] = [0.0] * (len(BATCH_BUCKETS) + 3)
        sizes[bisect_left(BATCH_BUCKETS, rows)] += 1
        sizes[-2] += 1
        sizes[-1] += rows

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        name = self.deployment
        requests = CounterMetricFamily("mlops_requests",
                                       "Answered scoring requests, by HTTP status.",
                                       labels=["deployment", "version", "code"])
        for (version, code), count in sorted(self._requests.items()):
            requests.add_metric([name, version, str(code)], count[0])
        yield requests
        yield self._histogram(HistogramMetricFamily, "mlops_request_latency_seconds",
                              "Scoring request received to answer written, in seconds.",
                              LATENCY_BUCKETS, self._latency)
        yield self._histogram(HistogramMetricFamily, "mlops_batch_size",
                              "Rows per model call.", BATCH_BUCKETS, self._batches)
        rows = CounterMetricFamily("mlops_rows", "Rows predicted (answered with HTTP 200).",
                                   labels=["deployment", "version"])
        for version, count in sorted(self._rows.items()):
            rows.add_metric([name, version], count[0])
        yield rows
        depth = GaugeMetricFamily("mlops_queue_depth",
                                  "Scoring requests waiting for a model call.",
                                  labels=["deployment"])
        depth.add_metric([name], float(self.queue_depth()))
        yield depth

    def _histogram(self, family: Any, metric: str, help_text: str,
                   bounds: tuple[float, ...], data: dict[str, list[float]]) -> Any:
        histogram = family(metric, help_text, labels=["deployment", "version"])
        for version, counts in sorted(data.items()):
            cumulative, buckets = 0.0, []
            for bound, n in zip((*bounds, float("inf")), counts, strict=False):
                cumulative += n
                buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)),
                                cumulative))
            histogram.add_metric([self.deployment, version], buckets, sum_value=counts[-1])
        return histogram

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
