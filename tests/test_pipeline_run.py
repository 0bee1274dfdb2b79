"""The local runner: processes, the content-hash cache, resume, parallel steps, typed
artifacts, failures that name the cell and line, and S3 through an emulator (moto)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.errors import NotFoundError, UserInputError
from jupyter_mlops.pipeline import from_notebook
from jupyter_mlops.pipeline.results import StepEvent
from jupyter_mlops.pipeline.runner import list_runs, load_run

from .pipeline_notebooks import CHAIN, digest, step_states, write_notebook

ALL = ["load", "clean", "stats", "scaled", "report"]


def test_first_run_runs_every_step_and_a_second_comes_from_the_cache(project: Path) -> None:
    nb = write_notebook(project / "chain.ipynb", CHAIN)
    before = digest(nb)
    events: list[StepEvent] = []
    threads: set[int] = set()

    def on_progress(event: StepEvent) -> None:
        threads.add(threading.get_ident())
        events.append(event)

    first = from_notebook(nb).run(on_progress=on_progress)

    assert first.ok, first.to_text()
    assert step_states(first) == dict.fromkeys(ALL, "done")
    assert first.value("stats", "mean") == 2.0  # (0 + 2 + 4) / 3
    assert first.value("scaled", "scaled") == [0.0, 4.0, 8.0]
    assert '{"label": "demo", "mean": 2.0, "scaled": [0.0, 4.0, 8.0]}' in first.log("report")
    assert "loaded 5" in first.log("load")
    # progress: every step went running -> done, and report only after both its inputs
    seen = [(e.step, e.state) for e in events]
    for name in ALL:
        assert seen.index((name, "running")) < seen.index((name, "done"))
    assert seen.index(("report", "running")) > max(seen.index(("stats", "done")),
                                                    seen.index(("scaled", "done")))
    # on the caller's thread, where a notebook shows output
    assert threads == {threading.get_ident()}

    second = from_notebook(nb).run()
    assert step_states(second) == dict.fromkeys(ALL, "cached")
    assert second.value("scaled", "scaled") == [0.0, 4.0, 8.0]
    assert "served from the cache" in second.log("report")
    # the runner only reads the notebook
    assert digest(nb) == before
    assert [r.run_id for r in list_runs(nb)] == [second.run_id, first.run_id]
    assert load_run(nb, first.run_id).state == "done"


def test_changing_one_step_reruns_it_and_what_depends_on_it(project: Path) -> None:
    nb = write_notebook(project / "chain.ipynb", CHAIN)
    from_notebook(nb).run()
    changed = list(CHAIN)
    changed[6] = "%%mlops step scaled\nscaled = [x * scale + 1 for x in clean]"
    write_notebook(nb, changed)

    run = from_notebook(nb).run()

    assert step_states(run) == {"load": "cached", "clean": "cached", "stats": "cached",
                                "scaled": "done", "report": "done"}
    assert run.value("scaled", "scaled") == [1.0, 5.0, 9.0]


def test_a_parameter_reruns_only_the_steps_that_read_it(project: Path) -> None:
    nb = write_notebook(project / "chain.ipynb", CHAIN)
    pipeline = from_notebook(nb)
    pipeline.run()

    run = pipeline.run(parameters={"scale": 3})

    assert step_states(run) == {"load": "cached", "clean": "cached", "stats": "cached",
                                "scaled": "done", "report": "done"}
    assert run.value("scaled", "scaled") == [0.0, 6.0, 12.0]
    assert run.parameters["scale"] == 3.0
    with pytest.raises(UserInputError, match="parameter 'scale' is a number"):
        pipeline.run(parameters={"scale": "big"})


FAILING = [
    "%%mlops step load\nvalues = [1, 2, 0]",
    "%%mlops step side\nother = 'independent of ratios'",
    "%%mlops step ratios\nratios = []\nfor v in values:\n    ratios.append(10 / v)",
    "%%mlops step report\nprint(ratios, other)",
]


def test_a_failing_step_names_its_cell_and_line_and_the_rerun_resumes_there(
        project: Path) -> None:
    nb = write_notebook(project / "fail.ipynb", FAILING)
    before = digest(nb)

    failed = from_notebook(nb).run()

    assert failed.state == "failed"
    assert step_states(failed) == {"load": "done", "side": "done", "ratios": "failed",
                                   "report": "skipped"}
    error = failed.steps["ratios"].error
    assert error is not None
    assert (error["cell"], error["line"]) == (2, 4)  # 0-based cell 2 = the third cell
    assert error["cell_id"] is not None
    assert failed.error == ("step 'ratios' failed at cell 3, line 4 of fail.ipynb: "
                            "ZeroDivisionError: division by zero")
    assert "ZeroDivisionError" in failed.log("ratios")
    assert 'fail.ipynb, cell 3", line 4' in failed.log("ratios")  # the traceback's frame
    assert digest(nb) == before

    fixed = list(FAILING)
    fixed[2] = "%%mlops step ratios\nratios = [10 / v for v in values if v]"
    write_notebook(nb, fixed)
    resumed = from_notebook(nb).run()

    assert resumed.ok
    assert step_states(resumed) == {"load": "cached", "side": "cached", "ratios": "done",
                                    "report": "done"}
    assert "[10.0, 5.0] independent of ratios" in resumed.log("report")


#: steps whose cells use IPython syntax: shell commands, line and cell magics, our own %mlops
MAGICS = [
    "import os\n%env MLOPS_TEST_FLAG=on",
    "%%mlops step listing\nopen('beside.txt', 'w').write('x')\nfiles = !ls\n%time y = 3\n"
    "!echo hello $y {len(files)} {os.environ['MLOPS_TEST_FLAG']}",
    "%%bash\necho from bash",
    "%%mlops step use\n%mlops --help\nt = %timeit -o -n 1 -r 1 sum(range(y))\n"
    "total = y + len(files) + (t.best >= 0)",
    "%%mlops step report\nprint('total', total)",
]


def test_steps_run_their_magics_under_ipython(project: Path) -> None:
    nb = write_notebook(project / "magics.ipynb", MAGICS)
    pipeline = from_notebook(nb)
    assert pipeline.warnings == []

    run = pipeline.run()

    assert run.ok, run.to_text()
    assert "beside.txt" in run.value("listing", "files")  # !ls ran in the notebook's folder
    assert run.value("listing", "y") == 3  # %time ran its statement in the step's namespace
    log = run.log("listing")
    # $y and {…} expanded as in the kernel; the shared cell's %env ran in the step too
    assert f"hello 3 {len(run.value('listing', 'files'))} on" in log
    assert "Wall time" in log and "from bash" in log
    assert run.value("use", "total") == 3 + len(run.value("listing", "files")) + 1
    # no cell loads the extension: %mlops loads it, as `%load_ext jupyter_mlops` would
    assert "usage: %mlops VERB" in run.log("use")
    assert "already loaded" not in run.log("use")


def test_a_failing_magic_line_names_its_cell_and_line(project: Path) -> None:
    nb = write_notebook(project / "bad_magic.ipynb", [
        "%%mlops step a\nx = 1\n%time y = 1 / 0"])
    failed = from_notebook(nb).run()
    assert failed.state == "failed"
    error = failed.steps["a"].error
    assert error is not None
    assert (error["cell"], error["line"]) == (0, 3)
    assert "ZeroDivisionError" in error["message"]


def test_a_python_without_ipython_says_so_for_a_step_with_magics(project: Path,
                                                                 tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    nb = write_notebook(project / "magics.ipynb", ["%%mlops step a\nfiles = !ls"])
    failed = from_notebook(nb).run(python=str(bare / "bin" / "python"))
    assert failed.state == "failed"
    assert failed.error is not None
    assert "cell 1 uses IPython syntax (!, %magic), which runs under IPython" in failed.error
    assert "pip install ipython there" in failed.error


def test_retries_run_a_flaky_step_again(project: Path) -> None:
    nb = write_notebook(project / "flaky.ipynb", [
        "%%mlops step flaky --retries 2\nimport pathlib\n"
        "p = pathlib.Path('attempts.txt')\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\np.write_text(str(n))\n"
        "assert n >= 2, 'first attempt fails'\nresult = n",
        "%%mlops step use\nprint('got', result)",
    ])
    run = from_notebook(nb).run()
    assert run.ok, run.to_text()
    assert run.steps["flaky"].attempts == 2
    assert run.value("flaky", "result") == 2
    assert "retrying" in run.log("flaky")


def test_independent_steps_run_in_parallel(project: Path) -> None:
    # each branch waits until the other has started: only possible when both run at once
    wait_for = ("import pathlib, time\npathlib.Path('{me}.started').write_text('x')\n"
                "deadline = time.monotonic() + 30\n"
                "while not pathlib.Path('{other}.started').exists():\n"
                "    assert time.monotonic() < deadline, 'ran alone'\n    time.sleep(0.02)\n")
    nb = write_notebook(project / "par.ipynb", [
        "%%mlops step start\nseed = 1",
        "%%mlops step left\n" + wait_for.format(me="left", other="right") + "l = seed",
        "%%mlops step right\n" + wait_for.format(me="right", other="left") + "r = seed",
        "%%mlops step join\ntotal = l + r",
    ])
    run = from_notebook(nb).run(max_workers=2)
    assert run.ok, run.to_text()
    assert step_states(run) == dict.fromkeys(["start", "left", "right", "join"], "done")


def test_values_are_saved_by_type_and_come_back_equal(project: Path) -> None:
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    nb = write_notebook(project / "types.ipynb", [
        ("import numpy as np\nimport pandas as pd\nimport torch", ["imports"]),
        "%%mlops step make\n"
        "frame = pd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})\n"
        "series = pd.Series([1.5, 2.5], name='s')\n"
        "array = np.arange(6).reshape(2, 3)\n"
        "tensor = torch.ones(2, 2)\n"
        "net = torch.nn.Linear(2, 1)\n"
        "class Point:\n    def __init__(self, x):\n        self.x = x\n"
        "point = Point(3)\nplain = {'k': [1, 2]}",
        "%%mlops step use\n"
        "checks = (frame.shape, float(series.sum()), int(array.sum()), float(tensor.sum()), "
        "net.in_features, point.x, plain['k'])",
    ])
    run = from_notebook(nb).run()
    assert run.ok, run.to_text()
    formats = {name: ref["format"] for name, ref in run.results["make"]["outputs"].items()}
    assert formats == {"frame": "parquet", "series": "parquet", "array": "npy",
                       "tensor": "torch", "net": "torch", "point": "pickle", "plain": "pickle"}
    frame = run.value("make", "frame")
    assert isinstance(frame, pd.DataFrame) and frame["b"].tolist() == ["x", "y"]
    assert run.value("make", "series").name == "s"
    assert np.array_equal(run.value("make", "array"), np.arange(6).reshape(2, 3))
    assert torch.equal(run.value("make", "tensor"), torch.ones(2, 2))
    assert run.value("make", "point").x == 3  # a class defined in the notebook, by value
    log = run.log("use")
    assert "Traceback" not in log


def test_an_unpicklable_value_fails_the_run_naming_the_variable_and_step(
        project: Path) -> None:
    nb = write_notebook(project / "gen.ipynb", [
        "%%mlops step make\nnumbers = (i * i for i in range(3))",
        "%%mlops step use\ntotal = sum(numbers)",
    ])
    run = from_notebook(nb).run()
    assert run.state == "failed"
    message = run.steps["make"].error["message"]  # type: ignore[index]
    assert message.startswith("cannot hand on 'numbers' (generator)")
    assert "step 'make' failed" in (run.error or "")
    assert run.steps["use"].state == "skipped"


def test_from_reruns_a_step_and_what_follows_and_only_runs_one(project: Path) -> None:
    nb = write_notebook(project / "chain.ipynb", CHAIN)
    pipeline = from_notebook(nb)
    with pytest.raises(UserInputError, match="no step named 'nope'"):
        pipeline.run(from_step="nope")
    missing = pipeline.run(only="report")
    assert missing.state == "failed"
    assert "not in the cache" in (missing.error or "")

    pipeline.run()
    again = pipeline.run(from_step="stats")
    assert step_states(again) == {"load": "cached", "clean": "cached", "stats": "done",
                                  "scaled": "cached", "report": "done"}
    one = pipeline.run(only="scaled")
    assert step_states(one) == {"load": "cached", "clean": "cached", "scaled": "done"}
    with pytest.raises(NotFoundError):
        one.value("report", "summary")


def test_steps_import_modules_beside_the_notebook_as_a_kernel_does(project: Path) -> None:
    (project / "helpers.py").write_text("VALUE = 7\n")
    nb = write_notebook(project / "imp.ipynb", [
        "%%mlops step a\nimport importlib.util\nimport helpers\nvalue = helpers.VALUE\n"
        "# the runtime's own folder is not on the step's path\n"
        "assert importlib.util.find_spec('marks') is None",
        "%%mlops step b\nprint(value)",
    ])
    run = from_notebook(nb).run()
    assert run.ok, run.to_text()
    assert run.value("a", "value") == 7


def test_no_cache_steps_always_run(project: Path) -> None:
    nb = write_notebook(project / "nc.ipynb", [
        "%%mlops step always --no-cache\nimport time\nstamp = time.time()",
        "%%mlops step use\nprint(stamp)",
    ])
    pipeline = from_notebook(nb)
    pipeline.run()
    second = pipeline.run()
    assert second.steps["always"].state == "done"


def test_refresh_runs_every_step_instead_of_taking_the_cache(project: Path) -> None:
    """A retraining started by a monitoring rule reads today's data: nothing from the cache,
    even where the code and parameters did not change."""
    nb = write_notebook(project / "chain.ipynb", CHAIN)
    pipeline = from_notebook(nb)
    assert pipeline.run().ok
    assert step_states(pipeline.run()) == dict.fromkeys(ALL, "cached")

    fresh = pipeline.run(refresh=True)

    assert fresh.ok, fresh.to_text()
    assert step_states(fresh) == dict.fromkeys(ALL, "done")
    assert fresh.value("scaled", "scaled") == [0.0, 4.0, 8.0]


@pytest.fixture(scope="module")
def s3_emulator() -> Iterator[str]:
    """moto's S3 server on loopback (an emulator, not AWS)."""
    pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_artifacts_in_s3_through_the_moto_emulator(project: Path, s3_emulator: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3_emulator,
                        "MLOPS_PIPELINE_ARTIFACTS": "s3://pipes/team"}.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=s3_emulator).create_bucket(Bucket="pipes")
    nb = write_notebook(project / "chain.ipynb", CHAIN)

    first = from_notebook(nb).run()
    second = from_notebook(nb).run()

    assert first.ok, first.to_text()
    assert step_states(second) == dict.fromkeys(ALL, "cached")
    assert second.value("scaled", "scaled") == [0.0, 4.0, 8.0]
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3_emulator).list_objects_v2(
        Bucket="pipes", Prefix="team/chain/cache/")["Contents"]]
    assert any(k.endswith("/scaled.pkl") for k in keys)
    assert any(k.startswith("team/chain/cache/report/") and k.endswith("manifest.json")
               for k in keys)
    # run records and logs stay local, under the project's state folder
    assert Path(first.folder).is_relative_to(project / ".mlops" / "pipelines")


def test_the_runner_process_that_the_panel_starts(project: Path,
                                                  child_env: Any) -> None:
    nb = write_notebook(project / "chain.ipynb", CHAIN)
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.pipeline.runner", str(nb), "--run-id",
         "20990101-000000-abcdef", "--parameters", json.dumps({"n": 3})],
        cwd=project, env=child_env(), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    run = load_run(nb, "20990101-000000-abcdef")
    assert run.state == "done" and run.parameters["n"] == 3
    assert time.time() - run.started < 600
