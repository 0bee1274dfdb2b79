"""Late labels and performance over time: labels stored next to the inference log (written
as the serving process writes it), later labels winning, the join on request_id per time
bucket against a hand computation, each metric, the training run's metric from a real
MLflow run behind a real local deployment, and bad input as one line each."""

from __future__ import annotations

import importlib
import math
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from jupyter_mlops.errors import NotFoundError, UserInputError
from jupyter_mlops.monitor.labels import LabelsLogged, log_labels, read_labels
from jupyter_mlops.monitor.performance import performance, performance_dict
from tests.deploy_fixtures import post
from tests.monitor_fixtures import NOW, deployed, log_folder, row, write_part

# the module, not the function of the same name the package exports
performance_module = importlib.import_module("jupyter_mlops.monitor.performance")

HOUR = timedelta(hours=1)
#: the start of the hour three hours back, and of the current hour (UTC)
OLD = NOW.replace(minute=0, second=0) - 3 * HOUR
RECENT = NOW.replace(minute=0, second=0)


def parts(project: Path, name: str = "churn") -> list[Path]:
    folder = log_folder(project, name) / "labels"
    return sorted(folder.iterdir()) if folder.is_dir() else []


@pytest.fixture
def graded(project: Path) -> Path:
    """'churn' predicting classes: 6 requests in the hour 3 h back (two at :10, four at
    :40), 4 in the current hour; request ``c-<n>`` predicts ``n % 2``."""
    deployed(project, "churn")
    stamps = [OLD + timedelta(minutes=10, seconds=i) for i in range(2)] + \
        [OLD + timedelta(minutes=40, seconds=i) for i in range(4)] + \
        [RECENT + timedelta(seconds=i) for i in range(4)]
    rows = [row(when, n, request_id=f"c-{n}", prediction=float(n % 2))
            for n, when in enumerate(stamps)]
    write_part(project, "churn", rows[:6])
    write_part(project, "churn", rows[6:])
    return project


def by_hand(project: Path, labels: dict[str, float], score: Callable[[list[float],
            list[float]], float], step: timedelta = HOUR) -> dict[datetime, tuple[float, int]]:
    """The metric per bucket computed without the code under test: each logged row's
    prediction and time as written, the label given for its request, buckets from the
    epoch."""
    logged = [record for path in sorted(log_folder(project, "churn").glob(
        "date=*/hour=*/part-*.parquet")) for record in pq.read_table(path).to_pylist()]
    grouped: dict[datetime, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    seconds = step.total_seconds()
    for record in logged:
        if record["request_id"] in labels:
            when = record["timestamp"]
            start = datetime.fromtimestamp(when.timestamp() // seconds * seconds, when.tzinfo)
            grouped[start][0].append(labels[record["request_id"]])
            grouped[start][1].append(record["prediction"])
    return {start: (score(truth, predicted), len(truth))
            for start, (truth, predicted) in sorted(grouped.items())}


def as_buckets(frame: pd.DataFrame) -> dict[datetime, tuple[float, int]]:
    return {t.to_pydatetime(): (float(v), int(n))
            for t, v, n in zip(frame["time"], frame["value"], frame["rows"], strict=True)}


def accuracy(truth: list[float], predicted: list[float]) -> float:
    return sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth)


# ------------------------------------------------------------------------------ labels


def test_labels_are_parquet_parts_next_to_the_log_and_say_how_many_matched(
        graded: Path) -> None:
    truth = pd.DataFrame({"request_id": ["c-0", "c-1", "c-7", "ghost-1", "ghost-2"],
                          "churned": [0, 0, 1, 1, 0]})
    logged = log_labels("churn", truth)
    assert isinstance(logged, LabelsLogged)
    assert (logged.rows, logged.matched, logged.unmatched, logged.label) == (5, 3, 2, "churned")
    assert logged.to_text() == "5 labels for churn, 3 matched a logged request, 2 matched none"
    assert logged.to_dict() == {"name": "churn", "rows": 5, "matched": 3, "unmatched": 2,
                                "label": "churned", "path": logged.path, "message": None}
    (part,) = parts(graded)  # nothing else there: no temporary file left behind
    assert str(part) == logged.path
    assert re.fullmatch(r"part-\d{13}-[0-9a-f]{8}\.parquet", part.name)
    assert part.parent == log_folder(graded, "churn") / "labels"
    table = pq.read_table(part)
    assert table.schema.names == ["request_id", "label", "received_at"]
    assert str(table.schema.field("received_at").type) == "timestamp[us, tz=UTC]"
    assert table.column("request_id").to_pylist() == list(truth["request_id"])
    assert table.column("label").to_pylist() == [0.0, 0.0, 1.0, 1.0, 0.0]
    # the inference log still reads as before: the labels folder is not an hour of it
    import jupyter_mlops as mlops

    assert len(mlops.monitor.inferences("churn")) == 10


def test_labels_matching_nothing_are_stored_and_said_loudly(graded: Path) -> None:
    logged = log_labels("churn", pd.DataFrame({"request_id": ["x-1", "x-2"], "y": ["a", "b"]}))
    assert (logged.matched, logged.unmatched) == (0, 2)
    assert logged.message and "none of the 2 request ids matched a request churn logged" in \
        logged.message
    assert logged.to_text().splitlines()[1] == logged.message
    assert logged.to_dict()["message"] == logged.message
    assert len(parts(graded)) == 1


def test_later_labels_for_the_same_request_win(graded: Path) -> None:
    log_labels("churn", pd.DataFrame({"request_id": ["c-0", "c-1", "c-2", "c-1"],
                                      "y": [1, 1, 0, 0]}))  # c-1 given twice: the last wins
    log_labels("churn", pd.DataFrame({"request_id": ["c-2", "c-3"], "y": [1, 1]}))
    stored = read_labels(log_folder(graded, "churn") / "labels")
    assert dict(zip(stored["request_id"], stored["label"], strict=True)) == {
        "c-0": 1.0, "c-1": 0.0, "c-2": 1.0, "c-3": 1.0}
    assert len(parts(graded)) == 2
    frame = performance("churn", since=OLD, until=OLD + HOUR)
    # c-0 predicts 0 (label 1), c-1 predicts 1 (label 0), c-2 predicts 0 (label 1, the later
    # one), c-3 predicts 1 (label 1): 1 of 4 right
    assert as_buckets(frame) == {OLD: (0.25, 4)}


# ------------------------------------------------------------------------------ performance


LABELS = {"c-0": 0.0, "c-1": 0.0, "c-2": 0.0, "c-3": 1.0, "c-4": 1.0, "c-6": 1.0,
          "c-7": 1.0, "c-9": 0.0}


def test_accuracy_per_hour_is_the_hand_computation(graded: Path) -> None:
    log_labels("churn", pd.DataFrame({"request_id": list(LABELS), "y": list(LABELS.values())}))
    frame = performance("churn")
    assert list(frame.columns) == ["time", "value", "rows", "training"]
    assert str(frame["time"].dt.tz) == "UTC"
    expected = by_hand(graded, LABELS, accuracy)
    assert as_buckets(frame) == expected
    assert sum(n for _v, n in expected.values()) == len(LABELS)  # each for a logged request
    assert frame["training"].isna().all()  # this deployment has no training run
    assert frame.attrs["metric"] == "accuracy" and frame.attrs["by"] == "1h"
    assert frame.attrs["message"] is None and frame.attrs["training"] is None
    # 15 minute buckets split the old hour at :10 and :40; a day holds both hours (or two
    # days, just after midnight)
    quarter = performance("churn", by="15m")
    assert as_buckets(quarter) == by_hand(graded, LABELS, accuracy, timedelta(minutes=15))
    assert as_buckets(performance("churn", by="1d")) == by_hand(
        graded, LABELS, accuracy, timedelta(days=1))
    # the window: only the current hour
    assert as_buckets(performance("churn", since=RECENT)) == {
        k: v for k, v in expected.items() if k >= RECENT}
    data = performance_dict(frame)
    assert data == {"metric": "accuracy", "by": "1h", "training": None, "message": None,
                    "points": [{"t": t.isoformat(), "value": v, "rows": n}
                               for t, (v, n) in expected.items()]}


def test_a_bucket_starts_at_its_first_microsecond(project: Path) -> None:
    deployed(project, "churn")
    edge = RECENT - timedelta(microseconds=1)
    write_part(project, "churn", [row(edge, 0, request_id="e-0", prediction=1.0)])
    write_part(project, "churn", [row(RECENT, 1, request_id="e-1", prediction=1.0),
                                  row(RECENT + timedelta(minutes=59, seconds=59,
                                                         microseconds=999_999), 2,
                                      request_id="e-2", prediction=0.0)])
    log_labels("churn", pd.DataFrame({"request_id": ["e-0", "e-1", "e-2"], "y": [1, 0, 0]}))
    assert as_buckets(performance("churn")) == {RECENT - HOUR: (1.0, 1), RECENT: (0.5, 2)}


def f1_binary(truth: list[float], predicted: list[float], positive: float = 1.0) -> float:
    tp = sum(t == positive and p == positive for t, p in zip(truth, predicted, strict=True))
    fp = sum(t != positive and p == positive for t, p in zip(truth, predicted, strict=True))
    fn = sum(t == positive and p != positive for t, p in zip(truth, predicted, strict=True))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def auc(truth: list[float], scores: list[float]) -> float:
    """Every (positive, negative) pair: 1 when the positive scores higher, 1/2 on a tie."""
    pos = [s for t, s in zip(truth, scores, strict=True) if t == 1]
    neg = [s for t, s in zip(truth, scores, strict=True) if t != 1]
    if not pos or not neg:
        return math.nan
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg) / (
        len(pos) * len(neg))


def same(left: dict[datetime, tuple[float, int]],
         right: dict[datetime, tuple[float, int]]) -> bool:
    return left.keys() == right.keys() and all(
        ((math.isnan(a[0]) and math.isnan(b[0])) or a[0] == pytest.approx(b[0])) and a[1] == b[1]
        for a, b in zip(left.values(), right.values(), strict=True))


def test_f1_rmse_mae_and_a_callable_are_the_hand_computation(graded: Path) -> None:
    log_labels("churn", pd.DataFrame({"request_id": list(LABELS), "y": list(LABELS.values())}))
    f1 = performance("churn", "f1")
    assert f1.attrs["average"] == "binary" and f1.attrs["positive"] == 1
    assert same(as_buckets(f1), by_hand(graded, LABELS, f1_binary))
    zero = performance("churn", "f1", positive=0.0)
    assert same(as_buckets(zero), by_hand(graded, LABELS, lambda t, p: f1_binary(t, p, 0.0)))
    rmse = performance("churn", "rmse")
    assert same(as_buckets(rmse), by_hand(graded, LABELS, lambda t, p: math.sqrt(
        sum((a - b) ** 2 for a, b in zip(t, p, strict=True)) / len(t))))
    mae = performance("churn", "mae", by="15m")
    assert same(as_buckets(mae), by_hand(graded, LABELS, lambda t, p: sum(
        abs(a - b) for a, b in zip(t, p, strict=True)) / len(t), timedelta(minutes=15)))

    def wrong(truth: np.ndarray, predicted: np.ndarray) -> float:
        return float(np.sum(truth != predicted))

    custom = performance("churn", wrong)
    assert custom.attrs["metric"] == "wrong"
    assert same(as_buckets(custom), by_hand(graded, LABELS, lambda t, p: float(
        sum(a != b for a, b in zip(t, p, strict=True)))))


def test_macro_f1_over_several_classes(project: Path) -> None:
    deployed(project, "churn")
    predicted = [0, 1, 2, 2, 1, 0, 2, 1]
    write_part(project, "churn", [row(OLD + timedelta(seconds=i), i, request_id=f"m-{i}",
                                      prediction=float(p)) for i, p in enumerate(predicted)])
    truth = [0, 1, 1, 2, 1, 2, 2, 0]
    log_labels("churn", pd.DataFrame({"request_id": [f"m-{i}" for i in range(8)],
                                      "y": truth}))
    frame = performance("churn", "f1")
    expected = sum(f1_binary([float(t) for t in truth], [float(p) for p in predicted],
                             float(c)) for c in (0, 1, 2)) / 3
    assert frame.attrs["average"] == "macro"
    assert frame["value"].tolist() == [pytest.approx(expected)]


def test_auc_ranks_the_scores_and_needs_a_score(project: Path) -> None:
    deployed(project, "churn")
    scores = [0.1, 0.4, 0.35, 0.8, 0.7, 0.2, 0.9, 0.4, 0.6, 0.3]
    write_part(project, "churn", [row(OLD + timedelta(minutes=i * 5), i, request_id=f"s-{i}",
                                      prediction=s) for i, s in enumerate(scores)])
    truth = [0, 0, 1, 1, 0, 0, 1, 1, 1, 0]
    log_labels("churn", pd.DataFrame({"request_id": [f"s-{i}" for i in range(10)],
                                      "y": truth}))
    frame = performance("churn", "auc", by="30m")
    labels = {f"s-{i}": float(t) for i, t in enumerate(truth)}
    assert same(as_buckets(frame), by_hand(project, labels, auc, timedelta(minutes=30)))
    # scores at :00 … :45; 6 of 8 pairs ranked right in the first half hour, 3 of 3 after
    assert frame["value"].tolist() == [0.75, 1.0] and frame["rows"].tolist() == [6, 4]
    quarters = performance("churn", "auc", by="15m")
    assert same(as_buckets(quarters), by_hand(project, labels, auc, timedelta(minutes=15)))
    assert quarters["value"].isna().tolist() == [False, False, True, True]  # one class only
    # the scores are not classes: accuracy says so
    with pytest.raises(UserInputError, match=r"holds scores .*use metric='auc'"):
        performance("churn", "accuracy")


def test_numpy_computes_what_scikit_learn_does(graded: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    deployed(graded, "scores")
    stamps = [OLD + timedelta(seconds=int(s)) for s in sorted(rng.integers(0, 3 * 3600, 300))]
    classes = rng.integers(0, 3, 300)
    write_part(graded, "scores", [row(when, i, request_id=f"r-{i}", x0=float(rng.random()),
                                      prediction=float(c)) for i, (when, c) in
                                  enumerate(zip(stamps, classes, strict=True))])
    ids = [f"r-{i}" for i in range(300)]
    three = np.where(rng.random(300) < 0.7, classes, rng.integers(0, 3, 300))
    log_labels("scores", pd.DataFrame({"request_id": ids, "y": three}))

    def both(*args: Any, **kwargs: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
        with_sklearn = performance("scores", *args, **kwargs)
        with monkeypatch.context() as patch:
            patch.setattr(performance_module, "_sklearn_metrics", lambda: None)
            return with_sklearn, performance("scores", *args, **kwargs)

    for metric in ("accuracy", "f1", "rmse", "mae"):
        left, right = both(metric, by="30m")
        pd.testing.assert_frame_equal(left, right)
    assert performance_module._sklearn_metrics() is not None
    # binary F1 and AUC of scores with ties
    deployed(graded, "binary")
    scores = np.round(rng.random(300), 1)
    write_part(graded, "binary", [row(when, i, request_id=f"r-{i}", prediction=float(s))
                                  for i, (when, s) in enumerate(zip(stamps, scores,
                                                                    strict=True))])
    log_labels("binary", pd.DataFrame({"request_id": ids,
                                       "y": (rng.random(300) < scores).astype(int)}))
    with_sklearn = performance("binary", "auc", by="20m")
    monkeypatch.setattr(performance_module, "_sklearn_metrics", lambda: None)
    pd.testing.assert_frame_equal(with_sklearn, performance("binary", "auc", by="20m"))


def test_no_labels_is_an_empty_frame_that_says_how_to_log_them(graded: Path) -> None:
    frame = performance("churn", "f1")
    assert frame.empty and list(frame.columns) == ["time", "value", "rows", "training"]
    assert "mlops.monitor.log_labels('churn', df)" in frame.attrs["message"]
    assert performance_dict(frame) == {"metric": "f1", "by": "1h", "training": None,
                                       "points": [], "message": frame.attrs["message"]}
    # labels, but none for a request in the window
    log_labels("churn", pd.DataFrame({"request_id": ["c-0"], "y": [1]}))
    later = performance("churn", since=RECENT)
    assert later.empty and "none of churn's 1 labels" in later.attrs["message"]


def test_several_outputs_ask_which_is_the_prediction(project: Path) -> None:
    deployed(project, "multi")
    folder = log_folder(project, "multi") / f"date={OLD:%Y-%m-%d}" / f"hour={OLD:%H}"
    folder.mkdir(parents=True)
    pd.DataFrame({"request_id": ["a", "b", "c"],
                  "timestamp": pd.to_datetime([OLD] * 3, utc=True).astype("datetime64[us, UTC]"),
                  "version": ["1"] * 3, "x": [1.0, 2.0, 3.0],
                  "prediction_0": [0.9, 0.2, 0.4], "prediction_1": [0.1, 0.8, 0.6],
                  "latency_ms": [1.0] * 3}).to_parquet(folder / "part-1-abcdef01.parquet")
    log_labels("multi", pd.DataFrame({"request_id": ["a", "b", "c"], "y": [1, 1, 0]}))
    with pytest.raises(UserInputError) as caught:
        performance("multi", "auc")
    assert str(caught.value) == ("multi has several outputs (prediction_0, prediction_1): say "
                                 "which is the prediction with prediction=")
    frame = performance("multi", "auc", prediction="prediction_1")
    assert frame["value"].tolist() == [pytest.approx(auc([1, 1, 0], [0.1, 0.8, 0.6]))]
    assert frame.attrs["prediction"] == "prediction_1"


# ------------------------------------------------------------------------------ bad input


def frame_of(**columns: Any) -> pd.DataFrame:
    return pd.DataFrame(columns)


@pytest.mark.parametrize(("labels", "label", "error", "message"), [
    (frame_of(id=["c-0"], y=[1]), None, UserInputError,
     "labels need a request_id column (the X-Request-Id each answer carried); the frame "
     "has id, y"),
    (frame_of(request_id=["c-0"], y=[1], z=[0]), None, UserInputError,
     "labels need one label column besides request_id: several candidates (y, z), say "
     "which with label="),
    (frame_of(request_id=["c-0"]), None, UserInputError,
     "labels need one label column besides request_id: the frame has none"),
    (frame_of(request_id=["c-0"], y=[1]), "w", UserInputError,
     "label='w' is not a column of the labels (they have y)"),
    (frame_of(request_id=pd.Series([], dtype=str), y=pd.Series([], dtype=float)), None,
     UserInputError, "no labels: the frame is empty"),
    (frame_of(request_id=[1, 2], y=[1, 0]), None, UserInputError,
     "request_id must be text (the X-Request-Id of an answer), not integer (int64)"),
    (frame_of(request_id=["c-0", None], y=[1, 0]), None, UserInputError,
     "1 labels have no request_id"),
    (frame_of(request_id=["c-0", "c-1"], y=[1, None]), None, UserInputError,
     "1 labels in column 'y' are missing (null): drop those rows"),
    (frame_of(request_id=["c-0"], y=pd.Series(["2026-01-01"], dtype="datetime64[ns]")), None,
     UserInputError, "label column 'y' must hold numbers, booleans or text, not "
     "datetime64[ns]"),
    ([("c-0", 1)], None, UserInputError,
     "labels are a DataFrame with a request_id column and the label column, not list"),
])
def test_bad_labels_are_one_line_and_write_nothing(graded: Path, labels: Any, label: str | None,
                                                   error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        log_labels("churn", labels, label=label)
    assert str(caught.value) == message
    assert parts(graded) == []


def test_an_unknown_deployment_and_labels_of_another_kind_are_one_line(graded: Path) -> None:
    with pytest.raises(NotFoundError) as caught:
        log_labels("nobody", frame_of(request_id=["c-0"], y=[1]))
    assert "\n" not in str(caught.value) and "nobody" in str(caught.value)
    log_labels("churn", frame_of(request_id=["c-0"], y=[1]))
    with pytest.raises(UserInputError) as kind:
        log_labels("churn", frame_of(request_id=["c-1"], y=["yes"]))
    assert str(kind.value) == ("churn's earlier labels are numbers and these are texts: give "
                               "the labels as numbers")
    assert len(parts(graded)) == 1


def test_a_labels_file_that_is_not_one_is_named(graded: Path) -> None:
    log_labels("churn", frame_of(request_id=["c-0"], y=[1]))
    bad = log_folder(graded, "churn") / "labels" / "part-9999999999999-00000000.parquet"
    pd.DataFrame({"something": [1]}).to_parquet(bad)
    with pytest.raises(UserInputError) as caught:
        performance("churn")
    assert str(caught.value).startswith(f"labels file {bad} is not a labels part")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"metric": "precision"}, "metric 'precision': choose accuracy, f1, auc, rmse, mae, or "
                              "pass a function (y_true, y_pred) -> float"),
    ({"by": "soon"}, "by: give seconds or a duration (30s, 15m, 1h, 2d, 1w), not 'soon'"),
    ({"by": "0.5s"}, "by: buckets of at least 1s, not '0.5s'"),
    ({"since": "1h", "until": "2h"}, "since (…) must be before until (…)"),
    ({"metric": "auc"}, "auc needs a score or probability; churn's prediction holds classes: "
                        "pass prediction= a score column"),
    ({"metric": "f1", "positive": 3}, "positive=3 is not one of the classes (0.0, 1.0)"),
    ({"prediction": "timestamp"}, "prediction='timestamp': name a prediction column of "
                                  "churn's log"),
    ({"prediction": "score"}, "churn's log has no column 'score': pass prediction= one of "
                              "x0, x1, prediction"),
    ({"metric": lambda t, p: 1 / 0}, "metric <lambda> failed: ZeroDivisionError: division "
                                     "by zero"),
])
def test_bad_performance_requests_are_one_line(graded: Path, kwargs: dict[str, Any],
                                               message: str) -> None:
    log_labels("churn", pd.DataFrame({"request_id": list(LABELS), "y": list(LABELS.values())}))
    with pytest.raises(UserInputError) as caught:
        performance("churn", **kwargs)
    text = str(caught.value)
    assert "\n" not in text
    assert re.fullmatch(re.escape(message).replace("…", ".*"), text), text


def test_text_labels_against_numeric_predictions_is_one_line(graded: Path) -> None:
    log_labels("churn", pd.DataFrame({"request_id": ["c-0", "c-1"], "y": ["stay", "churn"]}))
    with pytest.raises(UserInputError) as caught:
        performance("churn")
    assert str(caught.value) == ("accuracy compares classes, but churn's labels are text and "
                                 "its prediction is numbers")
    with pytest.raises(UserInputError, match="rmse needs numeric labels and predictions"):
        performance("churn", "rmse")


# ------------------------------------------------------------------------------ served


CLASSIFIER = '''
import mlflow
from mlflow.pyfunc import PythonModel


class Threshold(PythonModel):
    """Class 1 when x0 + x1 > 1."""

    def predict(self, context, model_input, params=None):
        return ((model_input["x0"] + model_input["x1"]) > 1).astype("int64").to_numpy()


mlflow.models.set_model(Threshold())
'''


@pytest.fixture
def trained(project: Path, tracking_server: str,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A classifier logged to a real tracking server in a run that logged accuracy 0.75;
    the run id."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from jupyter_mlops.config import load_config
    from jupyter_mlops.tracking.store import ensure_experiment

    monkeypatch.setenv("MLOPS_TRACKING_URI", tracking_server)
    code = project / "threshold_model.py"
    code.write_text(CLASSIFIER)
    mlflow.set_tracking_uri(tracking_server)
    try:
        mlflow.set_experiment(experiment_id=ensure_experiment(load_config(project), "labels"))
        with mlflow.start_run() as run:
            mlflow.log_metric("accuracy", 0.75)
            mlflow.pyfunc.log_model(name="model", python_model=str(code), signature=ModelSignature(
                Schema([ColSpec("double", "x0"), ColSpec("double", "x1")]),
                Schema([ColSpec("long")])))
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    yield run.info.run_id


def serve_requests(project: Path, run_id: str, rows: list[tuple[float, float]]) -> pd.DataFrame:
    """Each row sent as one request with id ``g-<i>`` to the deployment ``graded`` (made
    here); the logged rows, once the log holds them all."""
    import jupyter_mlops as mlops
    from jupyter_mlops.deploy import deploy

    endpoint = deploy(run_id, name="graded", cwd=project)
    assert endpoint.run_id == run_id
    for i, (x0, x1) in enumerate(rows):
        status, answer, _ = post(f"{endpoint.url}/invocations",
                                 {"dataframe_records": [{"x0": x0, "x1": x1}]},
                                 headers={"X-Request-Id": f"g-{i}"})
        assert status == 200, answer
    deadline = time.monotonic() + 20
    while len(logged := mlops.monitor.inferences("graded", cwd=project)) < len(rows):
        assert time.monotonic() < deadline, "the requests did not reach the log"
        time.sleep(0.25)
    return logged


@pytest.mark.timeout(600)
def test_late_labels_of_a_served_model_against_its_training_run(project: Path,
                                                                 trained: str) -> None:
    """Requests to a real local deployment; labels for some of them arrive later, in two
    calls, the second overriding one; accuracy per hour is the hand computation and the
    training column is the run's logged accuracy."""
    from jupyter_mlops.deploy import undeploy

    rows = [(0.2, 0.3), (0.9, 0.4), (0.6, 0.6), (0.1, 0.1), (0.7, 0.2), (0.5, 0.9),
            (0.0, 0.4), (0.8, 0.8)]
    predicted = {f"g-{i}": int(x0 + x1 > 1) for i, (x0, x1) in enumerate(rows)}
    labels = {"g-0": 0, "g-1": 1, "g-2": 1, "g-3": 0, "g-4": 1, "g-5": 1, "g-6": 1}
    try:
        logged = serve_requests(project, trained, rows)
        assert dict(zip(logged["request_id"], logged["prediction"], strict=True)) == predicted

        first = log_labels("graded", pd.DataFrame(
            {"request_id": ["g-0", "g-1", "g-2", "g-3", "g-4", "unknown-9"],
             "outcome": [0, 1, 0, 0, 1, 1]}), cwd=project)
        assert (first.rows, first.matched, first.unmatched) == (6, 5, 1)
        second = log_labels("graded", pd.DataFrame(  # g-2 was 0: the later label wins
            {"request_id": ["g-2", "g-5", "g-6"], "outcome": [1, 1, 1]}), cwd=project)
        assert (second.rows, second.matched, second.unmatched) == (3, 3, 0)

        frame = performance("graded", cwd=project)
        hours: dict[datetime, list[bool]] = defaultdict(list)
        for rid, when in zip(logged["request_id"], logged["timestamp"], strict=True):
            if rid in labels:
                hours[when.floor("h").to_pydatetime()].append(labels[rid] == predicted[rid])
        expected = {t: (sum(hits) / len(hits), len(hits)) for t, hits in sorted(hours.items())}
        assert as_buckets(frame) == expected
        assert sum(n for _v, n in expected.values()) == 7  # g-7 has no label
        assert frame["training"].tolist() == [0.75] * len(hours)
        assert frame.attrs["training"] == 0.75 and frame.attrs["run_id"] == trained
        assert performance_dict(frame)["training"] == 0.75
        # a metric the run did not log: NaN
        assert performance("graded", "f1", cwd=project)["training"].isna().all()
    finally:
        undeploy("graded", cwd=project)
    # log and labels outlive the deployment; its link to the training run does not
    after = performance("graded", cwd=project)
    assert as_buckets(after) == expected and after["training"].isna().all()
