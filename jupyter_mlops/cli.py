"""``jupyter mlops …``: the command-line adapter over the same verbs as ``%mlops``.

It gives verbs a ``Context`` whose frames are files and whose progress is lines on stderr,
and prints the verb's one result: as JSON with ``--json`` (``verb.as_data``), else as text
(``to_text()``, a DataFrame's table, or ``str``). A result whose ``ok`` is False exits 1.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from .commands import parse, run
from .errors import MLOpsError
from .verb import Context, HelpShown, UsageError, VerbFailed, as_data

PROG = "jupyter mlops"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args: Any = None
    try:
        verb, args = parse(argv, "cli", PROG)
        result = run(verb, args, Context(adapter="cli", prog=PROG))
        return _shown(result, args)
    except HelpShown:
        return 0
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except VerbFailed as exc:  # the outcome first (what failed, where the logs are)
        _shown(exc.result, args)
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except MLOpsError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _shown(result: Any, args: Any) -> int:
    """Print ``result``; a reader that went away (`… --json | head`) is not an error."""
    try:
        code = render(result, as_json=bool(getattr(args, "json", False)),
                      color=_color(args))
        sys.stdout.flush()
    except BrokenPipeError:
        # point stdout at /dev/null so the interpreter's final flush does not complain
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


def _color(args: Any) -> bool:
    """Colour for a terminal, unless ``--no-color`` or ``NO_COLOR`` say otherwise."""
    return (not getattr(args, "no_color", False) and sys.stdout.isatty()
            and "NO_COLOR" not in os.environ)


def render(result: Any, *, as_json: bool, color: bool = False) -> int:
    """Print a verb's result; the exit code says whether it went well."""
    from .status import StatusReport

    if isinstance(result, int) and not isinstance(result, bool):
        return result  # an exit code (``demo``)
    if result is None:
        return 0
    if as_json or (isinstance(result, dict | list) and not hasattr(result, "to_dicts")):
        print(json.dumps(as_data(result), indent=2, default=str))
    elif isinstance(result, StatusReport) and result.config_error:
        print(f"{PROG}: {result.config_error}", file=sys.stderr)
    else:
        print(text(result, color=color))
    return 1 if getattr(result, "ok", True) is False else 0


def text(result: Any, *, color: bool = False) -> str:
    """A verb's result as a terminal shows it."""
    if isinstance(result, str):
        return result
    if _is_notebook_diff(result):
        from .review.terminal import render_diff

        diff: str = render_diff(result, color=color)
        return diff
    to_text = getattr(result, "to_text", None)
    if callable(to_text):
        return str(to_text())
    if type(result).__name__ == "DataFrame" and hasattr(result, "to_string"):
        if result.empty:
            return "no rows"
        return str(result.to_string(index=False, max_rows=100, max_colwidth=40))
    return str(result)


def _is_notebook_diff(result: Any) -> bool:
    """A review diff, coloured for a terminal (asked only when the name matches, so nothing
    of review is imported otherwise)."""
    if type(result).__name__ != "NotebookDiff":
        return False
    from .review import NotebookDiff

    return isinstance(result, NotebookDiff)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
