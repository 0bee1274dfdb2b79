"""Times as the monitor reads them: a ``datetime`` (naive: local time), or text: a duration
back from now (``30s``, ``15m``, ``1h``, ``2d``, ``1w``) or an ISO 8601 time (without an
offset: UTC)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from ..errors import UserInputError

TimeLike = datetime | str | None
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str | float | timedelta, what: str = "by") -> timedelta:
    """A length of time: a ``timedelta``, seconds, or text (``90``, ``30s``, ``15m``, ``1h``,
    ``2d``, ``1w``); anything else (an ISO time, a negative length) is a one-line
    UserInputError naming ``what``."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip()
        match = _DURATION.match(text) if isinstance(value, str) else None
        try:
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()] \
                if match else float(text)
        except ValueError:
            seconds = float("nan")
    if not 0 <= seconds < float("inf"):
        raise UserInputError(f"{what}: give seconds or a duration (30s, 15m, 1h, 2d, 1w), "
                             f"not {value!r}")
    return timedelta(seconds=seconds)


def parse_time(value: TimeLike, what: str = "since", *, now: datetime | None = None
               ) -> datetime | None:
    """``value`` as an aware UTC datetime (None stays None); text that is neither a duration
    nor an ISO 8601 time is a one-line UserInputError naming ``what``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)  # a naive datetime is local time, as Python reads it
    text = str(value).strip()
    match = _DURATION.match(text)
    if match:
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
        return (now or datetime.now(timezone.utc)) - timedelta(seconds=seconds)
    try:
        # Python 3.10 reads no "Z": the same instant as "+00:00"
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" and text
                                        else text)
    except ValueError:
        raise UserInputError(
            f"{what}: cannot read {text!r}: give a duration back from now (30s, 15m, 1h, 2d, "
            "1w) or an ISO 8601 time (2026-12-04T10:00:00Z)") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)
