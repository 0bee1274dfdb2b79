"""Checks and conversions of the caller's pandas frames: timestamps as microsecond UTC,
column types normalised to a few Arrow types, entity keys as plain Python values."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import UserInputError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


class FeatureWarning(UserWarning):
    """Something was assumed about the caller's data (naive timestamps read as UTC)."""


def require_frame(df: Any, what: str) -> pd.DataFrame:
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise UserInputError(f"{what} must be a pandas DataFrame, not {type(df).__name__}")
    return df


def column_list(value: str | Sequence[str] | None, what: str) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    names = [n.strip() for item in items for n in str(item).split(",") if n.strip()]
    if not names and what:
        raise UserInputError(f"name the {what} column(s)")
    return names


def missing_column(df: pd.DataFrame, column: str, role: str) -> UserInputError:
    from .model import suggest

    return UserInputError(f"the {role} column '{column}' is not in the frame"
                          f"{suggest(column, [str(c) for c in df.columns])}; its columns: "
                          + ", ".join(map(str, list(df.columns)[:12])))


def utc_timestamps(series: pd.Series, column: str, role: str, *, warn: bool = True,
                   allow_nulls: bool = False) -> pd.Series:
    """``series`` as ``datetime64[us, UTC]``; naive values are read as UTC (said once)."""
    import pandas as pd

    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        raise UserInputError(
            f"the {role} column '{column}' is {series.dtype}, not a datetime: convert it with "
            f"pd.to_datetime(df['{column}'], utc=True)")
    if not allow_nulls and series.isna().any():
        raise UserInputError(f"the {role} column '{column}' has {int(series.isna().sum())} "
                             "missing values: every row needs a timestamp")
    if getattr(series.dt, "tz", None) is None:
        if warn:
            warnings.warn(f"the {role} column '{column}' has no time zone: read as UTC",
                          FeatureWarning, stacklevel=4)
        series = series.dt.tz_localize("UTC")
    else:
        series = series.dt.tz_convert("UTC")
    return series.astype("datetime64[us, UTC]")


def epoch_us(series: pd.Series) -> Any:
    """A ``datetime64[us, UTC]`` series as int64 microseconds since 1970 (a numpy array)."""
    return series.astype("datetime64[us, UTC]").array.asi8


def normal_type(kind: pa.DataType) -> pa.DataType:
    """The Arrow type a column is stored as: ints as int64, floats as float64, text as
    string, timestamps as microsecond UTC."""
    import pyarrow as pa

    if pa.types.is_integer(kind):
        return pa.int64()
    if pa.types.is_floating(kind):
        return pa.float64()
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pa.string()
    if pa.types.is_timestamp(kind):
        return pa.timestamp("us", tz="UTC")
    if pa.types.is_dictionary(kind):
        return normal_type(kind.value_type)
    if pa.types.is_null(kind):
        return pa.string()
    return kind


def to_arrow(df: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table of normalised types (no index)."""
    import pandas as pd
    import pyarrow as pa

    zoned = [c for c in df.columns if isinstance(df[c].dtype, pd.DatetimeTZDtype)]
    if zoned:  # given to Arrow as arrays: its pandas shim reads Series.values (deprecated)
        df = df.assign(**{str(c): pd.arrays.ArrowExtensionArray(pa.array(
            df[c].dt.tz_convert(None).to_numpy(),  # UTC instants
            type=pa.timestamp(df[c].dtype.unit, tz=str(df[c].dtype.tz)), from_pandas=True))
            for c in zoned})
    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise UserInputError(f"a column cannot be stored: {str(exc).splitlines()[0]} (give "
                             "each column one type)") from None
    schema = pa.schema([pa.field(f.name, normal_type(f.type)) for f in table.schema])
    return table.cast(schema)


def plain(values: Any) -> list[Any]:
    """numpy / pandas scalars as Python values (for SQLite), NaN as None."""
    import pandas as pd

    out: list[Any] = []
    for value in (values.tolist() if hasattr(values, "tolist") else list(values)):
        if isinstance(value, float) and value != value:
            out.append(None)
        elif isinstance(value, pd.Timestamp):
            out.append(value.isoformat())
        else:
            out.append(value)
    return out
