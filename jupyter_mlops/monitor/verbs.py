"""``%mlops monitor|inferences|drift|labels|performance|rule|check`` and the same CLI verbs:
thin adapters over the monitor's API.

``monitor NAME`` returns a ``MonitorSummary`` (a card with charts in a notebook, text with
sparklines in a terminal); ``inferences NAME`` returns the logged requests as a DataFrame,
or with ``--into`` stores them in a variable (notebook) or writes a Parquet/CSV file
(command line) and says what went where. ``drift NAME`` compares the logged inputs with the
deployment's reference (a ``DriftReport``); ``labels NAME VAR|FILE`` logs late ground truth;
``performance NAME`` is a metric over time against the training run's; ``rule add|list|
remove`` keeps the rules ``check NAME`` evaluates (and fires).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..config import load_config
from ..verb import Context, UsageError, positive_int

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    from .check import CheckResult
    from .overview import MonitorSummary
    from .rules import Rule

FRAME_FILES = (".parquet", ".pq", ".csv")


def _common(parser: argparse.ArgumentParser, since: str | None) -> None:
    parser.add_argument("name", help="deployment name")
    shown = f" (default {since})" if since else " (default: the whole log)"
    parser.add_argument("--since", default=since, metavar="WHEN",
                        help=f"a duration back from now (15m, 1h, 2d) or an ISO 8601 time{shown}")


def _until(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--until", default=None, metavar="WHEN",
                        help="the end of the window, like --since (default: now)")


def _json_flag(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")


# --------------------------------------------------------------------------- Monitor I


def configure_monitor(parser: argparse.ArgumentParser) -> None:
    _common(parser, "1h")
    _json_flag(parser, "the summary")


def configure_inferences(parser: argparse.ArgumentParser) -> None:
    _common(parser, None)
    _until(parser)
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N",
                        help="only the latest N requests")
    parser.add_argument("--into", default=None, metavar="NAME",
                        help="notebook: store the frame in this variable; CLI: write it to "
                        "this Parquet/CSV file")
    _json_flag(parser, "the requests")


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
    if args.into and not ctx.interactive and Path(args.into).suffix.lower() not in FRAME_FILES:
        raise UsageError(f"--into {args.into}: give a .parquet or .csv file")
    from .api import read_log

    frame, total = read_log(args.name, args.since, args.until, args.limit, cwd=ctx.cwd)
    if not args.into:
        return frame
    written = ctx.keep_frame(frame, args.into)
    return InferencesSaved(args.name, args.into, frame, total, written)


# --------------------------------------------------------------------------- rules


def configure_rule(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("WHEN: drift | drift:FEATURE | metric:NAME<0.8 (<, <=, >, >=) | "
                     "rows>10000. Example: rule add churn --when drift:age --then "
                     "retrain.ipynb --cooldown 6h; then 'check churn' evaluates the rules")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="start a notebook's pipeline when a condition holds")
    add.add_argument("name", help="deployment name")
    add.add_argument("--when", required=True, metavar="WHEN",
                     help="drift, drift:FEATURE, metric:NAME<VALUE or rows>N")
    add.add_argument("--then", required=True, metavar="NOTEBOOK",
                     help="the retraining notebook (inside the project)")
    add.add_argument("--target", default="local", metavar="TARGET",
                     help="where its pipeline runs: local (default), airflow or prefect")
    add.add_argument("--cooldown", default=None, metavar="DURATION",
                     help="at most one firing per this long: seconds or 30m, 6h, 1d "
                     "(default: monitor.cooldown)")
    _json_flag(add, "the rule")
    listed = sub.add_parser("list", help="a deployment's rules and their last firing")
    listed.add_argument("name", help="deployment name")
    _json_flag(listed, "the rules")
    remove = sub.add_parser("remove", help="remove a rule")
    remove.add_argument("name", help="deployment name")
    remove.add_argument("rule_id", metavar="ID", help="the rule's id (as 'rule list' shows)")
    _json_flag(remove, "the removed id")


def _ago(when: Any) -> str:
    return "never" if not when else str(when)[:19].replace("T", " ")


@dataclass
class RulesShown:
    """What a ``rule`` action shows: the rule added or removed, or a deployment's rules."""

    name: str
    action: Literal["added", "listed", "removed"]
    rules: list[Rule]

    def to_dict(self) -> dict[str, Any]:
        if self.action == "added":
            return self.rules[0].to_dict()
        if self.action == "removed":
            return {"removed": self.rules[0].to_dict()["id"]}
        return {"rules": [r.to_dict() for r in self.rules]}

    @staticmethod
    def line(data: dict[str, Any]) -> str:
        result = data.get("last_result") or {}
        status = f", last run {result.get('status')}" if result.get("status") else ""
        cooldown = ("the default cooldown" if data.get("cooldown_s") is None
                    else f"cooldown {data['cooldown_s']}s")
        return (f"[{data['id']}] when {data['when']} then {data['then']} ({data['target']}, "
                f"{cooldown}; fired {_ago(data.get('last_fired'))}{status})")

    def to_text(self) -> str:
        dicts = [r.to_dict() for r in self.rules]
        if self.action == "added":
            return f"{self.name}: rule added {self.line(dicts[0])}"
        if self.action == "removed":
            return f"{self.name}: rule {dicts[0]['id']} removed"
        if not dicts:
            return (f"{self.name}: no rules (add one: rule add {self.name} --when drift "
                    "--then retrain.ipynb)")
        return "\n".join([f"{self.name}: {len(dicts)} rule{'s' * (len(dicts) != 1)}",
                          *(f"  {self.line(d)}" for d in dicts)])

    def __repr__(self) -> str:
        return self.to_text()


def run_rule(args: argparse.Namespace, ctx: Context) -> RulesShown:
    from .rules import remove_rule, rule, rules

    if args.action == "add":
        added = rule(args.name, args.when, args.then, target=args.target,
                     cooldown=args.cooldown, cwd=ctx.cwd)
        return RulesShown(args.name, "added", [added])
    if args.action == "remove":
        return RulesShown(args.name, "removed", [remove_rule(args.name, args.rule_id,
                                                             cwd=ctx.cwd)])
    return RulesShown(args.name, "listed", rules(args.name, cwd=ctx.cwd))


# --------------------------------------------------------------------------- check


def configure_check(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Each rule fires at most once per its cooldown; a fired rule starts "
                     "its notebook's pipeline in the background (its log under the rules "
                     "folder). Example: check churn --dry-run")
    parser.add_argument("name", help="deployment name")
    parser.add_argument("--dry-run", action="store_true",
                        help="evaluate the rules, start nothing")
    _json_flag(parser, "the result")


def run_check(args: argparse.Namespace, ctx: Context) -> CheckResult:
    from .check import check

    return check(args.name, fire=not args.dry_run, cwd=ctx.cwd)


# --------------------------------------------------------------------------- dispatch

CONFIGURE: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "monitor": configure_monitor, "inferences": configure_inferences,
    "rule": configure_rule, "check": configure_check}
RUN: dict[str, Callable[[argparse.Namespace, Context], Any]] = {
    "monitor": run_monitor, "inferences": run_inferences, "rule": run_rule,
    "check": run_check}


def configure(verb: str, parser: argparse.ArgumentParser) -> None:
    CONFIGURE[verb](parser)


def run(verb: str, args: argparse.Namespace, ctx: Context) -> Any:
    load_config(ctx.cwd)  # a broken config is reported before anything is read
    return RUN[verb](args, ctx)
