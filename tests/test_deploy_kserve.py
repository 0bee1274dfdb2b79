"""KServe manifests, validated against KServe's own CRD schema (vendored, reduced, with its
source in tests/data). No cluster runs here: applying, watching and deleting through the
kubernetes client is not exercised; what is checked is the manifest and the refusals."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from jupyter_mlops.config import load_config
from jupyter_mlops.deploy.kserve import KServeTarget, build_manifest
from jupyter_mlops.deploy.models import ResolvedModel
from jupyter_mlops.deploy.state import DeploymentStore
from jupyter_mlops.deploy.target import DeployOptions
from jupyter_mlops.errors import ConfigError, UserInputError

SCHEMA_FILE = Path(__file__).parent / "data" / "kserve_inferenceservice_v1beta1.schema.yaml"
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _closed(schema: Any) -> Any:
    """Every object that lists properties rejects others (kubectl's strict validation)."""
    if isinstance(schema, dict):
        schema = {k: _closed(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [_closed(v) for v in schema]
    return schema


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = _closed(yaml.safe_load(SCHEMA_FILE.read_text())["openAPIV3Schema"])
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _errors(validator: jsonschema.Draft7Validator, manifest: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.path))}: {e.message}"
            for e in validator.iter_errors(manifest)]


S3_MODEL = ResolvedModel("models:/churn@champion", "models:/churn/2",
                         run_id="0123456789abcdef0123456789abcdef",
                         registered_name="churn", registered_version="2",
                         storage_uri="s3://models/1/m-abc/artifacts")


@pytest.mark.parametrize("options", [
    {},
    {"gpus": 2, "replicas": 3},
    {"gpus": 0},
    {"canary": 10, "version": 2},
])
def test_manifests_are_valid_inference_services(validator: Any,
                                                options: dict[str, Any]) -> None:
    manifest = build_manifest("churn", S3_MODEL, namespace="ml", **options)
    assert _errors(validator, manifest) == []
    # and survive a YAML round trip unchanged (what --dry-run writes is what is applied)
    from jupyter_mlops.deploy.kserve import to_yaml

    assert yaml.safe_load(to_yaml(manifest)) == manifest
    assert DNS_1035.match(manifest["metadata"]["name"])
    annotations = manifest["metadata"]["annotations"]  # Prometheus scrapes the serving port
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == "8080"
    assert annotations["serving.kserve.io/enable-prometheus-scraping"] == "true"
    predictor = manifest["spec"]["predictor"]
    assert predictor["minReplicas"] >= 1  # never scaled to zero
    assert predictor["model"]["storageUri"] == "s3://models/1/m-abc/artifacts"
    assert predictor["model"]["modelFormat"] == {"name": "mlflow"}
    limits = predictor["model"]["resources"]["limits"]
    gpus = options.get("gpus", 1)
    if gpus:
        assert limits["nvidia.com/gpu"] == str(gpus)
    else:
        assert "nvidia.com/gpu" not in limits
    if "canary" in options:
        assert predictor["canaryTrafficPercent"] == 10
    annotations = manifest["metadata"]["annotations"]
    assert annotations["mlops.jupyter.org/run-id"] == S3_MODEL.run_id


@pytest.mark.parametrize(("break_it", "complaint"), [
    (lambda m: m["spec"]["predictor"].update(minReplicas="one"), "is not of type 'integer'"),
    (lambda m: m["spec"]["predictor"]["model"].update(storageURI="s3://x"),
     "Additional properties are not allowed"),
    (lambda m: m["spec"]["predictor"]["model"]["resources"]["limits"].update(
        {"nvidia.com/gpu": "one"}), "does not match"),
    (lambda m: m["spec"].pop("predictor"), "'predictor' is a required property"),
    (lambda m: m["spec"]["predictor"]["model"]["modelFormat"].pop("name"),
     "'name' is a required property"),
])
def test_the_schema_check_is_not_vacuous(validator: Any, break_it: Any,
                                         complaint: str) -> None:
    manifest = copy.deepcopy(build_manifest("churn", S3_MODEL))
    break_it(manifest)
    errors = _errors(validator, manifest)
    assert errors and any(complaint in e for e in errors), errors


def test_dry_run_writes_the_yaml_of_a_tracked_model(
        validator: Any, deploy_project: Any, cli: Any) -> None:
    done = cli("deploy", "models:/churn/1", "--target", "kserve", "--dry-run", "--name",
               "churn-k8s", "--gpu", "2", cwd=deploy_project.root)
    assert done.returncode == 0, done.stderr
    path = deploy_project.root / ".mlops" / "deployments" / "manifests" / "churn-k8s.yaml"
    assert f"# written to {path}" in done.stdout
    manifest = yaml.safe_load(path.read_text())
    assert _errors(validator, manifest) == []
    model = manifest["spec"]["predictor"]["model"]
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "2"
    # the embedded store keeps artifacts on this machine: said, since a cluster cannot read it
    assert model["storageUri"].startswith("file://")
    assert "a cluster cannot read it" in done.stdout
    # a dry run deploys nothing
    listed = cli("deployments", "--json", "--no-check", cwd=deploy_project.root)
    assert "churn-k8s" not in {d["name"] for d in json.loads(listed.stdout)}


def test_applying_needs_cluster_readable_artifacts_and_a_kubeconfig(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    target = KServeTarget(DeploymentStore(tmp_path / "deployments"), load_config(tmp_path))
    local = ResolvedModel("runs:/x/model", "runs:/x/model", storage_uri="file:///tmp/m")
    options = DeployOptions(namespace="default", gpu=None, replicas=1, canary=None, timeout=1)
    with pytest.raises(UserInputError, match="which a cluster cannot read"):
        target.deploy(local, "m", options, lambda _m: None)
    with pytest.raises(ConfigError, match=r"no kubeconfig found .* --dry-run"):
        target.deploy(S3_MODEL, "m", options, lambda _m: None)
    assert not (tmp_path / "deployments" / "m").exists()


def test_replicas_below_one_are_refused() -> None:
    with pytest.raises(UserInputError, match="at least 1"):
        build_manifest("churn", S3_MODEL, replicas=0)
