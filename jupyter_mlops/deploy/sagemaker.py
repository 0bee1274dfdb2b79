"""The SageMaker target (boto3): the model is packaged to S3 as ``model.tar.gz``, then
``create_model`` → ``create_endpoint_config`` (a GPU instance type unless told otherwise) →
``create_endpoint`` (or a blue/green ``update_endpoint`` for a new version), waited on with
progress. Credentials come from boto3's own chain and stay in this process: nothing about
them is stored in the deployment state or sent to the browser."""

from __future__ import annotations

import contextlib
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from ..config import Config
from ..errors import BackendUnavailableError, ConfigError, NotFoundError, UserInputError
from .models import ResolvedModel, download_model
from .protocol import predictions_frame, request_body
from .state import Deployment, DeploymentStatus, DeploymentStore, TargetKind, VersionInfo
from .target import DeployFailed, DeployOptions, Progress, TargetBase

DEFAULT_INSTANCE_TYPE = "ml.g4dn.xlarge"  # one NVIDIA T4
CONTAINER_ENV = {"MLFLOW_DEPLOYMENT_FLAVOR_NAME": "python_function",
                 "SERVING_ENVIRONMENT": "SageMaker"}  # what MLflow's pyfunc image reads
STATUS: dict[str, DeploymentStatus] = {
    "InService": "serving", "Creating": "starting", "Updating": "updating",
    "SystemUpdating": "updating", "RollingBack": "updating", "Deleting": "stopping",
    "Failed": "failed", "OutOfService": "failed", "UpdateRollbackFailed": "failed"}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


class SageMakerTarget(TargetBase):
    kind: ClassVar[TargetKind] = "sagemaker"

    def __init__(self, store: DeploymentStore, config: Config, *,
                 poll_seconds: float = 15.0) -> None:
        super().__init__(store, config)
        self.poll_seconds = poll_seconds

    # ------------------------------------------------------------------ clients
    def _session(self) -> Any:
        try:
            import boto3  # type: ignore[import-untyped, unused-ignore]
        except ImportError:
            raise ConfigError("the SageMaker target needs boto3: "
                              "pip install 'jupyter-mlops[aws]'") from None
        region = str(self.config["aws.region"] or "") or None
        session = boto3.Session(region_name=region)
        if session.get_credentials() is None:
            raise ConfigError("no AWS credentials found in the AWS chain (environment, "
                              "~/.aws/credentials, SSO, instance role): configure them, e.g. "
                              "'aws configure'")
        if not session.region_name:
            raise ConfigError("no AWS region: set aws.region in mlops.toml or AWS_REGION")
        return session

    def _client(self, session: Any, service: str, **options: Any) -> Any:
        """A client as this target makes them (aws.endpoint_url); ``options`` go to boto3
        (e.g. a botocore ``config`` with short timeouts for a panel's poll)."""
        endpoint = str(self.config["aws.endpoint_url"] or "") or None
        return session.client(service, endpoint_url=endpoint, **options)

    def _call(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
            BotoCoreError,
            ClientError,
            NoCredentialsError,
        )

        try:
            return fn(**kwargs)
        except NoCredentialsError:
            raise ConfigError("no AWS credentials found in the AWS chain: configure them, "
                              "e.g. 'aws configure'") from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = error.get("Code", "Error"), error.get("Message", str(exc))
            name = getattr(fn, "__name__", "call")
            if code in ("ValidationException", "ResourceNotFound") and \
                    "could not find" in message.lower():
                raise NotFoundError(f"SageMaker {name}: {message}") from None
            if code in ("ValidationException", "ResourceInUse", "ResourceLimitExceeded"):
                raise UserInputError(f"SageMaker {name} refused: {code}: {message}") from None
            raise BackendUnavailableError(f"SageMaker {name} failed: {code}: {message}") \
                from None
        except BotoCoreError as exc:
            raise BackendUnavailableError(f"AWS is unreachable: {_one_line(exc)}") from None

    def _settings(self) -> tuple[str, str, str, str]:
        role = str(self.config["aws.sagemaker_role"] or "")
        image = str(self.config["aws.sagemaker_image"] or "")
        bucket = str(self.config["aws.sagemaker_bucket"] or "")
        missing = [key for key, value in (("aws.sagemaker_role", role),
                                          ("aws.sagemaker_image", image),
                                          ("aws.sagemaker_bucket", bucket)) if not value]
        if missing:
            raise ConfigError(
                f"the SageMaker target needs {', '.join(missing)} (mlops.toml or "
                "MLOPS_AWS_*): an execution role ARN, an MLflow pyfunc serving image in ECR "
                "('mlflow sagemaker build-and-push-container' builds one) and an s3:// "
                "location for model packages")
        if not bucket.startswith("s3://"):
            raise ConfigError(f"aws.sagemaker_bucket must be an s3:// URI, not '{bucket}'")
        name, _, prefix = bucket[len("s3://"):].partition("/")
        return role, image, name, prefix.strip("/")

    # ------------------------------------------------------------------ deploy
    def deploy(self, model: ResolvedModel, name: str, options: DeployOptions,
               progress: Progress) -> Deployment:
        progress(f"downloading {model.given}")
        with tempfile.TemporaryDirectory() as tmp:
            folder = download_model(model, Path(tmp) / "model")
            return self._deploy(model, folder, name, options, progress)

    def _deploy(self, model: ResolvedModel, model_dir: Path, name: str,
                options: DeployOptions, progress: Progress) -> Deployment:
        instance_type, replicas, canary = options.instance_type, options.replicas, options.canary
        role, image, bucket, prefix = self._settings()
        session = self._session()
        sm, s3 = self._client(session, "sagemaker"), self._client(session, "s3")
        existing = self.existing(name)
        version = existing.next_version() if existing else 1
        instance_type = instance_type or DEFAULT_INSTANCE_TYPE
        key = "/".join(p for p in (prefix, name, f"v{version}", "model.tar.gz") if p)
        package = f"s3://{bucket}/{key}"
        progress(f"packaging the model to {package}")
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "model.tar.gz"
            with tarfile.open(archive, "w:gz") as tar:
                for item in sorted(model_dir.iterdir()):
                    tar.add(item, arcname=item.name)
            self._call(s3.upload_file, Filename=str(archive), Bucket=bucket, Key=key)
        resource = f"{name}-v{version}"
        tags = [{"Key": "mlops:model", "Value": model.given[:256]}]
        if model.run_id:
            tags.append({"Key": "mlops:run_id", "Value": model.run_id})
        progress(f"create_model {resource} ({image})")
        self._call(sm.create_model, ModelName=resource, ExecutionRoleArn=role, Tags=tags,
                   PrimaryContainer={"Image": image, "ModelDataUrl": package,
                                     "Environment": dict(CONTAINER_ENV)})
        progress(f"create_endpoint_config {resource}: {replicas} × {instance_type}")
        self._call(sm.create_endpoint_config, EndpointConfigName=resource, Tags=tags,
                   ProductionVariants=[{"VariantName": variant_name(version),
                                        "ModelName": resource,
                                        "InitialInstanceCount": replicas,
                                        "InstanceType": instance_type,
                                        "InitialVariantWeight": 1.0}])
        info = VersionInfo(version, model.given, source_uri=model.storage_uri or model.uri,
                           run_id=model.run_id, registered_name=model.registered_name,
                           registered_version=model.registered_version, path=package,
                           device=f"{instance_type} (GPU)" if _is_gpu(instance_type)
                           else instance_type,
                           details={"model_name": resource, "endpoint_config": resource,
                                    "package_key": key, "bucket": bucket})
        deployment = existing or Deployment(name=name, target=self.kind)
        deployment.versions.append(info)
        deployment.settings = {"instance_type": instance_type, "replicas": replicas,
                               "region": session.region_name}
        deployment.url = (f"https://runtime.sagemaker.{session.region_name}.amazonaws.com/"
                          f"endpoints/{name}/invocations")
        updating = existing is not None and existing.version is not None
        try:
            if updating:
                policy = blue_green_policy(canary)
                progress(f"update_endpoint {name} → {resource} (blue/green, "
                         f"{'canary ' + str(canary) + '%' if canary else 'all at once'})")
                self._call(sm.update_endpoint, EndpointName=name, EndpointConfigName=resource,
                           RetainAllVariantProperties=False, DeploymentConfig=policy)
            else:
                progress(f"create_endpoint {name}")
                self._call(sm.create_endpoint, EndpointName=name, EndpointConfigName=resource,
                           Tags=tags)
            described = self.wait(sm, name, options.timeout, progress)
            if described.get("EndpointConfigName") != resource:
                raise DeployFailed(f"SageMaker rolled the update back: "
                                   f"{described.get('FailureReason') or 'see CloudWatch'}")
        except Exception as exc:
            info.status = "failed"
            info.message = _one_line(exc)
            self._delete_version(sm, s3, info, endpoint=None if updating else name)
            if updating:
                self.store.save(deployment)
                raise DeployFailed(f"version {version} failed: {info.message}; version "
                                   f"{existing.version if existing else '?'} keeps serving") \
                    from None
            raise
        previous = deployment.current
        if previous is not None:
            previous.status = "standby"
        info.status = "serving"
        deployment.version = version
        deployment.history.append(version)
        deployment.traffic = {str(version): 100}
        deployment.status, deployment.health = "serving", "ok"
        self.store.save(deployment)
        return deployment

    def wait(self, sm: Any, name: str, timeout: float, progress: Progress) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last = None
        while True:
            described: dict[str, Any] = self._call(sm.describe_endpoint, EndpointName=name)
            status = described.get("EndpointStatus")
            if status != last:
                progress(f"endpoint {name}: {status}")
                last = status
            if status == "InService":
                return described
            if status in ("Failed", "OutOfService", "UpdateRollbackFailed"):
                raise DeployFailed(f"endpoint {name} is {status}: "
                                   f"{described.get('FailureReason') or 'see CloudWatch logs'}")
            if time.monotonic() > deadline:
                raise DeployFailed(f"endpoint {name} is still {status} after {timeout:g} s; "
                                   "it keeps going in AWS: check 'deployments' later")
            time.sleep(self.poll_seconds)

    def _delete_version(self, sm: Any, s3: Any, info: VersionInfo,
                        endpoint: str | None) -> None:
        """Remove what one version created, so a failure leaves nothing half-deployed."""
        from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
            BotoCoreError,
            ClientError,
        )

        steps: list[tuple[Callable[..., Any], dict[str, Any]]] = []
        if endpoint:
            steps.append((sm.delete_endpoint, {"EndpointName": endpoint}))
        details = info.details
        if details.get("endpoint_config"):
            steps.append((sm.delete_endpoint_config,
                          {"EndpointConfigName": details["endpoint_config"]}))
        if details.get("model_name"):
            steps.append((sm.delete_model, {"ModelName": details["model_name"]}))
        if details.get("package_key"):
            steps.append((s3.delete_object, {"Bucket": details["bucket"],
                                             "Key": details["package_key"]}))
        for fn, kwargs in steps:
            with contextlib.suppress(ClientError, BotoCoreError):
                fn(**kwargs)

    # ------------------------------------------------------------------ operations
    def status(self, deployment: Deployment) -> Deployment:
        try:
            session = self._session()
            described = self._call(self._client(session, "sagemaker").describe_endpoint,
                                   EndpointName=deployment.name)
        except NotFoundError:
            deployment.status, deployment.health = "dead", "the endpoint no longer exists"
            return deployment
        except (ConfigError, BackendUnavailableError) as exc:
            deployment.health = f"unknown: {exc}"
            return deployment
        status = str(described.get("EndpointStatus"))
        deployment.status = STATUS.get(status, "updating")  # health names an unknown one
        deployment.health = "ok" if status == "InService" else (
            str(described.get("FailureReason") or status))
        deployment.details = {**deployment.details, "endpoint_status": status,
                              "endpoint_config": described.get("EndpointConfigName")}
        return deployment

    def rollback(self, deployment: Deployment, timeout: float, progress: Progress
                 ) -> Deployment:
        if len(deployment.history) < 2:
            raise UserInputError(f"{deployment.name}: there is no previous version to roll "
                                 "back to")
        current, target = deployment.history[-1], deployment.history[-2]
        info = deployment.get_version(target)
        assert info is not None
        session = self._session()
        sm = self._client(session, "sagemaker")
        config_name = info.details["endpoint_config"]
        progress(f"update_endpoint {deployment.name} → {config_name} (blue/green)")
        self._call(sm.update_endpoint, EndpointName=deployment.name,
                   EndpointConfigName=config_name, RetainAllVariantProperties=False,
                   DeploymentConfig=blue_green_policy(None))
        self.wait(sm, deployment.name, timeout, progress)
        deployment.history.pop()
        deployment.version = target
        info.status = "serving"
        rolled = deployment.get_version(current)
        if rolled is not None:
            rolled.status = "rolled back"
        deployment.traffic = {str(target): 100}
        self.store.save(deployment)
        return deployment

    def undeploy(self, deployment: Deployment, progress: Progress) -> None:
        session = self._session()
        sm, s3 = self._client(session, "sagemaker"), self._client(session, "s3")
        progress(f"delete_endpoint {deployment.name}")
        with contextlib.suppress(NotFoundError):
            self._call(sm.delete_endpoint, EndpointName=deployment.name)
        for info in deployment.versions:
            self._delete_version(sm, s3, info, endpoint=None)
        self.store.remove(deployment.name)

    def predict(self, deployment: Deployment, data: Any) -> Any:
        session = self._session()
        runtime = self._client(session, "sagemaker-runtime")
        response = self._call(runtime.invoke_endpoint, EndpointName=deployment.name,
                              ContentType="application/json", Accept="application/json",
                              Body=request_body(data))
        return predictions_frame(response["Body"].read())

    def logs(self, deployment: Deployment, lines: int) -> dict[str, list[str]]:
        session = self._session()
        client = self._client(session, "logs")
        group = f"/aws/sagemaker/Endpoints/{deployment.name}"
        try:
            streams = self._call(client.describe_log_streams, logGroupName=group,
                                 orderBy="LastEventTime", descending=True, limit=3)
        except (NotFoundError, BackendUnavailableError, UserInputError) as exc:
            return {group: [f"no CloudWatch logs yet ({exc})"]}
        sections: dict[str, list[str]] = {}
        for stream in streams.get("logStreams", []):
            events = self._call(client.get_log_events, logGroupName=group,
                                logStreamName=stream["logStreamName"], limit=lines,
                                startFromHead=False)
            sections[stream["logStreamName"]] = [e.get("message", "")
                                                 for e in events.get("events", [])]
        return sections or {group: ["no log streams yet"]}


def variant_name(version: int) -> str:
    """The production variant a version serves as (CloudWatch's ``VariantName``)."""
    return f"v{version}"


def blue_green_policy(canary: int | None) -> dict[str, Any]:
    """SageMaker's blue/green deployment: all at once, or ``canary`` % of capacity first."""
    routing: dict[str, Any] = {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
    if canary:
        routing = {"Type": "CANARY", "WaitIntervalInSeconds": 600,
                   "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": int(canary)}}
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing,
                                      "TerminationWaitInSeconds": 0,
                                      "MaximumExecutionTimeoutInSeconds": 3600}}


def _is_gpu(instance_type: str) -> bool:
    family = instance_type.removeprefix("ml.").split(".")[0]
    return family.startswith(("g", "p"))
