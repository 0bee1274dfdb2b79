"""``%%mlops track``, ``%mlops track start|end`` and ``%mlops param``."""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Callable
from typing import Any

from ..errors import MLOpsError
from ..verb import Context, UsageError, positive_int
from . import lifecycle
from .store import first_line


class TrackedCellFailed(MLOpsError):
    """The body of a ``%%mlops track`` cell raised; its run was ended as FAILED (or KILLED)."""

    http_status = 400


def configure_track(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "%%mlops track runs the cell inside an MLflow run and always ends it (FAILED if the "
        "cell raises). %mlops track start / end: a run spanning cells.")
    parser.add_argument("action", nargs="?", choices=("start", "end"),
                        help="line form: start or end a run that spans cells")
    parser.add_argument("--experiment", metavar="NAME",
                        help="experiment of the run (default: tracking.experiment)")
    parser.add_argument("--run-name", metavar="NAME", help="name of the run")
    parser.add_argument("--nested", action="store_true",
                        help="start the run inside the active run")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN_ID",
                        help="continue a run instead of starting a fresh one: RUN_ID, or "
                        "without it the run this cell (or this run name) started last")
    parser.add_argument("--status", choices=lifecycle.STATUSES, default="FINISHED",
                        help="end: the run's final status (default FINISHED)")


#: cell (id, run name or source) -> id of the run it started last, for --resume
_cell_runs: dict[str, str] = {}
#: runs started by '%mlops track start', each with the function that stops recording its cells
_spanning: list[tuple[lifecycle.ActiveRun, Callable[[], None]]] = []


def run_track(args: argparse.Namespace, ctx: Context) -> Any:
    if ctx.cell is not None:
        if args.action:
            raise UsageError(f"'%%mlops track {args.action}': the cell form takes no start/end; "
                             "use '%mlops track start' on a line")
        return track_cell(args, ctx)
    if args.action is None:
        raise UsageError("use '%%mlops track' as a cell magic, or '%mlops track start' / "
                         "'%mlops track end' on a line")
    if args.action == "end":
        run = lifecycle.require_active("%mlops track end")
        for spanning in [s for s in _spanning if s[0] is run]:
            _spanning.remove(spanning)
            spanning[1]()
        return lifecycle.end_run(args.status)
    run = lifecycle.start_run(args.experiment, args.run_name, nested=args.nested,
                              resume=args.resume, namespace=ctx.namespace, cwd=ctx.cwd)
    _spanning.append((run, _record_cells(run, ctx)))
    return run


def track_cell(args: argparse.Namespace, ctx: Context) -> lifecycle.RunSummary:
    """Run the cell inside a run; end the run whatever happens."""
    assert ctx.cell is not None
    key = _cell_key(args, ctx)
    resume = args.resume
    if resume is True:
        resume = _cell_runs.get(key, True)
    run = lifecycle.start_run(args.experiment, args.run_name, nested=args.nested, resume=resume,
                              namespace=ctx.namespace, cwd=ctx.cwd)
    _cell_runs[key] = run.run_id
    lifecycle.record_cell(ctx.cell, run)
    runner: Callable[[str], Any] = ctx.run_cell or _exec_in(ctx.namespace)
    try:
        runner(ctx.cell)
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        status = "KILLED" if interrupted else "FAILED"
        lifecycle.end(run, status, error=exc)
        what = "was interrupted" if interrupted else \
            f"raised {type(exc).__name__}: {first_line(str(exc))}"
        raise TrackedCellFailed(f"the tracked cell {what}; run {run.run_id} is marked "
                                f"{status}") from None
    return lifecycle.end(run, "FINISHED")


def _cell_key(args: argparse.Namespace, ctx: Context) -> str:
    if args.run_name:
        return f"name:{args.run_name}"
    cell_id = ctx.cell_id()
    if cell_id:
        return f"cell:{cell_id}"
    return "source:" + hashlib.sha1((ctx.cell or "").encode()).hexdigest()


def _exec_in(namespace: dict[str, Any] | None) -> Callable[[str], Any]:
    """Without a shell (tests, scripts): plain exec in the namespace."""
    scope = namespace if namespace is not None else {}

    def run(code: str) -> None:
        exec(compile(code, "<tracked cell>", "exec"), scope)

    return run


def _record_cells(run: lifecycle.ActiveRun, ctx: Context) -> Callable[[], None]:
    """While ``run`` (started by '%mlops track start') is the active run, keep the source of
    each cell the user runs; returns the function that stops it."""

    def before(source: str) -> None:
        if lifecycle.active_run() is run and run.status == "RUNNING":
            lifecycle.record_cell(source, run)

    if ctx.on_pre_run_cell is None:  # no cells here
        return lambda: None
    return ctx.on_pre_run_cell(before)


def configure_param(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pairs", nargs="+", metavar="KEY=VALUE",
                        help="parameters of the active run")


def run_param(args: argparse.Namespace, ctx: Context) -> None:
    params: dict[str, str] = {}
    for pair in args.pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"'{pair}' is not KEY=VALUE")
        params[key] = value
    lifecycle.log_params(**params)
    return None


# ------------------------------------------------------------------ runs, compare, register


def configure_runs(parser: argparse.ArgumentParser) -> None:
    parser.description = ("The runs of an experiment (default: tracking.experiment) or of this "
                          "notebook, newest first, as a DataFrame: status, start, duration, "
                          "params, latest metrics, model URIs.")
    parser.add_argument("--this-notebook", action="store_true",
                        help="only the runs of the notebook this kernel runs (any experiment)")
    parser.add_argument("--notebook", metavar="PATH",
                        help="only the runs of the notebook at PATH (any experiment)")
    parser.add_argument("--experiment", metavar="NAME",
                        help="the experiment (default: tracking.experiment)")
    parser.add_argument("--limit", type=positive_int, default=100, metavar="N",
                        help="at most N runs (default 100)")


def run_runs(args: argparse.Namespace, ctx: Context) -> Any:
    from .listing import runs

    if args.this_notebook and args.notebook:
        raise UsageError("use --this-notebook or --notebook PATH, not both")
    notebook: str | bool | None = True if args.this_notebook else args.notebook
    return runs(args.experiment, notebook, args.limit, cwd=ctx.cwd, namespace=ctx.namespace)


def configure_compare(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Compare runs: the parameters that differ, the latest metrics and "
                          "each metric's history, plotted.")
    parser.add_argument("run_ids", nargs="+", metavar="RUN", help="two or more run ids")


def run_compare(args: argparse.Namespace, ctx: Context) -> Any:
    from .comparison import compare

    if len(args.run_ids) < 2:
        raise UsageError(f"compare needs at least two run ids: {ctx.prog} compare RUN RUN …")
    return compare(*args.run_ids, cwd=ctx.cwd)


def configure_register(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Register the model a run logged in MLflow's model registry as a "
                          "new version, and point an alias at it.")
    parser.add_argument("run_id", metavar="RUN", help="the run whose model to register")
    parser.add_argument("--name", metavar="NAME",
                        help="registered model name (default: the logged model's name)")
    parser.add_argument("--alias", metavar="ALIAS", help="alias to set, e.g. champion")
    parser.add_argument("--model", metavar="MODEL",
                        help="which of the run's models (its name), when it logged several")


def run_register(args: argparse.Namespace, ctx: Context) -> Any:
    from .registry import register

    return register(args.run_id, args.name, args.alias, model=args.model, cwd=ctx.cwd)
