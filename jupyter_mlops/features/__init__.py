"""Feature lookup: publish curated features once, find them, and pull point-in-time correct
training frames (DuckDB ASOF JOINs over Parquet), or the latest values online (SQLite).

``import jupyter_mlops as mlops; mlops.features.get("churn:*", entity_df, timestamp="ts")``.
Importing this package is cheap: duckdb, pandas and pyarrow load on first use.
"""

from __future__ import annotations

from .api import get, online, open_store, publish, search, search_views, show, stats
from .frames import FeatureWarning
from .lineage import LineageWarning
from .model import FeatureRef, FeatureView, FieldInfo, ViewStats, parse_refs

__all__ = [
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
