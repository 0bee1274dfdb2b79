"""Sweeps as the Experiments panel shows them: a sweep's parent run is one row of the listing
(its trials folded into it, counted by state), and opening it lists its trials with their
state, value and params, the best trial, and the two charts.

How ``sweep/run.py`` marks the runs: the parent has tag ``mlops.sweep.role = parent`` and the
study's settings as params (``sweep.metric``, ``sweep.direction``, ``sweep.space``,
``sweep.trials``); each trial is a child run (``mlflow.parentRunId``) with tags
``mlops.sweep.trial = N`` and, once ended, ``mlops.sweep.state`` (complete, pruned, failed,
interrupted). mlflow is imported inside the functions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, cast

from ..config import Config
from ..errors import BackendUnavailableError, NotFoundError, UserInputError
from ..sweep.charts import Direction, TrialPoint, history_spec, parallel_spec
from .run_rows import json_number, logged_model_names, models_of, row_of
from .store import first_line, get_run, reachable_client, tracking_uri

if TYPE_CHECKING:
    from mlflow.entities import Run

    from ..sweep.space import Distribution

ROLE_TAG = "mlops.sweep.role"
TRIAL_TAG = "mlops.sweep.trial"
STATE_TAG = "mlops.sweep.state"
PARENT_TAG = "mlflow.parentRunId"
#: the most trials of one sweep that are listed (MLflow's bound on one search)
MAX_TRIALS = 1000
TrialState = Literal["running", "complete", "pruned", "fail"]
STATES: tuple[TrialState, ...] = ("running", "complete", "pruned", "fail")


def is_parent(run: Run) -> bool:
    return run.data.tags.get(ROLE_TAG) == "parent"


def trial_state(run: Run) -> TrialState:
    """A trial's state in Optuna's words: running until its run ended, then its tag."""
    if str(run.info.status) == "RUNNING":
        return "running"
    tagged = run.data.tags.get(STATE_TAG)
    if tagged in ("complete", "pruned"):
        return cast(TrialState, tagged)
    if tagged is None and str(run.info.status) == "FINISHED":
        return "complete"
    return "fail"


def _settings(parent: Run) -> tuple[str, Direction]:
    params = parent.data.params
    direction = params.get("sweep.direction", "minimize")
    return (params.get("sweep.metric", "loss"),
            cast(Direction, direction if direction in ("minimize", "maximize") else "minimize"))


def _value(run: Run, metric: str) -> float | None:
    value = run.data.metrics.get(metric)
    return None if value is None else json_number(float(value))


def _best(trials: Iterable[Run], metric: str, direction: Direction) -> Run | None:
    done = [(v, r) for r in trials if trial_state(r) == "complete"
            and (v := _value(r, metric)) is not None]
    if not done:
        return None
    pick = min if direction == "minimize" else max
    return pick(done, key=lambda pair: pair[0])[1]


def summary(parent: Run, trials: list[Run]) -> dict[str, Any]:
    """The listing's line of a sweep: its study and settings, its trials counted by state,
    the best value so far and its run."""
    metric, direction = _settings(parent)
    counts = dict.fromkeys(STATES, 0)
    for trial in trials:
        counts[trial_state(trial)] += 1
    best = _best(trials, metric, direction)
    planned = parent.data.params.get("sweep.trials", "")
    return {"study": parent.data.params.get("sweep.study") or parent.data.tags.get(
                "mlops.sweep.study"),
            "metric": metric, "direction": direction,
            "planned": int(planned) if planned.isdigit() else None,
            "trials": len(trials), "counts": counts,
            "best_value": _value(best, metric) if best else None,
            "best_run_id": best.info.run_id if best else None}


def fold(runs: list[Run]) -> tuple[list[Run], dict[str, dict[str, Any]]]:
    """``runs`` without the trials of a sweep whose parent is among them, and each such
    sweep's ``summary`` by its parent's run id (a trial whose parent is not listed stays)."""
    parents = {r.info.run_id: r for r in runs if is_parent(r)}
    kept: list[Run] = []
    children: dict[str, list[Run]] = {run_id: [] for run_id in parents}
    for run in runs:
        parent_id = run.data.tags.get(PARENT_TAG)
        if parent_id in children and TRIAL_TAG in run.data.tags:
            children[parent_id].append(run)
        else:
            kept.append(run)
    return kept, {run_id: summary(parent, children[run_id])
                  for run_id, parent in parents.items()}


def _space(parent: Run) -> dict[str, Distribution] | None:
    """The study's space as the parent logged it (``sweep.space``); None when it cannot be
    read back (a param cut by the store, an older run)."""
    from ..sweep.space import parse_space

    text = parent.data.params.get("sweep.space", "")
    try:
        return dict(parse_space(text)) if text else None
    except UserInputError:
        return None


def _trial_number(run: Run) -> int | None:
    raw = run.data.tags.get(TRIAL_TAG, "")
    return int(raw) if raw.isdigit() else None


def sweep_detail(config: Config, run_id: str) -> dict[str, Any]:
    """Sweep ``run_id`` (its parent run): the parent's row and its ``summary``, every trial
    (number, run id, state, status, value, params, duration, models; at most MAX_TRIALS,
    ``truncated`` beyond), the best trial's row, and the Vega-Lite specs of the optimization
    history and of the parallel coordinates."""
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    mlflow_client = reachable_client(config)
    parent = get_run(mlflow_client, config, run_id)
    if not is_parent(parent):
        raise NotFoundError(f"run {run_id} is not a sweep: a sweep's parent run is made by "
                            "%%mlops sweep or mlops.sweep")
    experiment = str(parent.info.experiment_id)
    try:
        page = mlflow_client.search_runs(
            [experiment], f"tags.`{PARENT_TAG}` = '{parent.info.run_id}'",
            run_view_type=ViewType.ACTIVE_ONLY, max_results=MAX_TRIALS,
            order_by=["attributes.start_time ASC"])
    except MlflowException as exc:
        raise BackendUnavailableError(f"could not list the trials of sweep {run_id}: "
                                      f"{first_line(str(exc))}") from exc
    runs = [r for r in page if TRIAL_TAG in r.data.tags]
    runs.sort(key=lambda r: (_trial_number(r) is None, _trial_number(r) or 0))
    metric, direction = _settings(parent)
    space = _space(parent)
    names = list(space) if space else sorted({k for r in runs for k in r.data.params})
    uri = tracking_uri(config)
    model_names = logged_model_names(mlflow_client, runs)
    trials: list[dict[str, Any]] = []
    points: list[TrialPoint] = []
    for run in runs:
        row = row_of(run, uri, None, model_names)
        number, state, value = _trial_number(run), trial_state(run), _value(run, metric)
        params = {k: run.data.params[k] for k in names if k in run.data.params}
        trials.append({"number": number, "run_id": run.info.run_id, "run_name": row.run_name,
                       "state": state, "status": row.status, "value": value,
                       "params": params, "duration": row.duration, "models": row.models,
                       "error": row.error, "url": row.url})
        if state == "complete" and value is not None and number is not None:
            points.append(TrialPoint(number, params, value))
    best = _best(runs, metric, direction)
    about = summary(parent, runs)
    title = f"{about['study'] or parent.info.run_name}: {metric}"
    return {
        "run": row_of(parent, uri, None, logged_model_names(mlflow_client, [parent])).to_dict(),
        "summary": about,
        "param_names": [n for n in names if any(n in t["params"] for t in trials)],
        "trials": trials,
        "truncated": bool(page.token),
        "active": str(parent.info.status) == "RUNNING" or about["counts"]["running"] > 0,
        "best": None if best is None else {
            "run_id": best.info.run_id, "number": _trial_number(best),
            "value": _value(best, metric),
            "params": {k: best.data.params[k] for k in names if k in best.data.params},
            "models": models_of(best, model_names)},
        "charts": {
            "history": history_spec(points, metric, direction, f"{title} by trial",
                                    width="container"),
            "parallel": parallel_spec(points, metric, direction, f"{title} by parameters",
                                      space, width="container")},
    }
