"""The embedded store with its offline store in S3 — against moto's S3 *emulator* on
loopback (not AWS): parts and registry in the bucket, the same answers as a local store, and
a second project (another machine's cache) reading what the first published."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from jupyter_mlops import features
from tests.features_fixtures import ORDERS_TTL, brute_force, generate, same_values


@pytest.fixture
def s3_project(project: Path, s3_emulator: dict[str, str], monkeypatch: pytest.MonkeyPatch
               ) -> Path:
    for key, value in s3_emulator.items():
        monkeypatch.setenv(key, value)
    (project / "mlops.toml").write_text(
        f'[features]\npath = "s3://mlops-test/features-{project.parent.name}"\n')
    return project


def _objects(env: dict[str, str], prefix: str) -> list[str]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1")
    found = s3.list_objects_v2(Bucket="mlops-test", Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in found)


def test_publish_and_retrieve_through_the_s3_emulator(
        s3_project: Path, s3_emulator: dict[str, str], tmp_path: Path) -> None:
    data = generate(13, rows=150, entity_rows=150)
    for batch in data.orders:
        features.publish(batch, "orders", entities="customer_id", timestamp="event_timestamp",
                         created_timestamp="created", ttl=ORDERS_TTL.to_pytimedelta(),
                         description="Order totals per customer", cwd=s3_project)

    prefix = f"features-{s3_project.parent.name}/"
    keys = _objects(s3_emulator, prefix)
    assert f"{prefix}registry.json" in keys
    assert len([k for k in keys if k.endswith(".parquet")]) == 3
    assert not (s3_project / ".mlops" / "features" / "registry.json").exists()

    frame = features.get("orders:*", data.entities, timestamp="event_timestamp",
                         cwd=s3_project)
    want = brute_force(data.orders, data.entities, ["customer_id"],
                       ["amount", "order_count", "segment"], ORDERS_TTL, "created")
    for name in ("amount", "order_count", "segment"):
        assert same_values(frame[name], want[name]) == [], name

    # another project folder (another machine: its own cache, no local parts) reads the same
    # store from S3 alone
    other = tmp_path / "other"
    other.mkdir()
    (other / "mlops.toml").write_text((s3_project / "mlops.toml").read_text())
    assert not (other / ".mlops").exists()
    found = features.search("totals", cwd=other)
    assert found["name"].tolist() == ["orders"]
    again = features.get("orders:amount", data.entities, timestamp="event_timestamp",
                         cwd=other)
    assert same_values(again["amount"], want["amount"]) == []
    assert features.stats("orders", cwd=other).rows == 150


def test_an_unreachable_s3_store_is_a_clear_error(
        project: Path, closed_port_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_mlops.errors import BackendUnavailableError

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed_port_url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    (project / "mlops.toml").write_text('[features]\npath = "s3://mlops-test/nowhere"\n')
    with pytest.raises(BackendUnavailableError) as caught:
        features.search("x", cwd=project)
    assert "S3 read of s3://mlops-test/nowhere failed" in str(caught.value)
    assert "\n" not in str(caught.value)


PUBLISHER = """
import sys
import pandas as pd
from jupyter_mlops import features
worker = int(sys.argv[1])
for i in range(5):
    frame = pd.DataFrame({"k": [worker * 100 + i], "ts": pd.to_datetime([i], unit="s",
                                                                         utc=True),
                          "x": [float(i)]})
    features.publish(frame, "shared", entities="k", timestamp="ts")
"""


def test_two_machines_publishing_at_once_keep_every_row(
        s3_project: Path, s3_emulator: dict[str, str], tmp_path: Path,
        child_env: Callable[..., dict[str, str]]) -> None:
    """Two project folders (each its own local lock and cache, as on two machines) publish
    into one S3 store at the same time: S3's conditional writes keep both."""
    folders = []
    for n in range(3):
        folder = tmp_path / f"machine{n}"
        folder.mkdir()
        (folder / "mlops.toml").write_text((s3_project / "mlops.toml").read_text())
        folders.append(folder)
    workers = [subprocess.Popen([sys.executable, "-c", PUBLISHER, str(n)], cwd=folder,
                                env=child_env(s3_emulator), stderr=subprocess.PIPE, text=True)
               for n, folder in enumerate(folders)]
    for worker in workers:
        _out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err
    view = features.show("shared", cwd=s3_project, runs=False)
    assert view.rows == 15
    frame = features.get("shared:x", pd.DataFrame({
        "k": [0, 104, 202], "t": pd.to_datetime([10, 10, 10], unit="s", utc=True)}),
        timestamp="t", cwd=s3_project)
    assert frame["x"].tolist() == [0.0, 4.0, 2.0]
