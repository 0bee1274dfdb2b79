"""``jupyter mlops …``: the command-line adapter over the same verbs as ``%mlops``."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from .commands import Context, HelpShown, UsageError, parse, run
from .errors import MLOpsError

PROG = "jupyter mlops"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        verb, args = parse(argv, "cli", PROG)
        result = run(verb, args, Context(adapter="cli"))
    except HelpShown:
        return 0
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except MLOpsError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    try:
        code = render(result, as_json=getattr(args, "json", False))
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (`jupyter mlops status --json | head`): not an error of ours;
        # point stdout at /dev/null so the interpreter's final flush does not complain
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


def render(result: Any, *, as_json: bool) -> int:
    """Print a verb's result; the exit code says whether it went well."""
    from .status import StatusReport

    if isinstance(result, int):
        return result
    if isinstance(result, StatusReport):
        if as_json:
            print(json.dumps(result.to_dict(), indent=2))
        elif result.config_error:
            print(f"{PROG}: {result.config_error}", file=sys.stderr)
        else:
            print(result.to_text())
        return 0 if result.ok else 1
    if result is not None:
        print(result)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
