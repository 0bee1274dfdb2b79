"""What every ``/mlops/api`` handler shares: state by injection, request parsing (the project
folder, a notebook path, the JSON body), JSON replies, and the core's exceptions mapped to
``{"message": …}`` errors in one place.

Each capability's handlers live in ``jupyter_mlops/<capability>/routes.py`` and import only
this module (and their own core); ``server/app.py`` collects their ``ROUTES``.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from ..config import redact
from ..errors import MLOpsError, UserInputError
from ..paths import resolve_inside
from .schema import load_json, parse

if TYPE_CHECKING:
    from .app import MLOpsApp

API_PREFIX = "mlops/api"
T = TypeVar("T")
D = TypeVar("D")


def notebook_inside(root: str | Path, relative: object, *, must_exist: bool = True) -> Path:
    """A notebook path from a request (relative to the server root) resolved inside ``root``:
    outside it is a 403, missing a 404 (unless ``must_exist`` is off: a deleted notebook
    still has runs and a diff), anything but an ``.ipynb`` file a 400."""
    if not isinstance(relative, str) or not relative:
        raise UserInputError("name the notebook: path=folder/notebook.ipynb (relative to the "
                             "server root)")
    path = resolve_inside(root, relative, must_exist=must_exist)
    if path.suffix != ".ipynb":
        raise UserInputError(f"'{relative}' is not a notebook (.ipynb file)")
    if path.is_dir():
        raise UserInputError(f"'{relative}' is a folder, not a notebook")
    return path


def injected(services: dict[str, object], name: str, kind: type[T]) -> T:
    """The service ``name`` the app handed a handler (see ``MLOpsApp.initialize_handlers``)."""
    found = services.get(name)
    if not isinstance(found, kind):
        raise TypeError(f"the handler needs the app's {name} ({kind.__name__}), got {found!r}")
    return found


def relative_to_root(root: str | Path, path: str | Path) -> str:
    """``path`` as the panels name it: relative to the server root (as given when outside)."""
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)


class MLOpsHandler(ExtensionHandlerMixin, APIHandler):
    """Base of every /mlops/api handler: state by injection, errors as JSON in one place.

    The app hands every handler the same keyword arguments (``app`` and its background
    services, e.g. ``pipeline_runs``); a capability's handler picks the ones it needs in its
    own ``initialize`` with ``injected(services, name, type)``.
    """

    def initialize(self, name: str, app: MLOpsApp, **services: object) -> None:
        super().initialize(name)
        self.mlops = app

    async def in_executor(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking core work off the server's event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    def folder(self) -> Path:
        """The project folder a request is about: ``?path=`` (a folder, or a file meaning its
        folder) inside the server root, default the root; outside it is a 403."""
        folder = resolve_inside(self.mlops.root_dir, self.get_argument("path", ""))
        return folder.parent if folder.is_file() else folder

    def notebook(self, relative: object, *, must_exist: bool = True) -> Path:
        """The notebook ``relative`` names (a request's ``path``), inside the server root."""
        return notebook_inside(self.mlops.root_dir, relative, must_exist=must_exist)

    def relative(self, path: str | Path) -> str:
        """``path`` relative to the server root, as the panels name files."""
        return relative_to_root(self.mlops.root_dir, path)

    @overload
    def body(self) -> dict[str, Any]: ...

    @overload
    def body(self, schema: type[D]) -> D: ...

    def body(self, schema: type[Any] | None = None) -> Any:
        """The request's JSON object ({} when there is no body), nested at most
        ``schema.MAX_DEPTH`` deep; with ``schema`` (a dataclass, see ``server/schema.py``) an
        instance of it whose every field is type-checked. Any mistake is a 400 of one line."""
        data = load_json(self.request.body) if self.request.body else {}
        if schema is not None:
            return parse(schema, data)
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
        reply["message"] = redact(message)  # a URL's credentials are never shown
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
