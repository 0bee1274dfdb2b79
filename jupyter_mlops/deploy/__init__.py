"""One-click deploy: a model from a run or the registry, served locally (GPU when there is
one, CPU otherwise), on KServe or on SageMaker, speaking MLflow's scoring protocol.

>>> from jupyter_mlops.deploy import deploy, predict, rollback, undeploy
>>> endpoint = deploy("models:/churn@champion")          # local, health-checked
>>> predict(endpoint.name, frame)                       # DataFrame in, DataFrame out

Importing this package is cheap: its modules, MLflow, boto3 and the kubernetes client load on
first use. The package itself is callable, so ``import jupyter_mlops as mlops;
mlops.deploy(...)`` works.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from ..verb import Capability, dispatched, lazy_exports

if TYPE_CHECKING:
    from .core import (
        DeploymentList,
        DeploymentLogs,
        deploy,
        deployments,
        get_deployment,
        logs,
        predict,
        promote,
        rollback,
        undeploy,
    )
    from .state import Deployment, VersionInfo

__all__ = [
    "CAPABILITY",
    "Deployment",
    "DeploymentList",
    "DeploymentLogs",
    "VersionInfo",
    "deploy",
    "deployments",
    "get_deployment",
    "logs",
    "predict",
    "promote",
    "rollback",
    "undeploy",
]

__getattr__, __dir__ = lazy_exports(globals(), {
    **dict.fromkeys(["DeploymentList", "DeploymentLogs", "deploy", "deployments",
                     "get_deployment", "logs", "predict", "promote", "rollback", "undeploy"],
                    "core"),
    **dict.fromkeys(["Deployment", "VersionInfo"], "state"),
})

_VERBS = "jupyter_mlops.deploy.verbs"
CAPABILITY = Capability("deploy", "Deploy", __name__, verbs=(
    dispatched(_VERBS, "deploy",
               "deploy a model to the local GPU server, KServe or SageMaker"),
    dispatched(_VERBS, "deployments", "list deployments with status and health"),
    dispatched(_VERBS, "predict", "send data to a deployment and get predictions"),
    dispatched(_VERBS, "rollback", "return a deployment to its previous version"),
    dispatched(_VERBS, "undeploy", "stop and remove a deployment"),
    dispatched(_VERBS, "logs", "show a deployment's logs"),
))


class _CallableModule(types.ModuleType):
    """``mlops.deploy(model, ...)`` calls :func:`deploy`; attributes stay the module's."""

    def __call__(self, model: str, **kwargs: Any) -> Deployment:
        deploy_model: Any = __getattr__("deploy")
        result: Deployment = deploy_model(model, **kwargs)
        return result


sys.modules[__name__].__class__ = _CallableModule
