"""Kernel side of jupyter-mlops: the ``%mlops`` / ``%%mlops`` magics and rich displays.

Loaded by ``%load_ext jupyter_mlops``. It imports only the core and IPython; capability
libraries load when a verb first needs them. ``%unload_ext jupyter_mlops`` removes all that
loading added: the magics (and their registry entry), the configurable, the display
formatters and every ``pre_run_cell`` callback a verb registered.
"""

from __future__ import annotations

from typing import Any

from .display import add_formatters, remove_formatters
from .magics import MLOpsMagics

__all__ = ["MLOpsMagics", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    magics = MLOpsMagics(ipython)
    ipython.register_magics(magics)
    # %config lists shell.configurables: being there makes `%config MLOpsMagics` work.
    if not any(isinstance(c, MLOpsMagics) for c in ipython.configurables):
        ipython.configurables.append(magics)
    add_formatters(ipython, lambda: bool(magics.rich))


def unload_ipython_extension(ipython: Any) -> None:
    loaded = [c for c in ipython.configurables if isinstance(c, MLOpsMagics)]
    registered = ipython.magics_manager.registry.get(MLOpsMagics.__name__)
    for magics in {id(m): m for m in [*loaded, registered] if m is not None}.values():
        magics.unhook()
    ipython.configurables[:] = [c for c in ipython.configurables
                                if not isinstance(c, MLOpsMagics)]
    ipython.magics_manager.registry.pop(MLOpsMagics.__name__, None)
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("mlops", None)
    remove_formatters(ipython)
