"""The verbs of ``%mlops`` and ``jupyter mlops``: one argument parser serves both adapters.

Each verb declares its arguments and a ``run`` function returning a plain result object;
the magic renders that result as rich output, the CLI as text or JSON. Verbs of capabilities
that have not been built yet are listed (so ``--help`` shows the whole shape of the tool) and
answer with a clear "not built yet" instead of pretending.
"""

from __future__ import annotations

import argparse
import difflib
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, NoReturn

from .errors import NotBuiltError
from .verb import CommandParser, Context, HelpShown, UsageError

#: The capabilities, in the order the sidebar and ``--help`` show them: each package exports
#: ``CAPABILITY`` (its verbs) from its ``__init__``, ``health.CHECKS`` and ``routes.ROUTES``.
CAPABILITY_PACKAGES: tuple[str, ...] = (
    "jupyter_mlops.features",
    "jupyter_mlops.tracking",
    "jupyter_mlops.pipeline",
    "jupyter_mlops.review",
    "jupyter_mlops.deploy",
)

__all__ = ["CAPABILITY_PACKAGES", "CommandParser", "Context", "HelpShown", "UsageError", "Verb", "parse", "run"]


@dataclass(frozen=True)
class Verb:
    name: str
    help: str
    capability: str | None = None  # None: not tied to one capability
    issue: int | None = None  # where a not-yet-built verb is tracked
    configure: Callable[[argparse.ArgumentParser], None] | None = None
    run: Callable[[argparse.Namespace, Context], Any] | None = None  # None: not built yet
    adapters: frozenset[str] = frozenset({"cli", "magic"})
    cell: bool = False  # a %%mlops cell verb

    @property
    def built(self) -> bool:
        return self.run is not None


# --------------------------------------------------------------------------- the verbs


def _seconds(text: str) -> float:
    """A ``--timeout`` value: a finite number of seconds greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds greater than 0, "
                                         f"not {text!r}")
    return value


def _status_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                        help="bound on each backend check (default: status.timeout, 3 s)")


def _run_status(args: argparse.Namespace, ctx: Context) -> Any:
    from .status import collect_status

    return collect_status(ctx.cwd, timeout=args.timeout,
                          default_timeout=ctx.options.get("status_timeout"))


def _demo_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", nargs="?", default=None,
                        help="the demo notebook (default: binder/demo.ipynb of this checkout)")
    parser.add_argument("--headless", action="store_true",
                        help="execute the notebook end to end and exit non-zero on any error")
    parser.add_argument("--timeout", type=int, default=600, metavar="SECONDS",
                        help="per-cell time limit in headless mode (default 600)")


def _run_demo(args: argparse.Namespace, ctx: Context) -> Any:
    from .demo import run_demo

    return run_demo(args.notebook, headless=args.headless, cell_timeout=args.timeout)


def _track_args(parser: argparse.ArgumentParser) -> None:
    from .tracking.verbs import configure_track

    configure_track(parser)


def _run_track(args: argparse.Namespace, ctx: Context) -> Any:
    from .tracking.verbs import run_track

    return run_track(args, ctx)


def _param_args(parser: argparse.ArgumentParser) -> None:
    from .tracking.verbs import configure_param

    configure_param(parser)


def _run_param(args: argparse.Namespace, ctx: Context) -> Any:
    from .tracking.verbs import run_param

    return run_param(args, ctx)


def _tracking_verb(name: str, help: str) -> Verb:
    """A query verb of tracking (runs, compare, register); its module loads when used."""

    def configure(parser: argparse.ArgumentParser) -> None:
        from .tracking import verbs

        getattr(verbs, f"configure_{name}")(parser)

    def run(args: argparse.Namespace, ctx: Context) -> Any:
        from .tracking import verbs

        return getattr(verbs, f"run_{name}")(args, ctx)

    return Verb(name, help, "experiments", 3, configure=configure, run=run)


def _step_args(parser: argparse.ArgumentParser) -> None:
    from .pipeline.verbs import configure_step

    configure_step(parser)


def _run_step(args: argparse.Namespace, ctx: Context) -> Any:
    from .pipeline.verbs import run_step_cell

    return run_step_cell(args, ctx)


def _pipeline_args(parser: argparse.ArgumentParser) -> None:
    from .pipeline.verbs import configure_pipeline

    configure_pipeline(parser)


def _run_pipeline(args: argparse.Namespace, ctx: Context) -> Any:
    from .pipeline.verbs import run_pipeline_verb

    return run_pipeline_verb(args, ctx)


def _features_args(parser: argparse.ArgumentParser) -> None:
    from .features.verbs import configure

    configure(parser)


def _run_features(args: argparse.Namespace, ctx: Context) -> Any:
    from .features.verbs import run

    return run(args, ctx)


def _deploy_verb(name: str, help: str) -> Verb:
    """A verb of the deploy capability; its module loads when the verb is used."""

    def configure(parser: argparse.ArgumentParser) -> None:
        from .deploy.verbs import configure

        configure(name, parser)

    def run(args: argparse.Namespace, ctx: Context) -> Any:
        from .deploy.verbs import run

        return run(name, args, ctx)

    return Verb(name, help, "deploy", 7, configure=configure, run=run)


def _review_verb(name: str, help: str) -> Verb:
    """A verb of the review capability; its module loads when the verb is used."""

    def configure(parser: argparse.ArgumentParser) -> None:
        from .review.verbs import configure

        configure(name, parser)

    def run(args: argparse.Namespace, ctx: Context) -> Any:
        from .review.verbs import run

        return run(name, args, ctx)

    return Verb(name, help, "review", 6, configure=configure, run=run)


def _passthrough(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def _planned(name: str, help: str, capability: str, issue: int, *,
             adapters: frozenset[str] = frozenset({"cli", "magic"}), cell: bool = False) -> Verb:
    return Verb(name, help, capability, issue, _passthrough, None, adapters, cell)


MAGIC_ONLY = frozenset({"magic"})
CLI_ONLY = frozenset({"cli"})

VERBS: tuple[Verb, ...] = (
    Verb("status", "configuration and health of every backend", configure=_status_args,
         run=_run_status),
    Verb("features", "search, show, get, publish and look up features", "features", 4,
         configure=_features_args, run=_run_features),
    Verb("track", "run a cell (%%mlops track) or cells (start|end) inside an MLflow run",
         "experiments", 3, configure=_track_args, run=_run_track, adapters=MAGIC_ONLY,
         cell=True),
    Verb("param", "log parameters of the active run: k=v ...", "experiments", 3,
         configure=_param_args, run=_run_param, adapters=MAGIC_ONLY),
    _tracking_verb("runs", "list the runs of this notebook or an experiment"),
    _tracking_verb("compare", "compare runs: parameter differences and metric histories"),
    _tracking_verb("register", "register a run's model and set an alias"),
    Verb("step", "mark a cell as a pipeline step (%%mlops step NAME) and run it", "pipeline",
         5, configure=_step_args, run=_run_step, adapters=MAGIC_ONLY, cell=True),
    Verb("pipeline", "show, run or export the notebook as a pipeline", "pipeline", 5,
         configure=_pipeline_args, run=_run_pipeline),
    _review_verb("diff", "cell-aware diff of a notebook against git (or its checkpoint)"),
    _review_verb("review", "list, show, comment on, approve or request changes to a "
                 "notebook change"),
    _deploy_verb("deploy", "deploy a model to the local GPU server, KServe or SageMaker"),
    _deploy_verb("deployments", "list deployments with status and health"),
    _deploy_verb("predict", "send data to a deployment and get predictions"),
    _deploy_verb("rollback", "return a deployment to its previous version"),
    _deploy_verb("undeploy", "stop and remove a deployment"),
    _deploy_verb("logs", "show a deployment's logs"),
    Verb("demo", "open the demo notebook in JupyterLab, or run it headless",
         configure=_demo_args, run=_run_demo, adapters=CLI_ONLY),
)


def verbs_for(adapter: str) -> list[Verb]:
    return [v for v in VERBS if adapter in v.adapters]


def build_parser(adapter: str, prog: str, help_file: IO[str] | None = None
                 ) -> tuple[CommandParser, dict[str, CommandParser]]:
    """The top-level parser and one child parser per verb."""
    verbs = verbs_for(adapter)
    lines = []
    for verb in verbs:
        suffix = "" if verb.built else f"  [coming: issue #{verb.issue}]"
        lines.append(f"  {verb.name:<12} {verb.help}{suffix}")
    parser = CommandParser(
        prog=prog,
        help_file=help_file,
        usage="%(prog)s VERB [options]",
        description="The ML loop inside the notebook: features, experiments, pipelines, "
        "review and deploy.\n\nverbs:\n" + "\n".join(lines),
        epilog=f"Run '{prog} VERB --help' for a verb's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB", help=argparse.SUPPRESS,
                                parser_class=CommandParser)
    children: dict[str, CommandParser] = {}
    for verb in verbs:
        child = sub.add_parser(verb.name, prog=f"{prog} {verb.name}", help=verb.help,
                               description=verb.help,
                               help_file=help_file)
        if verb.configure is not None:
            verb.configure(child)
        children[verb.name] = child
    return parser, children


def parse(argv: Sequence[str], adapter: str, prog: str,
          help_file: IO[str] | None = None) -> tuple[Verb, argparse.Namespace]:
    """Parse a command line; raises UsageError (unknown verb, bad flag) or HelpShown."""
    verbs = {v.name: v for v in verbs_for(adapter)}
    parser, children = build_parser(adapter, prog, help_file)
    if not argv:
        parser.print_help()
        raise HelpShown()
    head = argv[0]
    if not head.startswith("-") and head not in verbs:
        guess = difflib.get_close_matches(head, verbs, n=1)
        hint = f" (did you mean '{guess[0]}'?)" if guess else ""
        raise UsageError(f"unknown verb '{head}'{hint}; verbs: {', '.join(verbs)}. "
                         f"See '{prog} --help'.")
    args, extra = parser.parse_known_args(list(argv))
    if args.verb is None:
        flags = f"unrecognized arguments: {' '.join(extra)}; " if extra else ""
        raise UsageError(f"{flags}a verb is needed; verbs: {', '.join(verbs)}")
    if extra:
        children[args.verb].error(f"unrecognized arguments: {' '.join(extra)}")
    return verbs[args.verb], args


def run(verb: Verb, args: argparse.Namespace, ctx: Context) -> Any:
    if verb.run is None:
        raise NotBuiltError(
            f"'{verb.name}' is not built yet: the {verb.capability} capability arrives with "
            f"issue #{verb.issue}. 'status' shows what works today."
        )
    return verb.run(args, ctx)
