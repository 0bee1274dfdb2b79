"""A notebook diff for a terminal: changed cells with their line diff, coloured when asked
(ANSI; changed characters within a line in bold), plain otherwise.

Below the model: it reads a ``NotebookDiff``'s fields and imports nothing of the package at
run time, so the model's ``str()`` can render through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import CellDiff, LineDiff, NotebookDiff

_RED, _GREEN, _CYAN, _BOLD, _DIM, _RESET = ("\x1b[31m", "\x1b[32m", "\x1b[36m", "\x1b[1m",
                                            "\x1b[2m", "\x1b[0m")
#: unchanged lines shown around each change
CONTEXT = 2


def _paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{_RESET}" if color else text


def _marked(text: str, parts: list[tuple[int, int]], code: str, color: bool) -> str:
    """``text`` with the character ranges ``parts`` in bold (colour only)."""
    if not color or not parts:
        return _paint(text, code, color)
    out, last = [], 0
    for start, end in parts:
        out.append(text[last:start])
        out.append(f"{_BOLD}{text[start:end]}{_RESET}{code}")
        last = end
    out.append(text[last:])
    return f"{code}{''.join(out)}{_RESET}"


def _line(line: LineDiff, color: bool) -> list[str]:
    if line.op == "equal":
        return [f"   {line.base_text}"]
    shown = []
    if line.base_text is not None:
        parts = [p.base for p in line.inline or [] if p.op == "delete" and p.base]
        shown.append(_marked(f" - {line.base_text}", [(s + 3, e + 3) for s, e in parts],
                             _RED, color))
    if line.head_text is not None:
        parts = [p.head for p in line.inline or [] if p.op == "insert" and p.head]
        shown.append(_marked(f" + {line.head_text}", [(s + 3, e + 3) for s, e in parts],
                             _GREEN, color))
    return shown


def _cell_lines(cell: CellDiff, color: bool) -> list[str]:
    lines = cell.lines
    keep = [False] * len(lines)
    for k, line in enumerate(lines):
        if line.op != "equal":
            for n in range(max(0, k - CONTEXT), min(len(lines), k + CONTEXT + 1)):
                keep[n] = True
    out: list[str] = []
    skipped = False
    for k, line in enumerate(lines):
        if not keep[k]:
            skipped = True
            continue
        if skipped and out:
            out.append(_paint("   …", _DIM, color))
        skipped = False
        out.extend(_line(line, color))
    return out


def _where(cell: CellDiff) -> str:
    if cell.status == "added":
        return f"cell {cell.head_index} added"
    if cell.status == "removed":
        return f"cell {cell.base_index} removed"
    if cell.status == "moved":
        return f"cell moved {cell.base_index} → {cell.head_index}"
    return f"cell {cell.head_index} modified"


def render_diff(result: NotebookDiff, *, color: bool = False) -> str:
    """The whole diff: a header, the summary, then each changed cell."""
    out = [_paint(f"{result.path}: {result.base.label} → {result.head.label}", _BOLD, color),
           f"{result.summary.to_text()}"]
    for cell in result.changed_cells():
        ident = f" [{cell.cell_id}]" if cell.cell_id else ""
        notes = [n for n, on in (("outputs changed", cell.outputs_changed),
                                 ("metadata changed", cell.metadata_changed)) if on]
        extra = f" ({', '.join(notes)})" if notes else ""
        out.append("")
        out.append(_paint(f"@@ {_where(cell)}: {cell.cell_type}{ident}{extra}", _CYAN, color))
        if cell.status in ("added", "removed") or cell.source_changed:
            out.extend(_cell_lines(cell, color))
        elif cell.status == "moved":  # which cell: its first lines
            out.extend(_paint(f"   {line.head_text}", _DIM, color) for line in cell.lines[:2])
    if not result.changed_cells():
        out.append("no changes")
    return "\n".join(out)
