"""``mlops.sweep(fn, space=…)``: an Optuna study whose trials are tracked runs. The sweep is a
parent run (the study's settings as params, the best trial's params and value at the end);
each trial is a child run with its params and its metric's full history. A trial that raises
is a FAILED child and the sweep goes on; a pruned one is KILLED, tagged
``mlops.sweep.state = pruned``; no run is left active, even on KeyboardInterrupt. With
``jobs`` above 1 the trials run in warm worker processes (``parallel.py``); the study is asked
and told here either way (``trial.py`` runs one trial wherever it runs)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import load_config
from ..errors import UserInputError
from ..tracking import lifecycle
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
from .trial import MetricNotLogged as MetricNotLogged
from .trial import MetricWatcher as MetricWatcher
from .trial import Objective, Outcome, TrialSettings, run_trial, tell
from .trial import _Pruned as _Pruned

if TYPE_CHECKING:
    from .parallel import Work
    from .progress import SweepProgress


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
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UserInputError(f"jobs must be a whole number of at least 1, not {jobs!r}")
    if jobs > 1:
        from ..pipeline.gpus import usable_cores

        cores = usable_cores()
        if jobs > cores:
            raise UserInputError(f"jobs={jobs} is more than the {cores} cores this process may "
                                 f"use: give at most {cores}")
        if not hasattr(os, "fork"):
            raise UserInputError(f"jobs={jobs}: parallel trials fork worker processes, which "
                                 "this system cannot: use jobs=1")


def sweep(fn: Callable[..., Any], space: Mapping[str, Distribution], trials: int = 20,
          jobs: int = 1, metric: str = "loss", direction: Direction = "minimize",
          sampler: SamplerName = "tpe", pruner: PrunerName = "median",
          timeout: float | None = None, name: str | None = None, resume: bool = False,
          register: str | None = None, *, seed: int | None = None, storage: str | None = None,
          experiment: str | None = None, cwd: str | os.PathLike[str] | None = None,
          progress: SweepProgress | None = None) -> Sweep:
    """Search ``space`` for the parameters that ``direction`` ``metric``: ``fn(**params)`` runs
    once per trial inside a child run and logs the metric with ``mlops.log`` (or returns it).
    ``jobs``: trials at once, each in a warm worker process (``fn`` goes there by cloudpickle,
    by value when the notebook defines it)."""
    if not callable(fn):
        raise UserInputError(f"sweep: fn must be a function, not {type(fn).__name__}")
    work = None
    if jobs != 1 and not isinstance(jobs, bool) and isinstance(jobs, int):
        from .parallel import Work

        work = Work.of_function(fn)
    return run_sweep(lambda params: fn(**params), dict(space), trials=trials, jobs=jobs,
                     metric=metric, direction=direction, sampler=sampler, pruner=pruner,
                     timeout=timeout, name=name, resume=resume, register=register, seed=seed,
                     storage=storage, experiment=experiment,
                     cwd=os.fspath(cwd) if cwd else None, returns=True, progress=progress,
                     work=work)


def run_sweep(objective: Objective, space: Space, *, trials: int, jobs: int, metric: str,
              direction: Direction, sampler: SamplerName, pruner: PrunerName,
              timeout: float | None, name: str | None, resume: bool, register: str | None,
              seed: int | None, storage: str | None, experiment: str | None, cwd: str | None,
              returns: bool, namespace: dict[str, Any] | None = None,
              base: str = "sweep", progress: SweepProgress | None = None,
              work: Work | None = None) -> Sweep:
    """The sweep's loop (``sweep`` and ``%%mlops sweep`` both): ``objective(params)`` per
    trial; ``returns``: a number it returns is the objective when the metric was not logged.
    ``jobs`` above 1: ``work`` (what ``objective`` does, as warm workers run it) runs the
    trials in that many worker processes."""
    check_settings(direction, sampler, pruner, jobs, trials, timeout)
    if jobs > 1 and work is None:
        raise UserInputError(f"jobs={jobs}: this objective cannot be sent to worker processes; "
                             "use mlops.sweep(fn, …) or %%mlops sweep, or jobs=1")
    if jobs > 1 and work is not None:
        work.save(jobs)  # what cannot be sent is said before the sweep starts
    if not space:
        raise UserInputError("the search space is empty: give at least one parameter")
    if not metric.strip():
        raise UserInputError("metric cannot be empty")
    config = load_config(cwd)
    uri = storage_url(config, storage)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study_name = name or default_name(uri, base, resume)
    try:
        if work is not None and jobs > 1:  # they warm up while the study and parent start
            from .parallel import logs_folder

            work.start(jobs, cwd, logs_folder(config.state_dir, study_name))
        study = open_study(uri, study_name, direction, sampler, pruner, space, seed, resume)
        parent = lifecycle.start_run(experiment, study_name,
                                     nested=lifecycle.active_run() is not None,
                                     namespace=namespace, cwd=cwd)
    except BaseException:
        if work is not None:
            work.discard()
        raise
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
        settings = TrialSettings(metric, pruner == "median", experiment, study_name, cwd,
                                 returns)
        if work is not None and jobs > 1:  # trials in warm workers, asked and told here
            from .parallel import run_parallel

            run_parallel(study, space, work, settings, jobs=jobs, trials=trials,
                         deadline=deadline, grid=sampler == "grid", progress=progress,
                         state_dir=config.state_dir, parent=parent, namespace=namespace)
        for _ in range(trials if jobs == 1 or work is None else 0):
            if deadline is not None and time.monotonic() >= deadline:
                break
            if sampler == "grid":
                point = next_grid_point(study, space)
                if point is None:
                    break
                study.enqueue_trial(point)
            _trial(study, objective, space, settings, namespace, progress)
        if result.best_value is not None:
            best: dict[str, Any] = {f"best_{metric}": result.best_value}
            lifecycle.log(**best)
            lifecycle.set_tags(**{"mlops.sweep.best_run_id": result.best_run_id})
            lifecycle.log_params(**{f"best.{k}": v for k, v in (result.best_params or {}).items()})
    except BaseException as exc:
        if work is not None:
            work.discard()
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


def _trial(study: Any, objective: Objective, space: Space, settings: TrialSettings,
           namespace: dict[str, Any] | None, progress: SweepProgress | None = None) -> None:
    """One trial: ask the study, run the objective in a child run, tell the study; ``progress``
    hears of it when it starts and when it ends."""
    trial = study.ask()
    params: dict[str, Any] = {}
    run_id: str | None = None
    began = time.monotonic()

    def report(state: str, value: float | None = None) -> None:
        if progress is not None:
            progress.trial({"number": trial.number, "params": params, "value": value,
                            "state": state, "duration": (None if state == "running"
                                                         else time.monotonic() - began),
                            "run_id": run_id})

    def started(child_run_id: str) -> None:
        nonlocal run_id
        run_id = child_run_id
        trial.set_user_attr("run_id", child_run_id)
        report("running")

    try:  # a trial the study asked for is told, whatever happens before its run starts
        params = {key: dist.suggest(trial, key) for key, dist in space.items()}
        outcome = run_trial(trial, trial.number, params, objective, settings, namespace,
                            started)
    except BaseException:
        tell(study, trial, Outcome("fail"))
        raise
    tell(study, trial, outcome)
    report(outcome.state, outcome.value)
    if outcome.interrupted:  # KeyboardInterrupt: the sweep stops, its runs ended
        assert outcome.error is not None
        raise outcome.error
