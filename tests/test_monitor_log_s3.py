"""The inference log where the artifact root is on S3 — against moto's S3 *emulator* on
loopback (not AWS): the serving process ships its finished hourly files there and readers
see every row once, wherever it is at the moment. And a deployment with monitoring off
serves with neither metrics nor a log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.config import load_config
from jupyter_mlops.monitor.log_store import hours_in, remote_of
from jupyter_mlops.monitor.remote_log import RemoteLog, Shipper, local_parts
from tests.deploy_fixtures import DeployProject, get, post
from tests.monitor_fixtures import NOW, row, write_part

pytestmark = pytest.mark.timeout(600)

BUCKET = "mlops-test"


@pytest.fixture
def on_s3(s3_emulator: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The artifact root on the emulator's bucket (a prefix of this test's own)."""
    for key, value in s3_emulator.items():
        monkeypatch.setenv(key, value)
    prefix = f"s3://{BUCKET}/art-{time.time_ns()}"
    monkeypatch.setenv("MLOPS_TRACKING_ARTIFACT_ROOT", prefix)
    return prefix


def _keys(env_prefix: str) -> list[str]:
    import boto3

    bucket_prefix = env_prefix[len(f"s3://{BUCKET}/"):]
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=bucket_prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def test_a_file_both_local_and_shipped_is_read_once_and_a_vanished_one_from_s3(
        tmp_path: Path, on_s3: str) -> None:
    config = load_config(tmp_path)
    remote = remote_of(config, "churn")
    assert isinstance(remote, RemoteLog) and remote.url == f"{on_s3}/monitoring/churn"
    first = write_part(tmp_path, "churn", [row(NOW, 1), row(NOW, 2)])
    second = write_part(tmp_path, "churn", [row(NOW, 3)])
    folder = first.parent.parent.parent
    relative = "/".join(first.parts[-3:])
    remote.upload(first, relative)  # shipped, its local copy not deleted yet

    (hour,) = hours_in(folder, None, None, remote=remote, cache=tmp_path / "cache")
    assert len(hour.files) == 2
    first.unlink()  # deleted after the listing: the shipped copy is read instead
    assert sorted(hour.read().column("request_id").to_pylist()) == ["req-1", "req-2", "req-3"]
    assert second.is_file()

    again = hours_in(folder, None, None, remote=remote, cache=tmp_path / "cache")
    assert again[0].fingerprint == hour.fingerprint  # same names, same sizes


def test_the_shipper_moves_finished_files_and_keeps_them_when_s3_is_unreachable(
        tmp_path: Path, on_s3: str) -> None:
    part = write_part(tmp_path, "churn", [row(NOW, 1)])
    folder = part.parent.parent.parent
    unreachable = RemoteLog(f"{on_s3}/monitoring/churn", endpoint_url="http://127.0.0.1:9")
    said: list[str] = []
    shipper = Shipper(folder, unreachable, log=said.append)
    assert shipper.ship(force=True) == 0 and part.is_file()
    assert shipper.error and "cannot ship the inference log" in shipper.error
    assert shipper.ship(force=True) == 0 and len(said) == 1  # said once

    shipper.remote = RemoteLog(f"{on_s3}/monitoring/churn")
    assert shipper.ship(force=True) == 1 and shipper.error is None
    assert not local_parts(folder)
    assert [k.split("/monitoring/churn/")[1] for k in _keys(on_s3)] == \
        ["/".join(part.parts[-3:])]


@pytest.fixture
def fresh(deploy_project: DeployProject) -> Iterator[list[str]]:
    from jupyter_mlops.deploy import deployments, undeploy

    names: list[str] = []
    yield names
    alive = {d.name for d in deployments(check=False, cwd=deploy_project.root)}
    for name in names:
        if name in alive:
            undeploy(name, cwd=deploy_project.root)


def _wait(check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while (value := check()) is None and time.monotonic() < deadline:
        time.sleep(0.5)
    return value


def test_a_serving_process_ships_its_log_to_the_s3_artifact_root(
        deploy_project: DeployProject, fresh: list[str], on_s3: str) -> None:
    import jupyter_mlops as mlops
    from jupyter_mlops.deploy import deploy, undeploy

    fresh.append("mon-s3")
    deployment = deploy(str(deploy_project.local_v1), name="mon-s3", cwd=deploy_project.root)
    answered = set()
    for i in range(12):
        status, answer, headers = post(f"{deployment.url}/invocations",
                                       {"inputs": deploy_project.X[i % 2:i % 2 + 2].tolist()})
        assert status == 200, answer
        answered.add(headers["X-Request-Id"])

    folder = deploy_project.root / ".mlops" / "monitoring" / "mon-s3"
    shipped = _wait(lambda: _keys(on_s3) if _keys(on_s3) and not local_parts(folder)
                    else None, timeout=40)
    assert shipped, "the log was not shipped to S3 within 40 s"
    assert all("/monitoring/mon-s3/date=" in key and key.endswith(".parquet")
               for key in shipped)
    frame = mlops.monitor.inferences("mon-s3", cwd=deploy_project.root)
    assert set(frame["request_id"]) == answered and len(frame) == 24

    more = post(f"{deployment.url}/invocations",
                {"inputs": deploy_project.X[:1].tolist()})[2]["X-Request-Id"]
    undeploy("mon-s3", cwd=deploy_project.root)  # the last flush is shipped on the way out
    frame = mlops.monitor.inferences("mon-s3", cwd=deploy_project.root)
    assert set(frame["request_id"]) == answered | {more} and len(frame) == 25
    assert not local_parts(folder)


def test_monitoring_off_serves_without_metrics_or_log(
        deploy_project: DeployProject, fresh: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_mlops.deploy import deploy

    monkeypatch.setenv("MLOPS_MONITOR_ENABLED", "false")
    fresh.append("mon-off")
    deployment = deploy(str(deploy_project.local_v1), name="mon-off", cwd=deploy_project.root)
    for _ in range(3):
        status, answer, headers = post(f"{deployment.url}/invocations",
                                       {"inputs": deploy_project.X[:2].tolist()})
        assert status == 200, answer
        assert headers["X-Request-Id"]  # ids are not part of monitoring
    status, text = get(f"{deployment.url}/metrics")
    assert status == 404 and "monitoring is off" in text
    time.sleep(1.5)  # longer than a flush
    assert not (deploy_project.root / ".mlops" / "monitoring" / "mon-off").exists()
