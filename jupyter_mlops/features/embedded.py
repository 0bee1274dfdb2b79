"""The embedded feature store: Parquet parts (microsecond UTC timestamps) plus a JSON registry
in a folder or an S3 prefix, point-in-time retrieval as DuckDB ASOF JOINs, and an SQLite
online table holding the latest row of each entity.

Layout under ``features.path``::

    registry.json                      views, versions, parts (see storage.Registry)
    views/NAME/vN/part-SEQ-ID.parquet  one part per publish, never rewritten
    online.db                          SQLite: one table per view version (local stores;
                                       an S3 store keeps it under .mlops/features-cache/)
    .sorted/NAME/vN/STAMP/             each version's rows sorted for the point-in-time
                                       join (sorted_join.py), written at publish; a cache
    .stats/NAME.json                   statistics, computed on first request; a cache

What is not particular to this store (checking a frame to publish, an entity frame, online
keys; statistics of Parquet files) lives in backend-neutral modules that the Feast adapter
uses too: ``publish_frame``, ``retrieval``, ``view_stats``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import NotFoundError, UserInputError
from ..paths import make_folder
from . import frames
from .duck import connect, quote, sql_list
from .model import (
    CREATED_US,
    EVENT_US,
    SEQ,
    Backend,
    FeatureRef,
    FeatureView,
    FieldInfo,
    FieldRole,
    VersionInfo,
    ViewStats,
    check_name,
    from_us,
    parse_ttl,
    unknown_view,
)
from .online_table import OnlineTable
from .retrieval import check_features, entity_keys, key_rows
from .storage import LocalStorage, Registry, RegistryConflict, S3Storage, Storage

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from ..config import Config
    from .publish_frame import PublishSpec

Progress = Callable[[str], None]
#: how a point-in-time retrieval joins: ``sorted_join``'s, DuckDB's ASOF JOIN, or the first
#: where it covers the view's types
JoinMethod = Literal["auto", "sorted", "duckdb"]


def _now() -> datetime:
    return datetime.now(timezone.utc)


class EmbeddedStore:
    """The default backend; ``open_store(config)`` makes one for a project."""

    backend: Backend = "embedded"

    def __init__(self, storage: Storage, online_path: Path, stats_dir: Path,
                 sorted_dir: Path | None = None) -> None:
        self.storage = storage
        self.registry = Registry(storage)
        self.online_path = online_path
        self.stats_dir = stats_dir
        self.sorted_dir = sorted_dir

    @classmethod
    def from_config(cls, config: Config) -> EmbeddedStore:
        where = str(config["features.path"])
        if where.startswith("s3://"):
            cache = config.state_dir / "features-cache"
            storage: Storage = S3Storage(where, cache, str(config["aws.endpoint_url"] or ""),
                                         str(config["aws.region"] or ""))
            return cls(storage, cache / "online.db", cache / "stats", cache / "sorted")
        root = Path(where)
        return cls(LocalStorage(root), root / "online.db", root / ".stats", root / ".sorted")

    @property
    def where(self) -> str:
        return self.storage.where

    # ----------------------------------------------------------------------- reading

    def _entries(self) -> dict[str, Any]:
        views: dict[str, Any] = self.registry.load().get("views", {})
        return views

    def _entry(self, name: str, entries: dict[str, Any] | None = None) -> dict[str, Any]:
        entries = self._entries() if entries is None else entries
        if name not in entries:
            raise unknown_view(name, entries)
        entry: dict[str, Any] = entries[name]
        return entry

    @staticmethod
    def _version(entry: dict[str, Any], version: int | None) -> dict[str, Any]:
        versions = entry["versions"]
        if version is None:
            found: dict[str, Any] = versions[-1]
            return found
        for item in versions:
            if item["version"] == version:
                return dict(item)
        known = ", ".join(str(v["version"]) for v in versions)
        raise NotFoundError(f"feature view '{entry['name']}' has no version {version}; its "
                            f"versions: {known}")

    def _view(self, entry: dict[str, Any], version: int | None = None) -> FeatureView:
        item = self._version(entry, version)
        descriptions = entry.get("field_descriptions", {})
        roles: dict[str, FieldRole] = {entry["timestamp"]: "timestamp"}
        if entry.get("created_timestamp"):
            roles[entry["created_timestamp"]] = "created_timestamp"
        for key in entry["entities"]:
            roles[key] = "entity"
        schema = tuple(FieldInfo(c["name"], c["type"], roles.get(c["name"], "feature"),
                                 descriptions.get(c["name"], "")) for c in item["columns"])
        parts = item["parts"]
        newest = max((p["max_event_us"] for p in parts), default=None)
        view = FeatureView(
            name=entry["name"], version=item["version"], entities=tuple(entry["entities"]),
            timestamp=entry["timestamp"], created_timestamp=entry.get("created_timestamp"),
            schema=schema, description=entry.get("description", ""),
            owner=entry.get("owner"), tags=dict(entry.get("tags", {})),
            ttl_seconds=entry.get("ttl_seconds"),
            versions=tuple(VersionInfo(v["version"], datetime.fromisoformat(v["created_at"]),
                                       tuple(c["name"] for c in v["columns"]))
                           for v in entry["versions"]),
            newest_event=from_us(newest),
            last_publish=datetime.fromisoformat(entry["last_publish"]),
            rows=sum(p["rows"] for p in parts), backend=self.backend)
        view._stats = lambda: self.stats(view.name, view.version)
        return view

    def views(self) -> list[FeatureView]:
        """The latest version of every view."""
        return [self._view(entry) for entry in self._entries().values()]

    def view(self, name: str, version: int | None = None) -> FeatureView:
        return self._view(self._entry(name), version)

    def _paths(self, item: dict[str, Any]) -> list[str]:
        return self.storage.local_paths([p["key"] for p in item["parts"]])

    # ----------------------------------------------------------------------- publish

    def publish(self, df: pd.DataFrame, name: str, *, entities: str | Sequence[str],
                timestamp: str, created_timestamp: str | None = None, description: str = "",
                tags: dict[str, str] | None = None, owner: str | None = None, ttl: Any = None,
                field_descriptions: dict[str, str] | None = None,
                progress: Progress | None = None) -> FeatureView:
        """Append ``df`` to view ``name`` (a new version when its columns changed)."""
        from .publish_frame import PublishSpec  # not loaded for retrievals

        check_name(name)
        df = frames.require_frame(df, "the data to publish")
        keys = frames.column_list(entities, "entity")
        spec = PublishSpec(df, keys, timestamp, created_timestamp, field_descriptions)
        ttl_seconds = parse_ttl(ttl)
        table = spec.table
        if progress:
            progress(f"{name}: {table.num_rows:,} rows checked")
        deadline = time.monotonic() + 120
        for attempt in range(1000):
            try:
                version = self._publish_once(spec, name, description, tags, owner, ttl_seconds,
                                             field_descriptions)
                break
            except RegistryConflict:  # another machine wrote the S3 registry meanwhile
                if time.monotonic() > deadline:
                    raise
                time.sleep(random.random() * min(2.0, 0.05 * 2 ** attempt))
        else:
            raise RegistryConflict("the feature registry kept changing under this publish; "
                                   "try again")
        if progress:
            progress(f"{name}: published as version {version}")
        view = self.view(name)
        self._sort_ahead(view)
        return view

    def _sort_ahead(self, view: FeatureView) -> None:
        """Sort the version's rows for retrieval now, so that the first ``get`` in any process
        maps them instead of reading and sorting every part (best effort: a cache)."""
        from . import sorted_join

        types = {f.name: f.type for f in view.schema}
        if self.sorted_dir is None or not sorted_join.covers(types, list(view.entities), []):
            return
        item = self._version(self._entry(view.name), view.version)
        with contextlib.suppress(OSError, MemoryError):  # the first get says what is wrong
            sorted_join.sorted_version(self.where, view.name, int(view.version),
                                       [p["key"] for p in item["parts"]],
                                       lambda: self._paths(item), list(view.entities),
                                       bool(item["ties"]), self.sorted_dir)

    def _publish_once(self, spec: PublishSpec, name: str, description: str,
                      tags: dict[str, str] | None, owner: str | None,
                      ttl_seconds: float | None, field_descriptions: dict[str, str] | None
                      ) -> int:
        """One locked read-change-write of the registry with the part put in place; on any
        failure the part is removed again and the registry is left as it was."""
        import pyarrow.compute as pc

        staged = self.storage.staging() / f"{uuid.uuid4().hex}.parquet"
        key = None
        try:
            with self.registry.update() as data:
                views = data.setdefault("views", {})
                entry = views.get(name)
                version = _choose_version(entry, spec)
                seq = int(data.get("seq", 0)) + 1
                data["seq"] = seq
                table = _with_seq(spec.table, seq)
                _write_parquet(table, staged)
                key = f"views/{name}/v{version}/part-{seq:06d}-{uuid.uuid4().hex[:8]}.parquet"
                now = _now().isoformat()
                if entry is None:
                    entry = views[name] = {
                        "name": name, "entities": spec.keys, "timestamp": spec.timestamp,
                        "created_timestamp": spec.created, "description": "", "owner": None,
                        "tags": {}, "ttl_seconds": None, "field_descriptions": {},
                        "created_at": now, "versions": []}
                _update_metadata(entry, description, tags, owner, ttl_seconds,
                                 field_descriptions)
                if version > len(entry["versions"]):
                    entry["versions"].append({"version": version, "created_at": now,
                                              "columns": spec.columns, "parts": [],
                                              "ties": False})
                item = entry["versions"][version - 1]
                events = table.column(EVENT_US)
                item["parts"].append({"key": key, "rows": table.num_rows, "seq": seq,
                                      "min_event_us": pc.min(events).as_py(),
                                      "max_event_us": pc.max(events).as_py(),
                                      "published_at": now})
                entry["last_publish"] = now
                self.storage.put_file(staged, key)
                if not item["ties"]:
                    item["ties"] = _has_ties(self._paths(item), spec.keys)
                OnlineTable(self.online_path).upsert(name, version, spec.keys, table,
                                                      [c["name"] for c in spec.columns])
        except BaseException:
            if key is not None:
                self.storage.delete(key)
            raise
        finally:
            staged.unlink(missing_ok=True)
        return version

    # ----------------------------------------------------------------------- historical

    def resolve(self, refs: Sequence[FeatureRef]) -> list[tuple[FeatureView, list[str]]]:
        """Each reference's view (at its version) and feature names; unknown ones are a
        NotFoundError with a suggestion."""
        entries = self._entries()
        resolved = []
        for ref in refs:
            view = self._view(self._entry(ref.view, entries), ref.version)
            resolved.append((view, check_features(view, ref)))
        return resolved

    def historical(self, refs: Sequence[FeatureRef], entity_df: pd.DataFrame, timestamp: str,
                   *, full_names: bool = False, progress: Progress | None = None,
                   join: JoinMethod = "auto") -> pd.DataFrame:
        """Point-in-time join: for each entity row, per view, the latest feature row with
        event time ≤ the row's time and within the view's TTL (ties: the later created
        timestamp, then the later publish, then the later row); every row kept, in order,
        nulls where none.

        ``join``: ``"sorted"`` (the hand-written join of ``sorted_join``), ``"duckdb"`` (ASOF
        JOINs), or ``"auto"``: sorted where it covers the view's types, else DuckDB."""
        if join not in ("auto", "sorted", "duckdb"):
            raise UserInputError(f"join must be auto, sorted or duckdb, not {join!r}")
        import numpy as np

        entity_df = frames.require_frame(entity_df, "the entity frame")
        resolved = self.resolve(refs)
        ts, names, ents = entity_keys(entity_df, resolved, timestamp, full_names)
        at_us = np.asarray(frames.epoch_us(ts), dtype="int64")
        entries = self._entries()
        items = [self._version(entries[view.name], view.version) for view, _f in resolved]
        for view, _features in resolved:
            _check_key_types(view, ents)
        found: dict[str, Any] | None = None
        if join != "duckdb":
            found = self._sorted_join(resolved, items, ents, at_us, names, progress)
            if found is None and join == "sorted":
                raise UserInputError("the sorted join does not cover these views' key or "
                                     "feature types: use join='auto'")
        if found is None:
            found = self._duckdb_join(resolved, items, ents, at_us, names, progress)
        import pandas as pd

        # one concat, not a column at a time (each insert copies the frame's blocks)
        return pd.concat([entity_df, pd.DataFrame(found, index=entity_df.index, copy=False)],
                         axis=1)

    def _sorted_join(self, resolved: list[tuple[FeatureView, list[str]]],
                     items: list[dict[str, Any]], ents: pd.DataFrame, at_us: Any,
                     names: dict[tuple[str, str], str], progress: Progress | None
                     ) -> dict[str, Any] | None:
        """The features by the sorted join; None where it does not cover a view."""
        from . import sorted_join

        plans = []
        for (view, features), item in zip(resolved, items, strict=True):
            types = {f.name: f.type for f in view.schema}
            keys = list(view.entities)
            if not sorted_join.covers(types, keys, features):
                return None
            values = sorted_join.entity_keys(ents, keys, types)
            if values is None:
                return None
            plans.append((view, features, item, values))

        def one(plan: tuple[FeatureView, list[str], dict[str, Any], list[Any]]
                ) -> dict[str, Any] | None:
            view, features, item, values = plan
            if progress:
                parts = len(item["parts"])
                progress(f"{view.name} v{view.version}: {view.rows:,} rows in {parts} "
                         f"part{'s' if parts != 1 else ''}")
            rows = sorted_join.sorted_version(
                self.where, view.name, int(view.version), [p["key"] for p in item["parts"]],
                lambda: self._paths(item), list(view.entities), bool(item["ties"]),
                self.sorted_dir)
            if rows is None:
                return None
            ttl = view.ttl_seconds
            where, hit = rows.match(values, at_us, int(ttl * 1_000_000) if ttl else None)
            return {names[(view.name, f)]: values
                    for f, values in rows.columns(features, where, hit).items()}

        # views in parallel: numpy's sorts, searches and gathers release the GIL
        workers = min(len(plans), os.cpu_count() or 1)
        if workers > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(workers, thread_name_prefix="mlops-join") as pool:
                results = list(pool.map(one, plans))
        else:
            results = [one(plan) for plan in plans]
        found: dict[str, Any] = {}
        for result in results:
            if result is None:
                return None
            found.update(result)
        return found

    def _duckdb_join(self, resolved: list[tuple[FeatureView, list[str]]],
                     items: list[dict[str, Any]], ents: pd.DataFrame, at_us: Any,
                     names: dict[tuple[str, str], str], progress: Progress | None
                     ) -> dict[str, Any]:
        """The features by DuckDB ASOF JOINs, one per view."""
        import numpy as np

        ents = ents.copy()
        ents["__ts"] = at_us
        ents["__row"] = np.arange(len(ents), dtype="int64")
        con = connect()
        con.register("ents", ents)
        selects, joins = ["e.__row"], []
        for i, ((view, features), item) in enumerate(zip(resolved, items, strict=True)):
            paths = self._paths(item)
            if progress:
                progress(f"{view.name} v{view.version}: {view.rows:,} rows in {len(paths)} "
                         f"part{'s' if len(paths) != 1 else ''}")
            cols = ", ".join(quote(c) for c in [*view.entities, *features])
            source = (f"SELECT {cols}, {EVENT_US} AS __ev FROM read_parquet("
                      f"{sql_list(paths)})")
            if item["ties"]:
                part = ", ".join(quote(k) for k in view.entities)
                source += (f" QUALIFY row_number() OVER (PARTITION BY {part}, {EVENT_US} "
                           f"ORDER BY {CREATED_US} DESC NULLS LAST, {SEQ} DESC) = 1")
            alias = f"v{i}"
            on = " AND ".join(f"e.{quote(k)} = {alias}.{quote(k)}" for k in view.entities)
            joins.append(f"ASOF LEFT JOIN ({source}) {alias} ON {on} AND e.__ts >= "
                         f"{alias}.__ev")
            ttl = view.ttl_seconds
            for feature in features:
                column = f"{alias}.{quote(feature)}"
                if ttl:
                    column = (f"CASE WHEN {alias}.__ev >= e.__ts - {int(ttl * 1_000_000)} "
                              f"THEN {column} END")
                selects.append(f"{column} AS {quote(names[(view.name, feature)])}")
        sql = f"SELECT {', '.join(selects)} FROM ents e {' '.join(joins)} ORDER BY e.__row"
        if progress:
            progress(f"joining {len(ents):,} entity rows with {len(resolved)} view"
                     f"{'s' if len(resolved) != 1 else ''}")
        frame = con.execute(sql).df()
        con.close()
        return {column: frame[column].array for column in frame.columns[1:]}

    # ----------------------------------------------------------------------- online

    def online(self, name: str, keys: Any, features: Sequence[str] | None = None
               ) -> pd.DataFrame:
        """The latest row of each entity in ``keys``, in their order; nulls where unknown."""
        view = self.view(name)
        chosen = check_features(view, FeatureRef(name, None, tuple(features)
                                                 if features else None))
        rows = key_rows(keys, list(view.entities))
        return OnlineTable(self.online_path).lookup(view, rows, chosen)

    def online_columns(self, name: str, keys: Any, features: Sequence[str] | None = None
                       ) -> dict[str, Any]:
        """``online`` as typed columns, for putting several views side by side."""
        view = self.view(name)
        chosen = check_features(view, FeatureRef(name, None, tuple(features)
                                                 if features else None))
        rows = key_rows(keys, list(view.entities))
        return OnlineTable(self.online_path).columns(view, rows, chosen)

    # ----------------------------------------------------------------------- statistics

    def stats(self, name: str, version: int | None = None) -> ViewStats:
        """Per-column statistics of one version, computed once per state of the version."""
        from .view_stats import compute_stats, stats_from  # not loaded for retrievals

        entry = self._entry(name)
        item = self._version(entry, version)
        mark = f"{item['version']}-{len(item['parts'])}-{item['parts'][-1]['seq']}"
        cache = self.stats_dir / f"{name}.json"
        try:
            cached = json.loads(cache.read_text())
            if cached.get("mark") == mark:
                return stats_from(cached["stats"])
        except (OSError, ValueError, KeyError):
            pass
        stats = compute_stats(name, int(item["version"]),
                              [(c["name"], c["type"]) for c in item["columns"]],
                              self._paths(item))
        make_folder(cache.parent)
        tmp = cache.with_name(f".{cache.name}.{uuid.uuid4().hex}")
        tmp.write_text(json.dumps({"mark": mark, "stats": stats.to_dict()}))
        tmp.replace(cache)
        return stats


# --------------------------------------------------------------------------- publish helpers


def _choose_version(entry: dict[str, Any] | None, spec: PublishSpec) -> int:
    """The version ``spec`` goes to: the latest when its columns are the same, else a new
    one; a different key, timestamp or column type is an error (the store is unchanged)."""
    if entry is None:
        return 1
    name = entry["name"]
    if entry["entities"] != spec.keys:
        raise UserInputError(f"feature view '{name}' is keyed by "
                             f"{', '.join(entry['entities'])}, not {', '.join(spec.keys)}: "
                             "publish under another name")
    if entry["timestamp"] != spec.timestamp or entry.get("created_timestamp") != spec.created:
        raise UserInputError(f"feature view '{name}' has timestamp '{entry['timestamp']}'"
                             + (f" and created timestamp '{entry['created_timestamp']}'"
                                if entry.get("created_timestamp") else "")
                             + ": publish with the same columns, or under another name")
    latest = entry["versions"][-1]
    known = {c["name"]: c["type"] for v in entry["versions"] for c in v["columns"]}
    for column in spec.columns:
        before = known.get(column["name"])
        if before is not None and before != column["type"]:
            raise UserInputError(f"column '{column['name']}' of feature view '{name}' is "
                                 f"{before}, not {column['type']}: convert it, or publish it "
                                 "under a new column name")
    if sorted(c["name"] for c in latest["columns"]) == sorted(c["name"] for c in spec.columns):
        spec.columns = latest["columns"]  # keep the version's column order
        return int(latest["version"])
    return int(latest["version"]) + 1


def _update_metadata(entry: dict[str, Any], description: str, tags: dict[str, str] | None,
                     owner: str | None, ttl_seconds: float | None,
                     descriptions: dict[str, str] | None) -> None:
    """What the publisher said replaces what was said before; what they left out stays."""
    if description:
        entry["description"] = str(description)
    if tags is not None:
        if not isinstance(tags, dict):
            raise UserInputError("tags must be a dict of text to text")
        entry["tags"] = {str(k): str(v) for k, v in tags.items()}
    if owner:
        entry["owner"] = str(owner)
    if ttl_seconds is not None:
        entry["ttl_seconds"] = ttl_seconds
    if descriptions:
        entry.setdefault("field_descriptions", {}).update(
            {str(k): str(v) for k, v in descriptions.items()})


def _with_seq(table: pa.Table, seq: int) -> pa.Table:
    """The order of the rows in the store: publish number, then row of the frame (the last
    of two rows with the same key, event and created time wins)."""
    import numpy as np
    import pyarrow as pa

    order = (np.int64(seq) << np.int64(32)) + np.arange(table.num_rows, dtype="int64")
    return table.append_column(SEQ, pa.array(order, pa.int64()))


def _write_parquet(table: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    make_folder(path.parent)
    pq.write_table(table, path, coerce_timestamps="us", allow_truncated_timestamps=False)


def _has_ties(paths: list[str], keys: list[str]) -> bool:
    """Whether two rows of the version share entity key and event time (then the created
    timestamp and the publish order decide)."""
    con = connect()
    group = ", ".join([*(quote(k) for k in keys), EVENT_US])
    found = con.execute(f"SELECT 1 FROM read_parquet({sql_list(paths)}) GROUP BY {group} "
                        "HAVING count(*) > 1 LIMIT 1").fetchone()
    con.close()
    return found is not None


# --------------------------------------------------------------------------- get helpers


def _check_key_types(view: FeatureView, ents: pd.DataFrame) -> None:
    types = {f.name: f.type for f in view.schema}
    for key in view.entities:
        stored = types[key]
        kind = ents[key].dtype.kind
        numeric = stored.startswith(("int", "double", "float"))
        if (numeric and kind not in "iuf") or (stored == "string" and kind not in "OUST"):
            raise UserInputError(f"the entity column '{key}' is {ents[key].dtype} in the entity "
                                 f"frame but {stored} in feature view '{view.name}': convert it")
