"""The local runner (the embedded default): each step in its own process (a fork of a warm
worker that ran the notebook's shared cells once: ``workers.py``), independent steps in
parallel, outputs from the content-hash cache, resume by running again. It only reads the
notebook. Every change of a step's state goes to ``run.json`` in the run's folder (what the
Pipeline panel polls) and to the caller's progress callback.

``Pipeline.run`` calls ``run_pipeline``; the model is imported here for its types only, so the
model can call down into this module. Run records and the ``python -m`` entry point the server
starts are in ``runner.py``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import STATE_DIR
from ..errors import UserInputError
from ..paths import make_folder
from . import runtime, workers
from .results import RunResult, StepEvent, StepState, StepStateName, new_run_id, write_json

if TYPE_CHECKING:
    from .model import Pipeline


#: while steps change state, the run record is written at most this often (each write is the
#: whole record; the Pipeline panel polls it about once a second); the last state always is
SAVE_EVERY_S = 0.1


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
        self.saved_at = 0.0
        self.dirty = False
        self.save()

    def save(self, now: bool = True) -> None:
        """Write the record (under ``lock``); ``now=False``: unless one was written less than
        SAVE_EVERY_S ago (then ``flush`` writes it later)."""
        if not now and time.monotonic() - self.saved_at < SAVE_EVERY_S:
            self.dirty = True
            return
        write_json(self.record, self.result.to_dict())
        self.saved_at, self.dirty = time.monotonic(), False

    def set(self, step: str, state: StepStateName, **changes: Any) -> None:
        with self.lock:
            current = self.result.steps[step]
            current.state = state
            for key, value in changes.items():
                setattr(current, key, value)
            self.save(now=False)
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
        """Hand the step threads' events to the callback (on the owner's thread), and write
        the record if a change waits for it."""
        with self.lock:
            events, self.queued = self.queued, []
            if self.dirty:
                self.save(now=False)
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
                 python: str | None = None, refresh: bool = False) -> RunResult:
    """``refresh``: every step runs, none comes from the cache (a retraining started by a
    monitoring rule must read today's data, which the cache key cannot see)."""
    if from_step and only:
        raise UserInputError("give --from or --only, not both")
    values = pipeline.check_parameters(parameters)
    take, forced, lookup = _plan(pipeline, from_step, only)
    if refresh:
        forced = set(take)
    run_id = run_id or new_run_id()
    folder = pipeline.runs_root / run_id
    make_folder(folder / "logs")
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

    # the project's digest key: pickles read back from an S3 store must carry its digest
    key_file = str((pipeline.state_dir or pipeline.project_root / STATE_DIR)
                   / runtime.KEY_FILE_NAME)

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
                        python=python, cwd=str(pipeline.notebook.parent), on_start=started,
                        key_file=key_file, pool=pool)
            except runtime.MissingInput:
                raise
            except runtime.StepFailed:
                if attempts > step.retries or stopping.is_set():
                    raise
                runtime._write_log(log, f"[{name}] failed; retrying ({attempts} of "
                                   f"{step.retries})\n", False)

    size = max_workers or max(2, min(len(take), os.cpu_count() or 2))
    pool = _warm_workers(pipeline, size, python, folder)
    pending = list(take)
    running: dict[Future[dict[str, Any]], str] = {}
    failed: set[str] = set()
    try:
        with ThreadPoolExecutor(max_workers=size, thread_name_prefix="mlops-step") as threads:
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
                            running[threads.submit(execute, name)] = name
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
                threads.shutdown(wait=False, cancel_futures=True)
                runtime.stop_children()  # before the pool waits for its threads
                if pool is not None:
                    pool.close(kill=True)
                raise
    except BaseException:
        runtime.stop_children()
        if pool is not None:
            pool.close(kill=True)
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
        if pool is not None:
            pool.close()
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


def _warm_workers(pipeline: Pipeline, size: int, python: str | None,
                  folder: Path) -> workers.StepWorkers | None:
    """Warm workers for the run's steps (where processes can fork): each runs the shared
    cells the steps start with once, then forks for each step, so no step imports its
    libraries again."""
    if not hasattr(os, "fork") or not pipeline.steps:
        return None
    cells = workers.warm_cells(pipeline.step_code(pipeline.steps[0]))
    shell = any(cell.magics for step in pipeline.steps for cell in step.cells)
    return workers.StepWorkers(cells, pipeline.notebook.name, size, python=python,
                               cwd=str(pipeline.notebook.parent), log_dir=folder / "workers",
                               shell=shell)


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
