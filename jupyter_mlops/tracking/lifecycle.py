"""Runs: start, log, end. Every run ends (an error marks it FAILED), logging never blocks.

``log()`` only puts points on the sender's queue; ``end_run()`` queues the run's end and
waits (bounded) for the queue to reach the store. When the tracking store cannot be reached
at ``start_run`` the run still starts: it lives in its journal and is created on the store
when the store is back.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import sys
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config, load_config
from ..errors import BackendUnavailableError, NotFoundError, UserInputError
from ..session import current_notebook
from . import capture, trigger
from .journal import Journal, journal_dir
from .sender import SENDER, FlushResult, Op, RunRef, StoreLink
from .store import (
    EndStatus,
    RunStatus,
    client,
    ensure_experiment,
    first_line,
    redact_uri,
    run_url,
    tracking_uri,
)
from .transport import MAX_PARAM_LENGTH, MAX_TAG_LENGTH, valid_key

FLUSH_TIMEOUT = 10.0  # end of a tracked cell: wait at most this long for the store
EXIT_TIMEOUT = 3.0  # at exit (Jupyter kills a kernel that takes 5 s to shut down)
PROBE_TIMEOUT = 2.0
STATUSES: tuple[EndStatus, ...] = ("FINISHED", "FAILED", "KILLED")


class TrackingWarning(UserWarning):
    """A value that was not logged (NaN, not a number) or was shortened."""


class ActiveRun:
    """The run being tracked. ``with mlops.start_run() as run:`` ends it (FAILED on error)."""

    def __init__(self, ref: RunRef, config: Config, experiment: str, run_name: str | None,
                 notebook: Path | None, parent: ActiveRun | None) -> None:
        self.ref = ref
        self.config = config
        self.experiment = experiment
        self.run_name = run_name
        self.notebook = notebook
        self.parent = parent
        self.started = time.time()
        self.steps: dict[str, int] = {}  # metric key -> last step
        self.params: dict[str, str] = {}
        self.models: list[dict[str, str]] = []
        self.points = 0
        self.cells = 0
        self.status: RunStatus = "RUNNING"
        self.before_end: list[Callable[[], None]] = []  # waited for first (a reference profiled)
        #: what was captured when it started (runs that ``inherit`` from it reuse it), and
        #: MLflow's answer to its creation (made MLflow's active run without asking again)
        self.context: capture.Context | None = None
        self.created: Any = None

    @property
    def run_id(self) -> str:
        """MLflow's run id; ``pending-…`` while the store has not been reached yet."""
        return self.ref.run_id or f"pending-{self.ref.local_id}"

    @property
    def experiment_id(self) -> str | None:
        return self.ref.experiment_id

    @property
    def offline(self) -> bool:
        return self.ref.run_id is None or self.ref.store.offline

    @property
    def tracking_uri(self) -> str:
        return self.ref.store.uri

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if self in _stack:
            if exc is None:
                end(self, "FINISHED")
            else:
                end(self, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED",
                     error=exc)

    def __repr__(self) -> str:
        name = f" '{self.run_name}'" if self.run_name else ""
        return (f"<mlops run {self.run_id}{name} {self.status} in experiment "
                f"'{self.experiment}'>")


@dataclass
class RunSummary:
    """What ``end_run`` / a ``%%mlops track`` cell reports."""

    run_id: str
    run_name: str | None
    experiment: str
    status: RunStatus
    seconds: float
    points: int
    flush: FlushResult
    tracking_uri: str
    experiment_id: str | None = None

    @property
    def url(self) -> str | None:
        """The run in MLflow's UI, for a tracking server."""
        if self.run_id.startswith("pending-"):
            return None
        return run_url(self.tracking_uri, self.experiment_id, self.run_id)

    def _where(self) -> str:
        if self.flush.done:
            return "in the tracking store"
        if self.flush.offline:
            return (f"{self.flush.pending_points} points kept in the journal until the store is "
                    "back")
        return f"{self.flush.pending_points} points still being sent"

    def __repr__(self) -> str:
        name = f" '{self.run_name}'" if self.run_name else ""
        return (f"mlops: run {self.run_id}{name} {self.status} after {self.seconds:.1f} s · "
                f"experiment '{self.experiment}' · {self.points} metric points "
                f"{self._where()}")

    def _repr_html_(self) -> str:
        from html import escape

        color = {"FINISHED": "#2e7d32", "FAILED": "#c62828"}.get(self.status, "#ef6c00")
        link = (f' · <a href="{escape(self.url)}" target="_blank">open in MLflow</a>'
                if self.url else "")
        name = f" <b>{escape(self.run_name)}</b>" if self.run_name else ""
        return (f'<div class="mlops-run" data-run-id="{escape(self.run_id)}">'
                f'<span style="color:{color}">●</span> run <code>{escape(self.run_id)}</code>'
                f"{name} {escape(self.status)} after {self.seconds:.1f} s · experiment "
                f"<code>{escape(self.experiment)}</code> · {self.points} metric points "
                f"{escape(self._where())}{link}</div>")


_stack: list[ActiveRun] = []
_lock = threading.RLock()
_atexit_registered = False
_warned: set[tuple[str, str]] = set()


def active_run() -> ActiveRun | None:
    """The innermost active run, or None."""
    return _stack[-1] if _stack else None


def require_active(verb: str) -> ActiveRun:
    if not _stack:
        raise UserInputError(f"{verb}: no active run; use %%mlops track, %mlops track start or "
                             "mlops.start_run()")
    return _stack[-1]


def emit_notices() -> None:
    """Messages from the sender (store unreachable, back, refused), told once each."""
    for message in SENDER.take_notices():
        print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- start


def start_run(experiment: str | None = None, run_name: str | None = None, nested: bool = False,
              resume: str | bool | None = None, *, notebook: str | None = None,
              namespace: dict[str, Any] | None = None, cwd: str | None = None,
              inherit: ActiveRun | None = None, tags: dict[str, str] | None = None,
              params: dict[str, Any] | None = None, push: bool = True) -> ActiveRun:
    """Start (or with ``resume``, continue) a run and make it the active one.

    ``resume``: a run id, or True for the latest run of this notebook (with this run name).
    The notebook, git state, environment and host are recorded on the run.

    ``inherit``: a run of this process (a sweep's parent) whose notebook, config, git and host
    tags the new run shares: they are not captured again, the files (notebook, git diff,
    environment) are not uploaded again, its experiment's id is reused. ``tags``: more tags,
    set when the run is created; ``params``: parameters logged with it (over the parameters
    cell's values of the same names). ``push=False``: the run is not made the active one (nor
    MLflow's): what it logs is queued on it by whoever holds it (a sweep's trial that a worker
    process runs; ``relayed_run`` there).
    """
    emit_notices()
    with _lock:
        parent = _stack[-1] if _stack and push else None
        if parent is not None and not nested:
            raise UserInputError(
                f"run {parent.run_id} is active: end it first (%mlops track end or "
                "mlops.end_run()) or start this one nested (--nested / nested=True)")
        if inherit is not None:
            nb, config = inherit.notebook, inherit.config
        else:
            nb = current_notebook(namespace, notebook, cwd)
            config = load_config(nb.parent if nb else cwd)
        experiment_name = experiment or str(config["tracking.experiment"])
        if not experiment_name.strip():
            raise UserInputError("an experiment name cannot be empty")
        link = _store_link(config)
        SENDER.adopt_orphans(link, config.state_dir)
        online = link.transport.reachable(PROBE_TIMEOUT)
        if inherit is not None and inherit.context is not None:
            context = capture.inherited(inherit.context, nb, namespace)
        else:
            context = capture.collect(nb, config.project_root, namespace)
        if params:
            context.params.update(params)
        local_id = uuid.uuid4().hex
        extra = tags or {}
        tags = {**context.tags, **trigger.run_tags(), **extra, "mlops.client_run_id": local_id}
        start_time = _now_ms()
        run_id: str | None = None
        experiment_id: str | None = None
        steps: dict[str, int] = {}
        if resume:
            if not online:
                raise BackendUnavailableError(
                    f"cannot resume a run: tracking store {link.shown} is unreachable")
            experiment_id = ensure_experiment(config, experiment_name)
            found = _resume_target(config, experiment_id, resume, nb, run_name)
            if found is not None:
                run_id, steps, run_name = found
                client(config).update_run(run_id, status="RUNNING")
        created: Any = None
        if run_id is None and online:
            try:
                if inherit is not None and inherit.experiment == experiment_name \
                        and inherit.experiment_id is not None:
                    experiment_id = inherit.experiment_id
                else:
                    experiment_id = ensure_experiment(config, experiment_name)
                if parent is not None and parent.ref.run_id:
                    tags["mlflow.parentRunId"] = parent.ref.run_id
                created = client(config).create_run(experiment_id, start_time=start_time,
                                                    tags=tags, run_name=run_name)
                run_id = created.info.run_id
                run_name = created.info.run_name
            except Exception as exc:
                if not _is_connection_error(exc):
                    raise BackendUnavailableError(
                        f"tracking store {link.shown} refused the run: "
                        f"{first_line(str(exc))}") from exc
                online = False
        journal = Journal(journal_dir(config.state_dir), local_id,
                          {"uri": link.uri, "run_id": run_id, "experiment_id": experiment_id})
        ref = RunRef(local_id, run_id, experiment_id, link, journal)
        if run_id is None:
            from .store import artifact_location

            journal.append("create", {
                "experiment": experiment_name, "experiment_id": experiment_id,
                "artifact_location": artifact_location(config, experiment_name),
                "run_name": run_name, "start_time": start_time, "tags": tags,
                "parent_local_id": parent.ref.local_id if parent else None})
            journal.sync()
            SENDER.mark_offline(link, "not reachable when the run started")
        SENDER.register(ref)
        run = ActiveRun(ref, config, experiment_name, run_name, nb, parent)
        run.context, run.created = context, created
        run.steps = steps
        if push:
            _warned.clear()
            _stack.append(run)
            trigger.note_run(run)
        if resume and run_id is not None:
            _queue_tags(run, context.tags)
        if run_id is not None and push:
            _attach_fluent(run)
        if context.params:
            _queue_params(run, context.params)
        for folder, name, content in context.files:
            _queue_file(run, folder, name, content)
        _register_atexit()
    emit_notices()
    return run


def relayed_run(run_id: str | None, experiment_id: str | None, uri: str, config: Config,
                experiment: str, run_name: str | None, notebook: Path | None,
                journal: Any) -> ActiveRun:
    """A run another process created and sends to (a sweep's trial in a worker process: the
    sweep's process holds the run), made the active one here. Whatever this process logs to it
    goes to ``SENDER.put`` as usual, where the caller has put its relay (``sweep/relay.py``);
    ``journal`` stages the files it queues. ``run_id`` is None while the other process is
    still creating it (``run_id`` reads ``pending-…`` then): nothing here needs it unless
    MLflow is used. MLflow's active run too when MLflow is already
    imported here; else MLflow, if the trial imports it, finds the run and its store by
    ``MLFLOW_RUN_ID`` and ``MLFLOW_TRACKING_URI``."""
    from .transport import Transport

    link = StoreLink(uri, redact_uri(uri), Transport.__new__(Transport))
    ref = RunRef("relayed", run_id, experiment_id, link, journal)
    run = ActiveRun(ref, config, experiment, run_name, notebook, None)
    with _lock:
        _stack.append(run)
    if run_id is None:
        pass
    elif "mlflow" in sys.modules:
        _attach_fluent(run)
    else:  # (a process of its own, which ends with the trial: its variables can be set)
        os.environ["MLFLOW_RUN_ID"] = run_id
        os.environ["MLFLOW_TRACKING_URI"] = uri
    return run


def _store_link(config: Config) -> StoreLink:
    from .transport import make_transport

    uri = tracking_uri(config)
    mlflow_client = client(config)
    return SENDER.store(uri, redact_uri(uri), lambda: make_transport(mlflow_client, uri))


def _is_connection_error(exc: BaseException) -> bool:
    text = f"{exc} {exc.__cause__ or ''} {exc.__context__ or ''}"
    return any(marker in text for marker in (
        "Connection refused", "Failed to establish a new connection", "Max retries exceeded",
        "timed out", "Connection aborted", "RemoteDisconnected", "NewConnectionError"))


def _resume_target(config: Config, experiment_id: str, resume: str | bool,
                   notebook: Path | None, run_name: str | None
                   ) -> tuple[str, dict[str, int], str | None] | None:
    """(run id, last step per metric, run name) of the run to continue; None: start fresh."""
    from mlflow.exceptions import MlflowException

    mlflow_client = client(config)
    if isinstance(resume, str):
        try:
            run = mlflow_client.get_run(resume)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc).lower():
                raise NotFoundError(f"no run '{resume}' in tracking store "
                                    f"{redact_uri(tracking_uri(config))}") from None
            raise
    else:
        filters = []
        if notebook is not None:
            filters.append(f"tags.`mlops.notebook.path` = '{_quote(str(notebook))}'")
        if run_name:
            filters.append(f"attributes.run_name = '{_quote(run_name)}'")
        found = mlflow_client.search_runs([experiment_id], " and ".join(filters),
                                          order_by=["attributes.start_time DESC"],
                                          max_results=1)
        if not found:
            return None
        run = found[0]
    steps: dict[str, int] = {}
    for key in run.data.metrics:
        history = mlflow_client.get_metric_history(run.info.run_id, key)
        steps[key] = max((m.step for m in history), default=-1)
    return run.info.run_id, steps, run.info.run_name


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


# --------------------------------------------------------------------------- log


def log(step: int | None = None, **metrics: Any) -> None:
    """Queue metric points for the active run and return at once.

    Without ``step``, each key counts its own steps from 0. NaN or non-numeric values are
    left out with a warning naming the key.
    """
    if not _stack:
        require_active("mlops.log")
    run = _stack[-1]
    if SENDER.notices:
        emit_notices()
    ts = time.time_ns() // 1_000_000
    if step is not None and type(step) is not int:
        step = _as_step(step)
    steps = run.steps
    ref = run.ref
    put = SENDER.put
    for key, value in metrics.items():
        if type(value) is not float or value != value:
            value = _as_number(key, value)
            if value is None:
                continue
        last = steps.get(key)
        if last is None:
            if not valid_key(key):
                _warn_once(key, "name", f"mlops.log: metric name '{key}' is not valid for MLflow "
                           "(letters, digits, _ - . / : and spaces, at most 250): not logged", 3)
                continue
            last = -1
        s = last + 1 if step is None else step
        steps[key] = s if s > last else last
        put((ref, key, value, ts, s))
        run.points += 1


def _as_step(step: Any) -> int:
    try:
        if isinstance(step, bool) or int(step) != step:
            raise ValueError
        return int(step)
    except (TypeError, ValueError):
        raise UserInputError(f"mlops.log: step must be an integer, not {step!r}") from None


def _as_number(key: str, value: Any) -> float | None:
    if isinstance(value, str | bytes) or value is None:
        _warn_once(key, "type", f"mlops.log: metric '{key}' is not a number "
                   f"({type(value).__name__} {value!r:.40}): not logged")
        return None
    try:
        number = float(value)  # ints, numpy scalars, one-element tensors
    except (TypeError, ValueError):
        _warn_once(key, "type", f"mlops.log: metric '{key}' is not a number "
                   f"({type(value).__name__}): not logged")
        return None
    if math.isnan(number):
        _warn_once(key, "nan", f"mlops.log: metric '{key}' is NaN: not logged")
        return None
    return number


def _warn_once(key: str, kind: str, message: str, stacklevel: int = 4) -> None:
    # a training loop repeats its bad value: say it once per run, key and kind
    marker = (key, kind)
    if marker in _warned:
        return
    _warned.add(marker)
    warnings.warn(message, TrackingWarning, stacklevel=stacklevel)


def log_params(**params: Any) -> None:
    """Queue parameters of the active run. Values longer than MLflow allows are shortened
    with a warning; a parameter cannot change its value within a run."""
    _queue_params(require_active("mlops.log_params"), params, stacklevel=3)


def _queue_params(run: ActiveRun, params: dict[str, Any], stacklevel: int = 2) -> None:
    for key, raw in params.items():
        if not valid_key(key):
            warnings.warn(f"mlops.log_params: parameter name '{key}' is not valid for MLflow: "
                          "not logged", TrackingWarning, stacklevel=stacklevel)
            continue
        value = raw if isinstance(raw, str) else str(raw)
        if len(value) > MAX_PARAM_LENGTH:
            warnings.warn(f"mlops.log_params: parameter '{key}' is {len(value)} characters; "
                          f"MLflow keeps {MAX_PARAM_LENGTH}: shortened", TrackingWarning,
                          stacklevel=stacklevel)
            value = value[:MAX_PARAM_LENGTH]
        old = run.params.get(key)
        if old is not None:
            if old != value:
                warnings.warn(f"mlops.log_params: parameter '{key}' is already '{old:.60}' in "
                              f"this run and MLflow does not let it change: '{value:.60}' not "
                              "logged", TrackingWarning, stacklevel=stacklevel)
            continue
        run.params[key] = value
        SENDER.put(Op("param", run.ref, key, value))


def set_tags(**tags: Any) -> None:
    """Queue tags of the active run (a tag may change; the last value wins)."""
    _queue_tags(require_active("mlops.set_tags"), tags)


def _queue_tags(run: ActiveRun, tags: dict[str, Any]) -> None:
    for key, raw in tags.items():
        value = raw if isinstance(raw, str) else json.dumps(raw) if isinstance(
            raw, list | dict) else str(raw)
        if len(value) > MAX_TAG_LENGTH:
            value = value[:MAX_TAG_LENGTH - 1] + "…"
        SENDER.put(Op("tag", run.ref, key, value))


def _queue_file(run: ActiveRun, folder: str, name: str, content: bytes) -> None:
    staged = run.ref.journal.stage(None, name, content)
    SENDER.put(Op("artifact", run.ref, data={"file": str(staged), "path": folder}))


def record_cell(source: str, run: ActiveRun | None = None) -> None:
    """Keep the source of a cell that ran inside the run (artifact ``cells/``)."""
    run = run or active_run()
    if run is None or not source.strip():
        return
    run.cells += 1
    stamp = time.strftime("%Y%m%d-%H%M%S")
    _queue_file(run, "cells", f"cell-{stamp}-{run.cells:03d}.py", source.encode())


def flush(timeout: float = FLUSH_TIMEOUT) -> FlushResult:
    """Wait up to ``timeout`` seconds for queued points to reach the store."""
    result = SENDER.flush(timeout)
    emit_notices()
    return result


# --------------------------------------------------------------------------- end


def end_run(status: str = "FINISHED", *, error: BaseException | None = None,
            timeout: float = FLUSH_TIMEOUT) -> RunSummary:
    """End the innermost active run with ``status`` and wait (up to ``timeout``) until its
    points are in the store; a failure's error is recorded on the run."""
    return end(require_active("mlops.end_run"), status, error=error, timeout=timeout)


def end(run: ActiveRun, status: str, *, error: BaseException | None = None,
        timeout: float = FLUSH_TIMEOUT) -> RunSummary:
    """End ``run`` (and runs nested in it that are still open); ending twice is harmless."""
    ending = _end_status(status)
    with _lock:
        if run.status == "RUNNING":
            while run in _stack and _stack[-1] is not run:  # nested runs left open end too
                _finish(_stack[-1], ending, None)
            _finish(run, ending, error)
    result = SENDER.flush(timeout)
    emit_notices()
    return RunSummary(run.run_id, run.run_name, run.experiment, run.status,
                      time.time() - run.started, run.points, result, run.tracking_uri,
                      run.experiment_id)


def _end_status(status: str) -> EndStatus:
    """``status`` (any case) as one of ``STATUSES``; anything else is a one-line error."""
    for known in STATUSES:
        if status.upper() == known:
            return known
    raise UserInputError(f"status must be one of {', '.join(STATUSES)}, not "
                         f"'{status.upper()}'")


def _finish(run: ActiveRun, status: EndStatus, error: BaseException | None) -> None:
    while run.before_end:  # work that must reach the run before its end (never raises)
        run.before_end.pop(0)()
    if run in _stack:
        _stack.remove(run)
    run.status = status
    if error is not None:
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        _queue_tags(run, {"mlops.error": f"{type(error).__name__}: {first_line(str(error))}"})
        _queue_file(run, "error", "traceback.txt", text.encode())
    SENDER.put(Op("end", run.ref, data={"status": status, "end_time": _now_ms()}))
    _detach_fluent(run)


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_at_exit)
        _atexit_registered = True


def _at_exit() -> None:
    """The kernel is going away: end open runs (KILLED), give the queue a few seconds, then
    put what is left in the journals, which the next kernel sends."""
    with _lock:
        while _stack:
            run = _stack[-1]
            _queue_tags(run, {"mlops.ended_by": "kernel exit"})
            _finish(run, "KILLED", None)
    result = SENDER.flush(EXIT_TIMEOUT)
    if not result.done:
        SENDER.spill()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# --------------------------------------------------------------------------- MLflow's own API


def _attach_fluent(run: ActiveRun) -> None:
    """Make the run MLflow's active run too, so ``mlflow.log_*``, autologging and the model
    flavors write to it."""
    try:
        _push_fluent(run)
    except Exception as exc:  # MLflow's own API is a convenience, never a reason to fail
        SENDER.last_error = f"could not make the run MLflow's active run: {first_line(str(exc))}"


def _push_fluent(run: ActiveRun) -> bool:
    """Put the run on MLflow's active-run stack as it is (``mlflow.start_run(run_id=…)`` would
    update it, and refuses a run outside the experiment of ``mlflow.set_experiment``).
    False if it is already on top."""
    import mlflow
    from mlflow.tracking import fluent

    _point_mlflow_at(run.tracking_uri)
    stack = fluent._active_run_stack.get()  # type: ignore[no-untyped-call]
    if stack and stack[-1].info.run_id == run.ref.run_id:
        return False
    assert run.ref.run_id is not None
    created, run.created = run.created, None  # (a run made active again is read afresh)
    stack.append(mlflow.ActiveRun(  # type: ignore[no-untyped-call]
        created if created is not None else client(run.config).get_run(run.ref.run_id)))
    return True


def _detach_fluent(run: ActiveRun) -> None:
    """Take the run off MLflow's active-run stack without MLflow ending it (our queue does)."""
    if run.ref.run_id:
        _detach_fluent_id(run.ref.run_id)


def _detach_fluent_id(run_id: str) -> None:
    if "mlflow.tracking.fluent" not in sys.modules:  # never made active: no MLflow to import
        return
    try:
        from mlflow.environment_variables import MLFLOW_RUN_ID
        from mlflow.tracking import fluent

        stack = fluent._active_run_stack.get()  # type: ignore[no-untyped-call]
        if stack and stack[-1].info.run_id == run_id:
            stack.pop()
            MLFLOW_RUN_ID.unset()  # type: ignore[no-untyped-call]
    except Exception:
        pass


def _point_mlflow_at(uri: str) -> None:
    """MLflow's tracking URI for its own API, without the MLFLOW_TRACKING_URI variable that
    ``mlflow.set_tracking_uri`` also sets: that would outrank mlops.toml from then on."""
    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


@contextmanager
def fluent_run(run: ActiveRun) -> Iterator[None]:
    """MLflow's active run is ``run`` inside the block (for the model flavors)."""
    pushed = _push_fluent(run)
    try:
        yield
    finally:
        if pushed:
            _detach_fluent(run)
