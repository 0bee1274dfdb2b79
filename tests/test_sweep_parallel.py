"""Parallel trials (``jobs`` above 1) on warm workers, tracking to a real ``mlflow server``:
each trial a child run of the parent with its params and metric history, none lost; failed,
crashed and pruned trials end their runs; an interrupt stops every worker; ``%%mlops sweep
--jobs 2`` over a real notebook's parameters cell in a real IPython shell sends the cell's
inputs to the workers, which ran the imports cell once each."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

import jupyter_mlops as mlops
from jupyter_mlops.errors import UserInputError
from jupyter_mlops.pipeline.gpus import usable_cores
from jupyter_mlops.pipeline.workers import WORKER_SCRIPT
from jupyter_mlops.sweep import Sweep, choice, sweep, uniform

from .shell_fixtures import one_line_error, run
from .test_sweep_magic import children, client

pytestmark = [pytest.mark.usefixtures("tracking_reset"),
              pytest.mark.skipif(usable_cores() < 2 or not hasattr(os, "fork"),
                                 reason="parallel trials need 2 cores and fork")]


@pytest.fixture
def server(project: Path, tracking_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLOPS_TRACKING_URI", tracking_server)
    return tracking_server


def notebook_function(source: str, name: str = "objective", **names: Any) -> Any:
    """A function as a notebook defines it (in ``__main__``: sent to the workers by value),
    with the notebook's ``names``."""
    namespace: dict[str, Any] = {"__name__": "__main__", **names}
    exec(compile(source, "<notebook cell>", "exec"), namespace)
    return namespace[name]


def running_runs(uri: str, result: Sweep) -> list[Any]:
    parent = client(uri).get_run(result.run_id)
    return list(client(uri).search_runs([parent.info.experiment_id],
                                        "attributes.status = 'RUNNING'"))


def our_workers() -> list[int]:
    """Worker processes this test process started that are still there."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and str(WORKER_SCRIPT).encode() in cmdline:
            found.append(int(entry.name))
    return found


class Recorder:
    """A SweepProgress that remembers what the sweep's process was told."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.interrupt_at = interrupt_at

    def started(self, total: int, sweep_name: str, parent_run_id: str) -> None:
        self.calls.append(("started", total))

    def trial(self, row: dict[str, Any]) -> None:
        self.calls.append(("trial", row))
        running = sum(1 for kind, r in self.calls if kind == "trial" and r["state"] == "running")
        if self.interrupt_at is not None and running == self.interrupt_at:
            self.interrupt_at = None
            raise KeyboardInterrupt

    def finished(self, result: Sweep) -> None:
        self.calls.append(("finished", result))


# every trial waits until two run at once: the test fails unless both workers take trials
BARRIER = '''
def objective(x):
    import os, pathlib, time
    import jupyter_mlops as mlops
    folder = pathlib.Path({folder!r})
    (folder / str(os.getpid())).write_text("running")
    deadline = time.monotonic() + 120
    while len(list(folder.iterdir())) < 2:
        assert time.monotonic() < deadline, "the trials ran one at a time"
        time.sleep(0.02)
    mlops.log(loss=(x - 1) ** 2, worker=os.getppid(),
              gpu=float(os.environ["CUDA_VISIBLE_DEVICES"]))
'''


def test_two_jobs_run_every_trial_as_a_child_run_and_lose_none(
        server: str, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")  # two GPUs, as nvidia-smi would say
    (project / "barrier").mkdir()
    objective = notebook_function(BARRIER.format(folder=str(project / "barrier")))

    result = sweep(objective, space={"x": uniform(-2, 4)}, trials=8, jobs=2,
                   sampler="random", seed=4, pruner="none", name="both")

    frame = result.trials
    assert list(frame["state"]) == ["complete"] * 8
    assert sorted(frame["number"]) == list(range(8))
    runs = children(server, result)
    assert len(runs) == 8 and {r.info.status for r in runs} == {"FINISHED"}
    assert {r.info.run_id for r in runs} == set(frame["run_id"])  # one run per trial
    for run_ in runs:
        number = int(run_.data.tags["mlops.sweep.trial"])
        x = frame["params"][number]["x"]
        assert float(run_.data.params["x"]) == pytest.approx(x)
        assert run_.data.metrics["loss"] == pytest.approx((x - 1) ** 2)
        assert run_.info.run_name == f"both-{number}"
    # two warm workers, each with one of the two GPUs
    assert len({r.data.metrics["worker"] for r in runs}) == 2
    assert {r.data.metrics["gpu"] for r in runs} == {3.0, 5.0}
    assert len(list((project / "barrier").iterdir())) == 8  # each trial its own process
    parent = client(server).get_run(result.run_id)
    assert parent.info.status == "FINISHED"
    assert float(parent.data.metrics["best_loss"]) == pytest.approx(result.best_value)
    assert running_runs(server, result) == [] and mlops.active_run() is None
    assert our_workers() == []


MODES = '''
def objective(mode):
    import os, signal, time
    import jupyter_mlops as mlops
    if mode == "raise":
        raise ValueError("a bad trial")
    if mode == "exit":
        os._exit(3)
    if mode == "kill":
        os.kill(os.getppid(), signal.SIGKILL)  # its worker
        time.sleep(60)
    mlops.log(loss=1.0)
'''


def test_a_raising_an_exiting_and_a_killed_worker_trial_fail_and_the_sweep_goes_on(
        server: str) -> None:
    recorder = Recorder()
    result = sweep(notebook_function(MODES),
                   space={"mode": choice("ok", "raise", "exit", "kill", "ok2")}, trials=5,
                   jobs=2, sampler="grid", pruner="none", progress=recorder)

    states = {p["mode"]: s for p, s in zip(result.trials["params"], result.trials["state"],
                                           strict=True)}
    assert states == {"ok": "complete", "raise": "fail", "exit": "fail", "kill": "fail",
                      "ok2": "complete"}  # a new worker took the trial after the kill
    runs = {r.data.params["mode"]: r for r in children(server, result)}
    assert {m: r.info.status for m, r in runs.items()} == {  # a process that died: KILLED
        "ok": "FINISHED", "raise": "FAILED", "exit": "KILLED", "kill": "KILLED",
        "ok2": "FINISHED"}
    assert {m: r.data.tags["mlops.sweep.state"] for m, r in runs.items()} == {
        "ok": "complete", "raise": "failed", "exit": "failed", "kill": "failed",
        "ok2": "complete"}
    assert runs["raise"].data.tags["mlops.error"] == "ValueError: a bad trial"
    assert runs["exit"].data.tags["mlops.error"] == "the trial's process exited with code 3"
    assert runs["kill"].data.tags["mlops.error"] == (
        "the trial's worker process was killed by signal SIGKILL")
    assert running_runs(server, result) == []
    # the sweep's process heard of each trial when it started and when it ended
    rows = [row for kind, row in recorder.calls if kind == "trial"]
    ended = [row for row in rows if row["state"] != "running"]
    assert sorted(row["number"] for row in ended) == list(range(5))
    assert {row["run_id"] for row in ended} == set(result.trials["run_id"])
    assert recorder.calls[0] == ("started", 5) and recorder.calls[-1][0] == "finished"
    assert our_workers() == []


CURVE = '''
def curve(x):
    import jupyter_mlops as mlops
    for step in range(6):
        mlops.log(loss=abs(x) + 1.0 / (step + 1))
'''


def test_pruning_works_across_workers(server: str) -> None:
    result = sweep(notebook_function(CURVE, "curve"), space={"x": uniform(-10, 10)},
                   trials=16, jobs=2, sampler="random", seed=0, pruner="median")

    states = list(result.trials["state"])
    assert len(states) == 16 and states.count("pruned") >= 2
    pruned = [t for t in result.study.trials if t.state.name == "PRUNED"]
    assert all(t.intermediate_values for t in pruned)  # the workers' reports reached the study
    killed = [r for r in children(server, result) if r.info.status == "KILLED"]
    assert len(killed) == len(pruned)
    assert {r.data.tags["mlops.sweep.state"] for r in killed} == {"pruned"}


SLOW = '''
def slow(x):
    import time
    import jupyter_mlops as mlops
    mlops.log(loss=x)
    time.sleep(120)
'''


def test_an_interrupt_stops_every_worker_and_ends_the_runs_they_ran(server: str) -> None:
    recorder = Recorder(interrupt_at=2)  # Ctrl-C once both trials are running
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        sweep(notebook_function(SLOW, "slow"), space={"x": uniform(0, 1)}, trials=4, jobs=2,
              pruner="none", name="halted-in-workers", progress=recorder)

    assert time.monotonic() - began < 100  # not the trials' two minutes
    assert mlops.active_run() is None
    parent = recorder.calls[-1][1]
    assert isinstance(parent, Sweep)
    runs = children(server, parent)
    assert len(runs) == 2
    assert {r.info.status for r in runs} == {"KILLED"}
    assert {r.data.tags["mlops.sweep.state"] for r in runs} == {"interrupted"}
    assert client(server).get_run(parent.run_id).info.status == "KILLED"
    assert running_runs(server, parent) == []
    assert {t.state.name for t in parent.study.trials} == {"FAIL"}  # none left RUNNING
    deadline = time.monotonic() + 10
    while our_workers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert our_workers() == []


def test_jobs_above_the_cores_or_a_value_that_cannot_be_sent_is_one_line(server: str) -> None:
    with pytest.raises(UserInputError, match=f"jobs={usable_cores() + 1} is more than the "
                                             f"{usable_cores()} cores"):
        sweep(lambda x: x, space={"x": uniform(0, 1)}, trials=2, jobs=usable_cores() + 1)
    import threading

    holds_a_lock = notebook_function("def holds(x):\n    with lock:\n        return x\n",
                                     "holds", lock=threading.Lock())
    with pytest.raises(UserInputError, match="jobs=2: the function cannot be sent to the "
                                             "worker processes"):
        sweep(holds_a_lock, space={"x": uniform(0, 1)}, trials=2, jobs=2)
    assert mlops.active_run() is None


# --------------------------------------------------------------------------- the magic

IMPORTS = "import jupyter_mlops as mlops\nimport counting\n"
# a module beside the notebook whose import leaves a line: where the imports cell ran
COUNTING = ("import os\n"
            "with open('imports.log', 'a') as log:\n"
            "    log.write(f'{os.getpid()}\\n')\n")
PARAMETERS = ("x = 0.0  # sweep: uniform(-5, 5)\n"
              "y = 0.0  # sweep: uniform(-5, 5)\n"
              "epochs = 3\n")
TRAIN = ("for epoch in range(epochs):\n"
         "    mlops.log(loss=(x - 2) ** 2 + (y + 1) ** 2 + offset + 1 / (epoch + 1))\n")


def write_notebook(project: Path) -> Path:
    cells = [
        {"cell_type": "code", "id": "imports", "metadata": {}, "outputs": [],
         "execution_count": None, "source": IMPORTS},
        {"cell_type": "code", "id": "params", "metadata": {"tags": ["parameters"]},
         "outputs": [], "execution_count": None, "source": PARAMETERS},
        {"cell_type": "code", "id": "data", "metadata": {}, "outputs": [],
         "execution_count": None, "source": "offset = 0.25"},
        {"cell_type": "code", "id": "train", "metadata": {}, "outputs": [],
         "execution_count": None, "source": "%%mlops sweep --trials 6 --jobs 2\n" + TRAIN},
    ]
    path = project / "train.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))
    return path


@pytest.fixture
def shell(shell: InteractiveShell, server: str, project: Path) -> InteractiveShell:
    """The shared shell running train.ipynb's kernel: its cells above the sweep have run."""
    (project / "counting.py").write_text(COUNTING)
    shell.user_ns["__session__"] = str(write_notebook(project))
    run(shell, "import jupyter_mlops as mlops")  # (the kernel's own import of counting
    run(shell, PARAMETERS)                        # would not count: it has no such module)
    run(shell, "offset = 0.25")
    return shell


def test_the_magic_with_two_jobs_sends_the_cells_inputs_to_warm_workers(
        shell: InteractiveShell, server: str, project: Path) -> None:
    shell.user_ns["epochs"] = 4  # the kernel's value, not the parameters cell's, is read
    result = run(shell, "%%mlops sweep --trials 6 --jobs 2 --sampler random --seed 3 "
                        "--pruner none\n" + TRAIN)

    assert isinstance(result, Sweep)
    assert list(result.trials["state"]) == ["complete"] * 6
    # the imports cell ran once in each of the two workers, not once per trial
    warmed = (project / "imports.log").read_text().split()
    assert len(warmed) == 2 and str(os.getpid()) not in warmed
    runs = children(server, result)
    assert len(runs) == 6 and {r.info.status for r in runs} == {"FINISHED"}
    for run_ in runs:
        x, y = float(run_.data.params["x"]), float(run_.data.params["y"])
        history = client(server).get_metric_history(run_.info.run_id, "loss")
        assert [m.step for m in history] == [0, 1, 2, 3]  # epochs = 4 reached the workers
        assert history[-1].value == pytest.approx((x - 2) ** 2 + (y + 1) ** 2 + 0.25 + 0.25)
        assert run_.data.tags["mlops.notebook.name"] == "train.ipynb"
    assert (shell.user_ns["x"], shell.user_ns["y"]) == (0.0, 0.0)
    assert mlops.active_run() is None
    logs = project / ".mlops" / "sweeps" / "logs" / result.name
    assert sorted(p.name for p in logs.glob("trial-*.log")) == [
        f"trial-{n}.log" for n in range(6)]


def test_the_magic_refuses_more_jobs_than_cores_and_inputs_it_cannot_send(
        shell: InteractiveShell) -> None:
    too_many = usable_cores() + 1
    assert one_line_error(shell, f"%%mlops sweep --trials 2 --jobs {too_many}\n" + TRAIN) \
        .startswith(f"jobs={too_many} is more than the {usable_cores()} cores this process "
                    "may use")
    run(shell, "import threading\noffset = threading.Lock()")
    assert one_line_error(shell, "%%mlops sweep --trials 2 --jobs 2\n" + TRAIN).startswith(
        "jobs=2: the cell reads 'offset', which cannot be sent to the worker processes (lock:")
    assert mlops.active_run() is None


def test_the_best_trial_of_two_jobs_is_registered_as_champion(
        shell: InteractiveShell, server: str) -> None:
    run(shell, "class Scaler:\n"  # a class of the notebook's, sent to the workers by value
               "    def __init__(self, k):\n"
               "        self.k = k\n"
               "    def __call__(self, model_input: list[float]) -> list[float]:\n"
               "        return [self.k * v for v in model_input]\n")
    result = run(shell, "%%mlops sweep --trials 2 --jobs 2 --space \"x=choice(1.0, 2.0)\" "
                        "--sampler grid --register scaler\n"
                        "mlops.log(loss=abs(x - 2))\n"
                        "mlops.log_model(Scaler(x), 'scaler', input_example=[1.0])\n")

    assert result.best_params == {"x": 2.0}
    version = client(server).get_model_version_by_alias("scaler", "champion")
    assert version.run_id == result.best_run_id


def test_a_function_of_a_module_the_kernel_imports_from_its_path_runs_in_the_workers(
        server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "elsewhere"  # not the working folder: a path the kernel added
    folder.mkdir()
    (folder / "objectives_s1.py").write_text(
        "import jupyter_mlops as mlops\n\n"
        "def objective(x):\n"
        "    mlops.log(loss=(x - 1) ** 2)\n")
    monkeypatch.syspath_prepend(str(folder))
    import objectives_s1  # type: ignore[import-not-found]

    result = sweep(objectives_s1.objective, space={"x": uniform(0, 2)}, trials=4, jobs=2,
                   sampler="random", seed=1, pruner="none")

    assert list(result.trials["state"]) == ["complete"] * 4


# --------------------------------------------------------------------------- the relay

RELAYED = '''
def objective(mode):
    import os, sys
    import jupyter_mlops as mlops
    mlops.log(mlflow_loaded=float("mlflow" in sys.modules))
    for step in range(300):
        mlops.log(loss=step / 100)
    mlops.log_params(extra="kept")
    if mode == "direct":  # a library that uses MLflow itself: it writes to the trial's run
        import relay_helpers
        relay_helpers.log_directly()
    if mode == "die":  # what it logged up to 0.1 s before its process died is kept
        import time
        time.sleep(0.5)
        os._exit(5)
'''


def test_workers_send_what_trials_log_through_the_sweeps_process(
        server: str, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "relay_helpers.py").write_text(
        "def log_directly():\n"
        "    import mlflow\n"  # (imported in the trial's process: the sweep cannot see it)
        "    mlflow.log_param('direct', 'yes')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    objective = notebook_function(RELAYED)
    result = sweep(objective, space={"mode": choice("plain", "direct", "die")}, trials=3,
                   jobs=2, sampler="grid", pruner="none", metric="loss", name="relayed")

    runs = {r.data.params["mode"]: r for r in children(server, result)}
    states = dict(zip((p["mode"] for p in result.trials["params"]), result.trials["state"],
                      strict=True))
    assert states == {"plain": "complete", "direct": "complete", "die": "fail"}
    for mode, run_ in runs.items():
        history = client(server).get_metric_history(run_.info.run_id, "loss")
        assert [m.step for m in history] == list(range(300)), mode  # every point, in order
        assert run_.data.params["extra"] == "kept"
        # the trial's code names no MLflow API: its worker never imported MLflow
        assert run_.data.metrics["mlflow_loaded"] == 0.0
    assert runs["direct"].data.params["direct"] == "yes"
    assert runs["direct"].info.status == "FINISHED"
    assert runs["die"].info.status == "KILLED"
    assert runs["die"].data.tags["mlops.error"] == "the trial's process exited with code 5"
    # a trial's run shares its parent's tags; its files are the parent's only
    parent = client(server).get_run(result.run_id)
    for key in ("mlops.host.name", "mlops.python.version", "mlflow.user"):
        assert runs["plain"].data.tags[key] == parent.data.tags[key]
    assert [a.path for a in client(server).list_artifacts(runs["plain"].info.run_id)] == []
    assert "environment" in {a.path for a in client(server).list_artifacts(result.run_id)}
    assert running_runs(server, result) == []


def test_a_trial_that_uses_mlflow_gets_workers_that_imported_it_before_forking(
        server: str) -> None:
    objective = notebook_function(
        "def objective(x):\n"
        "    import sys\n"
        "    import jupyter_mlops as mlops\n"
        "    mlops.log(loss=x, warm=float('mlflow' in sys.modules))\n"
        "    if False:\n"
        "        mlops.log_model(None, 'never')\n")
    result = sweep(objective, space={"x": uniform(0, 1)}, trials=2, jobs=2, pruner="none")

    assert {r.data.metrics["warm"] for r in children(server, result)} == {1.0}


def test_needs_mlflow_reads_cells_and_the_functions_a_function_calls() -> None:
    from jupyter_mlops.sweep.relay import needs_mlflow

    assert not needs_mlflow("mlops.log(loss=x)\nmlops.log_params(a=1)")
    assert needs_mlflow("mlops.log_model(model, 'm')")
    assert needs_mlflow("import mlflow.pytorch")
    helper = notebook_function("def helper():\n    mlops.log_model(1, 'm')\n", "helper")
    caller = notebook_function("def caller(x):\n    helper()\n", "caller", helper=helper)
    plain = notebook_function("def plain(x):\n    return x * 2\n", "plain")
    assert needs_mlflow(function=caller) and not needs_mlflow(function=plain)
