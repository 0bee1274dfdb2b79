"""The monitor's reading side in-process: the inference log's hourly Parquet partitions (as
the serving process lays them out), time windows, the summary's metrics parsing, its views,
and bad input as one line each."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

import jupyter_mlops as mlops
from jupyter_mlops.config import load_config
from jupyter_mlops.deploy.state import DeploymentStore
from jupyter_mlops.errors import NotFoundError, UserInputError
from jupyter_mlops.monitor.overview import MonitorSummary, Sample, parse_metrics
from jupyter_mlops.monitor.timespan import parse_time
from tests.deploy_fixtures import DeployProject, post
from tests.monitor_fixtures import NOW, UTC, deployed, log_folder, make_churn_log, row, write_part


@pytest.fixture
def churn_log(project: Path) -> Path:
    return make_churn_log(project)


# --------------------------------------------------------------------------- inferences


def test_inferences_returns_every_logged_row_oldest_first_with_its_columns(
        churn_log: Path) -> None:
    frame = mlops.monitor.inferences("churn")
    assert list(frame.columns) == ["request_id", "timestamp", "version", "x0", "x1",
                                   "prediction", "latency_ms"]
    assert list(frame["request_id"]) == [f"req-{n}" for n in (0, 1, 2, 10, 11, 20, 21, 22, 23)]
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert frame["timestamp"].is_monotonic_increasing
    assert list(frame["version"].tail(2)) == ["2", "2"]
    assert frame["prediction"].tolist() == (frame["x0"] * 2).tolist()


def test_since_until_and_limit_choose_the_window_and_the_latest_rows(churn_log: Path) -> None:
    assert mlops.monitor.inferences("churn", since="1h")["request_id"].tolist() == [
        "req-20", "req-21", "req-22", "req-23"]
    assert mlops.monitor.inferences("churn", since="2h", until="1h")["request_id"].tolist() == [
        "req-10", "req-11"]
    latest = mlops.monitor.inferences("churn", limit=3)
    assert latest["request_id"].tolist() == ["req-21", "req-22", "req-23"]  # newest last
    # a datetime and an ISO 8601 time (with Z) are the same window as the duration
    since = NOW - timedelta(minutes=100)
    iso = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    by_datetime = mlops.monitor.inferences("churn", since=since)
    assert by_datetime["request_id"].tolist()[:2] == ["req-10", "req-11"]
    assert by_datetime.equals(mlops.monitor.inferences("churn", since=iso))
    assert mlops.monitor.inferences("churn", since=NOW + timedelta(minutes=1)).empty


def test_only_partitions_of_the_window_are_opened(churn_log: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    parquet_file = pq.ParquetFile

    def spy(path: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(path))
        return parquet_file(path, *args, **kwargs)

    monkeypatch.setattr(pq, "ParquetFile", spy)
    frame = mlops.monitor.inferences("churn", since="30m")
    assert len(frame) == 4
    recent_hours = {f"hour={(NOW - timedelta(minutes=10)):%H}", f"hour={NOW:%H}"}
    assert opened and all(Path(p).parent.name in recent_hours for p in opened), opened


def test_versions_with_other_columns_are_read_together(project: Path) -> None:
    deployed(project, "canary")
    when = NOW - timedelta(minutes=5)
    write_part(project, "canary", [row(when, 1)])
    write_part(project, "canary", [row(when + timedelta(seconds=1), 2, "2", x2=7.0)],
               columns=("x0", "x1", "x2"))
    frame = mlops.monitor.inferences("canary")
    assert frame["version"].tolist() == ["1", "2"]
    assert pd.isna(frame["x2"].iloc[0]) and frame["x2"].iloc[1] == 7.0


def test_a_file_cut_short_is_skipped_and_the_rest_is_read(churn_log: Path) -> None:
    good = next(log_folder(churn_log, "churn").rglob("*.parquet"))
    (good.parent / "part-9-deadbeef.parquet").write_bytes(b"PAR1 half a file")
    (good.parent / ".part-10-feedbeef.parquet.tmp").write_bytes(b"being written")
    assert len(mlops.monitor.inferences("churn")) == 9


def test_a_deployment_with_no_log_yet_gives_an_empty_frame(project: Path) -> None:
    deployed(project, "quiet")
    frame = mlops.monitor.inferences("quiet", since="1h")
    assert frame.empty and {"request_id", "timestamp", "latency_ms"} <= set(frame.columns)


def test_the_log_of_an_undeployed_model_stays_readable(churn_log: Path) -> None:
    DeploymentStore(load_config(churn_log).path("deploy.path")).remove("churn")
    assert len(mlops.monitor.inferences("churn")) == 9
    found = mlops.monitor.summary("churn")
    assert found.status == "removed" and "only its inference log" in str(found.message)


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: mlops.monitor.inferences("nobody"), NotFoundError,
     "no deployment named 'nobody' (deployments: churn)"),
    (lambda: mlops.monitor.summary("nobody"), NotFoundError, "no deployment named 'nobody'"),
    (lambda: mlops.monitor.inferences("churn", since="yesterday-ish"), UserInputError,
     "since: cannot read 'yesterday-ish': give a duration back from now"),
    (lambda: mlops.monitor.inferences("churn", until="3 fortnights"), UserInputError,
     "until: cannot read '3 fortnights'"),
    (lambda: mlops.monitor.summary("churn", since="soon"), UserInputError,
     "since: cannot read 'soon'"),
    (lambda: mlops.monitor.inferences("churn", limit=0), UserInputError,
     "limit must be a whole number of at least 1, not 0"),
    (lambda: mlops.monitor.inferences("churn", since="1h", until="2h"), UserInputError,
     "must be before until"),
    (lambda: mlops.monitor.inferences("Bad Name"), UserInputError,
     "invalid deployment name 'Bad Name'"),
])
def test_bad_input_is_one_line(churn_log: Path, call: Any, error: type[Exception],
                               message: str) -> None:
    with pytest.raises(error) as caught:
        call()
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_times_parse_as_durations_iso_8601_and_datetimes() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert parse_time("15m", now=now) == now - timedelta(minutes=15)
    assert parse_time("2d", now=now) == now - timedelta(days=2)
    assert parse_time("1.5h", now=now) == now - timedelta(minutes=90)
    assert parse_time("2026-12-04T10:00:00Z") == datetime(2026, 12, 4, 10, tzinfo=UTC)
    assert parse_time("2026-12-04T11:00:00+01:00") == datetime(2026, 12, 4, 10, tzinfo=UTC)
    assert parse_time("2026-12-04 10:00") == datetime(2026, 12, 4, 10, tzinfo=UTC)
    local = datetime(2026, 12, 4, 10, 0)  # naive: local time, as Python reads it
    assert parse_time(local) == local.astimezone(UTC)
    assert parse_time(None) is None


# --------------------------------------------------------------------------- summary


def metrics_text() -> str:
    """/metrics as a serving process with a canary answers it (two deployments in one
    registry, so only the asked one is counted)."""
    registry = CollectorRegistry()
    requests = Counter("mlops_requests", "answered requests", ["deployment", "version", "code"],
                       registry=registry)
    rows = Counter("mlops_rows", "rows predicted", ["deployment", "version"], registry=registry)
    info = Gauge("mlops_model_info", "model", ["deployment", "version", "run_id", "device"],
                 registry=registry)
    requests.labels("churn", "1", "200").inc(7)
    requests.labels("churn", "2", "200").inc(3)
    requests.labels("churn", "1", "400").inc(2)
    requests.labels("churn", "2", "503").inc(1)
    requests.labels("other", "1", "200").inc(100)
    rows.labels("churn", "1", ).inc(70)
    rows.labels("churn", "2").inc(30)
    info.labels("churn", "1", "r1", "cuda:0").set(1)
    info.labels("churn", "2", "r2", "cpu").set(1)
    return generate_latest(registry).decode()


def test_metrics_parse_into_totals_by_code_and_version() -> None:
    totals, info = parse_metrics(metrics_text(), "churn")
    assert (totals.requests, totals.errors, totals.client_errors, totals.rows) == (13, 1, 2, 100)
    assert totals.by_code == {"200": 10, "400": 2, "503": 1}
    assert totals.by_version == {"1": 9, "2": 4}
    assert info["1"]["device"] == "cuda:0" and info["2"]["run_id"] == "r2"


def summary_with_history() -> MonitorSummary:
    t0 = NOW.timestamp() - 60
    samples = [Sample(t0 + 10 * i, requests=10 * i, errors=i % 2, rows=40 * i, batches=i,
                      p50_ms=1.0 + i if i else None, p99_ms=5.0 + i if i else None,
                      mean_batch=4.0 if i else None) for i in range(6)]
    totals, _info = parse_metrics(metrics_text(), "churn")
    return MonitorSummary("churn", "local", "serving", 2, versions=[
        {"version": 1, "traffic": 80}, {"version": 2, "traffic": 20}], device="cuda:0",
        run_id="r2", url="http://127.0.0.1:9", samples=samples, totals=totals,
        log={"rows_written": 9, "dropped": 1, "sampled_out": 0, "error": None})


def test_the_summary_as_data_has_the_panels_series() -> None:
    data = summary_with_history().to_dict()
    series = data["series"]
    assert set(series) == {"t", "rps", "p50_ms", "p99_ms", "error_rate", "batch_size"}
    assert all(len(v) == 6 for v in series.values())
    assert series["rps"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]  # 10 s intervals
    assert series["error_rate"][:3] == [0.0, 0.1, 0.0]
    assert series["p50_ms"][0] is None and series["p99_ms"][5] == 10.0
    assert series["t"][0].endswith("+00:00")
    assert data["totals"]["requests"] == 13 and data["totals"]["errors"] == 1
    assert data["log"] == {"rows_written": 9, "dropped": 1, "sampled_out": 0, "error": None}
    assert json.loads(json.dumps(data)) == data  # JSON-ready


def test_the_summary_as_text_and_as_vega_lite() -> None:
    found = summary_with_history()
    text = found.to_text()
    assert text.splitlines()[0] == "churn: serving (local) version 2 on cuda:0"
    assert "versions:  v1 80%, v2 20%" in text
    assert "13 requests (1 errors, 2 client errors), 100 rows" in text
    assert "requests/s" in text and "▁" in text and "█" in text
    assert "9 rows written, 1 dropped" in text
    spec = found.vega_lite()
    assert spec["$schema"].endswith("vega-lite/v5.json")
    assert [c["encoding"]["y"]["field"] for c in spec["concat"]] == [
        "rps", "p50_ms", "p99_ms", "error_rate", "batch_size"]
    assert len(spec["data"]["values"]) == 6


def test_the_log_status_comes_from_the_writer(churn_log: Path) -> None:
    folder = log_folder(churn_log, "churn")
    (folder / "_status.json").write_text(json.dumps(
        {"rows_written": 9, "dropped": 0, "sampled_out": 2,
         "error": "the log folder is not writable", "updated": NOW.timestamp()}))
    found = mlops.monitor.summary("churn")
    assert found.log["sampled_out"] == 2
    assert found.to_dict()["log"]["error"] == "the log folder is not writable"
    assert "error: the log folder is not writable" in found.to_text()
    assert found.message is not None and "serving process" in found.message


# --------------------------------------------------------------------------- end to end


def _wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} after {timeout} s")
        time.sleep(0.25)


@pytest.mark.timeout(600)
def test_a_served_model_is_logged_and_counted(deploy_project: DeployProject) -> None:
    """A real serving process: every answered request is in the inference log with its id
    and the model's prediction; /metrics counts them by code; the history has them."""
    from jupyter_mlops.deploy import deploy, undeploy

    root = deploy_project.root
    endpoint = deploy("models:/churn/1", name="watched", cwd=root)
    try:
        rows = deploy_project.X
        ids = [f"call-{i}" for i in range(len(rows))]
        for i, request_id in enumerate(ids):
            status, _body, headers = post(f"{endpoint.url}/invocations",
                                          {"inputs": rows[i:i + 1].tolist()},
                                          headers={"X-Request-Id": request_id})
            assert status == 200 and headers["X-Request-Id"] == request_id
        status, _body, headers = post(f"{endpoint.url}/invocations", {"nonsense": 1})
        assert status == 400 and len(headers["X-Request-Id"]) >= 16  # one made for it

        frame = _wait_for(lambda: (lambda f: f if len(f) >= len(ids) else None)(
            mlops.monitor.inferences("watched", since="10m", cwd=root)), 10,
            "the log does not hold the requests")
        assert frame["request_id"].tolist() == ids  # the malformed one predicted nothing
        assert set(frame["version"]) == {"1"}
        predicted = frame[[c for c in frame.columns if str(c).startswith("prediction")]]
        np.testing.assert_allclose(predicted.to_numpy(dtype="float32"),
                                   np.asarray(deploy_project.expected_v1).reshape(len(ids), -1),
                                   rtol=1e-5)
        assert (frame["latency_ms"] > 0).all()

        summary = _wait_for(lambda: (lambda s: s if sum(x.requests for x in s.samples)
                                     >= len(ids) + 1 else None)(
            mlops.monitor.summary("watched", cwd=root)), 25, "the history has no requests")
        assert summary.status == "serving" and summary.version == 1
        assert summary.totals is not None
        assert summary.totals.by_code == {"200": len(ids), "400": 1}
        assert summary.totals.rows == len(ids)
        assert summary.log["rows_written"] >= len(ids) and summary.log["error"] is None
        assert summary.device == endpoint.device
        data = summary.to_dict()
        assert sum(data["series"]["rps"]) * summary.interval_s == pytest.approx(len(ids) + 1)
    finally:
        undeploy("watched", cwd=root)
    # the log outlives the deployment
    assert len(mlops.monitor.inferences("watched", cwd=root)) == len(ids)


def test_status_shows_a_log_that_stopped_and_rows_dropped(churn_log: Path) -> None:
    from jupyter_mlops.status import collect_status

    def monitor_checks() -> dict[str, Any]:
        report = collect_status(churn_log, {})
        cap = next(c for c in report.capabilities if c.id == "monitor")
        return {"summary": cap.summary, **{c.name: (c.level, c.message) for c in cap.checks}}

    assert monitor_checks() == {
        "summary": "watching 1 deployment",
        "monitoring folder": ("ok", ".mlops/monitoring is writable"),
        "inference logs": ("ok", "1 deployment logging")}
    status = log_folder(churn_log, "churn") / "_status.json"
    status.write_text(json.dumps({"rows_written": 9, "dropped": 3, "error": None}))
    assert monitor_checks()["inference logs"] == (
        "warning", "3 rows dropped by full buffers (the rest is logged)")
    status.write_text(json.dumps({"rows_written": 9, "dropped": 3,
                                  "error": "cannot write .mlops/monitoring/churn: read-only"}))
    assert monitor_checks()["inference logs"] == (
        "warning", "churn: cannot write .mlops/monitoring/churn: read-only")
