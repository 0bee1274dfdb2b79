"""A suggestion applied to the working copy: one apply per notebook at a time (a lock file
under the state folder, shared by the server, the kernel and the command line), the notebook
read again under the lock, and written whole or not at all (``paths.atomic_write``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from ..errors import UserInputError
from ..paths import file_lock
from .notebook import write_whole

#: how long an apply waits for another apply of the same notebook to finish
LOCK_TIMEOUT_S = 30.0


class AlreadyAppliedError(UserInputError):
    """The suggestion was applied already (a second click, or a teammate first)."""

    http_status = 409


@contextlib.contextmanager
def notebook_lock(lock_file: Path, notebook: Path,
                  timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the exclusive lock of ``notebook`` (``flock`` on ``lock_file``): any other
    apply to it, in this process or another, waits until the block is done."""
    with file_lock(lock_file, timeout=timeout,
                   busy=f"{notebook.name} is being edited by another apply (lock "
                        f"{lock_file}): try again when it is done",
                   unwritable=f"cannot lock {notebook.name} for the edit: make the state "
                              "folder writable"):
        yield


def apply_suggestion(file: Path, index: int, new_source: str, line: int | None,
                     end_line: int | None) -> None:
    """Replace cell ``index``'s source (or its lines ``line``-``end_line``) in the notebook
    file, as it is on disk now, and write it back valid per nbformat; the notebook keeps its
    permissions, and a failed write leaves it as it was."""
    import nbformat

    keep = nbformat.NO_CONVERT
    nb = nbformat.read(str(file), as_version=keep)  # type: ignore[no-untyped-call]
    cell = nb.cells[index]
    if line is None:
        cell.source = new_source
    else:
        lines = cell.source.splitlines(True)
        end = end_line or line
        replacement = new_source.splitlines(True)
        if replacement and not replacement[-1].endswith("\n") and end < len(lines):
            replacement[-1] += "\n"
        cell.source = "".join([*lines[:line - 1], *replacement, *lines[end:]])
    nbformat.validate(nb)
    write_whole(file, nbformat.writes(nb))  # type: ignore[no-untyped-call]
