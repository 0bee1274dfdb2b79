"""Notebook files as the diff engine reads them: bytes → a plain nbformat-4 dict, with one
clear error for what is not a notebook. Parsed with ``json`` (nbformat's schema validation
costs more than the whole diff of a big notebook); nbformat 3 is upgraded through nbformat."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from ..errors import BackendUnavailableError, UserInputError
from ..paths import atomic_write

#: Multiline string fields that nbformat allows as lists of lines on disk.
_MULTILINE_OUTPUT = ("text",)


class NotANotebookError(UserInputError):
    """The file is binary, not JSON, or JSON that is not a notebook."""


class ConflictMarkersError(NotANotebookError):
    """git merged the notebook as text and left ``<<<<<<<`` markers in its JSON (409)."""

    http_status = 409


def empty_notebook(like: dict[str, Any] | None = None) -> dict[str, Any]:
    """The side of a diff where the notebook does not exist (added or deleted)."""
    return {"cells": [], "metadata": {}, "nbformat": 4,
            "nbformat_minor": (like or {}).get("nbformat_minor", 5)}


def load_notebook(data: bytes | str, where: str) -> dict[str, Any]:
    """Parse notebook JSON; ``where`` names the file and revision in the error messages."""
    if isinstance(data, bytes):
        if b"\x00" in data[:8192]:
            raise NotANotebookError(f"{where} is a binary file, not a notebook")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise NotANotebookError(f"{where} is a binary file (not UTF-8), not a "
                                    "notebook") from None
    else:
        text = data
    if text.startswith("<<<<<<< ") or "\n<<<<<<< " in text[:200000]:
        raise ConflictMarkersError(
            f"{where} holds git conflict markers (git merged it as text): run 'jupyter mlops "
            "git-config --merge-driver', then 'git checkout -m -- NOTEBOOK.ipynb' to merge it "
            "again cell by cell (or 'jupyter mlops merge BASE LOCAL REMOTE')")
    try:
        nb: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotANotebookError(f"{where} is not valid JSON (line {exc.lineno}, column "
                                f"{exc.colno}: {exc.msg}): fix the file or pick another "
                                "revision") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells", nb.get("worksheets")), list):
        raise NotANotebookError(f"{where} is JSON but not a notebook (no 'cells' list)")
    major = nb.get("nbformat")
    if major == 3 or "worksheets" in nb:
        nb = _upgrade(nb, where)
    elif major != 4:
        raise NotANotebookError(f"{where} has nbformat {major!r}: only notebooks of format 4 "
                                "(and 3, upgraded) are read")
    cells = nb.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) and "cell_type" in c
                                              for c in cells):
        raise NotANotebookError(f"{where} is JSON but not a notebook (its 'cells' are not "
                                "notebook cells)")
    nb.setdefault("metadata", {})
    for cell in cells:
        _rejoin(cell)
    loaded: dict[str, Any] = nb
    return loaded


def _rejoin(cell: dict[str, Any]) -> None:
    """Multiline fields stored as lists of lines become strings, as nbformat reads them."""
    source = cell.get("source", "")
    if isinstance(source, list):
        cell["source"] = "".join(source)
    cell.setdefault("metadata", {})
    for output in cell.get("outputs", ()) or ():
        if not isinstance(output, dict):
            continue
        for key in _MULTILINE_OUTPUT:
            if isinstance(output.get(key), list):
                output[key] = "".join(output[key])
        data = output.get("data")
        if isinstance(data, dict):
            for mime, value in data.items():
                if isinstance(value, list) and all(isinstance(v, str) for v in value):
                    data[mime] = "".join(value)
    attachments = cell.get("attachments")
    if isinstance(attachments, dict):
        for bundle in attachments.values():
            if isinstance(bundle, dict):
                for mime, value in bundle.items():
                    if isinstance(value, list) and all(isinstance(v, str) for v in value):
                        bundle[mime] = "".join(value)


def _upgrade(nb: dict[str, Any], where: str) -> dict[str, Any]:
    import nbformat

    try:
        text = json.dumps(nb)
        node = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:  # nbformat raises many kinds for a broken v3 file
        raise NotANotebookError(f"{where} is an nbformat 3 notebook nbformat cannot upgrade "
                                f"({exc})") from None
    upgraded: dict[str, Any] = json.loads(json.dumps(node))
    return upgraded


def digest(value: Any) -> str:
    """A content hash of a JSON value (key order does not matter)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha1(text.encode()).hexdigest()


def source_hash(source: str) -> str:
    return hashlib.sha1(source.encode()).hexdigest()


def blob_hash(data: bytes) -> str:
    """The git blob hash of ``data`` (what ``git hash-object`` prints, filters aside)."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def write_whole(path: Path, text: str) -> None:
    """``text`` written to the notebook ``path`` whole or not at all (a failed write leaves
    the file as it was); an existing file keeps its permissions, a new one gets 0o644."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode) if path.exists() else 0o644
        atomic_write(path, text.encode("utf-8"), mode=mode)
    except PermissionError as exc:
        raise UserInputError(f"cannot write {path.name} ({exc.strerror}): the notebook is "
                             "as it was") from None
    except OSError as exc:
        raise BackendUnavailableError(f"cannot write {path.name} ({exc.strerror}): the "
                                      "notebook is as it was") from None
