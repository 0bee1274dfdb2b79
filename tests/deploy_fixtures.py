"""Fixtures of the deploy tests: one project with a tracking store holding two versions of
a small torch MLP (registered as ``churn``), a slow model, a broken model (its weights file
truncated) and a model with neither signature nor input example; and one local deployment
of ``churn`` v1 shared by every test that only sends requests.

``tests/conftest.py`` imports these, so each session logs the models and starts the shared
deployment once (on first use), and undeploys whatever is left at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SLOW_MODEL = '''
import time

import mlflow
from mlflow.pyfunc import PythonModel


class Slow(PythonModel):
    """Takes its time: a model that keeps the queue full."""

    def predict(self, context, model_input, params=None):
        time.sleep(0.6)
        return model_input["x"] * 2


mlflow.models.set_model(Slow())
'''

PLAIN_MODEL = '''
import mlflow
from mlflow.pyfunc import PythonModel


class Plain(PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


mlflow.models.set_model(Plain())
'''


@dataclass
class DeployProject:
    root: Path
    tracking_uri: str
    run_v1: str
    run_v2: str
    X: Any  # float32 rows (8 x 16)
    expected_v1: Any  # the v1 model's own predictions of X, in process
    expected_v2: Any
    local_v1: Path  # a local copy of v1 (an MLflow model folder)
    broken: Path  # v1 with its weights truncated
    slow: Path
    no_signature: Path

    def cwd(self) -> str:
        return str(self.root)

    def predict_v1(self, rows: Any) -> Any:
        """The v1 model's own output for exactly these rows, in this process."""
        import mlflow

        if not hasattr(self, "_v1"):
            self._v1 = mlflow.pyfunc.load_model(str(self.local_v1))
        return self._v1.predict(rows)


def _log_mlp(seed: int, X: Any) -> tuple[str, Any]:
    import mlflow
    import torch

    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    with mlflow.start_run() as run:
        mlflow.pytorch.log_model(net, name="model", input_example=X[:2],
                                 registered_model_name="churn")
    return run.info.run_id, net


@pytest.fixture(scope="session")
def deploy_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployProject]:
    import mlflow
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from jupyter_mlops.config import load_config
    from jupyter_mlops.tracking.store import ensure_experiment, tracking_uri

    root = tmp_path_factory.mktemp("deploy-project")
    saved = {k: os.environ.pop(k) for k in list(os.environ)
             if k.startswith(("MLOPS_", "MLFLOW_", "AWS_"))}
    config = load_config(root)
    uri = tracking_uri(config)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        experiment = ensure_experiment(config, "deploy-tests")
        mlflow.set_experiment(experiment_id=experiment)
        X = np.random.RandomState(0).rand(8, 16).astype("float32")
        run_v1, _ = _log_mlp(0, X)
        run_v2, _ = _log_mlp(1, X)
        client = mlflow.MlflowClient(uri, uri)
        client.set_registered_model_alias("churn", "champion", "2")
        expected_v1 = mlflow.pyfunc.load_model("models:/churn/1").predict(X)
        expected_v2 = mlflow.pyfunc.load_model("models:/churn/2").predict(X)
        models = root / "models"
        local_v1 = Path(mlflow.artifacts.download_artifacts(
            "models:/churn/1", dst_path=str(models / "churn-v1")))
        broken = models / "broken"
        shutil.copytree(local_v1, broken)
        for weights in (broken / "data").rglob("*"):
            if weights.is_file() and weights.suffix in (".pt2", ".pth", ".pt"):
                weights.write_bytes(weights.read_bytes()[:100])
        slow_code = models / "slow_model.py"
        slow_code.write_text(SLOW_MODEL)
        slow = models / "slow"
        mlflow.pyfunc.save_model(str(slow), python_model=str(slow_code),
                                 signature=ModelSignature(Schema([ColSpec("double", "x")])))
        plain_code = models / "plain_model.py"
        plain_code.write_text(PLAIN_MODEL)
        no_signature = models / "no-signature"
        mlflow.pyfunc.save_model(str(no_signature), python_model=str(plain_code))
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        os.environ.update(saved)
    project = DeployProject(root, uri, run_v1, run_v2, X, expected_v1, expected_v2,
                            local_v1, broken, slow, no_signature)
    try:
        yield project
    finally:
        from jupyter_mlops.deploy import deployments, undeploy

        for deployment in deployments(check=False, cwd=root):
            try:
                undeploy(deployment.name, cwd=root)
            except Exception as exc:  # pragma: no cover - reported, not hidden
                print(f"could not undeploy {deployment.name}: {exc}")


@pytest.fixture(scope="session")
def served(deploy_project: DeployProject) -> Iterator[Any]:
    """``churn`` v1 deployed locally once for the session (the tests only send requests)."""
    from jupyter_mlops.deploy import deploy, undeploy

    deployment = deploy("models:/churn/1", name="mlp", cwd=deploy_project.root,
                        max_request_bytes=1_000_000, max_request_rows=1000)
    try:
        yield deployment
    finally:
        undeploy("mlp", cwd=deploy_project.root)


def post(url: str, body: bytes | str | dict[str, Any],
         content_type: str = "application/json", timeout: float = 60,
         headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    """POST (with ``headers`` besides the content type); returns (status, parsed JSON or
    text, headers (case-insensitive))."""
    if isinstance(body, dict):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        status, raw, headers = exc.code, exc.read(), exc.headers
    try:
        return status, json.loads(raw), headers
    except ValueError:
        return status, raw.decode(errors="replace"), headers


def get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


SAGEMAKER_ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
SAGEMAKER_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlflow-pyfunc:3.17.2"


def point_at_sagemaker_emulator(s3_emulator: dict[str, str], monkeypatch: Any,
                                bucket: str) -> str:
    """Credentials and the SageMaker settings pointing at moto's emulator (not AWS), with the
    package bucket made; the emulator's endpoint URL."""
    import boto3

    for key, value in s3_emulator.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("MLOPS_AWS_SAGEMAKER_ROLE", SAGEMAKER_ROLE)
    monkeypatch.setenv("MLOPS_AWS_SAGEMAKER_IMAGE", SAGEMAKER_IMAGE)
    monkeypatch.setenv("MLOPS_AWS_SAGEMAKER_BUCKET", f"s3://{bucket}/packages")
    endpoint = s3_emulator["AWS_ENDPOINT_URL"]
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket)
    return endpoint
