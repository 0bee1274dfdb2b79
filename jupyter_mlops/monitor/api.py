"""The monitor's public API: ``inferences(name, since, until, limit)`` reads a deployment's
inference log, ``summary(name, since)`` says how it is doing.

The serving process writes one Parquet file per flush under
``<state_dir>/monitoring/<deployment>/date=YYYY-MM-DD/hour=HH/part-….parquet``; only the
hourly partitions that overlap the asked window are opened. ``since`` / ``until``: see
``timespan`` (``"15m"``, ``"2d"``, an ISO 8601 time or a ``datetime``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..config import Config, load_config
from ..errors import UserInputError
from .folders import require_known
from .log_store import cache_folder, hours_in, remote_of
from .overview import MonitorSummary, collect
from .timespan import TimeLike, parse_time

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

__all__ = ["LOG_COLUMNS", "MonitorSummary", "inferences", "read_log", "summary"]

#: the columns every logged row has, whatever the model (its inputs and outputs come between)
LOG_COLUMNS = ("request_id", "timestamp", "version", "latency_ms")


def _config(config: Config | None, cwd: str | os.PathLike[str] | None) -> Config:
    return config if config is not None else load_config(cwd)


def _limit(limit: int | None) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise UserInputError(f"limit must be a whole number of at least 1, not {limit!r}")
    return limit


def read_log(name: str, since: TimeLike = None, until: TimeLike = None,
             limit: int | None = None, *, cwd: str | os.PathLike[str] | None = None,
             config: Config | None = None) -> tuple[pd.DataFrame, int]:
    """The latest ``limit`` rows of [since, until), oldest first, and how many rows the
    window holds in all."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    start, end = parse_time(since, "since"), parse_time(until, "until")
    count = _limit(limit)
    if start is not None and end is not None and start >= end:
        raise UserInputError(f"since ({start.isoformat()}) must be before until "
                             f"({end.isoformat()})")
    config = _config(config, cwd)
    folder = require_known(config, name)
    tables = [table for table in (hour.read() for hour in hours_in(
        folder, start, end, remote=remote_of(config, name),
        cache=cache_folder(config, name) / "s3")) if table.num_columns]
    if not tables:
        return pd.DataFrame(columns=list(LOG_COLUMNS)), 0
    table = pa.concat_tables(tables, promote_options="permissive")
    stamps = table["timestamp"]
    if start is not None:
        table = table.filter(pc.greater_equal(stamps, pa.scalar(start, stamps.type)))
        stamps = table["timestamp"]
    if end is not None:
        table = table.filter(pc.less(stamps, pa.scalar(end, stamps.type)))
    table = table.sort_by([("timestamp", "ascending")])
    total = table.num_rows
    if count is not None and total > count:
        table = table.slice(total - count)
    frame: pd.DataFrame = table.to_pandas()
    return frame.reset_index(drop=True), total


def inferences(name: str, since: TimeLike = None, until: TimeLike = None,
               limit: int | None = None, *, cwd: str | os.PathLike[str] | None = None,
               config: Config | None = None) -> pd.DataFrame:
    """The requests deployment ``name`` logged in [since, until), newest last (``limit``:
    the latest that many): ``request_id``, ``timestamp`` (timezone.utc), ``version``, one column per
    input feature, the prediction(s) and ``latency_ms``."""
    frame, _total = read_log(name, since, until, limit, cwd=cwd, config=config)
    return frame


def summary(name: str, since: TimeLike = "1h", *, cwd: str | os.PathLike[str] | None = None,
            config: Config | None = None) -> MonitorSummary:
    """How deployment ``name`` is doing: its version(s) and device, request / latency /
    error / batch series over ``since`` (from its serving process), its totals (from its
    Prometheus metrics) and its inference log's state."""
    return collect(name, since, _config(config, cwd))
