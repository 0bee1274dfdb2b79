"""One notebook code cell read for the pipeline: its code (read with IPython's own transformer,
so ``!ls`` and ``%time`` are valid), the step it starts (``%%mlops step``, ``mlops.step``
metadata or a tag), its role (step, shared, parameters, skipped), and the syntax tree the
data-flow analysis reads."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserInputError
from .magics import MagicUse, analysis_view, magics_used, parse_cell
from .marks import (
    SWEEP_STEP,
    StepMark,
    TagMarks,
    is_sweep_cell,
    mark_from_metadata,
    parse_step_line,
    read_tags,
)
from .model import CellRole


@dataclass
class ReadCell:
    index: int  # position among all the notebook's cells, 0-based
    id: str | None
    source: str  # as written, the %%mlops step line blanked: line numbers kept
    tree: ast.Module | None  # what the analysis reads (magics' Python made visible)
    mark: StepMark | None = None
    role: CellRole = "step"
    magics: list[MagicUse] = field(default_factory=list)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.label for m in self.magics))


def cell_source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _step_header(index: int, source: str) -> tuple[StepMark | None, str]:
    """A ``%%mlops step NAME …`` first line: its mark, and the source with that line blanked
    (other cell magics stay: IPython runs them)."""
    lines = source.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or not lines[first].lstrip().startswith("%%"):
        return None, source
    magic, _, rest = lines[first].strip()[2:].partition(" ")
    words = rest.split(None, 1)
    if magic != "mlops" or not words or words[0] != "step":
        return None, source
    try:
        mark = parse_step_line(words[1] if len(words) > 1 else "")
    except UserInputError as exc:
        raise UserInputError(f"cell {index + 1}: {exc}") from None
    lines[first] = ""
    return mark, "\n".join(lines)


def _declared_mark(index: int, metadata: dict[str, Any], tags: TagMarks,
                   mark: StepMark | None) -> StepMark | None:
    """The step mark from the magic, the ``mlops.step`` metadata and the tags, which must
    agree on the name; ``prev:`` tags add to ``--after``."""
    meta = metadata.get("mlops")
    meta_step = meta.get("step") if isinstance(meta, dict) else None
    if meta_step is not None:
        try:
            from_meta = mark_from_metadata(meta_step)
        except UserInputError as exc:
            raise UserInputError(f"cell {index + 1}: {exc}") from None
        if mark is not None and mark.name != from_meta.name:
            raise UserInputError(f"cell {index + 1}: %%mlops step names {mark.name!r} but the "
                                 f"cell's metadata names {from_meta.name!r}: keep one")
        mark = mark or from_meta
    if tags.step is not None:
        if mark is not None and mark.name != tags.step:
            raise UserInputError(f"cell {index + 1}: step {mark.name!r} is also tagged "
                                 f"'step:{tags.step}': keep one")
        if mark is None:
            mark = StepMark(tags.step, tags.after, source="tag")
    if mark is not None and tags.after:
        mark = StepMark(mark.name, tuple(dict.fromkeys((*mark.after, *tags.after))), mark.gpu,
                        mark.cpu, mark.memory, mark.retries, mark.cache, mark.source)
    return mark


def _role(index: int, tags: TagMarks, mark: StepMark | None) -> CellRole:
    role: CellRole = ("skipped" if tags.skip else "parameters" if tags.parameters
                      else "shared" if tags.shared else "step")
    if role in ("parameters", "shared") and mark is not None:
        raise UserInputError(f"cell {index + 1} is tagged '{role}' and also starts step "
                             f"{mark.name!r}: a cell is one or the other")
    return role


def read_cell(index: int, cell: Any) -> ReadCell:
    """One code cell; one clear line (naming the cell) when it cannot be read."""
    cell_id = cell.get("id")
    metadata = cell.get("metadata", {}) or {}
    tags = read_tags(metadata.get("tags"))
    mark, source = _step_header(index, cell_source(cell))
    try:
        tree = parse_cell(source)
    except SyntaxError as exc:
        if tags.skip:
            return ReadCell(index, cell_id, source, None, role="skipped")
        raise UserInputError(f"cell {index + 1}, line {exc.lineno}: syntax error "
                             f"({exc.msg}): fix the cell or tag it 'skip'") from None
    mark = _declared_mark(index, metadata, tags, mark)
    if mark is None and is_sweep_cell(source):  # its tag or metadata may name it
        mark = StepMark(SWEEP_STEP)
    role = _role(index, tags, mark)
    uses = magics_used(tree)  # before the view replaces %time's call by its code
    return ReadCell(index, cell_id, source, analysis_view(tree),
                    mark=mark if role == "step" else None, role=role, magics=uses)
