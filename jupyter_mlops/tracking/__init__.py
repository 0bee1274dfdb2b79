"""Experiment tracking on MLflow: runs that always end, non-blocking logging, captured context.

Importing this package is cheap (standard library only); mlflow loads when a run starts.
"""

from __future__ import annotations

from typing import Any

from .capture import set_notebook
from .lifecycle import (
    ActiveRun,
    RunSummary,
    TrackingWarning,
    active_run,
    end_run,
    flush,
    log,
    log_params,
    set_tags,
    start_run,
)
from .query import Comparison, Registration, compare, register, runs
from .sender import FlushResult, queue_status

__all__ = [
    "ActiveRun",
    "Comparison",
    "FlushResult",
    "Registration",
    "RunSummary",
    "TrackingWarning",
    "active_run",
    "compare",
    "end_run",
    "flush",
    "log",
    "log_model",
    "log_params",
    "queue_status",
    "register",
    "runs",
    "set_notebook",
    "set_tags",
    "start_run",
]


def log_model(model: Any, name: str, input_example: Any = None) -> str:
    """Log ``model`` (torch, scikit-learn or pyfunc) to the active run; returns its URI."""
    from .models import log_model as _log_model

    return _log_model(model, name, input_example)
