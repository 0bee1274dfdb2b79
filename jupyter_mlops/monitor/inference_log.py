"""The inference log of a serving process: every answered scoring request (sampled by
``monitor.sample_rate`` and ``monitor.max_rows_per_s``) as rows of hourly Parquet files.

The request path only hands a record over (``InferenceLog.offer``: a deque append, no lock;
O(1), never blocks, never raises). In a serving process a thread pickles the records every
0.1 s to a writer process (``python -m jupyter_mlops.monitor.inference_log FOLDER``, at nice
10) that parses the request and answer bodies, builds the columns and writes one Parquet file
twice a second; it writes what it got when the pipe closes, so a serving process killed with
SIGKILL loses at most the last second. (``start()`` without ``process`` does all of it in a
thread of this process.) When the buffer fills up, new records are accepted with a falling
probability (sampled down) and what is refused is counted as ``dropped``. A folder that
cannot be written keeps the serving going: the error is logged once and shown in
``_status.json``.

Layout (``log_folder``)::

    <state_dir>/monitoring/<deployment>/date=YYYY-MM-DD/hour=HH/part-<ms>-<uuid8>.parquet
    <state_dir>/monitoring/<deployment>/_status.json

When the artifact root is on S3, the writer ships the finished files there every 10 s
(``remote_log``) and the local folder only holds what is not shipped yet.

Columns: ``request_id``, ``timestamp`` (UTC, µs), ``version``, one column per input feature
(the signature's input names, else ``input_<i>``), ``prediction`` (one output) or one column
per output name / ``prediction_<i>``, ``latency_ms``. One row per input row.

Stdlib only at import; pyarrow (and orjson when installed) load in the writer thread.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import os
import pickle
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from ..paths import make_folder
from .remote_log import RemoteLog, Shipper

STATUS_FILE = "_status.json"
FLUSH_EVERY_S = 0.5  # well under a second: SIGKILL loses at most the last second
HAND_OVER_EVERY_S = 0.1  # to the writer process: small frames, short holds of the GIL
WRITER_NICE = 10  # the writer process yields the CPU to serving when cores are scarce
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


class Record(NamedTuple):
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
                 sink: Callable[[Path, Any], None] | None = None,
                 remote: RemoteLog | None = None) -> None:
        self.folder = folder
        self.remote = remote
        self.shipper = Shipper(folder, remote, log=log) if remote is not None else None
        self.sample_rate = sample_rate
        self.max_rows_per_s = max_rows_per_s
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.flush_every_s = flush_every_s
        self.names = names
        self.log = log
        self.sink = sink or write_parquet
        self._buffer: deque[Record] = deque()
        self._bytes_in = 0  # counted by the request thread
        self._bytes_out = 0  # counted by the writer
        self._refused = 0  # rows a full buffer refused (request thread)
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
        self.failed = 0  # rows this process could not write (part of ``dropped``)
        self._child: subprocess.Popen[bytes] | None = None
        self._sent_counts: tuple[int, int] | None = None
        self.sampled_out = 0
        self.error: str | None = None
        self._restore()

    # ------------------------------------------------------------------ request path
    def offer(self, record: Record) -> bool:
        """Hand a record over; False when it was sampled out or dropped. Never blocks and
        never raises."""
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
        # no lock: only this thread appends and counts in, only the writer pops and counts out
        held = len(self._buffer)
        pending = self._bytes_in - self._bytes_out
        fill = max(held / self.max_records, pending / self.max_bytes)
        # over half full: accept with a probability falling to 0 at full (sample down)
        if fill >= 1.0 or pending + size > self.max_bytes or (
                fill > 0.5 and self._random.random() >= 2 * (1.0 - fill)):
            self._refused += rows
            return False
        self._buffer.append(record)
        self._bytes_in += size
        return True

    @property
    def dropped(self) -> int:
        """Rows lost: refused by a full buffer, or not written (see ``error``)."""
        return self._refused + self.failed

    # ------------------------------------------------------------------ the writer
    def start(self, *, process: bool = False) -> InferenceLog:
        """Start the writer thread. With ``process``, the thread only hands the records
        (pickled, unparsed) to a child process (``python -m ...inference_log FOLDER``) that
        builds and writes the files: the serving process's interpreter (its GIL) stays free
        for requests. The child writes what it got when the pipe closes, even after a
        SIGKILL of this process."""
        if process:
            remote = self.remote
            shipping = [] if remote is None else [
                "--remote", remote.url, "--endpoint-url", remote.endpoint_url,
                "--region", remote.region]
            self._child = subprocess.Popen(
                [sys.executable, "-m", __name__, str(self.folder), *shipping],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, close_fds=True)
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is buffered, then end the thread (and the child process)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
        child, self._child = self._child, None
        if child is not None:
            with contextlib.suppress(OSError):
                assert child.stdin is not None
                child.stdin.close()
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def _run(self) -> None:
        if self._child is None:
            self._write_status(force=True)
        every = HAND_OVER_EVERY_S if self._child is not None else self.flush_every_s
        while not self._stop.wait(every):
            self.flush()
            self._ship(force=False)
        self.flush()
        self._ship(force=True)
        if self._child is None:
            self._write_status(force=True)

    def _ship(self, *, force: bool) -> None:
        """Where the log goes to S3: upload the finished files (this process writes them)."""
        if self.shipper is None or self._child is not None:
            return
        error = self.shipper.error
        self.shipper.ship(force=force)
        if self.shipper.error != error:
            self._status_dirty = True

    def _hand_over(self, records: list[Record]) -> bool:
        """Send records (and the counts) to the child; False when it is gone."""
        child = self._child
        counts = (self.dropped, self.sampled_out)
        if child is None or child.stdin is None:
            return False
        if not records and counts == self._sent_counts:
            return True
        names = {v: self.names(v) for v in {r.version for r in records}}
        frame = pickle.dumps((counts, {v: (n.inputs, n.outputs) for v, n in names.items()},
                              [tuple(r) for r in records]), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            child.stdin.write(frame)
            child.stdin.flush()
        except OSError as exc:  # the child died: write here from now on
            self._child = None
            self.log(f"inference log: the writer process is gone ({_one_line(exc)}); "
                     "writing from the serving process")
            return False
        self._sent_counts = counts
        return True

    def _take(self) -> list[Record]:
        buffer = self._buffer
        batch = [buffer.popleft() for _ in range(len(buffer))]
        self._bytes_out += sum(len(r.body) + len(r.answer) for r in batch)
        return batch

    def flush(self) -> int:
        """Write what is buffered (one file per hour it spans); the rows written (0 when
        the child process writes them)."""
        records = self._take()
        if self._child is not None and self._hand_over(records):
            return 0
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
        self.failed += rows
        self.error = message
        self._status_dirty = True
        if message not in self._logged_errors:
            self._logged_errors.add(message)
            self.log(f"inference log: {message} (serving goes on; these rows are dropped)")

    # ------------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        if self._child is not None:  # the child keeps the file up to date
            with contextlib.suppress(OSError, ValueError):
                data: dict[str, Any] = json.loads(
                    (self.folder / STATUS_FILE).read_text(encoding="utf-8"))
                return data
        shipping = self.shipper.error if self.shipper is not None else None
        return {"rows_written": self.rows_written, "dropped": self.dropped,
                "sampled_out": self.sampled_out, "error": self.error or shipping,
                "updated": round(time.time(), 3)}

    def _restore(self) -> None:
        """Counts carry on from the last run's ``_status.json``."""
        try:
            data = json.loads((self.folder / STATUS_FILE).read_text(encoding="utf-8"))
            self.rows_written = int(data.get("rows_written", 0))
            self._refused = int(data.get("dropped", 0))
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
            make_folder(self.folder)
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

    make_folder(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        # no dictionaries (features and ids are mostly unique), statistics for time filters
        pq.write_table(table, tmp, compression="snappy", use_dictionary=["version"],
                       write_statistics=["timestamp"])
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


Rows = tuple[tuple[str, ...], Sequence[Sequence[Any]]]
"""Column names and the rows (sequences of raw values, as parsed; no per-cell work here:
``_array`` converts whole columns)."""


@functools.lru_cache(maxsize=64)
def _numbered(prefix: str, width: int) -> tuple[str, ...]:
    return tuple(f"{prefix}_{i}" for i in range(width))


def _named(rows: Sequence[Any], names: Sequence[str], prefix: str) -> Rows:
    """Rows (lists, dicts or scalars) as column names and sequences of values."""
    if not rows:
        return (), []
    first = rows[0]
    if isinstance(first, dict):
        keys = tuple(first)
        if len(keys) == 1:
            key = keys[0]
            return (str(key),), [(r.get(key) if isinstance(r, dict) else None,) for r in rows]
        pick = itemgetter(*keys)
        try:
            return tuple(map(str, keys)), [pick(r) for r in rows]
        except (KeyError, TypeError):
            return tuple(map(str, keys)), [tuple(r.get(k) for k in keys) if isinstance(r, dict)
                                           else (None,) * len(keys) for r in rows]
    if isinstance(first, list):
        width = len(first)
        cols = tuple(names) if len(names) == width else _numbered(prefix, width)
        if all(isinstance(r, list) and len(r) == width for r in rows):
            return cols, rows
        return cols, [(list(r) + [None] * width)[:width] if isinstance(r, (list, tuple))
                      else [r] + [None] * (width - 1) for r in rows]
    col = names[0] if len(names) == 1 else (prefix if prefix == "prediction" else f"{prefix}_0")
    return (col,), [(r,) for r in rows]


def input_rows(body: bytes, content_type: str, names: Sequence[str]) -> Rows:
    """The rows of one scoring request."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "text/csv":
        reader = [r for r in csv.reader(io.StringIO(body.decode("utf-8", errors="replace")))
                  if r]
        return (tuple(reader[0]), reader[1:]) if reader else ((), [])
    if mime == "application/vnd.apache.parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(body))
        return tuple(table.column_names), [tuple(row.values()) for row in table.to_pylist()]
    return json_rows(_loads(body), names)


def json_rows(data: Any, names: Sequence[str]) -> Rows:
    """The rows of one parsed JSON scoring request."""
    fmt = next((f for f in FORMATS if isinstance(data, dict) and f in data), None)
    if fmt is None:
        return ("input",), [(data,)]
    value = data[fmt]
    if fmt == "dataframe_split" and isinstance(value, dict):
        rows = value.get("data") or []
        columns = value.get("columns")
        return _named(rows, [str(c) for c in columns] if isinstance(columns, list) else names,
                      "input")
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        return tuple(map(str, value)), list(zip(*value.values(), strict=False))
    if isinstance(value, list):
        return _named(value, names, "input")
    return ("input",), [(value,)]


_UNPARSED = object()


def _parse_all(blobs: Sequence[bytes]) -> list[Any]:
    """Each JSON document of ``blobs`` parsed (one parser call for all of them when they are
    all valid); ``_UNPARSED`` for one that is not."""
    if not blobs:
        return []
    try:
        parsed = _loads(b"[" + b",".join(blobs) + b"]")
        if isinstance(parsed, list) and len(parsed) == len(blobs):
            return parsed
    except ValueError:
        pass
    out = []
    for blob in blobs:
        try:
            out.append(_loads(blob))
        except ValueError:
            out.append(_UNPARSED)
    return out


def output_rows(data: Any, names: Sequence[str], rows: int) -> Rows:
    """The predictions of one parsed answer, one row per input row."""
    predictions = data.get("predictions", data) if isinstance(data, dict) else data
    if isinstance(predictions, dict) and predictions and all(
            isinstance(v, list) for v in predictions.values()):
        return tuple(map(str, predictions)), list(zip(*predictions.values(), strict=False))
    if isinstance(predictions, list):
        return _named(predictions, names, "prediction")
    return ("prediction",), [(predictions,)] * max(rows, 1)


def build_tables(records: Sequence[Record], names: Callable[[int], Names]
                 ) -> list[tuple[float, Any]]:
    """The records as Arrow tables, one per hour they span: (an epoch in that hour, table)."""
    import pyarrow as pa

    groups: dict[tuple[Any, ...], dict[str, list[Any]]] = {}
    is_json = [r.content_type.startswith("application/json") for r in records]
    bodies = iter(_parse_all([r.body for r, j in zip(records, is_json, strict=True) if j]))
    answers = _parse_all([r.answer for r in records])
    for record, answer, json_body in zip(records, answers, is_json, strict=True):
        known = names(record.version)
        try:
            if json_body:
                data = next(bodies)
                if data is _UNPARSED:
                    raise ValueError("not JSON")
                in_cols, in_rows = json_rows(data, known.inputs)
            else:
                in_cols, in_rows = input_rows(record.body, record.content_type, known.inputs)
            if answer is _UNPARSED:
                raise ValueError("not JSON")
            out_cols, out_rows = output_rows(answer, known.outputs, len(in_rows))
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
        group["_in"].extend(in_rows)
        group["_out"].extend(out_rows)
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
    """One column: as pyarrow reads it when it can; nested values as JSON text; mixed types
    (numbers and text) as text."""
    import pyarrow as pa

    try:
        array = pa.array(values)
        if not pa.types.is_nested(array.type):
            return array
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    cells = [_cell(v) for v in values]
    try:
        return pa.array(cells)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in cells], pa.string())


# ---------------------------------------------------------------------------- the child


def main(argv: list[str] | None = None) -> int:
    """The writer process: frames from the serving process on stdin, files out, until the
    pipe closes (the serving process stopped, or was killed)."""
    args = list(sys.argv[1:] if argv is None else argv)
    options = dict(zip(args[1::2], args[2::2], strict=False))
    if len(args) % 2 != 1 or not set(options) <= {"--remote", "--endpoint-url", "--region"}:
        print("usage: python -m jupyter_mlops.monitor.inference_log FOLDER [--remote "
              "s3://BUCKET/PREFIX [--endpoint-url URL] [--region REGION]]", file=sys.stderr)
        return 2
    known: dict[int, Names] = {}

    def say(message: str) -> None:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} log writer: {message}", file=sys.stderr,
              flush=True)

    with contextlib.suppress(OSError):
        os.nice(WRITER_NICE)
    remote = RemoteLog(options["--remote"], options.get("--endpoint-url", ""),
                       options.get("--region", "")) if options.get("--remote") else None
    log = InferenceLog(Path(args[0]), names=lambda v: known.get(v, Names()), log=say,
                       remote=remote)
    log.start()  # writes every FLUSH_EVERY_S what this thread puts in its buffer
    stream = sys.stdin.buffer
    while True:
        try:
            (dropped, sampled_out), names, records = pickle.load(stream)
        except (EOFError, pickle.UnpicklingError, OSError):
            break
        known.update({v: Names(tuple(i), tuple(o)) for v, (i, o) in names.items()})
        log._bytes_in += sum(len(r[3]) + len(r[5]) for r in records)
        log._buffer.extend(Record(*r) for r in records)
        log._refused = dropped
        log.sampled_out = sampled_out
    log.stop()  # the last flush and the status
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
