"""``%%mlops step``, ``%mlops pipeline show|run|export`` and ``jupyter mlops pipeline …``."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserInputError
from ..session import notebook_path
from ..verb import VerbFailed
from .marks import configure_step_parser, mark_from_args
from .results import StepEvent

if TYPE_CHECKING:
    from ..verb import Context
    from .model import Pipeline
    from .results import RunResult


# --------------------------------------------------------------------------- %%mlops step


def configure_step(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Mark this cell as the start of pipeline step NAME and run it as usual. Cells below "
        "without a mark join the step; 'jupyter mlops pipeline show' reads the marks from the "
        "saved notebook.")
    configure_step_parser(parser)


def run_step_cell(args: argparse.Namespace, ctx: Context) -> Any:
    """Run the cell as usual: the mark matters when the saved notebook is read as a pipeline."""
    mark_from_args(args)  # the same checks the notebook reader applies
    if not ctx.cell or not ctx.cell.strip():
        return None
    if ctx.run_cell is None:  # no shell (e.g. a test harness): run in the namespace
        exec(compile(ctx.cell, f"<step {args.name}>", "exec"), ctx.namespace or {})
        return None
    try:
        ctx.run_cell(ctx.cell)
    except Exception as exc:
        raise UserInputError(f"step {args.name!r}: the cell raised {type(exc).__name__}: "
                             f"{exc} (traceback above)") from None
    return None


# --------------------------------------------------------------------------- %mlops pipeline


def configure_pipeline(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Read the notebook (as saved) as a pipeline: show its steps and data "
                          "flow, run it locally with a cache, or export it to an engine.")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="the DAG and a table of steps, inputs and outputs",
                          description="The DAG (a picture in Jupyter) and a table of steps, "
                          "their inputs, outputs and parameters, with warnings.")
    run = sub.add_parser("run", help="run the pipeline locally (cached, resumable)",
                         description="Run each step in its own process, independent steps in "
                         "parallel; unchanged steps come from the cache, so running again "
                         "after a failure resumes at the failed step.")
    export = sub.add_parser("export", help="write it for Airflow 3, Prefect 3 or Kubeflow",
                            description="Write the pipeline as an Airflow 3 DAG, a Prefect 3 "
                            "flow, or a Kubeflow Pipelines v2 pipeline (compiled to YAML when "
                            "kfp is installed).")
    for child in (show, run, export):
        child.add_argument("notebook", nargs="?", default=None,
                           help="the notebook (default in Jupyter: the notebook of this kernel)")
        child.add_argument("--json", action="store_true", help="the result as JSON")
    run.add_argument("--from", dest="from_step", metavar="STEP",
                     help="run STEP and everything after it again, ignoring their cache")
    run.add_argument("--only", action="append", metavar="STEP",
                     help="run only STEP (its inputs must be in the cache); repeatable")
    run.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                     help="set a parameter of the 'parameters' cell; repeatable")
    export.add_argument("--target", choices=("airflow", "prefect", "kfp"), default=None,
                        help="the engine (default: the pipeline.target setting)")
    export.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    export.add_argument("--schedule", metavar="CRON", default=None,
                        help="cron expression (e.g. '0 3 * * *') or @daily")
    export.add_argument("--compile-with", metavar="PYTHON", default=None,
                        help="kfp: a Python that has kfp, to compile the YAML (default: this one)")


def run_pipeline_verb(args: argparse.Namespace, ctx: Context) -> Any:
    """The ``Pipeline`` (show), its ``ExportResult`` (export) or its ``RunResult`` (run)."""
    from .notebook import from_notebook

    pipeline = from_notebook(notebook_path(args.notebook, ctx,
                                           f"pipeline {args.action} NOTEBOOK.ipynb"))
    if args.action == "show":
        return pipeline
    if args.action == "export":
        target = args.target or _configured_target(pipeline)
        return pipeline.export(target, Path(ctx.cwd) / args.out, args.schedule,
                               compile_with=args.compile_with)
    return _run(pipeline, args, ctx)


def _configured_target(pipeline: Pipeline) -> str:
    from ..config import load_config

    target = str(load_config(pipeline.notebook.parent)["pipeline.target"])
    if target == "local":
        raise UserInputError("give --target airflow, prefect or kfp (or set pipeline.target in "
                             "mlops.toml)")
    return target


def _run(pipeline: Pipeline, args: argparse.Namespace, ctx: Context) -> RunResult:
    """Run it locally, each step's state going to the adapter's progress report (a notebook
    draws the DAG, coloured as the steps go); a failed run raises ``VerbFailed``."""
    parameters = pipeline.parse_parameters(args.param)
    progress = ctx.progress(f"pipeline {pipeline.name}", pipeline)
    result: RunResult | None = None
    try:
        result = pipeline.run(parameters, from_step=args.from_step, only=args.only,
                              on_progress=lambda event: progress.event(StepLine(**asdict(event))))
    finally:
        progress.close(result)
    if not result.ok:
        raise VerbFailed(result.error or f"run {result.run_id} {result.state}", result)
    return result


@dataclass
class StepLine(StepEvent):
    """A step's event that also reads as a line of progress (``report: done (0.12 s)``), for
    the adapters that print events as text."""

    def __str__(self) -> str:
        took = f" ({self.seconds:.2f} s)" if self.seconds is not None else ""
        return f"{self.step}: {self.state}{took} {self.message}".rstrip()
