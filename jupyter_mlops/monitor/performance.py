"""The model's performance over time: the inference log joined with the late labels on
``request_id``, a metric per time bucket of the requests, next to the same metric as the
training run logged it.

>>> mlops.monitor.performance("churn", "f1", since="2d", by="1h")
                       time  value  rows  training
0 2026-12-03 10:00:00+00:00   0.81   120      0.86

Metrics: ``accuracy``; ``f1`` (binary, of the positive class, when the window's labels and
predictions hold two classes or fewer; the unweighted mean over the classes (macro) when
more); ``auc`` (binary ROC AUC; the prediction must be a score or probability of the
positive class); ``rmse``; ``mae``; or a callable ``(y_true, y_pred) -> float``. The positive
class is ``positive=``, else 1 (or True) when it is a class, else the last class in sorted
order. scikit-learn's metrics compute them where it is installed, numpy's equivalents where
not. A request that carried several rows joins its one label on each of them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args

from ..config import Config, load_config
from ..deploy.core import store_for
from ..errors import MLOpsError, UserInputError
from .folders import require_known
from .labels import labels_folder, read_labels
from .log_store import HourPart, log_hours
from .timespan import TimeLike, parse_duration, parse_time

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

__all__ = ["METRICS", "MetricName", "performance", "performance_dict", "training_metric"]

MetricName = Literal["accuracy", "f1", "auc", "rmse", "mae"]
METRICS: tuple[MetricName, ...] = get_args(MetricName)
MetricFunction = Callable[[Any, Any], float]
Average = Literal["binary", "macro"]
COLUMNS = ("time", "value", "rows", "training")
#: log columns that are never the prediction
_NOT_PREDICTIONS = ("request_id", "timestamp", "version", "latency_ms")


def _config(config: Config | None, cwd: str | os.PathLike[str] | None) -> Config:
    return config if config is not None else load_config(cwd)


# ------------------------------------------------------------------------------ metrics


def _metric_name(metric: MetricName | MetricFunction) -> str:
    if callable(metric):
        return str(getattr(metric, "__name__", None) or type(metric).__name__)
    if metric not in METRICS:
        raise UserInputError(f"metric {metric!r}: choose {', '.join(METRICS)}, or pass a "
                             "function (y_true, y_pred) -> float")
    return metric


def _sklearn_metrics() -> Any:
    try:
        import sklearn.metrics as metrics  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return None
    return metrics


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank."""
    import numpy as np

    _unique, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    return np.asarray((upper - (counts - 1) / 2.0)[inverse.reshape(-1)], dtype="float64")


def _f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """F1 of booleans (True: the class counted); 0 when there is nothing to count."""
    true_pos = float((truth & predicted).sum())
    wrong = float((truth ^ predicted).sum())
    return 2 * true_pos / (2 * true_pos + wrong) if true_pos else 0.0


def _score(metric: MetricName, truth: np.ndarray, predicted: np.ndarray, *,
           positive: Any, average: Average, metrics: Any) -> float:
    """``metric`` of one bucket; NaN where it is undefined (ROC AUC of one class)."""
    import numpy as np

    if metric == "accuracy":
        return float(metrics.accuracy_score(truth, predicted) if metrics is not None
                     else np.mean(truth == predicted))
    if metric == "f1":
        if average == "binary":
            truth, predicted = truth == positive, predicted == positive
            return float(metrics.f1_score(truth, predicted, zero_division=0.0)
                         if metrics is not None else _f1(truth, predicted))
        if metrics is not None:
            return float(metrics.f1_score(truth, predicted, average="macro", zero_division=0.0))
        classes = np.unique(np.concatenate([truth, predicted]))
        return float(np.mean([_f1(truth == c, predicted == c) for c in classes]))
    if metric == "auc":
        hits = truth == positive
        count = int(hits.sum())
        if count in (0, len(hits)):
            return math.nan
        if metrics is not None:
            return float(metrics.roc_auc_score(hits, predicted.astype("float64")))
        ranks = _ranks(predicted.astype("float64"))
        return float((ranks[hits].sum() - count * (count + 1) / 2)
                     / (count * (len(hits) - count)))
    errors = truth.astype("float64") - predicted.astype("float64")
    if metric == "rmse":
        return float(metrics.root_mean_squared_error(truth, predicted) if metrics is not None
                     else np.sqrt(np.mean(errors ** 2)))
    return float(metrics.mean_absolute_error(truth, predicted) if metrics is not None
                 else np.mean(np.abs(errors)))


def _is_number(values: np.ndarray) -> bool:
    import numpy as np

    return bool(np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_)


def _whole(values: np.ndarray) -> bool:
    import numpy as np

    return bool(np.all(np.mod(values.astype("float64"), 1) == 0))


def _positive(classes: list[Any], positive: Any) -> Any:
    if positive is not None:
        if positive not in classes:
            raise UserInputError(f"positive={positive!r} is not one of the classes "
                                 f"({', '.join(map(repr, classes))})")
        return positive
    return 1 if 1 in classes else classes[-1]


def _plan(metric: MetricName, name: str, column: str, truth: np.ndarray,
          predicted: np.ndarray, positive: Any) -> tuple[Any, Average]:
    """The positive class and the F1 average for the whole window, after checking that the
    labels and predictions suit ``metric`` (one clear line where they do not)."""
    import numpy as np

    numbers = _is_number(truth), _is_number(predicted)
    if metric in ("rmse", "mae"):
        if not all(numbers):
            raise UserInputError(f"{metric} needs numeric labels and predictions; "
                                 f"{name}'s {'labels' if not numbers[0] else column} are text")
        return None, "binary"
    classes = sorted(np.unique(truth).tolist())
    if metric == "auc":
        if not numbers[1]:
            raise UserInputError(f"auc needs a score or probability; {name}'s {column} is "
                                 "text: pass prediction= a score column")
        if len(classes) != 2:
            raise UserInputError(f"auc is binary: {name}'s labels in the window hold "
                                 f"{len(classes)} class(es) ({', '.join(map(repr, classes[:5]))})")
        if numbers[0] and set(np.unique(predicted).tolist()) <= set(classes):
            raise UserInputError(f"auc needs a score or probability; {name}'s {column} holds "
                                 "classes: pass prediction= a score column")
        return _positive(classes, positive), "binary"
    if numbers[0] != numbers[1]:
        raise UserInputError(f"{metric} compares classes, but {name}'s labels are "
                             f"{'numbers' if numbers[0] else 'text'} and its {column} is "
                             f"{'numbers' if numbers[1] else 'text'}")
    if all(numbers) and _whole(truth) and not _whole(predicted):
        raise UserInputError(f"{metric} compares classes, but {name}'s {column} holds scores "
                             "(not whole numbers): use metric='auc', or pass prediction= a "
                             "column of classes")
    if metric == "accuracy":
        return None, "binary"
    both = sorted(np.unique(np.concatenate([truth, predicted])).tolist())
    if len(both) > 2:
        return None, "macro"
    return _positive(both, positive), "binary"


# ------------------------------------------------------------------------------ reading


def _columns_of(hours: list[HourPart]) -> list[str]:
    """The columns of the newest hour of the log (for a message that lists them)."""
    return [str(c) for c in hours[-1].read().column_names] if hours else []


def _read_window(name: str, hours: list[HourPart], column: str, start: datetime | None,
                 end: datetime | None) -> pd.DataFrame:
    """``request_id``, ``timestamp`` and ``prediction`` (from ``column``) of the requests
    logged in [start, end) that have a prediction."""
    import pandas as pd
    import pyarrow as pa

    wanted = ["request_id", "timestamp", column]
    tables = [table for table in (hour.read(wanted) for hour in hours)
              if column in table.column_names]
    if not tables:
        if not hours:
            return pd.DataFrame(columns=["request_id", "timestamp", "prediction"])
        outputs = [c for c in _columns_of(hours) if c not in _NOT_PREDICTIONS]
        several = [c for c in outputs if c.startswith("prediction")]
        if column == "prediction" and several:
            raise UserInputError(f"{name} has several outputs ({', '.join(several)}): say "
                                 "which is the prediction with prediction=")
        raise UserInputError(f"{name}'s log has no column {column!r}: pass prediction= one "
                             f"of {', '.join(outputs) or 'its columns'}")
    table = pa.concat_tables([t.select(wanted) for t in tables], promote_options="permissive")
    frame: pd.DataFrame = table.to_pandas().rename(columns={column: "prediction"})
    stamps = frame["timestamp"]
    keep = frame["prediction"].notna()
    if start is not None:
        keep &= stamps >= pd.Timestamp(start)
    if end is not None:
        keep &= stamps < pd.Timestamp(end)
    return frame[keep]


def training_metric(config: Config, name: str, metric: str) -> tuple[float | None, str | None]:
    """The metric ``metric`` as the training run of ``name``'s current version logged it
    (its latest value), and that run's id; None where there is no run, no such metric, or
    the tracking store cannot be read."""
    store = store_for(config)
    if not store.exists(name):
        return None, None
    run_id = store.load(name).run_id
    if not run_id:
        return None, None
    try:
        from ..tracking.store import get_run, reachable_client

        run = get_run(reachable_client(config), config, run_id)
    except (MLOpsError, ImportError):
        return None, run_id
    value = run.data.metrics.get(metric)
    return (float(value) if value is not None else None), run_id


# ------------------------------------------------------------------------------ frames


def _frame(rows: dict[str, list[Any]], attrs: dict[str, Any]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame({
        "time": pd.to_datetime(pd.Series(rows["time"], dtype="int64"), unit="us", utc=True),
        "value": pd.Series(rows["value"], dtype="float64"),
        "rows": pd.Series(rows["rows"], dtype="int64"),
        "training": pd.Series([attrs["training"] if attrs["training"] is not None
                               else math.nan] * len(rows["time"]), dtype="float64")})
    frame.attrs.update(attrs)
    return frame


def performance(name: str, metric: MetricName | MetricFunction = "accuracy", *,
                since: TimeLike = None, until: TimeLike = None,
                by: str | float | timedelta = "1h", prediction: str | None = None,
                positive: Any = None, cwd: str | os.PathLike[str] | None = None,
                config: Config | None = None) -> pd.DataFrame:
    """Deployment ``name``'s ``metric`` per ``by`` (``15m``, ``1h``, ``1d``; buckets are
    whole multiples of it since the Unix epoch, in UTC) over the requests logged in
    [since, until) that have a label: columns ``time`` (the bucket's start), ``value``,
    ``rows`` (labelled rows in the bucket; empty buckets are left out) and ``training``
    (the training run's logged metric of the same name, NaN when none). ``prediction``:
    the log's prediction column, when the model has several outputs. ``frame.attrs``:
    ``metric``, ``by``, ``training``, ``run_id``, ``prediction``, ``positive``,
    ``average`` (f1), ``message`` (why the frame is empty)."""
    import numpy as np

    config = _config(config, cwd)
    folder = require_known(config, name)
    metric_name = _metric_name(metric)
    step = parse_duration(by, "by")
    step_us = int(step / timedelta(microseconds=1))
    if step_us < 1_000_000:
        raise UserInputError(f"by: buckets of at least 1s, not {by!r}")
    start, end = parse_time(since, "since"), parse_time(until, "until")
    if start is not None and end is not None and start >= end:
        raise UserInputError(f"since ({start.isoformat()}) must be before until "
                             f"({end.isoformat()})")
    attrs: dict[str, Any] = {"metric": metric_name, "by": by if isinstance(by, str)
                             else f"{step.total_seconds():g}s", "training": None,
                             "run_id": None, "prediction": prediction or "prediction",
                             "positive": None, "average": None, "message": None}
    empty: dict[str, list[Any]] = {"time": [], "value": [], "rows": []}
    labels = read_labels(labels_folder(folder))
    if labels.empty:
        attrs["message"] = (f"no labels for {name} yet: log them with mlops.monitor."
                            f"log_labels({name!r}, df) (a request_id column and the label "
                            f"column) or %mlops labels {name} VAR")
        return _frame(empty, attrs)
    if prediction is not None and (not isinstance(prediction, str)
                                   or prediction in _NOT_PREDICTIONS):
        raise UserInputError(f"prediction={prediction!r}: name a prediction column of "
                             f"{name}'s log")
    column = prediction or "prediction"
    hours = log_hours(config, name, start, end)
    joined = _read_window(name, hours, column, start, end).merge(
        labels[["request_id", "label"]], on="request_id", how="inner")
    attrs["training"], attrs["run_id"] = training_metric(config, name, metric_name)
    if joined.empty:
        attrs["message"] = (f"none of {name}'s {len(labels)} labels is for a request it "
                            "logged in the window")
        return _frame(empty, attrs)
    truth = joined["label"].to_numpy()
    predicted = joined["prediction"].to_numpy()
    if truth.dtype == object:
        truth = truth.astype(str)
    if predicted.dtype == object:
        predicted = predicted.astype(str)
    elif predicted.dtype == np.bool_:
        predicted = predicted.astype("float64")  # as the labels store booleans
    metrics: Any = None
    average: Average = "binary"
    if not callable(metric):
        attrs["positive"], average = _plan(metric, name, column, truth, predicted, positive)
        if metric == "f1":
            attrs["average"] = average
        metrics = _sklearn_metrics()
    micros = joined["timestamp"].dt.tz_convert(None).to_numpy().astype("datetime64[us]")
    buckets = micros.astype("int64") // step_us * step_us
    rows: dict[str, list[Any]] = {"time": [], "value": [], "rows": []}
    for bucket in np.unique(buckets):
        mine = buckets == bucket
        if callable(metric):
            try:
                value = float(metric(truth[mine], predicted[mine]))
            except Exception as exc:
                raise UserInputError(f"metric {metric_name} failed: {type(exc).__name__}: "
                                     f"{exc}".splitlines()[0]) from exc
        else:
            value = _score(metric, truth[mine], predicted[mine], positive=attrs["positive"],
                           average=average, metrics=metrics)
        rows["time"].append(int(bucket))
        rows["value"].append(value)
        rows["rows"].append(int(mine.sum()))
    return _frame(rows, attrs)


def performance_dict(frame: pd.DataFrame) -> dict[str, Any]:
    """A ``performance`` frame as JSON-ready data (for REST): ``metric``, ``by``,
    ``training``, ``points`` [{``t`` (ISO 8601), ``value`` (null where undefined),
    ``rows``}], ``message``."""

    def number(value: Any) -> float | None:
        return None if value is None or math.isnan(float(value)) else float(value)

    attrs = frame.attrs
    return {"metric": attrs.get("metric"), "by": attrs.get("by"),
            "training": number(attrs.get("training")),
            "points": [{"t": time.isoformat(), "value": number(value), "rows": int(count)}
                       for time, value, count in zip(frame["time"], frame["value"],
                                                     frame["rows"], strict=True)],
            "message": attrs.get("message")}
