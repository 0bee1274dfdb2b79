"""Late ground truth: labels for requests a deployment answered, logged whenever they arrive
(days later is fine) and joined with the inference log on ``request_id``.

>>> mlops.monitor.log_labels("churn", truth)   # a request_id column and the label column
LabelsLogged: 412 labels, 400 matched a logged request, 12 matched none

Layout (next to the inference log)::

    <state_dir>/monitoring/<deployment>/labels/part-<ms>-<uuid8>.parquet

Each part holds ``request_id`` (string), ``label`` (double for numbers and booleans, string
for text) and ``received_at`` (timestamp[us, UTC]); a part is written under a temporary name
and renamed, so a reader never sees half of one. Later labels for the same request id win.
The parts are untrusted input: ``read_labels`` checks their columns and names a bad file.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..config import Config, load_config
from ..errors import UserInputError
from .folders import require_known
from .inference_log import write_parquet
from .log_store import log_hours

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["LABELS_FOLDER", "LabelsLogged", "labels_folder", "log_labels", "read_labels"]

LABELS_FOLDER = "labels"
LabelKind = Literal["number", "text"]


@dataclass(frozen=True)
class LabelsLogged:
    """What one ``log_labels`` call stored: ``rows`` labels (one per request id), of which
    ``matched`` belong to a request in the deployment's inference log."""

    name: str
    rows: int
    matched: int
    unmatched: int
    label: str  # the caller's label column
    path: str  # the part written

    @property
    def message(self) -> str | None:
        """The loud line when no label matched a logged request (they are stored anyway)."""
        if self.matched or not self.rows:
            return None
        return (f"none of the {self.rows} request ids matched a request {self.name} logged: "
                "are they the X-Request-Id of its answers? They are stored and will join "
                "requests logged later")

    def to_text(self) -> str:
        noun = "label" if self.rows == 1 else "labels"
        text = (f"{self.rows} {noun} for {self.name}, {self.matched} matched a logged request, "
                f"{self.unmatched} matched none")
        return f"{text}\n{self.message}" if self.message else text

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rows": self.rows, "matched": self.matched,
                "unmatched": self.unmatched, "label": self.label, "path": self.path,
                "message": self.message}

    def __repr__(self) -> str:
        return f"LabelsLogged: {self.to_text()}"


def labels_folder(folder: Path) -> Path:
    """Where the labels of the deployment whose monitoring folder is ``folder`` are kept."""
    return folder / LABELS_FOLDER


def _config(config: Config | None, cwd: str | os.PathLike[str] | None) -> Config:
    return config if config is not None else load_config(cwd)


# ------------------------------------------------------------------------------ checks


def _label_column(columns: list[str], label: str | None) -> str:
    others = [c for c in columns if c != "request_id"]
    if "request_id" not in columns:
        raise UserInputError(
            "labels need a request_id column (the X-Request-Id each answer carried); the "
            f"frame has {', '.join(map(str, columns)) or 'no columns'}")
    if label is not None:
        if label == "request_id" or label not in columns:
            raise UserInputError(f"label={label!r} is not a column of the labels "
                                 f"(they have {', '.join(map(str, others)) or 'none'})")
        return label
    if len(others) != 1:
        raise UserInputError(
            "labels need one label column besides request_id: " +
            (f"several candidates ({', '.join(map(str, others))}), say which with label="
             if others else "the frame has none"))
    return others[0]


def _label_kind(series: pd.Series, column: str) -> LabelKind:
    import pandas as pd

    types = pd.api.types
    if types.is_bool_dtype(series.dtype) or types.is_numeric_dtype(series.dtype):
        return "number"
    if isinstance(series.dtype, pd.CategoricalDtype) or \
            types.infer_dtype(series, skipna=True) in ("string", "empty"):
        return "text"
    raise UserInputError(f"label column {column!r} must hold numbers, booleans or text, not "
                         f"{series.dtype}")


def _checked_table(df: Any, label: str | None) -> tuple[pa.Table, str, LabelKind]:
    """The caller's labels as a table of unique request ids (the last label of an id given
    twice), with the label column's name and kind; one clear line for what cannot be used."""
    import pandas as pd
    import pyarrow as pa

    if not isinstance(df, pd.DataFrame):
        raise UserInputError("labels are a DataFrame with a request_id column and the label "
                             f"column, not {type(df).__name__}")
    if len(df.columns) != len(set(map(str, df.columns))):
        raise UserInputError("the labels' columns must have distinct names")
    column = _label_column([str(c) for c in df.columns], label)
    if df.empty:
        raise UserInputError("no labels: the frame is empty")
    df = df.rename(columns=str)
    ids, values = df["request_id"], df[column]
    if ids.isna().any():
        raise UserInputError(f"{int(ids.isna().sum())} labels have no request_id")
    if pd.api.types.infer_dtype(ids, skipna=False) != "string":
        raise UserInputError("request_id must be text (the X-Request-Id of an answer), not "
                             f"{pd.api.types.infer_dtype(ids, skipna=False)} ({ids.dtype})")
    if values.isna().any():
        raise UserInputError(f"{int(values.isna().sum())} labels in column {column!r} are "
                             "missing (null): drop those rows")
    kind = _label_kind(values, column)
    frame = pd.DataFrame({"request_id": ids.astype(str).to_numpy(),
                          "label": (values.astype("float64") if kind == "number"
                                    else values.astype(str)).to_numpy()})
    frame = frame.drop_duplicates("request_id", keep="last")
    received = pd.Timestamp.now(tz="UTC").floor("us")
    table = pa.table({
        "request_id": pa.array(frame["request_id"], pa.string()),
        "label": pa.array(frame["label"], pa.float64() if kind == "number" else pa.string()),
        "received_at": pa.array([received] * len(frame), pa.timestamp("us", "UTC"))})
    return table, column, kind


def _kind_of(table: pa.Table) -> LabelKind:
    import pyarrow as pa

    return "text" if pa.types.is_string(table.schema.field("label").type) else "number"


# ------------------------------------------------------------------------------ storage


def _parts(folder: Path) -> list[Path]:
    """The finished parts, oldest first (the name starts with the time it was written)."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.glob("part-*.parquet") if p.is_file()),
                  key=lambda p: p.name)


def _read_part(path: Path) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise UserInputError(f"labels file {path} is unreadable ({exc}): delete it") from None
    schema = table.schema
    label_type = schema.field("label").type if "label" in schema.names else None
    if "request_id" not in schema.names or not pa.types.is_string(
            schema.field("request_id").type) or label_type is None or not (
            pa.types.is_string(label_type) or pa.types.is_floating(label_type)):
        raise UserInputError(f"labels file {path} is not a labels part (request_id: string, "
                             "label: double or string, received_at): delete it")
    if "received_at" not in schema.names or not pa.types.is_timestamp(
            schema.field("received_at").type):
        raise UserInputError(f"labels file {path} has no received_at time: delete it")
    return table.select(["request_id", "label", "received_at"]).cast(pa.schema([
        pa.field("request_id", pa.string()),
        pa.field("label", pa.string() if pa.types.is_string(label_type) else pa.float64()),
        pa.field("received_at", pa.timestamp("us", "UTC"))]))


def _stored_tables(folder: Path) -> list[pa.Table]:
    return [_read_part(path) for path in _parts(folder)]


def read_labels(folder: Path) -> pd.DataFrame:
    """The labels stored in ``folder`` (a deployment's ``labels_folder``): one row per
    request id, its latest label (``request_id``, ``label``, ``received_at``)."""
    import pandas as pd
    import pyarrow as pa

    tables = _stored_tables(folder)
    if not tables:
        return pd.DataFrame({"request_id": pd.Series(dtype=object),
                             "label": pd.Series(dtype="float64"),
                             "received_at": pd.Series(dtype="datetime64[us, UTC]")})
    kinds = {_kind_of(table) for table in tables}
    if len(kinds) > 1:
        raise UserInputError(f"the labels in {folder} mix numbers and text: delete the "
                             "parts of the wrong kind")
    frame: pd.DataFrame = pa.concat_tables(tables).to_pandas()
    # parts are concatenated oldest first: a stable sort keeps that order between equal times
    frame = frame.sort_values("received_at", kind="stable")
    frame = frame.drop_duplicates("request_id", keep="last")
    return frame.sort_values("request_id").reset_index(drop=True)


def _matched(config: Config, name: str, ids: pa.Array) -> int:
    """How many of ``ids`` (unique) belong to a request in the inference log."""
    import pyarrow as pa
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    found = pa.array([False] * len(ids))
    for hour in log_hours(config, name):
        logged = hour.read(["request_id"])
        if "request_id" not in logged.column_names:
            continue
        found = pc.or_(found, pc.is_in(ids, value_set=pc.unique(
            logged["request_id"].combine_chunks().cast(pa.string()))))
    return int(pc.sum(found).as_py() or 0)


def log_labels(name: str, df: Any, *, label: str | None = None,
               cwd: str | os.PathLike[str] | None = None,
               config: Config | None = None) -> LabelsLogged:
    """Store ground truth for requests deployment ``name`` answered: ``df`` has a
    ``request_id`` column (the X-Request-Id of each answer) and the label column (``label``,
    or the one other column). An id given twice keeps its last label; labels logged later
    for the same id replace these. Says how many ids matched a logged request; labels that
    match none are stored too (the requests may be logged later) and said loudly."""
    config = _config(config, cwd)
    folder = require_known(config, name)
    table, column, kind = _checked_table(df, label)
    target = labels_folder(folder)
    stored = _parts(target)
    if stored:
        earlier = _kind_of(_read_part(stored[-1]))
        if earlier != kind:
            raise UserInputError(f"{name}'s earlier labels are {earlier}s and these are "
                                 f"{kind}s: give the labels as {earlier}s")
    matched = _matched(config, name, table["request_id"])
    path = target / f"part-{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}.parquet"
    write_parquet(path, table)
    return LabelsLogged(name, table.num_rows, matched, table.num_rows - matched, column,
                        str(path))
