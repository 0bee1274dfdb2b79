"""The Experiments panel in real JupyterLab: tracked cells run in the browser, their runs in
the sidebar, a run's details, the runs table, the compare view of two runs with its chart,
registering a run's model from the panel, and an unreachable tracking server said plainly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import Lab, screenshot, start_lab, stop_lab
from .helpers import invocations, notebook_text, open_notebook, run_cell, show_panel

pytestmark = pytest.mark.ui

ECHO_MODEL = """import mlflow.pyfunc

class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input):
        return model_input
"""


def tracked_cell(name: str, lr: float, losses: list[float], model: bool = False) -> str:
    lines = [f"%%mlops track --run-name {name}", "import jupyter_mlops as mlops",
             f"mlops.log_params(lr={lr}, epochs={len(losses)})",
             f"for loss in {losses}:", "    mlops.log(loss=loss)",
             f"mlops.log(accuracy={1 - losses[-1]:.2f})"]
    if model:
        lines.append('mlops.log_model(Echo(), "echo")')
    return "\n".join(lines)


CELLS = ["%load_ext jupyter_mlops", ECHO_MODEL,
         tracked_cell("small", 0.1, [1.0, 0.6, 0.4]),
         tracked_cell("large", 0.3, [0.9, 0.3, 0.1], model=True)]
#: the same comparison inline, as the magic shows it
COMPARE_CELLS = ["ids = list(mlops.runs(notebook=True)['run_id'])",
                 "%mlops compare {ids[0]} {ids[1]}"]


@pytest.fixture
def experiments_root(tmp_path: Path) -> Path:
    """A project (its own mlops.toml, so the kernel and the server resolve one store) with
    the notebook in a sub-folder, where Jupyter starts its kernel."""
    root = tmp_path / "root"
    (root / "exp").mkdir(parents=True)
    (root / "mlops.toml").write_text('[tracking]\nexperiment = "ui-runs"\n')
    (root / "exp" / "train.ipynb").write_text(notebook_text(CELLS + COMPARE_CELLS))
    (root / "exp" / "other.ipynb").write_text(notebook_text(["1 + 1"]))
    return root


@pytest.fixture
def experiments_lab(experiments_root: Path, tmp_path: Path) -> Iterator[Lab]:
    running = start_lab(experiments_root, tmp_path)
    yield running
    stop_lab(running)


def test_tracked_cells_show_up_in_the_panel_and_two_runs_compare(
        page: Any, experiments_lab: Lab) -> None:
    notebook = open_notebook(page, experiments_lab, "exp/train.ipynb")
    panel = show_panel(page, "experiments")
    expect(panel.locator('[data-kind="empty"]')).to_contain_text("No runs of this notebook",
                                                         timeout=60_000)

    for index in range(len(CELLS)):
        run_cell(page, notebook, index)
    outputs = notebook.locator(".mlops-run")
    expect(outputs).to_have_count(2, timeout=60_000)
    for i in range(2):
        expect(outputs.nth(i)).to_contain_text("FINISHED")
    expect(notebook.locator(".jp-OutputArea-output[data-mime-type*='error']")).to_have_count(0)

    # the panel lists both runs of this notebook, newest first, without a manual refresh
    runs = panel.locator(".jp-mlops-experiments-run")
    expect(runs).to_have_count(2, timeout=30_000)
    expect(runs.nth(0)).to_contain_text("large")
    expect(runs.nth(1)).to_contain_text("small")
    expect(runs.nth(0)).to_have_attribute("data-status", "FINISHED")
    expect(runs.nth(0).locator('[data-metric="accuracy"]')).to_contain_text("0.9")
    expect(panel.locator(".jp-mlops-experiments-caption")).to_contain_text("train.ipynb")

    # a run's details: params, the model with Register and Deploy, the artifacts
    runs.nth(0).locator(".jp-mlops-experiments-run-name").click()
    details = runs.nth(0).locator(".jp-mlops-experiments-details")
    expect(details).to_contain_text("lr")
    expect(details).to_contain_text("0.3")
    model = details.locator(".jp-mlops-experiments-model")
    expect(model).to_contain_text("echo")
    expect(model.locator('[data-action="deploy"]')).to_be_enabled()
    notebook_folder = details.locator('.jp-mlops-experiments-artifact[data-path="notebook"]')
    expect(notebook_folder).to_be_visible(timeout=20_000)
    notebook_folder.locator("button").click()
    expect(details.locator('[data-path="notebook/train.ipynb"]')).to_be_visible()
    screenshot(page, "experiments-panel", page.locator("#mlops-sidebar"))

    # register the run's model with an alias, from the panel
    model.locator('[data-action="register"]').click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Register the model of large")
    dialog.locator('input[data-field="alias"]').fill("champion")
    screenshot(page, "experiments-register-dialog", dialog.locator(".jp-Dialog-content"))
    dialog.locator(".jp-mod-accept").click()
    expect(page.locator(".Toastify__toast, .jp-toast-message").filter(
        has_text="models:/echo@champion").first).to_be_visible(timeout=30_000)

    # select both, compare: the parameter that differs and a chart of the histories
    for i in range(2):
        runs.nth(i).locator('input[type="checkbox"]').check()
    compare_button = panel.locator('[data-action="compare"]')
    expect(compare_button).to_have_text("Compare (2)")
    compare_button.click()
    view = page.locator(".jp-mlops-experiments-compare")
    expect(view).to_be_visible()
    lr = view.locator('tr[data-param="lr"]')
    expect(lr).to_have_attribute("data-differs", "true")
    expect(lr).to_contain_text("0.1")
    expect(lr).to_contain_text("0.3")
    expect(view.locator('tr[data-param="epochs"]')).to_have_count(0)  # the same in both
    expect(view.locator('tr[data-metric="loss"]')).to_contain_text("0.1")
    chart = view.locator(".jp-mlops-experiments-chart")
    expect(chart.locator("canvas, svg").first).to_be_visible(timeout=30_000)
    screenshot(page, "experiments-compare")

    # the table in the main area, sortable by a metric
    panel.locator('[data-action="open-table"]').click()
    table = page.locator(".jp-mlops-experiments-table-view")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("large")
    table.locator('[data-sort="metrics.loss"]').click()  # descending: the higher loss first
    expect(rows.nth(0)).to_contain_text("small")
    expect(table.locator('td[data-param="lr"]').first).to_have_text("0.1")
    screenshot(page, "experiments-table")

    # %mlops compare in the notebook: the differences table, then the chart
    page.locator(".lm-TabBar-tab", has_text="train.ipynb").click()
    for index in range(len(CELLS), len(CELLS) + len(COMPARE_CELLS)):
        run_cell(page, notebook, index)
    inline = notebook.locator(".jp-Notebook-cell").nth(len(CELLS) + 1)
    expect(inline.locator('.mlops-compare tr[data-param="lr"]')).to_have_attribute(
        "data-differs", "true")
    expect(inline.locator(".jp-RenderedVegaCommon5 canvas, .jp-RenderedVegaCommon5 svg"
                          ).first).to_be_visible(timeout=30_000)
    inline.scroll_into_view_if_needed()
    screenshot(page, "experiments-compare-magic", inline)


def test_another_notebook_has_no_runs_and_the_experiment_shows_a_live_run_end(
        page: Any, experiments_lab: Lab, experiments_root: Path) -> None:
    # runs recorded by another process (a job, another kernel) for exp/train.ipynb
    import subprocess
    import sys

    from tests.conftest import _child_env

    # the run stays RUNNING until the test drops the file "go"
    script = ("import pathlib, time\n"
              "import jupyter_mlops as mlops\n"
              "mlops.start_run(run_name='from-a-job', notebook='train.ipynb')\n"
              "mlops.log(loss=0.5)\n"
              "mlops.flush()\n"
              "while not pathlib.Path('go').exists():\n"
              "    time.sleep(0.2)\n"
              "mlops.end_run()\n")
    job = subprocess.Popen([sys.executable, "-c", script], cwd=experiments_root / "exp",
                           env=_child_env(), stderr=subprocess.PIPE, text=True)
    try:
        open_notebook(page, experiments_lab, "exp/other.ipynb")
        panel = show_panel(page, "experiments")
        expect(panel.locator('[data-kind="empty"]')).to_contain_text(
            "No runs of this notebook", timeout=60_000)
        panel.locator('[data-scope="experiment"]').click()
        runs = panel.locator(".jp-mlops-experiments-run")
        expect(runs).to_have_count(1, timeout=120_000)
        expect(runs.first).to_contain_text("from-a-job")
        expect(runs.first).to_have_attribute("data-status", "RUNNING")
        caption = panel.locator(".jp-mlops-experiments-caption")
        expect(caption).to_contain_text("ui-runs")
        expect(caption).to_contain_text("a run is active")
        (experiments_root / "exp" / "go").touch()
        assert job.wait(120) == 0, job.stderr.read() if job.stderr else ""
        # nobody clicks anything: the panel polls while a run is active
        expect(runs.first).to_have_attribute("data-status", "FINISHED", timeout=30_000)
        expect(caption).not_to_contain_text("a run is active")
    finally:
        job.kill()


def test_an_unreachable_tracking_server_is_said_in_the_panel(
        page: Any, experiments_root: Path, tmp_path: Path, closed_port_url: str) -> None:
    (experiments_root / "mlops.toml").write_text(f'[tracking]\nuri = "{closed_port_url}"\n')
    lab = start_lab(experiments_root, tmp_path)
    try:
        open_notebook(page, lab, "exp/other.ipynb")
        panel = show_panel(page, "experiments")
        error = panel.locator(".jp-mlops-experiments-error")
        expect(error).to_contain_text(f"tracking server {closed_port_url} is unreachable",
                                      timeout=30_000)
        expect(error).to_contain_text("tracking.uri")
        screenshot(page, "experiments-unreachable", panel)
    finally:
        stop_lab(lab)


DEPLOY_TIMEOUT = 240_000  # ms: a model process starting on a busy 2-core machine
ROWS = [{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 0.0}, {"a": -1.5, "b": 4.0}]


def log_sklearn_run(root: Path) -> tuple[str, Any]:
    """A run of the root's experiment with a fitted scikit-learn model, logged from here into
    ``<root>/.mlops/mlflow.db`` (where the server resolves this root's store)."""
    import os

    import mlflow
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    from jupyter_mlops.config import load_config
    from jupyter_mlops.tracking.store import ensure_experiment, tracking_uri

    saved = {k: os.environ.pop(k) for k in list(os.environ)
             if k.startswith(("MLOPS_", "MLFLOW_", "AWS_"))}
    config = load_config(root)
    uri = tracking_uri(config)
    assert uri == f"sqlite:///{root / '.mlops' / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.set_experiment(experiment_id=ensure_experiment(config, "ui-runs"))
        X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 2.0]})
        fitted = LinearRegression().fit(X, 2.0 * X["a"] - X["b"] + 0.5)
        with mlflow.start_run(run_name="to-deploy") as run:
            mlflow.log_param("alpha", 1)
            mlflow.sklearn.log_model(fitted, name="model", input_example=X[:2],
                                     pip_requirements=["scikit-learn"])
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        os.environ.update(saved)
    return run.info.run_id, fitted


@pytest.mark.timeout(900)
def test_deploy_button_on_a_run_deploys_its_model_and_the_endpoint_answers(
        page: Any, experiments_lab: Lab, experiments_root: Path) -> None:
    import pandas as pd

    from jupyter_mlops.deploy import deployments, undeploy

    run_id, fitted = log_sklearn_run(experiments_root)
    try:
        open_notebook(page, experiments_lab, "exp/other.ipynb")
        panel = show_panel(page, "experiments")
        panel.locator('[data-scope="experiment"]').click()
        run = panel.locator(f'.jp-mlops-experiments-run[data-run-id="{run_id}"]')
        expect(run).to_have_count(1, timeout=60_000)
        expect(run).to_contain_text("to-deploy")
        run.locator(".jp-mlops-experiments-run-name").click()
        # logged through MLflow's own API: named as it was logged, its URI by the model's id
        model = run.locator(".jp-mlops-experiments-model")
        expect(model).to_have_count(1)
        expect(model.locator(".jp-mlops-experiments-model-name")).to_have_text("model")
        uri = model.get_attribute("data-model-uri") or ""
        assert uri.startswith("models:/m-"), uri
        button = model.locator('[data-action="deploy"]')
        expect(button).to_be_enabled()
        button.click()

        # one click: the Deploy panel shows the deploy's progress, then the deployment
        deploy_panel = page.locator("#mlops-panel-deploy")
        expect(deploy_panel).to_be_visible()
        task = deploy_panel.locator(".jp-mlops-deploy-task").first
        expect(task).to_contain_text(f"Deploying {uri}")
        expect(task).to_have_attribute("data-state", "running")  # a model process starts
        expect(task.locator(".jp-mlops-deploy-progress li").first).to_contain_text(
            "resolving")
        expect(task).to_have_attribute("data-state", "done", timeout=DEPLOY_TIMEOUT)
        found = deployments(check=False, cwd=experiments_root)
        assert len(found) == 1, [d.name for d in found]
        deployed = found[0]
        assert deployed.status == "serving" and deployed.url
        expect(task.locator(".jp-mlops-deploy-result a")).to_have_attribute(
            "href", f"{deployed.url}/")  # as safeHref normalises it
        card = deploy_panel.locator(f'[data-deployment="{deployed.name}"]')
        expect(card).to_have_attribute("data-status", "serving", timeout=30_000)
        expect(card.locator('[data-field="health"]')).to_have_text("ok")
        # the run's own row says where its model went
        state = run.locator(".jp-mlops-experiments-deploy-state")
        expect(state).to_have_attribute("data-state", "done")
        expect(state).to_contain_text(deployed.name)
        card.scroll_into_view_if_needed()
        screenshot(page, "experiments-deploy", deploy_panel)

        # the endpoint answers with the model's own predictions
        expected = [float(v) for v in fitted.predict(pd.DataFrame(ROWS))]
        shown = invocations(deployed.url, ROWS)
        assert len(shown) == len(expected)
        for got, want in zip(shown, expected, strict=True):
            assert abs(got - want) <= 1e-5 * max(1.0, abs(want)), (shown, expected)
    finally:
        for deployment in deployments(check=False, cwd=experiments_root):
            try:
                undeploy(deployment.name, cwd=experiments_root)
            except Exception as exc:  # pragma: no cover - reported, not hidden
                print(f"could not undeploy {deployment.name}: {exc}")
