"""Reference profiles against a real MLflow tracking server and the embedded feature store:
a tracked ``features.get`` stores ``monitor/reference.json`` unasked (numbers checked against
a hand computation on the frame), an explicit reference replaces it, and a deployment finds
its reference through its current version's training run."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import jupyter_mlops as mlops
from jupyter_mlops import features
from jupyter_mlops.config import load_config
from jupyter_mlops.deploy.state import Deployment, DeploymentStore, VersionInfo
from jupyter_mlops.errors import NotFoundError, UserInputError
from jupyter_mlops.monitor import reference as references
from jupyter_mlops.monitor.profile import (
    PROFILE_FORMAT,
    CategoricalColumn,
    NumericColumn,
    Profile,
    profile_frame,
)
from jupyter_mlops.monitor.reference import (
    REFERENCE_ARTIFACT,
    NoReference,
    ReferenceWarning,
    load_reference,
    set_reference,
)
from tests.features_fixtures import generate

pytestmark = pytest.mark.usefixtures("tracking_reset")


@pytest.fixture
def on_server(project: Path, tracking_server: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLOPS_TRACKING_URI", tracking_server)
    return project


def _client(project: Path) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(load_config(project)["tracking.uri"])


def _published(project: Path) -> pd.DataFrame:
    """Two views published; the entity frame to retrieve them for."""
    data = generate(5, rows=120, entity_rows=150)
    for batch in data.orders:
        features.publish(batch, "orders", entities="customer_id", timestamp="event_timestamp",
                         created_timestamp="created", cwd=project)
    features.publish(data.sessions[0], "sessions", entities=["customer_id", "device"],
                     timestamp="event_timestamp", cwd=project)
    return data.entities


def _stored(project: Path, run_id: str) -> dict[str, Any] | None:
    client = _client(project)
    if REFERENCE_ARTIFACT not in [f.path for f in client.list_artifacts(run_id, "monitor")]:
        return None
    text = Path(client.download_artifacts(run_id, REFERENCE_ARTIFACT,
                                          str(project / "downloaded"))).read_text()
    result: dict[str, Any] = json.loads(text)
    return result


def _deploy_record(project: Path, name: str, run_id: str | None, version: int = 1) -> None:
    """A deployment as the deploy store records it, serving ``run_id``'s model (stopped:
    finding the reference needs no serving process)."""
    store = DeploymentStore(load_config(project).path("deploy.path"))
    uri = f"runs:/{run_id}/model" if run_id else str(project / "a-model-folder")
    store.save(Deployment(name, "local", status="stopped", version=version, versions=[
        VersionInfo(version, uri, run_id=run_id, status="stopped")]))


def _hand_numeric(values: pd.Series) -> dict[str, Any]:
    """The contract's numbers, computed the plain way."""
    raw = values.astype("float64").to_numpy()
    kept = raw[np.isfinite(raw)]
    quantiles = [float(q) for q in np.quantile(kept, np.linspace(0, 1, 101))]
    edges = sorted(set(quantiles))
    counts = [0] * (len(edges) + 1)
    for x in kept:
        counts[sum(1 for e in edges if e <= x)] += 1
    return {"count": len(kept), "nulls": len(raw) - len(kept), "min": float(kept.min()),
            "max": float(kept.max()), "mean": float(kept.mean()), "std": float(kept.std()),
            "quantiles": quantiles, "edges": edges, "counts": counts}


def _assert_numeric(stored: dict[str, Any], values: pd.Series) -> None:
    want = _hand_numeric(values)
    assert stored["kind"] == "numeric"
    assert (stored["count"], stored["nulls"], stored["counts"]) == (
        want["count"], want["nulls"], want["counts"])
    for key in ("min", "max", "mean", "std"):
        assert math.isclose(stored[key], want[key], rel_tol=1e-9, abs_tol=1e-12), key
    assert np.allclose(stored["quantiles"], want["quantiles"], rtol=1e-12, atol=1e-12)
    assert np.allclose(stored["edges"], want["edges"], rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- captured unasked


def test_a_tracked_get_stores_its_frames_profile_and_the_deployment_finds_it(
        on_server: Path) -> None:
    project = on_server
    entities = _published(project)
    with mlops.start_run(run_name="trained", cwd=str(project)) as run:
        frame = features.get(["orders:amount", "orders:order_count", "orders:segment",
                              "sessions:*"], entities, timestamp="event_timestamp",
                             cwd=project)
        kept = frame.copy()
        frame["amount"] = 0.0  # the caller's later edits do not reach the reference
        frame.loc[0, "segment"] = "edited"
        second = features.get("orders:amount", entities.head(10), timestamp="event_timestamp",
                              cwd=project)  # not the first retrieval: not the reference
    assert len(second) == 10

    stored = _stored(project, run.run_id)
    assert stored is not None
    assert stored["format"] == PROFILE_FORMAT and stored["rows"] == len(kept)
    assert stored["source"]["kind"] == "features.get"
    assert stored["source"]["run_id"] == run.run_id
    assert sorted((v["view"], v["version"]) for v in stored["source"]["views"]) == [
        ("orders", 1), ("sessions", 1)]
    columns = stored["columns"]
    # the timestamp is left out; every other column of the frame is profiled
    assert list(columns) == [c for c in kept.columns if c != "event_timestamp"]
    assert kept["amount"].isna().any()  # entity rows without history: nulls to count
    for name in ("amount", "order_count", "minutes", "customer_id", "label"):
        _assert_numeric(columns[name], kept[name])
    active = kept["active"].astype("float64")  # booleans are numeric (0/1), nulls kept apart
    _assert_numeric(columns["active"], active)
    for name in ("segment", "device"):
        counts = Counter(kept[name].dropna())
        assert columns[name] == {"kind": "categorical", "count": sum(counts.values()),
                                 "nulls": int(kept[name].isna().sum()),
                                 "values": dict(counts), "other": 0}
        assert list(columns[name]["values"].values()) == sorted(counts.values(), reverse=True)

    _deploy_record(project, "churn", run.run_id)
    found = load_reference("churn", cwd=project)
    assert found.run_id == run.run_id
    assert found.profile.rows == len(kept)
    assert found.profile.columns["segment"] == CategoricalColumn(
        int(kept["segment"].notna().sum()), int(kept["segment"].isna().sum()),
        dict(Counter(kept["segment"].dropna())))
    assert found.origin == (f"run {run.run_id[:8]} (features.get of orders v1, sessions v1, "
                            f"{len(kept)} rows)")


def test_a_get_outside_a_run_stores_nothing(on_server: Path) -> None:
    project = on_server
    entities = _published(project)
    features.get("orders:amount", entities, timestamp="event_timestamp", cwd=project)
    assert not references.RUNS.threads
    with mlops.start_run(cwd=str(project)) as run:
        pass  # a run without a retrieval has no reference either
    assert _stored(project, run.run_id) is None
    _deploy_record(project, "plain", run.run_id)
    with pytest.raises(NoReference) as caught:
        load_reference("plain", cwd=project)
    message = str(caught.value)
    assert "\n" not in message
    assert f"deployment 'plain' has no reference: its version 1's run {run.run_id}" in message
    assert "mlops.monitor.set_reference('plain', df)" in message
    assert "mlops.log_model(..., reference=df)" in message


def test_a_profile_that_fails_costs_the_get_nothing(on_server: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    project = on_server
    entities = _published(project)

    def broken(*args: Any, **kwargs: Any) -> Profile:
        raise MemoryError("out of memory while profiling")

    monkeypatch.setattr(references, "profile_frame", broken)
    run = mlops.start_run(cwd=str(project))
    frame = features.get("orders:amount", entities, timestamp="event_timestamp", cwd=project)
    assert len(frame) == len(entities)
    with pytest.warns(ReferenceWarning, match=r"was not stored: out of memory while"):
        mlops.end_run()
    assert _stored(project, run.run_id) is None


# --------------------------------------------------------------------------- set explicitly


def test_log_model_reference_replaces_the_captured_one_and_adds_predictions(
        on_server: Path) -> None:
    from sklearn.linear_model import LinearRegression

    project = on_server
    entities = _published(project)
    rng = np.random.default_rng(3)
    train = pd.DataFrame({"x0": rng.normal(0, 1, 300), "x1": rng.normal(5, 2, 300),
                          "city": rng.choice(["a", "b"], 300)})
    model = LinearRegression().fit(train[["x0", "x1"]], 3 * train["x0"] - train["x1"])
    with mlops.start_run(cwd=str(project)) as run:
        features.get("orders:amount", entities, timestamp="event_timestamp", cwd=project)
        mlops.log_model(model, "line", reference=train)
        features.get("orders:amount", entities, timestamp="event_timestamp", cwd=project)

    stored = _stored(project, run.run_id)
    assert stored is not None
    assert stored["source"]["kind"] == "log_model" and stored["source"]["model"] == "line"
    assert stored["rows"] == 300
    assert list(stored["columns"]) == ["x0", "x1", "city", "prediction"]
    _assert_numeric(stored["columns"]["x1"], train["x1"])
    # the model was given the columns it was fitted on (not "city")
    _assert_numeric(stored["columns"]["prediction"],
                    pd.Series(model.predict(train[["x0", "x1"]])))
    _deploy_record(project, "line", run.run_id)
    assert load_reference("line", cwd=project).origin == (
        f"run {run.run_id[:8]} (log_model 'line' with its predictions, 300 rows)")

    with mlops.start_run(cwd=str(project)), pytest.raises(UserInputError,
                                                          match="must be a pandas DataFrame"):
        mlops.log_model(model, "line", reference=[[1.0, 2.0]])


class Doubler:
    """A pyfunc model (made an mlflow.pyfunc.PythonModel when MLflow is imported)."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return model_input["x"] * 2


def test_a_pyfunc_models_predictions_are_part_of_its_reference(on_server: Path) -> None:
    import mlflow.pyfunc

    model = type("DoublerModel", (Doubler, mlflow.pyfunc.PythonModel), {})()
    given = pd.DataFrame({"x": np.linspace(-1, 1, 41)})
    with mlops.start_run(cwd=str(on_server)) as run:
        mlops.log_model(model, "double", input_example=given.head(3), reference=given)
    stored = _stored(on_server, run.run_id)
    assert stored is not None and list(stored["columns"]) == ["x", "prediction"]
    _assert_numeric(stored["columns"]["prediction"], given["x"] * 2)


def test_set_reference_by_deployment_and_by_run_uri(on_server: Path) -> None:
    project = on_server
    entities = _published(project)
    with mlops.start_run(cwd=str(project)) as run:
        features.get("orders:amount", entities, timestamp="event_timestamp", cwd=project)
    _deploy_record(project, "churn", run.run_id)
    given = pd.DataFrame({"amount": [1.0, 2.0, 4.0, np.nan], "segment": ["a", "a", "b", None]})

    assert set_reference("churn", given, cwd=project) == run.run_id
    found = load_reference("churn", cwd=project)
    assert found.profile.rows == 4 and found.profile.source["kind"] == "set_reference"
    amount = found.profile.columns["amount"]
    assert isinstance(amount, NumericColumn)
    assert (amount.count, amount.nulls, amount.min, amount.max) == (3, 1, 1.0, 4.0)
    assert math.isclose(amount.mean or 0, 7 / 3) and math.isclose(
        amount.std or 0, float(np.std([1.0, 2.0, 4.0])))
    assert found.profile.columns["segment"] == CategoricalColumn(3, 1, {"a": 2, "b": 1})
    assert found.origin == f"run {run.run_id[:8]} (set_reference, 4 rows)"

    other = pd.DataFrame({"amount": np.arange(10.0)})
    assert set_reference(f"runs:/{run.run_id}", other, cwd=project) == run.run_id
    assert load_reference("churn", cwd=project).profile.rows == 10

    # inside the run itself, while a captured reference is still in flight: the explicit one
    # is stored after it, so it is the one that stays
    with mlops.start_run(cwd=str(project)) as active:
        features.get("orders:amount", entities, timestamp="event_timestamp", cwd=project)
        set_reference(f"runs:/{active.run_id}/model", other, cwd=project)
    stored = _stored(project, active.run_id)
    assert stored is not None and stored["rows"] == 10
    assert stored["source"]["kind"] == "set_reference"


def test_what_set_and_load_reference_refuse(on_server: Path) -> None:
    project = on_server
    frame = pd.DataFrame({"x": [1.0]})
    with pytest.raises(NotFoundError, match="no deployment named 'ghost'"):
        load_reference("ghost", cwd=project)
    with pytest.raises(NotFoundError, match="no deployment named 'ghost'"):
        set_reference("ghost", frame, cwd=project)
    with pytest.raises(UserInputError, match="must be a pandas DataFrame, not dict"):
        set_reference("ghost", {"x": [1.0]}, cwd=project)
    with pytest.raises(UserInputError, match="is neither a deployment name nor a model URI"):
        set_reference("s3://bucket/model", frame, cwd=project)
    _deploy_record(project, "folder-model", None)
    with pytest.raises(NoReference, match=r"which has no training run and so no reference; "
                                          r"give it one: mlops\.monitor\.set_reference"):
        load_reference("folder-model", cwd=project)
    with pytest.raises(UserInputError, match="no training run to keep a reference on"):
        set_reference("folder-model", frame, cwd=project)


@pytest.mark.parametrize(("content", "fault"), [
    (b"\x89PNG not json at all", "is not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "is not valid JSON"),
    (b'{"format": "mlops-profile/1", "rows": 2, "columns": {"x": {"kind": "numeric", '
     b'"count": 2, "nulls": 0, "min": 0, "max": 1, "mean": 0.5, "std": 0.5, '
     b'"quantiles": [0, 1], "edges": [0, 1], "counts": [0, 1, 1]}}}',
     "x has 2 quantiles, not 101"),
    (b'{"format": "mlops-profile/1", "rows": 5, "columns": {"c": {"kind": "categorical", '
     b'"count": 5, "nulls": 0, "values": {"a": 2}, "other": 1}}}',
     "c: the value counts do not add up to its count"),
    (b'{"format": "mlops-profile/1", "rows": 1, "columns": {"c": {"kind": "__import__", '
     b'"count": 1, "nulls": 0}}}', "has kind '__import__'"),
    (b'{"format": "pickle", "rows": 1}', "format 'pickle'"),
])
def test_a_corrupt_or_hostile_reference_is_one_clear_line(on_server: Path, content: bytes,
                                                          fault: str) -> None:
    project = on_server
    with mlops.start_run(cwd=str(project)) as run:
        pass
    bad = project / "bad" / "reference.json"
    bad.parent.mkdir()
    bad.write_bytes(content)
    _client(project).log_artifact(run.run_id, str(bad), "monitor")
    _deploy_record(project, "churn", run.run_id)
    with pytest.raises(UserInputError) as caught:
        load_reference("churn", cwd=project)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400
    assert f"monitor/reference.json of run {run.run_id}" in message
    assert fault in message


def test_an_oversized_reference_is_refused_before_it_is_read(
        on_server: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = on_server
    with mlops.start_run(cwd=str(project)) as run:
        pass
    big = project / "big" / "reference.json"
    big.parent.mkdir()
    big.write_bytes(b" " * 5000 + b"{}")
    _client(project).log_artifact(run.run_id, str(big), "monitor")
    _deploy_record(project, "churn", run.run_id)
    monkeypatch.setattr(references, "MAX_REFERENCE_BYTES", 4096)
    with pytest.raises(UserInputError, match=r"is 5,002 bytes, more than a profile can be"):
        load_reference("churn", cwd=project)


# --------------------------------------------------------------------------- the profile


def test_the_profile_of_100_wide_columns_stays_under_a_megabyte() -> None:
    rng = np.random.default_rng(0)
    rows = 20_000
    frame = pd.DataFrame({f"n{i:02d}": rng.normal(i, 1, rows) for i in range(50)})
    for i in range(50):  # long, unicode, all distinct: the worst case for value counts
        frame[f"c{i:02d}"] = [f"ünïcödé-välue-{i}-{j}-" + "x" * 200 for j in range(rows)]
    profile = profile_frame(frame)
    content = profile.to_bytes()
    assert len(profile.columns) == 100
    assert len(content) <= 1_000_000, len(content)
    back = Profile.from_json(json.loads(content))
    assert back == profile
    column = back.columns["c07"]
    assert isinstance(column, CategoricalColumn)
    assert column.count == rows and sum(column.values.values()) + column.other == rows
    assert all(len(v) <= 64 for v in column.values)


def test_numbers_of_a_small_frame_by_hand() -> None:
    frame = pd.DataFrame({
        "x": [3.0, np.nan, 1.0, np.inf, 2.0, 2.0],
        "n": pd.array([1, None, 1, 1, 5, 5], dtype="Int64"),
        "flag": [True, False, True, True, False, True],
        "when": pd.date_range("2024-01-01", periods=6, tz="UTC"),
        "mixed": [1, "1", None, 2.5, "b", "b"],
    })
    profile = profile_frame(frame, source={"kind": "set_reference"})
    assert list(profile.columns) == ["x", "n", "flag", "mixed"]  # datetimes left out
    x = profile.columns["x"]
    assert isinstance(x, NumericColumn)
    assert (x.count, x.nulls, x.min, x.max, x.mean) == (4, 2, 1.0, 3.0, 2.0)  # inf is null
    assert x.quantiles[0] == 1.0 and x.quantiles[50] == 2.0 and x.quantiles[100] == 3.0
    assert x.quantiles[25] == 1.75  # linear between the 1st (1.0) and 2nd (2.0) of 4
    # bins: x < 1 | 1 <= x < 1.02 | … | x >= 3: exact counts of 1, 2, 2, 3
    assert x.counts[0] == 0 and x.counts[1] == 1 and x.counts[-1] == 1
    assert x.counts[x.edges.index(2.0) + 1] == 2 and sum(x.counts) == 4
    n = profile.columns["n"]
    assert isinstance(n, NumericColumn) and (n.count, n.nulls, n.mean) == (5, 1, 2.6)
    flag = profile.columns["flag"]
    assert isinstance(flag, NumericColumn) and flag.mean == pytest.approx(4 / 6)
    assert flag.counts[-1] == 4 and flag.counts[1] == 2
    # 1 and "1" are the same text: counted together
    assert profile.columns["mixed"] == CategoricalColumn(5, 1, {"1": 2, "b": 2, "2.5": 1})
    empty = profile_frame(pd.DataFrame({"e": [np.nan, np.nan]}))
    assert empty.columns["e"] == NumericColumn(0, 2, None, None, None, None, [], [], [0])
    assert Profile.from_json(json.loads(empty.to_bytes())) == empty


def test_the_reader_names_the_first_fault() -> None:
    good = profile_frame(pd.DataFrame({"x": np.arange(200.0)})).to_json()
    assert Profile.from_json(json.loads(json.dumps(good))).rows == 200
    broken = json.loads(json.dumps(good))
    broken["columns"]["x"]["counts"][3] += 1
    with pytest.raises(UserInputError, match=r"x.counts are not len\(edges\)\+1 bins"):
        Profile.from_json(broken, what="the file")
    broken = json.loads(json.dumps(good))
    broken["columns"]["x"]["edges"].reverse()
    with pytest.raises(UserInputError, match=r"x\.edges are not at most 101 ascending"):
        Profile.from_json(broken)
    broken = json.loads(json.dumps(good))
    broken["columns"]["x"]["mean"] = "NaN"
    with pytest.raises(UserInputError, match=r"x\.mean is not a finite number"):
        Profile.from_json(broken)
    broken = json.loads(json.dumps(good))
    broken["rows"] = True
    with pytest.raises(UserInputError, match="rows is not a count"):
        Profile.from_json(broken)
    with pytest.raises(UserInputError, match="the reference profile is not a valid profile: "
                                             "a JSON object was expected, not a list"):
        Profile.from_json([])
