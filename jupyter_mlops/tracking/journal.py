"""A run's write-ahead journal: every batch is written here before it is sent.

One JSON-lines file per run under ``<state_dir>/tracking/journal/<local_id>.jsonl``. The first
line is a header (tracking URI, run id); then records with a sequence number:

- ``create``: the run itself, when the tracking server was unreachable at ``start_run``;
- ``batch``: metrics ``m`` ([key, value, timestamp, step]), params ``p`` and tags ``t``;
- ``artifact``: a file staged next to the journal, to upload under ``path``;
- ``end``: the run's final status and end time;
- ``try`` (seq): the record is about to be sent, so after a failure it may have been applied;
- ``done`` (seq): the store confirmed the record; ``created``: the run id a create got.

A record written with ``"tried": true`` was sent right after being written. A record that was
tried and is not done is *in doubt*: its metrics are checked against the server before they
are sent again (MLflow appends metric points, so a blind re-send could duplicate them).
While a live journal has nothing pending it is cut back to its header, so it stays small.

A journal reopened after its process died mid-write is first cut back to its last complete
line, so the next record starts on a line of its own. One run's journal and its staged files
hold at most ``MAX_BYTES`` on disk: a metric batch or artifact that would go past it while the
store is unreachable is dropped (its staged file deleted) and the sender warns once; a run's
``create`` and ``end`` records, and a record being sent, are always written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from ..paths import make_folder

try:  # POSIX: another kernel must not replay a journal this one is writing
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

VERSION = 1

#: The most one run's journal plus its staged files may hold on disk, in bytes (512 MiB).
MAX_BYTES = 512 * 1024 * 1024
#: records that are dropped, not written, when the journal is at ``MAX_BYTES``
CAPPED_OPS = ("batch", "artifact")

#: a journal record: what the sender must do for the run, in order
RecordOp = Literal["create", "batch", "artifact", "end"]
#: a mark on a record: ``try`` (sent, answer unknown), ``done``, ``created`` (with the run id)
MarkOp = Literal["try", "done", "created"]
RECORD_OPS: tuple[RecordOp, ...] = ("create", "batch", "artifact", "end")


@dataclass
class Record:
    op: RecordOp
    seq: int
    data: dict[str, Any]
    tried: bool = False
    done: bool = False


@dataclass
class Pending:
    """What a journal still has to send, in order, with the run id if it is known."""

    header: dict[str, Any]
    run_id: str | None
    records: list[Record] = field(default_factory=list)
    last_seq: int = 0  # the highest sequence number written, done or not

    @property
    def points(self) -> int:
        return sum(len(r.data.get("m", ())) for r in self.records if r.op == "batch")


def journal_dir(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / "tracking" / "journal"


def read(path: Path) -> Pending:
    """Parse a journal; a torn last line (the process died while writing it) is ignored."""
    header: dict[str, Any] = {}
    run_id: str | None = None
    records: dict[int, Record] = {}
    with path.open("r", encoding="utf-8") as handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            op = entry.get("op")
            if op == "open":
                header = entry
                run_id = entry.get("run_id") or run_id
            elif op == "created":
                run_id = entry["run_id"]
            elif op == "try" and entry["seq"] in records:
                records[entry["seq"]].tried = True
            elif op == "done" and entry["seq"] in records:
                records[entry["seq"]].done = True
            elif op in RECORD_OPS:
                seq = int(entry["seq"])
                records[seq] = Record(op, seq, entry, tried=bool(entry.get("tried")))
    pending = [r for _, r in sorted(records.items()) if not r.done]
    return Pending(header, run_id, pending, max(records, default=0))


class Journal:
    """The open journal of one run in this process (holding an exclusive lock on it)."""

    def __init__(self, folder: Path, local_id: str, header: dict[str, Any]) -> None:
        make_folder(folder)
        self.path = folder / f"{local_id}.jsonl"
        self.files = folder / f"{local_id}.files"
        self.lock = threading.RLock()
        self._handle: IO[str] | None = None
        self._header = {"op": "open", "v": VERSION, "local_id": local_id, "pid": os.getpid(),
                        "opened": time.time(), **header}
        self._seq = 0
        self._pending: set[int] = set()
        self._init_size()
        self._open(self.path.exists())

    @classmethod
    def adopt(cls, path: Path) -> Journal | None:
        """Take over a journal left by a process that is gone; None if someone holds it."""
        journal = cls.__new__(cls)
        journal.path = path
        journal.files = path.with_suffix(".files")
        journal.lock = threading.RLock()
        journal._handle = None
        try:
            handle = path.open("a+", encoding="utf-8")
        except OSError:
            return None
        if not _try_lock(handle):
            handle.close()
            return None
        journal._handle = handle
        journal._init_size()
        journal._bytes = _cut_torn_tail(handle)
        state = read(path)
        journal._header = state.header or {"op": "open", "v": VERSION,
                                           "local_id": path.stem}
        journal._seq = state.last_seq
        journal._pending = {r.seq for r in state.records}
        return journal

    def _open(self, existing: bool) -> None:
        handle = self.path.open("a+", encoding="utf-8")
        if not _try_lock(handle):
            handle.close()
            raise OSError(f"{self.path} is in use by another process")
        self._handle = handle
        self._bytes = _cut_torn_tail(handle)
        if existing and self._bytes:  # a resumed run re-opens its journal: keep what it holds
            state = read(self.path)
            self._seq = state.last_seq
            self._pending = {r.seq for r in state.records}
        else:
            self._write(self._header)

    def _init_size(self) -> None:
        """Start counting bytes on disk: the cap, the staged files already there."""
        self.cap = MAX_BYTES
        self.capped_told = False  # a record was dropped (and the user told) since it emptied
        self._bytes = 0
        self._staged = sum(f.stat().st_size for f in self.files.rglob("*") if f.is_file()) \
            if self.files.is_dir() else 0

    @property
    def size(self) -> int:
        """Bytes this run's journal and its staged files hold on disk (an upper bound)."""
        return self._bytes + self._staged

    @property
    def header(self) -> dict[str, Any]:
        return self._header

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    def _write(self, entry: dict[str, Any], line: str | None = None) -> None:
        if self._handle is None:  # closed (the run was forgotten): nothing to keep
            return
        line = line or _line(entry)
        self._handle.write(line)
        self._handle.flush()
        self._bytes += len(line.encode("utf-8"))

    def append(self, op: RecordOp, data: dict[str, Any], *, tried: bool = False
               ) -> int | None:
        """Write a record; its sequence number, or None when it was dropped: a batch or an
        artifact not sent now (``tried``) that would take the journal past its cap (the
        artifact's staged file is deleted)."""
        with self.lock:
            entry = {"op": op, "seq": self._seq + 1, **data}
            if tried:
                entry["tried"] = True
            line = _line(entry)
            if not tried and op in CAPPED_OPS and self.size + len(line) > self.cap:
                if op == "artifact":
                    self._unstage(Path(str(data.get("file", ""))))
                return None
            self._seq += 1
            self._write(entry, line)
            self._pending.add(self._seq)
            return self._seq

    def mark(self, op: MarkOp, seq: int, **data: Any) -> None:
        """``try`` / ``done`` for a record, or ``created`` with the run id."""
        with self.lock:
            self._write({"op": op, "seq": seq, **data})
            if op == "done":
                self._pending.discard(seq)
            if op == "created":
                self._header["run_id"] = data["run_id"]

    def sync(self) -> None:
        """Make what was written survive a machine crash (used when offline and at exit)."""
        with self.lock:
            if self._handle is not None:
                with contextlib.suppress(OSError):
                    os.fsync(self._handle.fileno())

    def compact(self) -> None:
        """Nothing pending: cut the file back to its header (the run id now known)."""
        with self.lock:
            if self._pending or self._handle is None:
                return
            self._handle.seek(0)
            self._handle.truncate()
            self._bytes = self._staged = 0  # staged files are deleted once sent
            self.capped_told = False
            self._write(self._header)

    def pending(self) -> Pending:
        with self.lock:
            state = read(self.path)
            return state

    def stage(self, source: Path | None, name: str, content: bytes | None = None) -> Path:
        """Copy a file (or write bytes) next to the journal, so what is uploaded later is what
        the run saw now."""
        with self.lock:
            folder = self.files / uuid.uuid4().hex[:12]
            make_folder(folder)
            target = folder / name
            if content is not None:
                target.write_bytes(content)
            elif source is not None:
                shutil.copyfile(source, target)
            self._staged += target.stat().st_size
            return target

    def _unstage(self, staged: Path) -> None:
        """Delete a staged file that will not be sent (only one under this journal's files)."""
        if self.files.resolve() not in staged.resolve().parents:
            return
        with contextlib.suppress(OSError):
            self._staged -= staged.stat().st_size
            staged.unlink()

    def close(self, *, remove: bool) -> None:
        with self.lock:
            if self._handle is None:
                return
            if remove:
                with contextlib.suppress(OSError):
                    self.path.unlink()
                shutil.rmtree(self.files, ignore_errors=True)
            self._handle.close()  # closing releases the lock
            self._handle = None


def _line(entry: dict[str, Any]) -> str:
    return json.dumps(entry, separators=(",", ":")) + "\n"


def _cut_torn_tail(handle: IO[str]) -> int:
    """Truncate the (locked) journal after its last newline, dropping a line its writer did
    not finish, so the next record is not glued to it; the size left, in bytes."""
    fd = handle.fileno()
    end = os.fstat(fd).st_size
    keep = end
    while keep > 0:
        start = max(0, keep - 4096)
        chunk = os.pread(fd, keep - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            break
        keep = start
    if keep != end:
        handle.flush()
        os.ftruncate(fd, keep)
    return keep


def _try_lock(handle: IO[str]) -> bool:
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def backlog(state_dir: str | os.PathLike[str]) -> tuple[int, int]:
    """(journals, metric points) waiting under ``state_dir``, read from disk."""
    folder = journal_dir(state_dir)
    files = points = 0
    if not folder.is_dir():
        return 0, 0
    for path in folder.glob("*.jsonl"):
        try:
            state = read(path)
        except OSError:
            continue
        if state.records:
            files += 1
            points += state.points
    return files, points
