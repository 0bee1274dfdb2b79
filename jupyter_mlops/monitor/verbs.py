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
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..config import load_config
from ..errors import NotFoundError, UserInputError
from ..verb import Context, UsageError, positive_int

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    from .check import CheckResult
    from .drift_report import DriftReport
    from .labels import LabelsLogged
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


def frame_argument(source: str, ctx: Context, what: str, *, profiles: bool = False) -> Any:
    """The DataFrame ``source`` names: a notebook variable (in a kernel), or a Parquet/CSV
    file relative to the working folder (anywhere). With ``profiles``, a reference
    ``Profile`` too: a variable holding one, or a saved ``.json`` profile (a run's
    ``monitor/reference.json``). One line when it is none of these."""
    import pandas as pd

    path = Path(ctx.cwd) / source
    suffix = path.suffix.lower()
    if ctx.namespace is not None and source in ctx.namespace:
        value = ctx.namespace[source]
    elif suffix in FRAME_FILES or (profiles and suffix == ".json"):
        value = _read_file(path, source, what)
    elif ctx.namespace is not None:
        raise UsageError(f"{what}: no variable {source!r} in the notebook, and not a "
                         ".parquet or .csv file")
    else:
        raise UsageError(f"{what}: give a .parquet or .csv file, not {source!r}")
    if isinstance(value, pd.DataFrame):
        return value
    if profiles and type(value).__name__ == "Profile":
        from .profile import Profile

        if isinstance(value, Profile):
            return value
    kinds = "a DataFrame or a Profile" if profiles else "a DataFrame"
    raise UserInputError(f"{what}: {source} is a {type(value).__name__}, not {kinds}")


def _read_file(path: Path, source: str, what: str) -> Any:
    """A Parquet or CSV file as a DataFrame, a ``.json`` file as a reference Profile."""
    if not path.is_file():
        raise NotFoundError(f"{what}: no file {source} (in {path.parent})")
    import pandas as pd

    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path, dtype={"request_id": "string"})
        if path.suffix.lower() == ".json":
            from .profile import Profile

            return Profile.from_json(json.loads(path.read_text(encoding="utf-8")),
                                     what=f"{what} {source}")
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:  # pyarrow's and json's errors are ValueErrors too
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserInputError(f"{what}: cannot read {source}: {first}") from None


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


# --------------------------------------------------------------------------- drift


def configure_drift(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("The reference is found through deployment → model version → run "
                     "(captured by a tracked features.get, or set with log_model(..., "
                     "reference=df) or mlops.monitor.set_reference(NAME, df)). "
                     "Example: drift churn --since 24h")
    _common(parser, None)
    _until(parser)
    parser.add_argument("--reference", default=None, metavar="VAR|FILE",
                        help="compare with this frame instead (a notebook variable, a "
                        "Parquet/CSV file, or a saved reference.json profile)")
    _json_flag(parser, "the report")


def run_drift(args: argparse.Namespace, ctx: Context) -> DriftReport:
    reference = None
    if args.reference:
        reference = frame_argument(args.reference, ctx, "--reference", profiles=True)
    from .drift import drift

    return drift(args.name, since=args.since, until=args.until, reference=reference,
                 cwd=ctx.cwd)


# --------------------------------------------------------------------------- labels


def configure_labels(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("The frame has a request_id column (the X-Request-Id the deployment "
                     "answered with, or the logged request_id) and the label column; labels "
                     "may come days later, a later label for an id wins. Example: labels "
                     "churn outcomes --label churned")
    parser.add_argument("name", help="deployment name")
    parser.add_argument("source", metavar="VAR|FILE",
                        help="notebook: a DataFrame variable; anywhere: a Parquet/CSV file")
    parser.add_argument("--label", default=None, metavar="COLUMN",
                        help="the label column (default: the one column besides request_id)")
    _json_flag(parser, "what was logged")


def run_labels(args: argparse.Namespace, ctx: Context) -> LabelsLogged:
    frame = frame_argument(args.source, ctx, "labels")
    from .labels import log_labels

    return log_labels(args.name, frame, label=args.label, cwd=ctx.cwd)


# --------------------------------------------------------------------------- performance


def configure_performance(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Needs labels: log them with 'labels NAME VAR|FILE' (or "
                     "mlops.monitor.log_labels). Example: performance churn --metric f1 "
                     "--since 7d --by 1d")
    _common(parser, None)
    _until(parser)
    parser.add_argument("--metric", default="accuracy", metavar="METRIC",
                        help="accuracy (default), f1, auc, rmse or mae, per bucket")
    parser.add_argument("--by", default="1h", metavar="BUCKET",
                        help="the length of a bucket (15m, 1h, 1d; default 1h)")
    _json_flag(parser, "the points")


@dataclass
class Performance:
    """``performance NAME``: the metric per time bucket (``frame``, as
    ``mlops.monitor.performance`` returns it) and the training run's value beside it."""

    name: str
    frame: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        from .performance import performance_dict

        return {"name": self.name, **performance_dict(self.frame)}

    @property
    def metric(self) -> str:
        return str(self.frame.attrs.get("metric", "metric"))

    @property
    def training(self) -> float | None:
        value = self.frame.attrs.get("training")
        return None if value is None or value != value else float(value)  # NaN: none

    def to_text(self) -> str:
        data = self.to_dict()
        training = (f", training run: {self.training:.4g}" if self.training is not None
                    else ", no training value logged")
        head = f"{self.name}: {data['metric']} per {data['by']}{training}"
        if not data["points"]:
            return f"{head}\n{data.get('message') or 'no labelled requests in the window'}"
        lines = [head, f"{'time (UTC)':<20} {'value':>10} {'rows':>8}"]
        for point in data["points"]:
            value = "-" if point["value"] is None else f"{point['value']:.4g}"
            lines.append(f"{str(point['t'])[:19]:<20} {value:>10} {point['rows']:>8,}")
        if data.get("message"):
            lines.append(str(data["message"]))
        return "\n".join(lines)

    def vega_lite(self) -> dict[str, Any]:
        """The metric over time as a Vega-Lite v5 line, the training value a dashed rule."""
        data = self.to_dict()
        line: dict[str, Any] = {
            "mark": {"type": "line", "point": True},
            "data": {"values": [p for p in data["points"] if p["value"] is not None]},
            "encoding": {"x": {"field": "t", "type": "temporal", "title": "time (UTC)"},
                         "y": {"field": "value", "type": "quantitative",
                               "title": data["metric"]},
                         "tooltip": [{"field": "t", "type": "temporal"},
                                     {"field": "value", "type": "quantitative"},
                                     {"field": "rows", "type": "quantitative"}]}}
        layers = [line]
        if self.training is not None:
            layers.append({"mark": {"type": "rule", "strokeDash": [4, 4], "color": "#888"},
                           "data": {"values": [{"training": self.training}]},
                           "encoding": {"y": {"field": "training", "type": "quantitative"}}})
        return {"$schema": "https://vega.github.io/schema/vega-lite/v5.json",
                "title": f"{self.name}: {data['metric']} per {data['by']}",
                "width": 420, "height": 160, "layer": layers}

    def __repr__(self) -> str:
        return self.to_text()


def run_performance(args: argparse.Namespace, ctx: Context) -> Performance:
    from .performance import performance

    frame = performance(args.name, args.metric, since=args.since, until=args.until,
                        by=args.by, cwd=ctx.cwd)
    return Performance(args.name, frame)


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
                     help="where its pipeline runs (default local)")
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
    "drift": configure_drift, "labels": configure_labels,
    "performance": configure_performance,
    "rule": configure_rule, "check": configure_check}
RUN: dict[str, Callable[[argparse.Namespace, Context], Any]] = {
    "monitor": run_monitor, "inferences": run_inferences, "drift": run_drift,
    "labels": run_labels,
    "performance": run_performance, "rule": run_rule, "check": run_check}


def configure(verb: str, parser: argparse.ArgumentParser) -> None:
    CONFIGURE[verb](parser)


def run(verb: str, args: argparse.Namespace, ctx: Context) -> Any:
    load_config(ctx.cwd)  # a broken config is reported before anything is read
    return RUN[verb](args, ctx)
