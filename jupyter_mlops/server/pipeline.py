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
``run.json``; the server only starts it, reads the record and stops it on request, so the event
loop never waits on a step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tornado import web

from ..errors import NotFoundError, UserInputError
from .handlers import MLOpsHandler

if TYPE_CHECKING:
    from .app import MLOpsApp

LOG_TAIL = 4000  # characters of each step's log in a run's status
LOG_LIMIT = 1_000_000  # characters of one step's whole log


class RunProcesses:
    """The run processes this server started, so it can reap and stop them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}

    def add(self, run_id: str, proc: subprocess.Popen[bytes], record: Path) -> None:
        with self.lock:
            self.procs[run_id] = (proc, record)

    def reap(self) -> None:
        """Runs whose process ended without finishing their record are marked failed."""
        from ..pipeline.runner import mark_ended

        with self.lock:
            ended = [(rid, p, r) for rid, (p, r) in self.procs.items() if p.poll() is not None]
            for rid, _, _ in ended:
                del self.procs[rid]
        for _, proc, record in ended:
            mark_ended(record, proc.returncode)

    def stop(self, run_id: str) -> bool:
        with self.lock:
            entry = self.procs.get(run_id)
        if entry is None:
            return False
        proc, _record = entry
        proc.terminate()  # the runner stops its steps and records the run as cancelled
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.reap()
        return True


_processes: weakref.WeakKeyDictionary[Any, RunProcesses] = weakref.WeakKeyDictionary()
_processes_lock = threading.Lock()


def processes(app: MLOpsApp) -> RunProcesses:
    with _processes_lock:
        if app not in _processes:
            _processes[app] = RunProcesses()
        return _processes[app]


def _notebook(app: MLOpsApp, relative: str | None) -> Path:
    from ..paths import resolve_inside

    if not relative:
        raise UserInputError("name the notebook: ?path=folder/notebook.ipynb (relative to the "
                             "server root)")
    path = resolve_inside(app.root_dir, relative)
    if not path.is_file() or path.suffix != ".ipynb":
        raise UserInputError(f"'{relative}' is not a notebook (.ipynb file)")
    return path


def _relative(app: MLOpsApp, path: str | Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(app.root_dir).resolve()).as_posix()
    except ValueError:
        return str(path)


def _tail(path: str, limit: int) -> str:
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            file.seek(max(0, size - limit))
            return file.read().decode(errors="replace")
    except OSError:
        return ""


def dag_json(app: MLOpsApp, notebook: Path, content: Any = None) -> dict[str, Any]:
    from ..pipeline import from_notebook
    from ..pipeline.render import GAP_X, GAP_Y, NODE_H, NODE_W, layout

    pipeline = from_notebook(notebook, content=content)
    data = pipeline.to_dict()
    data["notebook"] = _relative(app, notebook)
    data["artifacts"] = _relative(app, pipeline.artifacts) if "://" not in pipeline.artifacts \
        else pipeline.artifacts
    data["layout"] = {name: {"x": x, "y": y} for name, (x, y) in layout(pipeline).items()}
    # the grid the layout was made on: a box's size and the gaps between boxes
    data["node_size"] = {"width": NODE_W, "height": NODE_H, "gap_x": GAP_X, "gap_y": GAP_Y}
    return data


def run_json(app: MLOpsApp, record: dict[str, Any]) -> dict[str, Any]:
    """A run record for the panel: paths relative to the root, each step's log tail."""
    data = dict(record)
    data["notebook"] = _relative(app, data["notebook"])
    data["folder"] = _relative(app, data["folder"])
    data.pop("results", None)
    data.pop("endpoint_url", None)
    steps = []
    for step in data["steps"]:
        step = dict(step)
        step["log_tail"] = _tail(step["log"], LOG_TAIL) if step.get("log") else ""
        step["log"] = _relative(app, step["log"]) if step.get("log") else ""
        steps.append(step)
    data["steps"] = steps
    return data


def _runner_python(app: MLOpsApp, notebook: Path) -> str:
    """The notebook kernel's Python when its kernelspec names one, else the server's."""
    try:
        name = json.loads(notebook.read_text())["metadata"]["kernelspec"]["name"]
        manager: Any = app.serverapp.kernel_spec_manager  # type: ignore[union-attr]
        argv0 = manager.get_kernel_spec(name).argv[0]
    except Exception:  # no kernelspec, unknown kernel: the server's Python
        return sys.executable
    return argv0 if os.path.isabs(argv0) and os.access(argv0, os.X_OK) else sys.executable


def start_run(app: MLOpsApp, body: dict[str, Any]) -> dict[str, Any]:
    from ..pipeline import from_notebook
    from ..pipeline.runner import new_run_id, starting_record

    notebook = _notebook(app, body.get("path"))
    pipeline = from_notebook(notebook)
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise UserInputError("'parameters' must be an object of name: value")
    values = pipeline.check_parameters(parameters)
    from_step, only = body.get("from_step"), body.get("only")
    if from_step and only:
        raise UserInputError("give from_step or only, not both")
    only_list = [only] if isinstance(only, str) else list(only or [])
    for name in [*([from_step] if from_step else []), *only_list]:
        pipeline.step(name)
    run_id = new_run_id()
    record = starting_record(pipeline, run_id, values)
    argv = [_runner_python(app, notebook), "-m", "jupyter_mlops.pipeline.runner",
            str(notebook), "--run-id", run_id, "--parameters", json.dumps(parameters)]
    if from_step:
        argv += ["--from", from_step]
    for name in only_list:
        argv += ["--only", name]
    folder = Path(record.folder)
    with open(folder / "runner.log", "wb") as log:
        proc = subprocess.Popen(argv, cwd=notebook.parent, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    processes(app).add(run_id, proc, folder / "run.json")
    return run_json(app, record.to_dict())


def read_run(app: MLOpsApp, notebook_rel: str | None, run_id: str) -> dict[str, Any]:
    from ..pipeline.runner import run_record

    processes(app).reap()
    notebook = _notebook(app, notebook_rel)
    record = run_record(notebook, run_id)
    try:
        data = json.loads(record.read_text())
    except FileNotFoundError:
        raise NotFoundError(f"no run {run_id} of {notebook.name}") from None
    result = run_json(app, data)
    if result["state"] == "failed" and not any(s["state"] == "failed" for s in result["steps"]):
        result["runner_log_tail"] = _tail(str(record.parent / "runner.log"), LOG_TAIL)
    return result


def list_runs_json(app: MLOpsApp, notebook_rel: str | None) -> dict[str, Any]:
    from ..pipeline.runner import list_runs

    processes(app).reap()
    notebook = _notebook(app, notebook_rel)
    runs = []
    for run in list_runs(notebook):
        counts: dict[str, int] = {}
        for step in run.steps.values():
            counts[step.state] = counts.get(step.state, 0) + 1
        runs.append({"run_id": run.run_id, "state": run.state, "started": run.started,
                     "finished": run.finished, "parameters": run.parameters,
                     "error": run.error, "steps": counts})
    return {"notebook": _relative(app, notebook), "runs": runs}


def step_log(app: MLOpsApp, notebook_rel: str | None, run_id: str, step: str) -> dict[str, Any]:
    from ..pipeline.runner import run_record

    notebook = _notebook(app, notebook_rel)
    folder = run_record(notebook, run_id).parent
    if not folder.is_dir():
        raise NotFoundError(f"no run {run_id} of {notebook.name}")
    log = folder / "logs" / f"{step}.log"
    data = json.loads((folder / "run.json").read_text())
    if step not in {s["name"] for s in data["steps"]}:
        raise NotFoundError(f"run {run_id} has no step {step!r}")
    return {"run_id": run_id, "step": step, "text": _tail(str(log), LOG_LIMIT)}


def export(app: MLOpsApp, body: dict[str, Any]) -> dict[str, Any]:
    from ..paths import resolve_inside
    from ..pipeline import from_notebook

    notebook = _notebook(app, body.get("path"))
    target = body.get("target")
    out_dir = body.get("out_dir")
    if not isinstance(target, str) or not isinstance(out_dir, str) or not out_dir:
        raise UserInputError("give 'target' (airflow, prefect or kfp) and 'out_dir' (a folder "
                             "relative to the server root)")
    folder = resolve_inside(app.root_dir, out_dir, must_exist=False)
    schedule = body.get("schedule") or None
    result = from_notebook(notebook).export(target, folder, schedule)
    data = result.to_dict()
    data["files"] = [_relative(app, f) for f in result.files]
    return data


class PipelineHandler(MLOpsHandler):
    """GET ?path=NB: the notebook's pipeline: steps (cells, inputs, outputs, parameters,
    resources), edges, parameters, warnings, and a layout of the DAG. POST {path, content}:
    the same for the notebook JSON in ``content`` (what the editor holds, saved or not)."""

    @web.authenticated
    async def get(self) -> None:
        path = self.get_argument("path", "")
        data = await self.in_executor(dag_json, self.mlops, _notebook(self.mlops, path))
        self.finish(json.dumps(data, default=repr))

    @web.authenticated
    async def post(self) -> None:
        body = self.get_json_body() or {}
        if not isinstance(body, dict) or not isinstance(body.get("content"), (dict, str)):
            raise UserInputError("the body must be {\"path\": …, \"content\": notebook JSON}")
        notebook = _notebook(self.mlops, body.get("path"))
        data = await self.in_executor(dag_json, self.mlops, notebook, body["content"])
        self.finish(json.dumps(data, default=repr))


class PipelineRunsHandler(MLOpsHandler):
    """GET ?path=NB: the notebook's runs; POST {path, parameters, from_step, only}: start one."""

    @web.authenticated
    async def get(self) -> None:
        data = await self.in_executor(list_runs_json, self.mlops, self.get_argument("path", ""))
        self.finish(json.dumps(data, default=repr))

    @web.authenticated
    async def post(self) -> None:
        body = self.get_json_body() or {}
        if not isinstance(body, dict):
            raise UserInputError("the body must be a JSON object")
        data = await self.in_executor(start_run, self.mlops, body)
        self.set_status(202)
        self.finish(json.dumps(data, default=repr))


class PipelineRunHandler(MLOpsHandler):
    """GET ?path=NB: one run with per-step states and log tails; DELETE: stop it."""

    @web.authenticated
    async def get(self, run_id: str) -> None:
        data = await self.in_executor(read_run, self.mlops, self.get_argument("path", ""),
                                      run_id)
        self.finish(json.dumps(data, default=repr))

    @web.authenticated
    async def delete(self, run_id: str) -> None:
        path = self.get_argument("path", "")
        stopped = await self.in_executor(processes(self.mlops).stop, run_id)
        if not stopped:
            raise UserInputError(f"run {run_id} is not running in this server (it finished, "
                                 "or the kernel or CLI started it)")
        data = await self.in_executor(read_run, self.mlops, path, run_id)
        self.finish(json.dumps(data, default=repr))


class PipelineLogHandler(MLOpsHandler):
    """GET ?path=NB: a step's whole log (up to 1 MB, the end kept)."""

    @web.authenticated
    async def get(self, run_id: str, step: str) -> None:
        data = await self.in_executor(step_log, self.mlops, self.get_argument("path", ""),
                                      run_id, step)
        self.finish(json.dumps(data))


class PipelineExportHandler(MLOpsHandler):
    """POST {path, target, out_dir, schedule}: write the export under the server root."""

    @web.authenticated
    async def post(self) -> None:
        body = self.get_json_body() or {}
        if not isinstance(body, dict):
            raise UserInputError("the body must be a JSON object")
        data = await self.in_executor(export, self.mlops, body)
        self.finish(json.dumps(data))


ROUTES: list[tuple[str, type[MLOpsHandler]]] = [
    ("pipeline", PipelineHandler),
    ("pipeline/runs", PipelineRunsHandler),
    (r"pipeline/runs/([A-Za-z0-9-]+)", PipelineRunHandler),
    (r"pipeline/runs/([A-Za-z0-9-]+)/logs/([A-Za-z0-9_-]+)", PipelineLogHandler),
    ("pipeline/export", PipelineExportHandler),
]
