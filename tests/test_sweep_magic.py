"""``%%mlops sweep`` in a real IPython shell over a real notebook's ``parameters`` cell,
tracking to a real ``mlflow server``: the cell runs once per trial with the trial's values,
the parameters' values are restored after, and each bad input is one line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

import jupyter_mlops as mlops
from jupyter_mlops.sweep import Sweep
from jupyter_mlops.sweep.verbs import SweepWarning

from .shell_fixtures import one_line_error, run

pytestmark = pytest.mark.usefixtures("tracking_reset")

PARAMETERS = ("x = 0.0  # sweep: uniform(-5, 5)\n"
              "y = 0.0  # sweep: uniform(-5, 5)\n"
              "epochs = 3\n")
TRAIN = ("import jupyter_mlops as mlops\n"
         "seen.append((x, y))\n"
         "for epoch in range(epochs):\n"
         "    mlops.log(loss=(x - 2) ** 2 + (y + 1) ** 2 + 1 / (epoch + 1))\n")


def notebook(project: Path, parameters: str = PARAMETERS) -> Path:
    cells = [
        {"cell_type": "code", "id": "imports", "metadata": {}, "outputs": [],
         "execution_count": None, "source": "import jupyter_mlops as mlops\n"},
        {"cell_type": "code", "id": "params", "metadata": {"tags": ["parameters"]},
         "outputs": [], "execution_count": None, "source": parameters},
        {"cell_type": "code", "id": "train", "metadata": {}, "outputs": [],
         "execution_count": None, "source": "%%mlops sweep --trials 5\n" + TRAIN},
    ]
    path = project / "train.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))
    return path


@pytest.fixture
def shell(shell: InteractiveShell, tracking_server: str, project: Path,
          monkeypatch: pytest.MonkeyPatch) -> InteractiveShell:
    """The shared shell tracking to the session's server, running train.ipynb's kernel: its
    parameters cell has run."""
    monkeypatch.setenv("MLOPS_TRACKING_URI", tracking_server)
    shell.user_ns["__session__"] = str(notebook(project))
    run(shell, "seen = []\n" + PARAMETERS)
    return shell


def client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(uri)


def children(uri: str, result: Sweep) -> list[Any]:
    parent = client(uri).get_run(result.run_id)
    return list(client(uri).search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'"))


def test_the_cell_runs_once_per_trial_with_the_annotated_parameters(
        shell: InteractiveShell, tracking_server: str) -> None:
    result = run(shell, "%%mlops sweep --trials 6 --sampler random --seed 2 --pruner none\n"
                 + TRAIN)

    assert isinstance(result, Sweep)
    seen = shell.user_ns["seen"]
    assert len(seen) == 6 and len(set(seen)) == 6  # each trial its own values
    assert all(-5 <= x <= 5 and -5 <= y <= 5 for x, y in seen)
    assert (shell.user_ns["x"], shell.user_ns["y"]) == (0.0, 0.0)  # restored after
    assert result.name == "train-1"
    best = result.best_params
    assert best is not None and (best["x"], best["y"]) in seen
    runs = children(tracking_server, result)
    assert len(runs) == 6 and {r.info.status for r in runs} == {"FINISHED"}
    one = client(tracking_server).get_run(result.best_run_id)
    history = client(tracking_server).get_metric_history(one.info.run_id, "loss")
    assert [m.step for m in history] == [0, 1, 2]  # the full history of the trial
    assert result.best_value == pytest.approx(history[-1].value)  # the last value logged
    assert float(one.data.params["x"]) == pytest.approx(best["x"])
    assert one.data.tags["mlops.notebook.name"] == "train.ipynb"
    assert mlops.active_run() is None
    assert "best: loss = " in shell.display_formatter.format(result)[0]["text/plain"]


def test_space_from_the_magic_and_resume_of_the_notebooks_latest_study(
        shell: InteractiveShell, tracking_server: str) -> None:
    cell = "%%mlops sweep --trials 2 --space \"y=choice(-1, 3)\" --pruner none{}\n" + TRAIN
    first = run(shell, cell.format(""))
    again = run(shell, cell.format(" --resume"))

    assert again.name == first.name == "train-1"
    assert len(again.trials) == 4
    assert {y for _, y in shell.user_ns["seen"]} <= {-1, 3}
    assert all(p.keys() == {"y"} for p in again.trials["params"])  # --space, no annotations
    assert {p["y"] for p in again.trials["params"]} <= {-1, 3}
    assert {x for x, _ in shell.user_ns["seen"]} == {0.0}


def test_a_raising_cell_fails_its_trial_and_the_sweep_goes_on(
        shell: InteractiveShell, tracking_server: str) -> None:
    result = run(shell, "%%mlops sweep --trials 4 --sampler random --seed 5 --pruner none "
                        "--space \"x=uniform(-5, 5)\"\n"
                 "import jupyter_mlops as mlops\n"
                 "if x > 0:\n"
                 "    raise ValueError('x must not be positive')\n"
                 "mlops.log(loss=x * x)\n")

    states = list(result.trials["state"])
    assert len(states) == 4 and "fail" in states
    failed = [r for r in children(tracking_server, result) if r.info.status == "FAILED"]
    assert failed[0].data.tags["mlops.error"] == "ValueError: x must not be positive"
    assert shell.user_ns["x"] == 0.0 and mlops.active_run() is None


def test_pruned_trials_show_one_line_each_and_are_killed(
        shell: InteractiveShell, tracking_server: str, capsys: pytest.CaptureFixture[str]
        ) -> None:
    result = run(shell, "%%mlops sweep --trials 14 --sampler random --seed 0 "
                        "--space \"x=uniform(-10, 10)\"\n"
                        "import jupyter_mlops as mlops\n"
                        "for step in range(6):\n"
                        "    mlops.log(loss=abs(x) + 1 / (step + 1))\n")

    pruned = list(result.trials["state"]).count("pruned")
    assert pruned >= 2
    shown = capsys.readouterr().out
    assert shown.count("mlops sweep: trial pruned at step") == pruned
    assert "Traceback" not in shown and "_Pruned" not in shown
    killed = [r for r in children(tracking_server, result) if r.info.status == "KILLED"]
    assert len(killed) == pruned
    assert {r.data.tags["mlops.sweep.state"] for r in killed} == {"pruned"}


def test_a_metric_the_cell_never_logs_fails_each_trial_with_that_message(
        shell: InteractiveShell, tracking_server: str) -> None:
    result = run(shell, "%%mlops sweep --trials 2 --metric accuracy\n" + TRAIN)

    assert list(result.trials["state"]) == ["fail", "fail"]
    assert "no trial completed" in result.to_text()
    assert {r.data.tags["mlops.error"] for r in children(tracking_server, result)} == {
        "MetricNotLogged: the trial never logged metric 'accuracy' with mlops.log"}


def test_an_interrupted_sweep_leaves_no_run_active_and_restores_the_parameters(
        shell: InteractiveShell, tracking_server: str) -> None:
    with pytest.raises(KeyboardInterrupt):
        run(shell, "%%mlops sweep --trials 5 --name stopped --space \"x=uniform(-5, 5)\"\n"
                   "import jupyter_mlops as mlops\n"
                   "mlops.log(loss=x)\n"
                   "seen.append(x)\n"
                   "if len(seen) == 2:\n"
                   "    raise KeyboardInterrupt\n")

    assert len(shell.user_ns["seen"]) == 2
    assert shell.user_ns["x"] == 0.0 and mlops.active_run() is None
    experiment = client(tracking_server).get_experiment_by_name("proj")
    runs = client(tracking_server).search_runs([experiment.experiment_id],
                                               "attributes.run_name LIKE 'stopped%'")
    assert sorted(r.info.status for r in runs) == ["FINISHED", "KILLED", "KILLED"]


def test_a_parameter_the_cell_never_reads_is_a_warning(shell: InteractiveShell) -> None:
    with pytest.warns(SweepWarning, match="the cell never reads parameter 'epochs'"):
        result = run(shell, "%%mlops sweep --trials 1 --space \"epochs=integer(1, 3)\"\n"
                     "import jupyter_mlops as mlops\nmlops.log(loss=1.0)\n")
    assert len(result.trials) == 1


def test_the_best_trials_model_is_registered_as_champion(
        shell: InteractiveShell, tracking_server: str) -> None:
    run(shell, "class Scaler:\n"
               "    def __init__(self, k):\n"
               "        self.k = k\n"
               "    def __call__(self, model_input: list[float]) -> list[float]:\n"
               "        return [self.k * v for v in model_input]\n")
    result = run(shell, "%%mlops sweep --trials 2 --space \"x=choice(1.0, 2.0)\" "
                        "--sampler grid --register scaler\n"
                        "import jupyter_mlops as mlops\n"
                        "mlops.log(loss=abs(x - 2))\n"
                        "mlops.log_model(Scaler(x), 'scaler', input_example=[1.0])\n")

    assert result.best_params == {"x": 2.0}
    version = client(tracking_server).get_model_version_by_alias("scaler", "champion")
    assert version.run_id == result.best_run_id


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("line", "message"), [
    ("--trials 2 --space \"lr=loguniform(1e-4,1e-1)\"",
     "parameter lr not in the parameters cell (epochs, x, y): sweep only the parameters it "
     "sets"),
    ("--trials 2 --space \"x=uniform(1\"", "--space: cannot read 'x=uniform(1'"),
    ("--trials 2 --jobs 999", "jobs=999 is more than the "),
    ("--trials 2 --space \"epochs=uniform(1, 9)\"",
     "epochs=uniform(1, 9): parameter 'epochs' is an integer, not float 1.0 (its value in the "
     "parameters cell is 3)"),
    ("--trials 2 --space \"x=choice(relu, 0.5)\"",
     "x=choice('relu', 0.5): parameter 'x' is a number, not str 'relu'"),
    ("--trials 0", "argument --trials: must be at least 1, not '0'"),
    ("--trials 2 --direction up", "argument --direction: invalid choice: 'up'"),
])
def test_bad_input_is_one_line(shell: InteractiveShell, line: str, message: str) -> None:
    text = one_line_error(shell, f"%%mlops sweep {line}\n" + TRAIN)
    assert text.startswith(message), text
    assert shell.user_ns["seen"] == [] and mlops.active_run() is None


def test_a_study_of_the_other_direction_is_one_line(shell: InteractiveShell) -> None:
    run(shell, "%%mlops sweep --trials 1 --name both\n" + TRAIN)

    text = one_line_error(shell, "%%mlops sweep --trials 1 --name both --resume "
                                 "--direction maximize\n" + TRAIN)
    assert text == ("study 'both' exists and minimizes its metric; this sweep asks to "
                    "maximize: give another --name")


def test_without_a_notebook_or_a_parameters_cell_it_says_so(
        shell: InteractiveShell, project: Path) -> None:
    del shell.user_ns["__session__"]
    assert one_line_error(shell, "%%mlops sweep --trials 1\n" + TRAIN).startswith(
        "%%mlops sweep reads the notebook's parameters cell, and this kernel's notebook is "
        "not known")
    bare = project / "bare.ipynb"
    bare.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))
    shell.user_ns["__session__"] = str(bare)
    assert one_line_error(shell, "%%mlops sweep --trials 1\n" + TRAIN) == (
        "bare.ipynb has no cell tagged 'parameters': tag the cell that sets the values to "
        "sweep")
    notebook(project, "x = 0.0  # sweep: gauss(0, 1)\n")
    shell.user_ns["__session__"] = str(project / "train.ipynb")
    assert one_line_error(shell, "%%mlops sweep --trials 1\n" + TRAIN).startswith(
        "train.ipynb cell 2: parameters cell, line 1 (x): 'gauss(0, 1)': unknown distribution")


def test_parsing_the_verb_loads_no_capability_module(
        child_env: Callable[..., dict[str, str]]) -> None:
    code = textwrap.dedent("""
        import json, sys
        from jupyter_mlops.commands import CAPABILITY_PACKAGES, parse
        parse(["sweep", "--trials", "3"], "magic", "%mlops")
        print(json.dumps(sorted(m for m in sys.modules if m.startswith("jupyter_mlops.")
                                and m.rpartition(".")[0] in (*CAPABILITY_PACKAGES,
                                                              "jupyter_mlops.sweep"))))
        print("optuna" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True,
                          text=True, timeout=60, check=False)

    assert done.returncode == 0, done.stderr[-2000:]
    loaded, optuna = done.stdout.splitlines()[-2:]
    assert json.loads(loaded) == ["jupyter_mlops.sweep.space", "jupyter_mlops.sweep.study",
                                  "jupyter_mlops.sweep.verbs"]  # no capability's modules
    assert optuna == "False"
