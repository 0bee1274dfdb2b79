"""What is written under ``.mlops/`` and read back from it: the folder keeps itself out of git
whatever creates it first, and pickled step outputs on a shared S3 store load only when this
project wrote them (moto's S3 *emulator*, not AWS)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import jupyter_mlops as mlops
from jupyter_mlops.paths import STATE_GITIGNORE, make_folder
from jupyter_mlops.pipeline import from_notebook, runtime

from .pipeline_notebooks import CHAIN, step_states, write_notebook


def test_make_folder_writes_the_gitignore_only_when_it_creates_the_state_folder(
        tmp_path: Path) -> None:
    made = make_folder(tmp_path / "proj" / ".mlops" / "tracking" / "journal")
    assert made.is_dir()
    assert (tmp_path / "proj" / ".mlops" / ".gitignore").read_text() == STATE_GITIGNORE
    # an existing .mlops someone set up by hand is left as it is
    (tmp_path / "other" / ".mlops").mkdir(parents=True)
    make_folder(tmp_path / "other" / ".mlops" / "deployments")
    assert not (tmp_path / "other" / ".mlops" / ".gitignore").exists()
    # other folders get none
    make_folder(tmp_path / "plain" / "logs")
    assert not (tmp_path / "plain" / ".gitignore").exists()


def _track(project: Path) -> None:
    mlops.start_run(run_name="first")
    mlops.log(step=0, loss=1.0)
    mlops.end_run(timeout=30)


def _pipeline(project: Path) -> None:
    run = from_notebook(write_notebook(project / "chain.ipynb", CHAIN)).run()
    assert run.ok, run.to_text()


def _features(project: Path) -> None:
    from jupyter_mlops import features

    frame = pd.DataFrame({"customer_id": [1, 2], "amount": [3.0, 4.0],
                          "event_timestamp": pd.to_datetime(["2026-01-01", "2026-01-02"],
                                                            utc=True).as_unit("us")})
    features.publish(frame, "orders", entities="customer_id", timestamp="event_timestamp")


@pytest.mark.usefixtures("tracking_reset")
@pytest.mark.parametrize("first_writer", [_track, _pipeline, _features],
                         ids=["tracking", "pipeline", "features"])
def test_whatever_creates_the_state_folder_keeps_it_out_of_git(
        project: Path, first_writer: Callable[[Path], None]) -> None:
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    first_writer(project)

    assert (project / ".mlops" / ".gitignore").read_text() == STATE_GITIGNORE
    untracked = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=project,
        capture_output=True, text=True, check=True).stdout.splitlines()
    state = [line[3:] for line in untracked if line[3:].startswith(".mlops/")]
    assert state == [".mlops/.gitignore"], untracked


# --------------------------------------------------------------------------- S3 pickles


class _Planted:
    """What a hostile writer of the shared store puts in a cached output."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def s3_pipeline(project: Path, s3_emulator: dict[str, str],
                monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """CHAIN run once with its artifacts in ``s3://mlops-test/<a prefix of its own>``; yields
    the run, an S3 client and the prefix."""
    import uuid

    import boto3

    prefix = f"team-{uuid.uuid4().hex[:8]}"
    for name, value in {**s3_emulator, "MLOPS_PIPELINE_ARTIFACTS": f"s3://mlops-test/{prefix}"
                        }.items():
        monkeypatch.setenv(name, value)
    first = from_notebook(write_notebook(project / "chain.ipynb", CHAIN)).run()
    assert first.ok, first.to_text()
    yield first, boto3.client("s3", endpoint_url=s3_emulator["AWS_ENDPOINT_URL"]), prefix


def _cached(client: Any, prefix: str, step: str, name: str) -> tuple[str, str]:
    keys = [o["Key"] for o in client.list_objects_v2(
        Bucket="mlops-test", Prefix=f"{prefix}/chain/cache/{step}/")["Contents"]]
    data = next(k for k in keys if k.endswith(f"/{name}.pkl"))
    return data, data.rsplit("/", 1)[0] + "/manifest.json"


def test_outputs_this_project_wrote_carry_its_digest_and_load(s3_pipeline: Any,
                                                              project: Path) -> None:
    first, client, prefix = s3_pipeline
    _, manifest_key = _cached(client, prefix, "clean", "clean")
    manifest = json.loads(client.get_object(Bucket="mlops-test", Key=manifest_key)["Body"]
                          .read())
    assert set(manifest["outputs"]["clean"]) >= {"sha256", "digest"}
    key_file = project / ".mlops" / runtime.KEY_FILE_NAME
    assert key_file.stat().st_mode & 0o777 == 0o600  # the key is the project's, not the store's
    assert first.value("clean", "clean") == [0, 2, 4]


@pytest.mark.parametrize("forge", ["keep the digest", "drop the digest"])
def test_a_pickle_planted_in_the_shared_store_is_never_loaded(
        s3_pipeline: Any, project: Path, tmp_path: Path, forge: str) -> None:
    first, client, prefix = s3_pipeline
    marker = tmp_path / "planted-code-ran"
    data_key, manifest_key = _cached(client, prefix, "clean", "clean")
    planted = pickle.dumps(_Planted(marker))
    client.put_object(Bucket="mlops-test", Key=data_key, Body=planted)
    manifest = json.loads(client.get_object(Bucket="mlops-test", Key=manifest_key)["Body"]
                          .read())
    import hashlib

    entry = manifest["outputs"]["clean"]
    entry["sha256"] = hashlib.sha256(planted).hexdigest()  # the writer can fix the hash...
    if forge == "drop the digest":
        entry.pop("digest")  # ...but not the digest, which needs the project's key
    client.put_object(Bucket="mlops-test", Key=manifest_key, Body=json.dumps(manifest))

    again = from_notebook(project / "chain.ipynb").run(from_step="stats")  # reads clean
    assert not again.ok
    assert step_states(again)["stats"] == "failed"
    failed = again.steps["stats"].message or ""
    assert "not loaded" in failed, again.to_text()
    with pytest.raises(runtime.UntrustedOutput, match="not loaded"):
        first.value("clean", "clean")
    assert not marker.exists(), "the planted pickle ran"


# --------------------------------------------------------------------------- planted records


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside the project that a planted record or link points at."""
    path = tmp_path / "outside" / "credentials"
    path.parent.mkdir()
    path.write_text("aws_secret_access_key = SECRET\n")
    return path


def test_a_planted_run_record_names_no_file_to_open(project: Path, secret: Path) -> None:
    from jupyter_mlops.pipeline.runner import list_runs, load_run

    nb = write_notebook(project / "chain.ipynb", CHAIN)
    run = from_notebook(nb).run()
    folder = Path(run.folder)
    record = json.loads((folder / "run.json").read_text())
    record["folder"] = str(secret.parent)  # as a cloned repository's .mlops/ could say
    record["steps"][0]["log"] = str(secret)
    record["steps"][1]["name"] = "../../../../../../outside/credentials"
    (folder / "run.json").write_text(json.dumps(record))
    (folder / "logs" / "clean.log").unlink()
    (folder / "logs" / "clean.log").symlink_to(secret)  # a log that links out

    for loaded in (load_run(nb, run.run_id), list_runs(nb)[0]):
        assert loaded.folder == str(folder.resolve())
        logs = [state.log for state in loaded.steps.values()]
        assert str(secret) not in logs
        assert all(log == "" or Path(log).is_relative_to(folder.resolve()) for log in logs)
        assert "SECRET" not in loaded.log("clean")
    assert "loaded" in load_run(nb, run.run_id).log("load")  # the honest logs still read


def test_a_deployment_log_that_links_out_is_not_read(project: Path, secret: Path) -> None:
    from jupyter_mlops.deploy import logs
    from jupyter_mlops.deploy.state import Deployment, DeploymentStore

    store = DeploymentStore(project / ".mlops" / "deployments")
    store.save(Deployment(name="churn", target="local", version=1, traffic={"1": 100}))
    folder = make_folder(store.folder("churn") / "logs")
    (folder / "server.log").symlink_to(secret)
    (folder / "v1.log").write_text("loaded version 1\n")

    sections = logs("churn", cwd=project).sections
    assert sections["serving process"] == []
    assert sections["version 1"] == ["loaded version 1"]
