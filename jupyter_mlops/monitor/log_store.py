"""Reading a deployment's inference log an hour at a time.

The serving process writes one Parquet file per flush into hourly partitions
(``date=YYYY-MM-DD/hour=HH/part-….parquet``, see ``inference_log``). Readers ask for the
hours that overlap a window (``log_hours``) and read each one (``HourPart.read``). An hour
that is over no longer changes, so what is derived from it (a drift summary) can be cached
under ``cache_folder``, keyed by the hour's ``fingerprint``, which changes whenever a file is
added to the hour.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config
from .folders import monitoring_folder

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
        for path in self.files:
            try:
                if columns is None:
                    tables.append(pq.read_table(path))
                else:
                    present = set(pq.read_schema(path).names)
                    tables.append(pq.read_table(path, columns=[c for c in columns
                                                              if c in present]))
            except (OSError, pa.ArrowInvalid):
                continue
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables, promote_options="permissive")


def _hour_start(day: str, hour: str) -> datetime | None:
    try:
        return datetime.fromisoformat(day).replace(hour=int(hour), tzinfo=timezone.utc)
    except ValueError:
        return None


def _fingerprint(start: datetime, files: list[Path]) -> str:
    digest = hashlib.sha256(start.isoformat().encode())
    for path in files:
        try:
            size = path.stat().st_size
        except OSError:
            size = -1
        digest.update(f"\0{path.name}\0{size}".encode())
    return digest.hexdigest()[:32]


def hours_in(folder: Path, since: datetime | None, until: datetime | None,
             now: datetime | None = None) -> list[HourPart]:
    """The hours of the log in ``folder`` that may hold rows of [since, until), oldest
    first (hours without a finished file are left out)."""
    now = now or datetime.now(timezone.utc)
    found: list[HourPart] = []
    for day in folder.glob("date=*"):
        day_match = _DAY.match(day.name)
        if not day_match or not day.is_dir():
            continue
        for hour in day.glob("hour=*"):
            hour_match = _HOUR.match(hour.name)
            start = _hour_start(day_match.group(1), hour_match.group(1)) if hour_match else None
            if start is None or not hour.is_dir():
                continue
            if since is not None and start + timedelta(hours=1) <= since:
                continue
            if until is not None and start >= until:
                continue
            files = sorted(p for p in hour.glob("*.parquet")
                           if not p.name.startswith((".", "_")) and p.is_file())
            if not files:
                continue
            found.append(HourPart(start, tuple(str(p) for p in files),
                                  _fingerprint(start, files),
                                  start + timedelta(hours=1) + SETTLE <= now))
    return sorted(found, key=lambda part: part.start)


def log_hours(config: Config, name: str, since: datetime | None = None,
              until: datetime | None = None) -> list[HourPart]:
    """The hours of deployment ``name``'s inference log that may hold rows of
    [since, until), oldest first."""
    return hours_in(monitoring_folder(config, name), since, until)


def cache_folder(config: Config, name: str) -> Path:
    """A local folder for what is derived from ``name``'s log (per-hour summaries); it may
    be deleted at any time."""
    return monitoring_folder(config, name) / "_cache"
