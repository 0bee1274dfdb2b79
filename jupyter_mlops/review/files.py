"""``diff_files(base_path, head_path)``: any two notebook files compared as they are, with the
diff engine of ``diff`` (cells matched by id, then by content) — two copies of a notebook, a
colleague's version, or the two sides ``git difftool`` hands over. ``/dev/null`` on one side
(git's side of an added or deleted file) is a notebook that does not exist there.

    from jupyter_mlops.review import diff_files
    d = diff_files("train.ipynb", "train-ada.ipynb")
    d.summary, d.cells, d.to_nbdime()
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, UserInputError
from .engine import diff_notebooks
from .model import DiffFilters, NotebookDiff, NotebookStatus, Revision
from .notebook import NotANotebookError, blob_hash, empty_notebook, load_notebook

#: the revision name both sides of a files diff have
FILE = "FILE"


def is_devnull(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is the empty side git names for an added or deleted file."""
    return os.fspath(path) == os.devnull


def read_notebook_file(path: Path, shown: str) -> tuple[dict[str, Any] | None, Revision]:
    """The notebook at ``path`` (None for ``/dev/null``) and the side of a diff it is;
    ``shown`` names it in the result and in errors."""
    if is_devnull(path):
        return None, Revision(FILE, None, os.devnull, None, None)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"'{shown}' does not exist: check the file's name and folder"
                            ) from None
    except IsADirectoryError:
        raise UserInputError(f"'{shown}' is a folder, not a notebook") from None
    except PermissionError:
        raise UserInputError(f"'{shown}' cannot be read (permission denied)") from None
    try:
        nb = load_notebook(data, f"'{shown}'")
    except NotANotebookError:
        if path.suffix != ".ipynb":  # a text, CSV or image file named by mistake
            raise NotANotebookError(f"'{shown}' is not a notebook (.ipynb file)") from None
        raise
    return nb, Revision(FILE, None, shown, blob_hash(data), shown)


def diff_files(base_path: str | os.PathLike[str], head_path: str | os.PathLike[str],
               filters: DiffFilters | None = None, *,
               labels: tuple[str, str] | None = None) -> NotebookDiff:
    """The cell-aware diff from the notebook file ``base_path`` to ``head_path``.

    ``labels`` name the two files in the result and in error messages (default: the paths as
    given); the result's ``path`` is the head's label. A file that is missing, a folder, or not
    a notebook is a one-line error; ``os.devnull`` on one side is an absent notebook (the
    result's status is then ``added`` or ``deleted``).
    """
    began = time.perf_counter()
    filters = filters or DiffFilters()
    base_shown, head_shown = labels or (os.fspath(base_path), os.fspath(head_path))
    if is_devnull(base_path) and is_devnull(head_path):
        raise UserInputError(f"both sides are {os.devnull}: name at least one notebook")
    base_file, head_file = Path(base_path).expanduser(), Path(head_path).expanduser()
    base_nb, base_rev = read_notebook_file(base_file, base_shown)
    head_nb, head_rev = read_notebook_file(head_file, head_shown)
    status: NotebookStatus = "added" if base_nb is None else \
        "deleted" if head_nb is None else "modified"
    base_nb = base_nb if base_nb is not None else empty_notebook(head_nb)
    head_nb = head_nb if head_nb is not None else empty_notebook(base_nb)
    cells, summary, ops, _ms = diff_notebooks(base_nb, head_nb, filters)
    if status == "modified" and not ops:
        status = "unchanged"
    return NotebookDiff(head_shown, base_rev, head_rev, summary, cells, ops, filters,
                        (time.perf_counter() - began) * 1000, status, head_nb)


def files_given(first: str | None, second: str | None, cwd: str | os.PathLike[str]
                ) -> tuple[Path, Path] | None:
    """The two files ``diff FIRST SECOND`` names, when it names two files rather than a
    notebook and a revision: SECOND ends in ``.ipynb`` (missing, it is then an error, not an
    unknown revision), is ``/dev/null``, or is an existing file with an extension (a file
    named like a branch, ``main``, leaves SECOND a revision)."""
    if not first or not second:
        return None
    here = Path(cwd)

    def where(name: str) -> Path:
        return Path(name) if is_devnull(name) else here / Path(name).expanduser()

    second_path = where(second)
    if is_devnull(second) or second.endswith(".ipynb") or (
            second_path.suffix and second_path.is_file()):
        return where(first), second_path
    return None
