"""The same verbs over an existing Feast repository (``[features] backend = "feast"``):
Feast's registry for search and show, ``get_historical_features`` for training frames and
``get_online_features`` for the online lookup, and ``publish`` through ``feast_publish`` (the
rows, a reviewable definitions module, ``apply`` and ``materialize``). ``feast`` is imported
on first use (4-6 s).

Feast's offline stores return rows in their own order, and its default (dask) store drops
entity rows whose features fell outside the TTL: the adapter puts every row back, in the
caller's order, with nulls where Feast had nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendUnavailableError, NotFoundError, UserInputError
from . import frames
from .model import Backend, FeatureRef, FeatureView, FieldInfo, VersionInfo, ViewStats, unknown_view

if TYPE_CHECKING:
    import pandas as pd

Progress = Callable[[str], None]
_ROW = "__mlops_row"


def _feast_type(dtype: Any) -> str:
    """Feast's type as the Arrow type name the embedded store uses."""
    name = str(dtype).lower()
    for feast_name, arrow in (("int", "int64"), ("float", "double"), ("bool", "bool"),
                              ("unix_timestamp", "timestamp[us, tz=UTC]"),
                              ("string", "string")):
        if feast_name in name:
            return arrow
    return name


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class FeastStore:
    """A Feast repository (the folder holding ``feature_store.yaml``)."""

    backend: Backend = "feast"

    def __init__(self, repo: str) -> None:
        self.repo = Path(repo)
        if not (self.repo / "feature_store.yaml").is_file():
            raise UserInputError(f"features.repo {repo} has no feature_store.yaml: point it at "
                                 "the Feast repository's folder")
        try:
            from feast import FeatureStore
        except ImportError:
            raise BackendUnavailableError("the feast backend needs Feast: pip install "
                                          "'jupyter-mlops[feast]'") from None
        self.store = FeatureStore(repo_path=str(self.repo))

    @property
    def where(self) -> str:
        return str(self.repo)

    # ----------------------------------------------------------------------- registry

    def _feast_views(self) -> dict[str, Any]:
        return {fv.name: fv for fv in self.store.list_feature_views()}

    def _feast_view(self, name: str) -> Any:
        views = self._feast_views()
        if name not in views:
            raise unknown_view(name, views)
        return views[name]

    def _convert(self, fv: Any) -> FeatureView:
        source = fv.batch_source
        timestamp = source.timestamp_field
        created = source.created_timestamp_column or None
        keys = [c.name for c in fv.entity_columns] or list(fv.join_keys)
        schema: list[FieldInfo] = [FieldInfo(c.name, _feast_type(c.dtype), "entity",
                                             c.description or "") for c in fv.entity_columns]
        schema.append(FieldInfo(timestamp, "timestamp[us, tz=UTC]", "timestamp"))
        if created:
            schema.append(FieldInfo(created, "timestamp[us, tz=UTC]", "created_timestamp"))
        schema += [FieldInfo(f.name, _feast_type(f.dtype), "feature", f.description or "")
                   for f in fv.features]
        ttl = fv.ttl.total_seconds() if fv.ttl else None
        rows, newest = self._file_facts(fv)
        created_at = _utc(fv.created_timestamp) or datetime.now(timezone.utc)
        view = FeatureView(
            name=fv.name, version=1, entities=tuple(keys), timestamp=timestamp,
            created_timestamp=created, schema=tuple(schema), description=fv.description or "",
            owner=fv.owner or None, tags=dict(fv.tags or {}), ttl_seconds=ttl or None,
            versions=(VersionInfo(1, created_at, tuple(f.name for f in schema)),),
            newest_event=newest, last_publish=_utc(fv.last_updated_timestamp) or created_at,
            rows=rows, backend=self.backend)
        view._stats = lambda: self.stats(fv.name)
        return view

    def _source_path(self, fv: Any) -> Path | None:
        path = getattr(fv.batch_source, "path", None)
        if not path or "://" in str(path):
            return None
        found = Path(path)
        return found if found.is_absolute() else self.repo / found

    def _file_facts(self, fv: Any) -> tuple[int | None, datetime | None]:
        """Rows and newest event of a view over a local Parquet file (else unknown)."""
        path = self._source_path(fv)
        if path is None or not path.exists():
            return None, None
        from .duck import connect, quote

        con = connect()
        row = con.execute(f"SELECT count(*), max({quote(fv.batch_source.timestamp_field)}) "
                          f"FROM read_parquet('{str(path).replace(chr(39), chr(39) * 2)}')"
                          ).fetchone()
        con.close()
        if row is None:
            return None, None
        newest = row[1]
        if isinstance(newest, datetime):
            newest = _utc(newest)
        return int(row[0]), newest

    def views(self) -> list[FeatureView]:
        return [self._convert(fv) for fv in self._feast_views().values()]

    def view(self, name: str, version: int | None = None) -> FeatureView:
        if version not in (None, 1):
            raise NotFoundError(f"feature view '{name}' has no version {version}; a Feast view "
                                "has one version here: 1")
        return self._convert(self._feast_view(name))

    def resolve(self, refs: Sequence[FeatureRef]) -> list[tuple[FeatureView, list[str]]]:
        from .retrieval import check_features

        views = self._feast_views()
        resolved = []
        for ref in refs:
            if ref.view not in views:
                raise unknown_view(ref.view, views)
            view = self.view(ref.view, ref.version)
            resolved.append((view, check_features(view, ref)))
        return resolved

    # ----------------------------------------------------------------------- retrieval

    def historical(self, refs: Sequence[FeatureRef], entity_df: pd.DataFrame, timestamp: str,
                   *, full_names: bool = False, progress: Progress | None = None
                   ) -> pd.DataFrame:
        import numpy as np

        from .retrieval import entity_keys

        entity_df = frames.require_frame(entity_df, "the entity frame")
        resolved = self.resolve(refs)
        ts, names, ents = entity_keys(entity_df, resolved, timestamp, full_names)
        ents["event_timestamp"] = ts.array
        ents[_ROW] = np.arange(len(ents), dtype="int64")
        wanted = [f"{view.name}:{f}" for view, features in resolved for f in features]
        if progress:
            progress(f"Feast get_historical_features for {len(wanted)} features")
        try:
            found = self.store.get_historical_features(
                entity_df=ents, features=wanted, full_feature_names=True).to_df()
        except Exception as exc:
            raise BackendUnavailableError(f"Feast could not retrieve the features: "
                                          f"{str(exc).splitlines()[0] if str(exc) else exc}"
                                          ) from None
        found = found.set_index(_ROW).reindex(np.arange(len(ents)))
        out = entity_df.copy()
        for view, features in resolved:
            for feature in features:
                column = found[f"{view.name}__{feature}"]
                out[names[(view.name, feature)]] = column.to_numpy()
        return out

    def online(self, name: str, keys: Any, features: Sequence[str] | None = None
               ) -> pd.DataFrame:
        import pandas as pd

        from .retrieval import check_features, key_rows

        view = self.view(name)
        chosen = check_features(view, FeatureRef(name, None, tuple(features)
                                                 if features else None))
        rows = key_rows(keys, list(view.entities))
        entity_rows = [dict(zip(view.entities, row, strict=True)) for row in rows]
        found = self.store.get_online_features(
            features=[f"{name}:{f}" for f in chosen], entity_rows=entity_rows).to_dict()
        data = {k: [r[i] for r in rows] for i, k in enumerate(view.entities)}
        for feature in chosen:
            data[feature] = found.get(feature, [None] * len(rows))
        return pd.DataFrame(data)

    def stats(self, name: str, version: int | None = None) -> ViewStats:
        view = self.view(name, version)
        path = self._source_path(self._feast_view(name))
        if path is None or not path.exists():
            raise UserInputError(f"statistics of Feast view '{name}' need a local Parquet "
                                 "source; this one is elsewhere")
        from .view_stats import compute_stats

        return compute_stats(name, 1, [(f.name, f.type) for f in view.schema], [str(path)])

    def publish(self, df: pd.DataFrame, name: str, *, entities: str | Sequence[str],
                timestamp: str, created_timestamp: str | None = None, description: str = "",
                tags: dict[str, str] | None = None, owner: str | None = None, ttl: Any = None,
                field_descriptions: dict[str, str] | None = None,
                progress: Progress | None = None) -> FeatureView:
        """Append ``df`` to Feast view ``name``: its rows in ``data/NAME.parquet``, its
        definitions in ``mlops_features/NAME.py`` (commit them: ``feast apply`` keeps what
        the repository's files define), applied and materialized (see ``feast_publish``)."""
        from .feast_publish import publish_to_feast

        publish_to_feast(self.store, self.repo, df, name, entities=entities,
                         timestamp=timestamp, created_timestamp=created_timestamp,
                         description=description, tags=tags, owner=owner, ttl=ttl,
                         field_descriptions=field_descriptions, progress=progress)
        return self.view(name)
