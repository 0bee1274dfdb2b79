"""A ``%%mlops sweep`` step on an engine: what the exported plan, trial and best tasks call.

An engine has no study both its trials can reach, so the trials are chosen up front:

* ``plan`` samples the trials' parameters from the space (a seeded random draw, or the grid:
  with no result known yet, Optuna's TPE would draw the same way) and starts the sweep's parent
  run (its settings as params);
* ``trial`` (one mapped task per trial) runs the step's code with the trial's values bound to
  the parameters, through ``runtime.run_step`` as every step runs, inside a child run of the
  parent; the objective is the last value of the metric its code logged with ``mlops.log``.
  A trial whose code raises is a FAILED child and a "failed" row: the sweep goes on;
* ``best`` picks the best completed trial, logs it on the parent run (and registers its model
  with ``--register``), and hands on the best trial's outputs as the step's: the steps after it
  read what the sweep cell defined, as the best trial left it.

The trials always run (never from the cache): each run of the pipeline is a new sweep, each of
its trials a child run of its own parent. Standard library only at import time, as the runtime.
"""

from __future__ import annotations

import importlib.util
import linecache
import math
import random
from collections.abc import Mapping, Sequence
from itertools import islice, product
from typing import Any

from . import runtime

#: the value a trial's code leaves for its task: {"value": …, "run_id": …}
TRIAL_OUTPUT = "__mlops_trial__"


class SweepFailed(Exception):
    """No trial of a sweep step completed, or its tracking cannot run here."""


def _tracking_here() -> None:
    if importlib.util.find_spec("mlflow") is None:
        raise SweepFailed("a sweep step needs experiment tracking where its tasks run (each "
                          "trial's objective is what its code logs with mlops.log): pip install "
                          "'jupyter-mlops[tracking]' on the workers")


# --------------------------------------------------------------------------- plan


def _draw(dist: Mapping[str, Any], rng: random.Random) -> Any:
    kind = dist["kind"]
    if kind == "choice":
        return rng.choice(list(dist["values"]))
    low, high = float(dist["low"]), float(dist["high"])
    if kind == "integer":
        if dist.get("log"):
            return min(int(high), int(math.exp(rng.uniform(math.log(low), math.log(high + 1)))))
        return rng.randint(int(low), int(high))
    if kind == "loguniform":
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    return rng.uniform(low, high)


def _grid(dist: Mapping[str, Any]) -> list[Any]:
    if dist["kind"] == "choice":
        return list(dist["values"])
    return list(range(int(dist["low"]), int(dist["high"]) + 1))


def sample(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The trials' parameters: ``trials`` random draws (seeded by ``seed``), or the grid's
    points in order (at most ``trials``)."""
    space: dict[str, Any] = settings["space"]
    count = int(settings["trials"])
    if settings["sampler"] == "grid":
        names = list(space)
        points = islice(product(*(_grid(space[n]) for n in names)), count)
        return [dict(zip(names, values, strict=True)) for values in points]
    rng = random.Random(settings.get("seed"))
    return [{name: _draw(dist, rng) for name, dist in space.items()} for _ in range(count)]


def plan(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The plan task: the trials, each ``{"number", "params", "parent_run_id"}``; the parent run
    is started with the sweep's settings and left for ``best`` to complete."""
    _tracking_here()
    from ..tracking import lifecycle

    trials = sample(settings)
    parent = lifecycle.start_run(settings.get("experiment"), settings["study"])
    try:
        lifecycle.set_tags(**{"mlops.sweep.study": settings["study"],
                              "mlops.sweep.role": "parent", "mlops.sweep.engine": "planned"})
        lifecycle.log_params(**{
            "sweep.metric": settings["metric"], "sweep.direction": settings["direction"],
            "sweep.sampler": settings["sampler"], "sweep.trials": len(trials),
            "sweep.study": settings["study"], "sweep.space": settings["space_text"],
            **({"sweep.seed": settings["seed"]} if settings.get("seed") is not None else {})})
    except BaseException as exc:
        lifecycle.end(parent, "FAILED", error=exc)
        raise
    # the run ends here, as a task's process may end with its task; `best` resumes it
    lifecycle.end(parent, "FINISHED")
    return [{"number": number, "params": params, "parent_run_id": parent.run_id}
            for number, params in enumerate(trials)]


# --------------------------------------------------------------------------- trial


def trial_code(code: str, trial: Mapping[str, Any]) -> str:
    """The step's code with its ``%%mlops sweep`` cell run as one trial: the cell's body (the
    magic's line blanked, so line numbers stay) handed to ``run_trial_cell`` as a string, with
    ``trial`` (plain values: its number, parameters, parent run and the sweep's settings)."""
    parts = []
    for number, role, source in runtime.split_cells(code):
        marker = f"# %% cell {number}" + ("" if role == "step" else f" ({role})")
        lines = source.split("\n")
        first = next((i for i, line in enumerate(lines) if line.strip()), None)
        if role == "step" and first is not None and lines[first].split()[:2] == [
                "%%mlops", "sweep"]:
            lines[first] = ""
            body = "\n".join(lines)
            source = ("__import__('jupyter_mlops.pipeline.sweep_runtime', fromlist=['_'])"
                      f".run_trial_cell({dict(trial)!r}, globals(), {body!r}, {number!r})")
        parts.append(f"{marker}\n{source}\n")
    return "".join(parts)


class _NoPruning:
    """The Optuna trial the metric watcher reports to: trials on an engine are not pruned."""

    def report(self, value: float, step: int) -> None:
        pass

    def should_prune(self) -> bool:
        return False


def run_trial_cell(trial: Mapping[str, Any], namespace: dict[str, Any], body: str,
                   number: int) -> None:
    """In the trial's process: the sweep cell's body in a child run of the sweep's parent run,
    the last value of the metric it logged kept as ``__mlops_trial__``."""
    from ..sweep.run import MetricNotLogged, MetricWatcher
    from ..tracking import lifecycle

    filename = next((name for name in linecache.cache if name.endswith(f", cell {number}")),
                    f"<sweep cell {number}>")
    linecache.cache[filename] = (len(body), None, body.splitlines(True), filename)
    try:
        code = compile(body, filename, "exec")
    except SyntaxError:  # IPython syntax in the cell: run it as the kernel would
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell.instance()
        namespace.setdefault("get_ipython", shell.get_ipython)
        code = compile(runtime.to_python(body, shell.input_transformer_manager), filename,
                       "exec")
    settings = trial["settings"]
    metric = settings["metric"]
    child = lifecycle.start_run(settings.get("experiment"),
                                f"{settings['study']}-{trial['number']}")
    try:
        lifecycle.set_tags(**{"mlops.sweep.study": settings["study"],
                              "mlops.sweep.trial": trial["number"],
                              **({"mlflow.parentRunId": trial["parent_run_id"]}
                                 if trial.get("parent_run_id") else {})})
        lifecycle.log_params(**trial["params"])
        watcher = MetricWatcher(child, metric, _NoPruning(), prune=False)
        with watcher:
            exec(code, namespace)
        if watcher.last is None:
            raise MetricNotLogged(f"the trial never logged metric '{metric}' with mlops.log")
        if not math.isfinite(watcher.last):
            raise MetricNotLogged(f"the trial's {metric} is {watcher.last}, not a finite number")
    except BaseException as exc:
        lifecycle.set_tags(**{"mlops.sweep.state": "failed"})
        lifecycle.end(child, "FAILED", error=exc)
        raise
    lifecycle.set_tags(**{"mlops.sweep.state": "complete"})
    lifecycle.end(child, "FINISHED")
    namespace[TRIAL_OUTPUT] = {"value": watcher.last, "run_id": child.run_id}


def trial(spec: Mapping[str, Any], settings: Mapping[str, Any], planned: Mapping[str, Any], *,
          artifacts: str, upstream: Mapping[str, Any] | None = None,
          params: Mapping[str, Any] | None = None, endpoint_url: str = "",
          echo: bool = True) -> dict[str, Any]:
    """A mapped trial task: the step run once with the trial's values; its row, with the run
    step's result (its outputs) when it completed."""
    values = dict(planned["params"])
    trial_spec = {
        **spec,
        "code": trial_code(spec["code"], {**planned, "settings": dict(settings)}),
        "parameters": sorted({*spec.get("parameters", []), *values}),
        "outputs": [*spec.get("outputs", []), TRIAL_OUTPUT],
    }
    row: dict[str, Any] = {"number": planned["number"], "params": values, "value": None,
                           "run_id": None, "state": "failed", "error": None,
                           "parent_run_id": planned.get("parent_run_id")}
    try:
        result = runtime.run_step(trial_spec, artifacts=artifacts, upstream=upstream,
                                  params={**(params or {}), **values},
                                  endpoint_url=endpoint_url, force=True, echo=echo)
    except runtime.StepFailed as exc:
        row["error"] = str(exc)
        return row
    record = runtime.load_output(result, TRIAL_OUTPUT, artifacts=artifacts,
                                 endpoint_url=endpoint_url)
    row.update(state="complete", value=record["value"], run_id=record["run_id"], result=result)
    return row


# --------------------------------------------------------------------------- best


def best(settings: Mapping[str, Any], trials: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The best task: the best completed trial, logged on the parent run; its step result,
    under the sweep step's name, is what the steps after it read."""
    rows = [dict(row) for row in trials]
    done = [row for row in rows if row.get("state") == "complete"]
    parent_id = next((p for p in (r.get("parent_run_id") for r in rows) if p), None)
    if not done:
        errors = "; ".join(sorted({str(r.get("error")) for r in rows}))[:600]
        raise SweepFailed(f"sweep {settings['study']!r}: none of its {len(rows)} trials "
                          f"completed ({errors or 'no trial ran'})")
    pick = min if settings["direction"] == "minimize" else max
    winner = pick(done, key=lambda row: float(row["value"]))
    metric = settings["metric"]
    registration = None
    if parent_id:
        _tracking_here()
        from ..tracking import lifecycle

        parent = lifecycle.start_run(settings.get("experiment"), resume=parent_id)
        best_metric: dict[str, Any] = {f"best_{metric}": float(winner["value"])}
        lifecycle.log(**best_metric)
        lifecycle.set_tags(**{"mlops.sweep.best_run_id": winner["run_id"]})
        lifecycle.log_params(**{f"best.{k}": v for k, v in winner["params"].items()})
        lifecycle.end(parent, "FINISHED")
    if settings.get("register"):
        from ..tracking.registry import register

        registration = str(register(winner["run_id"], settings["register"], "champion"))
    result = dict(winner["result"])
    result["outputs"] = {name: ref for name, ref in result["outputs"].items()
                         if name != TRIAL_OUTPUT}
    result["sweep"] = {
        "study": settings["study"], "metric": metric, "direction": settings["direction"],
        "parent_run_id": parent_id, "best_params": winner["params"],
        "best_value": winner["value"], "best_run_id": winner["run_id"],
        "registered": registration,
        "trials": [{k: r.get(k) for k in ("number", "params", "value", "state", "run_id",
                                          "error")} for r in rows]}
    print(f"[{result['step']}] best of {len(done)}/{len(rows)} trials: {metric} = "
          f"{winner['value']:g} with {winner['params']} (run {winner['run_id']})", flush=True)
    return result
