"""A frame to publish, checked and turned into an Arrow table: entity, timestamp and feature
columns present, timestamps as microsecond UTC, plus the hidden columns (event and created
time as integers) the embedded store's point-in-time join reads.

Backend-neutral: the embedded store and the Feast adapter both publish through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UserInputError
from . import frames
from .model import CREATED_US, EVENT_US, HIDDEN

if TYPE_CHECKING:
    import pandas as pd


class PublishSpec:
    """The frame to publish, checked, as an Arrow table with the store's hidden columns
    (the Feast adapter checks its frames with it too)."""

    def __init__(self, df: pd.DataFrame, keys: list[str], timestamp: str,
                 created: str | None, descriptions: dict[str, str] | None) -> None:
        import pyarrow as pa

        if df.empty:
            raise UserInputError("the frame to publish has no rows")
        columns = [str(c) for c in df.columns]
        if len(set(columns)) != len(columns):
            raise UserInputError("the frame has duplicate column names")
        for column, role in [*((k, "entity") for k in keys), (timestamp, "timestamp"),
                             *([(created, "created timestamp")] if created else [])]:
            if column not in df.columns:
                raise frames.missing_column(df, column, role)
            if column.startswith("_mlops_"):
                raise UserInputError(f"column names starting with _mlops_ are the store's own "
                                     f"('{column}')")
        for key in keys:
            if df[key].isna().any():
                raise UserInputError(f"the entity column '{key}' has "
                                     f"{int(df[key].isna().sum())} missing values")
        features = [c for c in columns if c not in {*keys, timestamp, created}]
        if not features:
            raise UserInputError("the frame has no feature columns besides the entity and "
                                 "timestamp columns")
        unknown = set(descriptions or {}) - set(columns)
        if unknown:
            raise UserInputError(f"field_descriptions name columns the frame does not have: "
                                 f"{', '.join(sorted(unknown))}")
        frame = df.copy()
        event = frames.utc_timestamps(df[timestamp], timestamp, "timestamp")
        frame[timestamp] = event
        created_us = None
        if created:
            made = frames.utc_timestamps(df[created], created, "created timestamp",
                                         allow_nulls=True)
            frame[created] = made
            created_us = made
        for column in features:  # datetime features: microsecond UTC as well
            if frame[column].dtype.kind == "M":
                frame[column] = frames.utc_timestamps(frame[column], column, "feature",
                                                      allow_nulls=True)
        table = frames.to_arrow(frame)
        table = table.append_column(EVENT_US, pa.array(frames.epoch_us(event), pa.int64()))
        if created_us is not None:
            table = table.append_column(CREATED_US, pa.array(
                frames.epoch_us(created_us), pa.int64(), mask=created_us.isna().to_numpy()))
        else:
            table = table.append_column(CREATED_US, pa.nulls(table.num_rows, pa.int64()))
        self.table = table
        self.keys = keys
        self.timestamp = timestamp
        self.created = created
        self.columns = [{"name": f.name, "type": str(f.type)} for f in table.schema
                        if f.name not in HIDDEN]
