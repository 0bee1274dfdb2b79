"""The cell-aware diff of two notebooks (already parsed): cells matched by id, then by
content; moved cells found as the pairs outside the longest in-order run; outputs compared by
hash before any text is; the result both as ``CellDiff`` records and in nbdime's format.

nbdime's ``diff_notebooks`` compares outputs by similarity inside its cell alignment, which is
what makes it slow on notebooks whose outputs all changed (see ``benchmarks/diff.py``); here
the alignment looks at sources and ids only and outputs are diffed once, per matched pair.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import time
from difflib import SequenceMatcher
from typing import Any

from .model import (
    NOISY_METADATA,
    CellDiff,
    CellStatus,
    DiffEntry,
    DiffFilters,
    DiffSummary,
)
from .notebook import digest
from .textdiff import all_lines, diff_lines, split_lines, string_ops

#: Two cells of the same type whose sources are at least this similar may be the same cell.
CELL_SIMILARITY = 0.5
#: Beyond this many candidate pairs in one unmatched stretch, only a band around the
#: diagonal is compared (a stretch of thousands of rewritten cells stays fast).
FULL_COMPARE_PAIRS = 40_000
BAND = 25
#: MIME types whose values are compared whole (base64 images and other binary payloads).
_TEXT_MIME_PREFIXES = ("text/", "application/json", "application/javascript")


# --------------------------------------------------------------------------- filtering


def _view_output(output: Any, filters: DiffFilters) -> Any:
    """An output as compared: without its execution count unless execution counts count."""
    if filters.execution_counts or not isinstance(output, dict) or \
            "execution_count" not in output:
        return output
    return {k: v for k, v in output.items() if k != "execution_count"}


@functools.lru_cache(maxsize=32)
def _hidden_keys(filters: DiffFilters) -> frozenset[str]:
    """Cell fields a diff leaves out under ``filters`` (ids matter for matching cells, and
    show as a change only when all metadata is compared)."""
    return frozenset(key for key, hidden in (
        ("outputs", not filters.outputs), ("execution_count", not filters.execution_counts),
        ("attachments", not filters.attachments), ("id", not filters.metadata)) if hidden)


# --------------------------------------------------------------------------- generic values


def diff_values(a: Any, b: Any, *, whole: bool = False) -> list[DiffEntry] | None:
    """nbdime ops for a JSON value (None: equal; a ``replace`` is left to the caller)."""
    if a == b:
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        return diff_dicts(a, b)
    if isinstance(a, str) and isinstance(b, str) and not whole:
        return string_ops(a, b)
    if isinstance(a, list) and isinstance(b, list):
        return _diff_lists(a, b)
    return None


def diff_dicts(a: dict[str, Any], b: dict[str, Any], *, skip: frozenset[str] = frozenset(),
               whole_keys: frozenset[str] | None = None) -> list[DiffEntry]:
    ops: list[DiffEntry] = []
    if a == b:
        return ops
    for key in sorted(set(a) | set(b)):
        if key in skip:
            continue
        if key not in b:
            ops.append({"op": "remove", "key": key})
        elif key not in a:
            ops.append({"op": "add", "key": key, "value": b[key]})
        elif a[key] != b[key]:
            whole = whole_keys is not None and key in whole_keys
            sub = diff_values(a[key], b[key], whole=whole)
            ops.append({"op": "patch", "key": key, "diff": sub} if sub else
                       {"op": "replace", "key": key, "value": b[key]})
    return ops


def _diff_lists(a: list[Any], b: list[Any]) -> list[DiffEntry]:
    ka, kb = [digest(x) for x in a], [digest(x) for x in b]
    ops: list[DiffEntry] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, ka, kb, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if j2 > j1:
            ops.append({"op": "addrange", "key": i1, "valuelist": b[j1:j2]})
        if i2 > i1:
            ops.append({"op": "removerange", "key": i1, "length": i2 - i1})
    return ops


# --------------------------------------------------------------------------- outputs


def _binary_mimes(data: Any) -> frozenset[str]:
    if not isinstance(data, dict):
        return frozenset()
    return frozenset(m for m in data if not m.startswith(_TEXT_MIME_PREFIXES))


_SKIP_DATA = frozenset({"data"})
_SKIP_DATA_COUNT = frozenset({"data", "execution_count"})


def _diff_output(a: dict[str, Any], b: dict[str, Any], filters: DiffFilters) -> list[DiffEntry]:
    """One output changed in place: its ``data`` per MIME type (images replaced whole, text
    by line), the other fields as values."""
    ops = diff_dicts(a, b, skip=_SKIP_DATA if filters.execution_counts else _SKIP_DATA_COUNT)
    da, db = a.get("data"), b.get("data")
    if isinstance(da, dict) and isinstance(db, dict):
        if da != db:
            binary = _binary_mimes(da) | _binary_mimes(db)
            ops.append({"op": "patch", "key": "data",
                        "diff": diff_dicts(da, db, whole_keys=binary)})
    elif da != db:
        ops.append({"op": "remove", "key": "data"} if db is None else
                   {"op": "add" if da is None else "replace", "key": "data", "value": db})
    ops.sort(key=lambda op: str(op["key"]))
    return ops


def _same_kind(a: Any, b: Any) -> bool:
    return isinstance(a, dict) and isinstance(b, dict) and \
        a.get("output_type") == b.get("output_type")


def diff_outputs(a: list[Any], b: list[Any], filters: DiffFilters) -> list[DiffEntry]:
    """Outputs compared whole before any text is: as many on both sides, each pair by
    equality; otherwise aligned by their hashes. Changed outputs of the same type in the same
    place are patched (their text by line), the rest added and removed whole."""
    ops: list[DiffEntry] = []
    if len(a) == len(b):
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            if x is y or _view_output(x, filters) == _view_output(y, filters):
                continue
            if _same_kind(x, y):
                ops.append({"op": "patch", "key": k, "diff": _diff_output(x, y, filters)})
            else:
                ops.append({"op": "addrange", "key": k, "valuelist": [y]})
                ops.append({"op": "removerange", "key": k, "length": 1})
        return ops
    ka = [digest(_view_output(o, filters)) for o in a]
    kb = [digest(_view_output(o, filters)) for o in b]
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, ka, kb, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        n, m = i2 - i1, j2 - j1
        if tag == "replace" and n == m and all(_same_kind(a[i1 + k], b[j1 + k])
                                                for k in range(n)):
            for k in range(n):
                ops.append({"op": "patch", "key": i1 + k,
                            "diff": _diff_output(a[i1 + k], b[j1 + k], filters)})
            continue
        if m:
            ops.append({"op": "addrange", "key": i1, "valuelist": b[j1:j2]})
        if n:
            ops.append({"op": "removerange", "key": i1, "length": n})
    return ops


# --------------------------------------------------------------------------- alignment


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def _content_key(cell: dict[str, Any]) -> tuple[str, str]:
    return (str(cell.get("cell_type")), _source(cell))


def _similarity(a: dict[str, Any], b: dict[str, Any], lines: dict[int, list[str]]) -> float:
    if a.get("cell_type") != b.get("cell_type"):
        return 0.0
    la, lb = lines[id(a)], lines[id(b)]
    if la == lb:
        return 1.0
    if len(la) <= 3 and len(lb) <= 3:
        # short cells (one edited line out of one or two lines): compare by characters
        chars = SequenceMatcher(None, "".join(la), "".join(lb), autojunk=False)
        return chars.ratio() if chars.quick_ratio() >= CELL_SIMILARITY else 0.0
    matcher = SequenceMatcher(None, la, lb, autojunk=False)
    if matcher.real_quick_ratio() < CELL_SIMILARITY or matcher.quick_ratio() < CELL_SIMILARITY:
        return 0.0
    return matcher.ratio()


def _unique(keys: list[Any]) -> dict[Any, int]:
    seen: dict[Any, int] = {}
    twice = set()
    for i, k in enumerate(keys):
        if k in seen:
            twice.add(k)
        seen[k] = i
    return {k: i for k, i in seen.items() if k not in twice}


def longest_in_order(pairs: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The largest set of pairs, sorted by base index, whose head indexes also increase."""
    pairs = sorted(pairs)
    tails: list[int] = []  # head index ending the best run of each length
    tail_at: list[int] = []  # index into pairs of that tail
    back: list[int] = [-1] * len(pairs)
    for n, (_bi, hi) in enumerate(pairs):
        k = bisect.bisect_left(tails, hi)
        if k == len(tails):
            tails.append(hi)
            tail_at.append(n)
        else:
            tails[k] = hi
            tail_at[k] = n
        back[n] = tail_at[k - 1] if k else -1
    run: set[tuple[int, int]] = set()
    n = tail_at[-1] if tail_at else -1
    while n >= 0:
        run.add(pairs[n])
        n = back[n]
    return run


def align(base: list[dict[str, Any]], head: list[dict[str, Any]]
          ) -> tuple[dict[int, int], set[tuple[int, int]]]:
    """Base index → head index of the cells that are the same cell on both sides, and the
    pairs among them that are in order (the others moved)."""
    pairs: dict[int, int] = {}
    # 1. ids (nbformat 4.5): a cell keeps its id through edits and moves
    base_ids = _unique([c.get("id") for c in base])
    head_ids = _unique([c.get("id") for c in head])
    for cell_id, bi in base_ids.items():
        if cell_id is not None and cell_id in head_ids:
            pairs[bi] = head_ids[cell_id]
    # 2. the same content, unique on both sides among the cells still unmatched
    taken = set(pairs.values())
    free_b = [i for i in range(len(base)) if i not in pairs]
    free_h = [j for j in range(len(head)) if j not in taken]
    ub = _unique([_content_key(base[i]) for i in free_b])
    uh = _unique([_content_key(head[j]) for j in free_h])
    for key, k in ub.items():
        if key in uh:
            pairs[free_b[k]] = free_h[uh[key]]
    # 3. in each stretch between in-order pairs, the most similar cells, in order
    in_order = longest_in_order(list(pairs.items()))
    anchors = sorted(in_order)
    lines: dict[int, list[str]] = {}
    bounds = [(-1, -1), *anchors, (len(base), len(head))]
    taken = set(pairs.values())
    for (b0, h0), (b1, h1) in itertools.pairwise(bounds):
        gap_b = [i for i in range(b0 + 1, b1) if i not in pairs]
        gap_h = [j for j in range(h0 + 1, h1) if j not in taken]
        if not gap_b or not gap_h:
            continue
        for cell in (*(base[i] for i in gap_b), *(head[j] for j in gap_h)):
            lines.setdefault(id(cell), split_lines(_source(cell)))
        for i, j in _best_in_order(gap_b, gap_h, base, head, lines):
            pairs[i] = j
            in_order.add((i, j))  # between two in-order pairs, and in order among themselves
    return pairs, in_order


def _best_in_order(gap_b: list[int], gap_h: list[int], base: list[dict[str, Any]],
                   head: list[dict[str, Any]], lines: dict[int, list[str]]
                   ) -> list[tuple[int, int]]:
    """Pairs (in order on both sides) maximising the total similarity: a weighted LCS."""
    n, m = len(gap_b), len(gap_h)
    full = n * m <= FULL_COMPARE_PAIRS
    score = [[0.0] * (m + 1) for _ in range(n + 1)]
    sim: dict[tuple[int, int], float] = {}
    for x in range(1, n + 1):
        centre = (x - 1) * m / n
        for y in range(1, m + 1):
            best = max(score[x - 1][y], score[x][y - 1])
            if full or abs((y - 1) - centre) <= BAND:
                s = _similarity(base[gap_b[x - 1]], head[gap_h[y - 1]], lines)
                if s >= CELL_SIMILARITY:
                    sim[(x, y)] = s
                    best = max(best, score[x - 1][y - 1] + s)
            score[x][y] = best
    found: list[tuple[int, int]] = []
    x, y = n, m
    while x > 0 and y > 0:
        hit = sim.get((x, y))
        if hit is not None and score[x][y] == score[x - 1][y - 1] + hit:
            found.append((gap_b[x - 1], gap_h[y - 1]))
            x, y = x - 1, y - 1
        elif score[x][y] == score[x - 1][y]:
            x -= 1
        else:
            y -= 1
    found.reverse()
    return found


# --------------------------------------------------------------------------- the diff


def _cell_ops(a: dict[str, Any], b: dict[str, Any], filters: DiffFilters
              ) -> tuple[list[DiffEntry], bool, bool, list[Any]]:
    """nbdime ops of one matched cell; whether outputs and metadata changed; line view."""
    skip = _hidden_keys(filters)
    ops: list[DiffEntry] = []
    lines: list[Any] = []
    for key in sorted(a.keys() | b.keys()):
        if key in skip:
            continue
        if key == "outputs":
            if not filters.outputs:
                continue
            if "outputs" in a and "outputs" in b:
                sub = diff_outputs(a["outputs"], b["outputs"], filters)
                if sub:
                    ops.append({"op": "patch", "key": "outputs", "diff": sub})
            elif "outputs" in a:
                ops.append({"op": "remove", "key": "outputs"})
            elif "outputs" in b:
                ops.append({"op": "add", "key": "outputs", "value": b["outputs"]})
            continue
        if key == "source":
            lines, sub = diff_lines(_source(a), _source(b))
            if sub:
                ops.append({"op": "patch", "key": "source", "diff": sub})
            continue
        if key == "metadata":
            ma, mb = a.get("metadata", {}), b.get("metadata", {})
            skip = frozenset() if filters.metadata else NOISY_METADATA
            sub = diff_dicts(ma, mb, skip=skip)
            if sub:
                ops.append({"op": "patch", "key": "metadata", "diff": sub})
            continue
        if key not in b:
            ops.append({"op": "remove", "key": key})
        elif key not in a:
            ops.append({"op": "add", "key": key, "value": b[key]})
        elif a[key] != b[key]:
            sub2 = diff_values(a[key], b[key])
            ops.append({"op": "patch", "key": key, "diff": sub2} if sub2 else
                       {"op": "replace", "key": key, "value": b[key]})
    outputs_changed = any(op["key"] == "outputs" for op in ops)
    metadata_changed = any(op["key"] in ("metadata", "attachments", "id") for op in ops)
    return ops, outputs_changed, metadata_changed, lines


def display_id(cell: dict[str, Any], seen: dict[str, int]) -> str:
    """The cell's id, else one derived from its type and source (notebooks before 4.5), made
    unique within the notebook; comments anchor to it."""
    cell_id = cell.get("id")
    if isinstance(cell_id, str) and cell_id:
        return cell_id
    text = f"{cell.get('cell_type')}\x00{_source(cell)}"
    base = "src-" + hashlib.sha1(text.encode()).hexdigest()[:12]
    count = seen.get(base, 0) + 1
    seen[base] = count
    return base if count == 1 else f"{base}-{count}"


def _attachments(cell: dict[str, Any]) -> dict[str, Any]:
    found = cell.get("attachments")
    return {str(k): v for k, v in found.items() if isinstance(v, dict)} \
        if isinstance(found, dict) else {}


def cell_ids(cells: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, int] = {}
    return [display_id(c, seen) for c in cells]


def diff_notebooks(base_nb: dict[str, Any], head_nb: dict[str, Any],
                   filters: DiffFilters | None = None
                   ) -> tuple[list[CellDiff], DiffSummary, list[DiffEntry], float]:
    """The per-cell diff, its summary, nbdime's diff and the time it took (ms)."""
    began = time.perf_counter()
    filters = filters or DiffFilters()
    base, head = base_nb.get("cells", []), head_nb.get("cells", [])
    pairs, in_order = align(base, head)
    head_to_base = {j: i for i, j in pairs.items()}
    base_ids, head_ids = cell_ids(base), cell_ids(head)
    summary = DiffSummary()
    cells: list[CellDiff] = []
    cell_ops: list[DiffEntry] = []

    def removed(i: int) -> None:
        cell = base[i]
        cells.append(CellDiff("removed", base_ids[i], str(cell.get("cell_type")), i, None,
                              _source(cell), None, all_lines(_source(cell), "delete"),
                              bool(cell.get("outputs")), list(cell.get("outputs", [])), [],
                              False))
        summary.removed += 1

    next_base = 0  # base cells before this are placed
    pending_adds: list[dict[str, Any]] = []
    add_key = 0

    def flush_adds(key: int) -> None:
        nonlocal pending_adds
        if pending_adds:
            cell_ops.append({"op": "addrange", "key": key, "valuelist": pending_adds})
            pending_adds = []

    removals: list[int] = []

    def place_removed_until(limit: int) -> None:
        nonlocal next_base
        for i in range(next_base, limit):
            if (i, pairs.get(i, -1)) not in in_order:
                removals.append(i)
                if i not in pairs:
                    removed(i)
        next_base = max(next_base, limit)

    for j, cell in enumerate(head):
        i = head_to_base.get(j)
        if i is not None and (i, j) in in_order:
            flush_adds(add_key)
            place_removed_until(i)
            _emit_removals(removals, cell_ops)
            ops, outs, meta, lines = _cell_ops(base[i], cell, filters)
            status: CellStatus = "modified" if ops else "unchanged"
            if ops:
                cell_ops.append({"op": "patch", "key": i, "diff": ops})
                summary.modified += 1
            else:
                summary.unchanged += 1
            summary.outputs_changed += outs
            cells.append(CellDiff(status, head_ids[j], str(cell.get("cell_type")), i, j,
                                  _source(base[i]), _source(cell), lines, outs,
                                  list(base[i].get("outputs", [])),
                                  list(cell.get("outputs", [])), meta))
            next_base = i + 1
            add_key = i + 1
            continue
        pending_adds.append(cell)
        if i is not None:  # moved: compared with where it came from
            _ops, outs, meta, lines = _cell_ops(base[i], cell, filters)
            summary.moved += 1
            summary.outputs_changed += outs
            cells.append(CellDiff("moved", head_ids[j], str(cell.get("cell_type")), i, j,
                                  _source(base[i]), _source(cell), lines, outs,
                                  list(base[i].get("outputs", [])),
                                  list(cell.get("outputs", [])), meta))
        else:
            summary.added += 1
            cells.append(CellDiff("added", head_ids[j], str(cell.get("cell_type")), None, j,
                                  None, _source(cell), all_lines(_source(cell), "insert"),
                                  bool(cell.get("outputs")), [], list(cell.get("outputs", [])),
                                  False))
    flush_adds(add_key)
    place_removed_until(len(base))
    _emit_removals(removals, cell_ops)
    if filters.attachments:
        for cd in cells:
            if cd.cell_type == "markdown":
                if cd.base_index is not None:
                    cd.base_attachments = _attachments(base[cd.base_index])
                if cd.head_index is not None:
                    cd.head_attachments = _attachments(head[cd.head_index])

    nb_ops: list[DiffEntry] = []
    if cell_ops:
        nb_ops.append({"op": "patch", "key": "cells", "diff": cell_ops})
    skip = frozenset() if filters.metadata else NOISY_METADATA
    meta_ops = diff_dicts(base_nb.get("metadata", {}), head_nb.get("metadata", {}), skip=skip)
    if meta_ops:
        nb_ops.append({"op": "patch", "key": "metadata", "diff": meta_ops})
    for key in ("nbformat", "nbformat_minor"):
        if base_nb.get(key) != head_nb.get(key) and key in head_nb:
            nb_ops.append({"op": "replace" if key in base_nb else "add", "key": key,
                           "value": head_nb[key]})
    nb_ops.sort(key=lambda op: str(op["key"]))
    return cells, summary, nb_ops, (time.perf_counter() - began) * 1000


def _emit_removals(removals: list[int], cell_ops: list[DiffEntry]) -> None:
    """Consecutive removed base cells as removerange ops, in base order."""
    removals.sort()
    start = None
    prev = None
    for i in removals:
        if start is not None and prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None and prev is not None:
            cell_ops.append({"op": "removerange", "key": start, "length": prev - start + 1})
        start = prev = i
    if start is not None and prev is not None:
        cell_ops.append({"op": "removerange", "key": start, "length": prev - start + 1})
    removals.clear()
