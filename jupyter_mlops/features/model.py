"""What the feature store holds, as plain objects: views, their fields and versions, feature
references (``view:feature``, ``view:*``, ``view@2:feature``) and column statistics.

Standard library only: the REST layer and ``%load_ext`` import this without pandas.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from ..errors import NotFoundError, UserInputError

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")  # fullmatch: $ passes a final newline
#: which store holds the views
Backend = Literal["embedded", "feast"]
#: what a column of a view is
FieldRole = Literal["entity", "timestamp", "created_timestamp", "feature"]
#: which field of a view a search matched
MatchedField = Literal["name", "description", "features", "field descriptions", "tags",
                       "owner", "several fields"]

#: hidden columns of the embedded store's Parquet files
EVENT_US = "_mlops_event_us"
CREATED_US = "_mlops_created_us"
SEQ = "_mlops_seq"
HIDDEN = (EVENT_US, CREATED_US, SEQ)


def check_name(name: str, what: str = "view") -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise UserInputError(f"{what} name {name!r} is not valid: use letters, digits, _ . - "
                             "(starting with a letter or _), at most 128 characters")
    return name


def suggest(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, or ``""``."""
    guess = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f" (did you mean '{guess[0]}'?)" if guess else ""


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat() if moment is not None else None


def from_us(us: int | None) -> datetime | None:
    if us is None:
        return None
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=int(us))


def duration(seconds: float | None) -> str:
    """``30d``, ``12h``, ``90s``: a TTL as a person writes it (``none`` for no TTL)."""
    if not seconds:
        return "none"
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def parse_ttl(ttl: Any) -> float | None:
    """A TTL as seconds: a number, a ``timedelta`` or text like ``90s``, ``30m``, ``12h``,
    ``7d``, ``2w``; None or 0 for none."""
    if ttl is None:
        return None
    if isinstance(ttl, timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, bool):
        raise UserInputError(f"ttl must be seconds, a timedelta or text like '7d', not {ttl!r}")
    elif isinstance(ttl, int | float):
        seconds = float(ttl)
    elif isinstance(ttl, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", ttl)
        if not match:
            raise UserInputError(f"ttl {ttl!r} is not understood: give seconds or text like "
                                 "'90s', '30m', '12h', '7d', '2w'")
        unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
        seconds = float(match.group(1)) * unit
    else:
        raise UserInputError(f"ttl must be seconds, a timedelta or text like '7d', not {ttl!r}")
    if seconds < 0:
        raise UserInputError(f"ttl cannot be negative ({ttl!r})")
    return seconds or None


@dataclass(frozen=True)
class FieldInfo:
    """One column of a view: its Arrow type and role."""

    name: str
    type: str
    role: FieldRole
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "role": self.role,
                "description": self.description}


@dataclass(frozen=True)
class VersionInfo:
    version: int
    created_at: datetime
    columns: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "created_at": iso(self.created_at),
                "columns": list(self.columns)}


@dataclass(frozen=True)
class RunUse:
    """A tracked run whose feature retrieval read this view."""

    run_id: str
    run_name: str | None
    experiment_id: str
    status: str
    started_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "run_name": self.run_name,
                "experiment_id": self.experiment_id, "status": self.status,
                "started_at": iso(self.started_at)}


@dataclass(frozen=True)
class ColumnStats:
    name: str
    type: str
    nulls: int
    min: Any
    max: Any
    mean: float | None
    distinct: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "nulls": self.nulls,
                "min": jsonable(self.min), "max": jsonable(self.max),
                "mean": self.mean, "distinct": self.distinct}


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, datetime):
        return iso(value) if value.tzinfo else value.isoformat()
    return str(value)


@dataclass(frozen=True)
class ViewStats:
    name: str
    version: int
    rows: int
    columns: tuple[ColumnStats, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "rows": self.rows,
                "columns": [c.to_dict() for c in self.columns]}

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([c.to_dict() for c in self.columns]).set_index("name")


@dataclass
class FeatureView:
    """A named, versioned set of features keyed by entity columns and an event timestamp."""

    name: str
    version: int
    entities: tuple[str, ...]
    timestamp: str
    created_timestamp: str | None
    schema: tuple[FieldInfo, ...]
    description: str = ""
    owner: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    ttl_seconds: float | None = None
    versions: tuple[VersionInfo, ...] = ()
    newest_event: datetime | None = None
    last_publish: datetime | None = None
    rows: int | None = None
    backend: Backend = "embedded"
    runs: list[RunUse] | None = None  # filled by show()
    _stats: Callable[[], ViewStats] | None = field(default=None, repr=False, compare=False)
    _stats_value: ViewStats | None = field(default=None, repr=False, compare=False)

    @property
    def features(self) -> list[str]:
        return [f.name for f in self.schema if f.role == "feature"]

    @property
    def stats(self) -> ViewStats:
        """Rows, nulls, min/max/mean and distinct values per column (computed on first use)."""
        if self._stats_value is None:
            if self._stats is None:
                raise UserInputError(f"statistics of '{self.name}' are not available here")
            self._stats_value = self._stats()
        return self._stats_value

    @property
    def snippet(self) -> str:
        """A ready magic line that pulls every feature of this view into a training frame."""
        return (f"%mlops features get {self.name}:* --entities entity_df "
                f"--timestamp event_timestamp --into training")

    def summary(self, match: str | None = None) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "description": self.description,
                "owner": self.owner, "tags": dict(self.tags), "entities": list(self.entities),
                "features": self.features, "newest_event": iso(self.newest_event),
                "last_publish": iso(self.last_publish), "rows": self.rows, "match": match}

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "timestamp": self.timestamp,
                "created_timestamp": self.created_timestamp, "ttl_seconds": self.ttl_seconds,
                "versions": [v.to_dict() for v in self.versions],
                "schema": [f.to_dict() for f in self.schema],
                "runs": [r.to_dict() for r in self.runs or []], "snippet": self.snippet}

    def __repr__(self) -> str:
        ttl = duration(self.ttl_seconds)
        lines = [f"feature view {self.name} v{self.version} ({self.backend})",
                 f"  {self.description}" if self.description else "",
                 f"  entities: {', '.join(self.entities)} · timestamp: {self.timestamp}"
                 + (f" · created: {self.created_timestamp}" if self.created_timestamp else "")
                 + f" · ttl: {ttl}",
                 f"  owner: {self.owner or '-'} · tags: "
                 + (", ".join(f"{k}={v}" for k, v in self.tags.items()) or "-"),
                 f"  rows: {self.rows if self.rows is not None else '?'} · newest event: "
                 f"{iso(self.newest_event) or '-'} · last publish: {iso(self.last_publish) or '-'}",
                 "  features: " + ", ".join(self.features)]
        if self.versions:
            lines.append("  versions: " + ", ".join(
                f"v{v.version} ({iso(v.created_at)})" for v in self.versions))
        if self.runs:
            lines.append("  used by runs: " + ", ".join(
                f"{r.run_name or r.run_id} ({r.status})" for r in self.runs))
        lines.append(f"  {self.snippet}")
        return "\n".join(line for line in lines if line)

    def _repr_html_(self) -> str:
        from html import escape

        def cell(text: Any) -> str:
            return f'<td style="text-align:left">{escape(str(text))}</td>'

        rows = "".join(f"<tr>{cell(f.name)}{cell(f.type)}{cell(f.role)}{cell(f.description)}"
                       "</tr>" for f in self.schema)
        runs = ""
        if self.runs:
            runs = "<div>Used by runs: " + ", ".join(
                f"<code>{escape(r.run_name or r.run_id)}</code> ({escape(r.status)})"
                for r in self.runs) + "</div>"
        tags = ", ".join(f"{k}={v}" for k, v in self.tags.items()) or "-"
        ttl = duration(self.ttl_seconds)
        return (f'<div class="mlops-feature-view" data-view="{escape(self.name)}">'
                f"<div><b>{escape(self.name)}</b> v{self.version} "
                f'<span style="opacity:.6">({escape(self.backend)})</span></div>'
                f"<div>{escape(self.description)}</div>"
                f"<div>Entities: <code>{escape(', '.join(self.entities))}</code> · timestamp "
                f"<code>{escape(self.timestamp)}</code> · TTL {escape(ttl)} · owner "
                f"{escape(self.owner or '-')} · tags {escape(tags)}</div>"
                f"<div>Rows: {self.rows if self.rows is not None else '?'} · newest event "
                f"{escape(iso(self.newest_event) or '-')} · last publish "
                f"{escape(iso(self.last_publish) or '-')}</div>"
                '<table><tr><th style="text-align:left">column</th>'
                '<th style="text-align:left">type</th><th style="text-align:left">role</th>'
                f'<th style="text-align:left">description</th></tr>{rows}</table>{runs}'
                f"<div><code>{escape(self.snippet)}</code></div></div>")


@dataclass(frozen=True)
class FeatureRef:
    """One item of a ``get``: a view (and version), and its features (None: all of them)."""

    view: str
    version: int | None
    features: tuple[str, ...] | None

    def spec(self) -> str:
        at = f"@{self.version}" if self.version is not None else ""
        return f"{self.view}{at}:" + (",".join(self.features) if self.features else "*")


_REF = re.compile(r"^(?P<view>[^:@\s]+)(?:@(?P<version>\d+))?:(?P<feature>[^:@\s]+)$")


def parse_refs(features: str | Sequence[str]) -> list[FeatureRef]:
    """``"a:x"``, ``["a:x", "a:y", "b@2:*"]`` or ``"a:x,a:y"``, grouped by view and version in
    the order given."""
    items = [features] if isinstance(features, str) else list(features)
    parts = [p.strip() for item in items for p in str(item).split(",") if p.strip()]
    if not parts:
        raise UserInputError("name the features: 'view:feature', 'view:*' or "
                             "'view@VERSION:feature'")
    grouped: dict[tuple[str, int | None], list[str] | None] = {}
    for part in parts:
        match = _REF.match(part)
        if not match:
            raise UserInputError(f"feature reference {part!r} is not 'view:feature', 'view:*' "
                                 "or 'view@VERSION:feature'")
        key = (match.group("view"), int(match.group("version")) if match.group("version")
               else None)
        feature = match.group("feature")
        if feature == "*":
            grouped[key] = None
        elif key not in grouped:
            grouped[key] = [feature]
        else:
            found = grouped[key]
            if found is not None and feature not in found:
                found.append(feature)
    return [FeatureRef(view, version, tuple(names) if names is not None else None)
            for (view, version), names in grouped.items()]


def unknown_view(name: str, known: Iterable[str]) -> NotFoundError:
    known = list(known)
    hint = suggest(name, known)
    if not hint:
        hint = (f"; views: {', '.join(sorted(known)[:10])}" if known
                else "; nothing has been published yet (mlops.features.publish)")
    return NotFoundError(f"no feature view '{name}'{hint}")
