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

import hashlib
import json
import shutil
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..paths import make_folder
from .model import CREATED_US, EVENT_US, SEQ

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

LIMIT = 2**62  # the combined (key, time) code must stay below this (int64)
KEEP = 8  # view versions kept sorted in memory
FEATURE_TYPES = ("double", "int64", "bool", "string", "timestamp[us, tz=UTC]")
KEY_TYPES = ("int64", "string")
FORMAT = 1  # of the sorted copies on disk
CODE = "__mlops_code"

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


def sorted_version(where: str, name: str, version: int, part_keys: list[str],
                   paths: Callable[[], list[str]], keys: list[str], ties: bool,
                   folder: Path | None = None) -> SortedVersion | None:
    """The version's rows sorted: from memory, else from the sorted copy under ``folder``
    (written at publish, or by the first retrieval after it), else built from the parts
    (``paths()`` gives them; on S3 it downloads them) and written there. A version's parts
    are never rewritten and each publish adds one, so the list of part keys says which rows
    a copy holds. None when its keys and times do not fit the combined code."""
    stamp = (tuple(part_keys), ties, tuple(keys))
    slot = (where, name, version)
    with _cache_lock:
        cached = _cache.get(slot)
        if cached is not None and cached[0] == stamp:
            _cache.move_to_end(slot)
            return cached[1]
    built = None
    home = _home(folder, name, version, stamp) if folder is not None else None
    if home is not None:
        built = SortedVersion.load(home)
        if built is None and home.exists():  # damaged (a full disk, a killed writer)
            shutil.rmtree(home, ignore_errors=True)
    if built is None:
        built = SortedVersion.build(paths(), keys, ties)
        if built is None:
            return None
        if home is not None:
            built.save(home)
    with _cache_lock:
        _cache[slot] = (stamp, built)
        _cache.move_to_end(slot)
        while len(_cache) > KEEP:
            _cache.popitem(last=False)
    return built


def clear_cache() -> None:
    """Forget the versions held in memory (the sorted copies on disk stay)."""
    with _cache_lock:
        _cache.clear()


def _home(folder: Path, name: str, version: int, stamp: tuple[Any, ...]) -> Path:
    digest = hashlib.sha256(json.dumps([FORMAT, *stamp]).encode()).hexdigest()[:20]
    return folder / name / f"v{version}" / digest


class SortedVersion:
    """One version's rows sorted by the combined code ``key * span + time`` (time relative
    to the oldest row, or its rank among the distinct event times when that would not fit):
    ``table`` in that order, its codes and event times, and the entity keys' values."""

    def __init__(self, table: pa.Table, indexes: list[pd.Index], span: int, tmin: int,
                 times: np.ndarray | None, codes: np.ndarray, event: np.ndarray) -> None:
        self.table = table
        self.indexes = indexes
        self.span = span
        self.tmin = tmin
        self.times = times
        self.codes = codes
        self.event = event
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
        return cls(table.take(order), indexes, span, tmin, times, codes[order], event[order])

    def save(self, home: Path) -> None:
        """Write the sorted copy (Arrow IPC, uncompressed, so a later process maps it
        instead of reading and sorting the parts) and remove older copies of the version.
        Best effort: the copy is a cache, and a failure only means the next process sorts."""
        import pyarrow as pa

        tmp = home.with_name(f".{home.name}.{uuid.uuid4().hex[:8]}")
        try:
            make_folder(tmp.parent)
            tmp.mkdir()
            _write_ipc(tmp / "rows.arrow", self.table.append_column(
                CODE, pa.array(self.codes, pa.int64())))
            for i, index in enumerate(self.indexes):
                _write_ipc(tmp / f"key{i}.arrow",
                           pa.table({"value": pa.array(index.to_numpy())}))
            if self.times is not None:
                _write_ipc(tmp / "times.arrow", pa.table({"value": pa.array(self.times)}))
            (tmp / "meta.json").write_text(json.dumps(
                {"format": FORMAT, "span": self.span, "tmin": self.tmin,
                 "keys": len(self.indexes), "times": self.times is not None}))
            try:
                tmp.rename(home)
            except OSError:  # another process wrote it first: the same rows
                shutil.rmtree(tmp, ignore_errors=True)
                return
            for other in home.parent.iterdir():
                if other != home and not other.name.startswith("."):
                    shutil.rmtree(other, ignore_errors=True)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, home: Path) -> SortedVersion | None:
        """The sorted copy at ``home``, memory-mapped; None when there is none (or it is
        unreadable: it is then built again)."""
        import pandas as pd

        try:
            meta = json.loads((home / "meta.json").read_text())
            if meta.get("format") != FORMAT:
                return None
            table = _read_ipc(home / "rows.arrow")
            codes = table.column(CODE).to_numpy()
            table = table.drop_columns([CODE])
            indexes = [pd.Index(_read_ipc(home / f"key{i}.arrow").column("value")
                                .to_numpy(zero_copy_only=False))
                       for i in range(int(meta["keys"]))]
            times = _read_ipc(home / "times.arrow").column("value").to_numpy() \
                if meta["times"] else None
        except (OSError, ValueError, KeyError):
            return None
        import pyarrow as pa

        try:
            event = table.column(EVENT_US).to_numpy()
        except (KeyError, pa.ArrowInvalid):
            return None
        return cls(table, indexes, int(meta["span"]), int(meta["tmin"]), times, codes, event)

    def match(self, keys: list[Any], at_us: np.ndarray, ttl_us: int | None
              ) -> tuple[np.ndarray, np.ndarray]:
        """(row of the sorted ``table``, found) for each entity: the last sorted row of its key with
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
        # searched in sorted order: each search starts near the last one, which keeps the
        # sorted codes in the CPU cache (about 3x faster than searching in the caller's order)
        order = np.argsort(query)
        position = np.empty(len(query), dtype="int64")
        position[order] = np.searchsorted(self.codes, query[order], side="right") - 1
        found &= position >= 0
        position = np.maximum(position, 0)
        found &= self.codes[position] >= start  # the row found has the entity's key
        if ttl_us:
            found &= self.event[position] >= at_us - ttl_us
        return position, found

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

    def columns(self, names: list[str], rows: np.ndarray, found: np.ndarray
                ) -> dict[str, Any]:
        """Features ``names`` at ``rows``, null where not ``found``, typed as the DuckDB path
        types them (float64 with NaN; int64 and bool, or Int64 and boolean with nulls;
        datetime64[us, UTC] with NaT; str, or objects when every value is null)."""
        import numpy as np

        lost = ~found
        where_lost = np.flatnonzero(lost)  # once per view: assigning by index is the fast way
        return {name: self._one(name, rows, lost, where_lost) for name in names}

    def _one(self, name: str, rows: np.ndarray, lost: np.ndarray, where_lost: np.ndarray
             ) -> Any:
        import numpy as np
        import pandas as pd
        import pyarrow as pa

        kind = self.table.schema.field(name).type
        values, mask = self._column(name)
        if mask is None:
            missing, where = lost, where_lost
        else:
            missing = lost | mask[rows]
            where = np.flatnonzero(missing)
        if pa.types.is_string(kind):
            taken = self.table.column(name).take(pa.array(rows, mask=missing))
            if taken.null_count == len(taken):
                return np.full(len(taken), None, dtype=object)
            return pd.StringDtype("pyarrow", na_value=np.nan).__from_arrow__(taken)
        out = values[rows]
        if pa.types.is_floating(kind):
            out[where] = np.nan
            return out
        if pa.types.is_timestamp(kind):
            out[where] = np.iinfo("int64").min  # NaT
            return pd.DatetimeIndex(out.view("datetime64[us]")).tz_localize("UTC").array
        if not len(where):
            return out
        if pa.types.is_boolean(kind):
            return pd.arrays.BooleanArray(out, missing)
        return pd.arrays.IntegerArray(out, missing)


def _write_ipc(path: Path, table: pa.Table) -> None:
    import pyarrow as pa

    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _read_ipc(path: Path) -> pa.Table:
    import pyarrow as pa

    return pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()
