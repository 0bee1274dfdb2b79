"""The SageMaker target against moto's server on loopback: an EMULATOR of S3 and SageMaker,
not AWS. What moto does not do is tested around, and said:

- moto's ``invoke_endpoint`` answers a canned body (configured through its moto-api), so the
  predict test proves the call and the decoding, not the model;
- moto's ``update_endpoint`` answers HTTP 500 (not implemented): the blue/green request is
  checked against botocore's SageMaker API model with a Stubber, and the failing update is
  used to check that a new version that cannot roll out leaves the old one serving.
"""

from __future__ import annotations

import io
import json
import tarfile
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jupyter_mlops.deploy import deploy, deployments, predict, rollback, undeploy
from jupyter_mlops.deploy.sagemaker import blue_green_policy
from jupyter_mlops.deploy.target import DeployFailed
from jupyter_mlops.errors import ConfigError
from tests.deploy_fixtures import (
    SAGEMAKER_IMAGE,
    SAGEMAKER_ROLE,
    DeployProject,
    point_at_sagemaker_emulator,
)

pytestmark = pytest.mark.timeout(600)
BUCKET = "mlops-deploy"
ROLE, IMAGE = SAGEMAKER_ROLE, SAGEMAKER_IMAGE


@pytest.fixture
def aws(s3_emulator: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Credentials and settings pointing at the emulator; clients for checking it."""
    import boto3

    endpoint = point_at_sagemaker_emulator(s3_emulator, monkeypatch, BUCKET)
    return {"endpoint": endpoint,
            "s3": boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1"),
            "sm": boto3.client("sagemaker", endpoint_url=endpoint, region_name="us-east-1")}


def _canned_answer(endpoint: str, body: dict[str, Any]) -> None:
    """moto's invoke_endpoint returns what is queued here (it runs no model)."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/static/sagemaker/endpoint-results",
        data=json.dumps({"results": [{"Body": json.dumps(body),
                                      "ContentType": "application/json"}]}).encode(),
        method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()


def test_deploy_predict_and_undeploy_on_the_sagemaker_emulator(
        aws: dict[str, Any], deploy_project: DeployProject) -> None:
    root, sm, s3 = deploy_project.root, aws["sm"], aws["s3"]
    steps: list[str] = []
    deployed = deploy("models:/churn/1", target="sagemaker", name="churn-sm", cwd=root,
                      progress=steps.append)
    assert deployed.status == "serving" and deployed.version == 1
    assert deployed.device == "ml.g4dn.xlarge (GPU)"  # a GPU instance unless told otherwise
    assert deployed.url == ("https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/"
                            "churn-sm/invocations")
    joined = "\n".join(steps)
    for step in ("packaging the model to s3://mlops-deploy/packages/churn-sm/v1/model.tar.gz",
                 "create_model churn-sm-v1", "create_endpoint_config churn-sm-v1",
                 "create_endpoint churn-sm", "endpoint churn-sm: InService"):
        assert step in joined, joined
    # what AWS (here: the emulator) holds
    package = s3.get_object(Bucket=BUCKET, Key="packages/churn-sm/v1/model.tar.gz")["Body"]
    with tarfile.open(fileobj=io.BytesIO(package.read()), mode="r:gz") as tar:
        assert "MLmodel" in tar.getnames()
    model = sm.describe_model(ModelName="churn-sm-v1")
    assert model["ExecutionRoleArn"] == ROLE
    assert model["PrimaryContainer"]["Image"] == IMAGE
    assert model["PrimaryContainer"]["ModelDataUrl"] == (
        f"s3://{BUCKET}/packages/churn-sm/v1/model.tar.gz")
    variant = sm.describe_endpoint_config(
        EndpointConfigName="churn-sm-v1")["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.g4dn.xlarge" and variant["InitialInstanceCount"] == 1
    assert sm.describe_endpoint(EndpointName="churn-sm")["EndpointStatus"] == "InService"
    # listed with the endpoint's live status; no credential in the state or the listing
    (listed,) = [d for d in deployments(cwd=root) if d.name == "churn-sm"]
    assert listed.status == "serving" and listed.details["endpoint_status"] == "InService"
    state = (root / ".mlops" / "deployments" / "churn-sm" / "deployment.json").read_text()
    assert "testing" not in state and "secret" not in state.lower()
    # predict goes through sagemaker-runtime invoke_endpoint (the emulator's canned answer)
    _canned_answer(aws["endpoint"], {"predictions": deploy_project.expected_v1.tolist()})
    frame = predict("churn-sm", deploy_project.X, cwd=root)
    np.testing.assert_allclose(frame.to_numpy(dtype="float32"), deploy_project.expected_v1)
    # logs come from CloudWatch; the emulator has no log group for the endpoint yet
    from jupyter_mlops.deploy import logs

    found = logs("churn-sm", cwd=root)
    (group,) = found.sections
    assert group == "/aws/sagemaker/Endpoints/churn-sm"
    assert found.sections[group][0].startswith("no CloudWatch logs yet")
    # undeploy removes the endpoint, its configs, models and the package
    undeploy("churn-sm", cwd=root)
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0
    assert "churn-sm" not in {d.name for d in deployments(cwd=root)}


def test_a_second_version_that_cannot_roll_out_leaves_the_first_serving(
        aws: dict[str, Any], deploy_project: DeployProject) -> None:
    """moto answers update_endpoint with a 500: the new version fails, version 1 serves."""
    root, sm = deploy_project.root, aws["sm"]
    deploy("models:/churn/1", target="sagemaker", name="churn-bg", cwd=root)
    try:
        with pytest.raises(DeployFailed) as failed:
            deploy("models:/churn/2", target="sagemaker", name="churn-bg", cwd=root)
        message = str(failed.value)
        assert "\n" not in message
        assert message.startswith("version 2 failed: SageMaker update_endpoint failed")
        assert message.endswith("version 1 keeps serving")
        described = sm.describe_endpoint(EndpointName="churn-bg")
        assert described["EndpointConfigName"] == "churn-bg-v1"
        assert described["EndpointStatus"] == "InService"
        names = {m["ModelName"] for m in sm.list_models()["Models"]}
        assert names == {"churn-bg-v1"}  # version 2's model and config were removed
        (listed,) = [d for d in deployments(cwd=root) if d.name == "churn-bg"]
        assert listed.version == 1 and listed.get_version(2).status == "failed"
        with pytest.raises(Exception, match="no previous version"):
            rollback("churn-bg", cwd=root)
    finally:
        undeploy("churn-bg", cwd=root)


@pytest.mark.parametrize("canary", [None, 10])
def test_the_blue_green_update_request_is_valid_for_the_sagemaker_api(
        canary: int | None) -> None:
    """botocore validates the parameters against SageMaker's API model before the stub
    answers: the request our update sends is one SageMaker accepts in shape."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    request = {"EndpointName": "churn", "EndpointConfigName": "churn-v2",
               "RetainAllVariantProperties": False, "DeploymentConfig": blue_green_policy(canary)}
    with Stubber(client) as stub:
        arn = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/churn"
        stub.add_response("update_endpoint", {"EndpointArn": arn}, request)
        client.update_endpoint(**request)
        stub.assert_no_pending_responses()
    routing = request["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    if canary:
        assert routing["Type"] == "CANARY"
        assert routing["CanarySize"] == {"Type": "CAPACITY_PERCENT", "Value": 10}
    else:
        assert routing["Type"] == "ALL_AT_ONCE"


def test_missing_credentials_are_one_line_and_nothing_is_created(
        deploy_project: DeployProject, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("MLOPS_AWS_SAGEMAKER_ROLE", ROLE)
    monkeypatch.setenv("MLOPS_AWS_SAGEMAKER_IMAGE", IMAGE)
    monkeypatch.setenv("MLOPS_AWS_SAGEMAKER_BUCKET", f"s3://{BUCKET}")
    with pytest.raises(ConfigError) as caught:
        deploy("models:/churn/1", target="sagemaker", name="no-creds",
               cwd=deploy_project.root)
    assert "no AWS credentials found in the AWS chain" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not (deploy_project.root / ".mlops" / "deployments" / "no-creds").exists()


def test_missing_sagemaker_settings_are_named(deploy_project: DeployProject,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with pytest.raises(ConfigError) as caught:
        deploy("models:/churn/1", target="sagemaker", name="no-settings",
               cwd=deploy_project.root)
    message = str(caught.value)
    for key in ("aws.sagemaker_role", "aws.sagemaker_image", "aws.sagemaker_bucket"):
        assert key in message
