"""Reading a deployment's inference log an hour at a time.

The serving process writes one Parquet file per flush into hourly partitions
(``date=YYYY-MM-DD/hour=HH/part-….parquet``, see ``inference_log``). Readers ask for the
hours that overlap a window (``log_hours``) and read each one (``HourPart.read``). An hour
that is over no longer changes, so what is derived from it (a drift summary) can be cached
under ``cache_folder``, keyed by the hour's ``fingerprint``, which changes whenever a file is
added to the hour. Where the artifact root is on S3, an hour's files are the union, by
name, of the local ones not shipped yet and those on S3 (``remote_log``); S3 parts are
downloaded once into the cache.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config
from .folders import monitoring_folder
from .remote_log import RemoteLog, remote_url

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["HourPart", "cache_folder", "log_hours"]

_DAY, _HOUR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$"), re.compile(r"^hour=(\d{2})$")
#: an hour is taken as over (its summary may be cached) this long after its end: the writer
#: flushes twice a second, and a record's time is when its answer was written
SETTLE = timedelta(seconds=30)


@dataclass(frozen=True)
class HourPart:
    """The finished Parquet files of one hour of a deployment's inference log."""

    start: datetime  # the hour's start, UTC
    files: tuple[str, ...]  # oldest first
    fingerprint: str  # changes whenever a file is added to the hour
    complete: bool  # the hour is over: nothing more will be written to it
    #: where shipped files are (their names in ``files`` are then relative), and where
    #: they are downloaded to
    remote: RemoteLog | None = field(default=None, compare=False, repr=False)
    cache: Path | None = field(default=None, compare=False, repr=False)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=1)

    def read(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The hour's rows (only ``columns``, where given, that the files have). A file
        still being written or cut short by a killed process is skipped: it is not a
        Parquet file yet."""
        import pyarrow as pa
        import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

        tables = []
        for name in self.files:
            try:
                path = self._local(name)
                if path is None:
                    continue
                with pq.ParquetFile(path) as parquet:  # opened once: schema and rows
                    present = set(parquet.schema_arrow.names)
                    tables.append(parquet.read(
                        columns=None if columns is None else [c for c in columns
                                                              if c in present],
                        use_threads=False))
            except (OSError, pa.ArrowInvalid):
                continue
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables, promote_options="permissive")

    def _local(self, name: str) -> str | None:
        """A file to read for ``name``: itself when it is local, else (shipped to S3, even
        while being listed) the downloaded copy; None when neither is there."""
        if not name.startswith("s3://") and Path(name).is_file():
            return name
        if self.remote is None or self.cache is None:
            return None
        relative = "/".join(Path(name).parts[-3:]) if not name.startswith("s3://") else \
            name[len(self.remote.url) + 1:]
        try:
            return str(self.remote.fetch(relative, self.cache))
        except Exception:  # gone from both: it was never finished
            return None


def _hour_start(day: str, hour: str) -> datetime | None:
    try:
        return datetime.fromisoformat(day).replace(hour=int(hour), tzinfo=timezone.utc)
    except ValueError:
        return None


def _fingerprint(start: datetime, files: dict[str, int]) -> str:
    """From each file's name and size (the same for a file and its shipped copy)."""
    digest = hashlib.sha256(start.isoformat().encode())
    for name, size in sorted(files.items()):
        digest.update(f"\0{name}\0{size}".encode())
    return digest.hexdigest()[:32]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _in_window(day: str, hour: str, since: datetime | None,
               until: datetime | None) -> datetime | None:
    day_match, hour_match = _DAY.match(day), _HOUR.match(hour)
    if not day_match or not hour_match:
        return None
    start = _hour_start(day_match.group(1), hour_match.group(1))
    if start is None or (since is not None and start + timedelta(hours=1) <= since) or (
            until is not None and start >= until):
        return None
    return start


def hours_in(folder: Path, since: datetime | None, until: datetime | None,
             now: datetime | None = None, *, remote: RemoteLog | None = None,
             cache: Path | None = None) -> list[HourPart]:
    """The hours of the log in ``folder`` (and, with ``remote``, of its shipped copy) that
    may hold rows of [since, until), oldest first (hours without a finished file are left
    out). The local folder is listed before S3: a file shipped in between is then listed
    twice, under one name, and read once."""
    now = now or datetime.now(timezone.utc)
    hours: dict[datetime, dict[str, tuple[str, int]]] = {}  # start -> name -> (file, size)
    for day in folder.glob("date=*"):
        for hour in day.glob("hour=*") if day.is_dir() else ():
            start = _in_window(day.name, hour.name, since, until)
            if start is None or not hour.is_dir():
                continue
            for path in hour.glob("*.parquet"):
                if not path.name.startswith((".", "_")) and path.is_file():
                    hours.setdefault(start, {})[path.name] = (str(path), _size(path))
    if remote is not None:
        for relative, size in remote.listing().items():
            pieces = relative.split("/")
            start = _in_window(pieces[0], pieces[1], since, until) if len(pieces) == 3 \
                else None
            if start is not None and not pieces[2].startswith((".", "_")):
                hours.setdefault(start, {}).setdefault(
                    pieces[2], (f"{remote.url}/{relative}", size))
    return [HourPart(start, tuple(file for _name, (file, _size) in sorted(files.items())),
                     _fingerprint(start, {n: size for n, (_f, size) in files.items()}),
                     start + timedelta(hours=1) + SETTLE <= now, remote, cache)
            for start, files in sorted(hours.items())]


def remote_of(config: Config, name: str) -> RemoteLog | None:
    """Where ``name``'s log is shipped, when the artifact root is on S3."""
    url = remote_url(str(config["tracking.artifact_root"]), name)
    if url is None:
        return None
    return RemoteLog(url, str(config["aws.endpoint_url"]), str(config["aws.region"]))


def log_hours(config: Config, name: str, since: datetime | None = None,
              until: datetime | None = None) -> list[HourPart]:
    """The hours of deployment ``name``'s inference log that may hold rows of
    [since, until), oldest first."""
    return hours_in(monitoring_folder(config, name), since, until,
                    remote=remote_of(config, name), cache=cache_folder(config, name) / "s3")


def cache_folder(config: Config, name: str) -> Path:
    """A local folder for what is derived from ``name``'s log (per-hour summaries); it may
    be deleted at any time."""
    return monitoring_folder(config, name) / "_cache"
