"""Paths that come from a caller (a REST request, a magic argument) resolved safely."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import NotFoundError, PathOutsideRootError, UserInputError


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
