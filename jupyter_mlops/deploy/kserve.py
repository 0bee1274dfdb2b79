"""The KServe target: an ``InferenceService`` (serving.kserve.io/v1beta1) serving the MLflow
model from its artifact location (``storageUri``) with ``nvidia.com/gpu`` limits and at least
one replica (no scale-to-zero, so a GPU service is never left cold). ``dry_run`` writes the
YAML; with a kubeconfig the manifest is applied, watched until Ready and deleted through the
kubernetes Python client (``pip install 'jupyter-mlops[kserve]'``)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from ..config import Config
from ..errors import BackendUnavailableError, ConfigError, NotFoundError, UserInputError
from ..paths import make_folder
from .local import http
from .models import ResolvedModel
from .state import Deployment, DeploymentStore, TargetKind, VersionInfo
from .target import DeployFailed, DeployOptions, Progress, TargetBase

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
SERVING_PORT = 8080  # KServe's MLServer runtime answers HTTP and /metrics on it
CLUSTER_SCHEMES = ("s3://", "gs://", "https://", "http://", "pvc://", "hf://", "oci://",
                   "hdfs://", "webhdfs://")


def gpu_count(gpu: str | int | None) -> int:
    """GPUs per replica: default 1; 'none'/0 for a CPU predictor."""
    if gpu is None or str(gpu).lower() in ("", "auto"):
        return 1
    if str(gpu).lower() in ("none", "cpu"):
        return 0
    if not str(gpu).isdigit():
        raise UserInputError(f"--gpu for kserve is a number of GPUs per replica, not '{gpu}'")
    return int(gpu)


def build_manifest(name: str, model: ResolvedModel, *, namespace: str = "default",
                   gpus: int = 1, replicas: int = 1, canary: int | None = None,
                   version: int = 1) -> dict[str, Any]:
    """The InferenceService for ``model``: KServe's MLflow runtime (MLServer, V2 protocol)."""
    if replicas < 1:
        raise UserInputError("replicas must be at least 1 (a GPU service is not scaled to zero)")
    storage = model.storage_uri or model.uri
    resources: dict[str, Any] = {"requests": {"cpu": "1", "memory": "2Gi"},
                                 "limits": {"cpu": "2", "memory": "4Gi"}}
    if gpus:
        resources["limits"]["nvidia.com/gpu"] = str(gpus)
        resources["requests"]["nvidia.com/gpu"] = str(gpus)
    annotations = {"mlops.jupyter.org/model": model.given,
                   "mlops.jupyter.org/version": str(version),
                   "serving.kserve.io/deploymentMode": "RawDeployment" if not canary
                   else "Serverless"}
    if model.run_id:
        annotations["mlops.jupyter.org/run-id"] = model.run_id
    # Prometheus scrapes the serving port: the usual pod annotations and KServe's own
    annotations.update({"prometheus.io/scrape": "true", "prometheus.io/path": "/metrics",
                        "prometheus.io/port": str(SERVING_PORT),
                        "serving.kserve.io/enable-prometheus-scraping": "true",
                        "prometheus.kserve.io/path": "/metrics",
                        "prometheus.kserve.io/port": str(SERVING_PORT)})
    predictor: dict[str, Any] = {
        "minReplicas": replicas,
        "maxReplicas": max(replicas, 1),
        "model": {
            "modelFormat": {"name": "mlflow"},
            "protocolVersion": "v2",
            "storageUri": storage,
            "resources": resources,
        },
    }
    if canary:
        predictor["canaryTrafficPercent"] = int(canary)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": "jupyter-mlops"},
                     "annotations": annotations},
        "spec": {"predictor": predictor},
    }


def to_yaml(manifest: dict[str, Any]) -> str:
    try:
        import yaml  # type: ignore[import-untyped, unused-ignore]
    except ImportError:  # JSON is YAML too
        return json.dumps(manifest, indent=2) + "\n"
    return str(yaml.safe_dump(manifest, sort_keys=False))


def has_kubeconfig() -> bool:
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return True
    paths = os.environ.get("KUBECONFIG", "").split(os.pathsep) if os.environ.get(
        "KUBECONFIG") else [str(Path.home() / ".kube" / "config")]
    return any(p and Path(p).expanduser().is_file() for p in paths)


class KServeTarget(TargetBase):
    kind: ClassVar[TargetKind] = "kserve"

    def __init__(self, store: DeploymentStore, config: Config, *,
                 poll_seconds: float = 5.0) -> None:
        super().__init__(store, config)
        self.poll_seconds = poll_seconds

    def manifest_path(self, name: str) -> Path:
        return self.store.root / "manifests" / f"{name}.yaml"

    def write(self, manifest: dict[str, Any]) -> Path:
        path = self.manifest_path(manifest["metadata"]["name"])
        make_folder(path.parent)
        path.write_text(to_yaml(manifest), encoding="utf-8")
        return path

    def dry_run(self, model: ResolvedModel, name: str, options: DeployOptions) -> Deployment:
        gpu, namespace = options.gpu, options.namespace
        manifest = build_manifest(name, model, namespace=namespace, gpus=gpu_count(gpu),
                                  replicas=options.replicas, canary=options.canary)
        path = self.write(manifest)
        storage = manifest["spec"]["predictor"]["model"]["storageUri"]
        note = None
        if not str(storage).startswith(CLUSTER_SCHEMES):
            note = (f"storageUri {storage} is local to this machine: a cluster cannot read it;"
                    " use an s3:// or gs:// tracking.artifact_root")
        deployment = Deployment(name=name, target=self.kind, status="dry-run",
                                health="not applied", message=note,
                                details={"manifest": str(path), "yaml": to_yaml(manifest),
                                         "namespace": namespace})
        deployment.versions.append(VersionInfo(1, model.given, source_uri=str(storage),
                                               run_id=model.run_id, status="dry-run",
                                               device=f"{gpu_count(gpu)} × nvidia.com/gpu"))
        deployment.version = 1
        return deployment

    # ------------------------------------------------------------------ cluster
    def _api(self) -> Any:
        if not has_kubeconfig():
            raise ConfigError("no kubeconfig found (KUBECONFIG, ~/.kube/config or in-cluster):"
                              " deploy with --dry-run to write the InferenceService YAML")
        try:
            from kubernetes import (  # type: ignore[import-not-found, unused-ignore]
                client,
                config,
            )
        except ImportError:
            raise ConfigError("the KServe target needs the kubernetes client: "
                              "pip install 'jupyter-mlops[kserve]'") from None
        try:
            if os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config()
            else:
                config.load_kube_config()
        except Exception as exc:
            raise ConfigError(f"the kubeconfig could not be loaded: {exc}") from None
        return client.CustomObjectsApi()

    def _call(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import (  # type: ignore[import-not-found, unused-ignore]
            ApiException,
        )

        try:
            return fn(**kwargs)
        except ApiException as exc:
            reason = exc.reason or ""
            with contextlib.suppress(ValueError, AttributeError):
                reason = json.loads(exc.body or "{}").get("message", reason)
            if exc.status == 404:
                raise NotFoundError(f"Kubernetes: {reason}") from None
            if exc.status in (400, 403, 409, 422):
                raise UserInputError(f"Kubernetes refused: {reason}") from None
            raise BackendUnavailableError(f"Kubernetes API error {exc.status}: {reason}") \
                from None
        except OSError as exc:
            raise BackendUnavailableError(f"the Kubernetes API is unreachable: {exc}") from None

    def deploy(self, model: ResolvedModel, name: str, options: DeployOptions,
               progress: Progress) -> Deployment:
        gpu, namespace, replicas, canary = (options.gpu, options.namespace, options.replicas,
                                            options.canary)
        storage = model.storage_uri or model.uri
        if not str(storage).startswith(CLUSTER_SCHEMES):
            raise UserInputError(f"the model's artifacts are at {storage}, which a cluster "
                                 "cannot read: log models to an s3:// or gs:// artifact root "
                                 "(tracking.artifact_root), or use --dry-run")
        api = self._api()
        existing = self.existing(name)
        version = existing.next_version() if existing else 1
        manifest = build_manifest(name, model, namespace=namespace, gpus=gpu_count(gpu),
                                  replicas=replicas, canary=canary if existing else None,
                                  version=version)
        self.write(manifest)
        args = {"group": GROUP, "version": VERSION, "namespace": namespace, "plural": PLURAL}
        if existing is None:
            progress(f"creating InferenceService {namespace}/{name}")
            self._call(api.create_namespaced_custom_object, body=manifest, **args)
        else:
            progress(f"patching InferenceService {namespace}/{name} to version {version}")
            self._call(api.patch_namespaced_custom_object, name=name, body=manifest, **args)
        info = VersionInfo(version, model.given, source_uri=str(storage), run_id=model.run_id,
                           registered_name=model.registered_name,
                           registered_version=model.registered_version,
                           device=f"{gpu_count(gpu)} × nvidia.com/gpu")
        deployment = existing or Deployment(name=name, target=self.kind)
        deployment.versions.append(info)
        deployment.settings = {"namespace": namespace, "replicas": replicas,
                               "gpus": gpu_count(gpu)}
        deployment.details = {"manifest": str(self.manifest_path(name)),
                              "namespace": namespace}
        status = self.watch(api, name, namespace, options.timeout, progress)
        deployment.url = status.get("url")
        info.status = "canary" if canary and existing else "serving"
        if info.status == "serving":
            deployment.version = version
            deployment.history.append(version)
        deployment.status, deployment.health = "serving", "ok"
        self.store.save(deployment)
        return deployment

    def watch(self, api: Any, name: str, namespace: str, timeout: float,
              progress: Progress) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            obj = self._call(api.get_namespaced_custom_object, group=GROUP, version=VERSION,
                             namespace=namespace, plural=PLURAL, name=name)
            status = obj.get("status") or {}
            ready: dict[str, Any] = next(
                (c for c in status.get("conditions", []) if c.get("type") == "Ready"), {})
            line = f"Ready={ready.get('status', 'Unknown')} {ready.get('reason') or ''}".strip()
            if line != last:
                progress(f"InferenceService {name}: {line}")
                last = line
            if ready.get("status") == "True":
                return dict(status)
            failure = (status.get("modelStatus") or {}).get("lastFailureInfo")
            if failure:
                raise DeployFailed(f"InferenceService {name}: {failure.get('reason')}: "
                                   f"{failure.get('message')}")
            if time.monotonic() > deadline:
                raise DeployFailed(f"InferenceService {name} not Ready after {timeout:g} s "
                                   f"({ready.get('message') or 'no message'})")
            time.sleep(self.poll_seconds)

    def status(self, deployment: Deployment) -> Deployment:
        try:
            api = self._api()
            namespace = str(deployment.settings.get("namespace", "default"))
            obj = self._call(api.get_namespaced_custom_object, group=GROUP, version=VERSION,
                             namespace=namespace, plural=PLURAL, name=deployment.name)
        except NotFoundError:
            deployment.status, deployment.health = "dead", "the InferenceService is gone"
            return deployment
        except (ConfigError, BackendUnavailableError) as exc:
            deployment.health = f"unknown: {exc}"
            return deployment
        status = obj.get("status") or {}
        ready: dict[str, Any] = next(
            (c for c in status.get("conditions", []) if c.get("type") == "Ready"), {})
        deployment.status = "serving" if ready.get("status") == "True" else "starting"
        deployment.health = "ok" if ready.get("status") == "True" else str(
            ready.get("message") or ready.get("reason") or "not ready")
        deployment.url = status.get("url") or deployment.url
        return deployment

    def undeploy(self, deployment: Deployment, progress: Progress) -> None:
        api = self._api()
        namespace = str(deployment.settings.get("namespace", "default"))
        progress(f"deleting InferenceService {namespace}/{deployment.name}")
        with contextlib.suppress(NotFoundError):
            self._call(api.delete_namespaced_custom_object, group=GROUP, version=VERSION,
                       namespace=namespace, plural=PLURAL, name=deployment.name)
        self.store.remove(deployment.name)

    def predict(self, deployment: Deployment, data: Any) -> Any:
        """V2 inference protocol (MLServer) with the pandas codec; returns a DataFrame."""
        import pandas as pd  # type: ignore[import-untyped, unused-ignore]

        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
        if not deployment.url:
            raise BackendUnavailableError(f"{deployment.name} has no URL yet")
        datatypes = {"i": "INT64", "u": "INT64", "f": "FP64", "b": "BOOL"}
        inputs = [{"name": str(col), "shape": [len(frame)],
                   "datatype": datatypes.get(frame[col].dtype.kind, "BYTES"),
                   "data": frame[col].tolist()} for col in frame.columns]
        body = {"parameters": {"content_type": "pd"}, "inputs": inputs}
        status, data = http("POST", f"{deployment.url}/v2/models/{deployment.name}/infer",
                            body, timeout=60)
        if status != 200:
            raise BackendUnavailableError(f"{deployment.name} answered HTTP {status}: "
                                          f"{data.decode(errors='replace')[:300]}")
        outputs = json.loads(data).get("outputs", [])
        return pd.DataFrame({o["name"]: o["data"] for o in outputs})

    def logs(self, deployment: Deployment, lines: int) -> dict[str, list[str]]:
        self._api()
        from kubernetes import client  # type: ignore[import-not-found, unused-ignore]

        core = client.CoreV1Api()
        namespace = str(deployment.settings.get("namespace", "default"))
        pods = self._call(core.list_namespaced_pod, namespace=namespace,
                          label_selector=f"serving.kserve.io/inferenceservice={deployment.name}")
        sections: dict[str, list[str]] = {}
        for pod in pods.items[:3]:
            text = self._call(core.read_namespaced_pod_log, name=pod.metadata.name,
                              namespace=namespace, container="kserve-container",
                              tail_lines=lines)
            sections[pod.metadata.name] = str(text).splitlines()
        return sections or {deployment.name: ["no pods yet"]}
