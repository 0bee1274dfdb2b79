"""A sweep in real JupyterLab, tracked to a real ``mlflow server``: ``%%mlops sweep`` run in
the browser ends its live progress output as the table of the best trials; the Experiments
panel shows the sweep as one row that opens into its trials, draws the optimization history
and the parallel coordinates, and registers the best trial's model as champion."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import Lab, screenshot, start_lab, stop_lab
from .helpers import cell, notebook_json, open_notebook, run_cell, show_panel

pytestmark = pytest.mark.ui

TRIALS = 6
CELLS = [
    "%load_ext jupyter_mlops",
    "import mlflow.pyfunc\n\n"
    "class Echo(mlflow.pyfunc.PythonModel):\n"
    "    def predict(self, context, model_input):\n"
    "        return model_input\n",
    "x = 0.0  # sweep: uniform(-5, 5)\n"
    "y = 0.0  # sweep: uniform(-5, 5)\n",
    f"%%mlops sweep --trials {TRIALS} --sampler random --seed 3 --pruner none --name ui-sweep\n"
    "import jupyter_mlops as mlops\n"
    "mlops.log(loss=(x - 2) ** 2 + (y + 1) ** 2)\n"
    'mlops.log_model(Echo(), "echo")\n',
]


@pytest.fixture
def sweep_lab(tmp_path: Path, tracking_server: str) -> Iterator[Lab]:
    """A project tracking to the session's ``mlflow server`` (an experiment of its own) with
    a notebook whose third cell is its ``parameters`` cell."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "mlops.toml").write_text(
        f'[tracking]\nuri = "{tracking_server}"\nexperiment = "ui-sweep"\n')
    notebook = notebook_json(CELLS)
    notebook["cells"][2]["metadata"]["tags"] = ["parameters"]
    (root / "train.ipynb").write_text(json.dumps(notebook))
    running = start_lab(root, tmp_path)
    yield running
    stop_lab(running)


def test_a_sweep_is_one_row_that_opens_into_its_trials_charts_and_register_best(
        page: Any, sweep_lab: Lab, tracking_server: str) -> None:
    notebook = open_notebook(page, sweep_lab, "train.ipynb")
    for index in range(len(CELLS) - 1):
        run_cell(page, notebook, index, timeout=300_000)
    panel = show_panel(page, "experiments")
    runs = panel.locator(".jp-mlops-experiments-run")

    # while the sweep runs: its line shows a running trial, opened it is live
    sweep_cell = cell(notebook, len(CELLS) - 1)
    sweep_cell.locator(".jp-InputPrompt").click()
    page.keyboard.press("Shift+Enter")
    live = sweep_cell.locator(".jp-OutputArea-output").filter(has_text="trials ·")
    expect(live).to_contain_text("1 running", timeout=30_000)  # the notebook's live table
    expect(runs.first.locator(".jp-mlops-sweep-badge")).to_contain_text("1 running",
                                                                        timeout=30_000)
    expect(runs).to_have_count(1)  # its trials are not lines of their own
    runs.first.locator(".jp-mlops-experiments-run-name").click()
    expect(runs.first.locator(".jp-mlops-sweep")).to_have_attribute("data-active", "true")
    expect(sweep_cell.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]"),
                                                               timeout=300_000)

    # the live progress ended as one output: the summary and the best trials
    outputs = notebook.locator(".jp-Notebook-cell").nth(3).locator(".jp-OutputArea-output")
    final = outputs.filter(has_text="best trials")
    expect(final).to_have_count(1, timeout=30_000)
    expect(final).to_contain_text(f"sweep 'ui-sweep' (minimize loss): {TRIALS} trials")
    expect(final.locator("tr[data-state='complete']")).to_have_count(TRIALS)
    expect(notebook.locator(".jp-OutputArea-output[data-mime-type*='error']")).to_have_count(0)

    # one row in the panel: the sweep, its trials counted, followed to its end without a
    # refresh
    expect(runs).to_have_count(1)
    row = runs.first
    expect(row).to_have_attribute("data-status", "FINISHED", timeout=30_000)
    expect(row.locator(".jp-mlops-sweep-badge")).to_have_text(
        f"sweep · {TRIALS} of {TRIALS} trials")

    # opened: every trial with its state, value and params
    sweep = row.locator(".jp-mlops-sweep")
    expect(sweep).to_have_attribute("data-active", "false", timeout=30_000)
    trials = sweep.locator(".jp-mlops-sweep-trials tbody tr")
    expect(trials).to_have_count(TRIALS, timeout=30_000)
    expect(sweep.locator(".jp-mlops-sweep-trials thead")).to_contain_text("loss")
    for number in range(TRIALS):
        trial = trials.nth(number)
        expect(trial).to_have_attribute("data-trial", str(number))
        expect(trial).to_have_attribute("data-state", "complete")
        expect(trial.locator("[data-value]")).to_have_text(re.compile(r"^\d"))
        expect(trial.locator('[data-param="x"]')).to_have_text(re.compile(r"^-?\d"))
    best = sweep.locator("tr.jp-mod-best")
    expect(best).to_have_count(1)
    best_run = best.get_attribute("data-run-id")
    expect(sweep.locator('[data-kind="best"]')).to_contain_text(
        f"(trial {best.get_attribute('data-trial')})")

    # both charts drawn by JupyterLab's Vega-Lite renderer
    for chart in ("history", "parallel"):
        figure = sweep.locator(f'.jp-mlops-sweep-chart[data-chart="{chart}"]')
        expect(figure.locator("svg").first).to_be_visible(timeout=30_000)
        expect(figure.locator(".mark-line path, .mark-symbol path").first).to_be_attached()
    # the parallel coordinates: one line per trial
    expect(sweep.locator('[data-chart="parallel"] .mark-line path')).to_have_count(TRIALS)
    for chart in ("history", "parallel"):
        figure = sweep.locator(f'.jp-mlops-sweep-chart[data-chart="{chart}"]')
        figure.scroll_into_view_if_needed()
        screenshot(page, f"experiments-sweep-{chart}", figure)

    # Register best: the best trial's model, alias champion
    sweep.locator('[data-action="register-best"]').click()
    state = sweep.locator('[data-kind="register"]')
    expect(state).to_have_attribute("data-state", "done", timeout=60_000)
    expect(state).to_contain_text("models:/echo@champion")
    from mlflow import MlflowClient

    version = MlflowClient(tracking_server).get_model_version_by_alias("echo", "champion")
    assert version.run_id == best_run
    expect(sweep.locator('[data-action="deploy-best"]')).to_be_enabled()

    # the runs table too has the sweep as one row
    panel.locator('[data-action="open-table"]').click()
    table = page.locator(".jp-mlops-experiments-table-view")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator(".jp-mlops-sweep-badge")).to_have_text(
        f"sweep · {TRIALS} of {TRIALS} trials")
