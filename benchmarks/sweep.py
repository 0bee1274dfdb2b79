"""Sweeps: 100 trials of a cheap objective, ours against Optuna with optuna-integration's
``MLflowCallback`` (what a user writes today), both logging to the same real ``mlflow server``
on loopback; then a CPU-bound objective at ``jobs=2`` against ``jobs=1``.

- ours: ``mlops.sweep(fn, space, trials=100, metric="loss")``: the study in Optuna's journal
  file under ``.mlops/sweeps/`` (on disk, as ``--resume`` needs), a parent run and a child run
  per trial (params, the metric), every run ended and its points durable on the server when
  the sweep returns;
- the anchor: ``optuna.create_study()`` (in memory) and ``study.optimize(objective,
  n_trials=100, callbacks=[MLflowCallback(tracking_uri=URL, metric_name="loss")])``: a flat run
  per trial, no parent.

Both use TPE (seed 0) over ``x, y = uniform(-5, 5)`` and the objective ``(x-2)^2 + (y+1)^2``,
which takes microseconds: a trial's time is the sweep's overhead. Each side runs ``--repeat``
times, alternating, after a warm-up; the median is reported, and the runs each side left on
the server are counted. Target: ours within 1.2x of the anchor per trial.

The CPU-bound part runs ``--cpu-trials`` trials of a pure-Python loop (about ``--burn``
seconds each) with ``jobs=1`` and ``jobs=2``, after a warm-up sweep of each, alternating
``--repeat`` times (the median of each). The wall time includes everything the user waits
for: the workers' start, the study, every run created, ended and on the server. Target: jobs=2
at least 1.7x faster on 2 cores. Where parallel trials are not built, it says so instead of a
number.

    .venv/bin/python benchmarks/sweep.py [--trials 100] [--repeat 3] [--cpu-trials 8]
                                         [--part all|overhead|jobs]

Exit status 0 when every target is met.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tracking import start_server  # noqa: E402  (benchmarks/tracking.py: the same server)

SPACE_BOUNDS = (-5.0, 5.0)


def quadratic(x: float, y: float) -> float:
    return (x - 2) ** 2 + (y + 1) ** 2


def cheap(x: float, y: float) -> None:
    import jupyter_mlops as mlops

    mlops.log(loss=quadratic(x, y))


def burn_loop(n: int) -> int:
    total = 0
    for i in range(n):
        total = (total + i * i) % 1_000_003
    return total


def burn(x: float, iterations: int) -> None:
    """The CPU-bound objective: ``iterations`` of a pure-Python loop, then the metric."""
    import jupyter_mlops as mlops

    burn_loop(iterations)
    mlops.log(loss=(x - 1) ** 2)


def _count_runs(client: Any, experiment: str) -> int:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return 0
    return len(client.search_runs([found.experiment_id], max_results=5000))


def bench_ours(trials: int, experiment: str, name: str) -> tuple[float, Any]:
    from jupyter_mlops.sweep import sweep, uniform

    space = {"x": uniform(*SPACE_BOUNDS), "y": uniform(*SPACE_BOUNDS)}
    began = time.perf_counter()
    result = sweep(cheap, space=space, trials=trials, metric="loss", seed=0,
                   experiment=experiment, name=name)
    return time.perf_counter() - began, result


def bench_optuna(trials: int, url: str, experiment: str) -> tuple[float, Any]:
    import optuna
    from optuna_integration.mlflow import MLflowCallback

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", *SPACE_BOUNDS)
        y = trial.suggest_float("y", *SPACE_BOUNDS)
        return quadratic(x, y)

    began = time.perf_counter()
    callback = MLflowCallback(tracking_uri=url, metric_name="loss")
    study = optuna.create_study(study_name=experiment, direction="minimize",
                                sampler=optuna.samplers.TPESampler(seed=0))
    with contextlib.redirect_stdout(io.StringIO()):  # MLflow prints a link per run
        study.optimize(objective, n_trials=trials, callbacks=[callback])
    return time.perf_counter() - began, study


def _measure_rate() -> float:
    n = 2_000_000
    began = time.perf_counter()
    burn_loop(n)
    return n / (time.perf_counter() - began)


def bench_jobs(trials: int, iterations: int, jobs: int, name: str) -> tuple[float | None, str]:
    """Wall time of the CPU-bound sweep with ``jobs``; None and why when it cannot run."""
    from jupyter_mlops.errors import UserInputError
    from jupyter_mlops.sweep import sweep, uniform

    # a partial of a module-level function: worker processes can unpickle it
    objective = functools.partial(burn, iterations=iterations)
    began = time.perf_counter()
    try:
        result = sweep(objective, space={"x": uniform(-3, 3)}, trials=trials, jobs=jobs,
                       metric="loss", seed=0, sampler="random", experiment="bench-cpu",
                       name=name)
    except UserInputError as exc:
        return None, str(exc)
    took = time.perf_counter() - began
    complete = result.counts().get("complete", 0)
    return took, f"{complete}/{trials} trials complete"


def overhead(args: argparse.Namespace, url: str) -> bool:
    """The cheap objective, ours against the anchor; True when the target is met."""
    import optuna
    from mlflow import MlflowClient

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    client = MlflowClient(url)
    # warm-up: imports, connections, the server's first requests, on both sides
    bench_ours(5, "bench-warm-ours", "warm")
    bench_optuna(5, url, "bench-warm-optuna")

    ours: list[float] = []
    anchor: list[float] = []
    for i in range(args.repeat):
        took, result = bench_ours(args.trials, f"bench-ours-{i}", f"ours-{i}")
        ours.append(took)
        took, study = bench_optuna(args.trials, url, f"bench-optuna-{i}")
        anchor.append(took)
    ours_runs = _count_runs(client, f"bench-ours-{args.repeat - 1}")
    optuna_runs = _count_runs(client, f"bench-optuna-{args.repeat - 1}")
    per_ours = statistics.median(ours) / args.trials
    per_anchor = statistics.median(anchor) / args.trials
    ratio = per_ours / per_anchor
    print(f"{args.trials} trials of a cheap objective, TPE, one mlflow server on loopback "
          f"({os.cpu_count()} cores), median of {args.repeat}:")
    print(f"  ours (mlops.sweep: parent + child runs, study in a file):  "
          f"{per_ours * 1000:8.1f} ms per trial, {ours_runs} runs on the server "
          f"(1 parent + {ours_runs - 1} children)")
    print(f"  Optuna + MLflowCallback (flat runs, study in memory):    "
          f"{per_anchor * 1000:8.1f} ms per trial, {optuna_runs} runs on the server")
    print(f"  ratio ours / anchor: {ratio:.2f}x (target <= 1.20x): "
          f"{'met' if ratio <= 1.2 else 'NOT met'}")
    print(f"  best loss: ours {result.best_value:.4f}, "
          f"Optuna {study.best_value:.4f} (the minimum is 0)")
    return ratio <= 1.2 and ours_runs == args.trials + 1


def jobs(args: argparse.Namespace) -> bool:
    """The CPU-bound objective at jobs=1 and jobs=2; True when the target is met."""
    print(f"CPU-bound objective: {args.cpu_trials} trials of about {args.burn:g} s of "
          f"pure-Python work ({os.cpu_count()} cores):")
    iterations = int(_measure_rate() * args.burn)  # the same work on both sides
    bench_jobs(2, iterations // 10, 1, "cpu-warm-1")  # imports, the server's first requests
    bench_jobs(2, iterations // 10, 2, "cpu-warm-2")
    ones: list[float] = []
    twos: list[float] = []
    for i in range(args.repeat):
        one, what_one = bench_jobs(args.cpu_trials, iterations, 1, f"cpu-1-{i}")
        two, what_two = bench_jobs(args.cpu_trials, iterations, 2, f"cpu-2-{i}")
        if one is None or two is None:
            break
        ones.append(one)
        twos.append(two)
    if not ones or not twos:
        print(f"  jobs=1: not available ({what_one})" if one is None else "")
        print(f"  jobs=2: not available ({what_two})" if two is None else "")
        return False
    one, two = statistics.median(ones), statistics.median(twos)
    print(f"  jobs=1: {one:6.2f} s ({what_one}; each run: "
          f"{', '.join(f'{t:.2f}' for t in ones)})")
    print(f"  jobs=2: {two:6.2f} s ({what_two}; each run: "
          f"{', '.join(f'{t:.2f}' for t in twos)})")
    speedup = one / two
    print(f"  speed-up jobs=2 / jobs=1: {speedup:.2f}x (target >= 1.70x on 2 cores): "
          f"{'met' if speedup >= 1.7 else 'NOT met'}")
    return speedup >= 1.7


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpu-trials", type=int, default=8)
    parser.add_argument("--burn", type=float, default=0.5,
                        help="seconds of CPU work per trial of the CPU-bound sweep")
    parser.add_argument("--part", choices=("all", "overhead", "jobs"), default="all",
                        help="run only the overhead or only the jobs=2 part")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="mlops-bench-sweep-"))
    project = folder / "project"
    project.mkdir()
    os.chdir(project)
    process, url = start_server(folder)
    met = []
    try:
        os.environ["MLOPS_TRACKING_URI"] = url
        os.environ["MLFLOW_TRACKING_URI"] = url
        if args.part in ("all", "overhead"):
            met.append(overhead(args, url))
        if args.part in ("all", "jobs"):
            print()
            met.append(jobs(args))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
