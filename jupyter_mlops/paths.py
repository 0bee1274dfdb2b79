"""Paths that come from a caller (a REST request, a magic argument, a file under ``.mlops/``)
resolved safely, and the one way folders of the project's state are created."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .config import STATE_DIR
from .errors import NotFoundError, PathOutsideRootError, UserInputError

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
