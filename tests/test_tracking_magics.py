"""``%%mlops track``, ``%mlops track start|end`` and ``%mlops param`` in a real IPython shell,
and a notebook that uses them executed end to end by nbclient against a real tracking
server."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import jupyter_mlops as mlops
from jupyter_mlops.tracking import RunSummary

from .shell_fixtures import run

pytestmark = pytest.mark.usefixtures("tracking_reset")


@pytest.fixture
def shell(shell: InteractiveShell, tracking_server: str, monkeypatch: pytest.MonkeyPatch
          ) -> InteractiveShell:
    """The shared shell, tracking to the session's ``mlflow server``."""
    monkeypatch.setenv("MLOPS_TRACKING_URI", tracking_server)
    return shell


def client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(uri)


def steps(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client(uri).get_metric_history(run_id, key))


def cell_sources(uri: str, run_id: str, folder: Path) -> list[str]:
    found = client(uri).list_artifacts(run_id, "cells")
    return [Path(client(uri).download_artifacts(run_id, item.path, str(folder))).read_text()
            for item in found]


# --------------------------------------------------------------------------- %%mlops track


def test_a_tracked_cell_runs_inside_a_run_that_it_ends(
        shell: InteractiveShell, tracking_server: str, project: Path) -> None:
    body = ("import jupyter_mlops as mlops\n"
            "for epoch in range(3):\n"
            "    mlops.log(loss=1 / (epoch + 1))\n"
            "trained = True\n")
    summary = run(shell, "%%mlops track --experiment magics --run-name first\n" + body)

    assert isinstance(summary, RunSummary)
    assert summary.status == "FINISHED" and summary.flush.done
    assert shell.user_ns["trained"] is True  # the cell ran in the user's namespace
    assert mlops.active_run() is None
    stored = client(tracking_server).get_run(summary.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.run_name == "first"
    assert steps(tracking_server, summary.run_id, "loss") == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert cell_sources(tracking_server, summary.run_id, project) == [body]
    html = shell.display_formatter.format(summary)[0]["text/html"]
    assert f'data-run-id="{summary.run_id}"' in html and "FINISHED" in html


def test_a_raising_cell_fails_its_run_leaves_none_active_and_the_next_cell_works(
        shell: InteractiveShell, tracking_server: str, capsys: pytest.CaptureFixture[str]
        ) -> None:
    with pytest.raises(UsageError) as caught:
        run(shell, "%%mlops track --run-name broken\n"
                   "import jupyter_mlops as mlops\n"
                   "mlops.log(loss=2.0)\n"
                   "raise ValueError('bad batch')\n")

    message = str(caught.value)
    assert message.startswith("the tracked cell raised ValueError: bad batch; run ")
    assert message.endswith(" is marked FAILED")
    shown = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    assert shown.count("ValueError: bad batch") == 1  # the cell's own traceback, once
    assert mlops.active_run() is None
    failed_id = message.split("; run ")[1].split(" ")[0]
    failed = client(tracking_server).get_run(failed_id)
    assert failed.info.status == "FAILED"
    assert failed.data.tags["mlops.error"] == "ValueError: bad batch"
    assert steps(tracking_server, failed_id, "loss") == [(0, 2.0)]  # logged before the error

    summary = run(shell, "%%mlops track --run-name broken\nmlops.log(loss=1.0)\n")
    assert summary.status == "FINISHED"
    assert summary.run_id != failed_id  # a fresh run
    assert client(tracking_server).get_run(summary.run_id).info.status == "FINISHED"


def test_running_a_cell_again_starts_a_fresh_run_unless_resume(
        shell: InteractiveShell, tracking_server: str) -> None:
    cell = "%%mlops track{flag}\nimport jupyter_mlops as mlops\nmlops.log(loss=0.5)\n"
    first = run(shell, cell.format(flag=""))
    second = run(shell, cell.format(flag=""))
    resumed = run(shell, cell.format(flag=" --resume"))
    by_id = run(shell, cell.format(flag=f" --resume {first.run_id}"))

    assert first.run_id != second.run_id
    assert resumed.run_id == second.run_id  # the run this cell started last
    assert by_id.run_id == first.run_id
    assert steps(tracking_server, second.run_id, "loss") == [(0, 0.5), (1, 0.5)]
    assert client(tracking_server).get_run(second.run_id).info.status == "FINISHED"


def test_a_nested_tracked_cell_runs_inside_the_spanning_run(
        shell: InteractiveShell, tracking_server: str, project: Path) -> None:
    hooked = list(shell.events.callbacks["pre_run_cell"])
    parent = run(shell, "%mlops track start --run-name sweep")
    run(shell, "%mlops param batch=64 optimizer=adam")
    child = run(shell, "%%mlops track --nested --run-name trial\n"
                       "import jupyter_mlops as mlops\nmlops.log(acc=0.9)\n")
    run(shell, "x = 41 + 1")
    assert mlops.active_run() is parent
    ended = run(shell, "%mlops track end")
    assert shell.events.callbacks["pre_run_cell"] == hooked  # its cell recorder went with it

    assert ended.status == "FINISHED" and ended.run_id == parent.run_id
    assert mlops.active_run() is None
    stored = client(tracking_server).get_run(parent.run_id)
    assert stored.data.params == {"batch": "64", "optimizer": "adam"}
    assert stored.info.status == "FINISHED"
    nested = client(tracking_server).get_run(child.run_id)
    assert nested.data.tags["mlflow.parentRunId"] == parent.run_id
    # the cells that ran while the spanning run was active are kept with it
    sources = cell_sources(tracking_server, parent.run_id, project)
    assert "x = 41 + 1" in sources
    assert "%mlops param batch=64 optimizer=adam" in sources


def test_track_line_and_cell_forms_are_checked(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match=r"use '%%mlops track' as a cell magic"):
        run(shell, "%mlops track")
    with pytest.raises(UsageError, match="the cell form takes no start/end"):
        run(shell, "%%mlops track start\nx = 1\n")
    with pytest.raises(UsageError, match="no active run"):
        run(shell, "%mlops track end")
    with pytest.raises(UsageError, match="no active run"):
        run(shell, "%mlops param lr=0.1")
    run(shell, "%mlops track start")
    with pytest.raises(UsageError, match="is active: end it first"):
        run(shell, "%%mlops track\nx = 1\n")
    with pytest.raises(UsageError, match="'lr' is not KEY=VALUE"):
        run(shell, "%mlops param lr")
    with pytest.raises(UsageError, match="argument --status: invalid choice"):
        run(shell, "%mlops track end --status DONE")
    assert run(shell, "%mlops track end --status KILLED").status == "KILLED"


def test_track_help_lists_its_options(shell: InteractiveShell,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    run(shell, "%mlops track --help")
    out = capsys.readouterr().out
    for option in ("--experiment NAME", "--run-name NAME", "--nested", "--resume [RUN_ID]"):
        assert option in out


# --------------------------------------------------------------------------- a notebook


def _cell(source: str, tags: list[str] | None = None) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": None, "metadata": {"tags": tags or []},
            "outputs": [], "source": source}


def test_a_notebook_with_tracked_cells_runs_end_to_end_under_nbclient(
        project: Path, tracking_server: str, child_env: Callable[..., dict[str, str]]) -> None:
    import nbformat
    from nbclient import NotebookClient

    cells = [
        _cell("epochs = 3\nlr = 0.1\n", ["parameters"]),
        _cell("epochs = 4\n", ["injected-parameters"]),
        _cell("%load_ext jupyter_mlops\nimport jupyter_mlops as mlops"),
        _cell("%%mlops track --experiment nb --run-name train\n"
              "for epoch in range(epochs):\n"
              "    mlops.log(loss=lr / (epoch + 1))\n"),
        _cell("%%mlops track --experiment nb --run-name broken\n1 / 0\n", ["raises-exception"]),
        _cell("assert mlops.active_run() is None\n"
              "%mlops track start --experiment nb --run-name spanning\n"),
        _cell("mlops.log(acc=0.5)\n"),
        _cell("summary = %mlops track end\nprint(summary.status, summary.run_id)\n"),
    ]
    nb = {"cells": [{**c, "id": f"c{i}"} for i, c in enumerate(cells)],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path = project / "train.ipynb"
    path.write_text(json.dumps(nb))
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    env = child_env({"MLOPS_TRACKING_URI": tracking_server, "JPY_SESSION_NAME": str(path)})

    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(project)}}).execute(env=env)

    printed = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    assert printed.startswith("FINISHED ")
    runs = client(tracking_server).search_runs(
        [client(tracking_server).get_experiment_by_name("nb").experiment_id],
        f"tags.`mlops.notebook.path` = '{path.resolve()}'")
    by_name = {r.info.run_name: r for r in runs}
    assert {name: r.info.status for name, r in by_name.items()} == {
        "train": "FINISHED", "broken": "FAILED", "spanning": "FINISHED"}
    train = by_name["train"]
    assert train.data.params == {"epochs": "4", "lr": "0.1"}  # papermill's values
    assert train.data.tags["mlflow.source.type"] == "NOTEBOOK"
    assert train.data.tags["mlflow.source.name"] == str(path.resolve())
    assert steps(tracking_server, train.info.run_id, "loss") == [
        (0, 0.1), (1, 0.05), (2, 0.1 / 3), (3, 0.025)]
    assert by_name["broken"].data.tags["mlops.error"] == "ZeroDivisionError: division by zero"
    assert printed.split()[1] == by_name["spanning"].info.run_id
    names = [a.path for a in client(tracking_server).list_artifacts(train.info.run_id,
                                                                     "notebook")]
    assert names == ["notebook/train.ipynb"]
