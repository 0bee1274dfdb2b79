"""jupyter-mlops: features, experiments, pipelines, review, deploy and monitoring inside JupyterLab.

``import jupyter_mlops as mlops`` exposes the verbs as functions. Importing this package is
cheap: capability libraries (mlflow, torch, pandas, ...) load on first use.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .config import Config, load_config
from .errors import ConfigError, MLOpsError, UserInputError

# Imported here (it needs only the standard library), before ``def status`` below: importing
# the submodule sets the package attribute ``status`` to the module, and it does so only on the
# first import. Left to a later lazy import, it would replace the ``status()`` function.
from .status import StatusReport, collect_status

__all__ = [
    "Config",
    "ConfigError",
    "MLOpsError",
    "UserInputError",
    "__version__",
    "load_config",
    "status",
]


def status(path: str | None = None, *, timeout: float | None = None) -> StatusReport:
    """Configuration and measured health of every backend, for the project around ``path``."""
    return collect_status(path, timeout=timeout)


#: ``mlops.<name>`` for the verbs of a capability, imported on first use (module __getattr__)
_LAZY: dict[str, str] = {
    "start_run": "tracking", "end_run": "tracking", "log": "tracking",
    "log_params": "tracking", "log_model": "tracking", "flush": "tracking",
    "active_run": "tracking", "set_tags": "tracking",
    "runs": "tracking", "compare": "tracking", "register": "tracking",
    # mlops.deploy is the deploy package itself, callable: mlops.deploy("models:/m/1")
    "deploy": "deploy", "deployments": "deploy", "predict": "deploy", "rollback": "deploy",
    "undeploy": "deploy",
    # notebook review: mlops.diff("train.ipynb"), mlops.open_review("train.ipynb").approve()
    "diff": "review", "open_review": "review",
    # mlops.review is the review package: mlops.review.diff_files("a.ipynb", "b.ipynb"),
    # mlops.review.export_review("train.ipynb", "review.html")
    "review": "review", "diff_files": "review",
    # mlops.features is the features package: mlops.features.get(...), .publish, .search, .show
    "features": "features",
    # mlops.monitor is the monitor package: mlops.monitor.inferences("churn"), .summary(...)
    "monitor": "monitor",
    # mlops.sweep is the sweep package, callable: mlops.sweep(train, space={...}, trials=20)
    "sweep": "sweep",
}


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'jupyter_mlops' has no attribute '{name}'")
    import importlib

    module = importlib.import_module(f".{where}", __name__)
    value = module if name == where else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-mlops"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import MLOpsApp

    return [{"module": "jupyter_mlops.server.app", "app": MLOpsApp}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_mlops``: register ``%mlops`` and ``%%mlops``."""
    from jupyter_mlops_kernel import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from jupyter_mlops_kernel import unload_ipython_extension as unload

    unload(ipython)
