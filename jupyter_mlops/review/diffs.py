"""``diff(path, base, head)``: a notebook between two revisions — the working copy, the
index, any git ref or commit, the merge-base with a branch, or (outside git) the last
checkpoint — and ``changes(folder)``: the changed notebooks of the working tree.

Diffs are cached by the pair of blob hashes (and the filters), so reopening a review of an
unchanged notebook costs two ``git`` look-ups, not a diff.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, UserInputError
from .engine import diff_notebooks
from .git import GIT_TIMEOUT, GitError, GitRepo, StatusEntry, _env, _git_binary, find_repo
from .lean import data_blob_hash, file_blob_hash, load_lean, read_blob
from .model import (
    CellDiff,
    DiffEntry,
    DiffFilters,
    DiffSummary,
    NotebookDiff,
    NotebookStatus,
    Revision,
)
from .notebook import blob_hash, empty_notebook

WORKING = "WORKING"
INDEX = "INDEX"
CHECKPOINT = "CHECKPOINT"
MERGE_BASE = "merge-base:"
CACHE_SIZE = 64


@dataclass
class Side:
    """One side of a diff as read: its revision and the notebook's bytes (None: absent, or
    not read yet: ``read_side(lazy=True)``, then ``content()``)."""

    revision: Revision
    data: bytes | None
    load: Callable[[], bytes | bytearray | None] | None = field(default=None, repr=False)

    @property
    def exists(self) -> bool:
        return self.data is not None or (self.load is not None and
                                         self.revision.blob is not None)

    def content(self) -> bytes | bytearray | None:
        """The notebook's bytes, read now if the side was read lazily (not kept)."""
        if self.data is not None or self.load is None or self.revision.blob is None:
            return self.data
        return self.load()


def checkpoint_of(path: Path) -> Path:
    """Where Jupyter's file checkpoints keep the last checkpoint of ``path``."""
    return path.parent / ".ipynb_checkpoints" / f"{path.stem}-checkpoint{path.suffix}"


def _short(sha: str | None) -> str:
    return sha[:10] if sha else ""


def _read_working(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise UserInputError(f"'{path.name}' is a folder, not a notebook") from None


def _read_checkpoint(path: Path, lazy: bool = False) -> Side:
    checkpoint = checkpoint_of(path)
    if lazy:
        blob = file_blob_hash(checkpoint)
        data = None if blob is None else b""
    else:
        data = _read_working(checkpoint)
    if data is None:
        raise NotFoundError(f"'{path.name}' has no checkpoint to compare with (and is not in "
                            "a git repository): save it in JupyterLab (File ▸ Save and Create "
                            "Checkpoint) or 'git init' its folder")
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(checkpoint.stat().st_mtime))
    label = f"checkpoint ({stamp})"
    if lazy:
        revision = Revision(CHECKPOINT, None, label, blob)
        return Side(revision, None, _file_loader(checkpoint, revision))
    return Side(Revision(CHECKPOINT, None, label, blob_hash(data)), data)


def _file_loader(path: Path, revision: Revision) -> Callable[[], bytes | None]:
    """Reads the file when the diff needs it; the revision's hash becomes that of what was
    read (the file may have been saved again since it was hashed)."""
    def load() -> bytes | None:
        data = _read_working(path)
        revision.blob = None if data is None else data_blob_hash(data)
        return data
    return load


def _lean_blob(repo: GitRepo, sha: str) -> bytearray:
    try:
        return read_blob(_git_binary(), repo.root, _env(), sha, GIT_TIMEOUT)
    except (subprocess.SubprocessError, ValueError):
        raise GitError(f"git cat-file failed: blob {sha[:10]} could not be read") from None


def read_side(repo: GitRepo | None, path: Path, rev: str, relpath: str | None = None, *,
              lazy: bool = False) -> Side:
    """The notebook at ``path`` as revision ``rev`` has it. ``lazy``: the bytes are read
    by ``Side.content()`` when needed (a diff found in the cache reads none), a working copy
    is hashed in pieces and a git blob read into one buffer."""
    if rev == WORKING:
        if lazy:
            if path.is_dir():
                _read_working(path)  # the folder's one clear line
            revision = Revision(WORKING, None, "working copy", file_blob_hash(path))
            return Side(revision, None, _file_loader(path, revision))
        data = _read_working(path)
        return Side(Revision(WORKING, None, "working copy",
                             blob_hash(data) if data is not None else None), data)
    if rev == CHECKPOINT:
        return _read_checkpoint(path, lazy)
    if repo is None:
        if rev == "HEAD":
            return _read_checkpoint(path, lazy)
        raise UserInputError(f"'{path.name}' is not in a git repository, so '{rev}' names "
                             "nothing: compare the working copy with its checkpoint (base "
                             "HEAD or CHECKPOINT), or 'git init' the folder")
    relpath = relpath or repo.relative(path)
    if rev == INDEX:
        conflict = repo.conflict_message(relpath)
        if conflict:
            raise UserInputError(conflict)
        stages = repo.index_entries(relpath)
        sha = stages.get(0)
        return _git_side(repo, Revision(INDEX, None, "index (staged)", sha, relpath), lazy)
    if rev.startswith(MERGE_BASE):
        branch = rev[len(MERGE_BASE):]
        if not branch:
            raise UserInputError("name the branch: merge-base:BRANCH (e.g. merge-base:main)")
        commit = repo.merge_base(branch)
        label = f"merge-base with {branch} ({_short(commit)})"
    else:
        commit = repo.commit_of(rev)
        label = _short(commit) if commit.startswith(rev) else f"{rev} ({_short(commit)})"
    sha = repo.blob_at(commit, relpath)
    return _git_side(repo, Revision(rev, commit, label, sha, relpath), lazy)


def _git_side(repo: GitRepo, revision: Revision, lazy: bool) -> Side:
    sha = revision.blob
    if lazy:
        return Side(revision, None, None if sha is None else lambda: _lean_blob(repo, sha))
    return Side(revision, repo.read_blob(sha) if sha else None)


# --------------------------------------------------------------------------- the cache


_Cached = tuple[list[CellDiff], DiffSummary, list[DiffEntry], float, dict[str, Any]]
_cache: OrderedDict[tuple[str, str, tuple[bool, ...]], _Cached] = OrderedDict()
_cache_lock = threading.Lock()


def _cached(key: tuple[str, str, tuple[bool, ...]]) -> _Cached | None:
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
        return hit


def _remember(key: tuple[str, str, tuple[bool, ...]], value: _Cached) -> None:
    with _cache_lock:
        _cache[key] = value
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


# --------------------------------------------------------------------------- diff


def _notebook_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path).expanduser()
    if p.suffix != ".ipynb":
        raise UserInputError(f"'{path}' is not a notebook (.ipynb file)")
    return p.resolve()


def _missing(path: Path, base_label: str | None = None) -> str:
    """The message for a notebook that is not in its folder (nor, in git, at the base
    revision)."""
    also = f" (nor in {base_label})" if base_label else ""
    return f"'{path.name}' does not exist{also}: check the notebook's name and folder"


def _where(path: Path, side: Side) -> str:
    return f"'{path.name}' ({side.revision.label})"


def diff(path: str | os.PathLike[str], base: str | None = "HEAD", head: str | None = None,
         *, filters: DiffFilters | None = None) -> NotebookDiff:
    """The cell-aware diff of the notebook at ``path`` from ``base`` to ``head``.

    ``base`` defaults to HEAD (outside git: the last checkpoint); ``head`` to the working copy
    (``None`` or ``"WORKING"``). Either may be ``"INDEX"``, ``"CHECKPOINT"``, any git ref or
    commit, or ``"merge-base:BRANCH"``.
    """
    began = time.perf_counter()
    filters = filters or DiffFilters()
    nb_path = _notebook_path(path)
    base_rev, head_rev = (base or "HEAD"), (head or WORKING)
    repo = find_repo(nb_path.parent) if nb_path.parent.is_dir() else None
    relpath = repo.relative(nb_path) if repo else None
    if repo is not None and relpath is not None and {WORKING, INDEX} & {base_rev, head_rev}:
        conflict = repo.conflict_message(relpath)
        if conflict:
            raise UserInputError(conflict)
    head_side = read_side(repo, nb_path, head_rev, relpath, lazy=True)
    if repo is None and not head_side.exists and head_rev == WORKING and \
            not checkpoint_of(nb_path).exists():
        raise NotFoundError(_missing(nb_path))
    base_side = read_side(repo, nb_path, base_rev, relpath, lazy=True)
    status: NotebookStatus = "modified"
    if not base_side.exists and repo is not None and base_side.revision.commit:
        old = repo.renamed_from(base_side.revision.commit, relpath or "",
                                cached=head_rev == INDEX,
                                head_commit=head_side.revision.commit)
        if old is not None:
            base_side = read_side(repo, repo.root / old, base_rev, old, lazy=True)
            status = "renamed"
    if not base_side.exists and not head_side.exists:
        if head_rev == WORKING:
            raise NotFoundError(_missing(nb_path, base_side.revision.label))
        labels = dict.fromkeys([base_side.revision.label, head_side.revision.label])
        raise NotFoundError(f"'{nb_path.name}' does not exist in {' nor in '.join(labels)}")
    if not base_side.exists:
        status = "added"
    elif not head_side.exists:
        status = "deleted"
    key = (base_side.revision.blob or "-", head_side.revision.blob or "-", filters.key())
    hit = _cached(key)
    if hit is None:
        # one side at a time, its bytes let go once parsed; equal big strings shared
        strings: dict[str, str] = {}
        head_nb = _parse(head_side, _where(nb_path, head_side), strings)
        base_nb = _parse(base_side, _where(nb_path, base_side), strings)
        del strings
        base_nb = base_nb if base_nb is not None else empty_notebook(head_nb)
        head_nb = head_nb if head_nb is not None else empty_notebook(base_nb)
        cells, summary, ops, _ms = diff_notebooks(base_nb, head_nb, filters)
        hit = (cells, summary, ops, _ms, head_nb)
        # under the hashes of what was read
        key = (base_side.revision.blob or "-", head_side.revision.blob or "-", filters.key())
        _remember(key, hit)
    cells, summary, ops, _ms, head_nb = hit
    if status == "modified" and not ops:
        status = "unchanged"
    return NotebookDiff(str(path), base_side.revision, head_side.revision, summary, cells, ops,
                        filters, (time.perf_counter() - began) * 1000, status, head_nb)


def _parse(side: Side, where: str, strings: dict[str, str]) -> dict[str, Any] | None:
    """The side's notebook (None: absent), parsed cell by cell from bytes not kept."""
    data = side.content()
    if data is None:
        return None
    return load_lean(data, where, strings)


# --------------------------------------------------------------------------- changes


def changes(folder: str | os.PathLike[str]) -> tuple[GitRepo | None, list[StatusEntry]]:
    """The changed notebooks under ``folder``: git's status, or outside git the notebooks of
    ``folder`` itself whose working copy differs from their checkpoint. Paths are
    repository-relative in git, else relative to ``folder``."""
    where = Path(folder).resolve()
    repo = find_repo(where)
    if repo is not None:
        return repo, repo.status(repo.relative(where) if where != repo.root else "")
    found = []
    for nb in sorted(where.glob("*.ipynb")):  # this folder only: it may be a home folder
        checkpoint = checkpoint_of(nb)
        rel = nb.relative_to(where).as_posix()
        if not checkpoint.is_file():
            found.append(StatusEntry(rel, "untracked"))
        elif checkpoint.read_bytes() != nb.read_bytes():
            found.append(StatusEntry(rel, "modified"))
    return None, found
