"""Monitor I, the serving side: Prometheus ``/metrics``, ``X-Request-Id``, the 10-second
history and the inference log of a real serving process (as tests/test_deploy_local.py
starts them), and the log writer's buffer on its own (a tiny buffer, a slow sink)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import signal
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jupyter_mlops.monitor.inference_log import (
    STATUS_FILE,
    InferenceLog,
    Names,
    Record,
    build_tables,
)
from tests.deploy_fixtures import DeployProject, get, post

pytestmark = pytest.mark.timeout(600)


# ---------------------------------------------------------------------------- helpers


def scrape(url: str) -> dict[str, Any]:
    """/metrics parsed with prometheus_client's own parser: {family name: family}."""
    from prometheus_client.parser import text_string_to_metric_families

    status, text = get(f"{url}/metrics")
    assert status == 200, text
    return {family.name: family for family in text_string_to_metric_families(text)}


def sample_values(families: dict[str, Any], family: str, sample: str
                  ) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in families[family].samples
            if s.name == sample}


def by_label(families: dict[str, Any], family: str, sample: str, label: str
             ) -> dict[str, float]:
    totals: dict[str, float] = {}
    for labels, value in sample_values(families, family, sample).items():
        key = dict(labels)[label]
        totals[key] = totals.get(key, 0.0) + value
    return totals


def read_log(root: Path, name: str) -> Any:
    """Every row the deployment logged so far, as a DataFrame."""
    import pandas as pd
    import pyarrow.parquet as pq

    folder = root / ".mlops" / "monitoring" / name
    parts = sorted(folder.rglob("part-*.parquet"))
    if not parts:
        return pd.DataFrame()
    return pd.concat([pq.read_table(p).to_pandas() for p in parts], ignore_index=True)


def wait_for(check: Any, timeout: float = 15.0, every: float = 0.2) -> Any:
    """What ``check()`` returns once it is not None (None at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None or time.monotonic() > deadline:
            return value
        time.sleep(every)


def admin(root: Path, name: str, url: str, path: str) -> tuple[int, Any]:
    token = json.loads((root / ".mlops" / "deployments" / name / "secret.json").read_text())
    request = urllib.request.Request(f"{url}{path}",
                                     headers={"Authorization": f"Bearer {token['token']}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


# ---------------------------------------------------------------------------- settings


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan", "often"])
def test_a_sample_rate_outside_0_1_is_a_one_line_config_error(tmp_path: Path,
                                                              value: str) -> None:
    from jupyter_mlops.config import load_config
    from jupyter_mlops.errors import ConfigError

    toml = value if value != "often" else f'"{value}"'
    (tmp_path / "mlops.toml").write_text(f"[monitor]\nmax_rows_per_s = 5\nsample_rate = {toml}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path, environ={})
    message = str(raised.value)
    assert "\n" not in message
    assert f"{tmp_path / 'mlops.toml'}:3: key 'monitor.sample_rate' must be a number from 0 " \
           "to 1" in message
    with pytest.raises(ConfigError, match=r"MLOPS_MONITOR_SAMPLE_RATE: key 'monitor\.sample_rate'"):
        load_config(tmp_path / "elsewhere", environ={"MLOPS_MONITOR_SAMPLE_RATE": value})


def test_monitor_settings_have_defaults_and_read_the_environment(tmp_path: Path) -> None:
    from jupyter_mlops.config import load_config

    config = load_config(tmp_path, environ={})
    assert (config["monitor.enabled"], config["monitor.sample_rate"],
            config["monitor.max_rows_per_s"]) == (True, 1.0, 10000)
    config = load_config(tmp_path, environ={"MLOPS_MONITOR_ENABLED": "false",
                                            "MLOPS_MONITOR_SAMPLE_RATE": "0",
                                            "MLOPS_MONITOR_MAX_ROWS_PER_S": "0"})
    assert (config["monitor.enabled"], config["monitor.sample_rate"],
            config["monitor.max_rows_per_s"]) == (False, 0.0, 0)


# ---------------------------------------------------------------------------- the writer


def _record(i: int, rows: int = 1, at: float | None = None) -> Record:
    body = json.dumps({"inputs": [[float(i), float(i) + .5]] * rows}).encode()
    answer = json.dumps({"predictions": [float(i) * 2] * rows}).encode()
    return Record(f"r{i}", time.time() if at is None else at, 1, body, "application/json",
                  answer, 1.5, rows)


def test_a_full_buffer_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    """A sink that takes 0.3 s per file and a buffer of 20 records: offering 2000 records
    never waits for the sink; what does not fit is counted, what was taken is written."""
    from jupyter_mlops.monitor.inference_log import write_parquet

    release = threading.Event()

    def slow_sink(path: Path, table: Any) -> None:
        release.wait(0.3)
        write_parquet(path, table)

    log = InferenceLog(tmp_path / "log", max_records=20, flush_every_s=0.05, sink=slow_sink)
    log.start()
    took = []
    accepted = 0
    for i in range(2000):
        began = time.perf_counter()
        accepted += log.offer(_record(i))
        took.append(time.perf_counter() - began)
    assert max(took) < 0.05  # never waited for the 0.3 s sink
    assert log.dropped > 0 and accepted < 2000
    assert log.dropped + accepted == 2000
    release.set()
    log.stop()
    assert log.rows_written == accepted
    status = json.loads((tmp_path / "log" / STATUS_FILE).read_text())
    assert status["rows_written"] == accepted and status["dropped"] == 2000 - accepted
    assert status["error"] is None
    import pyarrow.parquet as pq

    ids = [i for p in (tmp_path / "log").rglob("part-*.parquet")
           for i in pq.read_table(p)["request_id"].to_pylist()]
    assert len(ids) == accepted == len(set(ids))


def test_the_writer_process_writes_what_it_is_handed(tmp_path: Path) -> None:
    """As in a serving process: records pickled to a child process that writes the files and
    ``_status.json`` (with the counts of the process that sampled and dropped)."""
    import pyarrow.parquet as pq

    log = InferenceLog(tmp_path / "log", flush_every_s=0.05, max_rows_per_s=50,
                       names=lambda _v: Names(("a", "b"), ("y",)))
    log.start(process=True)
    second = float(int(time.time()))  # one second's budget of 50 rows
    assert sum(log.offer(_record(i, rows=2, at=second + .5)) for i in range(40)) == 25
    log.stop()
    rows = [row for p in (tmp_path / "log").rglob("part-*.parquet")
            for row in pq.read_table(p).to_pylist()]
    assert len(rows) == 50 and {r["request_id"] for r in rows} == {f"r{i}" for i in range(25)}
    assert set(rows[0]) >= {"request_id", "timestamp", "version", "a", "b", "y", "latency_ms"}
    status = json.loads((tmp_path / "log" / STATUS_FILE).read_text())
    assert (status["rows_written"], status["dropped"], status["sampled_out"]) == (50, 0, 30)


def test_sampling_and_the_rows_per_second_limit_are_counted(tmp_path: Path) -> None:
    log = InferenceLog(tmp_path / "none", sample_rate=0.0)
    assert not any(log.offer(_record(i, rows=2)) for i in range(10))
    assert log.sampled_out == 20 and log.dropped == 0
    limited = InferenceLog(tmp_path / "limited", max_rows_per_s=5)
    stamp = float(int(time.time()))
    kept = [limited.offer(Record(f"r{i}", stamp, 1, b"{}", "application/json", b"{}", 1, 2))
            for i in range(5)]
    assert kept == [True, True, False, False, False] and limited.sampled_out == 6


def test_log_rows_take_the_signature_names_or_numbered_columns() -> None:
    records = [
        Record("a", 1_700_000_000.25, 1, b'{"inputs": [[1, 2], [3, 4]]}', "application/json",
               b'{"predictions": [[0.1, 0.9], [0.8, 0.2]]}', 2.0, 2),
        Record("b", 1_700_000_000.5, 2, b'{"dataframe_split": {"columns": ["x", "y"], '
               b'"data": [[5, 6]]}}', "application/json", b'{"predictions": [7]}', 3.0, 1),
    ]
    names = {1: Names(), 2: Names(("x", "y"), ("score",))}
    tables = build_tables(records, lambda v: names[v])
    assert len(tables) == 1
    table = tables[0][1].to_pandas()
    assert list(table.columns[:3]) == ["request_id", "timestamp", "version"]
    assert list(table["request_id"]) == ["a", "a", "b"]
    assert str(table["timestamp"].dt.tz) == "UTC"
    assert table["timestamp"][0] == dt.datetime(2023, 11, 14, 22, 13, 20, 250000,
                                                tzinfo=dt.timezone.utc)
    first = table[table.request_id == "a"]
    assert list(first["input_0"]) == [1, 3] and list(first["input_1"]) == [2, 4]
    assert list(first["prediction_1"]) == [0.9, 0.2]
    second = table[table.request_id == "b"]
    assert list(second["x"]) == [5] and list(second["score"]) == [7]
    assert list(table["latency_ms"]) == [2.0, 2.0, 3.0]


# ---------------------------------------------------------------------------- serving


def test_metrics_count_every_answer_by_code_and_the_log_holds_every_prediction(
        served: Any, deploy_project: DeployProject) -> None:
    """N requests, some malformed: /metrics (prometheus_client's parser) counts exactly N by
    code; every logged row belongs to an answered request and carries its prediction."""
    X = deploy_project.X
    before = scrape(served.url)
    sent: dict[str, tuple[int, Any]] = {}  # request id -> (status, answer)
    rows_sent: dict[str, np.ndarray] = {}
    codes = {200: 0, 400: 0, 415: 0}
    for i in range(24):
        if i % 6 == 5:
            body, ct, code = "{not json", "application/json", 400
        elif i % 12 == 11:
            body, ct, code = "a,b\n1,2\n", "text/plain", 415
        else:
            rows = np.roll(X, -i, axis=0)[:1 + i % 3]
            body, ct, code = json.dumps({"inputs": rows.tolist()}), "application/json", 200
        status, answer, headers = post(f"{served.url}/invocations", body, ct)
        assert status == code, answer
        rid = headers["X-Request-Id"]
        assert rid and rid not in sent
        sent[rid] = (status, answer)
        if status == 200:
            rows_sent[rid] = rows
        codes[status] += 1
    after = scrape(served.url)
    requests = {code: after_n - by_label(before, "mlops_requests", "mlops_requests_total",
                                         "code").get(code, 0)
                for code, after_n in by_label(after, "mlops_requests", "mlops_requests_total",
                                              "code").items()}
    assert {int(c): int(n) for c, n in requests.items() if n} == \
        {c: n for c, n in codes.items() if n}
    latency = by_label(after, "mlops_request_latency_seconds",
                       "mlops_request_latency_seconds_count", "deployment")["mlp"] - \
        by_label(before, "mlops_request_latency_seconds",
                 "mlops_request_latency_seconds_count", "deployment").get("mlp", 0)
    assert latency == len(sent)
    rows = by_label(after, "mlops_rows", "mlops_rows_total", "version")["1"] - \
        by_label(before, "mlops_rows", "mlops_rows_total", "version").get("1", 0)
    assert rows == sum(len(r) for r in rows_sent.values())
    info = sample_values(after, "mlops_model_info", "mlops_model_info")
    ((labels, value),) = info.items()
    assert value == 1 and dict(labels)["version"] == "1" and dict(labels)["deployment"] == "mlp"
    assert dict(labels)["run_id"] == deploy_project.run_v1 and dict(labels)["device"]
    assert "mlops_queue_depth" in after and "mlops_batch_size" in after

    def logged() -> Any:
        frame = read_log(deploy_project.root, "mlp")
        if frame.empty or not set(rows_sent) <= set(frame["request_id"]):
            return None
        return frame

    frame = wait_for(logged, timeout=10)
    assert frame is not None, "the answered requests did not reach the inference log"
    frame = frame[frame["request_id"].isin(sent)]
    assert set(frame["request_id"]) == set(rows_sent)  # the malformed ones are not logged
    features = [f"input_{i}" for i in range(16)]
    outputs = [f"prediction_{i}" for i in range(3)]
    for rid, rows in rows_sent.items():
        mine = frame[frame["request_id"] == rid]
        assert len(mine) == len(rows)
        np.testing.assert_array_equal(mine[features].to_numpy(dtype="float32"), rows)
        answered = np.asarray(sent[rid][1]["predictions"], dtype="float64")
        np.testing.assert_array_equal(mine[outputs].to_numpy(dtype="float64"), answered)
        assert set(mine["version"]) == {"1"} and (mine["latency_ms"] > 0).all()
    assert str(frame["timestamp"].dt.tz) == "UTC"
    status = json.loads((deploy_project.root / ".mlops" / "monitoring" / "mlp" /
                         STATUS_FILE).read_text())
    assert status["error"] is None and status["rows_written"] >= len(frame)


def test_a_callers_request_id_is_echoed_logged_and_every_answer_has_one(
        served: Any, deploy_project: DeployProject) -> None:
    request = urllib.request.Request(
        f"{served.url}/invocations", data=json.dumps({"inputs": deploy_project.X[:2].tolist()})
        .encode(), headers={"Content-Type": "application/json", "X-Request-Id": "order-42.a"},
        method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["X-Request-Id"] == "order-42.a"
    with urllib.request.urlopen(f"{served.url}/ping", timeout=10) as response:
        assert len(response.headers["X-Request-Id"]) == 32  # a new uuid4 hex
    status, _, headers = post(f"{served.url}/invocations", "{oops")
    assert status == 400 and len(headers["X-Request-Id"]) == 32
    frame = wait_for(lambda: (lambda f: f if not f.empty and "order-42.a" in set(
        f["request_id"]) else None)(read_log(deploy_project.root, "mlp")), timeout=10)
    assert frame is not None and (frame["request_id"] == "order-42.a").sum() == 2
    # the serving log names the failed request by its id
    from jupyter_mlops.deploy import logs

    text = "\n".join(logs("mlp", 200, cwd=deploy_project.root).sections["serving process"])
    assert f"request {headers['X-Request-Id']}: HTTP 400" in text


def test_history_is_per_10_seconds_and_needs_the_admin_token(
        served: Any, deploy_project: DeployProject) -> None:
    assert get(f"{served.url}/-/admin/history")[0] == 403
    sent_at = time.time()
    for _ in range(3):
        assert post(f"{served.url}/invocations",
                    {"inputs": deploy_project.X[:1].tolist()})[0] == 200

    def ours(sample: dict[str, Any]) -> bool:
        """An interval that holds these requests (the deployment is shared with the other
        tests, whose intervals may hold only refused requests)."""
        return bool(sample["t"] > sent_at and sample["rows"])

    def sampled() -> Any:
        _, data = admin(deploy_project.root, "mlp", served.url, "/-/admin/history")
        return data if any(ours(s) for s in data["samples"]) else None

    data = wait_for(sampled, timeout=25, every=1.0)
    assert data is not None and data["interval_s"] == 10
    samples = data["samples"]
    assert [b["t"] - a["t"] for a, b in itertools.pairwise(samples)] == \
        [10] * (len(samples) - 1)
    busy = [s for s in samples if ours(s)]
    assert set(busy[-1]) == {"t", "requests", "errors", "client_errors", "rows", "batches",
                             "p50_ms", "p99_ms", "mean_batch", "queue_depth"}
    assert busy[-1]["p50_ms"] > 0 and busy[-1]["rows"] >= 1


@pytest.fixture
def fresh(deploy_project: DeployProject) -> Any:
    """Deploy under a name of the test's own; undeployed at the end, whatever happened."""
    from jupyter_mlops.deploy import deployments, undeploy

    names: list[str] = []
    yield names
    alive = {d.name for d in deployments(check=False, cwd=deploy_project.root)}
    for name in names:
        if name in alive:
            undeploy(name, cwd=deploy_project.root)


def test_a_canary_shows_two_versions_in_the_metrics(
        deploy_project: DeployProject, fresh: list[str]) -> None:
    from jupyter_mlops.deploy import deploy

    fresh.append("mon-canary")
    deploy(str(deploy_project.local_v1), name="mon-canary", cwd=deploy_project.root)
    deployment = deploy("models:/churn/2", name="mon-canary", canary=50,
                        cwd=deploy_project.root)
    for _ in range(20):
        assert post(f"{deployment.url}/invocations",
                    {"inputs": deploy_project.X[:1].tolist()})[0] == 200
    families = scrape(str(deployment.url))
    answered = by_label(families, "mlops_requests", "mlops_requests_total", "version")
    assert answered["1"] >= 1 and answered["2"] >= 1 and answered["1"] + answered["2"] == 20
    versions = {dict(labels)["version"] for labels in
                sample_values(families, "mlops_model_info", "mlops_model_info")}
    assert versions == {"1", "2"}
    assert set(by_label(families, "mlops_batch_size", "mlops_batch_size_count",
                        "version")) >= {"1", "2"}
    # a crashed model worker is restarted: the front's counters carry on, never back
    from jupyter_mlops.deploy import get_deployment

    pid = get_deployment("mon-canary", cwd=deploy_project.root).details["workers"]["1"]["pid"]
    os.kill(pid, signal.SIGKILL)

    def restarted() -> Any:
        workers = get_deployment("mon-canary", cwd=deploy_project.root).details["workers"]
        one = workers.get("1", {})
        return True if one.get("state") == "ready" and one.get("pid") != pid else None

    assert wait_for(restarted, timeout=120, every=0.5), "version 1 was not restarted"
    again = scrape(str(deployment.url))
    for label in ("1", "2"):
        assert by_label(again, "mlops_requests", "mlops_requests_total", "version")[label] \
            == answered[label]


def _settled_log(root: Path, name: str, timeout: float = 60.0) -> Any:
    """The log once the writer process (left behind by a killed serving process, niced,
    on a possibly busy machine) has written what it was handed: no new row for 2 s."""
    deadline = time.monotonic() + timeout
    frame, since = read_log(root, name), time.monotonic()
    while time.monotonic() - since < 2.0 and time.monotonic() < deadline:
        time.sleep(0.25)
        now = read_log(root, name)
        if len(now) != len(frame):
            frame, since = now, time.monotonic()
    return frame


def test_sigkill_of_the_serving_process_loses_at_most_a_second_of_log(
        deploy_project: DeployProject, fresh: list[str]) -> None:
    from jupyter_mlops.deploy import deploy

    fresh.append("mon-kill")
    deployment = deploy(str(deploy_project.local_v1), name="mon-kill", cwd=deploy_project.root)
    answered: list[tuple[str, float]] = []
    stop = threading.Event()

    def traffic() -> None:
        body = {"inputs": deploy_project.X[:1].tolist()}
        while not stop.is_set():
            try:
                status, _, headers = post(f"{deployment.url}/invocations", body, timeout=5)
            except OSError:
                return
            if status == 200:
                answered.append((headers["X-Request-Id"], time.time()))

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        time.sleep(2.5)
        killed_at = time.time()
        assert deployment.pid is not None
        os.kill(deployment.pid, signal.SIGKILL)
    finally:
        stop.set()
        sender.join(30)
    early = {rid for rid, at in answered if at < killed_at - 1.0}
    assert len(early) >= 5, "too little traffic to tell"
    frame = _settled_log(deploy_project.root, "mon-kill")
    missing = early - set(frame["request_id"])
    assert not missing, f"{len(missing)} of {len(early)} requests answered more than 1 s " \
                        "before the kill are not in the log"


def test_an_unwritable_log_folder_keeps_serving_and_says_why_once(
        deploy_project: DeployProject, fresh: list[str]) -> None:
    from jupyter_mlops.deploy import deploy, logs

    folder = deploy_project.root / ".mlops" / "monitoring" / "mon-ro"
    folder.mkdir(parents=True)
    today = dt.datetime.now(dt.timezone.utc).date()
    for days in (-1, 0, 1):  # files where the day partitions would go (root ignores modes)
        (folder / f"date={today + dt.timedelta(days=days)}").write_text("in the way")
    fresh.append("mon-ro")
    deployment = deploy(str(deploy_project.local_v1), name="mon-ro", cwd=deploy_project.root)
    for _ in range(6):
        status, answer, _ = post(f"{deployment.url}/invocations",
                                 {"inputs": deploy_project.X[:2].tolist()})
        assert status == 200, answer
        time.sleep(0.3)

    def failed() -> Any:
        try:
            status = json.loads((folder / STATUS_FILE).read_text())
        except (OSError, ValueError):
            return None
        return status if status["error"] and status["dropped"] >= 12 else None

    status = wait_for(failed, timeout=10)
    assert status is not None, (folder / STATUS_FILE).read_text()
    assert "\n" not in status["error"] and "cannot write the inference log" in status["error"]
    assert status["rows_written"] == 0
    assert get(f"{deployment.url}/health")[0] == 200
    text = "\n".join(logs("mon-ro", 500, cwd=deploy_project.root).sections["serving process"])
    assert text.count("cannot write the inference log") == 1
