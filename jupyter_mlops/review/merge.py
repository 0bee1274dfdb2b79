"""Three-way merge of notebooks, cell by cell: ``merge(base, local, remote) -> MergeResult``.

Cells are matched between the base and each side as the diff matches them (``engine.align``:
by id, then by content, then by similarity). Every cell of either side is kept unless one side
deleted it and the other left its content (type, source, attachments, metadata) unchanged;
changes made by one side are applied, and so are changes of both sides to different lines of
one cell, or to different metadata keys. What both sides changed differently is a conflict,
recorded in the cell's ``metadata.mlops.conflict`` (the cell keeps LOCAL's content) so that
the notebook still opens in JupyterLab and the Merge view can resolve it:

    {"id", "kind", "base", "local", "remote", "note"}   (both-added: also "side")

``kind`` is "source", "outputs", "metadata", "deleted-vs-modified" or "both-added"; ``base``,
``local`` and ``remote`` are ``{cell_type, source, outputs?, execution_count?, metadata?,
attachments?}`` or null where that side has no such cell. Outputs both sides changed are
cleared with a note rather than mixed; execution counts never conflict (they follow the
outputs kept); noisy metadata (timings, view state) takes LOCAL's value. A side's new outputs
alone do not keep a cell the other side deleted. Conflicting notebook metadata keeps LOCAL's
value and says so in ``MergeResult.notes``.
"""

from __future__ import annotations

import copy
import os
import uuid
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, Literal

from ..errors import NotFoundError, UserInputError
from .engine import align
from .model import NOISY_METADATA
from .notebook import NotANotebookError, empty_notebook, load_notebook
from .textdiff import split_lines

ConflictKind = Literal["source", "outputs", "metadata", "deleted-vs-modified", "both-added"]
Side = Literal["local", "remote"]
#: a notebook as the merge takes it: parsed (a dict) or a file to read
NotebookInput = dict[str, Any] | str | os.PathLike[str]

#: the key under a cell's ``metadata`` that holds what this tool records in the notebook
MLOPS_KEY = "mlops"
CONFLICT_KEY = "conflict"
_MISSING: Any = object()


class TooDeepError(UserInputError):
    """A notebook nests JSON deeper than Python's recursion allows (a hostile file)."""


@dataclass
class Conflict:
    """One conflict of a merge; ``cell_index`` is the (first) conflicted cell's place in the
    merged notebook."""

    id: str
    kind: ConflictKind
    cell_index: int
    cell_id: str | None
    base: dict[str, Any] | None
    local: dict[str, Any] | None
    remote: dict[str, Any] | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "cell_index": self.cell_index, "cell_id": self.cell_id,
                "kind": self.kind, "base": self.base, "local": self.local,
                "remote": self.remote, "note": self.note}


@dataclass
class MergeResult:
    """The merged notebook (a plain nbformat-4 dict), its conflicts and notes."""

    notebook: dict[str, Any]
    conflicts: list[Conflict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: where the merged notebook was written (the verbs and routes set it)
    path: str | None = None

    @property
    def clean(self) -> bool:
        return not self.conflicts

    @property
    def ok(self) -> bool:
        """False when conflicts remain: ``jupyter mlops merge`` then exits 1 (git's
        merge-driver contract)."""
        return self.clean

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "clean": self.clean, "cells": len(self.notebook["cells"]),
                "conflicts": [c.to_dict() for c in self.conflicts], "notes": self.notes}

    def to_text(self) -> str:
        where = f"{self.path}: " if self.path else ""
        cells = len(self.notebook["cells"])
        if self.clean:
            lines = [f"{where}merged cleanly ({cells} cells)"]
        else:
            lines = [f"{where}{len(self.conflicts)} conflict"
                     f"{'s' if len(self.conflicts) != 1 else ''} ({cells} cells): resolve them "
                     "in JupyterLab's Merge view (Review panel), then 'git add' the notebook"]
        for c in self.conflicts:
            lines.append(f"  cell {c.cell_index + 1}{f' ({c.cell_id})' if c.cell_id else ''}: "
                         f"{c.kind}: {c.note}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:  # a notebook shows the summary, not the whole dict
        return self.to_text()


# --------------------------------------------------------------------------- text


def merge_text(base: str, local: str, remote: str) -> str | None:
    """A line-wise three-way merge (diff3): the merged text, or None when both sides changed
    the same lines differently (or one inserted lines where the other changed)."""
    if local == remote or remote == base:
        return local
    if local == base:
        return remote
    b, sides = split_lines(base), (split_lines(local), split_lines(remote))
    hunks: list[tuple[int, int, int, int, int]] = []  # base from, to, side, side from, to
    for s, lines in enumerate(sides):
        for tag, i1, i2, j1, j2 in SequenceMatcher(None, b, lines,
                                                   autojunk=False).get_opcodes():
            if tag != "equal":
                hunks.append((i1, i2, s, j1, j2))
    hunks.sort()
    out: list[str] = []
    pos = 0
    offset = [0, 0]  # side index minus base index after the hunks taken so far
    k = 0
    while k < len(hunks):
        start, end = hunks[k][0], hunks[k][1]
        group = [hunks[k]]
        k += 1
        # one region: overlapping changes, or an insertion where the other side changes
        while k < len(hunks) and (hunks[k][0] < end or (hunks[k][0] == end and (
                hunks[k][0] == hunks[k][1] or start == end))):
            end = max(end, hunks[k][1])
            group.append(hunks[k])
            k += 1
        out.extend(b[pos:start])
        texts = []
        for s in (0, 1):
            mine = [h for h in group if h[2] == s]
            if not mine:
                continue
            grown = sum((j2 - j1) - (i2 - i1) for i1, i2, _s, j1, j2 in mine)
            texts.append(sides[s][start + offset[s]:end + offset[s] + grown])
            offset[s] += grown
        if len(texts) == 2 and texts[0] != texts[1]:
            return None
        out.extend(texts[0])
        pos = end
    out.extend(b[pos:])
    return "".join(out)


# --------------------------------------------------------------------------- values


def merge_values(base: Any, local: Any, remote: Any, conflicts: list[str], where: str = "",
                 quiet: frozenset[str] = frozenset()) -> Any:
    """A JSON value merged key by key (dicts) or whole (anything else); ``_MISSING`` stands
    for an absent key. The paths both sides changed differently are added to ``conflicts``
    (LOCAL's value kept), except under the top-level keys ``quiet`` (LOCAL's, silently)."""
    if _same(local, remote) or _same(remote, base):
        return local
    if _same(local, base):
        return remote
    if all(isinstance(v, dict) for v in (base, local, remote)) or (
            base is _MISSING and isinstance(local, dict) and isinstance(remote, dict)):
        b = base if isinstance(base, dict) else {}
        merged: dict[str, Any] = {}
        for key in [*local, *(k for k in remote if k not in local)]:
            value = merge_values(b.get(key, _MISSING), local.get(key, _MISSING),
                                 remote.get(key, _MISSING), [] if key in quiet else conflicts,
                                 f"{where}/{key}")
            if value is not _MISSING:
                merged[key] = value
        return merged
    conflicts.append(where or "/")
    return local


def _same(a: Any, b: Any) -> bool:
    return a is b or (a is not _MISSING and b is not _MISSING and a == b)


# --------------------------------------------------------------------------- cells


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def _metadata(cell: dict[str, Any]) -> dict[str, Any]:
    """A cell's metadata without a conflict record of an earlier merge."""
    meta = cell.get("metadata")
    if not isinstance(meta, dict):
        return {}
    mine = meta.get(MLOPS_KEY)
    if isinstance(mine, dict) and CONFLICT_KEY in mine:
        rest = {k: v for k, v in mine.items() if k != CONFLICT_KEY}
        meta = {k: v for k, v in meta.items() if k != MLOPS_KEY}
        if rest:
            meta[MLOPS_KEY] = rest
    return meta


def _outputs(cell: dict[str, Any] | None) -> list[Any]:
    """Outputs as compared: without the execution counts a re-run changes."""
    if cell is None:
        return []
    return [{k: v for k, v in o.items() if k != "execution_count"} if isinstance(o, dict)
            else o for o in cell.get("outputs", []) or []]


def content_changed(base: dict[str, Any], cell: dict[str, Any]) -> bool:
    """Whether ``cell`` differs from ``base`` in what a person wrote: type, source,
    attachments, metadata (noisy keys aside). Outputs and execution counts do not count."""
    return (base.get("cell_type") != cell.get("cell_type") or _source(base) != _source(cell)
            or base.get("attachments") != cell.get("attachments")
            or _meaningful(_metadata(base)) != _meaningful(_metadata(cell)))


def _meaningful(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k not in NOISY_METADATA}


def alternative(cell: dict[str, Any] | None) -> dict[str, Any] | None:
    """A cell as one alternative of a conflict record: its content, no id."""
    if cell is None:
        return None
    alt: dict[str, Any] = {"cell_type": cell.get("cell_type"), "source": _source(cell)}
    if cell.get("cell_type") == "code":
        alt["outputs"] = copy.deepcopy(cell.get("outputs", []))
        alt["execution_count"] = cell.get("execution_count")
    alt["metadata"] = copy.deepcopy(_metadata(cell))
    if "attachments" in cell:
        alt["attachments"] = copy.deepcopy(cell["attachments"])
    return alt


@dataclass
class _Merged:
    """One merged cell, and what conflicted in it (kinds in order of weight)."""

    cell: dict[str, Any]
    kinds: list[ConflictKind] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def merge_cell(base: dict[str, Any], local: dict[str, Any], remote: dict[str, Any]
               ) -> _Merged:
    """One cell both sides kept: LOCAL's cell with what REMOTE changed applied."""
    cell = copy.deepcopy(local)
    done = _Merged(cell)
    # the source (with the cell type and the attachments it shows)
    bt, lt, rt = base.get("cell_type"), local.get("cell_type"), remote.get("cell_type")
    source: str | None = None
    if lt in (rt, bt) or rt == bt:  # the type of the side that changed it
        source = merge_text(_source(base), _source(local), _source(remote))
        if lt == bt and rt != bt:
            cell = {k: copy.deepcopy(v) for k, v in remote.items() if k != "id"} | (
                {"id": local["id"]} if "id" in local else {})
            done.cell = cell
    clashes: list[str] = []
    attachments = merge_values(base.get("attachments", _MISSING),
                               local.get("attachments", _MISSING),
                               remote.get("attachments", _MISSING), clashes)
    if source is None or clashes:
        done.kinds.append("source")
        done.notes.append("both sides changed the " + (
            "cell type" if lt != rt else "source" if source is None else
            "attachments") + " (this is LOCAL's)")
    else:
        cell["source"] = source
        if attachments is _MISSING:
            cell.pop("attachments", None)
        else:
            cell["attachments"] = attachments
    # metadata (noisy keys: LOCAL's)
    meta_clashes: list[str] = []
    cell["metadata"] = merge_values(_metadata(base), _metadata(local), _metadata(remote),
                                    meta_clashes, quiet=NOISY_METADATA)
    if meta_clashes:
        done.kinds.append("metadata")
        done.notes.append("both sides changed the metadata " + ", ".join(
            meta_clashes[:5]) + " (these are LOCAL's)")
    # outputs, and the execution count that goes with them
    if cell.get("cell_type") == "code" and "outputs" in cell:
        ob, ol, orr = _outputs(base), _outputs(local), _outputs(remote)
        if ol == orr or orr == ob:
            pass  # LOCAL's outputs and count
        elif ol == ob:
            cell["outputs"] = copy.deepcopy(remote.get("outputs", []))
            cell["execution_count"] = remote.get("execution_count")
        else:
            cell["outputs"] = []
            cell["execution_count"] = None
            done.kinds.append("outputs")
            done.notes.append("both sides changed the outputs: cleared rather than mixed "
                              "(take a side to keep its outputs, or run the cell again)")
    return done


def _added_together(local: dict[str, Any], remote: dict[str, Any]) -> _Merged | None:
    """Two cells both sides added at one place that are one cell (same type and source):
    merged as such; None when they differ (a both-added conflict)."""
    if local.get("cell_type") != remote.get("cell_type") or _source(local) != _source(remote):
        return None
    empty: dict[str, Any] = {"cell_type": local.get("cell_type"), "source": _source(local),
                             "metadata": {}}
    if local.get("cell_type") == "code":
        empty |= {"outputs": [], "execution_count": None}
    return merge_cell(empty, local, remote)


# --------------------------------------------------------------------------- notebooks


@dataclass
class _SideView:
    """One side against the base: matches, and the cells it places before each base cell."""

    cells: list[dict[str, Any]]
    match: dict[int, int]
    in_order: set[tuple[int, int]]
    before: dict[int, list[int]] = field(default_factory=dict)
    #: side index -> base index of the matched cells
    back: dict[int, int] = field(default_factory=dict)

    @classmethod
    def of(cls, base: list[dict[str, Any]], cells: list[dict[str, Any]]) -> _SideView:
        match, in_order = align(base, cells)
        view = cls(cells, match, in_order, back={j: i for i, j in match.items()})
        pending: list[int] = []
        for j in range(len(cells)):
            i = view.back.get(j)
            if i is not None and (i, j) in in_order:
                view.before[i] = pending
                pending = []
            else:
                pending.append(j)
        view.before[len(base)] = pending
        return view

    def moved(self, i: int) -> bool:
        return i in self.match and (i, self.match[i]) not in self.in_order

    def cell(self, i: int) -> dict[str, Any] | None:
        j = self.match.get(i)
        return None if j is None else self.cells[j]


class _Merge:
    def __init__(self, base: dict[str, Any], local: dict[str, Any],
                 remote: dict[str, Any]) -> None:
        self.base = base.get("cells", [])
        self.local = _SideView.of(self.base, local.get("cells", []))
        self.remote = _SideView.of(self.base, remote.get("cells", []))
        self.out: list[_Merged] = []
        self.groups: dict[int, str] = {}  # id(merged cell) -> conflict id of a both-added pair
        self.sides: dict[int, Side] = {}
        self.alts: dict[int, tuple[dict[str, Any] | None, ...]] = {}
        #: base index -> (side that placed it elsewhere, merged cell) for moved cells
        self.placed: dict[int, tuple[Side, _Merged]] = {}
        self.slot: dict[int, _Merged] = {}

    def run(self) -> list[_Merged]:
        for i, cell in enumerate(self.base):
            merged = self._base_cell(i, cell)
            if merged is None:
                continue
            lm, rm = self.local.moved(i), self.remote.moved(i)
            if lm or rm:
                self.placed[i] = ("local" if lm else "remote", merged)
            else:
                self.slot[i] = merged
        for q in range(len(self.base) + 1):
            self._inserted(self.local.before.get(q, []), self.remote.before.get(q, []))
            if q in self.slot:
                self.out.append(self.slot[q])
        return self.out

    def _base_cell(self, i: int, base: dict[str, Any]) -> _Merged | None:
        local, remote = self.local.cell(i), self.remote.cell(i)
        if local is None and remote is None:
            return None
        if local is None or remote is None:
            kept = local if remote is None else remote
            assert kept is not None
            if not content_changed(base, kept):
                return None  # deleted on one side, left as it was on the other
            merged = _Merged(copy.deepcopy(kept), ["deleted-vs-modified"], [
                f"{'LOCAL' if local is None else 'REMOTE'} deleted this cell, "
                f"{'REMOTE' if local is None else 'LOCAL'} changed it (this is the changed "
                "cell: keep it or take the deletion)"])
            self.alts[id(merged)] = (base, local, remote)
            return merged
        merged = merge_cell(base, local, remote)
        if merged.kinds:
            self.alts[id(merged)] = (base, local, remote)
        return merged

    def _inserted(self, local: list[int], remote: list[int]) -> None:
        """The cells both sides placed before one base cell: moved cells where their mover
        put them, new cells of both sides, one cell where both added the same."""
        new_l = [j for j in local if j not in self.local.back]
        new_r = [j for j in remote if j not in self.remote.back]
        pairs: dict[int, int] = {}
        if new_l and new_r:
            found, in_order = align([self.local.cells[j] for j in new_l],
                                    [self.remote.cells[j] for j in new_r])
            pairs = {new_l[a]: new_r[b] for a, b in found.items() if (a, b) in in_order}
        paired_r = {j: jl for jl, j in pairs.items()}
        rest_r = list(remote)
        for j in local:
            if j in pairs:
                # the remote side's cells up to its partner come first
                partner = pairs[j]
                while rest_r and rest_r[0] != partner:
                    self._one_side("remote", rest_r.pop(0), paired_r)
                rest_r.pop(0)
                self._pair(self.local.cells[j], self.remote.cells[partner])
            else:
                self._one_side("local", j, paired_r)
        for j in rest_r:
            self._one_side("remote", j, paired_r)

    def _one_side(self, side: Side, j: int, paired: dict[int, int]) -> None:
        view = self.local if side == "local" else self.remote
        if side == "remote" and j in paired:
            return
        i = view.back.get(j)
        if i is None:
            self.out.append(_Merged(copy.deepcopy(view.cells[j])))
            return
        placed = self.placed.get(i)
        if placed is not None and placed[0] == side:  # a moved cell, where its mover put it
            self.out.append(placed[1])

    def _pair(self, local: dict[str, Any], remote: dict[str, Any]) -> None:
        merged = _added_together(local, remote)
        if merged is not None:
            if merged.kinds:
                self.alts[id(merged)] = (None, local, remote)
            self.out.append(merged)
            return
        group = _new_conflict_id()
        for cell, side in ((local, "local"), (remote, "remote")):
            one = _Merged(copy.deepcopy(cell), ["both-added"], [
                "both sides added a cell here (this is " + side.upper() + "'s): keep one, "
                "both, or edit"])
            self.groups[id(one)] = group
            self.sides[id(one)] = side  # type: ignore[assignment]
            self.alts[id(one)] = (None, local, remote)
            self.out.append(one)


def _new_conflict_id() -> str:
    return uuid.uuid4().hex[:8]


def new_cell_id() -> str:
    """A fresh cell id, as JupyterLab makes them."""
    return str(uuid.uuid4())


def read_side(path: Path, label: str) -> dict[str, Any]:
    """One side of a merge read from its file: missing, unreadable or not a notebook is one
    line naming the side. An empty BASE is no base (git's add/add: both sides added the
    notebook)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{label} {path} does not exist: a merge needs the BASE, LOCAL "
                            "and REMOTE notebooks") from None
    except IsADirectoryError:
        raise UserInputError(f"{label} {path} is a folder, not a notebook") from None
    except OSError as exc:
        raise UserInputError(f"{label} {path} cannot be read ({exc.strerror})") from None
    if not data.strip():
        if label == "BASE":
            return empty_notebook()
        raise NotANotebookError(f"{label} {path} is empty, not a notebook")
    return load_notebook(data, f"{label} {path}")


def _read(value: NotebookInput, label: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    return read_side(Path(value), label)


def merge(base: NotebookInput, local: NotebookInput, remote: NotebookInput) -> MergeResult:
    """Merge ``local`` and ``remote``, two descendants of ``base`` (notebook dicts or files);
    the inputs are not changed."""
    b, lo, r = (_read(x, label) for x, label in ((base, "BASE"), (local, "LOCAL"),
                                                 (remote, "REMOTE")))
    try:
        return _merged(b, lo, r)
    except RecursionError:
        raise TooDeepError("a notebook of the merge nests its metadata or outputs too "
                           "deeply to merge") from None


def _merged(b: dict[str, Any], lo: dict[str, Any], r: dict[str, Any]) -> MergeResult:
    job = _Merge(b, lo, r)
    merged = job.run()
    minor = max(int(lo.get("nbformat_minor", 0) or 0), int(r.get("nbformat_minor", 0) or 0))
    notes: list[str] = []
    clashes: list[str] = []
    metadata = merge_values(b.get("metadata", {}), lo.get("metadata", {}),
                            r.get("metadata", {}), clashes)
    if clashes:
        notes.append("both sides changed the notebook's metadata " + ", ".join(clashes[:5])
                     + ": LOCAL's kept")
    cells = [m.cell for m in merged]
    _unique_ids(cells, minor)
    conflicts: list[Conflict] = []
    by_group: dict[str, Conflict] = {}
    for index, m in enumerate(merged):
        if not m.kinds:
            continue
        conflict_id = job.groups.get(id(m)) or _new_conflict_id()
        base_cell, local_cell, remote_cell = job.alts[id(m)]
        record: dict[str, Any] = {
            "id": conflict_id, "kind": m.kinds[0], "base": alternative(base_cell),
            "local": alternative(local_cell), "remote": alternative(remote_cell),
            "note": "; ".join(m.notes)}
        if id(m) in job.sides:
            record["side"] = job.sides[id(m)]
        meta = m.cell.setdefault("metadata", {})
        mine = meta.get(MLOPS_KEY)
        meta[MLOPS_KEY] = {**(mine if isinstance(mine, dict) else {}), CONFLICT_KEY: record}
        if conflict_id in by_group:
            continue
        conflict = Conflict(conflict_id, m.kinds[0], index,
                            m.cell.get("id") if isinstance(m.cell.get("id"), str) else None,
                            record["base"], record["local"], record["remote"], record["note"])
        by_group[conflict_id] = conflict
        conflicts.append(conflict)
    notebook = {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": minor}
    return MergeResult(notebook, conflicts, notes)


def _unique_ids(cells: list[dict[str, Any]], minor: int) -> None:
    """Cell ids unique, and present where the format (4.5+) has them; absent before 4.5."""
    seen: set[str] = set()
    for cell in cells:
        if minor < 5:
            cell.pop("id", None)
            continue
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not cell_id or cell_id in seen:
            cell["id"] = cell_id = new_cell_id()
        seen.add(cell_id)


def conflict_record(cell: dict[str, Any]) -> dict[str, Any] | None:
    """The conflict a merge recorded in ``cell``, if any."""
    meta = cell.get("metadata")
    mine = meta.get(MLOPS_KEY) if isinstance(meta, dict) else None
    record = mine.get(CONFLICT_KEY) if isinstance(mine, dict) else None
    return record if isinstance(record, dict) else None


def dumps(notebook: dict[str, Any]) -> str:
    """Notebook JSON as nbformat writes it (sorted keys, one-space indent, sources as lists of
    lines), so that git diffs of merged notebooks look like any other."""
    import nbformat

    try:
        node = nbformat.from_dict(copy.deepcopy(notebook))  # type: ignore[no-untyped-call]
        text: str = nbformat.writes(node)  # type: ignore[no-untyped-call]
    except RecursionError:
        raise TooDeepError("the notebook nests its metadata or outputs too deeply to "
                           "write") from None
    return text if text.endswith("\n") else text + "\n"
