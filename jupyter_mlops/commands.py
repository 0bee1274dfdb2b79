"""The verbs of ``%mlops`` and ``jupyter mlops``: one argument parser serves both adapters.

The core verbs (``status``, ``demo``) are declared here; every other verb is declared by its
capability (``CAPABILITY`` in the package's ``__init__``), found through
``CAPABILITY_PACKAGES``. Declarations are light data: a parse configures only the parser of the
verb being run, so ``%mlops features …`` loads nothing of the other capabilities.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import math
from collections.abc import Sequence
from typing import IO, Any

from .verb import (
    CLI_ONLY,
    Adapter,
    Capability,
    CommandParser,
    Context,
    HelpShown,
    UsageError,
    Verb,
    lazy,
)

#: The capabilities, in the order the sidebar and ``--help`` show them: each package exports
#: ``CAPABILITY`` (its verbs) from its ``__init__``, ``health.CHECKS`` and ``routes.ROUTES``.
CAPABILITY_PACKAGES: tuple[str, ...] = (
    "jupyter_mlops.features",
    "jupyter_mlops.tracking",
    "jupyter_mlops.pipeline",
    "jupyter_mlops.review",
    "jupyter_mlops.deploy",
    "jupyter_mlops.monitor",
)

__all__ = [
    "CAPABILITY_PACKAGES",
    "CommandParser",
    "Context",
    "HelpShown",
    "UsageError",
    "Verb",
    "build_parser",
    "capabilities",
    "parse",
    "run",
    "verbs_for",
]


# --------------------------------------------------------------------------- core verbs


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


#: ``status`` comes first in ``--help``, ``demo`` last; the capabilities' verbs between
STATUS = Verb("status", "configuration and health of every backend", configure=_status_args,
              # status walks this registry: named, not imported, so the two stay apart
              run=lazy("jupyter_mlops.status:run_status"))
DEMO = Verb("demo", "open the demo notebook in JupyterLab, or run it headless",
            configure=_demo_args, run=_run_demo, adapters=CLI_ONLY)


# --------------------------------------------------------------------------- discovery


def capabilities() -> list[Capability]:
    """Each capability's declaration, in ``CAPABILITY_PACKAGES`` order (importing a
    capability's package is cheap: its modules load when a verb runs)."""
    return [importlib.import_module(package).CAPABILITY for package in CAPABILITY_PACKAGES]


def verbs_for(adapter: Adapter) -> list[Verb]:
    """The verbs ``adapter`` offers, in ``--help`` order."""
    verbs = [STATUS, *(verb for cap in capabilities() for verb in cap.verbs), DEMO]
    return [verb for verb in verbs if adapter in verb.adapters]


def build_parser(verbs: Sequence[Verb], prog: str, help_file: IO[str] | None = None,
                 configure: str | None = None) -> tuple[CommandParser, dict[str, CommandParser]]:
    """The top-level parser and one child parser per verb; only the child of the verb named
    ``configure`` gets its arguments (the top-level help needs names and help lines only)."""
    lines = [f"  {verb.name:<12} {verb.help}" for verb in verbs]
    parser = CommandParser(
        prog=prog,
        help_file=help_file,
        usage="%(prog)s VERB [options]",
        description="The ML loop inside the notebook: features, experiments, pipelines, "
        "review, deploy and monitoring.\n\nverbs:\n" + "\n".join(lines),
        epilog=f"Run '{prog} VERB --help' for a verb's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB", help=argparse.SUPPRESS,
                                parser_class=CommandParser)
    children: dict[str, CommandParser] = {}
    for verb in verbs:
        child = sub.add_parser(verb.name, prog=f"{prog} {verb.name}", help=verb.help,
                               description=verb.help, help_file=help_file)
        if verb.name == configure:
            verb.configure(child)
        children[verb.name] = child
    return parser, children


def parse(argv: Sequence[str], adapter: Adapter, prog: str,
          help_file: IO[str] | None = None) -> tuple[Verb, argparse.Namespace]:
    """Parse a command line; raises UsageError (unknown verb, bad flag) or HelpShown."""
    verbs = {v.name: v for v in verbs_for(adapter)}
    if argv and not argv[0].startswith("-") and argv[0] not in verbs:
        head = argv[0]
        guess = difflib.get_close_matches(head, verbs, n=1)
        hint = f" (did you mean '{guess[0]}'?)" if guess else ""
        raise UsageError(f"unknown verb '{head}'{hint}; verbs: {', '.join(verbs)}. "
                         f"See '{prog} --help'.")
    # the verb is the first word; flags before it are the top-level parser's (only --help)
    named = next((word for word in argv if not word.startswith("-")), None)
    parser, children = build_parser(list(verbs.values()), prog, help_file, configure=named)
    if not argv:
        parser.print_help()
        raise HelpShown()
    args, extra = parser.parse_known_args(list(argv))
    if args.verb is None:
        flags = f"unrecognized arguments: {' '.join(extra)}; " if extra else ""
        raise UsageError(f"{flags}a verb is needed; verbs: {', '.join(verbs)}")
    if extra:
        children[args.verb].error(f"unrecognized arguments: {' '.join(extra)}")
    return verbs[args.verb], args


def run(verb: Verb, args: argparse.Namespace, ctx: Context) -> Any:
    """Run a parsed verb; it returns one result object, which the adapter renders."""
    return verb.run(args, ctx)
