"""The base of the tracking capability's REST handlers: the project folder, the config,
calls to the store off the event loop and bounded in time, JSON replies."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import BackendUnavailableError, UserInputError
from ..server.base import MLOpsHandler

if TYPE_CHECKING:
    from ..config import Config

T = TypeVar("T")
#: seconds one query of the tracking store may take before the route answers 503
QUERY_TIMEOUT = 30.0


class TrackingHandler(MLOpsHandler):
    """Shared parsing: the project folder, the config, bounded calls, JSON replies."""

    def folder(self, near: Path | None = None) -> Path:
        """``?path=``'s folder; without it, the folder of ``near`` (the notebook asked about)."""
        if not self.get_argument("path", "") and near is not None:
            return near.parent
        return super().folder()

    def notebook_asked(self) -> Path | None:
        """``?notebook=``: the notebook whose runs are meant (None when not given)."""
        raw = self.get_argument("notebook", "")
        # a deleted notebook's runs are still listed
        return self.notebook(raw, must_exist=False) if raw else None

    async def bounded(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` off the event loop, answered within QUERY_TIMEOUT seconds."""
        try:
            return await asyncio.wait_for(self.in_executor(fn, *args), QUERY_TIMEOUT)
        except asyncio.TimeoutError:
            raise BackendUnavailableError(
                f"the tracking store did not answer within {QUERY_TIMEOUT:g} s: check that it "
                "is running (%mlops status)") from None

    async def project_config(self, folder: Path) -> Config:
        from ..config import load_config

        return await self.in_executor(load_config, folder)

    def whole(self, name: str, default: int, least: int, most: int) -> int:
        raw = self.get_argument(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            raise UserInputError(f"{name} must be a whole number, not '{raw}'") from None
        if not least <= value <= most:
            raise UserInputError(f"{name} must be between {least} and {most}, not {value}")
        return value
