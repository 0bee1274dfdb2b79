"""The server extension application: options, the background services it owns, and the one
route table (``status``, each capability's ``ROUTES``, then a JSON 404 for the rest)."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from tornado import web
from traitlets import Float

from .._version import __version__
from ..commands import CAPABILITY_PACKAGES
from ..deploy.tasks import DeployTasks
from ..errors import NotFoundError
from ..monitor.check import PeriodicCheck
from ..pipeline.background import PipelineRuns
from .base import API_PREFIX, MLOpsHandler

SERVER_ROOT = "MLOPS_SERVER_ROOT"


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


def route_table() -> list[tuple[str, type[MLOpsHandler]]]:
    """Every route under ``/mlops/api/``: the status, each capability package's ``ROUTES``
    (its ``routes`` module) in the order of ``CAPABILITY_PACKAGES``, the catch-all 404 last."""
    routes: list[tuple[str, type[MLOpsHandler]]] = [("status", StatusHandler)]
    for package in CAPABILITY_PACKAGES:
        routes.extend(importlib.import_module(f"{package}.routes").ROUTES)
    routes.append(("(.*)", UnknownEndpointHandler))
    return routes


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

    pipeline_runs: PipelineRuns
    deploy_tasks: DeployTasks
    monitor_checks: PeriodicCheck
    _outer_root: str | None = None  # MLOPS_SERVER_ROOT as it was before this server set it

    def initialize_settings(self) -> None:
        # the config search of this server and of its kernels (which inherit the variable)
        # reads no file above the folder it serves (config.search_folders)
        self._outer_root = os.environ.get(SERVER_ROOT)
        os.environ[SERVER_ROOT] = self.root_dir
        self.pipeline_runs = PipelineRuns()
        self.deploy_tasks = DeployTasks()
        self.monitor_checks = PeriodicCheck(self.root_dir, self.log)  # monitor.check_interval
        self.monitor_checks.start()

    def initialize_handlers(self) -> None:
        # every handler gets the same state; each picks the services it needs (base.injected)
        state: dict[str, Any] = {"app": self, "pipeline_runs": self.pipeline_runs,
                                 "deploy_tasks": self.deploy_tasks}
        self.handlers.extend(
            (f"{API_PREFIX}/{route}", handler, state) for route, handler in route_table()
        )

    def current_activity(self) -> list[str] | None:
        """What keeps the server busy though no kernel runs (so an idle shutdown, see
        ``ServerApp.shutdown_no_activity_timeout``, waits for it)."""
        if not self._initialized():
            return None
        busy = [f"pipeline run {run_id}" for run_id in self.pipeline_runs.running()]
        busy += [f"{task.kind} of {task.label}" for task in self.deploy_tasks.running()]
        return busy or None

    async def stop_extension(self) -> None:
        """Stop the pipeline runs this server started (recorded as cancelled) and the deploys
        in flight (interrupted at their next step), so nothing of ours outlives the server."""
        if not self._initialized():
            return
        if self._outer_root is None:
            os.environ.pop(SERVER_ROOT, None)
        else:
            os.environ[SERVER_ROOT] = self._outer_root
        left = await asyncio.gather(asyncio.to_thread(self.pipeline_runs.close),
                                    asyncio.to_thread(self.deploy_tasks.close),
                                    asyncio.to_thread(self.monitor_checks.close))
        for task in left[1]:
            self.log.warning("jupyter_mlops: the %s of %s did not stop in time", task.kind,
                             task.label)

    def _initialized(self) -> bool:
        """``initialize_settings`` ran (it has not when the extension failed to load)."""
        return all(hasattr(self, a) for a in ("pipeline_runs", "deploy_tasks", "monitor_checks"))

    @property
    def root_dir(self) -> str:
        """The folder the server serves; configuration resolves from it."""
        return str(self.serverapp.root_dir) if self.serverapp is not None else "."
