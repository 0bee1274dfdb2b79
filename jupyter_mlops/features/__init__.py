"""Feature lookup: publish curated features once, find them, and pull point-in-time correct
training frames (DuckDB ASOF JOINs over Parquet), or the latest values online (SQLite).

``import jupyter_mlops as mlops; mlops.features.get("churn:*", entity_df, timestamp="ts")``.
Importing this package is cheap: its modules (and duckdb, pandas, pyarrow) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..verb import Capability, Verb, lazy, lazy_exports

if TYPE_CHECKING:
    from .api import get, online, open_store, publish, search, search_views, show, stats
    from .frames import FeatureWarning
    from .lineage import LineageWarning
    from .model import FeatureRef, FeatureView, FieldInfo, ViewStats, parse_refs

__all__ = [
    "CAPABILITY",
    "FeatureRef",
    "FeatureView",
    "FeatureWarning",
    "FieldInfo",
    "LineageWarning",
    "ViewStats",
    "get",
    "online",
    "open_store",
    "parse_refs",
    "publish",
    "search",
    "search_views",
    "show",
    "stats",
]

__getattr__, __dir__ = lazy_exports(globals(), {
    **dict.fromkeys(["get", "online", "open_store", "publish", "search", "search_views",
                     "show", "stats"], "api"),
    "FeatureWarning": "frames",
    "LineageWarning": "lineage",
    **dict.fromkeys(["FeatureRef", "FeatureView", "FieldInfo", "ViewStats", "parse_refs"],
                    "model"),
})

CAPABILITY = Capability("features", "Features", __name__, verbs=(
    Verb("features", "search, show, get, publish and look up features",
         configure=lazy("jupyter_mlops.features.verbs:configure"),
         run=lazy("jupyter_mlops.features.verbs:run")),
))
