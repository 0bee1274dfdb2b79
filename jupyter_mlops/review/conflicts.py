"""The files of a merge: the merged notebook written whole or not at all, the conflicts a merge
recorded in a notebook listed, and resolved one by one (take local / remote / both / edit),
then the notebook written back and, when none remain, staged with ``git add``.

What each choice does, by the conflict's kind (``merge.py`` describes the record):

- source: the cell's type, source, attachments and outputs become that side's; ``both`` keeps
  LOCAL's cell and puts REMOTE's after it;
- outputs: the outputs (and execution count) become that side's; ``both`` keeps LOCAL's
  outputs followed by REMOTE's;
- metadata: the metadata becomes that side's; ``both`` takes REMOTE's keys, then LOCAL's;
- deleted-vs-modified: the side that deleted the cell deletes it; ``both`` keeps it;
- both-added: that side's cell stays and the other goes; ``both`` keeps the two;
- edit (any kind): the cell stays as it is now with ``source`` as its source (both-added: the
  LOCAL cell, the other goes).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import NotFoundError, UserInputError
from .merge import (
    CONFLICT_KEY,
    MLOPS_KEY,
    MergeResult,
    TooDeepError,
    conflict_record,
    dumps,
    merge,
    new_cell_id,
)
from .notebook import load_notebook, write_whole

Take = Literal["local", "remote", "both", "edit"]
TAKES: tuple[Take, ...] = ("local", "remote", "both", "edit")


@dataclass(frozen=True)
class Resolution:
    """How to resolve the conflict ``id``; ``source`` is the edited source (``edit``)."""

    id: str
    take: Take
    source: str | None = None

    def __post_init__(self) -> None:
        if self.take not in TAKES:
            raise UserInputError(f"take is one of {', '.join(TAKES)}, not {self.take!r}")
        if self.take == "edit" and not isinstance(self.source, str):
            raise UserInputError(f"conflict '{self.id}': take \"edit\" needs the cell's "
                                 "new source")


# --------------------------------------------------------------------------- files


def write_notebook(path: Path, notebook: dict[str, Any]) -> None:
    """``notebook`` written to ``path`` whole or not at all; an existing file keeps its
    permissions."""
    write_whole(path, dumps(notebook))


def merge_files(base: Path, local: Path, remote: Path, out: Path | None = None
                ) -> MergeResult:
    """Merge three notebook files; the result goes to ``out``, else over ``local`` (git's
    merge-driver contract). Nothing is written when a side cannot be read."""
    result = merge(base, local, remote)
    target = out if out is not None else local
    if target.is_dir():
        raise UserInputError(f"{target} is a folder: name the merged notebook's file")
    write_notebook(target, result.notebook)
    result.path = str(target)
    return result


def read_notebook(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"no such notebook: {path}") from None
    except OSError as exc:
        raise UserInputError(f"{path} cannot be read ({exc.strerror})") from None
    return load_notebook(data, str(path.name))


# --------------------------------------------------------------------------- listing


def conflicts_of(notebook: dict[str, Any]) -> list[dict[str, Any]]:
    """The conflicts recorded in ``notebook``, one entry per conflict (both-added: the first
    of its cells; ``cells`` names them all)."""
    found: dict[str, dict[str, Any]] = {}
    for index, cell in enumerate(notebook.get("cells", [])):
        record = conflict_record(cell)
        if record is None or not isinstance(record.get("id"), str):
            continue
        cell_id = cell.get("id") if isinstance(cell.get("id"), str) else None
        where = {"cell_index": index, "cell_id": cell_id}
        if isinstance(record.get("side"), str):
            where["side"] = record["side"]
        entry = found.get(record["id"])
        if entry is None:
            entry = found[record["id"]] = {
                "id": record["id"], "cell_index": index, "cell_id": cell_id,
                "kind": record.get("kind"), "base": record.get("base"),
                "local": record.get("local"), "remote": record.get("remote"),
                "note": record.get("note", ""), "cells": []}
        entry["cells"].append(where)
    return list(found.values())


# --------------------------------------------------------------------------- resolving


def _clean(cell: dict[str, Any]) -> dict[str, Any]:
    """``cell`` without its conflict record."""
    out = copy.deepcopy(cell)
    meta = out.get("metadata")
    mine = meta.get(MLOPS_KEY) if isinstance(meta, dict) else None
    if isinstance(meta, dict) and isinstance(mine, dict):
        mine.pop(CONFLICT_KEY, None)
        if not mine:
            meta.pop(MLOPS_KEY)
    return out


def _content(cell: dict[str, Any], alt: dict[str, Any], *, outputs_only: bool = False
             ) -> dict[str, Any]:
    """``cell`` with an alternative's type, source, attachments and outputs (or only its
    outputs and execution count)."""
    out = _clean(cell)
    if not outputs_only:
        out["cell_type"] = alt.get("cell_type", out.get("cell_type"))
        out["source"] = alt.get("source", "")
        if "attachments" in alt:
            out["attachments"] = copy.deepcopy(alt["attachments"])
        else:
            out.pop("attachments", None)
    if out.get("cell_type") == "code":
        out["outputs"] = copy.deepcopy(alt.get("outputs", []))
        out["execution_count"] = alt.get("execution_count")
    else:
        out.pop("outputs", None)
        out.pop("execution_count", None)
    return out


def _side(record: dict[str, Any], name: str) -> dict[str, Any] | None:
    alt = record.get(name)
    return alt if isinstance(alt, dict) else None


def _resolved(cell: dict[str, Any], record: dict[str, Any], choice: Resolution,
              side: str) -> list[dict[str, Any]]:
    """What a conflicted cell becomes under ``choice`` (no cell, one, or two)."""
    kind, take = record.get("kind"), choice.take
    if take == "edit":
        if kind == "both-added" and side != "local":
            return []
        return [_clean(cell) | {"source": choice.source}]
    if kind == "both-added":
        return [_clean(cell)] if take in ("both", side) else []
    local, remote = _side(record, "local"), _side(record, "remote")
    if kind == "deleted-vs-modified":
        if take == "both":
            return [_clean(cell)]
        alt = local if take == "local" else remote
        return [] if alt is None else [_content(cell, alt) | {
            "metadata": copy.deepcopy(alt.get("metadata", {}))}]
    if local is None or remote is None:
        raise UserInputError(f"conflict '{record.get('id')}' has no {take} side to take")
    if kind == "outputs":
        if take == "both":
            joined = {**local, "outputs": [*local.get("outputs", []),
                                           *remote.get("outputs", [])]}
            return [_content(cell, joined, outputs_only=True)]
        return [_content(cell, local if take == "local" else remote, outputs_only=True)]
    if kind == "metadata":
        meta = {**remote.get("metadata", {}), **local.get("metadata", {})} if take == "both" \
            else copy.deepcopy((local if take == "local" else remote).get("metadata", {}))
        out = _clean(cell)
        out["metadata"] = meta | ({MLOPS_KEY: out["metadata"][MLOPS_KEY]}
                                  if MLOPS_KEY in out.get("metadata", {}) else {})
        return [out]
    # source
    if take == "both":
        second = _content(cell, remote)
        if "id" in second:
            second["id"] = new_cell_id()
        return [_content(cell, local), second]
    return [_content(cell, local if take == "local" else remote)]


def resolve(notebook: dict[str, Any], resolutions: list[Resolution]
            ) -> tuple[dict[str, Any], int]:
    """``notebook`` with the conflicts ``resolutions`` name resolved, and how many remain.
    A conflict the notebook does not hold (resolved already, or changed since) is a 404."""
    chosen: dict[str, Resolution] = {}
    for choice in resolutions:
        if choice.id in chosen:
            raise UserInputError(f"conflict '{choice.id}' is resolved twice in one request")
        chosen[choice.id] = choice
    present = {e["id"] for e in conflicts_of(notebook)}
    missing = sorted(set(chosen) - present)
    if missing:
        raise NotFoundError(f"no conflict '{missing[0]}' in the notebook: resolved already, "
                            "or the notebook changed since (reload it)")
    cells: list[dict[str, Any]] = []
    seen: set[str] = set()
    for cell in notebook.get("cells", []):
        record = conflict_record(cell)
        picked = chosen.get(record["id"]) if record is not None else None
        if record is None or picked is None:
            cells.append(cell)
            continue
        choice = picked
        side = record.get("side")
        if side not in ("local", "remote"):  # a record without its side: the first is LOCAL's
            side = "remote" if choice.id in seen else "local"
        seen.add(choice.id)
        cells.extend(_resolved(cell, record, choice, str(side)))
    out = {**notebook, "cells": cells}
    return out, len(present - set(chosen))


@dataclass
class Resolved:
    """What resolving wrote: the conflicts left, and whether the notebook was staged."""

    path: str
    remaining: int
    staged: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "remaining": self.remaining, "staged": self.staged,
                "message": self.message}


def resolve_file(path: Path, resolutions: list[Resolution], *, stage: bool = False,
                 display: str | None = None) -> Resolved:
    """Resolve conflicts of the notebook file ``path`` under its edit lock (the one
    suggestions take), write it back whole, and ``git add`` it when ``stage`` and none
    remain."""
    from ..config import load_config
    from .git import find_repo
    from .store import notebook_key
    from .suggestions import notebook_lock

    name = display or path.name
    config = load_config(path.parent)
    try:
        relpath = path.resolve().relative_to(config.project_root.resolve()).as_posix()
    except ValueError:
        relpath = path.name
    lock = config.state_dir / "locks" / f"{notebook_key(relpath)}.lock"
    with notebook_lock(lock, path):
        try:
            notebook, remaining = resolve(read_notebook(path), resolutions)
        except RecursionError:
            raise TooDeepError(f"{name} nests its metadata or outputs too deeply to "
                               "resolve") from None
        write_notebook(path, notebook)
    done = len(resolutions)
    message = f"{done} conflict{'s' if done != 1 else ''} resolved in {name}; " + (
        f"{remaining} remain{'s' if remaining == 1 else ''}" if remaining else "none remain")
    staged = False
    if stage and remaining:
        message += ": not staged until all are resolved"
    elif stage:
        repo = find_repo(path.parent)
        if repo is None:
            message += ": not in a git repository, nothing to stage"
        else:
            repo.run("add", "--", repo.relative(path))
            staged = True
            message += f": staged ('git add {repo.relative(path)}')"
    return Resolved(name, remaining, staged, message)
