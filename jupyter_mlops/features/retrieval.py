"""What every feature store checks of a retrieval, whatever its backend: the features asked
of a view, the entity frame's timestamp and key columns, the column each feature lands in, and
online keys in any of the shapes users give them.

The embedded store and the Feast adapter both build on these; they import no store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, UserInputError
from . import frames
from .model import FeatureRef, FeatureView, suggest

if TYPE_CHECKING:
    import pandas as pd


def check_features(view: FeatureView, ref: FeatureRef) -> list[str]:
    if ref.features is None:
        return view.features
    for feature in ref.features:
        if feature not in view.features:
            raise NotFoundError(f"feature view '{view.name}' v{view.version} has no feature "
                                f"'{feature}'{suggest(feature, view.features)}; its features: "
                                + ", ".join(view.features[:12]))
    return list(ref.features)


def entity_keys(entity_df: pd.DataFrame, resolved: Sequence[tuple[FeatureView, list[str]]],
                timestamp: str, full_names: bool
                ) -> tuple[pd.Series, dict[tuple[str, str], str], pd.DataFrame]:
    """What every store checks of an entity frame before a retrieval: its timestamp column
    (as UTC), the column each feature lands in, and the entity key columns the views need
    (one frame of them, in the caller's row order). Missing columns are one-line errors."""
    import pandas as pd

    if timestamp not in entity_df.columns:
        raise frames.missing_column(entity_df, timestamp, "timestamp")
    ts = frames.utc_timestamps(entity_df[timestamp], timestamp, "timestamp")
    names = output_names(resolved, list(map(str, entity_df.columns)), full_names)
    needed: list[str] = []
    for view, _features in resolved:
        for key in view.entities:
            if key not in entity_df.columns:
                raise frames.missing_column(entity_df, key, f"entity ('{view.name}')")
            if key not in needed:
                needed.append(key)
    return ts, names, pd.DataFrame({k: entity_df[k].to_numpy() for k in needed})


def output_names(resolved: Sequence[tuple[FeatureView, list[str]]], taken: list[str],
                 full_names: bool) -> dict[tuple[str, str], str]:
    """The column each feature lands in: its name, or ``view__feature`` with full names; a
    clash is an error."""
    names: dict[tuple[str, str], str] = {}
    used = {c: "the entity frame" for c in taken}
    for view, features in resolved:
        for feature in features:
            column = f"{view.name}__{feature}" if full_names else feature
            if column in used:
                raise UserInputError(
                    f"feature '{feature}' of '{view.name}' would overwrite column '{column}' "
                    f"of {used[column]}: ask for full names (full_names=True / --full-names) "
                    "or rename the column")
            used[column] = f"view '{view.name}'"
            names[(view.name, feature)] = column
    return names


def key_rows(keys: Any, entities: list[str]) -> list[tuple[Any, ...]]:
    """Entity keys as tuples in the view's key order, from a DataFrame, a dict of columns
    (or of one value each), a list of dicts, or (one key column) a list of values."""
    import pandas as pd

    if isinstance(keys, pd.DataFrame):
        missing = [k for k in entities if k not in keys.columns]
        if missing:
            raise frames.missing_column(keys, missing[0], "entity")
        columns = [frames.plain(keys[k].to_numpy()) for k in entities]
        return list(zip(*columns, strict=True))
    if isinstance(keys, dict):
        missing = [k for k in entities if k not in keys]
        if missing:
            raise UserInputError(f"the keys lack the entity column '{missing[0]}' (the view is "
                                 f"keyed by {', '.join(entities)})")
        values = [keys[k] for k in entities]
        if all(isinstance(v, list | tuple) or hasattr(v, "tolist") for v in values):
            columns = [frames.plain(v) for v in values]
            if len({len(c) for c in columns}) > 1:
                raise UserInputError("the key columns have different lengths")
            return list(zip(*columns, strict=True))
        return [tuple(frames.plain(values))]
    if isinstance(keys, list | tuple):
        if all(isinstance(k, dict) for k in keys):
            return key_rows(pd.DataFrame(list(keys)), entities) if keys else []
        if len(entities) == 1:
            return [(v,) for v in frames.plain(list(keys))]
    raise UserInputError(f"give the keys as a DataFrame, a dict of columns or a list of dicts "
                         f"with {', '.join(entities)}")
