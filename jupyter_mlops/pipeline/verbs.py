"""``%%mlops step``, ``%mlops pipeline show|run|export`` and ``jupyter mlops pipeline …``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserInputError
from .marks import configure_step_parser, mark_from_args

if TYPE_CHECKING:
    from ..verb import Context
    from .model import Pipeline
    from .runner import StepEvent


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
    runner = ctx.options.get("run_cell")
    if runner is None:  # not under IPython (e.g. a test harness): run in the namespace
        exec(compile(ctx.cell, f"<step {args.name}>", "exec"), ctx.namespace or {})
        return None
    try:
        runner(ctx.cell)
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
        child.add_argument("--json", action="store_true", help="print JSON (CLI)")
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


def notebook_path(given: str | None, ctx: Context) -> Path:
    """The notebook to read: as given (relative to the working folder), else the kernel's own
    notebook, which Jupyter names in JPY_SESSION_NAME / ``__session__``."""
    name = given
    if name is None and ctx.adapter == "magic":
        name = os.environ.get("JPY_SESSION_NAME") or (ctx.namespace or {}).get("__session__")
    if not name:
        where = "%mlops pipeline" if ctx.adapter == "magic" else "jupyter mlops pipeline"
        raise UserInputError(f"name the notebook: {where} show NOTEBOOK.ipynb")
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = Path(ctx.cwd) / path
        if not path.exists() and given is None:  # the session name is relative to the server
            path = Path(ctx.cwd) / Path(name).name
    return path


def run_pipeline_verb(args: argparse.Namespace, ctx: Context) -> Any:
    from .notebook import from_notebook

    pipeline = from_notebook(notebook_path(args.notebook, ctx))
    if args.action == "show":
        if ctx.adapter == "cli":
            return json.dumps(pipeline.to_dict(), indent=2) if args.json else pipeline.to_text()
        return pipeline
    if args.action == "export":
        target = args.target or _configured_target(pipeline)
        result = pipeline.export(target, Path(ctx.cwd) / args.out, args.schedule,
                                 compile_with=args.compile_with)
        if ctx.adapter == "cli" and args.json:
            return json.dumps(result.to_dict(), indent=2)
        return result
    return _run(pipeline, args, ctx)


def _configured_target(pipeline: Pipeline) -> str:
    from ..config import load_config

    target = str(load_config(pipeline.notebook.parent)["pipeline.target"])
    if target == "local":
        raise UserInputError("give --target airflow, prefect or kfp (or set pipeline.target in "
                             "mlops.toml)")
    return target


def _run(pipeline: Pipeline, args: argparse.Namespace, ctx: Context) -> Any:
    parameters = pipeline.parse_parameters(args.param)
    only = args.only
    if ctx.adapter == "cli":
        quiet = args.json

        def report(event: StepEvent) -> None:
            if not quiet:
                took = f" ({event.seconds:.2f} s)" if event.seconds is not None else ""
                print(f"{event.step}: {event.state}{took} {event.message}".rstrip(),
                      file=sys.stderr, flush=True)

        result = pipeline.run(parameters, from_step=args.from_step, only=only,
                              on_progress=report)
        print(json.dumps(result.to_dict(), indent=2, default=repr) if args.json
              else result.to_text())
        return 0 if result.ok else 1
    live = _LiveProgress(pipeline)
    result = pipeline.run(parameters, from_step=args.from_step, only=only,
                          on_progress=live.update)
    live.finish(result)
    if not result.ok:
        raise UserInputError(result.error or f"run {result.run_id} {result.state}")
    return result


class _ProgressView:
    """One frame of the live progress: the coloured DAG for Jupyter, a line for terminals."""

    def __init__(self, html: str, text: str) -> None:
        self.html, self.text = html, text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self.text, "text/html": self.html}


class _LiveProgress:
    """The DAG, coloured by each step's state, updated in place in the notebook."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.states = {s.name: "queued" for s in pipeline.steps}
        self.lock = threading.Lock()
        self.handle: Any = None
        try:
            from IPython.display import display
        except ImportError:  # pragma: no cover - the magic always has IPython
            return
        self.handle = display(self._view(), display_id=True)  # type: ignore[no-untyped-call]

    def _view(self, extra: str = "") -> _ProgressView:
        from .render import pipeline_svg

        svg = pipeline_svg(self.pipeline, self.states)
        text = "pipeline: " + ", ".join(f"{n} {s}" for n, s in self.states.items())
        return _ProgressView(f'<div class="mlops-pipeline-progress">{svg}{extra}</div>', text)

    def update(self, event: StepEvent) -> None:
        with self.lock:
            self.states[event.step] = event.state
            if self.handle is not None:
                self.handle.update(self._view())

    def finish(self, result: Any) -> None:
        """The final states, and the run's table when it failed (the error follows)."""
        from .render import run_html

        with self.lock:
            for name, state in result.steps.items():
                self.states[name] = state.state
            if self.handle is not None:
                self.handle.update(self._view(run_html(result) if not result.ok else ""))
