"""One trial of a sweep inside its child run, wherever it runs: in the sweep's process (one
trial at a time) or in a warm worker's fork (``parallel.py``). The study is not touched here:
the caller asks it for the trial and tells it the outcome."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import UserInputError
from ..tracking import lifecycle
from ..tracking.sender import SENDER

Objective = Callable[[dict[str, Any]], Any]
#: how a trial ended, as ``Sweep.trials`` and the progress name it
Ended = Literal["complete", "pruned", "fail"]


class MetricNotLogged(UserInputError):
    """A trial ended without logging the sweep's metric (and returned no number)."""


class _Pruned(Exception):
    """Raised inside the trial's code (from ``mlops.log``) when the pruner stops it."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for it in the cell's output: one line, not a traceback."""
        return [f"mlops sweep: trial {self}"]


#: every step up to this one is a pruning checkpoint, then every CHECKPOINT_EVERY-th
CHECKPOINT_EVERY = 32


def is_checkpoint(step: int) -> bool:
    """Whether the pruner hears of the metric's value at ``step``. Each report is a write to
    the study's database (and, from a worker, a round trip to the sweep's process): a cell
    that logs its loss every step paid ~4 ms per step in SQLite alone (40 ms from a loaded
    worker). Every trial has the same checkpoints, so the median pruner compares like with
    like; with ``--pruner none`` nothing is reported (the history is in the run)."""
    return step < CHECKPOINT_EVERY or step % CHECKPOINT_EVERY == 0


class MetricWatcher:
    """While a trial runs: the points of ``metric`` logged to its run at the pruning
    checkpoints are reported to the Optuna trial (the pruner's intermediate values), the last
    one kept as the objective. It watches
    the tracking queue (``SENDER.put``), so the trial's code just calls ``mlops.log``."""

    def __init__(self, run: lifecycle.ActiveRun, metric: str, trial: Any, prune: bool) -> None:
        self.ref = run.ref
        self.metric = metric
        self.trial = trial
        self.prune = prune
        self.last: float | None = None
        self._intercept: contextlib.AbstractContextManager[None] | None = None

    def __enter__(self) -> MetricWatcher:
        def wrap(put: Callable[[Any], None]) -> Callable[[Any], None]:
            def watching(item: Any) -> None:
                put(item)
                if type(item) is tuple and item[0] is self.ref and item[1] == self.metric:
                    self.seen(float(item[2]), int(item[4]))
            return watching

        self._intercept = SENDER.intercept(wrap)
        self._intercept.__enter__()
        return self

    def seen(self, value: float, step: int) -> None:
        self.last = value
        if self.prune and math.isfinite(value) and is_checkpoint(step):
            self.trial.report(value, step)
            if self.trial.should_prune():
                raise _Pruned(f"pruned at step {step} ({self.metric} = {value:g})")

    def __exit__(self, *exc: Any) -> None:
        if self._intercept is not None:
            self._intercept.__exit__(None, None, None)


@dataclass
class Outcome:
    """How a trial ended: its state, its objective (the metric's last value), the error that
    failed it (an interrupt is re-raised by the caller once the study is told)."""

    state: Ended
    value: float | None = None
    error: BaseException | None = None

    @property
    def interrupted(self) -> bool:
        return self.error is not None and not isinstance(self.error, Exception)


@dataclass
class TrialSettings:
    """What every trial of a sweep shares: its metric, its runs' experiment and names."""

    metric: str
    prune: bool
    experiment: str | None
    study_name: str
    cwd: str | None
    returns: bool


def trial_tags(settings: TrialSettings, number: int) -> dict[str, str]:
    return {"mlops.sweep.study": settings.study_name, "mlops.sweep.trial": str(number)}


def start_child(parent: lifecycle.ActiveRun, settings: TrialSettings, number: int,
                params: dict[str, Any], namespace: dict[str, Any] | None,
                push: bool = True) -> lifecycle.ActiveRun:
    """Trial ``number``'s child run of the sweep's ``parent`` run, made in this process: it
    shares the parent's notebook, git and host tags (its files are on the parent), has the
    trial's params and tags from its creation on (one request), and is the active run unless
    ``push`` is False (a worker's trial: what it logs comes through this process)."""
    tags = trial_tags(settings, number)
    if not push and parent.ref.run_id:
        tags["mlflow.parentRunId"] = parent.ref.run_id
    return lifecycle.start_run(settings.experiment, f"{settings.study_name}-{number}",
                               nested=True, namespace=namespace, cwd=settings.cwd,
                               inherit=parent, tags=tags, params=params, push=push)


def run_trial(trial: Any, number: int, params: dict[str, Any], objective: Objective,
              settings: TrialSettings, namespace: dict[str, Any] | None,
              started: Callable[[str], None] | None = None, *,
              begin: Callable[[], lifecycle.ActiveRun] | None = None) -> Outcome:
    """The trial's child run: started (``begin``, by default a child of the active run, the
    sweep's parent; ``started`` hears its id), the objective run with its metric watched
    (``trial``: Optuna's, or a worker's stand-in that asks the sweep's process), the run ended
    FINISHED, KILLED (pruned, interrupted) or FAILED. Raises only when the run cannot start."""
    if namespace is not None:  # the magic: the run captures the parameters cell's values
        namespace.update(params)
    if begin is None:
        parent = lifecycle.require_active("sweep")
        child = start_child(parent, settings, number, params, namespace)
    else:
        child = begin()
    try:
        if started is not None:
            started(child.run_id)
    except BaseException as exc:
        lifecycle.end(child, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED",
                      error=exc)
        raise
    metric = settings.metric
    watcher = MetricWatcher(child, metric, trial, settings.prune)
    try:
        with watcher:
            returned = objective(params)
        value = watcher.last
        if value is None and settings.returns:
            value = _number(returned)
            if value is not None:
                returned_metric: dict[str, Any] = {metric: value}
                lifecycle.log(**returned_metric)
        if value is None:
            raise MetricNotLogged(f"the trial never logged metric '{metric}' with mlops.log"
                                  + (" and returned no number" if settings.returns else ""))
        if not math.isfinite(value):
            raise UserInputError(f"the trial's {metric} is {value}, not a finite number")
    except _Pruned as exc:
        lifecycle.set_tags(**{"mlops.sweep.state": "pruned", "mlops.sweep.pruned": str(exc)})
        lifecycle.end(child, "KILLED", timeout=0.0)
        return Outcome("pruned", watcher.last)
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        lifecycle.set_tags(**{"mlops.sweep.state": "interrupted" if interrupted else "failed"})
        lifecycle.end(child, "KILLED" if interrupted else "FAILED", error=exc, timeout=0.0)
        return Outcome("fail", None, exc)
    lifecycle.set_tags(**{"mlops.sweep.state": "complete"})
    # the next trial need not wait for this one's points to reach the store: the queue keeps
    # their order and the parent's end waits for all of it (a worker's trial sends its points
    # to the sweep's process, whose queue it is)
    lifecycle.end(child, "FINISHED", timeout=0.0)
    return Outcome("complete", value)


def tell(study: Any, trial: Any, outcome: Outcome) -> None:
    """The study told how a trial ended."""
    import optuna

    if outcome.state == "complete":
        study.tell(trial, outcome.value)
    else:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED if outcome.state == "pruned"
                   else optuna.trial.TrialState.FAIL)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
