"""Query parameters of the Review routes, parsed in one place for every routes module: flags
(``1``/``0``), revision names, and the diff filters they make."""

from __future__ import annotations

from typing import Any

from ..errors import UserInputError
from ..server.base import MLOpsHandler
from .model import DiffFilters

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def flag(handler: MLOpsHandler, name: str, default: bool) -> bool:
    """The query parameter ``name`` as a boolean (``default`` when absent or empty)."""
    raw = handler.get_argument(name, "")
    if raw == "":
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise UserInputError(f"'{name}' is 1 or 0, not {raw!r}")


def rev(value: Any, name: str) -> str | None:
    """A revision name from a request (None: not given, the default applies)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise UserInputError(f"'{name}' is a revision name (HEAD, INDEX, WORKING, a ref)")
    return value


def diff_filters(handler: MLOpsHandler) -> DiffFilters:
    """``outputs=1&metadata=0&execution_counts=0&attachments=1`` (the defaults)."""
    return DiffFilters(outputs=flag(handler, "outputs", True),
                       metadata=flag(handler, "metadata", False),
                       execution_counts=flag(handler, "execution_counts", False),
                       attachments=flag(handler, "attachments", True))
