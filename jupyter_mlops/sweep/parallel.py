"""Parallel trials (``jobs`` above 1) on warm workers (``pipeline/workers.py``).

The sweep's process is the study's one client: it asks the study for each trial (so no trial
is lost or run twice, whatever the storage) and tells it how the trial ended. ``jobs`` worker
processes are started once per sweep, spread over the GPUs when there are any; each runs the
notebook's imports cell and loads the cell's inputs once (the names the cell reads from the
kernel, found by the pipeline's data-flow analysis and saved as a step's outputs are), then
forks for each trial. The trial's child run of the sweep's parent is created here, and what the
trial logs to it comes back down the pipe to this process's logging queue (``relay.py``): a
worker needs no MLflow unless the trial's code uses it. The pruner hears the metric at its
checkpoints from the worker. A trial whose process dies fails, and its run is ended here
(KILLED, with that line as its error, after what it had sent); Ctrl-C or an error stops every
worker and ends the runs of the trials they were running."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserInputError
from ..pipeline import workers as warm_workers
from ..pipeline.gpus import assign_gpus, detect_gpus
from . import relay
from .trial import Outcome, TrialSettings, run_trial, start_child, tell

if TYPE_CHECKING:
    from ..pipeline.model import Pipeline
    from ..pipeline.workers import Channel, Worker
    from ..tracking.lifecycle import ActiveRun
    from .progress import SweepProgress
    from .space import Space

#: the name ``mlops.sweep``'s function has among a worker's inputs
FUNCTION = "__mlops_sweep_fn__"
#: modules a worker imports before it forks, so no trial imports them again
PRELOAD = ("jupyter_mlops.tracking.lifecycle", "jupyter_mlops.sweep.parallel",
           "jupyter_mlops.sweep.relay")
#: and when the trial's code uses MLflow itself (``relay.needs_mlflow``): ~2 s per worker
PRELOAD_MLFLOW = ("mlflow",)
#: what a trial's first run would import on first use (each fork again): when they exist
PREFETCH = ("jupyter_mlops.tracking.capture", "jupyter_mlops.tracking.journal",
            "jupyter_mlops.tracking.transport", "jupyter_mlops.tracking.trigger")
PREFETCH_CELL = ("IPython",)
PREFETCH_MLFLOW = ("logging.config", "logging.handlers", "netrc", "mlflow.tracking.fluent",
                   "mlflow.tracking.request_header.registry", "mlflow.store.tracking.rest_store",
                   "mlflow.tracing.processor.otel", "opentelemetry.sdk.metrics")
TARGET = "jupyter_mlops.sweep.parallel:trial_in_worker"


@dataclass
class Work:
    """What a sweep's workers run: the notebook's imports cells once (``cells``), the values
    the trials read (``values``, saved once per sweep), and per trial either the magic's cell
    (``cell``: its number and source) or ``mlops.sweep``'s function (in ``values``)."""

    cells: list[tuple[int, str, str]] = field(default_factory=list)
    notebook: str = "notebook"
    shell: bool = False
    values: dict[str, Any] = field(default_factory=dict)
    cell: tuple[int, str] | None = None
    #: the trial's code uses MLflow itself: the workers import it before they fork
    mlflow: bool = False
    #: the values as saved for the workers (``save``), and their folder
    refs: dict[str, Any] = field(default_factory=dict)
    _folder: Any = None
    #: the workers, once started (``start``): (events, workers, their warm-up message, logs)
    pool: tuple[Any, list[Worker], dict[str, Any], Path] | None = None

    def start(self, jobs: int, cwd: str | None, logs: Path,
              gpus: list[str] | None = None) -> None:
        """Start the ``jobs`` workers (their warm-up runs while the sweep opens its study and
        starts its parent run), spread over ``gpus`` (default: the machine's)."""
        import queue
        import sys

        from ..paths import make_folder

        make_folder(logs)
        if self.values and not self.refs:
            self.save(jobs)
        # the workers run this Python: what it imports from (a module beside the notebook, a
        # folder the kernel added), they do too
        preload = [*PRELOAD, *(PRELOAD_MLFLOW if self.mlflow else ())]
        prefetch = [*PREFETCH, *(PREFETCH_CELL if self.cell is not None else ()),
                    *(PREFETCH_MLFLOW if self.mlflow else ())]
        warm = {"cells": self.cells, "notebook": self.notebook, "shell": self.shell,
                "inputs": self.refs, "preload": preload, "prefetch": prefetch,
                "path": list(sys.path)}
        events: queue.Queue[warm_workers.Event] = queue.Queue()
        devices = assign_gpus(jobs, detect_gpus() if gpus is None else gpus)
        workers: list[Worker] = []
        self.pool = (events, workers, warm, logs)
        for i in range(jobs):
            workers.append(warm_workers.Worker(i, warm, events, cwd=cwd, gpu=devices[i],
                                               log=logs / f"worker-{i}.log"))

    def save(self, jobs: int) -> None:
        """The values the trials read, saved once by type (as a step's outputs are) for the
        workers to load; one clear line for a value that cannot be sent, before the sweep
        starts anything."""
        import tempfile

        from ..pipeline import runtime

        self._folder = tempfile.TemporaryDirectory(prefix="mlops-sweep-")
        folder = Path(self._folder.name)
        for name, value in self.values.items():
            try:
                entry = runtime.save_value(value, folder, f"{len(self.refs)}")
            except Exception as exc:
                self.discard()
                what = "the function" if name == FUNCTION else f"the cell reads {name!r}, which"
                raise UserInputError(
                    f"jobs={jobs}: {what} cannot be sent to the worker processes "
                    f"({type(value).__name__}: {type(exc).__name__}: {exc}); define it in the "
                    "imports cell or inside the trial, or use jobs=1") from None
            self.refs[name] = {**entry, "path": str(folder / entry["file"])}

    def discard(self) -> None:
        """Stop the workers (a running trial too) and remove the saved values."""
        if self.pool is not None:
            workers = self.pool[1]
            for worker in workers:
                worker.close(kill=True)
            for worker in workers:
                worker.join()
            self.pool = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
        self.refs = {}

    @classmethod
    def of_function(cls, fn: Any) -> Work:
        return cls(values={FUNCTION: fn}, mlflow=relay.needs_mlflow(function=fn))

    @classmethod
    def of_cell(cls, pipeline: Pipeline, cell: str, number: int,
                namespace: dict[str, Any], params: set[str]) -> Work:
        """The magic's cell (cell ``number`` of the notebook): the notebook's imports cells
        above it run in each worker, and what the cell reads that they do not define (nor the
        trial's parameters) comes from the kernel, as a step's inputs come from the steps
        before it."""
        from ..pipeline.analysis import BUILTINS
        from ..pipeline.magics import parse_cell

        cells, defined = _imports_cells(pipeline, number)
        try:
            tree = parse_cell(cell)
        except SyntaxError as exc:
            raise UserInputError(f"the cell does not parse: {exc.msg} (line {exc.lineno})"
                                 ) from None
        values = {name: namespace[name] for name in sorted(_reads(tree))
                  if name in namespace and name not in params and name not in defined
                  and name not in BUILTINS}
        return cls(cells, pipeline.notebook.name, _needs_ipython(cell), values, (number, cell),
                   relay.needs_mlflow(cell, *(source for _, _, source in cells)))


def _reads(tree: Any) -> set[str]:
    """The names a cell reads before it defines them (its functions' globals too)."""
    from ..pipeline.analysis import StepAnalyzer

    scan = StepAnalyzer()
    scan.add_cell(0, tree)
    flow = scan.finish()
    return set(flow.reads).union(*flow.callables.values())


def _imports_cells(pipeline: Pipeline,
                   number: int) -> tuple[list[tuple[int, str, str]], set[str]]:
    """The cells above cell ``number`` that a worker runs once: the shared ones (tagged, or
    imports and set-up magics only), each kept when it reads only what those before it
    define; and the names they define."""
    from ..pipeline.analysis import BUILTINS, StepAnalyzer
    from ..pipeline.magics import parse_cell, setup_only

    every = sorted([*pipeline.prelude, *(c for step in pipeline.steps for c in step.cells)],
                   key=lambda c: c.index)
    cells: list[tuple[int, str, str]] = []
    defined: set[str] = set()
    for candidate in every:
        if number and candidate.number >= number:
            break
        if candidate.role == "parameters" or "%%mlops sweep" in candidate.source:
            continue
        try:
            tree = parse_cell(candidate.source)
        except SyntaxError:
            continue
        if candidate.role != "shared" and not setup_only(tree):
            continue
        if not _reads(tree) <= defined | BUILTINS:
            continue  # it needs the kernel's values: what the swept cell reads of it is sent
        scan = StepAnalyzer()
        scan.add_cell(candidate.index, tree)
        defined.update(scan.finish().writes)
        cells.append((candidate.number, "shared", candidate.source))
    return cells, defined


def _needs_ipython(source: str) -> bool:
    try:
        compile(source, "<cell>", "exec")
    except SyntaxError:
        return True
    return "get_ipython" in source


@dataclass
class _Flight:
    """A trial a worker runs."""

    trial: Any
    params: dict[str, Any]
    began: float
    run: ActiveRun | None = None
    told: bool = False

    @property
    def run_id(self) -> str | None:
        return self.run.run_id if self.run is not None else None


class _Parallel:
    """The sweep's side: workers, the trials in flight, the study told of each."""

    def __init__(self, study: Any, settings: TrialSettings,
                 progress: SweepProgress | None) -> None:
        self.study, self.settings, self.progress = study, settings, progress
        self.flights: dict[Worker, _Flight] = {}

    def row(self, flight: _Flight, state: str, value: float | None = None) -> None:
        if self.progress is not None:
            self.progress.trial({
                "number": flight.trial.number, "params": flight.params, "value": value,
                "state": state, "run_id": flight.run_id,
                "duration": None if state == "running" else time.monotonic() - flight.began})

    def told(self, flight: _Flight, outcome: Outcome) -> None:
        flight.told = True
        tell(self.study, flight.trial, outcome)
        self.row(flight, outcome.state, outcome.value)

    def lost(self, flight: _Flight, why: str) -> None:
        """A trial whose process is gone before it said how it ended: its run is ended here,
        KILLED, after what it had sent."""
        if flight.run is not None and flight.run.status == "RUNNING":
            relay.end_lost(flight.run, "KILLED", {"mlops.sweep.state": "failed",
                                                  "mlops.error": why})
        self.told(flight, Outcome("fail"))

    def handle(self, worker: Worker, message: dict[str, Any]) -> bool:
        """One message from a worker; True when the worker is free for another trial."""
        kind = message.get("kind")
        flight = self.flights.get(worker)
        if kind == "ready":
            error = message.get("error")
            if error:
                if error.get("cell") is None:
                    raise UserInputError(f"a sweep worker could not start: {error['message']}")
                raise UserInputError(f"a sweep worker could not run the notebook's imports "
                                     f"cell {error['cell'] + 1} (line {error['line']}): "
                                     f"{error['message']}")
            return True
        if kind == "died":
            if flight is None and worker.ready is None:
                raise UserInputError(f"a sweep worker (pid {worker.pid}) {message['reason']} "
                                     "while it ran the notebook's imports cell")
            if flight is not None and not flight.told:
                self.lost(flight, f"the trial's worker process {message['reason']}")
            self.flights.pop(worker, None)
            return False
        if flight is None:
            return False
        if kind == "log":
            if flight.run is not None:
                relay.apply(flight.run, message["items"])
        elif kind == "report":
            flight.trial.report(message["value"], message["step"])
            if message.get("ask"):
                stop = self.settings.prune and flight.trial.should_prune()
                worker.send({"op": "answer", "value": bool(stop)})
        elif kind == "done":
            if message.get("fatal") is not None:  # the trial's run could not start
                self.told(flight, Outcome("fail"))
                raise message["fatal"]
            self.told(flight, Outcome(message["state"], message.get("value")))
        elif kind == "exit":
            if not flight.told:
                self.lost(flight, f"the trial's process {warm_workers.exit_text(message['code'])}")
            del self.flights[worker]
            return True
        return False

    def stop(self, workers: list[Worker], interrupted: bool) -> None:
        """Ctrl-C or an error: every worker and trial stopped, their runs ended and the study
        told, whatever the progress display does meanwhile (a second Ctrl-C included)."""
        for worker in workers:
            worker.close(kill=True)
        why = "the sweep was interrupted" if interrupted else "the sweep stopped on an error"
        pending = [flight for flight in self.flights.values() if not flight.told]
        self.flights.clear()
        for flight in pending:
            if flight.run is not None and flight.run.status == "RUNNING":
                relay.end_lost(flight.run, "KILLED", {"mlops.sweep.state": "interrupted",
                                                      "mlops.error": why})
            flight.told = True
            tell(self.study, flight.trial, Outcome("fail"))
        for flight in pending:  # (the sweep is stopping on an error already)
            with contextlib.suppress(BaseException):
                self.row(flight, "fail")


def run_parallel(study: Any, space: Space, work: Work, settings: TrialSettings, *, jobs: int,
                 trials: int, deadline: float | None, grid: bool,
                 progress: SweepProgress | None, state_dir: Path, parent: ActiveRun,
                 namespace: dict[str, Any] | None = None,
                 gpus: list[str] | None = None) -> None:
    """Up to ``trials`` trials (fewer when ``deadline`` passes or the grid is done), ``jobs``
    at a time in warm workers, each in a child run of ``parent`` made here (``namespace``:
    the kernel's, for the parameters cell's values). ``gpus``: the devices to spread the
    workers over (default: those this machine has)."""
    from .study import next_grid_point

    state = _Parallel(study, settings, progress)
    workers: list[Worker] = []
    try:
        if work.pool is None:
            work.start(jobs, settings.cwd, logs_folder(state_dir, settings.study_name), gpus)
        assert work.pool is not None
        events, workers, warm, logs = work.pool
        idle: list[Worker] = []
        asked = 0
        done = False  # no more trials to start
        while True:
            while idle and not done:
                if asked >= trials or (deadline is not None and time.monotonic() >= deadline):
                    done = True
                    break
                if grid:
                    point = next_grid_point(study, space)
                    if point is None:
                        done = True
                        break
                    study.enqueue_trial(point)
                trial = study.ask()
                asked += 1
                flight = _Flight(trial, {}, time.monotonic())
                try:
                    flight.params = {key: dist.suggest(trial, key) for key, dist in space.items()}
                    # made before the trial starts: MLflow, if the trial (or a library it
                    # calls) uses it, finds the run by its id
                    flight.run = _child(parent, settings, flight, namespace)
                except BaseException:
                    state.told(flight, Outcome("fail"))
                    raise
                worker = idle.pop()
                state.flights[worker] = flight
                worker.send({"op": "call", "target": TARGET, "log": str(
                    logs / f"trial-{trial.number}.log"), "payload": {
                        "number": trial.number, "params": flight.params, "cell": work.cell,
                        "notebook": work.notebook, "settings": vars(settings),
                        "run": {"run_id": flight.run_id, "uri": parent.tracking_uri,
                                "experiment_id": parent.experiment_id,
                                "experiment": settings.experiment or parent.experiment,
                                "name": f"{settings.study_name}-{trial.number}",
                                "notebook": str(parent.notebook) if parent.notebook
                                else None}}})
                trial.set_user_attr("run_id", flight.run_id)
                state.row(flight, "running")
                done = asked >= trials
            if not state.flights and (done or not any(w.alive for w in workers)):
                if not done:
                    raise UserInputError("every sweep worker died: see the logs in "
                                         f"{logs}")
                break
            worker, message = events.get()
            if state.handle(worker, message):
                idle.append(worker)
            elif not worker.alive and worker in workers:
                workers.remove(worker)
                if done:
                    continue
                # a replacement for a worker that died with its trial
                number = max(w.number for w in [worker, *workers]) + 1
                workers.append(warm_workers.Worker(
                    number, warm, events, cwd=settings.cwd, gpu=worker.gpu,
                    log=logs / f"worker-{number}.log"))
    except BaseException as exc:
        state.stop(workers, isinstance(exc, KeyboardInterrupt))
        raise
    finally:
        for worker in workers:
            worker.close()
        for worker in workers:  # idle ones end once their pipe does
            worker.join()
        work.discard()


def _child(parent: ActiveRun, settings: TrialSettings, flight: _Flight,
           namespace: dict[str, Any] | None) -> ActiveRun:
    """The trial's child run, held here (``namespace``: the kernel's, for the parameters
    cell's values)."""
    return start_child(parent, settings, flight.trial.number, flight.params,
                       None if namespace is None else {**namespace, **flight.params},
                       push=False)


def logs_folder(state_dir: Path, study_name: str) -> Path:
    """Where a sweep's workers and trials write their output."""
    return state_dir / "sweeps" / "logs" / study_name


# --------------------------------------------------------------------------- in the worker


class _RemoteTrial:
    """The Optuna trial as a worker's trial sees it: reports go to the sweep's process, which
    answers whether to prune."""

    def __init__(self, channel: Channel, prune: bool) -> None:
        self.channel, self.prune = channel, prune
        self.stop = False

    def report(self, value: float, step: int) -> None:
        message = {"kind": "report", "value": value, "step": step, "ask": self.prune}
        if self.prune:
            self.stop = bool(self.channel.ask(message))
        else:
            self.channel.send(message)

    def should_prune(self) -> bool:
        return self.stop


def trial_in_worker(warm: Any, channel: Channel, payload: dict[str, Any]) -> int:
    """A trial in a worker's fork: the cell (or function) in its child run, which the sweep's
    process holds (what it logs goes there, ``relay.py``); how it ended goes back too."""
    import os
    import threading

    from ..config import load_config
    from ..tracking import lifecycle
    from ..tracking.sender import SENDER

    settings = TrialSettings(**payload["settings"])
    namespace: dict[str, Any] = warm.namespace
    cell = payload.get("cell")
    run_namespace: dict[str, Any] | None = None
    if cell is not None:
        from ..pipeline import runtime

        number, source = cell
        if warm.shell is None and _needs_ipython(source):
            warm.shell = runtime._ipython_shell()
            warm.shell.user_ns.update(namespace)
            namespace = warm.shell.user_ns
        run_namespace = namespace

        def objective(params: dict[str, Any]) -> Any:
            codes, _, _ = runtime._compile_cells([(number, "step", source)],
                                                 payload["notebook"], dict(warm.filenames),
                                                 warm.shell, warm.ours)
            exec(codes[0][1], namespace)
    else:
        function = namespace[FUNCTION]

        def objective(params: dict[str, Any]) -> Any:
            return function(**params)

    held = payload["run"]
    saved = {key: os.environ.get(key) for key in ("MLFLOW_RUN_ID", "MLFLOW_TRACKING_URI")}
    stage = relay.Stage()
    locked = relay.LockedChannel(channel, threading.Lock())
    try:
        run = lifecycle.relayed_run(
            held["run_id"], held["experiment_id"], held["uri"],
            load_config(settings.cwd), held["experiment"], held["name"],
            Path(held["notebook"]) if held["notebook"] else None, stage)
        with relay.Relay(locked, run):  # type: ignore[arg-type]
            outcome = run_trial(_RemoteTrial(locked, settings.prune),  # type: ignore[arg-type]
                                payload["number"], payload["params"], objective, settings,
                                run_namespace, begin=lambda: run)
    except Exception as exc:  # its run could not start: the sweep stops, as with jobs=1
        locked.send({"kind": "done", "state": "fail", "fatal": _portable(exc)})
        return 1
    finally:
        for key, value in saved.items():  # (a worker that runs trials in place goes on)
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stage.remove()
    # runs the trial started itself went through this process's queue: they reach the store
    # before the process ends
    if SENDER.holds_runs():
        lifecycle.flush()
    locked.send({"kind": "done", "state": outcome.state, "value": outcome.value})
    return 0


def _portable(exc: BaseException) -> BaseException:
    """``exc`` as it can be sent to the sweep's process (its own class when it pickles)."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
