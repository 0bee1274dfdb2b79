"""Measured status: every capability's backend checked for real, each check bounded in time.

The tracking store tests use real MLflow: a SQLite store written by ``MlflowClient`` and an
``mlflow server`` process on loopback."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from pathlib import Path

import pytest

from jupyter_mlops import __version__
from jupyter_mlops.checks import check_gpu, check_writable
from jupyter_mlops.status import StatusReport, collect_status

SIX = ["features", "experiments", "pipeline", "review", "deploy", "monitor"]
CHECKS = {
    "features": ["feature store"],
    "experiments": ["tracking store", "logging queue"],
    "pipeline": ["artifact store", "engines"],
    "review": ["git", "review store"],
    "deploy": ["GPU", "deployment store"],
    "monitor": ["monitoring folder", "inference logs"],
}

#: Experiments the store fixture creates (one of them is then deleted), beyond MLflow's
#: "Default": more than one page (1000) of the REST API's search.
CREATED = 1001
ACTIVE = 1 + CREATED - 1


def capability(report: StatusReport, cap_id: str):  # type: ignore[no-untyped-def]
    return next(c for c in report.capabilities if c.id == cap_id)


def check(report: StatusReport, cap_id: str, name: str):  # type: ignore[no-untyped-def]
    return next(c for c in capability(report, cap_id).checks if c.name == name)


# seconds allowed beyond a check's timeout: loose, because CI machines are loaded; what the
# bounds tell apart is a timeout honoured (1-3 s) from one ignored (30 s or a hang)
SLACK = 8


def timed_status(*args, **kwargs) -> tuple[StatusReport, float]:  # type: ignore[no-untyped-def]
    began = time.monotonic()
    report = collect_status(*args, **kwargs)
    return report, time.monotonic() - began


def _probe_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"mlops-status-{name}" and t.is_alive()]


def _env_without_config() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_", "AWS_"))}


# --------------------------------------------------------------------------- real MLflow


@pytest.fixture(scope="module")
def mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite tracking store written by MLflow itself: Default + 1001 experiments, one of
    them deleted (deleted experiments are not counted)."""
    db = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    script = (
        "import sys, mlflow\n"
        "client = mlflow.MlflowClient(sys.argv[1])\n"
        f"ids = [client.create_experiment(f'exp-{{i}}') for i in range({CREATED})]\n"
        "client.delete_experiment(ids[0])\n"
        "print(len(client.search_experiments(max_results=50000)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, f"sqlite:///{db}"], env=_env_without_config(),
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.strip().splitlines()[-1]) == ACTIVE
    return db


@pytest.fixture(scope="module")
def mlflow_server(mlflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlflow server`` on loopback over the fixture's store; yields its URL."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tmp_path_factory.mktemp("mlflow-server")
    log = folder / "server.log"
    env = {**_env_without_config(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
             f"sqlite:///{mlflow_db}", "--default-artifact-root", str(folder / "artifacts"),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "mlflow server exited:\n" + log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not start:\n" + \
                log.read_text()[-3000:]
            time.sleep(0.25)
        yield url
    finally:
        # the server runs in its own session: end its process group (uvicorn workers too)
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue


def test_sqlite_store_written_by_mlflow_counts_active_experiments(
        project: Path, mlflow_db: Path) -> None:
    report = collect_status(project, {"MLOPS_TRACKING_URI": f"sqlite:///{mlflow_db}"})

    tracking = check(report, "experiments", "tracking store")
    assert tracking.level == "ok"
    assert f"{ACTIVE} experiments" in tracking.message
    assert capability(report, "experiments").summary == tracking.message


def test_mlflow_server_is_asked_over_rest_across_pages(project: Path, mlflow_server: str) -> None:
    report = collect_status(project, {"MLOPS_TRACKING_URI": mlflow_server}, timeout=10)

    tracking = check(report, "experiments", "tracking store")
    assert tracking.level == "ok", tracking.message
    assert tracking.message == f"MLflow server {mlflow_server}: {ACTIVE} experiments"


# --------------------------------------------------------------------------- the report


def test_report_has_six_capabilities_in_order_with_their_checks(project: Path) -> None:
    report = collect_status(project, {})

    assert report.version == __version__
    assert report.config_error is None
    assert [c.id for c in report.capabilities] == SIX
    assert [c.title for c in report.capabilities] == [
        "Features", "Experiments", "Pipeline", "Review", "Deploy", "Monitor"]
    for cap in report.capabilities:
        assert [c.name for c in cap.checks] == CHECKS[cap.id]
        assert cap.summary
        assert all(c.message for c in cap.checks)
    # a fresh project: the embedded stores will be created on first use
    for cap_id in ("features", "experiments", "pipeline", "monitor"):
        assert capability(report, cap_id).state == "ok", capability(report, cap_id).checks
    assert "created by the first run" in check(report, "experiments", "tracking store").message
    assert check(report, "monitor", "monitoring folder").message == (
        ".mlops/monitoring will be created on first use (. is writable)")
    assert capability(report, "monitor").summary == "watching 0 deployments"


def test_report_as_json_carries_config_and_states(project: Path) -> None:
    data = json.loads(json.dumps(collect_status(project, {}).to_dict()))

    assert set(data) == {"version", "elapsed_ms", "config_error", "config", "capabilities"}
    assert data["config"]["project_root"] == str(project)
    uri = next(v for v in data["config"]["values"] if v["key"] == "tracking.uri")
    assert uri == {"key": "tracking.uri", "value": f"sqlite:///{project}/.mlops/mlflow.db",
                   "source": "default"}
    for cap in data["capabilities"]:
        assert cap["state"] in ("ok", "warning", "error")
        assert set(cap) == {"id", "title", "summary", "checks", "state"}
        for item in cap["checks"]:
            assert set(item) == {"name", "ok", "message", "level", "elapsed_ms"}


def test_status_leaves_nothing_behind(project: Path) -> None:
    (project / ".mlops" / "features").mkdir(parents=True)
    collect_status(project, {})
    left = sorted(p.relative_to(project).as_posix() for p in project.rglob("*"))
    assert left == [".mlops", ".mlops/features"]


def test_text_report_shows_tracking_uri_and_every_capability(project: Path) -> None:
    text = collect_status(project, {"MLOPS_TRACKING_URI": f"sqlite:///{project}/t.db"}).to_text()

    assert f"tracking URI: sqlite:///{project}/t.db  [env:MLOPS_TRACKING_URI]" in text
    for title in ("Features", "Experiments", "Pipeline", "Review", "Deploy"):
        assert f" {title}: " in text


def test_broken_config_is_reported_not_raised(project: Path) -> None:
    (project / "mlops.toml").write_text('[features]\nbackend = "fest"\n')

    report = collect_status(project, {})

    assert report.ok is False
    assert report.config_error is not None
    assert report.config_error.startswith(f"{project / 'mlops.toml'}:2:")
    assert report.capabilities == []
    assert report.to_dict()["config"] is None
    assert f"config error: {report.config_error}" in report.to_text()


# --------------------------------------------------------------------------- tracking store


def test_a_file_that_is_not_a_database_is_an_error(project: Path) -> None:
    db = project / ".mlops" / "mlflow.db"
    db.parent.mkdir()
    db.write_bytes(b"these are not the tables you are looking for" * 100)

    report = collect_status(project, {})

    tracking = check(report, "experiments", "tracking store")
    assert tracking.level == "error"
    assert ".mlops/mlflow.db is not a readable MLflow database" in tracking.message
    assert capability(report, "experiments").state == "error"
    assert report.ok is False


def test_unreachable_tracking_server_fails_fast_and_says_so(
        project: Path, closed_port_url: str) -> None:
    report, elapsed = timed_status(project, {"MLOPS_TRACKING_URI": closed_port_url}, timeout=3)

    tracking = check(report, "experiments", "tracking store")
    assert tracking.level == "error"
    assert f"tracking server {closed_port_url} is unreachable" in tracking.message
    assert "MLOPS_TRACKING_URI" in tracking.message  # says what to do
    assert "timed out" not in tracking.message  # refused at once, not waited out
    assert elapsed < 3 + SLACK


def test_hanging_tracking_server_is_cut_off_at_the_timeout(
        project: Path, blackhole_url: str) -> None:
    report, elapsed = timed_status(project, {"MLOPS_TRACKING_URI": blackhole_url}, timeout=1)

    assert elapsed < 1 + SLACK
    tracking = check(report, "experiments", "tracking store")
    assert tracking.level == "error"
    assert "timed out" in tracking.message
    # the other capabilities are still measured
    assert capability(report, "features").state == "ok"
    assert capability(report, "pipeline").state == "ok"
    # and the probe itself gives up too: no thread is left waiting on the server
    deadline = time.monotonic() + 3
    while _probe_threads("tracking store") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _probe_threads("tracking store") == []


def test_status_timeout_setting_bounds_the_checks(project: Path, blackhole_url: str) -> None:
    (project / "mlops.toml").write_text(f'[tracking]\nuri = "{blackhole_url}"\n'
                                        "[status]\ntimeout = 1\n")
    # the server's own default (here 30 s) yields to the user's setting
    report, elapsed = timed_status(project, {}, default_timeout=30)

    assert elapsed < 1 + SLACK
    assert "timed out" in check(report, "experiments", "tracking store").message


def test_server_default_timeout_applies_when_the_user_sets_none(
        project: Path, blackhole_url: str) -> None:
    report, elapsed = timed_status(project, {"MLOPS_TRACKING_URI": blackhole_url},
                                   default_timeout=1)

    assert elapsed < 1 + SLACK
    assert "timed out" in check(report, "experiments", "tracking store").message


def test_credentials_in_the_tracking_uri_are_never_shown(
        project: Path, free_port: int) -> None:
    uri = f"http://alice:s3cret@127.0.0.1:{free_port}/"
    report = collect_status(project, {"MLOPS_TRACKING_URI": uri}, timeout=3)

    shown = json.dumps(report.to_dict()) + report.to_text()
    assert "s3cret" not in shown
    assert f"alice:***@127.0.0.1:{free_port}" in check(report, "experiments",
                                                       "tracking store").message


def test_file_store_counts_experiment_folders(project: Path) -> None:
    store = project / "mlruns"
    for name in ("0", "1", "models", ".trash"):
        (store / name).mkdir(parents=True)
        (store / name / "meta.yaml").write_text("name: x\n")
    (store / "no-meta").mkdir()

    report = collect_status(project, {"MLOPS_TRACKING_URI": f"file://{store}"})

    tracking = check(report, "experiments", "tracking store")
    assert tracking.level == "ok"
    assert tracking.message == f"file store {store}: 2 experiments"


# --------------------------------------------------------------------------- feature store


def test_feature_store_under_a_file_cannot_be_created(project: Path) -> None:
    # an executable file as "parent": os.access alone would call it writable (we run as root)
    blocker = project / "blocker"
    blocker.write_text("#!/bin/sh\n")
    blocker.chmod(blocker.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    (project / "mlops.toml").write_text('[features]\npath = "blocker/features"\n')

    report = collect_status(project, {})

    store = check(report, "features", "feature store")
    assert store.level == "error"
    assert "blocker/features cannot be created" in store.message
    assert "blocker is a file" in store.message
    assert capability(report, "features").summary == store.message


def test_feature_store_path_that_is_a_file_is_an_error(project: Path) -> None:
    (project / "features.parquet").write_bytes(b"PAR1")
    (project / "mlops.toml").write_text('[features]\npath = "features.parquet"\n')

    store = check(collect_status(project, {}), "features", "feature store")

    assert store.level == "error"
    assert "features.parquet exists but is not a folder" in store.message


def test_existing_feature_folder_is_probed_by_writing(project: Path) -> None:
    (project / ".mlops" / "features").mkdir(parents=True)
    result = check_writable("feature store", str(project / ".mlops" / "features"), project)
    assert result.level == "ok"
    assert result.message == ".mlops/features is writable"


def test_feast_backend_without_a_repository_says_what_is_missing(project: Path) -> None:
    (project / "mlops.toml").write_text('[features]\nbackend = "feast"\n')
    store = check(collect_status(project, {}), "features", "feature store")
    assert store.level == "error"
    assert "features.repo is not set" in store.message


def test_feast_repository_without_feature_store_yaml_is_an_error(project: Path) -> None:
    (project / "repo").mkdir()
    (project / "mlops.toml").write_text('[features]\nbackend = "feast"\nrepo = "repo"\n')
    store = check(collect_status(project, {}), "features", "feature store")
    assert store.level == "error"
    assert f"{project / 'repo'} has no feature_store.yaml" in store.message


def test_s3_feature_store_is_not_probed_but_needs_boto3(project: Path) -> None:
    (project / "mlops.toml").write_text('[features]\npath = "s3://bucket/features"\n')
    store = check(collect_status(project, {}), "features", "feature store")
    if find_spec("boto3") is None:
        assert store.level == "error"
        assert "pip install 'jupyter-mlops[aws]'" in store.message
    else:
        assert store.level == "warning"
        assert "s3://bucket/features" in store.message


# --------------------------------------------------------------------------- git


def test_git_repository_with_a_commit_reports_its_branch(
        project: Path, git: Callable[..., str]) -> None:
    git(project, "init", "-q", "-b", "trunk")
    (project / "a.txt").write_text("a\n")
    git(project, "add", "a.txt")
    git(project, "commit", "-q", "-m", "first")

    report = collect_status(project / ".", {})

    result = check(report, "review", "git")
    assert result.level == "ok"
    assert result.message.startswith("git version ")
    assert result.message.endswith("; branch trunk")


def test_git_repository_without_commits_is_a_warning(
        project: Path, git: Callable[..., str]) -> None:
    git(project, "init", "-q")
    result = check(collect_status(project, {}), "review", "git")
    assert result.level == "warning"
    assert "no commits yet" in result.message


def test_outside_git_review_is_a_warning_not_an_error(project: Path) -> None:
    result = check(collect_status(project, {}), "review", "git")
    assert result.level == "warning"
    assert f"{project} is not in a git repository" in result.message


# --------------------------------------------------------------------------- GPU


def _fake_driver(folder: Path, script: str) -> None:
    """An ``nvidia-smi`` on PATH that behaves as given (this machine has no NVIDIA GPU)."""
    smi = folder / "nvidia-smi"
    smi.write_text("#!/bin/sh\n" + script)
    smi.chmod(0o755)


def test_without_nvidia_driver_local_serving_uses_the_cpu(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH, so no nvidia-smi
    result = check_gpu(1.0)
    assert result.level == "warning"
    assert "no GPU visible" in result.message
    assert "CPU" in result.message


def test_a_failing_driver_is_reported_with_its_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_driver(tmp_path, "echo \"NVIDIA-SMI has failed because it couldn't communicate with "
                           "the NVIDIA driver.\"\nexit 9\n")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/usr/bin:/bin")
    result = check_gpu(1.0)
    assert result.level == "warning"
    assert "couldn't communicate with the NVIDIA driver" in result.message
    assert "CPU" in result.message


def test_visible_gpus_are_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_driver(tmp_path, "echo '0, NVIDIA H100 80GB HBM3, 81559 MiB'\n"
                           "echo '1, NVIDIA H100 80GB HBM3, 81559 MiB'\n")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/usr/bin:/bin")
    result = check_gpu(1.0)
    assert result.level == "ok"
    assert result.message.startswith("2 visible: 0, NVIDIA H100 80GB HBM3, 81559 MiB")


def test_a_hanging_driver_does_not_hang_status(
        project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_driver(tmp_path, "exec sleep 30\n")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")

    report, elapsed = timed_status(project, {}, timeout=1)

    assert elapsed < 1 + SLACK
    gpu = check(report, "deploy", "GPU")
    assert gpu.level == "error"
    assert "timed out" in gpu.message.lower()
