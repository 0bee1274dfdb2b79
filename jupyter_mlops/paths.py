"""Paths that come from a caller (a REST request, a magic argument, a file under ``.mlops/``)
resolved safely, and the one way folders of the project's state are created."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .config import STATE_DIR
from .errors import BackendUnavailableError, NotFoundError, PathOutsideRootError, UserInputError

#: ``.mlops/.gitignore``, written when ``.mlops/`` is created: the databases, artifacts, caches
#: and logs under it stay out of git; the reviews are meant to be committed.
STATE_GITIGNORE = ("# jupyter-mlops: local state stays out of git; reviews are meant to be "
                   "committed\n*\n!.gitignore\n!reviews/\n!reviews/**\n")


def inside(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """Whether ``path``, symbolic links followed, lies inside ``folder`` (followed too): what a
    path read from a file under ``.mlops/`` (which a repository can commit) must satisfy
    before it is opened."""
    return Path(folder).resolve() in Path(path).resolve().parents


def make_folder(folder: str | os.PathLike[str]) -> Path:
    """``folder`` created with its parents (as ``mkdir -p``). A ``.mlops`` folder this creates
    gets its ``.gitignore`` at once, so whatever writes the project's state first (a run, a
    publish, a pipeline, a deployment), git never offers its databases and logs."""
    path = Path(folder)
    if path.is_dir():
        return path
    created = [p for p in (path, *path.parents) if p.name == STATE_DIR and not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for state in created:
        with contextlib.suppress(OSError), open(state / ".gitignore", "x",
                                                encoding="utf-8") as file:
            file.write(STATE_GITIGNORE)
    return path


def resolve_inside(root: str | os.PathLike[str], relative: str, *, must_exist: bool = True
                   ) -> Path:
    """``relative`` (an API path such as ``notebooks/a.ipynb``) resolved under ``root``.

    Symlinks and ``..`` are resolved first, so nothing outside ``root`` can be reached; an
    absolute path is accepted only when it lies inside ``root``. A NUL byte (which no file
    name holds) is a UserInputError, not the OS's ValueError.
    """
    if "\0" in relative:
        raise UserInputError(f"{relative.replace(chr(0), '<NUL>')!r}: a path cannot contain "
                             "a NUL byte")
    base = Path(root).resolve()
    candidate = (base / relative.lstrip("/")).resolve() if not os.path.isabs(relative) \
        else Path(relative).resolve()
    if candidate != base and base not in candidate.parents:
        raise PathOutsideRootError(f"'{relative}' is outside the server root: use a path "
                                   "relative to the folder JupyterLab serves")
    if must_exist and not candidate.exists():
        raise NotFoundError(f"no such file or folder: '{relative}'")
    return candidate


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` survive a crash (where the system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` or leave it as it was: a temporary file of its own
    (a unique name beside ``path``), synced to disk, renamed over ``path``, the folder synced.
    ``mode``: the new file's permissions (default: those of the temporary file, 0600)."""
    make_folder(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_folder(path.parent)


@contextlib.contextmanager
def file_lock(path: Path, *, busy: str, timeout: float = 60.0,
              unwritable: str | None = None) -> Iterator[None]:
    """An exclusive lock between processes of this machine (``flock`` on ``path``), held
    for the block. Not got within ``timeout`` seconds: a BackendUnavailableError saying
    ``busy``; a lock file that cannot be made: a UserInputError saying ``unwritable``
    (where given; else the OSError)."""
    import fcntl

    try:
        make_folder(path.parent)
        handle = path.open("a+b")
    except OSError as exc:
        if unwritable is None:
            raise
        raise UserInputError(f"{unwritable} ({path}: {exc.strerror})") from None
    with handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BackendUnavailableError(busy) from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
