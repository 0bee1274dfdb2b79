"""A data frame's profile, the reference that drift compares live traffic with.

Per numeric column (numbers and booleans) a 101-point quantile sketch and exact counts on the
bins between the distinct quantiles; per categorical column (strings, categories, objects)
its most frequent values; for both the non-null count and the nulls (missing or non-finite
values). Datetime and timedelta columns are left out. The JSON stays small: about 5 KB a
numeric column, at most ``CATEGORY_BYTES`` of values a categorical one, so 100 columns fit in
1 MB. Every number is exact (computed on every row, not on a sample). ``from_json``
validates: a profile is read from a run's artifacts, which anyone who can write to the
tracking store can change.

numpy only at module level; pandas is imported when a frame is profiled.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Literal

from ..errors import UserInputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PROFILE_FORMAT = "mlops-profile/1"
QUANTILES = 101  # the 0th..100th percentiles
TOP_VALUES = 100  # a categorical column keeps its 100 most frequent values
CATEGORY_BYTES = 8_000  # and at most this much JSON of them (the rest goes to `other`)
VALUE_CHARS = 64  # a categorical value longer than this is cut (and counted with its prefix)
MAX_COLUMNS = 10_000  # from_json: more is not a profile this project wrote

ColumnKind = Literal["numeric", "categorical"]


@dataclass
class NumericColumn:
    """``count`` non-null values; ``quantiles`` the 0th..100th percentiles (linear
    interpolation; empty when ``count`` is 0); ``edges`` the distinct quantiles ascending;
    ``counts`` len(edges)+1 exact bin counts: x < edges[0], edges[i-1] <= x < edges[i],
    x >= edges[-1] (``np.searchsorted(edges, x, side="right")``). ``std`` is the population
    standard deviation (ddof 0, as numpy and Evidently)."""

    count: int
    nulls: int
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    quantiles: list[float] = field(default_factory=list)
    edges: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=lambda: [0])

    kind: ColumnKind = field(default="numeric", init=False)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "numeric", "count": self.count, "nulls": self.nulls, "min": self.min,
                "max": self.max, "mean": self.mean, "std": self.std,
                "quantiles": self.quantiles, "edges": self.edges, "counts": self.counts}


@dataclass
class CategoricalColumn:
    """``count`` non-null values; ``values`` the most frequent ones (as text, at most
    ``TOP_VALUES``) with their counts, most frequent first; ``other`` the count of the rest."""

    count: int
    nulls: int
    values: dict[str, int]
    other: int = 0

    kind: ColumnKind = field(default="categorical", init=False)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "categorical", "count": self.count, "nulls": self.nulls,
                "values": self.values, "other": self.other}


Column = NumericColumn | CategoricalColumn


@dataclass
class Profile:
    """``rows`` of the frame; its ``columns`` by name (in the frame's order); ``source``: where
    it came from ({"kind": "features.get" | "log_model" | "set_reference", "run_id", …})."""

    rows: int
    columns: dict[str, Column]
    source: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": PROFILE_FORMAT, "rows": self.rows, "source": self.source,
                "columns": {name: column.to_json() for name, column in self.columns.items()}}

    def to_bytes(self) -> bytes:
        """The artifact's content (compact UTF-8 JSON)."""
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode()

    def digest(self) -> str:
        """A digest of the columns' numbers (not of ``source``): equal profiles, equal digest;
        a key for summaries computed against this reference."""
        body = {name: column.to_json() for name, column in self.columns.items()}
        text = json.dumps([self.rows, body], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @classmethod
    def from_json(cls, data: Any, *, what: str = "the reference profile") -> Profile:
        """A profile from its JSON form; anything malformed is a UserInputError naming
        ``what`` and the first fault found."""
        return _Reader(what).profile(data)


# --------------------------------------------------------------------------- profiling


def profile_frame(df: pd.DataFrame, *, source: Mapping[str, Any] | None = None) -> Profile:
    """Profile every numeric, boolean and categorical column of ``df``, on every row.

    Quantiles are exact, not sampled: the exact bin counts need every value anyway, and
    sorting a column (numpy's vectorised sort) is cheaper than binning it against edges
    from a sample (200,000 rows: about 2.5 ms against 12 ms a column)."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise UserInputError(f"a reference must be a pandas DataFrame, not "
                             f"{type(df).__name__}")
    columns: dict[str, Column] = {}
    for position, raw_name in enumerate(df.columns):
        name = str(raw_name)
        if name in columns:
            continue  # a repeated column name: the first one is the column
        series = df.iloc[:, position]
        kind = column_kind(series.dtype)
        if kind == "numeric":
            columns[name] = _numeric(series)
        elif kind == "categorical":
            columns[name] = _categorical(series)
    return Profile(len(df), columns, dict(source or {}))


def column_kind(dtype: Any) -> ColumnKind | None:
    """"numeric" for numbers and booleans, None for datetimes, timedeltas and complex
    numbers, "categorical" for the rest."""
    from pandas.api import types

    if types.is_bool_dtype(dtype):
        return "numeric"
    if types.is_datetime64_any_dtype(dtype) or types.is_timedelta64_dtype(dtype) or \
            types.is_complex_dtype(dtype) or isinstance(dtype, _period_like()):
        return None
    if types.is_numeric_dtype(dtype):
        return "numeric"
    return "categorical"


def _period_like() -> tuple[type, ...]:
    import pandas as pd

    return (pd.PeriodDtype, pd.IntervalDtype)


def _numeric(series: pd.Series) -> NumericColumn:
    import numpy as np

    values = series.to_numpy(dtype="float64", na_value=np.nan)
    ordered = np.sort(values)  # -inf first, then +inf and NaN last
    ordered = ordered[int(np.searchsorted(ordered, -np.inf, side="right")):
                      int(np.searchsorted(ordered, np.inf, side="left"))]
    count = int(ordered.size)
    nulls = int(values.size - count)
    if count == 0:
        return NumericColumn(0, nulls, None, None, None, None, [], [], [0])
    mean = float(ordered.mean())
    std = float(ordered.std())
    if not math.isfinite(mean) or not math.isfinite(std):  # overflow on huge values
        mean, std = float(np.mean(ordered / 2) * 2), float(np.std(ordered / 2) * 2)
    quantiles = _quantiles(ordered)
    edges = np.unique(np.asarray(quantiles))
    # bin i holds edges[i-1] <= x < edges[i]: the positions of the edges in the sorted values
    bounds = np.concatenate(([0], np.searchsorted(ordered, edges, side="left"), [count]))
    counts = np.diff(bounds)
    return NumericColumn(count, nulls, float(ordered[0]), float(ordered[-1]), mean, std,
                         quantiles, [float(e) for e in edges], [int(c) for c in counts])


def _quantiles(ordered: np.ndarray) -> list[float]:
    """numpy's "linear" quantiles of sorted values, 0..100 %."""
    import numpy as np

    position = np.linspace(0.0, 1.0, QUANTILES) * (ordered.size - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, ordered.size - 1)
    fraction = position - below
    lower, upper = ordered[below], ordered[above]
    points = lower + (upper - lower) * fraction
    points = np.where(fraction == 0, lower, points)
    return [float(p) for p in points]


def _categorical(series: pd.Series) -> CategoricalColumn:
    nulls = int(series.isna().sum())
    count = int(len(series) - nulls)
    frequencies: dict[str, int] = {}
    for value, number in series.value_counts(dropna=True, sort=True).items():
        text = _as_text(value)
        frequencies[text] = frequencies.get(text, 0) + int(number)
    top = sorted(frequencies.items(), key=lambda item: -item[1])[:TOP_VALUES]
    values: dict[str, int] = {}
    spent = 0
    for text, number in top:
        spent += len(json.dumps(text, ensure_ascii=False).encode()) + len(str(number)) + 2
        if spent > CATEGORY_BYTES:
            break
        values[text] = number
    return CategoricalColumn(count, nulls, values, count - sum(values.values()))


def _as_text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS - 1] + "…"


# --------------------------------------------------------------------------- reading


class _Reader:
    """Checks a profile read from a file, field by field; the first fault is the error."""

    def __init__(self, what: str) -> None:
        self.what = what

    def fail(self, fault: str) -> UserInputError:
        return UserInputError(f"{self.what} is not a valid profile: {fault}")

    def profile(self, data: Any) -> Profile:
        if not isinstance(data, dict):
            raise self.fail(f"a JSON object was expected, not {_json_type(data)}")
        if data.get("format") != PROFILE_FORMAT:
            raise self.fail(f"format {str(data.get('format'))[:40]!r}, expected "
                            f"{PROFILE_FORMAT!r}")
        rows = self.count(data.get("rows"), "rows")
        source = data.get("source", {})
        if not isinstance(source, dict):
            raise self.fail("'source' is not an object")
        raw = data.get("columns")
        if not isinstance(raw, dict):
            raise self.fail("'columns' is not an object")
        if len(raw) > MAX_COLUMNS:
            raise self.fail(f"{len(raw)} columns (at most {MAX_COLUMNS})")
        columns: dict[str, Column] = {}
        for name, body in raw.items():
            if not isinstance(body, dict):
                raise self.fail(f"column {name[:60]!r} is not an object")
            column = self.column(name[:60], body)
            if column.count + column.nulls != rows:
                raise self.fail(f"column {name[:60]!r} counts {column.count + column.nulls} "
                                f"values, the profile {rows} rows")
            columns[name] = column
        return Profile(rows, columns, source)

    def column(self, name: str, body: dict[str, Any]) -> Column:
        kind = body.get("kind")
        count = self.count(body.get("count"), f"{name}.count")
        nulls = self.count(body.get("nulls"), f"{name}.nulls")
        if kind == "categorical":
            values = body.get("values")
            if not isinstance(values, dict) or len(values) > TOP_VALUES:
                raise self.fail(f"{name}.values is not an object of at most {TOP_VALUES} "
                                "value counts")
            checked = {str(k): self.count(v, f"{name}.values") for k, v in values.items()}
            other = self.count(body.get("other", 0), f"{name}.other")
            if sum(checked.values()) + other != count:
                raise self.fail(f"{name}: the value counts do not add up to its count")
            return CategoricalColumn(count, nulls, checked, other)
        if kind != "numeric":
            raise self.fail(f"column {name!r} has kind {str(kind)[:20]!r} (numeric or "
                            "categorical)")
        numbers = [self.number(body.get(k), f"{name}.{k}", optional=count == 0)
                   for k in ("min", "max", "mean", "std")]
        quantiles = self.numbers(body.get("quantiles"), f"{name}.quantiles")
        edges = self.numbers(body.get("edges"), f"{name}.edges")
        counts = body.get("counts")
        if not isinstance(counts, list):
            raise self.fail(f"{name}.counts is not a list")
        counts = [self.count(c, f"{name}.counts") for c in counts]
        if count and len(quantiles) != QUANTILES:
            raise self.fail(f"{name} has {len(quantiles)} quantiles, not {QUANTILES}")
        if any(b <= a for a, b in pairwise(edges)) or \
                len(edges) > QUANTILES:
            raise self.fail(f"{name}.edges are not at most {QUANTILES} ascending values")
        if any(b < a for a, b in pairwise(quantiles)):
            raise self.fail(f"{name}.quantiles are not ascending")
        if len(counts) != len(edges) + 1 or sum(counts) != count:
            raise self.fail(f"{name}.counts are not len(edges)+1 bins adding up to its count")
        low, high, mean, std = numbers
        return NumericColumn(count, nulls, low, high, mean, std, quantiles, edges, counts)

    def count(self, value: Any, where: str) -> int:
        if type(value) is not int or value < 0:
            raise self.fail(f"{where} is not a count ({_json_type(value)})")
        return value

    def number(self, value: Any, where: str, optional: bool = False) -> float | None:
        if value is None and optional:
            return None
        if type(value) not in (int, float) or not math.isfinite(value):
            raise self.fail(f"{where} is not a finite number ({_json_type(value)})")
        return float(value)

    def numbers(self, value: Any, where: str) -> list[float]:
        if not isinstance(value, list) or len(value) > QUANTILES:
            raise self.fail(f"{where} is not a list of at most {QUANTILES} numbers")
        return [float(self.number(v, where) or 0.0) for v in value]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)
