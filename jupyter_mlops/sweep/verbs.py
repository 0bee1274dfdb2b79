"""``%%mlops sweep``: run a training cell once per trial with the trial's values bound to the
``parameters`` cell's names; the objective is the last value of ``--metric`` the cell logged."""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserInputError
from ..verb import Context, UsageError, positive_int
from .study import DIRECTIONS, PRUNERS, SAMPLERS

if TYPE_CHECKING:
    from ..pipeline.model import Parameter, Pipeline
    from .space import Distribution

_ABSENT = object()


class SweepWarning(UserWarning):
    """A parameter of the space that the swept cell never reads."""


def configure_sweep(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "%%mlops sweep runs the cell once per trial of an Optuna study, the trial's values "
        "bound to the parameters cell's names, each trial a child run of one parent run. The "
        "space is --space, or else the '# sweep: KIND(ARGS)' comments in the parameters cell.")
    parser.add_argument("--trials", type=positive_int, required=True, metavar="N",
                        help="how many trials to run")
    parser.add_argument("--jobs", type=positive_int, default=1, metavar="J",
                        help="trials at once, each in a warm worker process that ran the "
                        "notebook's imports cell (at most the machine's cores)")
    parser.add_argument("--metric", default="loss", metavar="NAME",
                        help="the metric the cell logs with mlops.log (default loss)")
    parser.add_argument("--direction", choices=DIRECTIONS, default="minimize")
    parser.add_argument("--sampler", choices=SAMPLERS, default="tpe")
    parser.add_argument("--pruner", choices=PRUNERS, default="median",
                        help="stop poor trials early on the metric's intermediate values")
    parser.add_argument("--timeout", type=float, metavar="S",
                        help="start no trial after S seconds")
    parser.add_argument("--name", metavar="NAME",
                        help="the study's name (default: the notebook's name and a number)")
    parser.add_argument("--resume", action="store_true",
                        help="add trials to the study --name (default: this notebook's latest)")
    parser.add_argument("--register", metavar="MODEL",
                        help="register the best trial's model as MODEL with alias champion")
    parser.add_argument("--space", metavar="SPACE",
                        help='e.g. "lr=loguniform(1e-4,1e-1) act=choice(relu,tanh)" '
                        "(instead of the parameters cell's '# sweep:' comments)")
    parser.add_argument("--seed", type=int, metavar="N", help="seed of the sampler")
    parser.add_argument("--storage", metavar="URL",
                        help="an RDB URL for a shared study (default: .mlops/sweeps/)")
    parser.add_argument("--experiment", metavar="NAME",
                        help="experiment of the runs (default: tracking.experiment)")


def run_sweep(args: argparse.Namespace, ctx: Context) -> Any:
    if ctx.cell is None or not ctx.cell.strip():
        raise UsageError("%%mlops sweep is a cell magic: put it on top of the training cell")
    if ctx.namespace is None:
        raise UsageError("%%mlops sweep runs in a notebook's kernel")
    from . import run
    from .progress import live_progress
    from .space import Space, parse_space
    from .study import base_name

    notebook_text = ctx.notebook()
    notebook = Path(notebook_text) if notebook_text else None
    pipeline, parameters, annotated = _parameters_cell(notebook)
    names = {p.name for p in parameters}
    space: Space = parse_space(args.space) if args.space else annotated
    if not space:
        raise UsageError("nothing to sweep: give --space \"NAME=KIND(ARGS) …\" or add "
                         "'# sweep: KIND(ARGS)' comments to the parameters cell's lines")
    unknown = [name for name in space if name not in names]
    if unknown:
        raise UserInputError(f"parameter{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(unknown)} not in the parameters cell "
                             f"({', '.join(sorted(names)) or 'it sets none'}): sweep only the "
                             "parameters it sets")
    for parameter in parameters:
        if parameter.name in space:
            _check_type(parameter, space[parameter.name])
    _warn_unused(space, ctx.cell)
    namespace = ctx.namespace
    before = {name: namespace.get(name, _ABSENT) for name in space}
    runner: Callable[[str], Any] = ctx.run_cell or _exec_in(namespace)
    cell = ctx.cell

    def objective(params: dict[str, Any]) -> None:
        namespace.update(params)
        runner(cell)

    work = None
    if args.jobs > 1:  # the cell and what it reads from the kernel, for the warm workers
        from .parallel import Work
        from .run import check_settings

        check_settings(args.direction, args.sampler, args.pruner, args.jobs, args.trials,
                       args.timeout)
        work = Work.of_cell(pipeline, cell, _cell_number(pipeline, cell), namespace,
                            set(space))
    try:
        return run.run_sweep(
            objective, space, trials=args.trials, jobs=args.jobs, metric=args.metric,
            direction=args.direction, sampler=args.sampler, pruner=args.pruner,
            timeout=args.timeout, name=args.name, resume=args.resume, register=args.register,
            seed=args.seed, storage=args.storage, experiment=args.experiment, cwd=ctx.cwd,
            returns=False, namespace=namespace, base=base_name(notebook),
            progress=live_progress(args.metric, args.direction), work=work)
    finally:
        for name, value in before.items():  # the parameters cell's values, as they were
            if value is _ABSENT:
                namespace.pop(name, None)
            else:
                namespace[name] = value


def _parameters_cell(notebook: Path | None
                     ) -> tuple[Pipeline, list[Parameter], dict[str, Any]]:
    """The notebook read as a pipeline, the parameters its ``parameters`` cell sets, and its
    ``# sweep:`` annotations."""
    from ..pipeline.notebook import from_notebook
    from .space import parse_annotations

    if notebook is None:
        raise UserInputError("%%mlops sweep reads the notebook's parameters cell, and this "
                             "kernel's notebook is not known: save the notebook and run the "
                             "cell from Jupyter")
    pipeline = from_notebook(notebook)
    cells = [cell for cell in pipeline.prelude if cell.role == "parameters"]
    if not cells:
        raise UserInputError(f"{notebook.name} has no cell tagged 'parameters': tag the cell "
                             "that sets the values to sweep")
    space: dict[str, Any] = {}
    for cell in cells:
        try:
            space.update(parse_annotations(cell.source))
        except UserInputError as exc:
            raise UserInputError(f"{notebook.name} cell {cell.number}: {exc}") from None
    return pipeline, list(pipeline.parameters), space


def _cell_number(pipeline: Pipeline, cell: str) -> int:
    """The notebook's number of the swept cell (tracebacks name it); 0 when it is not saved."""
    body = cell.strip()
    cells = [*pipeline.prelude, *(c for step in pipeline.steps for c in step.cells),
             *pipeline.skipped]
    return next((c.number for c in cells if body and body in c.source), 0)


def _check_type(parameter: Parameter, dist: Distribution) -> None:
    """The values ``dist`` gives must be of the parameter's type (its default's)."""
    samples = (list(dist.values) if dist.kind == "choice"
               else [int(dist.low)] if dist.kind == "integer" else [dist.low])
    try:
        for value in samples:
            parameter.check(value)
    except UserInputError as exc:
        raise UserInputError(f"{parameter.name}={dist}: {exc} (its value in the parameters "
                             f"cell is {parameter.default!r})") from None


def _warn_unused(space: dict[str, Any], cell: str) -> None:
    """Warn about parameters of the space that the cell never reads (a sweep of them only
    changes the run's params)."""
    from ..pipeline.analysis import StepAnalyzer
    from ..pipeline.magics import parse_cell

    try:
        tree = parse_cell(cell)
    except SyntaxError:
        return
    scan = StepAnalyzer()
    scan.add_cell(0, tree)
    flow = scan.finish()
    read = set(flow.reads).union(*flow.callables.values())
    for name in space:
        if name not in read:
            warnings.warn(f"%%mlops sweep: the cell never reads parameter '{name}': its trials "
                          "will differ only in their params", SweepWarning, stacklevel=2)


def _exec_in(namespace: dict[str, Any]) -> Callable[[str], Any]:
    """Without a shell (tests, scripts): plain exec in the namespace."""

    def run(code: str) -> None:
        exec(compile(code, "<sweep cell>", "exec"), namespace)

    return run
