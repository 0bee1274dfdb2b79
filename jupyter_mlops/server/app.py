"""The server extension application: options, and one route table."""

from __future__ import annotations

from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float

from .._version import __version__
from .handlers import API_PREFIX, ROUTES


class MLOpsApp(ExtensionApp):
    """Serves ``<base_url>/mlops/api/…`` to the MLOps sidebar."""

    name = "jupyter_mlops"
    version = __version__
    load_other_extensions = True

    status_timeout = Float(
        3.0,
        config=True,
        help="Seconds each backend check of /mlops/api/status may take before it is reported "
        "as timed out (the status.timeout setting of mlops.toml overrides it when set there).",
    )

    def initialize_handlers(self) -> None:
        state: dict[str, Any] = {"app": self}
        self.handlers.extend(
            (f"{API_PREFIX}/{route}", handler, state) for route, handler in ROUTES
        )

    @property
    def root_dir(self) -> str:
        """The folder the server serves; configuration resolves from it."""
        return str(self.serverapp.root_dir) if self.serverapp is not None else "."
