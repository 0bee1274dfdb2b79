"""``%%mlops track``, ``%mlops track start|end`` and ``%mlops param``."""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Callable
from typing import Any

from ..commands import Context, UsageError
from ..errors import MLOpsError
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
_hooked: set[int] = set()
_spanning: list[lifecycle.ActiveRun] = []


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
        if run in _spanning:
            _spanning.remove(run)
        return lifecycle.end_run(args.status)
    run = lifecycle.start_run(args.experiment, args.run_name, nested=args.nested,
                              resume=args.resume, namespace=ctx.namespace, cwd=ctx.cwd)
    _spanning.append(run)
    _record_cells_of(ctx.options.get("shell"))
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
    runner: Callable[[str], Any] = ctx.options.get("run_cell") or _exec_in(ctx.namespace)
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
    shell = ctx.options.get("shell")
    result = getattr(getattr(shell, "displayhook", None), "exec_result", None)
    cell_id = getattr(getattr(result, "info", None), "cell_id", None)
    if cell_id:
        return f"cell:{cell_id}"
    return "source:" + hashlib.sha1((ctx.cell or "").encode()).hexdigest()


def _exec_in(namespace: dict[str, Any] | None) -> Callable[[str], Any]:
    """Without an IPython shell (tests, scripts): plain exec in the namespace."""
    scope = namespace if namespace is not None else {}

    def run(code: str) -> None:
        exec(compile(code, "<tracked cell>", "exec"), scope)

    return run


def _record_cells_of(shell: Any) -> None:
    """While a run started by '%mlops track start' is active, keep each cell's source."""
    if shell is None or id(shell) in _hooked:
        return

    def before(info: Any) -> None:
        run = lifecycle.active_run()
        if run is not None and run in _spanning and run.status == "RUNNING":
            lifecycle.record_cell(getattr(info, "raw_cell", "") or "", run)

    shell.events.register("pre_run_cell", before)
    _hooked.add(id(shell))


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
