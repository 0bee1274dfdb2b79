"""The online table: the latest row of each entity, one SQLite table per view version,
updated on publish (an upsert that only a later row wins) and read with one query per batch of
keys through a kept-open connection."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..paths import make_folder
from .duck import connect, quote
from .model import CREATED_US, EVENT_US, SEQ, FeatureView

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

NO_CREATED = -(2**62)  # sorts below every real created timestamp


_readers: dict[Path, tuple[int, sqlite3.Connection]] = {}
_readers_lock = threading.Lock()


def _reader(path: Path) -> sqlite3.Connection | None:
    """A kept-open read connection to the online table (a lookup then costs one query),
    opened again when the file was replaced; None while nothing has been published."""
    try:
        inode = os.stat(path).st_ino
    except FileNotFoundError:
        return None
    with _readers_lock:
        found = _readers.get(path)
        if found is not None and found[0] == inode:
            return found[1]
        if found is not None:
            found[1].close()
        con = sqlite3.connect(path, timeout=60, check_same_thread=False)
        _readers[path] = (inode, con)
        return con


class OnlineTable:
    """The latest row of each entity, one SQLite table per view version."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        make_folder(self.path.parent)
        con = sqlite3.connect(self.path, timeout=60)
        return con

    @staticmethod
    def table(name: str, version: int) -> str:
        return quote(f"{name}@v{version}")

    def upsert(self, name: str, version: int, keys: list[str], table: pa.Table,
               columns: list[str]) -> None:
        import pyarrow as pa

        con = connect()
        con.register("batch", table)
        part = ", ".join(quote(k) for k in keys)
        latest = con.sql(
            f"SELECT * FROM batch QUALIFY row_number() OVER (PARTITION BY {part} ORDER BY "
            f"{EVENT_US} DESC, {CREATED_US} DESC NULLS LAST, {SEQ} DESC) = 1").to_arrow_table()
        con.close()
        values = []
        names = [*keys, *[c for c in columns if c not in keys], EVENT_US, CREATED_US, SEQ]
        for column in names:
            data = latest.column(column)
            if pa.types.is_timestamp(data.type):
                data = data.cast(pa.int64())
            values.append(data.to_pylist())
        created = values[-2]
        values[-2] = [NO_CREATED if v is None else v for v in created]
        rows = list(zip(*values, strict=True))
        target = self.table(name, version)
        quoted = [quote(n) for n in names]
        update = ", ".join(f"{q} = excluded.{q}" for q in quoted[len(keys):])
        sql = (f"INSERT INTO {target} ({', '.join(quoted)}) VALUES "
               f"({', '.join('?' * len(names))}) ON CONFLICT ({part}) DO UPDATE SET {update} "
               f"WHERE (excluded.{EVENT_US}, excluded.{CREATED_US}, excluded.{SEQ}) > "
               f"({target}.{EVENT_US}, {target}.{CREATED_US}, {target}.{SEQ})")
        con2 = self._connect()
        try:
            with con2:
                con2.execute(f"CREATE TABLE IF NOT EXISTS {target} ({', '.join(quoted)}, "
                             f"PRIMARY KEY ({part}))")
                con2.executemany(sql, rows)
        finally:
            con2.close()

    def lookup(self, view: FeatureView, rows: list[tuple[Any, ...]], features: list[str]
               ) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.columns(view, rows, features), copy=False)

    def columns(self, view: FeatureView, rows: list[tuple[Any, ...]], features: list[str]
                ) -> dict[str, Any]:
        """The key and feature columns of the lookup as typed arrays, in the rows' order."""
        keys = list(view.entities)
        found: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        wanted = list(dict.fromkeys(rows))
        con = _reader(self.path) if wanted else None
        if con is not None:
            with _readers_lock:
                columns = ", ".join(quote(c) for c in [*keys, *features])
                where = quote(keys[0]) if len(keys) == 1 else \
                    "(" + ", ".join(quote(k) for k in keys) + ")"
                for start in range(0, len(wanted), 500):
                    chunk = wanted[start:start + 500]
                    if len(keys) == 1:
                        marks = ", ".join("?" * len(chunk))
                        params: list[Any] = [r[0] for r in chunk]
                    else:
                        one = "(" + ", ".join("?" * len(keys)) + ")"
                        marks = "VALUES " + ", ".join([one] * len(chunk))
                        params = [v for r in chunk for v in r]
                    try:
                        cursor = con.execute(
                            f"SELECT {columns} FROM {self.table(view.name, view.version)} "
                            f"WHERE {where} IN ({marks})", params)
                    except sqlite3.OperationalError as exc:
                        if "no such table" in str(exc):
                            break
                        raise
                    for record in cursor:
                        found[record[:len(keys)]] = record[len(keys):]
        empty = (None,) * len(features)
        types = {f.name: f.type for f in view.schema}
        data: dict[str, Any] = {k: _typed([r[i] for r in rows], types[k])
                                for i, k in enumerate(keys)}
        looked = [found.get(r, empty) for r in rows]
        if features and all(types[f] == "double" for f in features):
            # one float block, sliced: no per-value conversion of the columns
            import numpy as np

            block = np.array(looked, dtype="float64").reshape(len(rows), len(features))
            data.update({f: block[:, i] for i, f in enumerate(features)})
            return data
        values = list(zip(*looked, strict=True)) if looked else [()] * len(features)
        for feature, column in zip(features, values, strict=True):
            data[feature] = _typed(list(column), types[feature])
        return data


def _typed(values: list[Any], kind: str) -> Any:
    """A column read back from SQLite as an array of the view's type (nullable where
    needed), built once (a DataFrame is made from all columns at the end)."""
    import numpy as np
    import pandas as pd

    if kind == "double":
        return np.array(values, dtype="float64")
    if kind == "int64":
        if None in values:
            return pd.array(values, dtype="Int64")
        return np.array(values, dtype="int64")
    if kind == "bool":
        return pd.array(values, dtype="boolean")
    if kind.startswith("timestamp"):
        return pd.to_datetime(pd.array(values, dtype="Int64"), unit="us", utc=True)
    return values
