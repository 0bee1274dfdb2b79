"""The local runner (the embedded default): each step in its own process, independent steps in
parallel, outputs from the content-hash cache, resume by running again. It only reads the
notebook. Every change of a step's state goes to ``run.json`` in the run's folder (what the
Pipeline panel polls) and to the caller's progress callback.

    python -m jupyter_mlops.pipeline.runner NOTEBOOK --run-id ID [--from S] [--only S]
                                            [--parameters JSON]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, UserInputError
from . import runtime
from .model import Pipeline

STATES = ("queued", "running", "cached", "done", "failed", "skipped")


@dataclass
class StepEvent:
    """One change of one step's state, as progress callbacks receive it."""

    run_id: str
    step: str
    state: str  # one of STATES
    message: str = ""
    seconds: float | None = None
    cell: int | None = None
    line: int | None = None


@dataclass
class StepState:
    name: str
    state: str = "queued"
    started: float | None = None
    finished: float | None = None
    seconds: float | None = None  # the step's own code, in its process
    cache_key: str | None = None
    attempts: int = 0
    message: str = ""
    error: dict[str, Any] | None = None
    outputs: list[str] = field(default_factory=list)
    log: str = ""


@dataclass
class RunResult:
    """A run of a pipeline: its state, each step's state, where the logs are."""

    run_id: str
    pipeline: str
    notebook: str
    folder: str
    state: str  # "running", "done", "failed" or "cancelled"
    parameters: dict[str, Any]
    steps: dict[str, StepState]
    started: float
    finished: float | None = None
    artifacts: str = ""
    endpoint_url: str = ""
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.state == "done"

    @property
    def failed_step(self) -> StepState | None:
        return next((s for s in self.steps.values() if s.state == "failed"), None)

    def value(self, step: str, name: str) -> Any:
        """An output a step handed on, loaded from the artifact store."""
        if step not in self.results:
            raise NotFoundError(f"step {step!r} has no outputs in run {self.run_id}")
        if name not in self.results[step]["outputs"]:
            kept = ", ".join(self.results[step]["outputs"]) or "none"
            raise NotFoundError(f"step {step!r} hands on no {name!r} (it hands on: {kept})")
        return runtime.load_output(self.results[step], name, artifacts=self.artifacts,
                                   endpoint_url=self.endpoint_url)

    def log(self, step: str) -> str:
        path = Path(self.folder) / "logs" / f"{step}.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["steps"] = [asdict(s) for s in self.steps.values()]
        data["ok"] = self.ok
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["steps"] = {s["name"]: StepState(**s) for s in data["steps"]}
        return cls(**fields)

    def to_text(self) -> str:
        from .render import run_text

        return run_text(self)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from .render import run_html

        return {"text/plain": self.to_text(), "text/html": run_html(self)}


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(json.dumps(data, indent=1, default=repr))
    os.replace(tmp, path)


class _Run:
    """Bookkeeping of one run: states, the record on disk, events to the callback."""

    def __init__(self, pipeline: Pipeline, result: RunResult,
                 on_progress: Callable[[StepEvent], None] | None) -> None:
        self.pipeline = pipeline
        self.result = result
        self.on_progress = on_progress
        self.lock = threading.Lock()
        self.record = Path(result.folder) / "run.json"
        # callbacks run on the thread that called run() (a notebook's output goes to the
        # cell of that thread): events from the step threads wait in `queued`
        self.owner = threading.get_ident()
        self.queued: list[StepEvent] = []
        self.save()

    def save(self) -> None:
        _write_json(self.record, self.result.to_dict())

    def set(self, step: str, state: str, **changes: Any) -> None:
        with self.lock:
            current = self.result.steps[step]
            current.state = state
            for key, value in changes.items():
                setattr(current, key, value)
            self.save()
            error = current.error or {}
            event = StepEvent(self.result.run_id, step, state, current.message, current.seconds,
                              error.get("cell"), error.get("line"))
            if threading.get_ident() != self.owner:
                self.queued.append(event)
                return
        self.flush()
        if self.on_progress is not None:
            self.on_progress(event)

    def flush(self) -> None:
        """Hand the step threads' events to the callback (on the owner's thread)."""
        with self.lock:
            events, self.queued = self.queued, []
        if self.on_progress is not None:
            for event in events:
                self.on_progress(event)


def _plan(pipeline: Pipeline, from_step: str | None,
          only: str | Sequence[str] | None) -> tuple[list[str], set[str], set[str]]:
    """(steps to take part, steps that must run, steps that may only come from the cache)."""
    names = [s.name for s in pipeline.order]
    if only:
        chosen = [only] if isinstance(only, str) else list(only)
        for name in chosen:
            pipeline.step(name)
        needed: list[str] = []
        for name in chosen:
            needed.extend(pipeline.upstream(name))
        lookup = {n for n in needed if n not in chosen}
        take = [n for n in names if n in lookup or n in chosen]
        return take, set(chosen), lookup
    if from_step:
        pipeline.step(from_step)
        return names, set(pipeline.downstream(from_step)), set()
    return names, set(), set()


def run_pipeline(pipeline: Pipeline, parameters: Mapping[str, Any] | None = None,
                 from_step: str | None = None, only: str | Sequence[str] | None = None, *,
                 on_progress: Callable[[StepEvent], None] | None = None,
                 max_workers: int | None = None, run_id: str | None = None,
                 python: str | None = None) -> RunResult:
    if from_step and only:
        raise UserInputError("give --from or --only, not both")
    values = pipeline.check_parameters(parameters)
    take, forced, lookup = _plan(pipeline, from_step, only)
    run_id = run_id or new_run_id()
    folder = pipeline.runs_root / run_id
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    result = RunResult(run_id, pipeline.name, str(pipeline.notebook), str(folder), "running",
                       values, {n: StepState(n, log=str(folder / "logs" / f"{n}.log"))
                                for n in take},
                       time.time(), artifacts=pipeline.artifacts,
                       endpoint_url=pipeline.endpoint_url)
    run = _Run(pipeline, result, on_progress)
    deps = {s.name: [d for d in s.depends_on if d in result.steps] for s in pipeline.steps}
    gpu_lock = threading.Lock()
    stopping = threading.Event()
    env_run_id = os.environ.get("MLOPS_PIPELINE_RUN_ID")
    os.environ["MLOPS_PIPELINE_RUN_ID"] = run_id

    def execute(name: str) -> dict[str, Any]:
        step = pipeline.step(name)
        spec = pipeline.step_spec(step)
        log = result.steps[name].log
        attempts = 0
        while True:
            attempts += 1
            if stopping.is_set():
                raise runtime.StepFailed(name, "the run was stopped")

            def started(key: str, attempt: int = attempts) -> None:
                run.set(name, "running", started=time.time(), cache_key=key, attempts=attempt,
                        message=f"attempt {attempt} of {step.retries + 1}" if attempt > 1
                        else "")

            try:
                if step.gpu:
                    runtime._write_log(log, f"[{name}] asks for {step.gpu} GPU(s): the local "
                                       "runner runs such steps one at a time\n", False)
                with gpu_lock if step.gpu else _NoLock():
                    return runtime.run_step(
                        spec, artifacts=pipeline.artifacts, upstream=result.results,
                        params=values, endpoint_url=pipeline.endpoint_url,
                        force=name in forced, lookup_only=name in lookup, log=log,
                        python=python, cwd=str(pipeline.notebook.parent), on_start=started)
            except runtime.MissingInput:
                raise
            except runtime.StepFailed:
                if attempts > step.retries or stopping.is_set():
                    raise
                runtime._write_log(log, f"[{name}] failed; retrying ({attempts} of "
                                   f"{step.retries})\n", False)

    workers = max_workers or max(2, min(len(take), os.cpu_count() or 2))
    pending = list(take)
    running: dict[Future[dict[str, Any]], str] = {}
    failed: set[str] = set()
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlops-step") as pool:
            try:
                while pending or running:
                    for name in list(pending):
                        if any(d in failed for d in deps[name]):
                            pending.remove(name)
                            failed.add(name)
                            blocker = next(d for d in deps[name] if d in failed)
                            run.set(name, "skipped",
                                    message=f"not run: step {blocker!r} failed")
                        elif all(d in result.results for d in deps[name]):
                            pending.remove(name)
                            running[pool.submit(execute, name)] = name
                    if not running:
                        break
                    done, _ = wait(running, timeout=0.1, return_when=FIRST_COMPLETED)
                    run.flush()
                    for future in done:
                        name = running.pop(future)
                        try:
                            outcome = future.result()
                        except runtime.StepFailed as exc:
                            failed.add(name)
                            cell = exc.cell
                            error = {**exc.to_dict(), "cell_id": _cell_id(pipeline, cell)}
                            run.set(name, "failed", finished=time.time(), error=error,
                                    message=str(exc))
                            continue
                        result.results[name] = outcome
                        run.set(name, "cached" if outcome["cached"] else "done",
                                finished=time.time(), seconds=outcome["seconds"],
                                cache_key=outcome["key"], outputs=list(outcome["outputs"]),
                                message="from the cache" if outcome["cached"] else "")
            except BaseException:
                stopping.set()
                pool.shutdown(wait=False, cancel_futures=True)
                runtime.stop_children()  # before the pool waits for its threads
                raise
    except BaseException:
        runtime.stop_children()
        with run.lock:
            result.state = "cancelled"
            result.error = "the run was interrupted"
            result.finished = time.time()
            for state in result.steps.values():
                if state.state in ("queued", "running"):
                    state.state, state.message = "skipped", "not finished: the run was stopped"
            run.save()
        raise
    finally:
        if env_run_id is None:
            os.environ.pop("MLOPS_PIPELINE_RUN_ID", None)
        else:
            os.environ["MLOPS_PIPELINE_RUN_ID"] = env_run_id
    run.flush()
    with run.lock:
        result.finished = time.time()
        bad = result.failed_step
        result.state = "failed" if bad else "done"
        result.error = bad.message if bad else None
        run.save()
    return result


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _cell_id(pipeline: Pipeline, cell: int | None) -> str | None:
    if cell is None:
        return None
    for step in pipeline.steps:
        for c in [*step.cells, *pipeline.prelude]:
            if c.index == cell:
                return c.id
    return None


# --------------------------------------------------------------------------- records


def runs_root_for(notebook: Path) -> Path:
    """The runs folder of a notebook, from its project's configuration alone (no parsing, so
    a notebook being edited still shows its runs)."""
    from ..config import load_config
    from .model import runs_root
    from .notebook import pipeline_name

    config = load_config(notebook.parent)
    return runs_root(str(config["pipeline.artifacts"]), pipeline_name(notebook),
                     config.state_dir)


def list_runs(notebook: Path, limit: int = 20) -> list[RunResult]:
    """The newest runs of this notebook (from the kernel, the CLI or the panel)."""
    root = runs_root_for(notebook)
    if not root.is_dir():
        return []
    runs = []
    # ids start with the second they began: read the newest few hundred, order by start time
    for folder in sorted(root.iterdir(), reverse=True)[: max(limit * 10, 200)]:
        record = folder / "run.json"
        if not record.is_file():
            continue
        try:
            run = RunResult.from_dict(json.loads(record.read_text()))
        except (ValueError, KeyError, TypeError):
            continue
        if Path(run.notebook) == notebook:
            runs.append(run)
    runs.sort(key=lambda r: r.started, reverse=True)
    return runs[:limit]


def run_record(notebook: Path, run_id: str) -> Path:
    if not run_id.replace("-", "").isalnum():
        raise UserInputError(f"{run_id!r} is not a run id")
    return runs_root_for(notebook) / run_id / "run.json"


def load_run(notebook: Path, run_id: str) -> RunResult:
    try:
        return RunResult.from_dict(json.loads(run_record(notebook, run_id).read_text()))
    except FileNotFoundError:
        raise NotFoundError(f"no run {run_id} of {notebook.name}") from None


def starting_record(pipeline: Pipeline, run_id: str, parameters: Mapping[str, Any]) -> RunResult:
    """The record a run has before its process writes one (so the panel never sees a 404)."""
    folder = pipeline.runs_root / run_id
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    result = RunResult(run_id, pipeline.name, str(pipeline.notebook), str(folder), "running",
                       dict(parameters), {s.name: StepState(s.name, log=str(
                           folder / "logs" / f"{s.name}.log")) for s in pipeline.order},
                       time.time(), artifacts=pipeline.artifacts,
                       endpoint_url=pipeline.endpoint_url)
    _write_json(folder / "run.json", result.to_dict())
    return result


def mark_ended(record: Path, code: int) -> None:
    """A run process that ended without finishing its record (killed, crashed)."""
    try:
        data = json.loads(record.read_text())
    except (OSError, ValueError):
        return
    if data.get("state") != "running":
        return
    data["state"] = "failed" if code not in (-signal.SIGTERM, -signal.SIGKILL) else "cancelled"
    data["error"] = (f"the run's process ended with code {code}" if data["state"] == "failed"
                     else "the run was stopped")
    data["finished"] = time.time()
    for step in data["steps"]:
        if step["state"] in ("queued", "running"):
            step["state"], step["message"] = "skipped", "not finished: " + data["error"]
    _write_json(record, data)


def main(argv: Sequence[str] | None = None) -> int:
    from .notebook import from_notebook

    parser = argparse.ArgumentParser(prog="python -m jupyter_mlops.pipeline.runner")
    parser.add_argument("notebook")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--from", dest="from_step")
    parser.add_argument("--only", action="append")
    parser.add_argument("--parameters", default="{}", help="JSON object")
    args = parser.parse_args(argv)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    pipeline = from_notebook(args.notebook)
    try:
        result = pipeline.run(json.loads(args.parameters), from_step=args.from_step,
                              only=args.only, run_id=args.run_id,
                              on_progress=lambda e: print(f"{e.step}: {e.state} {e.message}",
                                                          flush=True))
    except KeyboardInterrupt:
        return 130
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
