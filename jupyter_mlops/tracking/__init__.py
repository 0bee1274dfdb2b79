"""Experiment tracking on MLflow: runs that always end, non-blocking logging, captured context.

Importing this package is cheap (standard library only): its modules load on first use, and
mlflow when a run starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..verb import MAGIC_ONLY, Capability, Verb, lazy, lazy_exports

if TYPE_CHECKING:
    from .capture import set_notebook
    from .comparison import Comparison, compare
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
    from .listing import runs
    from .models import log_model
    from .registry import Registration, register
    from .sender import FlushResult, queue_status

__all__ = [
    "CAPABILITY",
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

__getattr__, __dir__ = lazy_exports(globals(), {
    "set_notebook": "capture",
    **dict.fromkeys(["ActiveRun", "RunSummary", "TrackingWarning", "active_run", "end_run",
                     "flush", "log", "log_params", "set_tags", "start_run"], "lifecycle"),
    "log_model": "models",
    **dict.fromkeys(["Comparison", "compare"], "comparison"),
    "runs": "listing",
    **dict.fromkeys(["Registration", "register"], "registry"),
    **dict.fromkeys(["FlushResult", "queue_status"], "sender"),
})


def _query_verb(name: str, help: str) -> Verb:
    """``runs``, ``compare``, ``register``: ``configure_<name>`` / ``run_<name>`` of verbs."""
    return Verb(name, help, configure=lazy(f"{__name__}.verbs:configure_{name}"),
                run=lazy(f"{__name__}.verbs:run_{name}"))


CAPABILITY = Capability("experiments", "Experiments", __name__, verbs=(
    Verb("track", "run a cell (%%mlops track) or cells (start|end) inside an MLflow run",
         configure=lazy("jupyter_mlops.tracking.verbs:configure_track"),
         run=lazy("jupyter_mlops.tracking.verbs:run_track"), adapters=MAGIC_ONLY, cell=True),
    Verb("param", "log parameters of the active run: k=v ...",
         configure=lazy("jupyter_mlops.tracking.verbs:configure_param"),
         run=lazy("jupyter_mlops.tracking.verbs:run_param"), adapters=MAGIC_ONLY),
    _query_verb("runs", "list the runs of this notebook or an experiment"),
    _query_verb("compare", "compare runs: parameter differences and metric histories"),
    _query_verb("register", "register a run's model and set an alias"),
    Verb("sweep", "search hyper-parameters: %%mlops sweep runs the cell once per trial",
         configure=lazy("jupyter_mlops.sweep.verbs:configure_sweep"),
         run=lazy("jupyter_mlops.sweep.verbs:run_sweep"), adapters=MAGIC_ONLY, cell=True),
))
