"""Notebooks for the pipeline tests, written with nbformat (the corpus the tests read)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

Cell = str | tuple[str, list[str]] | tuple[str, list[str], dict[str, Any]]


def write_notebook(path: Path, cells: Sequence[Cell]) -> Path:
    """Cells as source, (source, tags) or (source, tags, metadata); '# md ...' is markdown."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for cell in cells:
        if isinstance(cell, str):
            source, tags, meta = cell, [], {}
        elif len(cell) == 2:
            source, tags, meta = cell[0], cell[1], {}
        else:
            source, tags, meta = cell  # type: ignore[misc]
        if source.startswith("# md "):
            nb.cells.append(new_markdown_cell(source[5:]))
            continue
        metadata = dict(meta)
        if tags:
            metadata["tags"] = list(tags)
        nb.cells.append(new_code_cell(source, metadata=metadata))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


#: load -> clean -> (stats, scaled) -> report, with parameters and a shared imports cell
CHAIN = [
    ("import json\nimport math", ["imports"]),
    ("n = 5\nscale = 2.0\nlabel = 'demo'", ["parameters"]),
    "# md ## Load",
    "%%mlops step load\nraw = list(range(n))\nprint('loaded', len(raw))",
    "%%mlops step clean\nclean = [x for x in raw if x % 2 == 0]",
    "%%mlops step stats\ntotal = sum(clean)\nmean = total / len(clean)",
    "%%mlops step scaled\nscaled = [x * scale for x in clean]",
    "%%mlops step report\nsummary = {'label': label, 'mean': mean, 'scaled': scaled}\n"
    "print(json.dumps(summary))",
]


def step_states(run: Any) -> dict[str, str]:
    return {name: state.state for name, state in run.steps.items()}
