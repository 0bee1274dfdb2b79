"""REST routes of the Pipeline panel. Notebook paths are relative to the server root.

    GET    pipeline?path=NB                         the DAG: steps, edges, parameters, warnings
    POST   pipeline             {path, content}     the same for unsaved content (the editor's)
    GET    pipeline/runs?path=NB                    the notebook's runs, newest first
    POST   pipeline/runs        {path, parameters?, from_step?, only?}   start a run (202)
    GET    pipeline/runs/ID?path=NB                 one run: state, per-step states, log tails
    DELETE pipeline/runs/ID?path=NB                 stop a run this server started
    GET    pipeline/runs/ID/logs/STEP?path=NB       a step's whole log
    POST   pipeline/export      {path, target, out_dir, schedule?}   write the export

A run is a child process (``python -m jupyter_mlops.pipeline.runner``) writing its record to
``run.json``; the server only starts it (through the app's ``PipelineRuns``, which stops it when
the server stops), reads the record and stops it on request, so the event loop never waits on
a step.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tornado import web

from ..errors import NotFoundError, UserInputError
from ..paths import inside
from ..server.base import MLOpsHandler, injected
from .background import PipelineRuns

if TYPE_CHECKING:
    from ..server.app import MLOpsApp

LOG_TAIL = 4000  # characters of each step's log in a run's status
LOG_LIMIT = 1_000_000  # characters of one step's whole log

Relative = Callable[[str | Path], str]  # a path as the panel names it (relative to the root)


def _tail(path: str, limit: int) -> str:
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            file.seek(max(0, size - limit))
            return file.read().decode(errors="replace")
    except OSError:
        return ""


def dag_json(relative: Relative, notebook: Path, content: Any = None) -> dict[str, Any]:
    from . import from_notebook
    from .render import GAP_X, GAP_Y, NODE_H, NODE_W, layout

    pipeline = from_notebook(notebook, content=content)
    data = pipeline.to_dict()
    data["notebook"] = relative(notebook)
    data["artifacts"] = relative(pipeline.artifacts) if "://" not in pipeline.artifacts \
        else pipeline.artifacts
    data["layout"] = {name: {"x": x, "y": y} for name, (x, y) in layout(pipeline).items()}
    # the grid the layout was made on: a box's size and the gaps between boxes
    data["node_size"] = {"width": NODE_W, "height": NODE_H, "gap_x": GAP_X, "gap_y": GAP_Y}
    return data


def run_json(relative: Relative, record: dict[str, Any]) -> dict[str, Any]:
    """A run record for the panel: paths relative to the root, each step's log tail."""
    data = dict(record)
    data["notebook"] = relative(data["notebook"])
    data["folder"] = relative(data["folder"])
    data.pop("results", None)
    data.pop("endpoint_url", None)
    steps = []
    for step in data["steps"]:
        step = dict(step)
        step["log_tail"] = _tail(step["log"], LOG_TAIL) if step.get("log") else ""
        step["log"] = relative(step["log"]) if step.get("log") else ""
        steps.append(step)
    data["steps"] = steps
    return data


def runner_python(app: MLOpsApp, notebook: Path) -> str:
    """The notebook kernel's Python when its kernelspec names one, else the server's."""
    try:
        name = json.loads(notebook.read_text())["metadata"]["kernelspec"]["name"]
        manager: Any = app.serverapp.kernel_spec_manager  # type: ignore[union-attr]
        argv0 = manager.get_kernel_spec(name).argv[0]
    except Exception:  # no kernelspec, unknown kernel: the server's Python
        return sys.executable
    return argv0 if os.path.isabs(argv0) and os.access(argv0, os.X_OK) else sys.executable


def run_status(relative: Relative, notebook: Path, run_id: str) -> dict[str, Any]:
    from .runner import read_record, run_record

    record = run_record(notebook, run_id)
    try:
        data = read_record(record)  # its folder and step logs confined to the run folder
    except FileNotFoundError:
        raise NotFoundError(f"no run {run_id} of {notebook.name}") from None
    except ValueError:
        raise UserInputError(f"{record} is not a readable run record") from None
    result = run_json(relative, data)
    if result["state"] == "failed" and not any(s["state"] == "failed" for s in result["steps"]):
        runner_log = record.parent / "runner.log"  # not a link out of the run folder
        result["runner_log_tail"] = _tail(str(runner_log), LOG_TAIL) \
            if inside(runner_log, record.parent) else ""
    return result


def list_runs_json(relative: Relative, notebook: Path) -> dict[str, Any]:
    from .runner import list_runs

    runs = []
    for run in list_runs(notebook):
        counts: dict[str, int] = {}
        for step in run.steps.values():
            counts[step.state] = counts.get(step.state, 0) + 1
        runs.append({"run_id": run.run_id, "state": run.state, "started": run.started,
                     "finished": run.finished, "parameters": run.parameters,
                     "error": run.error, "steps": counts})
    return {"notebook": relative(notebook), "runs": runs}


def step_log(notebook: Path, run_id: str, step: str) -> dict[str, Any]:
    from .runner import read_record, run_record

    record = run_record(notebook, run_id)
    if not record.parent.is_dir():
        raise NotFoundError(f"no run {run_id} of {notebook.name}")
    logs = {s["name"]: s["log"] for s in read_record(record)["steps"]}
    if step not in logs:
        raise NotFoundError(f"run {run_id} has no step {step!r}")
    return {"run_id": run_id, "step": step,
            "text": _tail(logs[step], LOG_LIMIT) if logs[step] else ""}


@dataclass(frozen=True)
class DagBody:
    """POST pipeline: the notebook's JSON (or its text) as the editor holds it."""

    content: dict[str, Any] | str
    path: str = ""


@dataclass(frozen=True)
class RunBody:
    """POST pipeline/runs: what to run (each value type-checked by ``MLOpsHandler.body``)."""

    path: str = ""
    parameters: dict[str, Any] | None = None
    from_step: str | None = None
    only: str | list[str] | None = None

    def __post_init__(self) -> None:
        if self.from_step and self.only:
            raise UserInputError("give from_step or only, not both")

    @property
    def only_steps(self) -> list[str]:
        return [self.only] if isinstance(self.only, str) and self.only else list(
            self.only or [])


@dataclass(frozen=True)
class ExportBody:
    """POST pipeline/export: the engine, a folder relative to the server root, a schedule."""

    target: Literal["airflow", "prefect", "kfp"]
    out_dir: str
    path: str = ""
    schedule: str | None = None


class PipelineBase(MLOpsHandler):
    """The notebook a request names (``?path=`` or the body's ``path``) and the server's
    pipeline runs."""

    def initialize(self, name: str, app: MLOpsApp, **services: object) -> None:
        super().initialize(name, app, **services)
        self.pipeline_runs = injected(services, "pipeline_runs", PipelineRuns)

    def asked_notebook(self) -> Path:
        return self.notebook(self.get_argument("path", ""))

    def read_run(self, notebook: Path, run_id: str) -> dict[str, Any]:
        self.pipeline_runs.reap()  # a run whose process died is recorded as ended first
        return run_status(self.relative, notebook, run_id)

    def start_run(self, body: RunBody) -> dict[str, Any]:
        from . import from_notebook
        from .results import new_run_id
        from .runner import starting_record

        notebook = self.notebook(body.path)
        pipeline = from_notebook(notebook)
        parameters = body.parameters or {}
        values = pipeline.check_parameters(parameters)
        from_step, only_list = body.from_step, body.only_steps
        for name in [*([from_step] if from_step else []), *only_list]:
            pipeline.step(name)
        run_id = new_run_id()
        record = starting_record(pipeline, run_id, values)
        argv = [runner_python(self.mlops, notebook), "-m", "jupyter_mlops.pipeline.runner",
                str(notebook), "--run-id", run_id, "--parameters", json.dumps(parameters)]
        if from_step:
            argv += ["--from", from_step]
        for name in only_list:
            argv += ["--only", name]
        self.pipeline_runs.start(run_id, argv, notebook.parent, Path(record.folder) / "run.json")
        return run_json(self.relative, record.to_dict())

    def export(self, body: ExportBody) -> dict[str, Any]:
        from ..paths import resolve_inside
        from . import from_notebook

        notebook = self.notebook(body.path)
        if not body.out_dir.strip():
            raise UserInputError("give 'out_dir': a folder relative to the server root")
        folder = resolve_inside(self.mlops.root_dir, body.out_dir, must_exist=False)
        result = from_notebook(notebook).export(body.target, folder, body.schedule or None)
        data = result.to_dict()
        data["files"] = [self.relative(f) for f in result.files]
        return data


class PipelineHandler(PipelineBase):
    """GET ?path=NB: the notebook's pipeline: steps (cells, inputs, outputs, parameters,
    resources), edges, parameters, warnings, and a layout of the DAG. POST {path, content}:
    the same for the notebook JSON in ``content`` (what the editor holds, saved or not)."""

    @web.authenticated
    async def get(self) -> None:
        data = await self.in_executor(dag_json, self.relative, self.asked_notebook())
        self.finish(json.dumps(data, default=repr))

    @web.authenticated
    async def post(self) -> None:
        body = self.body(DagBody)
        notebook = self.notebook(body.path)
        data = await self.in_executor(dag_json, self.relative, notebook, body.content)
        self.finish(json.dumps(data, default=repr))


class PipelineRunsHandler(PipelineBase):
    """GET ?path=NB: the notebook's runs; POST {path, parameters, from_step, only}: start one."""

    @web.authenticated
    async def get(self) -> None:
        notebook = self.asked_notebook()
        await self.in_executor(self.pipeline_runs.reap)
        data = await self.in_executor(list_runs_json, self.relative, notebook)
        self.finish(json.dumps(data, default=repr))

    @web.authenticated
    async def post(self) -> None:
        data = await self.in_executor(self.start_run, self.body(RunBody))
        self.set_status(202)
        self.finish(json.dumps(data, default=repr))


class PipelineRunHandler(PipelineBase):
    """GET ?path=NB: one run with per-step states and log tails; DELETE: stop it."""

    @web.authenticated
    async def get(self, run_id: str) -> None:
        data = await self.in_executor(self.read_run, self.asked_notebook(), run_id)
        self.finish(json.dumps(data, default=repr))

    @web.authenticated
    async def delete(self, run_id: str) -> None:
        notebook = self.asked_notebook()
        stopped = await self.in_executor(self.pipeline_runs.stop, run_id)
        if not stopped:
            raise UserInputError(f"run {run_id} is not running in this server (it finished, "
                                 "or the kernel or CLI started it)")
        data = await self.in_executor(self.read_run, notebook, run_id)
        self.finish(json.dumps(data, default=repr))


class PipelineLogHandler(PipelineBase):
    """GET ?path=NB: a step's whole log (up to 1 MB, the end kept)."""

    @web.authenticated
    async def get(self, run_id: str, step: str) -> None:
        data = await self.in_executor(step_log, self.asked_notebook(), run_id, step)
        self.finish(json.dumps(data))


class PipelineExportHandler(PipelineBase):
    """POST {path, target, out_dir, schedule}: write the export under the server root."""

    @web.authenticated
    async def post(self) -> None:
        data = await self.in_executor(self.export, self.body(ExportBody))
        self.finish(json.dumps(data))


ROUTES: list[tuple[str, type[MLOpsHandler]]] = [
    ("pipeline", PipelineHandler),
    ("pipeline/runs", PipelineRunsHandler),
    (r"pipeline/runs/([A-Za-z0-9-]+)", PipelineRunHandler),
    (r"pipeline/runs/([A-Za-z0-9-]+)/logs/([A-Za-z0-9_-]+)", PipelineLogHandler),
    ("pipeline/export", PipelineExportHandler),
]
