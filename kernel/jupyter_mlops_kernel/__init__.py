"""Kernel side of jupyter-mlops: the ``%mlops`` / ``%%mlops`` magics and rich displays.

Loaded by ``%load_ext jupyter_mlops``. It imports only the core and IPython; capability
libraries load when a verb first needs them.
"""

from __future__ import annotations

from typing import Any

from .magics import MLOpsMagics

__all__ = ["MLOpsMagics", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    magics = MLOpsMagics(ipython)
    ipython.register_magics(magics)
    # %config lists shell.configurables: being there makes `%config MLOpsMagics` work.
    if not any(isinstance(c, MLOpsMagics) for c in ipython.configurables):
        ipython.configurables.append(magics)


def unload_ipython_extension(ipython: Any) -> None:
    ipython.configurables[:] = [c for c in ipython.configurables
                                if not isinstance(c, MLOpsMagics)]
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("mlops", None)
