"""Drift against the reference: synthetic traffic written as the serving process writes its
inference log (hourly Parquet partitions), one feature shifted, the statistics against
scipy's on the raw values, the per-hour cache, bad input as one line, and agreement with
Evidently (its own venv) on a small version of the benchmark's data."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from scipy.spatial import distance

from benchmarks.monitor import columns, generate, hour_floor, run_evidently, write_hour
from jupyter_mlops.config import load_config
from jupyter_mlops.errors import NotFoundError, UserInputError
from jupyter_mlops.monitor import drift_stats, log_store
from jupyter_mlops.monitor.drift import drift, parse_feature_thresholds
from jupyter_mlops.monitor.drift_report import FRAME_COLUMNS, NO_ROWS
from jupyter_mlops.monitor.folders import monitoring_folder
from jupyter_mlops.monitor.profile import profile_frame

from . import engines

UTC = timezone.utc
NUMERIC = ["x0", "x1", "x2", "x3", "x4"]
MEANS, SDS = [0.0, 5.0, 50.0, -3.0, 100.0], [1.0, 2.0, 10.0, 0.5, 25.0]
PLANS, PLAN_SHARES = ["basic", "plus", "pro", "team"], [0.4, 0.3, 0.2, 0.1]
FIRST = hour_floor(datetime.now(UTC)) - timedelta(hours=5)  # 3 hours, all over
ROWS_PER_HOUR = 2000


def traffic(rows: int, seed: int, shift: str | None = None) -> pd.DataFrame:
    """Inputs like the reference's; ``shift``: that numeric feature moved up by one standard
    deviation, or "plan" with its shares reversed."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(mean + (sd if name == shift else 0.0), sd, rows)
                          for name, mean, sd in zip(NUMERIC, MEANS, SDS, strict=True)})
    shares = PLAN_SHARES[::-1] if shift == "plan" else PLAN_SHARES
    frame["plan"] = rng.choice(PLANS, rows, p=shares)
    return frame


REFERENCE = traffic(20_000, seed=1)


def log(project: Path, shift: str | None = None, hours: int = 3, first: datetime = FIRST,
        seed: int = 10) -> list[pd.DataFrame]:
    """``hours`` hours of logged requests of deployment 'churn' from ``first``."""
    folder = monitoring_folder(load_config(project), "churn")
    written = []
    for i in range(hours):
        frame = traffic(ROWS_PER_HOUR, seed + i, shift)
        write_hour(folder, first + timedelta(hours=i), frame, parts=2, seed=seed + i)
        written.append(frame)
    return written


def use(monkeypatch: pytest.MonkeyPatch, **settings: str) -> None:
    for key, value in settings.items():
        monkeypatch.setenv(f"MLOPS_MONITOR_{key.upper()}", value)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The starts of the hours drift reads from Parquet, in any order."""
    seen: list[datetime] = []
    original = log_store.HourPart.read

    def read(self: log_store.HourPart, columns: Any = None) -> Any:
        seen.append(self.start)
        return original(self, columns)

    monkeypatch.setattr(log_store.HourPart, "read", read)
    return seen


# --------------------------------------------------------------------------- flagging


@pytest.mark.parametrize("method", ["psi", "wasserstein", "ks"])
def test_exactly_the_feature_shifted_by_one_deviation_is_flagged(
        project: Path, monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    log(project, shift="x2")
    use(monkeypatch, drift_method=method)
    report = drift("churn", reference=REFERENCE)
    assert report.drifted == ["x2"]
    numeric = [row for row in report.rows if row.kind == "numeric"]
    assert [row.feature for row in numeric] == NUMERIC
    assert {row.method for row in numeric} == {method}
    assert {row.threshold for row in numeric} == {drift_stats.DEFAULT_THRESHOLDS[method]}
    assert report.current_rows == 3 * ROWS_PER_HOUR
    assert all(row.current_rows == 3 * ROWS_PER_HOUR and row.reference_rows == 20_000
               for row in report.rows)
    plan = next(row for row in report.rows if row.feature == "plan")
    assert (plan.kind, plan.method, plan.drifted) == ("categorical", "psi", False)


@pytest.mark.parametrize("method", ["psi", "chisquare", "jensenshannon"])
def test_a_categorical_shift_is_flagged_by_each_categorical_method(
        project: Path, monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    log(project, shift="plan")
    use(monkeypatch, categorical_method=method)
    report = drift("churn", reference=REFERENCE)
    assert report.drifted == ["plan"]
    assert report.histograms["plan"]["bins"] == PLANS  # the reference's, most frequent first
    assert report.histograms["plan"]["reference"][0] == pytest.approx(0.4, abs=0.01)
    assert report.histograms["plan"]["current"][0] == pytest.approx(0.1, abs=0.01)


def test_statistics_match_scipy_on_the_raw_values(project: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """PSI on the reference's deciles and chi-square / Jensen-Shannon on value counts are
    exact (1e-9); KS: the sketch's D is never above scipy's and at most one fine bin's share
    (of either side) below it; normed Wasserstein within 0.01 + 6 % of scipy's."""
    current = pd.concat(log(project, shift="x2"), ignore_index=True)
    profile = profile_frame(REFERENCE)
    found: dict[str, dict[str, float | None]] = {}
    for numeric, categorical in (("psi", "psi"), ("ks", "chisquare"),
                                 ("wasserstein", "jensenshannon")):
        use(monkeypatch, drift_method=numeric, categorical_method=categorical)
        report = drift("churn", reference=profile)
        found[numeric] = {row.feature: row.statistic for row in report.rows}
        found[categorical] = found.get(categorical, {}) | {"plan": found[numeric]["plan"]}
    for name in NUMERIC:
        ref, cur = REFERENCE[name].to_numpy(), current[name].to_numpy()
        column = profile.columns[name]
        deciles = np.unique([column.quantiles[p] for p in range(10, 100, 10)])
        counts = [np.bincount(np.searchsorted(deciles, v, side="right"),
                              minlength=deciles.size + 1) for v in (ref, cur)]
        r, c = (np.where(k == 0, 1e-4, k / k.sum()) for k in counts)
        assert found["psi"][name] == pytest.approx(float(np.sum((c - r) * np.log(c / r))),
                                                   rel=1e-9, abs=1e-12)
        exact = scipy.stats.ks_2samp(ref, cur, method="asymp")
        fine = np.asarray(column.edges)
        shares = [np.bincount(np.searchsorted(fine, v, side="right"),
                              minlength=fine.size + 1) / v.size for v in (ref, cur)]
        slack = float(max(shares[0].max(), shares[1].max()))
        pvalue = found["ks"][name]
        assert pvalue is not None
        if pvalue > 1e-12:  # D from the p-value (kstwo's inverse)
            sketch_d = float(scipy.stats.kstwo.isf(pvalue, round(ref.size * cur.size /
                                                                 (ref.size + cur.size))))
            assert exact.statistic - slack - 1e-6 <= sketch_d <= exact.statistic + 1e-6
        else:
            assert exact.pvalue < 1e-12
        wasserstein = scipy.stats.wasserstein_distance(ref, cur) / np.std(ref)
        assert found["wasserstein"][name] == pytest.approx(wasserstein,
                                                           abs=0.01 + 0.06 * wasserstein)
    ref_counts = REFERENCE["plan"].value_counts().reindex(PLANS).to_numpy()
    cur_counts = current["plan"].value_counts().reindex(PLANS).to_numpy()
    chi = scipy.stats.chisquare(cur_counts, ref_counts / ref_counts.sum() * cur_counts.sum())
    assert found["chisquare"]["plan"] == pytest.approx(chi.pvalue, rel=1e-9, abs=1e-300)
    assert found["jensenshannon"]["plan"] == pytest.approx(
        distance.jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()),
        rel=1e-9)
    # the shifted feature, by every method
    assert found["psi"]["x2"] > 0.2 and found["wasserstein"]["x2"] > 0.9
    assert found["ks"]["x2"] == 0.0


def test_ks_statistic_on_bins_is_at_most_scipys() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.lognormal(0, 1, 30_000), rng.lognormal(0.1, 1, 9_000)
    column = profile_frame(pd.DataFrame({"v": ref})).columns["v"]
    edges = np.asarray(column.edges)
    summary = drift_stats.numeric_counts(cur, edges)
    d = drift_stats.ks_statistic(np.asarray(column.counts, float),
                                 summary.counts.astype(float))
    exact = scipy.stats.ks_2samp(ref, cur).statistic
    assert exact - 0.02 <= d <= exact + 1e-12
    assert summary.counts.sum() == cur.size
    assert summary.low_sum == pytest.approx(cur[cur < edges[0]].sum())


@pytest.mark.parametrize("edges", [
    "normal", "lognormal", "counts", [0.0, 1.0], [5.0], [0.0, 1e-12, 2e-12, 3e-12, 1e6],
    [-1e308, 0.0, 1e308], [1e-300, 2e-300, 1.0], list(np.arange(100.0) ** 3)])
def test_the_binner_is_searchsorted_exactly(edges: Any) -> None:
    rng = np.random.default_rng(8)
    samples = {"normal": rng.normal(3, 2, 50_000), "lognormal": rng.lognormal(0, 1.5, 50_000),
               "counts": rng.poisson(3, 50_000).astype(float)}
    if isinstance(edges, str):
        values = samples[edges]
        fine = np.unique(np.quantile(values, np.linspace(0, 1, 101)))
    else:
        fine = np.asarray(edges, dtype=np.float64)
        values = np.concatenate([rng.normal(0, 1, 5000),
                                 rng.uniform(fine[0], fine[-1], 5000) if fine[-1] < 1e300
                                 else []])
    values = np.concatenate([values, fine, np.nextafter(fine, -np.inf),
                             np.nextafter(fine, np.inf), [-1e308, 1e308, 0.0, -0.0]])
    binner = drift_stats.Binner(fine)
    assert np.array_equal(binner(values), np.searchsorted(fine, values, side="right"))
    with np.errstate(over="ignore"):  # the sums of +-1e308
        summary = drift_stats.numeric_counts(values, binner)
    assert summary.counts.tolist() == np.bincount(np.searchsorted(fine, values, side="right"),
                                                  minlength=fine.size + 1).tolist()


# --------------------------------------------------------------------------- the window


def test_no_logged_rows_in_the_window_is_a_report_without_statistics(project: Path) -> None:
    log(project, shift="x2")
    report = drift("churn", since=FIRST - timedelta(days=2), until=FIRST - timedelta(days=1),
                   reference=REFERENCE)
    assert report.current_rows == 0 and report.message == NO_ROWS
    assert [row.feature for row in report.rows] == [*NUMERIC, "plan"]
    assert all(row.statistic is None and not row.drifted and row.current_rows == 0
               for row in report.rows)
    assert report.drifted == [] and report.to_dict()["message"] == NO_ROWS
    assert "no data" in report.to_text()


def test_a_deployment_without_any_log_yet(project: Path) -> None:
    monitoring_folder(load_config(project), "churn").mkdir(parents=True)
    report = drift("churn", reference=REFERENCE)
    assert (report.current_rows, report.message) == (0, NO_ROWS)
    assert [row.feature for row in report.rows] == [*NUMERIC, "plan"]


def test_a_window_cutting_hours_reads_those_rows_only_and_caches_no_partial_hour(
        project: Path, reads: list[datetime]) -> None:
    frames = log(project, shift="x2")
    since, until = FIRST + timedelta(minutes=30), FIRST + timedelta(hours=2, minutes=15)
    report = drift("churn", since=since, until=until, reference=REFERENCE)
    logged = pd.concat([pd.read_parquet(p) for p in sorted(
        monitoring_folder(load_config(project), "churn").glob("date=*/hour=*/*.parquet"))])
    inside = logged[(logged["timestamp"] >= since) & (logged["timestamp"] < until)]
    assert report.current_rows == len(inside) < 3 * ROWS_PER_HOUR
    assert report.since == since and report.until == until
    cached = list((log_store.cache_folder(load_config(project), "churn") / "drift").glob("*"))
    assert [p.name[:11] for p in cached] == [f"{FIRST + timedelta(hours=1):%Y%m%dT%H}"]
    assert sorted(reads) == [FIRST + timedelta(hours=i) for i in range(3)]
    assert len(frames) == 3


def test_since_after_until_and_an_unknown_deployment_are_one_line(project: Path) -> None:
    log(project)
    with pytest.raises(UserInputError, match=r"since .* must be before until"):
        drift("churn", since="1h", until="2h", reference=REFERENCE)
    with pytest.raises(NotFoundError):
        drift("nosuch", reference=REFERENCE)


# --------------------------------------------------------------------------- references


def test_a_reference_of_other_columns_is_one_clear_line(project: Path) -> None:
    log(project)
    other = pd.DataFrame({"age": [30.0, 40.0, 50.0], "city": ["a", "b", "c"]})
    with pytest.raises(UserInputError) as caught:
        drift("churn", reference=other)
    message = str(caught.value)
    assert "\n" not in message
    assert "the reference has columns age, city; the deployment's inputs are x0, x1, x2, " \
           "x3, x4, plan" in message


def test_inputs_the_reference_lacks_are_listed_as_missing(project: Path) -> None:
    log(project, shift="x4")
    report = drift("churn", reference=REFERENCE[["x0", "x1", "plan"]].assign(extra=1.0))
    assert [row.feature for row in report.rows] == ["x0", "x1", "plan"]
    assert report.missing == ["x2", "x3", "x4"]
    assert report.drifted == []
    assert "not in the reference (not compared): x2, x3, x4" in report.to_text()


def test_a_reference_with_predictions_compares_the_logged_prediction(project: Path) -> None:
    log(project)  # write_hour logs predictions uniform on [0, 1)
    rng = np.random.default_rng(5)
    report = drift("churn", reference=REFERENCE.assign(prediction=rng.random(20_000) + 0.5))
    assert report.rows[-1].feature == "prediction"
    assert report.drifted == ["prediction"]


def test_a_frame_and_its_profile_give_the_same_report(project: Path) -> None:
    log(project, shift="x2")
    by_frame = drift("churn", reference=REFERENCE).to_dict()
    by_profile = drift("churn", reference=profile_frame(REFERENCE)).to_dict()
    assert by_frame["features"] == by_profile["features"]
    assert by_frame["reference"]["origin"] == "the data frame given (20000 rows)"


# --------------------------------------------------------------------------- thresholds


def test_thresholds_from_the_configuration_and_per_feature(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log(project, shift="x2")
    use(monkeypatch, feature_thresholds="x2=50 x0=0.0000001")
    report = drift("churn", reference=REFERENCE)
    assert report.drifted == ["x0"]
    thresholds = {row.feature: row.threshold for row in report.rows}
    assert thresholds == {"x0": 1e-7, "x1": 0.2, "x2": 50.0, "x3": 0.2, "x4": 0.2,
                          "plan": 0.2}
    use(monkeypatch, drift_threshold="5", feature_thresholds="")
    assert drift("churn", reference=REFERENCE).drifted == []


def test_feature_thresholds_are_read_or_refused_in_one_line() -> None:
    assert parse_feature_thresholds("age=0.3 income=0.25") == {"age": 0.3, "income": 0.25}
    assert parse_feature_thresholds(" age=0.3,income=1e-2 ") == {"age": 0.3, "income": 0.01}
    assert parse_feature_thresholds("") == {}
    for bad in ("age:0.3", "age=high", "age=0.3=1", "age=-1", "age=nan"):
        with pytest.raises(UserInputError, match=r"monitor\.feature_thresholds") as caught:
            parse_feature_thresholds(bad)
        assert "\n" not in str(caught.value)


def test_a_drift_threshold_that_is_no_number_is_one_line(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log(project)
    use(monkeypatch, drift_threshold="high")
    with pytest.raises(UserInputError, match=r"monitor\.drift_threshold: 'high' is not a "):
        drift("churn", reference=REFERENCE)


# --------------------------------------------------------------------------- the cache


def test_a_second_check_reads_only_the_new_hour(project: Path,
                                                reads: list[datetime]) -> None:
    log(project, shift="x2")
    first = drift("churn", reference=REFERENCE)
    assert sorted(reads) == [FIRST + timedelta(hours=i) for i in range(3)]
    reads.clear()
    again = drift("churn", reference=REFERENCE)
    assert reads == []  # every hour over and cached
    assert again.to_dict() == first.to_dict()
    log(project, shift="x2", hours=1, first=FIRST + timedelta(hours=3), seed=20)
    later = drift("churn", reference=REFERENCE)
    assert reads == [FIRST + timedelta(hours=3)]
    assert later.current_rows == 4 * ROWS_PER_HOUR and later.drifted == ["x2"]
    # a file added to a cached hour changes its fingerprint: that hour is read again
    reads.clear()
    folder = monitoring_folder(load_config(project), "churn")
    write_hour(folder, FIRST, traffic(100, 30), parts=1, seed=30)
    assert drift("churn", reference=REFERENCE).current_rows == 4 * ROWS_PER_HOUR + 100
    assert reads == [FIRST]
    # another reference has other bins: its own summaries
    reads.clear()
    drift("churn", reference=REFERENCE.iloc[:5000])
    assert len(reads) == 4


def test_the_hour_still_being_written_is_read_each_time(project: Path,
                                                        reads: list[datetime]) -> None:
    now = hour_floor(datetime.now(UTC))
    log(project, hours=1, first=now)
    drift("churn", reference=REFERENCE)
    drift("churn", reference=REFERENCE)
    assert reads == [now, now]
    assert not (log_store.cache_folder(load_config(project), "churn") / "drift").exists()


def test_corrupt_cache_files_are_ignored_and_written_again(project: Path,
                                                           reads: list[datetime]) -> None:
    log(project, shift="x2")
    expected = drift("churn", reference=REFERENCE).to_dict()
    files = sorted((log_store.cache_folder(load_config(project), "churn") / "drift").glob("*"))
    assert len(files) == 3
    summary = json.loads(files[1].read_text())
    wrong_bins = {**summary, "columns": {**summary["columns"], "x0": {
        **summary["columns"]["x0"], "counts": summary["columns"]["x0"]["counts"][:-1]}}}
    files[0].write_bytes(b"\x00not json")
    files[1].write_text(json.dumps(wrong_bins))
    files[2].write_text(json.dumps({**summary, "rows": -5}))
    reads.clear()
    assert drift("churn", reference=REFERENCE).to_dict() == expected
    assert sorted(reads) == [FIRST + timedelta(hours=i) for i in range(3)]
    reads.clear()
    assert drift("churn", reference=REFERENCE).to_dict() == expected
    assert reads == []  # written again, valid


# --------------------------------------------------------------------------- the report


def test_the_report_as_frame_dict_text_and_vega_lite(project: Path) -> None:
    log(project, shift="x2")
    report = drift("churn", reference=REFERENCE)
    frame = report.frame()
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert frame["drifted"].dtype == bool and frame["statistic"].dtype == np.float64
    assert frame.loc[frame["drifted"], "feature"].tolist() == ["x2"]
    data = report.to_dict()
    assert set(data) == {"name", "since", "until", "reference", "current_rows", "features",
                         "drifted", "missing", "histograms", "message"}
    assert data["drifted"] == ["x2"] and data["reference"]["rows"] == 20_000
    assert json.loads(json.dumps(data)) == data
    histogram = data["histograms"]["x2"]
    assert len(histogram["bins"]) == 10 and histogram["bins"][0].startswith("< ")
    assert sum(histogram["reference"]) == pytest.approx(1.0, abs=1e-4)
    assert histogram["current"][-1] > 0.3  # a third of the shifted values above p90
    text = report.to_text()
    assert text.splitlines()[0] == "churn: 1 of 6 features drifted (x2)"
    assert "DRIFTED" in text and "the data frame given (20000 rows), 20000 rows" in text
    spec = report.vega_lite()
    assert spec["$schema"].endswith("vega-lite/v5.json") and spec["facet"]["field"] == "feature"
    assert {v["feature"] for v in spec["data"]["values"]} == {*NUMERIC, "plan"}
    one = report.vega_lite("x2")
    assert one["title"] == "x2" and len(one["data"]["values"]) == 20
    with pytest.raises(UserInputError, match="no feature 'nope' in the drift report"):
        report.vega_lite("nope")


# --------------------------------------------------------------------------- Evidently


def test_evidently_flags_the_same_features_on_the_benchmark_data(tmp_path: Path) -> None:
    python, why = engines.engine_python("evidently")
    if python is None:
        pytest.skip(why)
    reference, current, shifted = generate(60_000, 20_000, features=20, seed=4)
    numeric, categorical = columns(20)
    reference.to_parquet(tmp_path / "reference.parquet")
    current.to_parquet(tmp_path / "current.parquet")
    pairs = [("psi", "psi"), ("wasserstein", "jensenshannon")]
    tests = [(n, c, drift_stats.DEFAULT_THRESHOLDS[n], drift_stats.DEFAULT_THRESHOLDS[c])
             for n, c in pairs]
    theirs = run_evidently(python, tmp_path / "reference.parquet",
                           tmp_path / "current.parquet", numeric, categorical, tests)
    root = tmp_path / "proj"
    root.mkdir()
    (root / "mlops.toml").write_text("")
    folder = monitoring_folder(load_config(root), "churn")
    first = hour_floor(datetime.now(UTC)) - timedelta(hours=8)
    for i, chunk in enumerate(np.array_split(np.arange(len(current)), 6)):
        write_hour(folder, first + timedelta(hours=i), current.iloc[chunk], parts=2, seed=i)
    profile = profile_frame(reference)
    for (n, c), result in zip(pairs, theirs["results"], strict=True):
        config = load_config(root, environ={"MLOPS_MONITOR_DRIFT_METHOD": n,
                                            "MLOPS_MONITOR_CATEGORICAL_METHOD": c})
        report = drift("churn", reference=profile, config=config)
        assert sorted(report.drifted) == result["drifted"] == sorted(shifted), (n, c)
        if n == "wasserstein":  # the same statistic: close to Evidently's value
            for row in report.rows:
                if row.kind == "numeric":
                    expected = result["scores"][row.feature]
                    assert row.statistic == pytest.approx(expected, abs=0.01 + 0.06 * expected)
        if c == "jensenshannon":  # every value in both: the same bins, the same number
            for row in report.rows:
                if row.kind == "categorical":
                    assert row.statistic == pytest.approx(result["scores"][row.feature],
                                                          rel=1e-6)


# --------------------------------------------------------------------------- end to end


@pytest.mark.usefixtures("tracking_reset")
def test_a_shift_in_served_traffic_is_flagged_against_what_a_tracked_get_captured(
        project: Path, tracking_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """features.get in a tracked run (real MLflow server, embedded store) -> log_model ->
    a real local deployment -> requests with one feature shifted -> drift(name): no
    reference handed over by hand."""
    from sklearn.linear_model import LinearRegression

    import jupyter_mlops as mlops
    from jupyter_mlops import features
    from jupyter_mlops.deploy import deploy, undeploy
    from tests.deploy_fixtures import post

    monkeypatch.setenv("MLOPS_TRACKING_URI", tracking_server)
    rng = np.random.default_rng(11)
    customers, day = 3000, pd.Timestamp("2026-01-01", tz="UTC")
    spread = {"tenure": (24.0, 6.0), "spend": (80.0, 20.0), "visits": (10.0, 3.0)}
    table = pd.DataFrame({"customer_id": np.arange(customers), "event_timestamp": day,
                          **{k: rng.normal(m, s, customers) for k, (m, s) in spread.items()}})
    features.publish(table, "customers", entities="customer_id", timestamp="event_timestamp",
                     cwd=project)
    entities = pd.DataFrame({"customer_id": np.arange(customers),
                             "event_timestamp": day + pd.Timedelta(days=1)})
    with mlops.start_run(run_name="train", cwd=str(project)) as run:
        train = features.get("customers:*", entities, timestamp="event_timestamp", cwd=project)
        inputs = train[list(spread)]
        model = LinearRegression().fit(inputs, 0.1 * inputs["spend"] + inputs["visits"])
        uri = mlops.log_model(model, "churn", input_example=inputs.head(3))
    deployment = deploy(uri, name="drifty", cwd=project)
    try:
        live = pd.DataFrame({k: rng.normal(m + (s if k == "spend" else 0.0), s, 2000)
                             for k, (m, s) in spread.items()})
        for start in range(0, len(live), 200):
            chunk = live.iloc[start:start + 200]
            body = {"dataframe_split": {"columns": list(chunk.columns),
                                        "data": chunk.to_numpy().tolist()}}
            assert post(f"{deployment.url}/invocations", body)[0] == 200
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        report = drift("drifty", cwd=project)
        while report.current_rows < len(live) and datetime.now(UTC) < deadline:
            report = drift("drifty", cwd=project)  # the log writer flushes every 0.5 s
    finally:
        undeploy("drifty", cwd=project)
    assert report.current_rows == len(live)
    assert [row.feature for row in report.rows] == list(spread)  # the model's inputs
    assert report.drifted == ["spend"]
    assert report.reference_rows == customers
    assert report.reference_origin.startswith(f"run {run.run_id[:8]} (features.get of "
                                              "customers v1")
    assert report.missing == []
