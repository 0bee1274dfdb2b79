"""``mlops.sweep(fn, space=…)``: an Optuna study whose trials are tracked runs. The sweep is a
parent run (the study's settings as params, the best trial's params and value at the end);
each trial is a child run with its params and its metric's full history. A trial that raises
is a FAILED child and the sweep goes on; a pruned one is KILLED, tagged
``mlops.sweep.state = pruned``; no run is left active, even on KeyboardInterrupt."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import load_config
from ..errors import UserInputError
from ..tracking import lifecycle
from ..tracking.sender import SENDER
from .space import Distribution, Space
from .study import (
    DIRECTIONS,
    PRUNERS,
    SAMPLERS,
    Direction,
    PrunerName,
    SamplerName,
    default_name,
    next_grid_point,
    open_study,
    storage_url,
)

if TYPE_CHECKING:
    from .progress import SweepProgress

Objective = Callable[[dict[str, Any]], Any]


class MetricNotLogged(UserInputError):
    """A trial ended without logging the sweep's metric (and returned no number)."""


class _Pruned(Exception):
    """Raised inside the trial's code (from ``mlops.log``) when the pruner stops it."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for it in the cell's output: one line, not a traceback."""
        return [f"mlops sweep: trial {self}"]


class MetricWatcher:
    """While a trial runs: each point of ``metric`` logged to its run is reported to the Optuna
    trial (the pruner's intermediate values), the last one kept as the objective. It watches
    the tracking queue (``SENDER.put``), so the trial's code just calls ``mlops.log``."""

    def __init__(self, run: lifecycle.ActiveRun, metric: str, trial: Any, prune: bool) -> None:
        self.ref = run.ref
        self.metric = metric
        self.trial = trial
        self.prune = prune
        self.last: float | None = None
        self._put: Callable[[Any], None] | None = None

    def __enter__(self) -> MetricWatcher:
        put = SENDER.put

        def watching(item: Any) -> None:
            put(item)
            if type(item) is tuple and item[0] is self.ref and item[1] == self.metric:
                self.seen(float(item[2]), int(item[4]))

        self._put = put
        SENDER.put = watching  # type: ignore[method-assign]
        return self

    def seen(self, value: float, step: int) -> None:
        self.last = value
        if math.isfinite(value):
            self.trial.report(value, step)
            if self.prune and self.trial.should_prune():
                raise _Pruned(f"pruned at step {step} ({self.metric} = {value:g})")

    def __exit__(self, *exc: Any) -> None:
        if "put" in vars(SENDER):
            del SENDER.put


@dataclass
class Sweep:
    """A finished (or interrupted) sweep: its study, the parent run, the best trial."""

    study: Any
    run_id: str
    metric: str
    direction: Direction
    registration: Any = None
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.study.study_name)

    def _best(self) -> Any:
        try:
            return self.study.best_trial
        except ValueError:  # no trial completed
            return None

    @property
    def best_params(self) -> dict[str, Any] | None:
        best = self._best()
        return dict(best.params) if best else None

    @property
    def best_value(self) -> float | None:
        best = self._best()
        return float(best.value) if best else None

    @property
    def best_run_id(self) -> str | None:
        best = self._best()
        return str(best.user_attrs.get("run_id")) if best else None

    @property
    def trials(self) -> Any:
        """A DataFrame, one row per trial of the study: number, params, value, state,
        duration (seconds), run_id."""
        import pandas as pd

        rows = [{"number": t.number, "params": dict(t.params), "value": t.value,
                 "state": t.state.name.lower(),
                 "duration": (t.duration.total_seconds() if t.duration else None),
                 "run_id": t.user_attrs.get("run_id")} for t in self.study.trials]
        return pd.DataFrame(rows, columns=["number", "params", "value", "state", "duration",
                                           "run_id"])

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for trial in self.study.trials:
            state = trial.state.name.lower()
            found[state] = found.get(state, 0) + 1
        return found

    def to_text(self) -> str:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(self.counts().items()))
        head = (f"sweep '{self.name}' ({self.direction} {self.metric}): "
                f"{len(self.study.trials)} trials ({counts}) · parent run {self.run_id}")
        if self.best_value is None:
            return head + "\nno trial completed"
        params = ", ".join(f"{k}={v!r}" for k, v in (self.best_params or {}).items())
        text = (f"{head}\nbest: {self.metric} = {self.best_value:g} with {params} "
                f"(run {self.best_run_id})")
        if self.registration is not None:
            text += f"\nregistered: {self.registration!r}"
        return text

    def __repr__(self) -> str:
        return self.to_text()

    def vega_lite(self) -> dict[str, Any]:
        """The optimization history: each completed trial's value, and the best so far."""
        rows: list[dict[str, Any]] = []
        best: float | None = None
        better = min if self.direction == "minimize" else max
        for trial in self.study.trials:
            if trial.value is None or trial.state.name != "COMPLETE":
                continue
            best = trial.value if best is None else better(best, trial.value)
            rows.append({"trial": trial.number, "value": trial.value, "series": "trial"})
            rows.append({"trial": trial.number, "value": best, "series": "best so far"})
        return {
            "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "title": f"sweep {self.name}: {self.metric}",
            "data": {"values": rows},
            "layer": [
                {"mark": {"type": "point"}, "transform": [{"filter": "datum.series == 'trial'"}],
                 "encoding": {"x": {"field": "trial", "type": "quantitative"},
                              "y": {"field": "value", "type": "quantitative",
                                    "title": self.metric}}},
                {"mark": {"type": "line", "interpolate": "step-after"},
                 "transform": [{"filter": "datum.series == 'best so far'"}],
                 "encoding": {"x": {"field": "trial", "type": "quantitative"},
                              "y": {"field": "value", "type": "quantitative"}}},
            ],
        }


def _check_choice(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UserInputError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")


def check_settings(direction: str, sampler: str, pruner: str, jobs: int, trials: int,
                   timeout: float | None) -> None:
    _check_choice("direction", direction, DIRECTIONS)
    _check_choice("sampler", sampler, SAMPLERS)
    _check_choice("pruner", pruner, PRUNERS)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise UserInputError(f"trials must be a whole number of at least 1, not {trials!r}")
    if timeout is not None and not timeout > 0:
        raise UserInputError(f"timeout must be a number of seconds above 0, not {timeout!r}")
    if jobs != 1:
        raise UserInputError(f"jobs={jobs}: parallel trials are not built yet; use jobs=1")


def sweep(fn: Callable[..., Any], space: Mapping[str, Distribution], trials: int = 20,
          jobs: int = 1, metric: str = "loss", direction: Direction = "minimize",
          sampler: SamplerName = "tpe", pruner: PrunerName = "median",
          timeout: float | None = None, name: str | None = None, resume: bool = False,
          register: str | None = None, *, seed: int | None = None, storage: str | None = None,
          experiment: str | None = None, cwd: str | os.PathLike[str] | None = None,
          progress: SweepProgress | None = None) -> Sweep:
    """Search ``space`` for the parameters that ``direction`` ``metric``: ``fn(**params)`` runs
    once per trial inside a child run and logs the metric with ``mlops.log`` (or returns it)."""
    if not callable(fn):
        raise UserInputError(f"sweep: fn must be a function, not {type(fn).__name__}")
    return run_sweep(lambda params: fn(**params), dict(space), trials=trials, jobs=jobs,
                     metric=metric, direction=direction, sampler=sampler, pruner=pruner,
                     timeout=timeout, name=name, resume=resume, register=register, seed=seed,
                     storage=storage, experiment=experiment,
                     cwd=os.fspath(cwd) if cwd else None, returns=True, progress=progress)


def run_sweep(objective: Objective, space: Space, *, trials: int, jobs: int, metric: str,
              direction: Direction, sampler: SamplerName, pruner: PrunerName,
              timeout: float | None, name: str | None, resume: bool, register: str | None,
              seed: int | None, storage: str | None, experiment: str | None, cwd: str | None,
              returns: bool, namespace: dict[str, Any] | None = None,
              base: str = "sweep", progress: SweepProgress | None = None) -> Sweep:
    """The sweep's loop (``sweep`` and ``%%mlops sweep`` both): ``objective(params)`` per
    trial; ``returns``: a number it returns is the objective when the metric was not logged."""
    check_settings(direction, sampler, pruner, jobs, trials, timeout)
    if not space:
        raise UserInputError("the search space is empty: give at least one parameter")
    if not metric.strip():
        raise UserInputError("metric cannot be empty")
    config = load_config(cwd)
    uri = storage_url(config, storage)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study_name = name or default_name(uri, base, resume)
    study = open_study(uri, study_name, direction, sampler, pruner, space, seed, resume)
    parent = lifecycle.start_run(experiment, study_name, nested=lifecycle.active_run() is not None,
                                 namespace=namespace, cwd=cwd)
    result = Sweep(study, parent.run_id, metric, direction)
    try:
        if progress is not None:
            progress.started(trials, study_name, parent.run_id)
        lifecycle.set_tags(**{"mlops.sweep.study": study_name, "mlops.sweep.role": "parent"})
        lifecycle.log_params(**{
            "sweep.metric": metric, "sweep.direction": direction, "sweep.sampler": sampler,
            "sweep.pruner": pruner, "sweep.trials": trials, "sweep.study": study_name,
            "sweep.space": " ".join(f"{k}={v}" for k, v in space.items()),
            **({"sweep.seed": seed} if seed is not None else {})})
        deadline = time.monotonic() + timeout if timeout else None
        for _ in range(trials):
            if deadline is not None and time.monotonic() >= deadline:
                break
            if sampler == "grid":
                point = next_grid_point(study, space)
                if point is None:
                    break
                study.enqueue_trial(point)
            _trial(study, objective, space, metric, pruner == "median", experiment,
                   study_name, namespace, cwd, returns, progress)
        if result.best_value is not None:
            best: dict[str, Any] = {f"best_{metric}": result.best_value}
            lifecycle.log(**best)
            lifecycle.set_tags(**{"mlops.sweep.best_run_id": result.best_run_id})
            lifecycle.log_params(**{f"best.{k}": v for k, v in (result.best_params or {}).items()})
    except BaseException as exc:
        lifecycle.end(parent, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED",
                      error=exc)
        if progress is not None:
            progress.finished(result)
        raise
    lifecycle.end(parent, "FINISHED")
    try:
        if register:
            if result.best_run_id is None:
                raise UserInputError(f"--register {register}: no trial completed, nothing to "
                                     "register")
            from ..tracking.registry import register as register_model

            result.registration = register_model(result.best_run_id, register, "champion",
                                                 cwd=cwd)
    finally:
        if progress is not None:
            progress.finished(result)
    return result


def _trial(study: Any, objective: Objective, space: Space, metric: str, prune: bool,
           experiment: str | None, study_name: str, namespace: dict[str, Any] | None,
           cwd: str | None, returns: bool, progress: SweepProgress | None = None) -> None:
    """One trial: ask the study, run the objective in a child run, tell the study; ``progress``
    hears of it when it starts and when it ends."""
    import optuna

    trial = study.ask()
    try:  # a trial the study asked for is told, whatever happens before its run starts
        params = {key: dist.suggest(trial, key) for key, dist in space.items()}
        if namespace is not None:  # the magic: the run captures the parameters cell's values
            namespace.update(params)
        child = lifecycle.start_run(experiment, f"{study_name}-{trial.number}", nested=True,
                                    namespace=namespace, cwd=cwd)
    except BaseException:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    trial.set_user_attr("run_id", child.run_id)
    lifecycle.set_tags(**{"mlops.sweep.study": study_name, "mlops.sweep.trial": trial.number})
    lifecycle.log_params(**params)
    began = time.monotonic()

    def report(state: str, value: float | None = None) -> None:
        if progress is not None:
            progress.trial({"number": trial.number, "params": params, "value": value,
                            "state": state, "duration": (None if state == "running"
                                                         else time.monotonic() - began),
                            "run_id": child.run_id})

    watcher = MetricWatcher(child, metric, trial, prune)
    try:
        report("running")
        with watcher:
            returned = objective(params)
        value = watcher.last
        if value is None and returns:
            value = _number(returned)
            if value is not None:
                returned_metric: dict[str, Any] = {metric: value}
                lifecycle.log(**returned_metric)
        if value is None:
            raise MetricNotLogged(f"the trial never logged metric '{metric}' with mlops.log"
                                  + (" and returned no number" if returns else ""))
        if not math.isfinite(value):
            raise UserInputError(f"the trial's {metric} is {value}, not a finite number")
    except _Pruned as exc:
        lifecycle.set_tags(**{"mlops.sweep.state": "pruned", "mlops.sweep.pruned": str(exc)})
        lifecycle.end(child, "KILLED")
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        report("pruned", watcher.last)
        return
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        lifecycle.set_tags(**{"mlops.sweep.state": "interrupted" if interrupted else "failed"})
        lifecycle.end(child, "KILLED" if interrupted else "FAILED", error=exc)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        report("fail")
        if interrupted or not isinstance(exc, Exception):
            raise
        return
    lifecycle.set_tags(**{"mlops.sweep.state": "complete"})
    lifecycle.end(child, "FINISHED")
    study.tell(trial, value)
    report("complete", value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
