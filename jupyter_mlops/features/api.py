"""The verbs of the Features capability as Python functions, over whichever backend the
project's configuration names (the embedded store, or a Feast repository)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..config import Config, load_config
from ..errors import BackendUnavailableError, UserInputError
from .model import Backend, FeatureRef, FeatureView, MatchedField, ViewStats, parse_refs

if TYPE_CHECKING:
    import pandas as pd

Progress = Callable[[str], None]


class FeatureStore(Protocol):
    """What a backend offers; ``EmbeddedStore`` and ``FeastStore`` implement it."""

    backend: Backend

    @property
    def where(self) -> str: ...

    def views(self) -> list[FeatureView]: ...

    def view(self, name: str, version: int | None = None) -> FeatureView: ...

    def resolve(self, refs: Sequence[FeatureRef]) -> list[tuple[FeatureView, list[str]]]: ...

    def historical(self, refs: Sequence[FeatureRef], entity_df: pd.DataFrame, timestamp: str,
                   *, full_names: bool = False, progress: Progress | None = None
                   ) -> pd.DataFrame: ...

    def online(self, name: str, keys: Any, features: Sequence[str] | None = None
               ) -> pd.DataFrame: ...

    def stats(self, name: str, version: int | None = None) -> ViewStats: ...

    def publish(self, df: pd.DataFrame, name: str, *, entities: str | Sequence[str],
                timestamp: str, created_timestamp: str | None = None, description: str = "",
                tags: dict[str, str] | None = None, owner: str | None = None,
                ttl: Any = None, field_descriptions: dict[str, str] | None = None,
                progress: Progress | None = None) -> FeatureView: ...


def open_store(config: Config) -> FeatureStore:
    """The project's feature store, as ``features.backend`` says."""
    if config["features.backend"] == "feast":
        repo = str(config["features.repo"] or "")
        if not repo:
            raise UserInputError("features.backend is feast but features.repo is not set: "
                                 "set it to the folder holding feature_store.yaml")
        from .feast_store import FeastStore

        return FeastStore(repo)
    from .embedded import EmbeddedStore

    return EmbeddedStore.from_config(config)


def _config(cwd: str | os.PathLike[str] | None, config: Config | None) -> Config:
    return config if config is not None else load_config(cwd)


def publish(df: pd.DataFrame, name: str, *, entities: str | Sequence[str], timestamp: str,
            created_timestamp: str | None = None, description: str = "",
            tags: dict[str, str] | None = None, owner: str | None = None, ttl: Any = None,
            field_descriptions: dict[str, str] | None = None,
            cwd: str | os.PathLike[str] | None = None, config: Config | None = None,
            progress: Progress | None = None) -> FeatureView:
    """Publish ``df`` as (more rows of) feature view ``name``; a changed set of columns makes
    a new version. ``ttl``: seconds, a timedelta or text like ``'7d'``."""
    return open_store(_config(cwd, config)).publish(
        df, name, entities=entities, timestamp=timestamp, created_timestamp=created_timestamp,
        description=description, tags=tags, owner=owner, ttl=ttl,
        field_descriptions=field_descriptions, progress=progress)


def matches(view: FeatureView, query: str, tags: dict[str, str] | None = None,
            owner: str | None = None) -> MatchedField | Literal[False] | None:
    """False when ``view`` does not match; else which field matched ``query`` (None: no
    query)."""
    if owner is not None and (view.owner or "").lower() != owner.lower():
        return False
    for key, value in (tags or {}).items():
        if view.tags.get(key) != value:
            return False
    text = query.strip().lower()
    if not text:
        return None
    fields: list[tuple[MatchedField, list[str]]] = [
        ("name", [view.name]), ("description", [view.description]),
        ("features", view.features),
        ("field descriptions", [f.description for f in view.schema]),
        ("tags", [f"{k}={v}" for k, v in view.tags.items()]), ("owner", [view.owner or ""])]
    words = text.split()
    for label, values in fields:
        haystack = " ".join(values).lower()
        if all(word in haystack for word in words):
            return label
    everything = " ".join(" ".join(values) for _label, values in fields).lower()
    if all(word in everything for word in words):
        return "several fields"
    return False


def search_views(query: str = "", *, tags: dict[str, str] | None = None,
                 owner: str | None = None, cwd: str | os.PathLike[str] | None = None,
                 config: Config | None = None
                 ) -> tuple[Backend, list[tuple[FeatureView, str | None]]]:
    """(backend, [(view, which field matched)]) newest publish first."""
    store = open_store(_config(cwd, config))
    found: list[tuple[FeatureView, str | None]] = []
    for view in store.views():
        matched = matches(view, query, tags, owner)
        if matched is not False:
            found.append((view, matched or None))
    found.sort(key=lambda item: (item[0].last_publish is not None,
                                 item[0].last_publish.timestamp() if item[0].last_publish
                                 else 0.0, item[0].name), reverse=True)
    return store.backend, found


def search(query: str = "", *, tags: dict[str, str] | None = None, owner: str | None = None,
           cwd: str | os.PathLike[str] | None = None, config: Config | None = None
           ) -> pd.DataFrame:
    """Views whose name, description, features, field descriptions, tags or owner match
    every word of ``query``, newest publish first (one row per view)."""
    import pandas as pd

    _backend, found = search_views(query, tags=tags, owner=owner, cwd=cwd, config=config)
    rows = [{"name": v.name, "version": v.version, "description": v.description,
             "owner": v.owner, "tags": ", ".join(f"{k}={t}" for k, t in v.tags.items()),
             "entities": ", ".join(v.entities), "features": len(v.features),
             "rows": v.rows, "newest_event": v.newest_event, "last_publish": v.last_publish,
             "match": match} for v, match in found]
    columns = ["name", "version", "description", "owner", "tags", "entities", "features",
               "rows", "newest_event", "last_publish", "match"]
    return pd.DataFrame(rows, columns=columns)


def show(name: str, version: int | None = None, *, runs: bool = True,
         cwd: str | os.PathLike[str] | None = None, config: Config | None = None
         ) -> FeatureView:
    """One view: schema, entities, TTL, versions, owner, tags, freshness, the runs that used
    it; ``.stats`` computes its statistics on first use."""
    config = _config(cwd, config)
    view = open_store(config).view(name, version)
    if runs:
        from .lineage import runs_using

        try:
            view.runs = runs_using(config, view.name)
        except Exception as exc:  # the view is what was asked for; runs are extra
            import warnings

            warnings.warn(f"features: the runs that used '{name}' could not be listed: "
                          f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                          stacklevel=2)
            view.runs = []
    return view


def stats(name: str, version: int | None = None, *,
          cwd: str | os.PathLike[str] | None = None, config: Config | None = None
          ) -> ViewStats:
    return open_store(_config(cwd, config)).stats(name, version)


def get(features: str | Sequence[str], entity_df: pd.DataFrame, *, timestamp: str,
        full_names: bool = False, cwd: str | os.PathLike[str] | None = None,
        config: Config | None = None, progress: Progress | None = None) -> pd.DataFrame:
    """A point-in-time correct training frame: ``entity_df`` (every row, in order) with the
    features asked for (``"view:feature"``, ``"view:*"``, ``"view@2:feature"``) as they were
    at each row's ``timestamp``. During an active run, the retrieval is logged as its input
    and the run's first retrieval is profiled as its reference (``monitor/reference.json``)."""
    config = _config(cwd, config)
    store = open_store(config)
    refs = parse_refs(features)
    frame = store.historical(refs, entity_df, timestamp, full_names=full_names,
                             progress=progress)
    # a run can only be active once the tracking module is loaded: not importing it here
    # keeps it (and its imports) out of the first retrieval's time
    lifecycle = sys.modules.get("jupyter_mlops.tracking.lifecycle")
    if lifecycle is not None and lifecycle.active_run() is not None:
        from ..monitor.reference import capture
        from .lineage import record

        resolved = store.resolve(refs)
        record(resolved, entity_df, timestamp, store.where)
        # the run's first retrieval is its reference for drift (profiled in the background)
        capture(frame, {"views": [{"view": view.name, "version": view.version}
                                  for view, _ in resolved]})
    return frame


def online(name: str | Sequence[str], keys: Any, *, features: Sequence[str] | None = None,
           cwd: str | os.PathLike[str] | None = None, config: Config | None = None
           ) -> pd.DataFrame:
    """The latest features of each entity in ``keys`` (a DataFrame, a dict of columns, a
    list of dicts, or a list of values for a view with one key), in their order.

    ``name`` is a view, or several references (``["orders:*", "sessions:minutes"]``) whose
    features come side by side, keyed by the entity columns."""
    store = open_store(_config(cwd, config))
    if isinstance(name, str) and ":" not in name:
        return store.online(name, keys, features)
    refs = parse_refs(name)
    if any(ref.version is not None for ref in refs):
        raise UserInputError("the online table holds the latest version of each view: leave "
                             "out @VERSION")
    import pandas as pd

    columns: dict[str, Any] = {}
    columns_of = getattr(store, "online_columns", None)
    for ref in refs:
        if columns_of is not None:  # the embedded store: typed arrays, one frame at the end
            found: Any = columns_of(ref.view, keys, ref.features)
        else:
            frame = store.online(ref.view, keys, ref.features)
            found = {c: frame[c].array for c in frame.columns}
        for column, values in found.items():
            columns.setdefault(column, values)
    return pd.DataFrame(columns, copy=False)


def describe_store(config: Config) -> tuple[bool, str]:
    """(ok, what the store holds) for ``status``, without creating anything."""
    if config["features.backend"] == "feast":
        raise BackendUnavailableError("describe_store is for the embedded store")
    where = str(config["features.path"])
    from .storage import REGISTRY

    if where.startswith("s3://"):
        return True, f"S3 offline store {where} (not probed)"
    from pathlib import Path

    registry = Path(where) / REGISTRY
    if not registry.is_file():
        return True, "no views yet: publish one with mlops.features.publish"
    import json

    try:
        views = json.loads(registry.read_text()).get("views", {})
    except (OSError, ValueError) as exc:
        return False, f"the registry {registry} cannot be read ({exc}): restore it"
    rows = sum(p["rows"] for v in views.values() for p in v["versions"][-1]["parts"])
    features = sum(1 for v in views.values() for c in v["versions"][-1]["columns"]
                   if c["name"] not in {*v["entities"], v["timestamp"],
                                        v.get("created_timestamp")})
    return True, (f"{len(views)} view{'s' if len(views) != 1 else ''}, {features} feature"
                  f"{'s' if features != 1 else ''}, {rows:,} rows")
