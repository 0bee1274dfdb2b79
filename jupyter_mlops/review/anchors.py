"""Where a comment's anchor is now: the cell (by id, else by the hash of the source it was
made on, else the most similar cell) and its line range carried through the edits since.
A thread whose lines were rewritten, or whose cell is gone, is *outdated*: still shown, at
the cell it was on when that cell still exists."""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from .engine import cell_ids
from .notebook import source_hash
from .textdiff import split_lines

#: A cell at least this similar to the anchored source is taken as the same cell, edited.
SAME_CELL = 0.6


@dataclass
class Location:
    cell_id: str | None
    head_index: int | None
    line: int | None
    end_line: int | None
    outdated: bool


def make_anchor(cells: list[dict[str, Any]], cell_id: str, line: int | None,
                end_line: int | None, output: int | None, *,
                revision: str = "head revision") -> dict[str, Any]:
    """The anchor of a new comment on the cell ``cell_id`` of ``cells`` (checked)."""
    from ..errors import UserInputError

    ids = cell_ids(cells)
    if cell_id not in ids:
        raise UserInputError(f"no cell '{cell_id}' in the {revision} of the notebook under "
                             f"review: comment on a cell it has")
    index = ids.index(cell_id)
    cell = cells[index]
    source = _source(cell)
    count = max(1, len(split_lines(source)))
    if line is not None:
        end = end_line if end_line is not None else line
        if not (1 <= line <= end <= count):
            raise UserInputError(f"lines {line}-{end} are not in cell '{cell_id}' (it has "
                                 f"{count} line{'s' if count != 1 else ''}; lines count from 1)")
        end_line = end
    elif end_line is not None:
        raise UserInputError("end_line needs line")
    if output is not None and not (0 <= output < len(cell.get("outputs", []) or [])):
        raise UserInputError(f"cell '{cell_id}' has no output {output}")
    return {"cell_id": cell_id, "cell_index": index, "cell_type": cell.get("cell_type"),
            "source_hash": source_hash(source), "source": source, "line": line,
            "end_line": end_line, "output": output}


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def locate(anchor: dict[str, Any], cells: list[dict[str, Any]],
           ids: list[str] | None = None) -> Location:
    """Where ``anchor`` is in ``cells`` (``ids``: their ``cell_ids``, when known)."""
    ids = ids if ids is not None else cell_ids(cells)
    line, end = anchor.get("line"), anchor.get("end_line")
    index: int | None = None
    by_similarity = False
    if anchor.get("cell_id") in ids:
        index = ids.index(anchor["cell_id"])
    else:
        hashes = [source_hash(_source(c)) for c in cells]
        same = [i for i, h in enumerate(hashes) if h == anchor.get("source_hash")
                and cells[i].get("cell_type") == anchor.get("cell_type")]
        if same:
            index = min(same, key=lambda i: abs(i - int(anchor.get("cell_index") or 0)))
        else:
            index = _most_similar(anchor, cells)
            by_similarity = index is not None
    if index is None:
        return Location(anchor.get("cell_id"), None, line, end, True)
    now = _source(cells[index])
    if source_hash(now) == anchor.get("source_hash"):
        return Location(ids[index], index, line, end, False)
    output = anchor.get("output")
    if output is not None and output >= len(cells[index].get("outputs", []) or []):
        return Location(ids[index], index, line, end, True)
    if line is None:
        return Location(ids[index], index, None, None, by_similarity)
    mapped = map_lines(str(anchor.get("source", "")), now, int(line), int(end or line))
    if mapped is None:
        start = _nearest_line(str(anchor.get("source", "")), now, int(line))
        return Location(ids[index], index, start, start, True)
    return Location(ids[index], index, mapped[0], mapped[1], False)


def _most_similar(anchor: dict[str, Any], cells: list[dict[str, Any]]) -> int | None:
    old = split_lines(str(anchor.get("source", "")))
    best, best_ratio = None, SAME_CELL
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != anchor.get("cell_type"):
            continue
        matcher = SequenceMatcher(None, old, split_lines(_source(cell)), autojunk=False)
        if matcher.quick_ratio() < best_ratio:
            continue
        ratio = matcher.ratio()
        if ratio >= best_ratio:
            best, best_ratio = i, ratio
    return best


def map_lines(old: str, new: str, line: int, end: int) -> tuple[int, int] | None:
    """Lines ``line``-``end`` (1-based) of ``old`` in ``new``, when each of them is still
    there, unchanged and in one run; None when any was edited or removed."""
    matcher = SequenceMatcher(None, split_lines(old), split_lines(new), autojunk=False)
    mapping: dict[int, int] = {}
    for tag, i1, i2, j1, _j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                mapping[i1 + k] = j1 + k
    wanted = [mapping.get(i) for i in range(line - 1, end)]
    if any(w is None for w in wanted):
        return None
    found = [w for w in wanted if w is not None]
    if found != list(range(found[0], found[0] + len(found))):
        return None
    return found[0] + 1, found[-1] + 1


def _nearest_line(old: str, new: str, line: int) -> int:
    """Where the start of an edited range is now, as near as the diff says."""
    matcher = SequenceMatcher(None, split_lines(old), split_lines(new), autojunk=False)
    for _tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if i1 <= line - 1 < max(i2, i1 + 1):
            return max(1, min(j1 + 1, max(j2, 1)))
    return max(1, len(split_lines(new)))
