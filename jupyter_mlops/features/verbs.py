"""``%mlops features search|show|get|publish|online`` and ``jupyter mlops features …``.

In the notebook, frames are variables of the user's namespace; on the command line they are
files (Parquet or CSV) and results print as text or JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..verb import Context, UsageError
from ..config import load_config

if TYPE_CHECKING:
    import pandas as pd


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
        child.add_argument("--json", action="store_true", help="print JSON (CLI)")


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

    if ctx.adapter == "magic":
        namespace = ctx.namespace or {}
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


def _write(frame: pd.DataFrame, name: str, ctx: Context) -> Path:
    path = Path(ctx.cwd) / name
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        raise UsageError(f"--into {name}: give a .parquet or .csv file")
    return path


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


# --------------------------------------------------------------------------- actions


def _search(args: argparse.Namespace, ctx: Context) -> Any:
    from .api import search, search_views

    query = " ".join(args.query)
    tags = dict(args.tag)
    if ctx.adapter == "cli":
        backend, found = search_views(query, tags=tags, owner=args.owner, cwd=ctx.cwd)
        if args.json:
            return _json({"backend": backend, "views": [v.summary(m) for v, m in found]})
        if not found:
            return "no feature views match" if query or tags or args.owner else \
                "no feature views yet"
        return "\n".join(f"{v.name} v{v.version}  {v.description}  [{len(v.features)} "
                         f"features; newest event {v.summary()['newest_event'] or '-'}]"
                         for v, _m in found)
    return search(query, tags=tags, owner=args.owner, cwd=ctx.cwd)


def _show(args: argparse.Namespace, ctx: Context) -> Any:
    from .api import show

    view = show(args.name, args.version, cwd=ctx.cwd)
    if args.stats:
        view.stats  # noqa: B018 - computed now, shown with the view
    if ctx.adapter == "cli":
        if args.json:
            data = view.to_dict()
            if args.stats:
                data["stats"] = view.stats.to_dict()
            return _json(data)
        text = repr(view)
        if args.stats:
            text += "\n" + view.stats.to_frame().to_string()
        return text
    return ShownView(view, args.stats)


def _get(args: argparse.Namespace, ctx: Context) -> Any:
    from .api import get

    entities = _frame(args.entities, ctx, [args.timestamp])
    progress = Progress(ctx, f"features for {len(entities):,} entity rows")
    frame = get(args.features, entities, timestamp=args.timestamp,
                full_names=args.full_names, cwd=ctx.cwd, progress=progress)
    progress.done(f"{len(frame):,} rows × {len(frame.columns)} columns")
    if ctx.adapter == "cli":
        if args.into:
            path = _write(frame, args.into, ctx)
            return f"{len(frame):,} rows written to {path}"
        return frame.to_json(orient="records", date_format="iso") if args.json \
            else frame.to_string(max_rows=40)
    if args.into:
        if not args.into.isidentifier():
            raise UsageError(f"--into {args.into!r} is not a variable name")
        (ctx.namespace if ctx.namespace is not None else {})[args.into] = frame
        return Retrieved(args.into, frame, list(entities.columns))
    return frame


def _publish(args: argparse.Namespace, ctx: Context) -> Any:
    from .api import publish

    frame = _frame(args.frame, ctx, [args.timestamp, args.created or ""])
    progress = Progress(ctx, f"publishing {len(frame):,} rows as '{args.name}'")
    view = publish(frame, args.name, entities=args.entities, timestamp=args.timestamp,
                   created_timestamp=args.created, description=args.description,
                   tags=dict(args.tag) or None, owner=args.owner, ttl=args.ttl,
                   field_descriptions=dict(args.describe) or None, cwd=ctx.cwd,
                   progress=progress)
    progress.done(f"version {view.version}, {view.rows:,} rows")
    if ctx.adapter == "cli":
        return _json(view.to_dict()) if args.json else repr(view)
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
    frame = online(args.name, columns, features=args.feature, cwd=ctx.cwd)
    if ctx.adapter == "cli":
        return frame.to_json(orient="records", date_format="iso") if args.json \
            else frame.to_string()
    return frame


def _value(text: str, kind: str) -> Any:
    try:
        if kind == "int64":
            return int(text)
        if kind == "double":
            return float(text)
    except ValueError:
        raise UsageError(f"{text!r} is not a {kind} key") from None
    return text


# --------------------------------------------------------------------------- displays


class Progress:
    """Steps of a long retrieval: a line updated in place in the notebook, stderr on the
    command line."""

    def __init__(self, ctx: Context, title: str) -> None:
        self.cli = ctx.adapter == "cli"
        self.title = title
        self.began = time.monotonic()
        self.last = "starting"
        self.handle: Any = None
        if not self.cli:
            try:
                from IPython.display import display

                self.handle = display(self, display_id=True)  # type: ignore[no-untyped-call]
            except ImportError:  # pragma: no cover - the magic always has IPython
                self.handle = None

    def __call__(self, message: str) -> None:
        self.last = message
        if self.cli:
            print(f"{self.title}: {message}", file=sys.stderr, flush=True)
        elif self.handle is not None:
            self.handle.update(self)

    def done(self, message: str) -> None:
        self(f"{message} in {time.monotonic() - self.began:.2f} s")

    def __repr__(self) -> str:
        return f"mlops features: {self.title}: {self.last}"

    def _repr_html_(self) -> str:
        return (f'<div class="mlops-features-progress" style="opacity:.75">{escape(self.title)}'
                f": {escape(self.last)}</div>")


class ShownView:
    """``%mlops features show``: the view, with its statistics when asked for."""

    def __init__(self, view: Any, stats: bool) -> None:
        self.view = view
        self.with_stats = stats

    def __repr__(self) -> str:
        text: str = repr(self.view)
        if self.with_stats:
            text += "\n" + self.view.stats.to_frame().to_string()
        return text

    def _repr_html_(self) -> str:
        html: str = self.view._repr_html_()
        if self.with_stats:
            html += self.view.stats.to_frame().to_html()
        return html


class Retrieved:
    """``--into VAR``: where the frame went, and its first rows."""

    def __init__(self, name: str, frame: pd.DataFrame, entity_columns: list[str]) -> None:
        self.name = name
        self.frame = frame
        self.added = [c for c in frame.columns if c not in entity_columns]

    def _line(self) -> str:
        nulls = int(self.frame[self.added].isna().any(axis=1).sum()) if self.added else 0
        return (f"{self.name}: {len(self.frame):,} rows × {len(self.frame.columns)} columns "
                f"({len(self.added)} features; {nulls:,} rows with a missing feature)")

    def __repr__(self) -> str:
        return self._line()

    def _repr_html_(self) -> str:
        return (f'<div class="mlops-features-retrieved"><div>{escape(self._line())}</div>'
                f"{self.frame.head(5).to_html()}</div>")
