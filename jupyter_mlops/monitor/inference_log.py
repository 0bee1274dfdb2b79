"""The inference log of a serving process: every answered scoring request (sampled by
``monitor.sample_rate`` and ``monitor.max_rows_per_s``) as rows of hourly Parquet files.

The request path only hands a record over (``InferenceLog.offer``: a lock, a deque append;
O(1), never blocks, never raises); a background thread parses the request and answer bodies,
builds the columns and writes one Parquet file per flush, at least twice a second, so a
process killed with SIGKILL loses at most the last second. When the buffer fills up, new
records are accepted with a falling probability (sampled down) and what is refused is
counted as ``dropped``. A folder that cannot be written keeps the serving going: the error is
logged once and shown in ``_status.json``.

Layout (``log_folder``)::

    <state_dir>/monitoring/<deployment>/date=YYYY-MM-DD/hour=HH/part-<ms>-<uuid8>.parquet
    <state_dir>/monitoring/<deployment>/_status.json

Columns: ``request_id``, ``timestamp`` (UTC, µs), ``version``, one column per input feature
(the signature's input names, else ``input_<i>``), ``prediction`` (one output) or one column
per output name / ``prediction_<i>``, ``latency_ms``. One row per input row.

Stdlib only at import; pyarrow (and orjson when installed) load in the writer thread.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import random
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUS_FILE = "_status.json"
FLUSH_EVERY_S = 0.5  # well under a second: SIGKILL loses at most the last second
STATUS_EVERY_S = 1.0
MAX_RECORDS = 50_000
MAX_BYTES = 64 * 1024 * 1024
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def log_folder(state_dir: str | os.PathLike[str], deployment: str) -> Path:
    """Where a deployment's inference log lives."""
    return Path(state_dir) / "monitoring" / deployment


def partition(folder: Path, epoch: float) -> Path:
    """The hourly partition folder holding records answered at ``epoch``."""
    stamp = time.gmtime(epoch)
    return folder / time.strftime("date=%Y-%m-%d", stamp) / time.strftime("hour=%H", stamp)


@dataclass(frozen=True)
class Record:
    """One answered request as the request path hands it over (nothing parsed yet)."""

    request_id: str
    timestamp: float  # epoch seconds, when the answer was written
    version: int
    body: bytes
    content_type: str
    answer: bytes
    latency_ms: float
    rows: int


@dataclass(frozen=True)
class Names:
    """A version's signature names: inputs and outputs (empty when it has none)."""

    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()

    @classmethod
    def from_signature(cls, signature: dict[str, Any] | None) -> Names:
        def names(specs: Any) -> tuple[str, ...]:
            if not isinstance(specs, list) or not specs:
                return ()
            found = [s.get("name") for s in specs if isinstance(s, dict)]
            if len(found) != len(specs) or not all(isinstance(n, str) and n for n in found):
                return ()
            return tuple(str(n) for n in found)

        signature = signature or {}
        return cls(names(signature.get("inputs")), names(signature.get("outputs")))


class InferenceLog:
    """A bounded buffer of records and the thread that writes them as Parquet."""

    def __init__(self, folder: Path, *, sample_rate: float = 1.0, max_rows_per_s: int = 0,
                 max_records: int = MAX_RECORDS, max_bytes: int = MAX_BYTES,
                 flush_every_s: float = FLUSH_EVERY_S,
                 names: Callable[[int], Names] = lambda _version: Names(),
                 log: Callable[[str], None] = lambda _message: None,
                 sink: Callable[[Path, Any], None] | None = None) -> None:
        self.folder = folder
        self.sample_rate = sample_rate
        self.max_rows_per_s = max_rows_per_s
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.flush_every_s = flush_every_s
        self.names = names
        self.log = log
        self.sink = sink or write_parquet
        self._lock = threading.Lock()
        self._buffer: deque[Record] = deque()
        self._bytes = 0
        self._second = 0
        self._second_rows = 0
        self._random = random.Random()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status_at = 0.0
        self._status_dirty = True
        self._counts = (0, 0)
        self._logged_errors: set[str] = set()
        self.rows_written = 0
        self.dropped = 0
        self.sampled_out = 0
        self.error: str | None = None
        self._restore()

    # ------------------------------------------------------------------ request path
    def offer(self, record: Record) -> bool:
        """Hand a record over; False when it was sampled out or dropped. Never blocks long
        (one uncontended lock) and never raises."""
        rows = record.rows
        if self.sample_rate < 1.0 and self._random.random() >= self.sample_rate:
            self.sampled_out += rows
            return False
        if self.max_rows_per_s:
            second = int(record.timestamp)
            if second != self._second:
                self._second, self._second_rows = second, 0
            if self._second_rows + rows > self.max_rows_per_s:
                self.sampled_out += rows
                return False
            self._second_rows += rows
        size = len(record.body) + len(record.answer)
        with self._lock:
            held = len(self._buffer)
            fill = max(held / self.max_records, self._bytes / self.max_bytes)
            # over half full: accept with a probability falling to 0 at full (sample down)
            if fill >= 1.0 or self._bytes + size > self.max_bytes or (
                    fill > 0.5 and self._random.random() >= 2 * (1.0 - fill)):
                self.dropped += rows
                return False
            self._buffer.append(record)
            self._bytes += size
        return True

    # ------------------------------------------------------------------ the writer
    def start(self) -> InferenceLog:
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is buffered, then end the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        self._write_status(force=True)
        while not self._stop.wait(self.flush_every_s):
            self.flush()
        self.flush()
        self._write_status(force=True)

    def _take(self) -> list[Record]:
        with self._lock:
            batch, self._buffer, self._bytes = self._buffer, deque(), 0
        return list(batch)

    def flush(self) -> int:
        """Write what is buffered (one file per hour it spans); the rows written."""
        records = self._take()
        written = 0
        if records:
            try:
                tables = build_tables(records, self.names)
            except Exception as exc:  # a bug here must not end the thread
                self._fail(sum(r.rows for r in records), f"could not build the log rows: "
                           f"{type(exc).__name__}: {exc}")
                tables = []
            for epoch, table in tables:
                target = partition(self.folder, epoch) / (
                    f"part-{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}.parquet")
                try:
                    self.sink(target, table)
                except Exception as exc:
                    self._fail(table.num_rows, f"cannot write the inference log under "
                               f"{self.folder}: {_one_line(exc)}")
                    continue
                written += table.num_rows
                self.rows_written += table.num_rows
                self.error = None
                self._status_dirty = True
        self._write_status()
        return written

    def _fail(self, rows: int, message: str) -> None:
        with self._lock:
            self.dropped += rows
        self.error = message
        self._status_dirty = True
        if message not in self._logged_errors:
            self._logged_errors.add(message)
            self.log(f"inference log: {message} (serving goes on; these rows are dropped)")

    # ------------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        return {"rows_written": self.rows_written, "dropped": self.dropped,
                "sampled_out": self.sampled_out, "error": self.error,
                "updated": round(time.time(), 3)}

    def _restore(self) -> None:
        """Counts carry on from the last run's ``_status.json``."""
        try:
            data = json.loads((self.folder / STATUS_FILE).read_text(encoding="utf-8"))
            self.rows_written = int(data.get("rows_written", 0))
            self.dropped = int(data.get("dropped", 0))
            self.sampled_out = int(data.get("sampled_out", 0))
        except (OSError, ValueError, TypeError, AttributeError):
            pass

    def _write_status(self, force: bool = False) -> None:
        now = time.monotonic()
        counts = (self.dropped, self.sampled_out)
        if counts != self._counts:
            self._status_dirty = True
            self._counts = counts
        if not force and (not self._status_dirty or now - self._status_at < STATUS_EVERY_S):
            return
        self._status_at = now
        self._status_dirty = False
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{STATUS_FILE}.")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.status(), handle)
            os.replace(tmp, self.folder / STATUS_FILE)
        except OSError as exc:
            message = f"cannot write {self.folder / STATUS_FILE}: {_one_line(exc)}"
            self.error = self.error or message
            if message not in self._logged_errors:
                self._logged_errors.add(message)
                self.log(f"inference log: {message} (serving goes on)")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def write_parquet(path: Path, table: Any) -> None:
    """Write ``table`` to ``path`` whole or not at all (a temporary name, then a rename)."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        pq.write_table(table, tmp, compression="snappy")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------- rows


_orjson: Any
try:  # orjson is optional: faster where JSON is hot
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only without orjson
    _orjson = None


def _loads(data: bytes) -> Any:
    return _orjson.loads(data) if _orjson is not None else json.loads(data)


def _cell(value: Any) -> Any:
    """A scalar as is; anything nested as JSON text (one column type per feature)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return str(value)


def _named(rows: Sequence[Any], names: Sequence[str], prefix: str
           ) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """Rows (lists, dicts or scalars) as (column names, tuples of cells)."""
    if not rows:
        return (), []
    first = rows[0]
    if isinstance(first, dict):
        keys = tuple(str(k) for k in first)
        return keys, [tuple(_cell(r.get(k)) if isinstance(r, dict) else None for k in first)
                      for r in rows]
    if isinstance(first, (list, tuple)):
        width = len(first)
        cols = tuple(names) if len(names) == width else tuple(
            f"{prefix}_{i}" for i in range(width))
        return cols, [tuple(_cell(v) for v in (list(r) + [None] * width)[:width])
                      if isinstance(r, (list, tuple)) else (_cell(r),) + (None,) * (width - 1)
                      for r in rows]
    col = names[0] if len(names) == 1 else (prefix if prefix == "prediction" else f"{prefix}_0")
    return (col,), [(_cell(r),) for r in rows]


def input_rows(body: bytes, content_type: str, names: Sequence[str]
               ) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The rows of one scoring request, as columns and tuples."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "text/csv":
        reader = list(csv.reader(io.StringIO(body.decode("utf-8", errors="replace"))))
        reader = [r for r in reader if r]
        return (tuple(reader[0]), [tuple(r) for r in reader[1:]]) if reader else ((), [])
    if mime == "application/vnd.apache.parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(body))
        return tuple(table.column_names), [tuple(_cell(v) for v in row.values())
                                           for row in table.to_pylist()]
    data = _loads(body)
    fmt = next((f for f in FORMATS if isinstance(data, dict) and f in data), None)
    if fmt is None:
        return ("input",), [(_cell(data),)]
    value = data[fmt]
    if fmt == "dataframe_split" and isinstance(value, dict):
        rows = value.get("data") or []
        columns = value.get("columns")
        cols, out = _named(rows, [str(c) for c in columns] if isinstance(columns, list)
                           else names, "input")
        return cols, out
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        cols = tuple(str(k) for k in value)
        return cols, [tuple(_cell(v) for v in row) for row in zip(*value.values(), strict=False)]
    if isinstance(value, list):
        return _named(value, names, "input")
    return ("input",), [(_cell(value),)]


def output_rows(answer: bytes, names: Sequence[str], rows: int
                ) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The predictions of one answer, one tuple per input row."""
    data = _loads(answer)
    predictions = data.get("predictions", data) if isinstance(data, dict) else data
    if isinstance(predictions, dict) and predictions and all(
            isinstance(v, list) for v in predictions.values()):
        cols = tuple(str(k) for k in predictions)
        return cols, [tuple(_cell(v) for v in row)
                      for row in zip(*predictions.values(), strict=False)]
    if isinstance(predictions, list):
        return _named(predictions, names, "prediction")
    return ("prediction",), [(_cell(predictions),)] * max(rows, 1)


def build_tables(records: Sequence[Record], names: Callable[[int], Names]
                 ) -> list[tuple[float, Any]]:
    """The records as Arrow tables, one per hour they span: (an epoch in that hour, table)."""
    import pyarrow as pa

    groups: dict[tuple[Any, ...], dict[str, list[Any]]] = {}
    for record in records:
        known = names(record.version)
        try:
            in_cols, in_rows = input_rows(record.body, record.content_type, known.inputs)
            out_cols, out_rows = output_rows(record.answer, known.outputs, len(in_rows))
        except (ValueError, UnicodeDecodeError):
            in_cols, in_rows = ("input",), [(record.body.decode(errors="replace"),)]
            out_cols, out_rows = ("prediction",), [(record.answer.decode(errors="replace"),)]
        n = max(len(in_rows), len(out_rows))
        if len(out_rows) != len(in_rows):  # an answer not row for row: keep both whole
            in_rows = [in_rows[i] if i < len(in_rows) else (None,) * len(in_cols)
                       for i in range(n)]
            out_rows = [out_rows[i] if i < len(out_rows) else (None,) * len(out_cols)
                        for i in range(n)]
        hour = int(record.timestamp // 3600)
        key = (hour, in_cols, out_cols)
        group = groups.get(key)
        if group is None:
            group = groups[key] = {"request_id": [], "timestamp": [], "version": [],
                                   "_in": [], "_out": [], "latency_ms": []}
        group["request_id"] += [record.request_id] * n
        group["timestamp"] += [int(record.timestamp * 1_000_000)] * n
        group["version"] += [str(record.version)] * n
        group["_in"] += in_rows
        group["_out"] += out_rows
        group["latency_ms"] += [record.latency_ms] * n
    by_hour: dict[int, list[Any]] = {}
    for (hour, in_cols, out_cols), group in groups.items():
        arrays: dict[str, Any] = {
            "request_id": pa.array(group["request_id"], pa.string()),
            "timestamp": pa.array(group["timestamp"], pa.timestamp("us", tz="UTC")),
            "version": pa.array(group["version"], pa.string()),
        }
        for cols, part in ((in_cols, "_in"), (out_cols, "_out")):
            columns: list[Sequence[Any]] = list(zip(*group[part], strict=False)) or [
                [] for _ in cols]
            for name, values in zip(cols, columns, strict=False):
                if name in arrays:  # an output named like an input or a fixed column
                    name = f"{name}_{'output' if part == '_out' else 'input'}"
                arrays[name] = _array(values)
        arrays["latency_ms"] = pa.array(group["latency_ms"], pa.float64())
        by_hour.setdefault(hour, []).append(pa.table(arrays))
    return [(hour * 3600.0, tables[0] if len(tables) == 1 else
             pa.concat_tables(tables, promote_options="permissive"))
            for hour, tables in sorted(by_hour.items())]


def _array(values: Sequence[Any]) -> Any:
    """One column; mixed types (numbers and text) become text."""
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
