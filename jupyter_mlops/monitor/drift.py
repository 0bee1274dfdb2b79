"""Drift of a deployment's logged requests against its reference profile, computed an hour at
a time.

``drift(name, since=, until=, reference=)`` compares the model's inputs (and ``prediction``
when the reference has predictions) logged in [since, until) with the reference: by default
the profile stored on the deployed model's run (``reference.load_reference``: captured by a
tracked ``features.get``, or set with ``log_model(..., reference=df)`` /
``set_reference``); a ``Profile``, or a DataFrame (profiled here), when one is given.

Each hour of the log is reduced to a summary: per numeric column the counts on the
reference's fine bins (its distinct percentiles), nulls, min, max, sum, sum of squares and the
sums of the values outside the reference's range; per categorical column its value counts
(the reference's values and the hour's 1,000 most frequent others, the rest as one count).
The summary of an hour that is over (``HourPart.complete``) and wholly inside the window is
cached as JSON under ``log_store.cache_folder(…)/drift/``, keyed by the hour's fingerprint
(it changes when a file is added to the hour) and a digest of the reference's bins and values,
so an hourly re-check over a day reads only the new hour (and the hours cut by ``since`` /
``until``, which are read and filtered by timestamp). A cache file that does not read back as
a summary of the right shape is ignored and written again. The statistics are then computed
on the summed summaries: see ``drift_stats`` for exactly how (PSI on the reference's
deciles, KS and Wasserstein from the binned CDFs, chi-square and Jensen-Shannon on value
counts).

Methods and thresholds: ``monitor.drift_method`` (numeric), ``monitor.categorical_method``,
``monitor.drift_threshold`` (empty: the method's own) and ``monitor.feature_thresholds``
("age=0.3 income=0.25", overriding the threshold for those features).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..config import Config, load_config
from ..errors import UserInputError
from ..paths import make_folder
from . import drift_stats as stats
from .drift_report import NO_ROWS, DriftReport, FeatureDrift, FeatureKind
from .folders import require_known
from .log_store import HourPart, cache_folder, log_hours
from .profile import VALUE_CHARS, CategoricalColumn, NumericColumn, Profile
from .timespan import TimeLike, parse_time

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["DriftReport", "FeatureDrift", "drift", "parse_feature_thresholds"]

SUMMARY_FORMAT = "mlops-drift-summary/1"
MAX_VALUES = 1000  # an hour counts this many categorical values besides the reference's
META_COLUMNS = frozenset({"request_id", "timestamp", "version", "latency_ms"})
_OUTPUT = re.compile(r"^prediction(_\d+)?$")
_THRESHOLD_PAIR = re.compile(r"^([^=\s]+)=([^=\s]+)$")


# --------------------------------------------------------------------------- settings


def parse_feature_thresholds(text: str) -> dict[str, float]:
    """``"age=0.3 income=0.25"`` (spaces or commas between pairs) as {feature: threshold}."""
    found: dict[str, float] = {}
    for token in re.split(r"[\s,]+", text.strip()):
        if not token:
            continue
        match = _THRESHOLD_PAIR.match(token)
        value = _number(match.group(2)) if match else None
        if match is None or value is None:
            raise UserInputError(
                f"monitor.feature_thresholds: cannot read {token[:60]!r}: give FEATURE=NUMBER "
                "pairs separated by spaces, as 'age=0.3 income=0.25'")
        found[match.group(1)] = _positive(value, f"monitor.feature_thresholds: {token}")
    return found


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _positive(value: float, what: str) -> float:
    if value <= 0:
        raise UserInputError(f"{what}: a threshold must be above 0")
    return value


@dataclass(frozen=True)
class _Settings:
    numeric: stats.NumericMethod
    categorical: stats.CategoricalMethod
    threshold: float | None  # None: the method's own
    per_feature: dict[str, float]

    @classmethod
    def read(cls, config: Config) -> _Settings:
        numeric, categorical = config["monitor.drift_method"], config["monitor.categorical_method"]
        if numeric not in stats.NUMERIC_METHODS or categorical not in stats.CATEGORICAL_METHODS:
            raise UserInputError(f"unknown drift method {numeric!r} / {categorical!r}")
        text = str(config["monitor.drift_threshold"] or "").strip()
        threshold = None
        if text:
            value = _number(text)
            if value is None:
                raise UserInputError(f"monitor.drift_threshold: {text[:40]!r} is not a number "
                                     "(leave it empty for the method's own threshold)")
            threshold = _positive(value, "monitor.drift_threshold")
        return cls(cast(stats.NumericMethod, numeric),
                   cast(stats.CategoricalMethod, categorical), threshold,
                   parse_feature_thresholds(str(config["monitor.feature_thresholds"] or "")))

    def method(self, column: NumericColumn | CategoricalColumn) -> str:
        return self.numeric if isinstance(column, NumericColumn) else self.categorical

    def threshold_for(self, feature: str, method: str) -> float:
        if feature in self.per_feature:
            return self.per_feature[feature]
        return self.threshold if self.threshold is not None else \
            stats.DEFAULT_THRESHOLDS[method]


# --------------------------------------------------------------------------- the plan


@dataclass
class _Plan:
    """The columns to compare and their reference columns; ``key`` digests what an hour's
    summary depends on (the bins and values), so a cached summary is reused only for it."""

    columns: dict[str, NumericColumn | CategoricalColumn]
    binners: dict[str, stats.Binner] = field(default_factory=dict)
    key: str = ""

    def __post_init__(self) -> None:
        import hashlib

        import numpy as np

        shape: dict[str, Any] = {}
        for name, column in self.columns.items():
            if isinstance(column, NumericColumn):
                self.binners[name] = stats.Binner(np.asarray(column.edges, dtype=np.float64))
                shape[name] = ["numeric", column.edges]
            else:
                shape[name] = ["categorical", sorted(column.values)]
        text = json.dumps([SUMMARY_FORMAT, shape], sort_keys=True, separators=(",", ":"))
        self.key = hashlib.sha256(text.encode()).hexdigest()[:24]


def _model_columns(config: Config, name: str, hours: list[HourPart]
                   ) -> tuple[list[str], bool]:
    """The deployment's input columns (from its current version's signature, else from the
    newest log file's columns) and whether any are known."""
    from ..deploy.core import store_for
    from .inference_log import Names

    store = store_for(config)
    names = Names()
    if store.exists(name):
        current = store.load(name).current
        signature = current.details.get("signature") if current is not None else None
        names = Names.from_signature(signature if isinstance(signature, dict) else None)
    if names.inputs:
        return list(names.inputs), True
    logged = _log_columns(hours)
    inputs = [c for c in logged if c not in META_COLUMNS and not _OUTPUT.match(c)
              and c not in names.outputs]
    return inputs, bool(logged)


def _log_columns(hours: list[HourPart]) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    for hour in reversed(hours):
        for path in reversed(hour.files):
            try:
                return list(pq.read_schema(path).names)
            except (OSError, pa.ArrowInvalid):
                continue
    return []


def _plan(profile: Profile, inputs: list[str], known: bool
          ) -> tuple[_Plan, list[str]]:
    """The compared columns (inputs in the reference, then ``prediction`` when it has it)
    and the inputs it lacks."""
    if not known:  # nothing logged and no signature: every column of the reference
        return _Plan(dict(profile.columns)), []
    compared = [c for c in inputs if c in profile.columns]
    missing = [c for c in inputs if c not in profile.columns]
    if inputs and not compared:
        raise UserInputError(
            f"the reference has columns {_names(list(profile.columns))}; the deployment's "
            f"inputs are {_names(inputs)}: give a reference of the model's inputs "
            "(mlops.monitor.set_reference(name, df))")
    if "prediction" in profile.columns and "prediction" not in compared:
        compared.append("prediction")
    return _Plan({c: profile.columns[c] for c in compared}), missing


def _names(columns: list[str]) -> str:
    shown = ", ".join(columns[:12]) or "(none)"
    return shown + (f" and {len(columns) - 12} more" if len(columns) > 12 else "")


# --------------------------------------------------------------------------- summaries


def _summarize(table: pa.Table, plan: _Plan) -> dict[str, Any]:
    """One hour's (or a part of one's) summary of the plan's columns, as JSON-ready data."""
    columns: dict[str, Any] = {}
    present = set(table.column_names)
    for name, reference in plan.columns.items():
        if isinstance(reference, NumericColumn):
            columns[name] = _numeric_summary(table.column(name) if name in present else None,
                                             table.num_rows, plan.binners[name], name)
        else:
            columns[name] = _categorical_summary(
                table.column(name) if name in present else None, table.num_rows, reference)
    return {"format": SUMMARY_FORMAT, "rows": table.num_rows, "columns": columns}


def _numeric_summary(column: pa.ChunkedArray | None, rows: int, binner: stats.Binner,
                     name: str) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    edges = binner.edges
    empty = {"kind": "numeric", "counts": [0] * (edges.size + 1), "nulls": rows,
             "min": None, "max": None, "sum": 0.0, "sumsq": 0.0, "low_sum": 0.0,
             "high_sum": 0.0}
    if column is None or edges.size == 0:
        return empty
    try:
        numbers = pc.cast(column, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise UserInputError(f"column {name!r} is numeric in the reference, but the log holds "
                             f"{column.type} values that are not numbers") from None
    values = numbers.to_numpy() if numbers.null_count == 0 else \
        numbers.to_numpy(zero_copy_only=False)
    finite = np.isfinite(values)
    if not finite.all():
        values = values[finite]
    if values.size == 0:
        return empty
    with np.errstate(over="ignore"):  # sums of huge values: inf, so the hour is not cached
        binned = stats.numeric_counts(values, binner)
        return {"kind": "numeric", "counts": binned.counts.tolist(),
                "nulls": rows - values.size, "min": float(values.min()),
                "max": float(values.max()), "sum": float(values.sum()),
                "sumsq": float(np.dot(values, values)), "low_sum": binned.low_sum,
                "high_sum": binned.high_sum}


def _categorical_summary(column: pa.ChunkedArray | None, rows: int,
                         reference: CategoricalColumn) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if column is None:
        return {"kind": "categorical", "values": {}, "other": 0, "nulls": rows}
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    counted = pc.value_counts(column)
    found: dict[str, int] = {}
    for value, count in zip(counted.field("values").to_pylist(),
                            counted.field("counts").to_pylist(), strict=True):
        if value is None:
            continue
        text = value if len(value) <= VALUE_CHARS else value[:VALUE_CHARS - 1] + "…"
        found[text] = found.get(text, 0) + int(count)
    kept = {v: c for v, c in found.items() if v in reference.values}
    others = sorted(((v, c) for v, c in found.items() if v not in reference.values),
                    key=lambda item: -item[1])
    kept.update(others[:MAX_VALUES])
    other = sum(c for _v, c in others[MAX_VALUES:])
    return {"kind": "categorical", "values": kept, "other": other,
            "nulls": rows - sum(found.values())}


def _valid(summary: Any, plan: _Plan) -> bool:
    """Whether a cached summary has the plan's shape (a cache file is untrusted input)."""
    if not isinstance(summary, dict) or summary.get("format") != SUMMARY_FORMAT:
        return False
    if not _count(summary.get("rows")) or not isinstance(summary.get("columns"), dict):
        return False
    for name, reference in plan.columns.items():
        body = summary["columns"].get(name)
        if not isinstance(body, dict) or not _count(body.get("nulls")):
            return False
        if isinstance(reference, NumericColumn):
            counts = body.get("counts")
            if body.get("kind") != "numeric" or not isinstance(counts, list) or \
                    len(counts) != len(reference.edges) + 1 or \
                    not all(_count(c) for c in counts):
                return False
            if not all(isinstance(body.get(k), (int, float)) and
                       math.isfinite(body[k]) for k in ("sum", "sumsq", "low_sum", "high_sum")):
                return False
            if not all(body.get(k) is None or (isinstance(body.get(k), (int, float)) and
                                               math.isfinite(body[k])) for k in ("min", "max")):
                return False
        else:
            values = body.get("values")
            if body.get("kind") != "categorical" or not isinstance(values, dict) or \
                    not _count(body.get("other")) or \
                    not all(isinstance(k, str) and _count(v) for k, v in values.items()):
                return False
    return True


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _cache_path(folder: Path, hour: HourPart, plan: _Plan) -> Path:
    return folder / f"{hour.start:%Y%m%dT%H}-{hour.fingerprint}-{plan.key}.json"


def _read_cached(path: Path, plan: _Plan) -> dict[str, Any] | None:
    try:
        summary = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return summary if _valid(summary, plan) else None


def _write_cached(path: Path, summary: dict[str, Any]) -> None:
    """Atomically; a cache that cannot be written is only slower next time."""
    with contextlib.suppress(OSError):
        make_folder(path.parent)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(summary, out, separators=(",", ":"))
            os.replace(temporary, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _hour_summary(hour: HourPart, plan: _Plan, since: datetime | None,
                  until: datetime | None, folder: Path) -> dict[str, Any]:
    """The summary of the hour's rows inside [since, until), from the cache when the hour is
    over and wholly inside the window."""
    import pyarrow as pa
    import pyarrow.compute as pc

    whole = (since is None or since <= hour.start) and (until is None or hour.end <= until)
    cacheable = whole and hour.complete
    path = _cache_path(folder, hour, plan)
    if cacheable:
        cached = _read_cached(path, plan)
        if cached is not None:
            return cached
    names = list(plan.columns) + ([] if whole else ["timestamp"])
    table = hour.read(names)
    if not whole and "timestamp" in table.column_names:
        stamps = table["timestamp"]
        if since is not None:
            table = table.filter(pc.greater_equal(stamps, pa.scalar(since, stamps.type)))
            stamps = table["timestamp"]
        if until is not None:
            table = table.filter(pc.less(stamps, pa.scalar(until, stamps.type)))
    summary = _summarize(table, plan)
    if cacheable:
        _write_cached(path, summary)
    return summary


# --------------------------------------------------------------------------- combining


class _Totals:
    """The window's summaries added up, column by column."""

    def __init__(self, plan: _Plan) -> None:
        import numpy as np

        self.rows = 0
        self.numeric = {name: np.zeros(len(ref.edges) + 1, dtype=np.int64)
                        for name, ref in plan.columns.items() if isinstance(ref, NumericColumn)}
        self.sums = {name: [0.0, 0.0] for name in self.numeric}  # low_sum, high_sum
        self.values: dict[str, dict[str, int]] = {
            name: {} for name, ref in plan.columns.items() if isinstance(ref, CategoricalColumn)}
        self.other = dict.fromkeys(self.values, 0)

    def add(self, summary: dict[str, Any]) -> None:
        import numpy as np

        self.rows += summary["rows"]
        for name, body in summary["columns"].items():
            if name in self.numeric:
                self.numeric[name] += np.asarray(body["counts"], dtype=np.int64)
                self.sums[name][0] += body["low_sum"]
                self.sums[name][1] += body["high_sum"]
            elif name in self.values:
                counts = self.values[name]
                for value, count in body["values"].items():
                    counts[value] = counts.get(value, 0) + count
                self.other[name] += body["other"]

    def current_rows(self, name: str) -> int:
        if name in self.numeric:
            return int(self.numeric[name].sum())
        return sum(self.values[name].values()) + self.other[name]


def _compare(name: str, reference: NumericColumn | CategoricalColumn, totals: _Totals,
             settings: _Settings) -> tuple[FeatureDrift, dict[str, list[Any]]]:
    method = settings.method(reference)
    threshold = settings.threshold_for(name, method)
    current_rows = totals.current_rows(name)
    statistic: float | None = None
    if isinstance(reference, NumericColumn):
        counts = totals.numeric[name]
        if current_rows and reference.count:
            low, high = totals.sums[name]
            statistic = stats.numeric_statistic(
                cast(stats.NumericMethod, method), reference.quantiles, reference.edges,
                reference.counts, reference.std, stats.NumericSummary(counts, low, high))
        histogram = stats.decile_histogram(reference.quantiles, reference.edges,
                                           reference.counts, counts) if reference.count \
            else {"bins": [], "reference": [], "current": []}
        kind: FeatureKind = "numeric"
    else:
        labels, ref, cur = stats.categorical_bins(reference.values, reference.other,
                                                  totals.values[name], totals.other[name])
        if current_rows and reference.count:
            statistic = stats.categorical_statistic(
                cast(stats.CategoricalMethod, method), ref, cur)
        histogram = {"bins": labels, "reference": stats.shares(ref),
                     "current": stats.shares(cur)}
        kind = "categorical"
    row = FeatureDrift(name, kind, method, statistic, threshold,
                       statistic is not None and stats.drifted(method, statistic, threshold),
                       reference.count, current_rows)
    return row, histogram


# --------------------------------------------------------------------------- the API


def _profile(reference: Any, name: str, cwd: str | os.PathLike[str] | None,
             config: Config) -> tuple[Profile, str]:
    if reference is None:
        from .reference import load_reference

        found = load_reference(name, cwd=cwd, config=config)
        return found.profile, found.origin
    if isinstance(reference, Profile):
        kind = reference.source.get("kind") if isinstance(reference.source, Mapping) else None
        return reference, f"the profile given ({kind})" if kind else "the profile given"
    if isinstance(getattr(reference, "profile", None), Profile):  # a reference.Reference
        return reference.profile, str(getattr(reference, "origin", "the reference given"))
    from .profile import profile_frame

    profile = profile_frame(reference, source={"kind": "drift"})
    return profile, f"the data frame given ({profile.rows} rows)"


def drift(name: str, *, since: TimeLike = None, until: TimeLike = None,
          reference: pd.DataFrame | Profile | None = None,
          cwd: str | os.PathLike[str] | None = None,
          config: Config | None = None) -> DriftReport:
    """Drift of deployment ``name``'s requests logged in [since, until) against
    ``reference`` (None: the deployed model's stored reference). See the module's
    docstring."""
    config = config if config is not None else load_config(cwd)
    start, end = parse_time(since, "since"), parse_time(until, "until")
    if start is not None and end is not None and start >= end:
        raise UserInputError(f"since ({start.isoformat()}) must be before until "
                             f"({end.isoformat()})")
    require_known(config, name)
    settings = _Settings.read(config)
    profile, origin = _profile(reference, name, cwd, config)
    hours = log_hours(config, name, start, end)
    inputs, known = _model_columns(config, name, hours)
    plan, missing = _plan(profile, inputs, known)
    totals = _Totals(plan)
    folder = cache_folder(config, name) / "drift"
    if len(hours) > 1:
        workers = min(4, os.cpu_count() or 1, len(hours))
        with ThreadPoolExecutor(workers, thread_name_prefix="mlops-drift") as pool:
            summaries = list(pool.map(
                lambda hour: _hour_summary(hour, plan, start, end, folder), hours))
    else:
        summaries = [_hour_summary(hour, plan, start, end, folder) for hour in hours]
    for summary in summaries:
        totals.add(summary)
    rows: list[FeatureDrift] = []
    histograms: dict[str, dict[str, list[Any]]] = {}
    for column, column_reference in plan.columns.items():
        row, histogram = _compare(column, column_reference, totals, settings)
        rows.append(row)
        histograms[column] = histogram
    return DriftReport(name, start, end, origin, profile.rows, totals.rows, rows, missing,
                       histograms, None if totals.rows else NO_ROWS)
