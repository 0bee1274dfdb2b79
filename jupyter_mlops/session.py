"""Which notebook is this kernel running? One answer, used by tracking (a run's notebook),
``pipeline`` and ``diff`` / ``review`` (the notebook they default to).

``current_notebook`` asks, in this order, and takes the first that names an existing
``.ipynb`` file (a relative name is looked up in the working folder, then by its file name
there, since Jupyter names notebooks relative to the server's root):

1. the ``explicit`` argument (a caller that was told, e.g. ``start_run(notebook=…)``);
2. ``set_notebook(path)``: what a frontend or a runner told this kernel;
3. ``__session__`` in the user's namespace (ipykernel sets it);
4. the ``JPY_SESSION_NAME`` environment variable (jupyter_server sets it for the kernel);
5. the running Jupyter servers' sessions API: the session that owns this kernel (only
   inside ipykernel; bounded by a one-second timeout).

A leaf module: the standard library and ``errors`` only.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UserInputError

if TYPE_CHECKING:
    from .verb import Context

_told: str | None = None


def set_notebook(path: str | os.PathLike[str] | None) -> None:
    """Tell this kernel which notebook it runs (for frontends and runners that know it);
    ``None`` forgets it."""
    global _told
    _told = os.fspath(path) if path else None


def current_notebook(namespace: dict[str, Any] | None = None,
                     explicit: str | os.PathLike[str] | None = None,
                     cwd: str | os.PathLike[str] | None = None) -> Path | None:
    """The notebook file this kernel runs (resolved), or None: see the module's docstring for
    the order of the sources."""
    here = Path(cwd or os.getcwd())
    for candidate in (explicit, _told, (namespace or {}).get("__session__"),
                      os.environ.get("JPY_SESSION_NAME")):
        found = _as_notebook(candidate, here)
        if found is not None:
            return found
    return _as_notebook(_from_server(), here)


def _as_notebook(candidate: Any, here: Path) -> Path | None:
    if not candidate or not isinstance(candidate, str | os.PathLike):
        return None
    path = Path(candidate).expanduser()
    options = [path] if path.is_absolute() else [here / path, here / path.name]
    for option in options:
        if option.suffix == ".ipynb" and option.is_file():
            return option.resolve()
    return None


def _from_server(timeout: float = 1.0) -> str | None:
    """Ask the running Jupyter servers which session owns this kernel (ipykernel only)."""
    if "ipykernel" not in sys.modules:
        return None
    try:
        from ipykernel.connect import get_connection_file
        from jupyter_server.serverapp import list_running_servers

        kernel_id = Path(get_connection_file()).stem.removeprefix("kernel-")
        for server in list_running_servers():
            url = f"{server['url'].rstrip('/')}/api/sessions"
            request = urllib.request.Request(url, headers={
                "Authorization": f"token {server.get('token', '')}"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                sessions = json.loads(response.read())
            for session in sessions:
                if session.get("kernel", {}).get("id") == kernel_id:
                    root = server.get("root_dir") or server.get("notebook_dir") or ""
                    return str(Path(root) / session["path"])
    except Exception:
        return None
    return None


def notebook_path(given: str | None, ctx: Context, usage: str) -> Path:
    """The notebook a verb works on: ``given`` (relative to the working folder), else the
    notebook this kernel runs (``ctx.notebook()``); without either, a one-line error that
    shows ``usage`` (e.g. ``"pipeline show NOTEBOOK.ipynb"``)."""
    name = given or ctx.notebook()
    if not name:
        raise UserInputError(f"name the notebook: {ctx.prog} {usage}")
    path = Path(name).expanduser()
    return path if path.is_absolute() else Path(ctx.cwd) / path
