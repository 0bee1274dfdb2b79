"""The tracking core in-process: runs against the embedded SQLite store and a real
``mlflow server`` on loopback, captured context, parameters, models, S3 artifacts (on moto's
S3 emulator)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import jupyter_mlops as mlops
from jupyter_mlops.config import load_config
from jupyter_mlops.errors import NotFoundError, UserInputError
from jupyter_mlops.status import collect_status
from jupyter_mlops.tracking import TrackingWarning, lifecycle, queue_status

pytestmark = pytest.mark.usefixtures("tracking_reset")


def mlflow_client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(uri)


def history(client: Any, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def artifacts(client: Any, run_id: str, folder: str | None = None) -> list[str]:
    found = []
    for item in client.list_artifacts(run_id, folder):
        found.extend(artifacts(client, run_id, item.path) if item.is_dir else [item.path])
    return sorted(found)


@pytest.fixture
def on_server(project: Path, tracking_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLOPS_TRACKING_URI", tracking_server)
    return tracking_server


# --------------------------------------------------------------------------- embedded store


def test_embedded_store_and_artifacts_live_under_dot_mlops(project: Path) -> None:
    run = mlops.start_run(run_name="first")
    for epoch in range(3):
        mlops.log(loss=1.0 / (epoch + 1), acc=epoch / 10)
    mlops.log_params(lr=0.01, layers=3)
    summary = mlops.end_run()

    assert summary.status == "FINISHED" and summary.flush.done
    assert mlops.active_run() is None
    client = mlflow_client(f"sqlite:///{project}/.mlops/mlflow.db")
    stored = client.get_run(run.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.run_name == "first"
    assert history(client, run.run_id, "loss") == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert history(client, run.run_id, "acc") == [(0, 0.0), (1, 0.1), (2, 0.2)]
    assert stored.data.params == {"lr": "0.01", "layers": "3"}
    experiment = client.get_experiment(stored.info.experiment_id)
    assert experiment.name == "proj"  # the project folder's name by default
    assert experiment.artifact_location == (project / ".mlops" / "artifacts" / "proj").as_uri()
    assert "environment/requirements.txt" in artifacts(client, run.run_id)
    assert (project / ".mlops" / "artifacts" / "proj" / run.run_id / "artifacts" /
            "environment" / "requirements.txt").is_file()
    # the run's journal is gone once everything is in the store
    assert list((project / ".mlops" / "tracking" / "journal").glob("*.jsonl")) == []
    # pointing MLflow's own API at the store did not set MLFLOW_TRACKING_URI for later runs
    assert load_config(project).source("tracking.uri") == "default"


def test_explicit_steps_and_per_key_counting(project: Path) -> None:
    run = mlops.start_run()
    mlops.log(step=10, loss=1.0)
    mlops.log(loss=0.5)  # continues after the last step of the key
    mlops.log(acc=0.1)  # another key counts from 0
    mlops.end_run()

    client = mlflow_client(f"sqlite:///{project}/.mlops/mlflow.db")
    assert history(client, run.run_id, "loss") == [(10, 1.0), (11, 0.5)]
    assert history(client, run.run_id, "acc") == [(0, 0.1)]


def test_nan_and_non_numbers_warn_naming_the_key_and_the_rest_is_logged(project: Path) -> None:
    import numpy as np

    run = mlops.start_run()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mlops.log(loss=float("nan"), acc=np.float32(0.5), name="resnet", count=3)
        mlops.log(loss=float("nan"), acc=0.75)  # the same problem is told once
    mlops.end_run()

    messages = [str(w.message) for w in caught if issubclass(w.category, TrackingWarning)]
    assert messages == ["mlops.log: metric 'loss' is NaN: not logged",
                        "mlops.log: metric 'name' is not a number (str 'resnet'): not logged"]
    client = mlflow_client(f"sqlite:///{project}/.mlops/mlflow.db")
    assert history(client, run.run_id, "acc") == [(0, 0.5), (1, 0.75)]
    assert history(client, run.run_id, "count") == [(0, 3.0)]
    assert history(client, run.run_id, "loss") == []


def test_long_params_are_shortened_and_a_changed_param_is_refused_with_warnings(
        project: Path) -> None:
    run = mlops.start_run()
    with pytest.warns(TrackingWarning, match="'prompt' is 7000 characters; MLflow keeps 6000"):
        mlops.log_params(prompt="x" * 7000)
    mlops.log_params(lr=0.1)
    with pytest.warns(TrackingWarning, match="'lr' is already '0.1'"):
        mlops.log_params(lr=0.2)
    summary = mlops.end_run()

    assert summary.flush.done
    params = mlflow_client(f"sqlite:///{project}/.mlops/mlflow.db").get_run(run.run_id).data.params
    assert params == {"prompt": "x" * 6000, "lr": "0.1"}


def test_logging_without_a_run_is_a_one_line_error(project: Path) -> None:
    with pytest.raises(UserInputError, match=r"^mlops.log: no active run; use %%mlops track"):
        mlops.log(loss=1.0)
    with pytest.raises(UserInputError, match="no active run"):
        mlops.end_run()


def test_a_second_run_needs_nested_and_nested_runs_know_their_parent(project: Path) -> None:
    parent = mlops.start_run(run_name="sweep")
    with pytest.raises(UserInputError, match=f"run {parent.run_id} is active: end it first"):
        mlops.start_run()
    child = mlops.start_run(run_name="trial-1", nested=True)
    mlops.log(loss=0.3)
    assert mlops.active_run() is child
    mlops.end_run()
    assert mlops.active_run() is parent
    mlops.end_run()

    client = mlflow_client(f"sqlite:///{project}/.mlops/mlflow.db")
    assert client.get_run(child.run_id).data.tags["mlflow.parentRunId"] == parent.run_id
    assert client.get_run(child.run_id).info.status == "FINISHED"


def test_a_run_used_as_context_manager_fails_with_the_error_recorded(project: Path) -> None:
    with pytest.raises(ZeroDivisionError), mlops.start_run() as run:
        mlops.log(loss=1.0)
        1 / 0  # noqa: B018

    assert mlops.active_run() is None
    client = mlflow_client(f"sqlite:///{project}/.mlops/mlflow.db")
    stored = client.get_run(run.run_id)
    assert stored.info.status == "FAILED"
    assert stored.data.tags["mlops.error"] == "ZeroDivisionError: division by zero"
    traceback = client.download_artifacts(run.run_id, "error/traceback.txt", str(project))
    assert "1 / 0" in Path(traceback).read_text()


def test_resume_continues_the_run_and_its_steps(project: Path) -> None:
    first = mlops.start_run(run_name="long")
    mlops.log(loss=1.0)
    mlops.log(loss=0.9)
    mlops.end_run()

    again = mlops.start_run(resume=first.run_id)
    assert again.run_id == first.run_id
    mlops.log(loss=0.8)
    mlops.end_run()

    client = mlflow_client(f"sqlite:///{project}/.mlops/mlflow.db")
    assert history(client, first.run_id, "loss") == [(0, 1.0), (1, 0.9), (2, 0.8)]
    assert client.get_run(first.run_id).info.status == "FINISHED"


def test_resuming_an_unknown_run_is_a_one_line_not_found(project: Path) -> None:
    with pytest.raises(NotFoundError, match=r"^no run '0123abcd' in tracking store sqlite:///"):
        mlops.start_run(resume="0123abcd")
    assert mlops.active_run() is None


# --------------------------------------------------------------------------- captured context


NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "execution_count": None, "id": "p1",
         "metadata": {"tags": ["parameters"]}, "outputs": [],
         "source": "lr = 0.01\nepochs: int = 5\nname = 'baseline'\n%matplotlib inline\n"},
        {"cell_type": "code", "execution_count": None, "id": "c2", "metadata": {},
         "outputs": [], "source": "print(lr)"},
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def test_notebook_git_environment_and_parameters_are_captured(
        project: Path, git: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    git(project, "init", "-q", "-b", "main")
    notebook = project / "notebooks" / "train.ipynb"
    notebook.parent.mkdir()
    notebook.write_text(json.dumps(NOTEBOOK))
    (project / "model.py").write_text("A = 1\n")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "first")
    commit = git(project, "rev-parse", "HEAD").strip()
    (project / "model.py").write_text("A = 2\n")  # not committed
    monkeypatch.setenv("JPY_SESSION_NAME", "notebooks/train.ipynb")  # relative, as API paths
    monkeypatch.chdir(notebook.parent)  # where Jupyter starts the notebook's kernel

    # papermill's injected cell set epochs; the parameters cell wrote the rest
    run = mlops.start_run(namespace={"lr": 0.01, "epochs": 20})
    mlops.end_run()

    client = mlflow_client(f"sqlite:///{project}/.mlops/mlflow.db")
    stored = client.get_run(run.run_id)
    tags = stored.data.tags
    assert tags["mlops.notebook.path"] == str(notebook.resolve())
    assert tags["mlflow.source.name"] == str(notebook.resolve())
    assert tags["mlflow.source.type"] == "NOTEBOOK"
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["mlflow.source.git.branch"] == "main"
    assert tags["mlops.git.dirty"] == "true"
    assert tags["mlops.python.version"] == ".".join(map(str, sys.version_info[:3]))
    assert tags["mlops.host.cpu"] and tags["mlops.host.gpu"]
    assert stored.data.params == {"lr": "0.01", "epochs": "20", "name": "baseline"}
    assert artifacts(client, run.run_id) == [
        "environment/environment.json", "environment/requirements.txt",
        "git/status.txt", "git/uncommitted.diff", "notebook/train.ipynb"]
    diff = Path(client.download_artifacts(run.run_id, "git/uncommitted.diff", str(project)))
    assert "-A = 1\n+A = 2" in diff.read_text()
    snapshot = Path(client.download_artifacts(run.run_id, "notebook/train.ipynb", str(project)))
    assert json.loads(snapshot.read_text()) == NOTEBOOK
    requirements = Path(client.download_artifacts(run.run_id, "environment/requirements.txt",
                                                  str(project))).read_text()
    assert "mlflow==" in requirements.lower()


def test_outside_git_and_without_a_notebook_the_run_still_starts(project: Path) -> None:
    run = mlops.start_run()
    mlops.end_run()

    tags = mlflow_client(f"sqlite:///{project}/.mlops/mlflow.db").get_run(run.run_id).data.tags
    assert tags["mlflow.source.type"] == "NOTEBOOK"
    assert "mlops.notebook.path" not in tags
    assert "mlflow.source.git.commit" not in tags


# --------------------------------------------------------------------------- tracking server


def test_points_params_and_status_reach_a_real_tracking_server(on_server: str) -> None:
    run = mlops.start_run(experiment="server-batches", run_name="many")
    client = mlflow_client(on_server)
    assert client.get_run(run.run_id).info.status == "RUNNING"
    for step in range(2500):  # more than two log_batch calls of 1000
        mlops.log(step=step, loss=step / 2500)
    mlops.log_params(**{f"p{i}": i for i in range(150)})  # more than one call of 100
    summary = mlops.end_run()

    assert summary.flush.done and summary.points == 2500
    stored = client.get_run(run.run_id)
    assert stored.info.status == "FINISHED"
    assert history(client, run.run_id, "loss") == [(s, s / 2500) for s in range(2500)]
    assert len(stored.data.params) == 150
    assert summary.url == (f"{on_server}/#/experiments/{stored.info.experiment_id}/runs/"
                           f"{run.run_id}")
    assert client.get_experiment(stored.info.experiment_id).artifact_location.startswith(
        "mlflow-artifacts:")  # the server keeps artifacts where it is configured to


def test_status_reports_the_logging_queue(on_server: str, project: Path) -> None:
    mlops.start_run()
    mlops.log(loss=1.0)
    mlops.end_run()

    report = collect_status(project)
    experiments = next(c for c in report.capabilities if c.id == "experiments")
    queue = next(c for c in experiments.checks if c.name == "logging queue")
    assert queue.level == "ok"
    assert queue.message.startswith("0 points queued; 0 in 0 journals")


# --------------------------------------------------------------------------- models


def test_a_torch_model_is_logged_with_a_signature_and_listed_on_the_run(on_server: str) -> None:
    import mlflow
    import numpy as np
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    run = mlops.start_run(experiment="models")
    uri = mlops.log_model(model, "regressor", input_example=torch.randn(3, 4))
    mlops.end_run()

    assert uri.startswith("models:/")
    tags = mlflow_client(on_server).get_run(run.run_id).data.tags
    assert json.loads(tags["mlops.models"]) == [
        {"name": "regressor", "uri": uri, "flavor": "pytorch"}]
    mlflow.set_tracking_uri(on_server)
    info = mlflow.models.get_model_info(uri)
    assert info.signature is not None
    assert list(info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, 4]
    loaded = mlflow.pyfunc.load_model(uri)
    sample = np.ones((2, 4), dtype=np.float32)
    with torch.no_grad():
        expected = model(torch.as_tensor(sample)).numpy()
    assert np.allclose(loaded.predict(sample), expected)
    assert model.training  # asking for the signature left the module's mode alone


def test_mlflows_own_api_logs_to_the_run_whatever_experiment_it_was_set_to(
        on_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow.tracking import fluent
    from sklearn.linear_model import LinearRegression

    monkeypatch.setattr(fluent, "_active_experiment_id", None)  # restored after the test
    mlflow.set_tracking_uri(on_server)
    mlflow.set_experiment("somewhere else")  # as a notebook may have done earlier

    run = mlops.start_run(experiment="ours")
    mlflow.log_metric("from_mlflow", 1.5)  # MLflow's own API writes to our run
    assert mlflow.active_run().info.run_id == run.run_id  # type: ignore[union-attr]
    uri = mlops.log_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), "line")
    mlops.end_run()

    assert mlflow.active_run() is None
    stored = mlflow_client(on_server).get_run(run.run_id)
    assert stored.data.metrics == {"from_mlflow": 1.5}
    assert json.loads(stored.data.tags["mlops.models"])[0]["uri"] == uri
    assert mlflow_client(on_server).get_experiment(stored.info.experiment_id).name == "ours"
    assert queue_status()["last_error"] is None


def test_sklearn_and_pyfunc_models_are_recognised(project: Path) -> None:
    import mlflow
    import numpy as np
    from sklearn.linear_model import LinearRegression

    class Doubler(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            return model_input * 2

    x = np.arange(8, dtype=float).reshape(4, 2)
    run = mlops.start_run()
    sk_uri = mlops.log_model(LinearRegression().fit(x, x.sum(axis=1)), "linear", x[:2])
    py_uri = mlops.log_model(Doubler(), "doubler", x[:2])
    with pytest.raises(UserInputError, match="a dict is not a model this can log"):
        mlops.log_model({"weights": 1}, "nope")
    mlops.end_run()

    tags = mlflow_client(f"sqlite:///{project}/.mlops/mlflow.db").get_run(run.run_id).data.tags
    assert [(m["name"], m["flavor"], m["uri"]) for m in json.loads(tags["mlops.models"])] == [
        ("linear", "sklearn", sk_uri), ("doubler", "pyfunc", py_uri)]
    assert np.allclose(mlflow.pyfunc.load_model(py_uri).predict(x), x * 2)


# --------------------------------------------------------------------------- S3


def test_artifacts_go_to_s3_on_the_moto_s3_emulator(
        project: Path, s3_emulator: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's S3 emulator stands in for S3: the same boto3 calls, on loopback."""
    import boto3
    import numpy as np
    from sklearn.linear_model import LinearRegression

    for key, value in s3_emulator.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL", raising=False)
    (project / "mlops.toml").write_text('[tracking]\nartifact_root = "s3://mlops-test/runs"\n')

    run = mlops.start_run(experiment="on-s3")
    x = np.arange(6, dtype=float).reshape(3, 2)
    mlops.log_model(LinearRegression().fit(x, x[:, 0]), "linear", x)
    mlops.end_run()

    client = mlflow_client(f"sqlite:///{project}/.mlops/mlflow.db")
    experiment = client.get_experiment_by_name("on-s3")
    assert experiment.artifact_location == "s3://mlops-test/runs/on-s3"
    s3 = boto3.client("s3", endpoint_url=s3_emulator["AWS_ENDPOINT_URL"], region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mlops-test",
                                                 Prefix="runs/on-s3/")["Contents"]]
    assert f"runs/on-s3/{run.run_id}/artifacts/environment/requirements.txt" in keys
    assert any(k.endswith("/artifacts/MLmodel") for k in keys)
    assert not (project / ".mlops" / "artifacts").exists()


# --------------------------------------------------------------------------- packaging


def test_the_package_stays_light_and_exposes_the_verbs(
        project: Path, child_env: Callable[..., dict[str, str]]) -> None:
    script = ("import sys, jupyter_mlops as mlops\n"
              "names = [mlops.start_run, mlops.log, mlops.log_params, mlops.log_model,\n"
              "         mlops.end_run, mlops.flush, mlops.active_run]\n"
              "print([m for m in ('mlflow', 'pandas', 'torch', 'numpy', 'requests')"
              " if m in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=project, env=child_env(),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert lifecycle.active_run is mlops.active_run
