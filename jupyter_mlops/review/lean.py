"""Reading big notebooks in little memory (issue #15: a 20 MB notebook diffs in under three
times its size): the file's bytes are parsed cell by cell (never decoded to one string beside
them), a git blob is read into one buffer of its size (not pipe chunks joined), a working
copy is hashed in pieces, and the big strings both sides share (an image nobody re-ran) are one
object, not two.

``load_lean`` gives what ``notebook.load_notebook`` gives and, for anything it does not
expect, is ``load_notebook`` (so every bad file gets its one clear line from there)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any, cast

from .notebook import _rejoin, load_notebook

#: Strings at least this long are shared between the two sides of a diff when equal.
SHARED_MIN = 256
#: A JSON string (escapes included) or a bracket: enough to find where each cell starts and ends.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]]')
_AFTER_CELL = re.compile(rb"\s*(?:,\s*\{|\])")
_BEFORE_CELL = re.compile(rb"\s*([{\]])")
_READ_CHUNK = 1 << 20
#: nbformat's own layout (one space of indent per level): the cells array's key, and the
#: lines where a cell opens or closes (a JSON string holds no raw newline, so a line that
#: starts with two spaces and a brace is never inside a string)
_CELLS_KEY = re.compile(rb'\n "cells": \[')
_CELL_EDGE = re.compile(rb"\n  ([{}])")
_ARRAY_END = re.compile(rb"\s*\]")

Buffer = bytes | bytearray


def _indented_spans(data: Buffer) -> tuple[int, int, list[tuple[int, int]]] | None:
    """``_cell_spans`` for a file in nbformat's layout, found by its lines (fast: no string
    is scanned); None when the file is laid out otherwise."""
    key = _CELLS_KEY.search(data)
    if key is None:
        return None
    start = key.end() - 1
    spans: list[tuple[int, int]] = []
    cell_start = -1
    pos = key.end()
    for edge in _CELL_EDGE.finditer(data, pos):
        if edge.group(1) == b"{":
            if cell_start >= 0 or not _between(data, pos, edge.start() + 1, bool(spans)):
                return None
            cell_start = edge.end() - 1
        else:
            if cell_start < 0:
                return None
            spans.append((cell_start, edge.end()))
            cell_start, pos = -1, edge.end()
            end = _ARRAY_END.match(data, pos)
            if end is not None:
                return start, end.end(), spans
    end = _ARRAY_END.match(data, pos)  # no cells
    return (start, end.end(), spans) if end is not None and not spans else None


def _between(data: Buffer, start: int, end: int, comma: bool) -> bool:
    """Only white space (after a comma, when a cell came before) from start to end."""
    gap = bytes(data[start:end]).strip()
    return gap == (b"," if comma else b"")


def _cell_spans(data: Buffer) -> tuple[int, int, list[tuple[int, int]]] | None:
    """Where the top-level ``cells`` array is ([start, end) with its brackets) and each cell
    in it; None when the file is not shaped as expected (left to ``load_notebook``)."""
    depth = 0
    key = b""
    in_cells = False
    array_start = -1
    spans: list[tuple[int, int]] = []
    cell_start = -1
    for match in _TOKEN.finditer(data):
        at = match.start()
        char = data[at]
        if char == 0x22:  # a string: a key of the top-level object is all that matters
            if depth == 1:
                key = match.group()
            continue
        if char in (0x7B, 0x5B):  # { [
            depth += 1
            if depth == 2 and char == 0x5B and key == b'"cells"' and array_start < 0:
                array_start, in_cells = at, True
                if _BEFORE_CELL.match(data, match.end()) is None:
                    return None
            elif depth == 3 and in_cells:
                if char != 0x7B:
                    return None
                cell_start = at
            continue
        if depth == 3 and in_cells:  # a cell ends
            if char != 0x7D or _AFTER_CELL.match(data, match.end()) is None:
                return None
            spans.append((cell_start, match.end()))
        elif depth == 2 and in_cells:  # the cells array ends
            return (array_start, match.end(), spans) if char == 0x5D else None
        depth -= 1
        if depth < 0:
            return None
    return None


def share(value: Any, strings: dict[str, str]) -> Any:
    """``value`` itself, or the equal string already read (one object for both sides)."""
    if isinstance(value, str) and len(value) >= SHARED_MIN:
        return strings.setdefault(value, value)
    return value


def _share_cell(cell: dict[str, Any], strings: dict[str, str]) -> None:
    cell["source"] = share(cell.get("source", ""), strings)
    for output in cell.get("outputs", ()) or ():
        if not isinstance(output, dict):
            continue
        if "text" in output:
            output["text"] = share(output["text"], strings)
        data = output.get("data")
        if isinstance(data, dict):
            for mime in data:
                data[mime] = share(data[mime], strings)


def load_lean(data: Buffer, where: str, strings: dict[str, str] | None = None
              ) -> dict[str, Any]:
    """The notebook in ``data`` (as ``load_notebook`` reads it), parsed one cell at a time;
    strings equal to ones in ``strings`` become those objects (and new ones are added)."""
    strings = {} if strings is None else strings
    found = None
    if b"\x00" not in data[:8192]:
        found = _indented_spans(data) or _cell_spans(data)
    if found is None:
        return _fallback(data, where, strings)
    start, end, spans = found
    nb = load_notebook(bytes(data[:start]) + b"[]" + bytes(data[end:]), where)
    if "worksheets" in nb or nb.get("cells") != []:
        return _fallback(data, where, strings)
    cells: list[dict[str, Any]] = []
    for s, e in spans:
        try:
            cell = json.loads(data[s:e])
        except ValueError:
            return _fallback(data, where, strings)
        if not isinstance(cell, dict) or "cell_type" not in cell:
            return _fallback(data, where, strings)
        _rejoin(cell)
        _share_cell(cell, strings)
        cells.append(cell)
    nb["cells"] = cells
    return nb


def _fallback(data: Buffer, where: str, strings: dict[str, str]) -> dict[str, Any]:
    nb = load_notebook(bytes(data), where)
    for cell in nb.get("cells", ()):
        _share_cell(cell, strings)
    return nb


def read_blob(git: str, root: Path, env: dict[str, str], sha: str, timeout: float
              ) -> bytearray:
    """A git blob in one buffer of its size (``git cat-file --batch`` names the size, then
    the bytes are read into it), not the pipe's chunks joined into a second copy."""
    with subprocess.Popen([git, "-C", str(root), "cat-file", "--batch"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, env=env) as proc:
        assert proc.stdin is not None
        proc.stdin.write(sha.encode() + b"\n")
        proc.stdin.close()
        stdout = cast(io.BufferedReader, proc.stdout)
        header = stdout.readline().split()
        if len(header) != 3 or header[1] != b"blob":
            proc.kill()
            raise ValueError(f"not a blob: {sha}")
        size = int(header[2])
        buffer = bytearray(size)
        view = memoryview(buffer)
        got = 0
        while got < size:
            n = stdout.readinto(view[got:])
            if not n:
                break
            got += n
        view.release()
        stdout.read()
        proc.wait(timeout)
    if got != size or proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode or 1, ["git", "cat-file", sha])
    return buffer


def data_blob_hash(data: Buffer) -> str:
    """The git blob hash of ``data`` (``notebook.blob_hash`` without a copy of it)."""
    digest = hashlib.sha1(b"blob %d\x00" % len(data))
    digest.update(data)
    return digest.hexdigest()


def file_blob_hash(path: Path) -> str | None:
    """The git blob hash of the file at ``path`` (None: no such file), read in pieces."""
    try:
        with path.open("rb") as handle:
            size = path.stat().st_size
            digest = hashlib.sha1(b"blob %d\x00" % size)
            while chunk := handle.read(_READ_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest()
