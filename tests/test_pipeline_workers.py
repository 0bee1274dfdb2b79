"""Warm workers: the local runner's steps run in forks of a worker that ran the notebook's
shared (imports) cells once per run; a worker that dies fails its step with one clear line
and never hangs the run; GPUs are found without torch and handed out one per worker."""

from __future__ import annotations

import os
import queue
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.pipeline import from_notebook
from jupyter_mlops.pipeline.gpus import assign_gpus, detect_gpus, parse_nvidia_smi
from jupyter_mlops.pipeline.workers import Worker, exit_text

from .pipeline_notebooks import step_states, write_notebook

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="warm workers fork")

# the imports cell leaves one line per process it runs in
IMPORTS = ("import os, json\n"
           "with open('imports.log', 'a') as log:\n"
           "    log.write(f'{os.getpid()}\\n')\n"
           "SETTINGS = {'seen': []}\n")


def chain(project: Path, steps: int = 4) -> Path:
    cells: list[Any] = [(IMPORTS, ["imports"]), ("n = 3", ["parameters"])]
    cells.append("%%mlops step s0\nvalues = list(range(n))\n"
                 "where0 = (os.getpid(), os.getppid())")
    for i in range(1, steps):
        cells.append(f"%%mlops step s{i}\nvalues = [v + 1 for v in values]\n"
                     f"where{i} = (os.getpid(), os.getppid())")
    wheres = ", ".join(f"where{i}" for i in range(steps))
    cells.append(f"%%mlops step report\nprint(values, {wheres})")
    return write_notebook(project / "chain.ipynb", cells)


def test_the_imports_cell_runs_once_per_run_not_once_per_step(project: Path) -> None:
    nb = chain(project)
    run = from_notebook(nb).run()

    assert run.ok, run.to_text()
    assert run.value("s3", "values") == [3, 4, 5]
    warmed = (project / "imports.log").read_text().split()
    assert len(warmed) == 1  # one worker for the chain, which ran the imports cell once
    where = [run.value(f"s{i}", f"where{i}") for i in range(4)]
    assert len({pid for pid, _ in where}) == 4  # each step its own process, ...
    assert {parent for _, parent in where} == {int(warmed[0])}  # ... forked from the worker

    # an unchanged run starts no worker; a changed step starts one for this run
    assert step_states(from_notebook(nb).run()) == dict.fromkeys(
        ["s0", "s1", "s2", "s3", "report"], "cached")
    assert len((project / "imports.log").read_text().split()) == 1
    changed = from_notebook(nb).run(parameters={"n": 4})
    assert changed.value("s3", "values") == [3, 4, 5, 6]
    assert len((project / "imports.log").read_text().split()) == 2


def test_each_step_starts_from_the_imports_cells_state_not_the_last_steps(
        project: Path) -> None:
    nb = write_notebook(project / "clean.ipynb", [
        (IMPORTS, ["imports"]),
        "%%mlops step first\nSETTINGS['seen'].append('first')\nextra = 1\na = 1",
        "%%mlops step second --after first\n"
        "seen = list(SETTINGS['seen'])\nleaked = 'extra' in globals()",
        "%%mlops step report\nprint(seen, leaked, a)",
    ])
    run = from_notebook(nb).run(max_workers=1)

    assert run.ok, run.to_text()
    assert run.value("second", "seen") == []  # the first step's change stayed in its fork
    assert run.value("second", "leaked") is False
    assert len((project / "imports.log").read_text().split()) == 1


def test_a_worker_that_dies_fails_its_step_with_one_line_and_the_run_goes_on(
        project: Path) -> None:
    nb = write_notebook(project / "crash.ipynb", [
        (IMPORTS, ["imports"]),
        "%%mlops step start\nseed = 1",
        # kills the worker it was forked from, then waits: the run must not wait with it
        "%%mlops step doomed\nimport signal, time\nos.kill(os.getppid(), signal.SIGKILL)\n"
        "time.sleep(120)\nlost = seed",
        "%%mlops step after\nprint(lost)",
        "%%mlops step exits --after start\nos._exit(7)",
        "%%mlops step other --after start\nprint('fine', seed + 1)",
    ])
    began = time.monotonic()
    run = from_notebook(nb).run(max_workers=1)

    assert time.monotonic() - began < 60
    assert run.state == "failed"
    states = step_states(run)
    assert states == {"start": "done", "doomed": "failed", "after": "skipped",
                      "exits": "failed", "other": "done"}
    doomed = run.steps["doomed"].error
    assert doomed is not None and doomed["message"].startswith("its worker process (pid ")
    assert doomed["message"].endswith(") was killed by signal SIGKILL while it ran the step")
    assert "was killed by signal SIGKILL" in run.log("doomed")
    exits = run.steps["exits"].error
    assert exits is not None and exits["message"] == "the step's process exited with code 7"
    assert "fine 2" in run.log("other")  # a new worker took the steps after the crash
    assert len((project / "imports.log").read_text().split()) == 2


def test_a_failing_imports_cell_fails_each_step_naming_its_cell_and_line(
        project: Path) -> None:
    nb = write_notebook(project / "bad.ipynb", [
        ("import os\nimport no_such_module_here", ["imports"]),
        "%%mlops step a\nx = 1",
        "%%mlops step b --after a\ny = 2",
    ])
    run = from_notebook(nb).run()

    assert run.state == "failed"
    error = run.steps["a"].error
    assert error is not None and (error["cell"], error["line"]) == (0, 2)
    assert error["message"] == "ModuleNotFoundError: No module named 'no_such_module_here'"
    assert "Traceback" in run.log("a") and "no_such_module_here" in run.log("a")
    assert run.steps["b"].state == "skipped"


# --------------------------------------------------------------------------- GPUs


def test_gpus_come_from_cuda_visible_devices_first() -> None:
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": "0,1"}) == ["0", "1"]
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": "2, 3,-1,4"}) == ["2", "3"]  # as CUDA reads it
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    assert detect_gpus({}, nvidia_smi="/nonexistent/nvidia-smi") == []


SMI = """GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1111aaaa-0000-0000-0000-000000000000)
GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-2222bbbb-0000-0000-0000-000000000000)
  MIG 3g.40gb     Device  0: (UUID: MIG-3333cccc-0000-0000-0000-000000000000)
  MIG 3g.40gb     Device  1: (UUID: MIG-4444dddd-0000-0000-0000-000000000000)
"""


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_gpus_come_from_nvidia_smi_without_torch(tmp_path: Path) -> None:
    smi = script(tmp_path / "nvidia-smi",
                 "[ \"$1\" = -L ] || exit 9\ncat <<'EOF'\n" + SMI + "EOF\n")
    broken = script(tmp_path / "broken-smi", "echo 'NVIDIA-SMI has failed' >&2\nexit 9\n")

    assert detect_gpus({}, nvidia_smi=str(smi)) == [
        "GPU-1111aaaa-0000-0000-0000-000000000000",  # a whole GPU
        "MIG-3333cccc-0000-0000-0000-000000000000",  # a split one: its instances
        "MIG-4444dddd-0000-0000-0000-000000000000"]
    assert detect_gpus({}, nvidia_smi=str(broken)) == []
    assert parse_nvidia_smi("GPU 0: Tesla T4\n") == ["0"]  # an old driver: no UUID


def test_each_worker_gets_one_gpu_in_turn(tmp_path: Path) -> None:
    assert assign_gpus(4, ["0", "1"]) == ["0", "1", "0", "1"]
    assert assign_gpus(2, ["GPU-a", "GPU-b", "GPU-c"]) == ["GPU-a", "GPU-b"]
    assert assign_gpus(2, []) == [None, None]

    events: queue.Queue[Any] = queue.Queue()
    shows = [(1, "shared", "import os\nprint('sees', os.environ.get('CUDA_VISIBLE_DEVICES'))")]
    started = [Worker(i, {"cells": shows}, events, gpu=gpu, log=tmp_path / f"w{i}.log")
               for i, gpu in enumerate(assign_gpus(2, ["3", "5"]))]
    ready = [events.get(timeout=60) for _ in started]
    assert {message["kind"] for _, message in ready} == {"ready"}
    for worker in started:
        worker.close()
        worker.join()
    assert "sees 3" in (tmp_path / "w0.log").read_text()
    assert "sees 5" in (tmp_path / "w1.log").read_text()


def test_exit_codes_read_as_words() -> None:
    assert exit_text(-9) == "was killed by signal SIGKILL"
    assert exit_text(3) == "exited with code 3"
