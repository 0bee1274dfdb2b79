"""REST routes of the Deploy panel (and the Experiments panel's Deploy button).

Every route takes ``?path=FOLDER`` (relative to the server root; default the root): the
project whose configuration and ``.mlops/deployments`` are meant, as for ``status``.

    GET    deployments                   {deployments: [Deployment], targets: [Target],
                                          default_target}
    POST   deployments  {model, target?, name?, gpu?, canary?, instance_type?, replicas?,
                         port?, max_batch_size?, max_wait_ms?, max_queue?, max_queue_bytes?,
                         namespace?, dry_run?}   -> 202 {task}: the deploy runs off the event
                         loop; every field type-checked (400 naming it); a local model folder
                         (any path that is not a models:/, runs:/ or scheme URI) lies inside
                         the server root, resolved there whatever its form (403 outside)
    GET    deployments/tasks/ID          {task}: state running|done|failed, progress lines,
                                          the Deployment when done, the error when failed;
                                          a deploy that made a token (deploy.auth) carries it
                                          as ``token`` once, to the first look after it ended
    GET    deployments/NAME              {deployment}: live status, health, device, latency
    DELETE deployments/NAME              undeploy -> {deployment} (its last state)
    POST   deployments/NAME/predict  {data: records | {columns, data} | an MLflow payload}
                                     -> {columns, data}: the predictions (split orient)
    GET    deployments/tasks?state=running  {tasks: [task]}: this project's recent deploys
                                          and rollbacks, newest first (from any client)
    POST   deployments/NAME/rollback     -> 202 {task}
    GET    deployments/NAME/logs?lines=N -> {name, sections: {title: [line]}}

AWS and Kubernetes credentials stay in the server process: no reply carries them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tornado import web

from ..errors import NotFoundError, UserInputError
from ..server.base import MLOpsHandler, injected
from .tasks import TASK_STATES, DeployTasks

if TYPE_CHECKING:
    from ..config import Config
    from ..server.app import MLOpsApp
    from .state import Deployment


def targets(config: Config) -> list[dict[str, Any]]:
    """What each target needs and whether it has it (no network: credentials are checked
    when a deploy starts)."""
    from importlib.util import find_spec

    from ..checks import check_gpu
    from .kserve import has_kubeconfig

    gpu = check_gpu(2.0)
    sagemaker_missing = [k for k in ("aws.sagemaker_role", "aws.sagemaker_image",
                                     "aws.sagemaker_bucket") if not config[k]]
    kserve_ok = has_kubeconfig() and find_spec("kubernetes") is not None
    return [
        {"id": "local", "available": True,
         "detail": gpu.message if gpu.level == "ok" else "CPU (no GPU visible)"},
        # a dry run writes the InferenceService YAML: it needs no cluster
        {"id": "kserve", "available": kserve_ok, "dry_run": True,
         "detail": "kubeconfig found" if kserve_ok else (
             "dry run only: no kubeconfig" if find_spec("kubernetes") is not None or
             not has_kubeconfig() else "pip install 'jupyter-mlops[kserve]'")},
        {"id": "sagemaker", "available": find_spec("boto3") is not None and not
         sagemaker_missing,
         "detail": "configured" if not sagemaker_missing and find_spec("boto3") else (
             "needs " + ", ".join(sagemaker_missing) if sagemaker_missing
             else "pip install 'jupyter-mlops[aws]'")},
    ]


@dataclass(frozen=True)
class DeployBody:
    """POST deployments' body: what ``deploy`` takes (None: its default)."""

    model: str
    target: str | None = None
    name: str | None = None
    gpu: str | int | None = None
    canary: int | None = None
    instance_type: str | None = None
    replicas: int | None = None
    port: int | None = None
    max_batch_size: int | None = None
    max_wait_ms: float | None = None
    max_queue: int | None = None
    max_queue_bytes: int | None = None
    namespace: str | None = None
    dry_run: bool | None = None
    path: str | None = None  # the project, as ?path= (read from the query)

    def __post_init__(self) -> None:
        if not self.model.strip():
            raise UserInputError("'model' is required: a run id, runs:/…, models:/NAME/VERSION, "
                                 "models:/NAME@ALIAS or a model folder")
        if self.port is not None and not 0 < self.port < 65536:
            raise UserInputError(f"'port' must be 1-65535, not {self.port}")

    def options(self) -> dict[str, Any]:
        """The given fields ``deploy`` takes as keywords."""
        return {k: v for k, v in asdict(self).items()
                if v is not None and k not in ("model", "path")}


def is_local_reference(model: str) -> bool:
    """A model reference that names a folder on this machine (not a tracking-store URI)."""
    return "://" not in model and not model.startswith(("models:/", "runs:/"))


class DeployHandler(MLOpsHandler):
    """Shared parsing (a deployment's name, its project) and the server's deploy tasks."""

    def initialize(self, name: str, app: MLOpsApp, **services: object) -> None:
        super().initialize(name, app, **services)
        self.deploy_tasks = injected(services, "deploy_tasks", DeployTasks)

    def deployment_name(self, raw: str) -> str:
        from .state import check_name

        return check_name(raw)

    @staticmethod
    def project(config: Config) -> str:
        """Which project a task belongs to: its deployments folder (folders that resolve
        the same configuration share it)."""
        from .core import store_for

        return str(store_for(config).root)


class DeploymentsHandler(DeployHandler):
    @web.authenticated
    async def get(self) -> None:
        from ..config import load_config
        from . import deployments

        folder = self.folder()

        def collect() -> dict[str, Any]:
            config = load_config(folder)
            found = deployments(config=config)
            return {"deployments": found.to_dicts(), "targets": targets(config),
                    "default_target": config["deploy.target"]}

        self.reply(await self.in_executor(collect))

    @web.authenticated
    async def post(self) -> None:
        from ..config import load_config
        from . import deploy

        folder = self.folder()
        body = self.body(DeployBody)
        model, root = body.model.strip(), self.mlops.root_dir
        if is_local_reference(model):  # said now (403) rather than by the task
            from ..paths import resolve_inside

            resolve_inside(root, model, must_exist=False)
        options = body.options()
        config = await self.in_executor(load_config, folder)
        name = self.deployment_name(body.name) if body.name else None

        def work(progress: Callable[[str], None]) -> Deployment:
            # resolved inside the root again where it is read: '~bob', a bare name, '../x',
            # an absolute path or a symlink never reach a folder outside it
            return deploy(model, progress=progress, config=config, root=root, **options)

        task = self.deploy_tasks.start("deploy", name, work, label=model,
                                       project=self.project(config),
                                       dry_run=bool(options.get("dry_run")))
        self.reply({"task": task.to_dict()}, 202)


class TasksHandler(DeployHandler):
    @web.authenticated
    async def get(self) -> None:
        from ..config import load_config

        state = self.get_argument("state", None)
        if state is not None and state not in TASK_STATES:
            raise UserInputError(f"unknown state '{state}': use running, done or failed")
        config = await self.in_executor(load_config, self.folder())
        found = self.deploy_tasks.of_project(self.project(config), state)
        self.reply({"tasks": [t.to_dict() for t in found]})


class TaskHandler(DeployHandler):
    @web.authenticated
    def get(self, task_id: str) -> None:
        task = self.deploy_tasks.get(task_id)
        data = task.to_dict()
        data["token"] = task.take_token() if data["state"] == "done" else None
        self.reply({"task": data})


class DeploymentHandler(DeployHandler):
    @web.authenticated
    async def get(self, raw: str) -> None:
        from . import get_deployment

        name, folder = self.deployment_name(raw), self.folder()
        found = await self.in_executor(lambda: get_deployment(name, cwd=folder))
        self.reply({"deployment": found.to_dict()})

    @web.authenticated
    async def delete(self, raw: str) -> None:
        from . import undeploy

        name, folder = self.deployment_name(raw), self.folder()
        gone = await self.in_executor(lambda: undeploy(name, cwd=folder))
        self.reply({"deployment": gone.to_dict()})


class PredictHandler(DeployHandler):
    @web.authenticated
    async def post(self, raw: str) -> None:
        from . import predict

        name, folder = self.deployment_name(raw), self.folder()
        body = self.body()
        if "data" not in body:
            raise UserInputError("'data' is required: records, {columns, data} or an MLflow "
                                 "payload")
        data = body["data"]
        if isinstance(data, dict) and "columns" in data and "data" in data:
            data = {"dataframe_split": {"columns": data["columns"], "data": data["data"]}}

        def run() -> dict[str, Any]:
            frame = predict(name, data, cwd=folder)
            result: dict[str, Any] = json.loads(frame.to_json(orient="split", index=False))
            return result

        self.reply(await self.in_executor(run))


class RollbackHandler(DeployHandler):
    @web.authenticated
    async def post(self, raw: str) -> None:
        from ..config import load_config
        from . import rollback
        from .core import store_for

        name, folder = self.deployment_name(raw), self.folder()
        config = await self.in_executor(load_config, folder)
        if not store_for(config).exists(name):
            raise NotFoundError(f"no deployment named '{name}'")

        def work(progress: Callable[[str], None]) -> Deployment:
            return rollback(name, progress=progress, config=config)

        task = self.deploy_tasks.start("rollback", name, work, label=name,
                                       project=self.project(config))
        self.reply({"task": task.to_dict()}, 202)


class LogsHandler(DeployHandler):
    @web.authenticated
    async def get(self, raw: str) -> None:
        from . import logs

        name, folder = self.deployment_name(raw), self.folder()
        try:
            lines = int(self.get_argument("lines", "200"))
        except ValueError:
            raise UserInputError("lines must be a whole number") from None
        found = await self.in_executor(lambda: logs(name, lines, cwd=folder))
        self.reply(found.to_dict())


ROUTES: list[tuple[str, type[MLOpsHandler]]] = [
    ("deployments", DeploymentsHandler),
    ("deployments/tasks", TasksHandler),
    ("deployments/tasks/(.*)", TaskHandler),
    ("deployments/(.*)/predict", PredictHandler),
    ("deployments/(.*)/rollback", RollbackHandler),
    ("deployments/(.*)/logs", LogsHandler),
    ("deployments/(.*)", DeploymentHandler),
]
