"""What a notebook diff is: per-cell differences (the REST contract's shape), a summary, and
the same difference in nbdime's diff format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypedDict

from .terminal import render_diff

#: an entry of nbdime's diff format
DiffOp = Literal["add", "remove", "replace", "patch", "addrange", "removerange"]
#: a part of one changed line
InlineKind = Literal["equal", "insert", "delete"]
#: a line of a cell's source diff
LineOp = Literal["equal", "insert", "delete", "replace"]
#: what happened to a cell between the two revisions
CellStatus = Literal["unchanged", "added", "removed", "modified", "moved"]
#: what happened to the notebook between the two revisions
NotebookStatus = Literal["modified", "added", "deleted", "renamed", "unchanged"]


class _DiffKeyed(TypedDict):
    op: DiffOp
    key: str | int


class DiffEntry(_DiffKeyed, total=False):
    """One entry of nbdime's diff format: ``value`` for add and replace, ``diff`` (entries
    for the value at ``key``) for patch, ``valuelist`` for addrange, ``length`` for
    removerange."""

    value: Any
    valuelist: list[Any] | str
    length: int
    diff: list[DiffEntry]

#: Cell and notebook metadata keys that change on every run or click, hidden unless
#: ``metadata`` is asked for: timings (ExecuteTime, execution), papermill's run records and
#: the collapsed/scrolled view state.
NOISY_METADATA = frozenset({"ExecuteTime", "execution", "papermill", "collapsed", "scrolled",
                            "jupyter", "trusted"})


@dataclass(frozen=True)
class DiffFilters:
    """What a diff compares. By default: outputs and attachments; not execution counts, and
    cell/notebook metadata without the noisy keys (``NOISY_METADATA``)."""

    outputs: bool = True
    metadata: bool = False  # False: metadata compared without NOISY_METADATA; True: all of it
    execution_counts: bool = False
    attachments: bool = True

    @classmethod
    def everything(cls) -> DiffFilters:
        """Nothing hidden: the nbdime diff patches the base into exactly the head."""
        return cls(outputs=True, metadata=True, execution_counts=True, attachments=True)

    def key(self) -> tuple[bool, bool, bool, bool]:
        return (self.outputs, self.metadata, self.execution_counts, self.attachments)


@dataclass(slots=True)
class InlineOp:
    """A part of one changed line: ``base``/``head`` are [start, end) character offsets."""

    op: InlineKind
    base: tuple[int, int] | None
    head: tuple[int, int] | None


@dataclass(slots=True)
class LineDiff:
    """One line of a cell's source diff; line numbers are 1-based within the cell."""

    op: LineOp
    base_line: int | None
    head_line: int | None
    base_text: str | None
    head_text: str | None
    inline: list[InlineOp] | None = None


@dataclass
class CellDiff:
    status: CellStatus
    cell_id: str | None
    cell_type: str
    base_index: int | None
    head_index: int | None
    base_source: str | None
    head_source: str | None
    lines: list[LineDiff] = field(default_factory=list)
    outputs_changed: bool = False
    base_outputs: list[dict[str, Any]] = field(default_factory=list)
    head_outputs: list[dict[str, Any]] = field(default_factory=list)
    metadata_changed: bool = False
    # a markdown cell's attachments (name -> mime bundle), for rendering ``attachment:`` links
    base_attachments: dict[str, Any] = field(default_factory=dict)
    head_attachments: dict[str, Any] = field(default_factory=dict)

    @property
    def source_changed(self) -> bool:
        return any(line.op != "equal" for line in self.lines)


@dataclass
class DiffSummary:
    added: int = 0
    removed: int = 0
    modified: int = 0
    moved: int = 0
    unchanged: int = 0
    outputs_changed: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.modified or self.moved)

    def to_text(self) -> str:
        parts = [f"{n} {label}" for n, label in (
            (self.added, "added"), (self.removed, "removed"), (self.modified, "modified"),
            (self.moved, "moved"), (self.unchanged, "unchanged")) if n]
        if self.outputs_changed:
            parts.append(f"outputs changed in {self.outputs_changed}")
        return ", ".join(parts) or "no cells"


@dataclass
class Revision:
    """One side of a diff: the revision asked for, the commit it resolved to, a label."""

    rev: str  # "WORKING", "INDEX", "HEAD", a ref, "merge-base:BRANCH", "CHECKPOINT"
    commit: str | None
    label: str
    blob: str | None = None  # git blob hash of the notebook there (None: absent)
    path: str | None = None  # the notebook's repository path there (differs when renamed)


@dataclass
class NotebookDiff:
    """A cell-aware diff of one notebook between two revisions."""

    path: str
    base: Revision
    head: Revision
    summary: DiffSummary
    cells: list[CellDiff]
    nbdime: list[DiffEntry]
    filters: DiffFilters = field(default_factory=DiffFilters)
    elapsed_ms: float = 0.0
    status: NotebookStatus = "modified"
    head_notebook: dict[str, Any] | None = field(default=None, repr=False)

    def to_nbdime(self) -> list[DiffEntry]:
        """The diff in nbdime's format: ``nbdime.patch(base, diff)`` gives the head (all of it
        when the filters hide nothing; otherwise, what they hide stays as in the base)."""
        return self.nbdime

    def to_dict(self) -> dict[str, Any]:
        """The REST contract's ``review/diff`` body."""
        return {**self._about(), "cells": [_cell_dict(c) for c in self.cells]}

    def _about(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "base": {"rev": self.base.rev, "commit": self.base.commit, "label": self.base.label},
            "head": {"rev": self.head.rev, "commit": self.head.commit, "label": self.head.label},
            "summary": asdict(self.summary),
            "elapsed_ms": round(self.elapsed_ms, 2),
        }

    def json_parts(self) -> Iterator[bytes]:
        """``to_dict()`` as JSON (UTF-8), a cell at a time: a big diff is sent without its
        whole body as one string, and again as bytes, in memory."""
        yield json.dumps(self._about(), default=str)[:-1].encode() + b', "cells": ['
        for n, cell in enumerate(self.cells):
            text = json.dumps(_cell_dict(cell), default=str)
            yield (text if n == 0 else ", " + text).encode()
        yield b"]}"

    def changed_cells(self) -> list[CellDiff]:
        return [c for c in self.cells if c.status != "unchanged"]

    def __str__(self) -> str:
        return render_diff(self, color=False)


def _cell_dict(cell: CellDiff) -> dict[str, Any]:
    return {
        "status": cell.status,
        "cell_id": cell.cell_id,
        "cell_type": cell.cell_type,
        "base_index": cell.base_index,
        "head_index": cell.head_index,
        "base_source": cell.base_source,
        "head_source": cell.head_source,
        "lines": [
            {"op": ln.op, "base_line": ln.base_line, "head_line": ln.head_line,
             "base_text": ln.base_text, "head_text": ln.head_text,
             "inline": None if ln.inline is None else [
                 {"op": p.op, "base": list(p.base) if p.base else None,
                  "head": list(p.head) if p.head else None} for p in ln.inline]}
            for ln in cell.lines
        ],
        "outputs_changed": cell.outputs_changed,
        "base_outputs": cell.base_outputs,
        "head_outputs": cell.head_outputs,
        "metadata_changed": cell.metadata_changed,
        "base_attachments": cell.base_attachments,
        "head_attachments": cell.head_attachments,
    }
