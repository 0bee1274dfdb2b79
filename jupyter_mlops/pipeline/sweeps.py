"""A pipeline's sweep steps as the exports see them: the ``%%mlops sweep`` line of the step's
cell read with the magic's own arguments, its space (``--space`` or the parameters cell's
``# sweep:`` comments) checked against the pipeline's parameters, and the settings the exported
plan, trial and best tasks get (``sweep_runtime``) as plain, literal-safe data."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from ..errors import UserInputError
from ..verb import CommandParser, lazy
from .marks import is_sweep_cell

if TYPE_CHECKING:
    from .model import Pipeline, Step

#: the magic's arguments, declared by the sweep verb (a lazy reference, as the registry holds
#: it: the sweep package reads notebooks through this one)
_configure_sweep = lazy("jupyter_mlops.sweep.verbs:configure_sweep")


def is_sweep_step(step: Step) -> bool:
    return bool(step.cells) and is_sweep_cell(step.cells[0].source)


def _line(step: Step) -> str:
    source = step.cells[0].source
    first = next(line for line in source.split("\n") if line.strip())
    return first.strip()[len("%%mlops sweep"):]


def sweep_settings(pipeline: Pipeline, step: Step) -> dict[str, Any]:
    """What the engine's tasks need to run ``step``'s sweep; one clear line when the cell's
    line or space cannot be read, or the step holds more than the sweep cell."""
    from ..sweep.space import parse_annotations, parse_space

    where = f"step {step.name!r} (cell {step.cells[0].number})"
    if len(step.cells) > 1:
        others = ", ".join(str(c.number) for c in step.cells[1:])
        raise UserInputError(f"{where} is a sweep, and cells {others} join it: start them "
                             "with %%mlops step NAME (on an engine a sweep step is its cell "
                             "alone, run once per trial)")
    parser = CommandParser(prog="%%mlops sweep", add_help=False)
    _configure_sweep(parser)
    line = _line(step)
    try:
        args = parser.parse_args(shlex.split(line))
    except ValueError as exc:
        raise UserInputError(f"{where}: cannot read '%%mlops sweep{line}' ({exc})") from None
    except UserInputError as exc:
        raise UserInputError(f"{where}: {str(exc).split('; usage:')[0]}") from None
    if args.space:
        space = parse_space(args.space)
    else:
        space = {}
        for cell in pipeline.prelude:
            if cell.role == "parameters":
                space.update(parse_annotations(cell.source))
    if not space:
        raise UserInputError(f"{where}: nothing to sweep: give --space \"NAME=KIND(ARGS) …\" or "
                             "'# sweep: KIND(ARGS)' comments on the parameters cell's lines")
    names = {p.name for p in pipeline.parameters}
    unknown = sorted(set(space) - names)
    if unknown:
        raise UserInputError(f"{where}: {', '.join(unknown)} not in the parameters cell "
                             f"({', '.join(sorted(names)) or 'it sets none'}): sweep only the "
                             "parameters it sets")
    if args.sampler == "grid":
        for name, dist in space.items():
            dist.grid(name)
    return {
        "step": step.name,
        "study": args.name or f"{pipeline.name}-{step.name}",
        "metric": args.metric, "direction": args.direction, "sampler": args.sampler,
        "trials": args.trials, "seed": args.seed, "experiment": args.experiment,
        "register": args.register,
        "space": {name: {"kind": d.kind, "low": d.low, "high": d.high, "log": d.log,
                         "values": list(d.values)} for name, d in space.items()},
        "space_text": " ".join(f"{k}={v}" for k, v in space.items()),
    }


def engine_notes(pipeline: Pipeline) -> list[str]:
    """What an export of the pipeline's sweep steps does differently from the magic."""
    steps = [s.name for s in pipeline.steps if is_sweep_step(s)]
    if not steps:
        return []
    return [f"sweep step{'s' if len(steps) > 1 else ''} {', '.join(steps)}: the trials' "
            "parameters are drawn up front (random, or the grid) by a plan task, each trial is a "
            "mapped task and a child run of the sweep's parent run, and a best task hands on "
            "the best trial's outputs; the engine sets how many run at once (not --jobs), no "
            "trial is pruned, --resume, --storage and --timeout do not apply, and the workers "
            "need jupyter-mlops[tracking]"]


# --------------------------------------------------------------------------- generated code
# A sweep step is three tasks: NAME.plan, NAME.trial (mapped over the plan) and NAME.best,
# whose result the steps after it read. What comes from the notebook reaches these lines as
# literals made by the export (``spec``, ``sweep``, ``upstream``) or as identifiers it checked.


#: names the sweep tasks' code binds or reads, beside the export's own
OWN_NAMES: dict[str, tuple[str, ...]] = {
    "airflow": ("sweep_plan", "sweep_trial", "sweep_best", "trial", "trials"),
    "prefect": ("sweep_plan", "sweep_trial", "sweep_best", "trial", "trials", "unmapped"),
    "kfp": ("sweep_runtime", "trial", "trials"),
}


def task_names(step: Step) -> tuple[str, str, str]:
    """The Python names of the plan, trial and best tasks."""
    return f"{step.ident}__plan", f"{step.ident}__trial", f"{step.ident}__best"


def settings_const(step: Step) -> str:
    return f"{step.ident.upper()}_SWEEP"


def airflow_helpers(trigger: str) -> str:
    """The DAG file's functions that the sweep tasks call."""
    return AIRFLOW_TRIAL.replace("TRIGGER", repr(trigger)) + PLAN_AND_BEST


AIRFLOW_TRIAL = '''\
def sweep_trial(spec: dict[str, Any], sweep: dict[str, Any], trial: dict[str, Any],
                upstream: dict[str, Any]) -> dict[str, Any]:
    """One trial of a sweep step, with the parameters of this DAG run."""
    from jupyter_mlops.pipeline import sweep_runtime

    params = dict(get_current_context()['params'])
    params.pop(TRIGGER, None)
    return sweep_runtime.trial(spec, sweep, trial, artifacts=ARTIFACTS, upstream=upstream,
                               params=params, endpoint_url=ENDPOINT_URL)


'''

PREFECT_TRIAL = '''\
def sweep_trial(spec: dict[str, Any], sweep: dict[str, Any], trial: dict[str, Any],
                upstream: dict[str, Any], pipeline_params: dict[str, Any]) -> dict[str, Any]:
    """One trial of a sweep step, with the flow's parameters."""
    from jupyter_mlops.pipeline import sweep_runtime

    return sweep_runtime.trial(spec, sweep, trial, artifacts=ARTIFACTS, upstream=upstream,
                               params=pipeline_params, endpoint_url=ENDPOINT_URL)


'''

PLAN_AND_BEST = '''\
def sweep_plan(sweep: dict[str, Any]) -> list[dict[str, Any]]:
    from jupyter_mlops.pipeline import sweep_runtime

    return sweep_runtime.plan(sweep)


def sweep_best(sweep: dict[str, Any], trials: Any) -> dict[str, Any]:
    from jupyter_mlops.pipeline import sweep_runtime

    return sweep_runtime.best(sweep, list(trials))


'''
PREFECT_HELPERS = PREFECT_TRIAL + PLAN_AND_BEST


def airflow_tasks(step: Step, spec: str, args: str, upstream: str) -> str:
    plan, trial, best = task_names(step)
    sweep = settings_const(step)
    extra = f", {args}" if args else ""
    return (f"    @task(task_id={step.name + '.plan'!r})\n"
            f"    def {plan}() -> list[dict[str, Any]]:\n"
            f"        return sweep_plan({sweep})\n\n"
            f"    @task(task_id={step.name + '.trial'!r}, retries={step.retries!r})\n"
            f"    def {trial}(trial: dict[str, Any]{extra}) -> dict[str, Any]:\n"
            f"        return sweep_trial({spec}, {sweep}, trial, {upstream})\n\n"
            f"    @task(task_id={step.name + '.best'!r})\n"
            f"    def {best}(trials: Any) -> dict[str, Any]:\n"
            f"        return sweep_best({sweep}, trials)\n\n")


def airflow_call(step: Step, deps: list[str]) -> str:
    plan, trial, best = task_names(step)
    partial = ", ".join(f"{d}=out_{d}" for d in deps)
    return (f"    out_{step.ident} = {best}({trial}.partial({partial})"
            f".expand(trial={plan}()))\n")


def prefect_tasks(step: Step, spec: str, args: str, upstream: str, tags: str) -> str:
    plan, trial, best = task_names(step)
    sweep = settings_const(step)
    return (f"@task(name={step.name + '.plan'!r}, cache_policy=NO_CACHE, tags={tags})\n"
            f"def {plan}() -> list[dict[str, Any]]:\n"
            f"    return sweep_plan({sweep})\n\n\n"
            f"@task(name={step.name + '.trial'!r}, retries={step.retries!r}, "
            f"cache_policy=NO_CACHE, tags={tags})\n"
            f"def {trial}(trial: dict[str, Any], pipeline_params: dict[str, Any]{args}) "
            "-> dict[str, Any]:\n"
            f"    return sweep_trial({spec}, {sweep}, trial, {upstream}, pipeline_params)\n\n\n"
            f"@task(name={step.name + '.best'!r}, cache_policy=NO_CACHE, tags={tags})\n"
            f"def {best}(trials: list[dict[str, Any]]) -> dict[str, Any]:\n"
            f"    return sweep_best({sweep}, trials)\n\n\n")


def prefect_call(step: Step, deps: list[str]) -> str:
    plan, trial, best = task_names(step)
    unmapped = "".join(f", {d}=unmapped(out_{d})" for d in deps)
    return (f"    out_{step.ident} = {best}.submit({trial}.map({plan}(), "
            f"unmapped(pipeline_params){unmapped}))\n")


def kfp_components(step: Step, spec: str, sweep: str, args: list[str], upstream: str,
                   params: str, artifacts: str, endpoint: str) -> str:
    plan, trial, best = task_names(step)
    component = "@dsl.component(base_image=BASE_IMAGE, packages_to_install=PACKAGES)\n"
    runtime = "    from jupyter_mlops.pipeline import sweep_runtime\n\n"
    return (f"{component}def {plan}() -> list:\n{runtime}"
            f"    return sweep_runtime.plan({sweep})\n\n\n"
            f"{component}def {trial}({', '.join(['trial: dict', *args])}) -> dict:\n"
            f"    import os\n\n{runtime}"
            f"    spec = {spec}\n"
            f"    return sweep_runtime.trial(\n"
            f"        spec, {sweep}, trial,\n"
            f"        artifacts=os.environ.get('MLOPS_PIPELINE_ARTIFACTS', {artifacts}),\n"
            f"        endpoint_url=os.environ.get('AWS_ENDPOINT_URL', {endpoint}),\n"
            f"        upstream={upstream}, params={params})\n\n\n"
            f"{component}def {best}(trials: list) -> dict:\n{runtime}"
            f"    return sweep_runtime.best({sweep}, trials)\n\n\n")


def kfp_call(step: Step, kwargs: list[str], settings: list[str]) -> str:
    """The pipeline's lines for a sweep step; ``settings`` (``.set_retry(…)`` and the like)
    go to the task its trials run in."""
    plan, trial, best = task_names(step)
    item = f"{step.ident}__item"
    lines = (f"    task_{plan} = {plan}()\n"
             f"    task_{plan}.set_display_name({step.name + '.plan'!r})\n"
             f"    task_{plan}.set_caching_options(enable_caching=False)\n"
             f"    with dsl.ParallelFor(task_{plan}.output) as {item}:\n"
             f"        task_{trial} = {trial}({', '.join([f'trial={item}', *kwargs])})\n"
             f"        task_{trial}.set_display_name({step.name + '.trial'!r})\n"
             f"        task_{trial}.set_caching_options(enable_caching=False)\n"
             + "".join(f"        task_{trial}{call}\n" for call in settings) +
             f"    task_{step.ident} = {best}(trials=dsl.Collected(task_{trial}.output))\n"
             f"    task_{step.ident}.set_display_name({step.name + '.best'!r})\n"
             f"    task_{step.ident}.set_caching_options(enable_caching=False)\n")
    return lines


def own_names(step: Step, engine: str) -> list[tuple[str, str]]:
    """Names the export binds for a sweep step, for ``check_names``."""
    plan, trial, best = task_names(step)
    what = f"a task of sweep step {step.name!r}"
    names = [(plan, what), (trial, what), (best, what)]
    if engine == "kfp":
        names += [(f"task_{plan}", what), (f"task_{trial}", what),
                  (f"{step.ident}__item", what)]
    else:
        names.append((settings_const(step), f"the settings of sweep step {step.name!r}"))
    return names
