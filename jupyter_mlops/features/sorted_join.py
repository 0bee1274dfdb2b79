"""The point-in-time join without DuckDB: each view version's rows kept in memory sorted by
(entity key, event time, created time, publish order), and the latest row at or before each
entity row's time found for all rows at once with one ``np.searchsorted``.

Written by hand because DuckDB's ASOF JOIN is the bottleneck of historical retrieval (see
``benchmarks/features.py``). It gives the same answer as the DuckDB path in ``embedded.py``
(ties: the later created timestamp, then the later publish, then the later row; TTL
inclusive; nulls where nothing matches) and the same column types; what it does not cover
(entity keys other than integers or text, feature columns of other types) goes to DuckDB.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from .model import CREATED_US, EVENT_US, SEQ

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

LIMIT = 2**62  # the combined (key, time) code must stay below this (int64)
KEEP = 8  # view versions kept sorted in memory
FEATURE_TYPES = ("double", "int64", "bool", "string", "timestamp[us, tz=UTC]")
KEY_TYPES = ("int64", "string")

_cache: OrderedDict[tuple[str, str, int], tuple[tuple[Any, ...], SortedVersion]] = \
    OrderedDict()
_cache_lock = threading.Lock()


def covers(types: dict[str, str], keys: list[str], features: list[str]) -> bool:
    """Whether the sorted join serves a view with these stored types (name -> Arrow type)."""
    return all(types[k] in KEY_TYPES for k in keys) and \
        all(types[f] in FEATURE_TYPES for f in features)


def entity_keys(ents: pd.DataFrame, keys: list[str], types: dict[str, str]
                ) -> list[Any] | None:
    """The entity frame's key columns as arrays the sorted join can look up (integers as
    int64, text as str objects, no missing values); None when one is not (DuckDB then)."""
    import numpy as np
    import pandas as pd

    found = []
    for key in keys:
        series = ents[key]
        if series.isna().any():
            return None
        if types[key] == "int64":
            if series.dtype.kind not in "iu" or series.dtype.itemsize > 8 or (
                    series.dtype.kind == "u" and len(series) and int(series.max()) >= 2**63):
                return None
            found.append(series.to_numpy().astype("int64", copy=False))
        elif pd.api.types.is_string_dtype(series.dtype) and \
                pd.api.types.infer_dtype(series, skipna=False) in ("string", "empty"):
            found.append(np.asarray(series.to_numpy(dtype=object)))
        else:
            return None
    return found


def sorted_version(where: str, name: str, version: int, parts: list[str], keys: list[str],
                   ties: bool) -> SortedVersion | None:
    """The version's rows sorted, from the cache while its parts are the same files (a
    publish, from this process or another, adds a part and so makes it again); None when
    its keys and times do not fit the combined code."""
    stamp = tuple((p, *_file_stamp(p)) for p in parts)
    slot = (where, name, version)
    with _cache_lock:
        cached = _cache.get(slot)
        if cached is not None and cached[0] == stamp:
            _cache.move_to_end(slot)
            return cached[1]
    built = SortedVersion.build(parts, keys, ties)
    if built is None:
        return None
    with _cache_lock:
        _cache[slot] = (stamp, built)
        _cache.move_to_end(slot)
        while len(_cache) > KEEP:
            _cache.popitem(last=False)
    return built


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _file_stamp(path: str) -> tuple[int, int]:
    found = os.stat(path)
    return found.st_mtime_ns, found.st_size


class SortedVersion:
    """One version's rows: the sorted combined codes ``key * span + time`` (time relative to
    the oldest row, or its rank among the distinct event times when that would not fit),
    the sorted event times, and where each sorted row is in ``table``."""

    def __init__(self, table: pa.Table, indexes: list[pd.Index], span: int, tmin: int,
                 times: np.ndarray | None, codes: np.ndarray, event: np.ndarray,
                 order: np.ndarray) -> None:
        self.table = table
        self.indexes = indexes
        self.span = span
        self.tmin = tmin
        self.times = times
        self.codes = codes
        self.event = event
        self.order = order
        self._columns: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        self._lock = threading.Lock()

    @classmethod
    def build(cls, parts: list[str], keys: list[str], ties: bool) -> SortedVersion | None:
        import numpy as np
        import pandas as pd
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        table = pa.concat_tables([pq.read_table(p) for p in parts],
                                 promote_options="permissive").combine_chunks()
        indexes, sizes, code = [], [], None
        for key in keys:
            values = table.column(key).to_numpy(zero_copy_only=False)
            index = pd.Index(pd.unique(values))
            column = index.get_indexer(values).astype("int64")
            code = column if code is None else code * len(index) + column
            indexes.append(index)
            sizes.append(len(index))
        assert code is not None
        combos = 1
        for size in sizes:
            combos *= size
        event = table.column(EVENT_US).to_numpy()
        tmin = int(event.min()) if len(event) else 0
        span = (int(event.max()) - tmin + 1) if len(event) else 1
        times = None
        if combos * span >= LIMIT:
            times = np.unique(event)
            span = len(times)
            if combos * span >= LIMIT:
                return None
            relative = np.searchsorted(times, event)
        else:
            relative = event - tmin
        codes = code * span + relative
        if ties:  # equal key and event time: the later created, then the later publish
            created = pc.fill_null(table.column(CREATED_US), np.iinfo("int64").min).to_numpy()
            order = np.lexsort((table.column(SEQ).to_numpy(), created, codes))
        else:
            order = np.argsort(codes, kind="stable")
        return cls(table, indexes, span, tmin, times, codes[order], event[order], order)

    def match(self, keys: list[Any], at_us: np.ndarray, ttl_us: int | None
              ) -> tuple[np.ndarray, np.ndarray]:
        """(row of ``table``, found) for each entity: the last sorted row of its key with
        event time <= its time and, with a TTL, >= its time - TTL."""
        import numpy as np

        code = None
        for index, values in zip(self.indexes, keys, strict=True):
            column = index.get_indexer(values).astype("int64")
            code = column if code is None else np.where(
                (code < 0) | (column < 0), -1, code * len(index) + column)
        assert code is not None
        if self.times is None:
            relative = at_us - self.tmin
        else:
            relative = np.searchsorted(self.times, at_us, side="right") - 1
        found = (code >= 0) & (relative >= 0)
        start = code * self.span
        query = np.where(found, start + np.minimum(relative, self.span - 1), 0)
        position = np.searchsorted(self.codes, query, side="right") - 1
        found &= position >= 0
        position = np.maximum(position, 0)
        found &= self.codes[position] >= start  # the row found has the entity's key
        if ttl_us:
            found &= self.event[position] >= at_us - ttl_us
        return self.order[position], found

    def _column(self, name: str) -> tuple[np.ndarray, np.ndarray | None]:
        """A feature column as numpy values (nulls filled) and its null mask (None: none)."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        with self._lock:
            found = self._columns.get(name)
            if found is None:
                data = self.table.column(name)
                mask = data.is_null().to_numpy(zero_copy_only=False) if data.null_count \
                    else None
                if pa.types.is_floating(data.type):
                    values = data.to_numpy()
                elif pa.types.is_boolean(data.type):
                    values = pc.fill_null(data, False).to_numpy(zero_copy_only=False)
                elif pa.types.is_string(data.type):
                    values = np.empty(0)  # taken through Arrow
                else:  # int64, timestamps: as int64
                    values = pc.fill_null(data.cast(pa.int64()), 0).to_numpy()
                found = self._columns[name] = (values, mask)
            return found

    def column(self, name: str, rows: np.ndarray, found: np.ndarray) -> Any:
        """Feature ``name`` at ``rows``, null where not ``found``, typed as the DuckDB path
        types it (float64 with NaN; int64 and bool, or Int64 and boolean with nulls;
        datetime64[us, UTC] with NaT; str, or objects when every value is null)."""
        import numpy as np
        import pandas as pd
        import pyarrow as pa

        kind = self.table.schema.field(name).type
        values, mask = self._column(name)
        missing = ~found if mask is None else (~found | mask[rows])
        if pa.types.is_string(kind):
            taken = self.table.column(name).take(pa.array(rows, mask=missing))
            if taken.null_count == len(taken):
                return np.full(len(taken), None, dtype=object)
            return pd.StringDtype("pyarrow", na_value=np.nan).__from_arrow__(taken)
        out = values[rows]
        nulls = bool(missing.any())
        if pa.types.is_floating(kind):
            if nulls:
                out[missing] = np.nan
            return out
        if pa.types.is_timestamp(kind):
            out[missing] = np.iinfo("int64").min  # NaT
            return pd.DatetimeIndex(out.view("datetime64[us]")).tz_localize("UTC").array
        if not nulls:
            return out
        if pa.types.is_boolean(kind):
            return pd.arrays.BooleanArray(out, missing)
        return pd.arrays.IntegerArray(out, missing)
