"""``%mlops features search|show|get|publish|online`` and ``jupyter mlops features …``.

In the notebook, frames are variables of the user's namespace; on the command line they are
files (Parquet or CSV). Each action returns one result; the adapters show it.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import load_config
from ..verb import Context, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from .model import FeatureView


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, not {text!r}")
    return key.strip(), value.strip()


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Find, inspect and retrieve features: point-in-time correct training "
                          "frames and the latest values online.")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    search = sub.add_parser("search", help="views matching words of their name, description, "
                            "features, tags or owner",
                            description="Views whose name, description, features, field "
                            "descriptions, tags or owner match every word, newest publish "
                            "first.")
    search.add_argument("query", nargs="*", help="words to look for (none: every view)")
    search.add_argument("--tag", action="append", type=_pair, default=[], metavar="K=V",
                        help="only views with this tag; repeatable")
    search.add_argument("--owner", default=None, help="only views of this owner")
    show = sub.add_parser("show", help="schema, freshness, versions, statistics and runs of "
                          "a view", description="One feature view: schema, entities, TTL, "
                          "versions, owner, tags, freshness and the runs that used it.")
    show.add_argument("name")
    show.add_argument("--version", type=int, default=None)
    show.add_argument("--stats", action="store_true",
                      help="also compute its statistics (rows, nulls, min/max/mean, distinct)")
    get = sub.add_parser("get", help="a point-in-time correct training frame",
                         description="For each row of the entity frame, the features as they "
                         "were at its timestamp (never later): every row kept, in order.")
    get.add_argument("features", nargs="+",
                     help="view:feature, view:* or view@VERSION:feature (commas work too)")
    get.add_argument("--entities", required=True, metavar="FRAME",
                     help="the entity frame: a variable (notebook) or a Parquet/CSV file (CLI)")
    get.add_argument("--timestamp", required=True, metavar="COLUMN",
                     help="the entity frame's timestamp column")
    get.add_argument("--into", default=None, metavar="NAME",
                     help="notebook: store the frame in this variable; CLI: write it to this "
                     "Parquet/CSV file")
    get.add_argument("--full-names", action="store_true",
                     help="name columns view__feature (needed when two views share a name)")
    publish = sub.add_parser("publish", help="publish a frame as a feature view (appends; a "
                             "changed schema makes a new version)",
                             description="Publish a frame as (more rows of) a feature view.")
    publish.add_argument("frame", metavar="FRAME",
                         help="a variable (notebook) or a Parquet/CSV file (CLI)")
    publish.add_argument("--name", required=True)
    publish.add_argument("--entities", required=True, metavar="COLUMNS",
                         help="entity key column(s), comma separated")
    publish.add_argument("--timestamp", required=True, metavar="COLUMN")
    publish.add_argument("--created", default=None, metavar="COLUMN",
                         help="created timestamp column (breaks ties of the event time)")
    publish.add_argument("--description", default="")
    publish.add_argument("--owner", default=None)
    publish.add_argument("--tag", action="append", type=_pair, default=[], metavar="K=V")
    publish.add_argument("--ttl", default=None, help="how long a value stays valid: 3600, "
                         "30m, 12h, 7d")
    publish.add_argument("--describe", action="append", type=_pair, default=[],
                         metavar="COLUMN=TEXT", help="a column's description; repeatable")
    online = sub.add_parser("online", help="the latest values of some entities",
                            description="The latest features of each entity, e.g. "
                            "'online orders customer_id=1 customer_id=2' (or customer_id=1,2).")
    online.add_argument("name")
    online.add_argument("keys", nargs="+", type=_pair, metavar="KEY=VALUE")
    online.add_argument("--feature", action="append", default=None, metavar="NAME",
                        help="only this feature; repeatable")
    for child in (search, show, get, publish, online):
        child.add_argument("--json", action="store_true", help="the result as JSON")


def run(args: argparse.Namespace, ctx: Context) -> Any:
    load_config(ctx.cwd)  # a broken config is reported before anything starts
    action = args.action
    if action == "search":
        return _search(args, ctx)
    if action == "show":
        return _show(args, ctx)
    if action == "get":
        return _get(args, ctx)
    if action == "publish":
        return _publish(args, ctx)
    return _online(args, ctx)


# --------------------------------------------------------------------------- frames


def _frame(name: str, ctx: Context, timestamps: list[str]) -> pd.DataFrame:
    """A frame by variable name (notebook) or file (CLI)."""
    import pandas as pd

    if ctx.namespace is not None:  # a notebook: frames are its variables
        namespace = ctx.namespace
        if name not in namespace:
            raise UsageError(f"no variable '{name}' in the notebook: name a DataFrame")
        value = namespace[name]
        if not isinstance(value, pd.DataFrame):
            raise UsageError(f"'{name}' is a {type(value).__name__}, not a pandas DataFrame")
        return value
    path = Path(ctx.cwd) / name
    if not path.is_file():
        raise UsageError(f"no such file: {name} (give a Parquet or CSV file)")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path)
        for column in timestamps:
            if column and column in frame.columns:
                frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame
    raise UsageError(f"{name}: give a .parquet or .csv file")


# --------------------------------------------------------------------------- actions


def _search(args: argparse.Namespace, ctx: Context) -> FoundViews:
    from .api import search_views

    query, tags = " ".join(args.query), dict(args.tag)
    backend, found = search_views(query, tags=tags, owner=args.owner, cwd=ctx.cwd)
    return FoundViews(query, tags, args.owner, ctx.cwd, backend, found)


def _show(args: argparse.Namespace, ctx: Context) -> ShownView:
    from .api import show

    view = show(args.name, args.version, cwd=ctx.cwd)
    if args.stats:
        view.stats  # noqa: B018 - computed now, shown with the view
    return ShownView(view, args.stats)


def _get(args: argparse.Namespace, ctx: Context) -> Any:
    """The training frame; with ``--into``, stored in a variable (notebook) or written to a
    file (command line), and what went where."""
    from .api import get

    if args.into and ctx.interactive and not args.into.isidentifier():
        raise UsageError(f"--into {args.into!r} is not a variable name")
    entities = _frame(args.entities, ctx, [args.timestamp])
    progress = ctx.progress(f"features for {len(entities):,} entity rows")
    began = time.monotonic()
    frame = get(args.features, entities, timestamp=args.timestamp,
                full_names=args.full_names, cwd=ctx.cwd, progress=progress)
    progress(f"{len(frame):,} rows × {len(frame.columns)} columns in "
             f"{time.monotonic() - began:.2f} s")
    progress.close(frame)
    if not args.into:
        return frame
    written = ctx.keep_frame(frame, args.into)
    return Retrieved(args.into, frame, list(entities.columns), written)


def _publish(args: argparse.Namespace, ctx: Context) -> Any:
    from .api import publish

    frame = _frame(args.frame, ctx, [args.timestamp, args.created or ""])
    progress = ctx.progress(f"publishing {len(frame):,} rows as '{args.name}'")
    began = time.monotonic()
    view = publish(frame, args.name, entities=args.entities, timestamp=args.timestamp,
                   created_timestamp=args.created, description=args.description,
                   tags=dict(args.tag) or None, owner=args.owner, ttl=args.ttl,
                   field_descriptions=dict(args.describe) or None, cwd=ctx.cwd,
                   progress=progress)
    progress(f"version {view.version}, {view.rows:,} rows in "
             f"{time.monotonic() - began:.2f} s")
    progress.close(view)
    return view


def _online(args: argparse.Namespace, ctx: Context) -> Any:
    from .api import online, open_store

    view = open_store(load_config(ctx.cwd)).view(args.name)
    types = {f.name: f.type for f in view.schema}
    columns: dict[str, list[Any]] = {}
    for key, raw in args.keys:
        if key not in types:
            raise UsageError(f"'{key}' is not a column of '{args.name}'; its entity columns: "
                             + ", ".join(view.entities))
        columns.setdefault(key, []).extend(_value(v, types[key]) for v in raw.split(","))
    return online(args.name, columns, features=args.feature, cwd=ctx.cwd)


def _value(text: str, kind: str) -> Any:
    try:
        if kind == "int64":
            return int(text)
        if kind == "double":
            return float(text)
    except ValueError:
        raise UsageError(f"{text!r} is not a {kind} key") from None
    return text


# --------------------------------------------------------------------------- results


@dataclass
class FoundViews:
    """``features search``: the matching views, newest publish first. A notebook shows them
    as a DataFrame (``frame()``), a terminal one line each; ``--json`` gives the summaries."""

    query: str
    tags: dict[str, str]
    owner: str | None
    cwd: str
    backend: str
    found: list[tuple[FeatureView, str | None]]

    def frame(self) -> pd.DataFrame:
        """One row per view, the columns of ``jupyter_mlops.features.search``."""
        from .api import search

        return search(self.query, tags=self.tags, owner=self.owner, cwd=self.cwd)

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "views": [v.summary(m) for v, m in self.found]}

    def to_text(self) -> str:
        if not self.found:
            return "no feature views match" if self.query or self.tags or self.owner else \
                "no feature views yet"
        return "\n".join(f"{v.name} v{v.version}  {v.description}  [{len(v.features)} "
                         f"features; newest event {v.summary()['newest_event'] or '-'}]"
                         for v, _m in self.found)


@dataclass
class ShownView:
    """``features show``: the view, with its statistics when asked for."""

    view: FeatureView
    with_stats: bool

    def to_dict(self) -> dict[str, Any]:
        data = self.view.to_dict()
        if self.with_stats:
            data["stats"] = self.view.stats.to_dict()
        return data

    def to_text(self) -> str:
        text = repr(self.view)
        if self.with_stats:
            text += "\n" + self.view.stats.to_frame().to_string()
        return text

    def __repr__(self) -> str:
        return self.to_text()


@dataclass
class Retrieved:
    """``get --into``: where the frame went (a variable, or a file on the command line) and
    how complete it is."""

    name: str
    frame: pd.DataFrame = field(repr=False)
    entity_columns: list[str] = field(repr=False)
    written: Path | None = None

    @property
    def added(self) -> list[str]:
        return [c for c in self.frame.columns if c not in self.entity_columns]

    def to_dict(self) -> dict[str, Any]:
        return {"into": str(self.written or self.name), "rows": len(self.frame),
                "columns": list(self.frame.columns), "features": self.added,
                "rows_missing_a_feature": self._missing()}

    def _missing(self) -> int:
        added = self.added
        return int(self.frame[added].isna().any(axis=1).sum()) if added else 0

    def to_text(self) -> str:
        where = f"{self.written}" if self.written is not None else self.name
        return (f"{where}: {len(self.frame):,} rows × {len(self.frame.columns)} columns "
                f"({len(self.added)} features; {self._missing():,} rows with a missing "
                "feature)")

    def __repr__(self) -> str:
        return self.to_text()
