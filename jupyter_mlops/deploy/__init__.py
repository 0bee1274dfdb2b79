"""One-click deploy: a model from a run or the registry, served locally (GPU when there is
one, CPU otherwise), on KServe or on SageMaker, speaking MLflow's scoring protocol.

>>> from jupyter_mlops.deploy import deploy, predict, rollback, undeploy
>>> endpoint = deploy("models:/churn@champion")          # local, health-checked
>>> predict(endpoint.name, frame)                       # DataFrame in, DataFrame out

Importing this package is cheap: MLflow, boto3 and the kubernetes client load on first use.
The package itself is callable, so ``import jupyter_mlops as mlops; mlops.deploy(...)`` works.
"""

from __future__ import annotations

import sys
import types
from typing import Any

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


class _CallableModule(types.ModuleType):
    """``mlops.deploy(model, ...)`` calls :func:`deploy`; attributes stay the module's."""

    def __call__(self, model: str, **kwargs: Any) -> Deployment:
        return deploy(model, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
