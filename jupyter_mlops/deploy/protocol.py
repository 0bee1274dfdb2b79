"""MLflow's scoring payloads, read just far enough to batch them.

The serving front reads each ``POST /invocations`` body once to reject malformed requests
early, count its rows and compute a *merge key*; requests with the same key are merged into
one payload (rows concatenated), predicted together and the predictions split back by row
counts. Anything unusual (``params``, LLM payloads, CSV, ragged shapes) gets no key and is
predicted on its own, exactly as MLflow's scoring server would. Pure Python, no MLflow.

The client side (``predict`` on a target) writes requests with ``request_body`` and reads
answers with ``predictions_frame``.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

_orjson: Any
try:  # orjson is optional: 5-10x faster where JSON is hot
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only without orjson
    _orjson = None

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
LLM_KEYS = ("messages", "prompt", "input")
JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = (JSON, CSV, PARQUET)
REQUIRED_FORMAT = ("The input must be a JSON object with exactly one of the fields "
                   + ", ".join(FORMATS))


class PayloadError(Exception):
    """A request the front refuses before it reaches the model (400 or 415)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def loads(data: bytes | str) -> Any:
    if _orjson is not None:
        return _orjson.loads(data)
    return json.loads(data)


def dumps(obj: Any) -> bytes:
    if _orjson is not None:
        data: bytes = _orjson.dumps(obj, option=_orjson.OPT_SERIALIZE_NUMPY)
        return data
    return json.dumps(obj, separators=(",", ":")).encode()


def error_body(message: str, code: str = "BAD_REQUEST") -> bytes:
    """An error in MLflow's format: ``{"error_code": ..., "message": ...}``."""
    return dumps({"error_code": code, "message": message})


@dataclass(frozen=True)
class PayloadInfo:
    rows: int
    merge_key: Hashable | None  # None: predicted alone


def parse_content_type(content_type: str | None) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in (content_type or JSON).split(";")]
    params = {}
    for pair in parts[1:]:
        key, _, value = pair.partition("=")
        params[key.strip().lower()] = value.strip()
    return parts[0].lower(), params


def inspect_payload(body: bytes, content_type: str | None) -> PayloadInfo:
    """Rows and merge key of one request; raises PayloadError for what MLflow would refuse."""
    mime, params = parse_content_type(content_type)
    if mime not in CONTENT_TYPES:
        raise PayloadError(f"This predictor only supports the content types "
                           f"{', '.join(CONTENT_TYPES)}; got '{content_type}'", 415)
    if params.get("charset", "utf-8").lower() != "utf-8":
        raise PayloadError("The scoring server only supports UTF-8", 415)
    if mime == CSV:
        lines = sum(1 for line in body.splitlines() if line.strip())
        return PayloadInfo(max(lines - 1, 1), None)
    if mime == PARQUET:
        return PayloadInfo(1, None)
    if not body.strip():
        raise PayloadError(f"empty request body: {REQUIRED_FORMAT}")
    try:
        data = loads(body)
    except ValueError as exc:  # orjson: nesting deeper than 1024 is one too
        raise PayloadError(f"Ensure that input is a valid JSON formatted string ({exc})") from None
    except RecursionError:  # the standard library's parser, without orjson
        raise PayloadError("the request is nested too deeply to be read") from None
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else type(data).__name__
        raise PayloadError(f"{REQUIRED_FORMAT}; received {kind}")
    if any(key in data for key in LLM_KEYS):
        return PayloadInfo(1, None)  # MLflow's unified LLM input: the model decides
    present = [key for key in FORMATS if key in data]
    if len(present) != 1:
        raise PayloadError(f"{REQUIRED_FORMAT}; received fields {sorted(data)}")
    fmt = present[0]
    if set(data) != {fmt}:  # params (or unknown fields): exactly MLflow's handling, alone
        return PayloadInfo(_rows(data[fmt]), None)
    return _info(fmt, data[fmt])


def _rows(value: Any) -> int:
    if isinstance(value, list):
        return max(len(value), 1)
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        return max(len(value["data"]), 1)
    return 1


def _row_key(row: Any) -> Hashable:
    """What two rows must share to be merged without changing either one's meaning."""
    if isinstance(row, dict):
        return ("dict", tuple(row))
    if isinstance(row, list):
        return ("list", len(row), tuple(type(v).__name__ for v in row[:1]))
    return ("scalar", type(row).__name__)


def _info(fmt: str, value: Any) -> PayloadInfo:
    if fmt == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise PayloadError("dataframe_split must be an object with 'columns' and 'data' "
                               "(a list of rows), as pandas' DataFrame.to_dict(orient='split')")
        rows = value["data"]
        columns = value.get("columns")
        if not rows or set(value) - {"columns", "data", "index"}:
            return PayloadInfo(max(len(rows), 1), None)
        if columns is not None and not isinstance(columns, list):
            return PayloadInfo(len(rows), None)
        first = _row_key(rows[0])
        if any(_row_key(row) != first for row in rows):
            return PayloadInfo(len(rows), None)
        return PayloadInfo(len(rows), (fmt, tuple(map(str, columns or ())), first))
    if fmt == "dataframe_records":
        if not isinstance(value, list):
            raise PayloadError("dataframe_records must be a list of records (objects), as "
                               "pandas' DataFrame.to_dict(orient='records')")
        if not value or not all(isinstance(r, dict) for r in value):
            return PayloadInfo(max(len(value), 1), None)
        keys = tuple(value[0])
        if any(tuple(r) != keys for r in value):
            return PayloadInfo(len(value), None)
        return PayloadInfo(len(value), (fmt, keys))
    # instances / inputs: a list of rows, or named columns {name: [rows...]}
    if isinstance(value, list):
        if not value:
            return PayloadInfo(1, None)
        first = _row_key(value[0])
        if any(_row_key(row) != first for row in value):
            return PayloadInfo(len(value), None)
        return PayloadInfo(len(value), (fmt, "rows", first))
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        lengths = {len(v) for v in value.values()}
        if len(lengths) == 1 and 0 not in lengths:
            first = tuple((name, _row_key(column[0])) for name, column in value.items())
            if all(_row_key(row) == dict(first)[name] for name, column in value.items()
                   for row in column):
                return PayloadInfo(lengths.pop(), (fmt, "columns", first))
        return PayloadInfo(1, None)
    return PayloadInfo(1, None)


def merge_payloads(payloads: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One payload holding every row of ``payloads`` (which share a merge key), in order."""
    first = payloads[0]
    fmt = next(key for key in FORMATS if key in first)
    if fmt == "dataframe_split":
        merged: dict[str, Any] = {"data": [row for p in payloads for row in p[fmt]["data"]]}
        if "columns" in first[fmt]:
            merged["columns"] = first[fmt]["columns"]
        return {fmt: merged}
    value = first[fmt]
    if isinstance(value, list):
        return {fmt: [row for p in payloads for row in p[fmt]]}
    return {fmt: {name: [row for p in payloads for row in p[fmt][name]] for name in value}}


def split_predictions(predictions: Any, rows: Sequence[int]) -> list[Any] | None:
    """Predictions of a merged payload cut back into one part per request; None when their
    shape does not follow the rows (the caller then predicts each request alone)."""
    total = sum(rows)
    if isinstance(predictions, list):
        if len(predictions) != total:
            return None
        parts, start = [], 0
        for n in rows:
            parts.append(predictions[start:start + n])
            start += n
        return parts
    if isinstance(predictions, dict) and predictions and all(
            isinstance(v, list) and len(v) == total for v in predictions.values()):
        out: list[Any] = []
        start = 0
        for n in rows:
            out.append({k: v[start:start + n] for k, v in predictions.items()})
            start += n
        return out
    return None


# ---------------------------------------------------------------------------- the client side


def request_body(data: Any) -> bytes:
    """A scoring request for ``data``: a DataFrame (dataframe_split), records or a column
    dict (made a DataFrame), a numpy array (inputs), or a ready MLflow payload dict."""
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, bytes):
        return data
    if isinstance(data, dict) and any(k in data for k in FORMATS):
        return json.dumps(data).encode()
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    if isinstance(data, np.ndarray):
        return json.dumps({"inputs": data.tolist()}).encode()
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    split = str(frame.to_json(orient="split", index=False, date_format="iso"))
    return b'{"dataframe_split": ' + split.encode() + b"}"


def predictions_frame(data: bytes) -> Any:
    """MLflow's ``{"predictions": …}`` answer as a DataFrame."""
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    payload = json.loads(data)
    predictions = payload.get("predictions", payload) if isinstance(payload, dict) else payload
    if isinstance(predictions, dict):
        return pd.DataFrame(predictions)
    if isinstance(predictions, list) and predictions and not isinstance(
            predictions[0], (dict, list)):
        return pd.DataFrame({"prediction": predictions})
    return pd.DataFrame(predictions)
