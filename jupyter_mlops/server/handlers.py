"""REST handlers. Each parses the request, calls one core function off the event loop and
finishes with JSON; the base handler maps the core's exceptions to ``{"message": …}`` errors."""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from ..errors import MLOpsError, NotFoundError, UserInputError

if TYPE_CHECKING:
    from .app import MLOpsApp

API_PREFIX = "mlops/api"
T = TypeVar("T")


class MLOpsHandler(ExtensionHandlerMixin, APIHandler):
    """Base of every /mlops/api handler: state by injection, errors as JSON in one place."""

    def initialize(self, name: str, app: MLOpsApp, **kwargs: Any) -> None:
        super().initialize(name, **kwargs)
        self.mlops = app

    async def in_executor(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking core work off the server's event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    def folder(self) -> Path:
        """The project folder a request is about: ``?path=`` (a folder, or a file meaning its
        folder) inside the server root, default the root; outside it is a 403."""
        from ..paths import resolve_inside

        folder = resolve_inside(self.mlops.root_dir, self.get_argument("path", ""))
        return folder.parent if folder.is_file() else folder

    def body(self) -> dict[str, Any]:
        """The request's JSON object ({} when there is no body)."""
        if not self.request.body:
            return {}
        try:
            data = json.loads(self.request.body)
        except ValueError as exc:
            raise UserInputError(f"the request body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise UserInputError("the request body must be a JSON object")
        return data

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        exc_info = kwargs.get("exc_info")
        message = self._reason
        reply: dict[str, Any] = {}
        if exc_info:
            exc = exc_info[1]
            if isinstance(exc, web.HTTPError) and exc.log_message:
                message = exc.log_message % exc.args if exc.args else exc.log_message
            elif isinstance(exc, MLOpsError):
                message = str(exc)
            if self.settings.get("serve_traceback") and not isinstance(exc, MLOpsError):
                reply["traceback"] = traceback.format_exception(*exc_info)
        reply["message"] = message
        self.finish(json.dumps(reply))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, MLOpsError):
            self.log.warning("%s %s: %s", self.request.method, self.request.uri, value)
        else:
            super().log_exception(typ, value, tb)

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, MLOpsError) and not self._finished:
            self.log_exception(type(e), e, e.__traceback__)
            self.send_error(e.http_status, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)


class StatusHandler(MLOpsHandler):
    """GET [?path=FOLDER]: resolved configuration, version and measured health of every
    backend, for the project around FOLDER (relative to the server root; default: the root),
    which is where the open notebook's kernel resolves its configuration too."""

    @web.authenticated
    async def get(self) -> None:
        from ..status import collect_status

        app = self.mlops
        folder = self.folder()
        report = await self.in_executor(
            lambda: collect_status(folder, default_timeout=app.status_timeout)
        )
        self.finish(json.dumps(report.to_dict()))


class UnknownEndpointHandler(MLOpsHandler):
    """Any other path under /mlops/api: a JSON 404 (after authentication, like the rest)."""

    @web.authenticated
    def get(self, path: str) -> None:
        raise NotFoundError(f"no such endpoint: /mlops/api/{path}")

    post = put = patch = delete = get


# capability routes (their modules import MLOpsHandler from above)
from .deploy import ROUTES as DEPLOY_ROUTES  # noqa: E402
from .features import ROUTES as FEATURES_ROUTES  # noqa: E402
from .pipeline import ROUTES as PIPELINE_ROUTES  # noqa: E402
from .review import ROUTES as REVIEW_ROUTES  # noqa: E402
from .tracking import ROUTES as TRACKING_ROUTES  # noqa: E402

ROUTES: list[tuple[str, type[MLOpsHandler]]] = [
    ("status", StatusHandler),
    *FEATURES_ROUTES,
    *PIPELINE_ROUTES,
    *REVIEW_ROUTES,
    *DEPLOY_ROUTES,
    *TRACKING_ROUTES,
    ("(.*)", UnknownEndpointHandler),  # keep last
]
