"""Per-column statistics of a feature view's Parquet files (rows, nulls, min, max, mean,
distinct values), in one DuckDB scan; backend-neutral (the embedded store caches them, the
Feast adapter computes them over its file sources).
"""

from __future__ import annotations

from typing import Any

from .duck import connect, quote, sql_list
from .model import ColumnStats, ViewStats, jsonable


def compute_stats(name: str, version: int, columns: list[tuple[str, str]], paths: list[str]
                  ) -> ViewStats:
    """Rows, and per column (name, Arrow type): nulls, min, max, mean, distinct values."""
    con = connect()
    parts = ["count(*)"]
    for column, kind in columns:
        q = quote(column)
        mean = f"avg({q}::DOUBLE)" if kind in ("int64", "double", "bool") else "NULL"
        parts += [f"count(*) - count({q})", f"min({q})", f"max({q})", mean,
                  f"count(DISTINCT {q})"]
    row = con.execute(f"SELECT {', '.join(parts)} FROM read_parquet({sql_list(paths)})"
                      ).fetchone()
    con.close()
    assert row is not None
    stats = []
    for i, (column, kind) in enumerate(columns):
        nulls, low, high, mean, distinct = row[1 + 5 * i: 6 + 5 * i]
        stats.append(ColumnStats(column, kind, int(nulls), jsonable(low), jsonable(high),
                                 float(mean) if mean is not None else None, int(distinct)))
    return ViewStats(name, version, int(row[0]), tuple(stats))


def stats_from(data: dict[str, Any]) -> ViewStats:
    return ViewStats(data["name"], int(data["version"]), int(data["rows"]), tuple(
        ColumnStats(c["name"], c["type"], c["nulls"], c["min"], c["max"], c["mean"],
                    c["distinct"]) for c in data["columns"]))
