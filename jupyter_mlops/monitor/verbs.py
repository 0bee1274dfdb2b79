"""``%mlops monitor|inferences`` and ``jupyter mlops monitor|inferences``.

``monitor NAME`` returns a ``MonitorSummary`` (a card with charts in a notebook, text with
sparklines in a terminal); ``inferences NAME`` returns the logged requests as a DataFrame,
or with ``--into`` stores them in a variable (notebook) or writes a Parquet/CSV file
(command line) and says what went where.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import load_config
from ..verb import Context, UsageError, positive_int

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    from .overview import MonitorSummary


def _common(parser: argparse.ArgumentParser, since: str | None) -> None:
    parser.add_argument("name", help="deployment name")
    shown = f" (default {since})" if since else " (default: the whole log)"
    parser.add_argument("--since", default=since, metavar="WHEN",
                        help=f"a duration back from now (15m, 1h, 2d) or an ISO 8601 time{shown}")


def configure_monitor(parser: argparse.ArgumentParser) -> None:
    _common(parser, "1h")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def configure_inferences(parser: argparse.ArgumentParser) -> None:
    _common(parser, None)
    parser.add_argument("--until", default=None, metavar="WHEN",
                        help="the end of the window, like --since (default: now)")
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N",
                        help="only the latest N requests")
    parser.add_argument("--into", default=None, metavar="NAME",
                        help="notebook: store the frame in this variable; CLI: write it to "
                        "this Parquet/CSV file")
    parser.add_argument("--json", action="store_true", help="print the requests as JSON")


@dataclass
class InferencesSaved:
    """``inferences --into``: where the logged requests went (a variable, or a file on the
    command line), and how many of the window's rows they are."""

    name: str
    into: str
    frame: pd.DataFrame = field(repr=False)
    total: int
    written: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"deployment": self.name, "into": str(self.written or self.into),
                "rows": len(self.frame), "total": self.total,
                "columns": [str(c) for c in self.frame.columns]}

    def to_text(self) -> str:
        where = str(self.written) if self.written is not None else self.into
        of = f" (the latest of {self.total:,})" if self.total > len(self.frame) else ""
        return (f"{where}: {len(self.frame):,} logged requests of '{self.name}'{of} × "
                f"{len(self.frame.columns)} columns")

    def __repr__(self) -> str:
        return self.to_text()


def run_monitor(args: argparse.Namespace, ctx: Context) -> MonitorSummary:
    from .api import summary  # a parse (or --help) loads no more than this module

    return summary(args.name, args.since, cwd=ctx.cwd)


def run_inferences(args: argparse.Namespace, ctx: Context) -> Any:
    if args.into and ctx.interactive and not args.into.isidentifier():
        raise UsageError(f"--into {args.into!r} is not a variable name")
    if args.into and not ctx.interactive and Path(args.into).suffix.lower() not in (
            ".parquet", ".pq", ".csv"):
        raise UsageError(f"--into {args.into}: give a .parquet or .csv file")
    from .api import read_log

    frame, total = read_log(args.name, args.since, args.until, args.limit, cwd=ctx.cwd)
    if not args.into:
        return frame
    written = ctx.keep_frame(frame, args.into)
    return InferencesSaved(args.name, args.into, frame, total, written)


CONFIGURE: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "monitor": configure_monitor, "inferences": configure_inferences}
RUN: dict[str, Callable[[argparse.Namespace, Context], Any]] = {
    "monitor": run_monitor, "inferences": run_inferences}


def configure(verb: str, parser: argparse.ArgumentParser) -> None:
    CONFIGURE[verb](parser)


def run(verb: str, args: argparse.Namespace, ctx: Context) -> Any:
    load_config(ctx.cwd)  # a broken config is reported before anything is read
    return RUN[verb](args, ctx)
