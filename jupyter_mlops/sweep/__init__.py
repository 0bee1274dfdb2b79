"""Hyper-parameter sweeps with Optuna: each trial a tracked child run of one parent run.

    from jupyter_mlops.sweep import uniform, loguniform, integer, choice
    best = mlops.sweep(train, space={"lr": loguniform(1e-4, 1e-1)}, trials=20, metric="loss")

``mlops.sweep`` is this package, callable: ``mlops.sweep(fn, space=…)`` calls ``sweep``.
Importing this package is cheap (standard library only): optuna and mlflow load on first use.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..verb import _ExportingModule, lazy_exports

if TYPE_CHECKING:
    from .run import Sweep, sweep
    from .space import Distribution, choice, integer, loguniform, uniform

__all__ = ["Distribution", "Sweep", "choice", "integer", "loguniform", "sweep", "uniform"]

__getattr__, __dir__ = lazy_exports(globals(), {
    **dict.fromkeys(["Distribution", "choice", "integer", "loguniform", "uniform"], "space"),
    **dict.fromkeys(["Sweep", "sweep"], "run"),
})


class _CallableModule(_ExportingModule):
    """``mlops.sweep(fn, space=…)`` calls :func:`sweep`; attributes stay the package's."""

    def __call__(self, *args: Any, **kwargs: Any) -> Sweep:
        run_sweep: Any = __getattr__("sweep")
        result: Sweep = run_sweep(*args, **kwargs)
        return result


sys.modules[__name__].__class__ = _CallableModule
