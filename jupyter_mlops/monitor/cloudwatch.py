"""A SageMaker endpoint measured by CloudWatch, in the shape of the serving process's history.

SageMaker publishes one point a minute per production variant in the ``AWS/SageMaker``
namespace (dimensions ``EndpointName`` and ``VariantName``): ``Invocations`` (every request
the variant answered), ``Invocation4XXErrors``, ``Invocation5XXErrors``, and ``ModelLatency``
/ ``OverheadLatency`` in microseconds (the time in the model's container, and the time
SageMaker adds around it). ``endpoint_history`` reads the counts with ``get_metric_data``
(period 60 s, ``Sum``, every variant in one request) and the latencies of the variants that
had requests with ``get_metric_statistics`` (``ExtendedStatistics`` ``p50`` / ``p99``, at most
1440 points a request: a day at a time), through a client built like the SageMaker target's
own (``aws.region``, ``aws.endpoint_url``, the AWS credential chain), and answers what
``/-/admin/history`` answers a local deployment, plus totals:

    {"interval_s": 60, "samples": [{"t": <epoch seconds, end of the minute>, "requests",
     "errors" (5xx), "client_errors" (4xx), "rows" (= requests: a row count is not
     published), "p50_ms", "p99_ms", "mean_batch": None}],
     "totals": {"requests", "errors", "client_errors", "rows", "by_version"}}

- A latency is the model's plus SageMaker's overhead at the same percentile (what a caller
  waits, near enough: percentiles of two parts do not add up exactly); ``None`` for a minute
  CloudWatch has no percentile for.
- Several variants in one minute (a canary, or a blue/green roll-out): counts add up, and the
  latencies are the variants' weighted by their requests.
- A minute CloudWatch has no point for (no traffic) has no sample: nothing is invented.
- No ``since``: the last hour. CloudWatch keeps one-minute points for 15 days, so a window
  is cut to those.

Failing to read CloudWatch (no credentials, no region, unreachable, refused) raises the
target's one-line ``MLOpsError``; the summary turns it into its message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from ..config import Config
from ..deploy.core import store_for
from ..deploy.sagemaker import SageMakerTarget, variant_name
from ..deploy.state import Deployment

__all__ = ["COUNTS", "INTERVAL_S", "LATENCIES", "NAMESPACE", "endpoint_history", "read_metrics"]

NAMESPACE = "AWS/SageMaker"
INTERVAL_S = 60
RETENTION = timedelta(days=15)  # how long CloudWatch keeps one-minute points
DEFAULT_WINDOW = timedelta(hours=1)
MAX_VARIANTS = 100  # 3 queries each: get_metric_data takes 500 at most
MAX_POINTS = 1440  # datapoints get_metric_statistics answers at most
#: the counts, read with get_metric_data's Sum: (key in the points, metric)
COUNTS: tuple[tuple[str, str], ...] = (
    ("requests", "Invocations"), ("client_errors", "Invocation4XXErrors"),
    ("errors", "Invocation5XXErrors"))
#: the latencies (microseconds), read at each of PERCENTILES: (key prefix, metric)
LATENCIES: tuple[tuple[str, str], ...] = (("model", "ModelLatency"),
                                          ("overhead", "OverheadLatency"))
Percentile = Literal["p50", "p99"]
PERCENTILES: tuple[Percentile, ...] = ("p50", "p99")
#: a summary is polled by a panel: a CloudWatch that does not answer fails fast
_CLIENT_CONFIG = {"connect_timeout": 5, "read_timeout": 15,
                  "retries": {"max_attempts": 2, "mode": "standard"}}

Call = Callable[..., Any]
Points = dict[str, dict[float, float]]  # query id → {epoch seconds (start of minute): value}


def _direct(fn: Call, **kwargs: Any) -> Any:
    return fn(**kwargs)


def window(start: datetime | None, end: datetime | None = None
           ) -> tuple[datetime, datetime]:
    """[start, end) as CloudWatch is asked: whole minutes (start rounded down), no more
    than it keeps, the last hour when no start is given."""
    end = end or datetime.now(timezone.utc)
    start = max(start or end - DEFAULT_WINDOW, end - RETENTION)
    start = start.replace(second=0, microsecond=0)
    return start, end


def _query_id(index: int, key: str) -> str:
    return f"v{index}_{key}"  # ids start with a lower-case letter: letters, digits, _


def _dimensions(endpoint: str, variant: str) -> list[dict[str, str]]:
    return [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]


def metric_queries(endpoint: str, variants: list[str]) -> list[dict[str, Any]]:
    """The ``MetricDataQueries`` of every (variant, count)."""
    return [{"Id": _query_id(index, key), "ReturnData": True,
             "MetricStat": {"Metric": {"Namespace": NAMESPACE, "MetricName": metric,
                                       "Dimensions": _dimensions(endpoint, variant)},
                            "Period": INTERVAL_S, "Stat": "Sum"}}
            for index, variant in enumerate(variants) for key, metric in COUNTS]


def read_counts(client: Any, endpoint: str, variants: list[str], start: datetime,
                end: datetime, *, call: Call = _direct) -> Points:
    """Every count of every variant over [start, end), following ``NextToken``."""
    points: Points = {}
    request: dict[str, Any] = {"MetricDataQueries": metric_queries(endpoint, variants),
                               "StartTime": start, "EndTime": end,
                               "ScanBy": "TimestampAscending"}
    while True:
        answer = call(client.get_metric_data, **request)
        for result in answer.get("MetricDataResults", []):
            found = points.setdefault(result["Id"], {})
            for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []),
                                    strict=False):
                if value is not None:
                    found[stamp.timestamp()] = float(value)
        token = answer.get("NextToken")
        if not token:
            return points
        request["NextToken"] = token


def read_latencies(client: Any, endpoint: str, variant: str, index: int, start: datetime,
                   end: datetime, *, call: Call = _direct) -> Points:
    """One variant's latency percentiles over [start, end), a day per request."""
    points: Points = {}
    step = timedelta(seconds=INTERVAL_S * MAX_POINTS)
    for prefix, metric in LATENCIES:
        first = start
        while first < end:
            last = min(end, first + step)
            answer = call(client.get_metric_statistics, Namespace=NAMESPACE,
                          MetricName=metric, Dimensions=_dimensions(endpoint, variant),
                          StartTime=first, EndTime=last, Period=INTERVAL_S,
                          ExtendedStatistics=list(PERCENTILES))
            for point in answer.get("Datapoints", []):
                extended = point.get("ExtendedStatistics") or {}
                for stat in PERCENTILES:
                    if extended.get(stat) is not None:
                        points.setdefault(_query_id(index, f"{prefix}_{stat}"), {})[
                            point["Timestamp"].timestamp()] = float(extended[stat])
            first = last
    return points


def read_metrics(client: Any, endpoint: str, variants: list[str], start: datetime,
                 end: datetime, *, call: Call = _direct) -> Points:
    """The counts of every variant, and the latencies of those that had requests; ``call``
    runs each request (the target's ``_call`` turns AWS's errors into one line)."""
    points = read_counts(client, endpoint, variants, start, end, call=call)
    for index, variant in enumerate(variants):
        if any(points.get(_query_id(index, "requests"), {}).values()):
            points.update(read_latencies(client, endpoint, variant, index, start, end,
                                         call=call))
    return points


def _latency(parts: list[tuple[float, float]]) -> float | None:
    """Milliseconds from (microseconds, requests) pairs: their mean weighted by requests
    (a plain mean when no part counted a request)."""
    if not parts:
        return None
    weights = [weight for _value, weight in parts]
    if not any(weights):
        weights = [1.0] * len(parts)
    mean = sum(value * weight for (value, _w), weight in zip(parts, weights, strict=True))
    return round(mean / sum(weights) / 1000.0, 3)


def history(points: Points, versions: list[str]) -> dict[str, Any]:
    """The samples (one per minute with a point, oldest first) and the window's totals;
    ``versions[i]`` is the deployment's version that served as variant ``i``."""

    def value(index: int, key: str, minute: float) -> float | None:
        return points.get(_query_id(index, key), {}).get(minute)

    minutes = sorted({minute for found in points.values() for minute in found})
    samples: list[dict[str, Any]] = []
    by_version: dict[str, int] = {}
    for minute in minutes:
        counts = {"requests": 0, "errors": 0, "client_errors": 0}
        p50: list[tuple[float, float]] = []
        p99: list[tuple[float, float]] = []
        for index, version in enumerate(versions):
            for key in counts:
                counts[key] += round(value(index, key, minute) or 0)
            served = round(value(index, "requests", minute) or 0)
            if served:
                by_version[version] = by_version.get(version, 0) + served
            for out, model, overhead in ((p50, "model_p50", "overhead_p50"),
                                         (p99, "model_p99", "overhead_p99")):
                in_model = value(index, model, minute)
                if in_model is not None:
                    out.append((in_model + (value(index, overhead, minute) or 0.0),
                                float(served)))
        samples.append({"t": minute + INTERVAL_S, **counts, "rows": counts["requests"],
                        "p50_ms": _latency(p50), "p99_ms": _latency(p99),
                        "mean_batch": None})
    totals = {key: sum(s[key] for s in samples)
              for key in ("requests", "errors", "client_errors")}
    return {"interval_s": float(INTERVAL_S), "samples": samples,
            "totals": {**totals, "rows": totals["requests"], "by_version": by_version}}


def endpoint_history(deployment: Deployment, config: Config, start: datetime | None,
                     end: datetime | None = None) -> dict[str, Any]:
    """``deployment``'s CloudWatch metrics over [start, end) (see the module's docstring);
    an ``MLOpsError`` with one line when CloudWatch cannot be read."""
    first, last = window(start, end)
    served = deployment.versions[-MAX_VARIANTS:]  # a failed one may have had a canary's share
    versions = [str(v.version) for v in served]
    if first >= last or not served:
        return history({}, versions)
    target = SageMakerTarget(store_for(config), config)
    session = target._session()  # a one-line ConfigError without boto3, credentials, region
    from botocore.config import Config as ClientConfig  # type: ignore[import-untyped, unused-ignore]

    client = target._client(session, "cloudwatch",
                            config=ClientConfig(**_CLIENT_CONFIG))
    points = read_metrics(client, deployment.name, [variant_name(v.version) for v in served],
                          first, last, call=target._call)
    return history(points, versions)
