"""How a deployment is doing: ``MonitorSummary``, collected from three places. The series
(requests/s, p50/p99 latency, error rate, batch size per 10 s) come from the serving
process's ring buffer (``/-/admin/history``, the last hour, kept across reloads), the totals
from its Prometheus ``/metrics`` (parsed with ``prometheus_client.parser``), and the log's
state from the writer's ``_status.json``. A SageMaker endpoint's series and totals come from
its CloudWatch metrics instead (``cloudwatch``: one point a minute). KServe, or a process
that does not answer, gives a summary without series; ``message`` says why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..config import Config
from ..deploy.core import get_deployment, store_for
from ..deploy.local import admin_get, http
from ..deploy.state import Deployment
from ..errors import MLOpsError
from .cloudwatch import endpoint_history
from .folders import log_status, require_known
from .timespan import TimeLike, parse_time

__all__ = ["SERIES", "MonitorSummary", "Sample", "Totals", "collect", "parse_metrics"]

#: the series of ``to_dict()["series"]`` and the charts, in the order they are drawn:
#: (key, title, unit)
SERIES: tuple[tuple[str, str, str], ...] = (
    ("rps", "requests/s", "req/s"), ("p50_ms", "p50 latency", "ms"),
    ("p99_ms", "p99 latency", "ms"), ("error_rate", "error rate", ""),
    ("batch_size", "batch size", "rows"))
_SPARKS = "▁▂▃▄▅▆▇█"
_VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"


@dataclass(frozen=True)
class Sample:
    """One interval of the serving process's history (counts within the interval)."""

    t: float  # epoch seconds, end of the interval
    requests: int = 0
    errors: int = 0  # status >= 500
    client_errors: int = 0  # 4xx
    rows: int = 0
    batches: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None
    mean_batch: float | None = None
    queue_depth: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Totals:
    """Counters since the serving process started, by version (from ``/metrics``)."""

    requests: int = 0
    errors: int = 0  # answered with a status >= 500
    client_errors: int = 0  # 4xx
    rows: int = 0
    by_code: dict[str, int] = field(default_factory=dict)
    by_version: dict[str, int] = field(default_factory=dict)  # requests per version


def parse_metrics(text: str, deployment: str) -> tuple[Totals, dict[str, dict[str, str]]]:
    """``/metrics`` text → this deployment's totals and its ``mlops_model_info`` labels by
    version."""
    from prometheus_client.parser import text_string_to_metric_families

    by_code: dict[str, int] = {}
    by_version: dict[str, int] = {}
    rows = 0
    info: dict[str, dict[str, str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("deployment") != deployment:
                continue
            if sample.name == "mlops_requests_total":
                code, version = labels.get("code", "?"), labels.get("version", "?")
                by_code[code] = by_code.get(code, 0) + int(sample.value)
                by_version[version] = by_version.get(version, 0) + int(sample.value)
            elif sample.name == "mlops_rows_total":
                rows += int(sample.value)
            elif sample.name == "mlops_model_info" and sample.value:
                info[labels.get("version", "?")] = dict(labels)
    errors = sum(n for code, n in by_code.items() if code[:1] == "5")
    client_errors = sum(n for code, n in by_code.items() if code[:1] == "4")
    return Totals(sum(by_code.values()), errors, client_errors, rows, by_code,
                  by_version), info


@dataclass
class MonitorSummary:
    """``mlops.monitor.summary(name)`` / ``%mlops monitor NAME``: a deployment's version(s),
    device and URL, its series over ``since``, its totals and its inference log's state."""

    name: str
    target: str
    status: str
    version: int | None = None
    versions: list[dict[str, Any]] = field(default_factory=list)
    device: str | None = None
    run_id: str | None = None
    url: str | None = None
    since: float | None = None  # epoch seconds: the start of the series' window
    interval_s: float = 10.0
    samples: list[Sample] = field(default_factory=list)
    totals: Totals | None = None  # None: no metrics (not local, or not answering)
    log: dict[str, Any] = field(default_factory=dict)
    message: str | None = None

    # ------------------------------------------------------------------ series
    def series(self) -> dict[str, list[Any]]:
        """Column-wise series: ``t`` (ISO 8601, UTC) and each of ``SERIES``."""
        out: dict[str, list[Any]] = {"t": [], **{key: [] for key, _t, _u in SERIES}}
        for s in self.samples:
            out["t"].append(datetime.fromtimestamp(s.t, timezone.utc).isoformat())
            out["rps"].append(round(s.requests / self.interval_s, 3))
            out["p50_ms"].append(s.p50_ms)
            out["p99_ms"].append(s.p99_ms)
            out["error_rate"].append(round(s.errors / s.requests, 4) if s.requests else 0.0)
            out["batch_size"].append(s.mean_batch)
        return out

    # ------------------------------------------------------------------ views
    def to_dict(self) -> dict[str, Any]:
        totals = self.totals or Totals()
        return {
            "name": self.name, "target": self.target, "status": self.status,
            "version": self.version, "versions": self.versions, "device": self.device,
            "run_id": self.run_id, "url": self.url, "interval_s": self.interval_s,
            "since": (datetime.fromtimestamp(self.since, timezone.utc).isoformat()
                      if self.since is not None else None),
            "series": self.series(),
            "totals": {"requests": totals.requests, "errors": totals.errors,
                       "client_errors": totals.client_errors, "rows": totals.rows,
                       "by_code": totals.by_code, "by_version": totals.by_version,
                       "available": self.totals is not None},
            "log": {k: self.log.get(k) for k in ("rows_written", "dropped", "sampled_out",
                                                 "error")},
            "message": self.message,
        }

    def to_text(self) -> str:
        lines = [f"{self.name}: {self.status} ({self.target})"
                 + (f" version {self.version}" if self.version is not None else "")
                 + (f" on {self.device}" if self.device else "")]
        if self.url:
            lines.append(f"  url:       {self.url}")
        if len(self.versions) > 1:
            lines.append("  versions:  " + ", ".join(
                f"v{v['version']} {v.get('traffic', 0)}%" for v in self.versions))
        if self.totals is not None:
            t = self.totals
            lines.append(f"  totals:    {t.requests} requests ({t.errors} errors, "
                         f"{t.client_errors} client errors), {t.rows} rows")
        series = self.series()
        if self.samples:
            minutes = len(self.samples) * self.interval_s / 60
            lines.append(f"  last {minutes:.0f} min, every {self.interval_s:g} s:")
            for key, title, unit in SERIES:
                values = series[key]
                shown = [v for v in values if v is not None]
                last = f"{shown[-1]:.4g} {unit}".rstrip() if shown else "-"
                lines.append(f"    {title:<12} {_sparkline(values)}  now {last}")
        log = self.log
        lines.append(f"  log:       {log.get('rows_written', 0)} rows written, "
                     f"{log.get('dropped', 0)} dropped, {log.get('sampled_out', 0)} sampled out"
                     + (f"; error: {log['error']}" if log.get("error") else ""))
        if self.message:
            lines.append(f"  note:      {self.message}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.to_text()

    def vega_lite(self) -> dict[str, Any]:
        """One Vega-Lite v5 spec: a small line chart (a sparkline) per series."""
        series = self.series()
        values = [{"t": t, **{key: series[key][i] for key, _t, _u in SERIES}}
                  for i, t in enumerate(series["t"])]
        charts = [{
            "title": {"text": title, "fontSize": 11},
            "mark": {"type": "line", "interpolate": "monotone", "point": False},
            "encoding": {
                "x": {"field": "t", "type": "temporal", "title": None,
                      "axis": {"format": "%H:%M", "labelFontSize": 9}},
                "y": {"field": key, "type": "quantitative", "title": unit or None,
                      "axis": {"labelFontSize": 9}},
                "tooltip": [{"field": "t", "type": "temporal", "format": "%H:%M:%S"},
                            {"field": key, "type": "quantitative", "format": ".3~g"}]},
            "width": 200, "height": 60,
        } for key, title, unit in SERIES]
        return {"$schema": _VEGA_LITE_SCHEMA, "data": {"values": values},
                "concat": charts, "columns": 3,
                "description": f"{self.name}: requests, latency, errors and batch size"}


def _sparkline(values: list[Any]) -> str:
    numbers = [v for v in values if v is not None]
    if not numbers:
        return "(no data)"
    low, high = min(numbers), max(numbers)
    span = (high - low) or 1.0
    return "".join(" " if v is None else _SPARKS[int((v - low) / span * (len(_SPARKS) - 1))]
                   for v in values[-60:])


# ---------------------------------------------------------------------------- collecting


def collect(name: str, since: TimeLike, config: Config) -> MonitorSummary:
    """The summary of deployment ``name`` over [since, now]."""
    start = parse_time(since, "since")
    folder = require_known(config, name)
    store = store_for(config)
    log = log_status(folder)
    if not store.exists(name):  # undeployed: only its log is left
        return MonitorSummary(name, "-", "removed", log=log,
                              message="not deployed any more: only its inference log is left")
    deployment = get_deployment(name, config=config)
    found = MonitorSummary(
        name, deployment.target, deployment.status, deployment.version,
        versions=[{"version": v.version, "status": v.status, "device": v.device,
                   "run_id": v.run_id, "model": v.model_label,
                   "traffic": deployment.traffic.get(str(v.version), 0)}
                  for v in deployment.versions
                  if str(v.version) in deployment.traffic or v.version == deployment.version],
        device=deployment.device, run_id=deployment.run_id, url=deployment.url,
        since=start.timestamp() if start else None, log=log)
    if deployment.target == "sagemaker":
        return _from_cloudwatch(found, deployment, start, config)
    if deployment.target != "local":
        found.message = ("KServe: scrape /metrics with Prometheus; the annotations are in the "
                         "manifest")
        return found
    if not deployment.url or deployment.status in ("dead", "failed", "stopped"):
        found.message = f"the serving process is {deployment.status}: no live metrics"
        return found
    history = admin_get(store.folder(name), deployment.url, "history")
    if history is None:
        found.message = "the serving process did not answer /-/admin/history"
    elif history.get("enabled") is False:
        found.message = ("monitoring is off for this deployment (monitor.enabled was false "
                         "when it was deployed): no series, no totals, no log")
        return found
    else:
        found.interval_s = float(history.get("interval_s") or 10.0)
        cutoff = start.timestamp() if start else 0.0
        found.samples = [Sample.from_dict(s) for s in history.get("samples", [])
                         if float(s.get("t", 0)) > cutoff]
    try:
        status, body = http("GET", f"{deployment.url}/metrics", timeout=3.0)
    except OSError as exc:
        status, body = 0, str(exc).encode()
    if status == 200:
        found.totals, info = parse_metrics(body.decode(errors="replace"), name)
        for entry in found.versions:  # the serving process knows where each version runs
            labels = info.get(str(entry["version"]))
            if labels and labels.get("device"):
                entry["device"] = labels["device"]
            entry["requests"] = found.totals.by_version.get(str(entry["version"]), 0)
    else:
        found.message = found.message or f"the serving process's /metrics answered {status}"
    return found


def _from_cloudwatch(found: MonitorSummary, deployment: Deployment, start: datetime | None,
                     config: Config) -> MonitorSummary:
    """A SageMaker endpoint's series and totals, from its CloudWatch metrics (a minute
    each); CloudWatch out of reach is the summary's one-line message."""
    try:
        measured = endpoint_history(deployment, config, start)
    except MLOpsError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        found.message = f"CloudWatch could not be read: {reason}"
        return found
    found.interval_s = float(measured["interval_s"])
    found.samples = [Sample.from_dict(s) for s in measured["samples"]]
    found.totals = Totals(**measured["totals"])
    for entry in found.versions:
        entry["requests"] = found.totals.by_version.get(str(entry["version"]), 0)
    return found
