"""Monitor II in the Monitor panel, in real JupyterLab: a deployment without a reference says
how to give one (the server's line, as it is); with the training frame as its reference and
live traffic in which one feature is shifted by one standard deviation, the drift table shows
that feature's row red and the others green; a click on a row draws its reference and current
histograms (JupyterLab's Vega-Lite renderer); "Check now" evaluates a drift rule, which fires
and starts its retraining notebook, and says so in one line; the rule shows its last firing and
how the retraining went; labels make a performance chart with the training value as a rule.

Real parts throughout: a scikit-learn model logged in a tracked MLflow run of the project's
embedded store, deployed over REST and served by a real serving process whose inference log
the server reads; the reference stored on that run by ``mlops.monitor.set_reference``; the
rule's retraining run by the local pipeline runner.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import Lab, screenshot, start_lab, stop_lab
from .helpers import notebook_text, open_lab, show_panel
from .monitor_helpers import api, deploy, only_open, send, split, undeploy_all

pytestmark = [pytest.mark.ui, pytest.mark.timeout(900)]

NAME = "ui-drift"
MODEL = "ui-drift-model"
FEATURES = ("a", "b", "c")
SHIFTED = "a"
REFERENCE_ROWS = 2000
REQUESTS, ROWS_PER_REQUEST = 40, 25
RETRAIN = ["%%mlops step retrain\nprint('retrained')"]


@dataclass
class Project:
    root: Path
    run_id: str
    reference: Any  # the training frame (pandas)
    model: Any  # the fitted estimator
    training_rmse: float


class CleanEnv:
    """The test process's MLOPS_/MLFLOW_/AWS_ settings set aside, so that the project's own
    configuration (its embedded store) is what the library resolves, as the server does."""

    def __enter__(self) -> CleanEnv:
        self.saved = {k: os.environ.pop(k) for k in list(os.environ)
                      if k.startswith(("MLOPS_", "MLFLOW_", "AWS_"))}
        return self

    def __exit__(self, *exc: object) -> None:
        os.environ.update(self.saved)


def target(X: Any) -> Any:
    return 2.0 * X["a"] + X["b"] - X["c"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A model of a, b, c logged (and registered) in a tracked run of ``<root>/.mlops``, with
    its training RMSE; a retraining notebook."""
    import mlflow
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    from jupyter_mlops.config import load_config
    from jupyter_mlops.tracking.store import ensure_experiment, tracking_uri

    root = tmp_path_factory.mktemp("monitor-drift-ui") / "root"
    root.mkdir()
    rng = np.random.default_rng(11)
    X = pd.DataFrame({f: rng.normal(0.0, 1.0, REFERENCE_ROWS) for f in FEATURES})
    y = target(X) + rng.normal(0.0, 0.1, REFERENCE_ROWS)
    model = LinearRegression().fit(X, y)
    rmse = float(np.sqrt(np.mean((model.predict(X) - y) ** 2)))
    with CleanEnv():
        config = load_config(root)
        uri = tracking_uri(config)
        assert uri == f"sqlite:///{root / '.mlops' / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        try:
            mlflow.set_experiment(experiment_id=ensure_experiment(config, "drift-ui"))
            with mlflow.start_run() as run:
                mlflow.log_metric("rmse", rmse)
                mlflow.sklearn.log_model(model, name="model", input_example=X[:2],
                                         registered_model_name=MODEL,
                                         pip_requirements=["scikit-learn"])
        finally:
            mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
            mlflow.set_registry_uri(None)  # type: ignore[arg-type]
    (root / "retrain.ipynb").write_text(notebook_text(RETRAIN))
    yield Project(root, run.info.run_id, X, model, rmse)


@pytest.fixture(scope="module")
def drift_lab(project: Project, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    # the panels refresh every 5 s (Monitor II's parts at most every 30 s)
    running = start_lab(project.root, tmp_path_factory.mktemp("drift-lab"),
                        settings={"refreshInterval": 5})
    yield running
    stop_lab(running)


@pytest.fixture(autouse=True)
def undeploy_everything(project: Project) -> Iterator[None]:
    """Whatever a test deployed is stopped and removed, pass or fail."""
    yield
    undeploy_all(project.root)


def css_color(page: Any, variable: str) -> str:
    """The colour a CSS variable of the theme resolves to, as computed styles give it."""
    return str(page.evaluate(
        """variable => {
            const probe = document.createElement('span');
            probe.style.color = `var(${variable})`;
            document.body.appendChild(probe);
            const color = getComputedStyle(probe).color;
            probe.remove();
            return color;
        }""", variable))


def logged_all(lab: Lab, rows: int, timeout: float = 30) -> None:
    """Wait until the deployment's inference log holds ``rows`` rows (its writer flushes
    every half second)."""
    deadline = time.monotonic() + timeout
    while (total := api(lab, f"monitor/deployments/{NAME}/inferences?since=1h&limit=1")[
            "total"]) < rows:
        assert time.monotonic() < deadline, f"the log holds {total} of {rows} rows"
        time.sleep(0.5)


def number(locator: Any) -> float:
    return float(locator.inner_text().replace(",", ""))


# -------------------------------------------------------------------------------- tests


def test_the_drift_table_turns_red_for_the_shifted_feature_and_a_rule_fires(
        page: Any, drift_lab: Lab, project: Project) -> None:
    import numpy as np
    import pandas as pd

    from jupyter_mlops.monitor.labels import log_labels
    from jupyter_mlops.monitor.reference import set_reference

    url = deploy(drift_lab, {NAME: f"models:/{MODEL}/1"})[NAME]["url"]
    open_lab(page, drift_lab, "lab/workspaces/monitor-drift")
    panel = show_panel(page, "monitor")
    only_open(page, "monitor")
    shown = panel.locator(f'.jp-mlops-monitor-deployment[data-deployment="{NAME}"]')
    expect(shown).to_be_visible(timeout=30_000)
    refresh = page.locator('[data-command="mlops:refresh-status"]').first

    # no reference yet: the server's line, shown as it is, and no table
    told = api(drift_lab, f"monitor/deployments/{NAME}/drift?since=24h")
    assert told["features"] == [] and f"set_reference('{NAME}'" in told["message"]
    expect(shown.locator(".jp-mlops-monitor-drift-message")).to_have_text(
        told["message"], timeout=30_000)
    expect(shown.locator(".jp-mlops-monitor-drift-table")).to_have_count(0)
    # nor any rule: how to add one
    expect(shown.locator(".jp-mlops-monitor-no-rules")).to_contain_text(
        f"%mlops rule add {NAME} --when drift --then retrain.ipynb")

    # the training frame becomes the reference, on the deployed version's training run
    with CleanEnv():
        assert set_reference(NAME, project.reference, cwd=project.root) == project.run_id
    # a rule added now looks at the requests logged from now on
    rule = api(drift_lab, f"monitor/deployments/{NAME}/rules",
               {"when": "drift", "then": "retrain.ipynb"})
    refresh.click()
    table = shown.locator(".jp-mlops-monitor-drift-table")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(len(FEATURES), timeout=45_000)
    assert [rows.nth(i).get_attribute("data-feature") for i in range(len(FEATURES))] == list(
        FEATURES)
    # nothing logged yet: every row grey, "no data", and the report says why
    for i in range(len(FEATURES)):
        expect(rows.nth(i)).to_have_attribute("data-status", "none")
        expect(rows.nth(i).locator('[data-field="status"]')).to_have_text("no data")
    expect(shown.locator(".jp-mlops-monitor-drift-message")).to_have_text(
        "no logged requests in the window")
    expect(shown.locator(f'.jp-mlops-monitor-rule[data-rule="{rule["id"]}"]')).to_contain_text(
        "Never fired")

    # traffic: a shifted by one standard deviation, b and c as in training
    rng = np.random.default_rng(5)
    sent: dict[str, Any] = {}  # request id -> its rows

    def traffic(requests: int) -> None:
        for _ in range(requests):
            request_id = f"drift-{len(sent):03d}-{uuid.uuid4().hex[:8]}"
            batch = pd.DataFrame({f: rng.normal(1.0 if f == SHIFTED else 0.0, 1.0,
                                                ROWS_PER_REQUEST) for f in FEATURES})
            assert send(url, request_id, split(batch.to_dict("records"))) == (200, request_id)
            sent[request_id] = batch

    traffic(REQUESTS)
    logged_all(drift_lab, len(sent) * ROWS_PER_REQUEST)
    refresh.click()
    drifted = table.locator(f'tr[data-feature="{SHIFTED}"]')
    expect(drifted).to_have_attribute("data-status", "drifted", timeout=60_000)
    report = api(drift_lab, f"monitor/deployments/{NAME}/drift?since=24h")
    origin = report["reference"]["origin"]
    assert project.run_id[:8] in origin and f"{REFERENCE_ROWS:,} rows" in origin
    expect(shown.locator(".jp-mlops-monitor-drift-reference")).to_have_text(
        f"Against {origin}; {REQUESTS * ROWS_PER_REQUEST:,} logged rows")
    for feature in FEATURES:
        row = table.locator(f'tr[data-feature="{feature}"]')
        statistic = number(row.locator('[data-field="statistic"]'))
        threshold = number(row.locator('[data-field="threshold"]'))
        if feature == SHIFTED:
            expect(row.locator('[data-field="status"]')).to_have_text("drifted")
            assert statistic > threshold
        else:
            expect(row).to_have_attribute("data-status", "ok")
            expect(row.locator('[data-field="status"]')).to_have_text("ok")
            assert statistic <= threshold
        expect(row).to_have_attribute("data-method", "psi")
    # one method for every feature (the default, psi): said once, under the table
    expect(table.locator('caption [data-field="method"]')).to_have_text(
        "psi on every feature.", use_inner_text=True)
    assert table.locator("thead th").all_inner_texts() == [
        "Status", "Feature", "Statistic", "Threshold"]
    expect(shown.locator('[data-field="drifted"]')).to_have_text(
        f"(1 of {len(FEATURES)} drifted)")
    # red and green as the theme draws errors and successes
    red, green = css_color(page, "--jp-error-color1"), css_color(page, "--jp-success-color1")
    assert red != green
    dot = "[data-field='status'] .jp-mlops-dot"
    assert drifted.locator(dot).evaluate("e => getComputedStyle(e).backgroundColor") == red
    for feature in FEATURES:
        if feature != SHIFTED:
            ok = table.locator(f'tr[data-feature="{feature}"] {dot}')
            assert ok.evaluate("e => getComputedStyle(e).backgroundColor") == green

    # a click on the row: the reference and current histograms of that feature
    bins = report["histograms"][SHIFTED]["bins"]
    drifted.click()
    expect(drifted.locator("button")).to_have_attribute("aria-expanded", "true")
    histogram = shown.locator(f'.jp-mlops-monitor-histogram[data-feature="{SHIFTED}"]')
    expect(histogram).to_contain_text(f"{SHIFTED}: reference vs current")
    chart = histogram.locator(".jp-RenderedVegaLite svg")
    expect(chart).to_be_visible(timeout=30_000)
    expect(chart.locator(".mark-rect path")).to_have_count(2 * len(bins))
    expect(chart).to_contain_text("reference")
    expect(chart).to_contain_text("current")
    box = chart.bounding_box()
    assert box is not None and box["width"] > 150 and box["height"] > 80
    screenshot(page, "monitor-drift", shown.locator(".jp-mlops-monitor-quality"))
    # another row shows its own; the same row again hides them
    table.locator('tr[data-feature="b"]').click()
    expect(shown.locator('.jp-mlops-monitor-histogram[data-feature="b"]')).to_be_visible()
    expect(histogram).to_have_count(0)
    table.locator('tr[data-feature="b"]').click()
    expect(shown.locator(".jp-mlops-monitor-histogram")).to_have_count(0)

    # Check now: disabled while the server checks, then the result in one line; the drift
    # rule fires and its retraining runs
    held: list[Any] = []
    page.route(f"**/mlops/api/monitor/deployments/{NAME}/check*", lambda r: held.append(r))
    check = shown.get_by_role("button", name="Check now")
    check.click()
    busy = shown.locator(".jp-mlops-monitor-check")
    expect(busy).to_be_disabled()
    expect(busy).to_have_text("Checking…")
    assert len(held) == 1 and held[0].request.method == "POST"
    held[0].continue_()
    line = shown.locator(".jp-mlops-monitor-check-result")
    expect(line).to_have_text(re.compile(
        rf"^Checked at [\d:]+: drift fired \(drifted: {SHIFTED}\b.*\)$"), timeout=60_000)
    expect(line).to_have_attribute("data-fired", "true")
    expect(shown.get_by_role("button", name="Check now")).to_be_enabled()
    page.unroute(f"**/mlops/api/monitor/deployments/{NAME}/check*")
    fired = shown.locator(f'.jp-mlops-monitor-rule[data-rule="{rule["id"]}"]')
    expect(fired.locator('[data-field="when"]')).to_have_text("drift")
    expect(fired.locator('[data-field="then"]')).to_have_text("retrain.ipynb")
    expect(fired.locator('[data-field="last"]')).to_contain_text(
        re.compile(r"Last fired [\d:]+"))
    expect(fired).to_have_attribute("data-result", re.compile("^(running|succeeded)$"))
    # the retraining ends (the panel looks again by itself)
    expect(fired).to_have_attribute("data-result", "succeeded", timeout=240_000)
    expect(fired.locator(".jp-mlops-monitor-rule-result")).to_have_text("succeeded")
    # more shifted traffic, checked inside the cooldown: the rule holds and is held back
    traffic(REQUESTS // 4)
    logged_all(drift_lab, len(sent) * ROWS_PER_REQUEST)
    shown.get_by_role("button", name="Check now").click()
    expect(line).to_have_text(re.compile(r"drift holds, not fired: cooldown"), timeout=60_000)
    expect(line).to_have_attribute("data-fired", "false")
    screenshot(page, "monitor-rules", shown.locator(".jp-mlops-monitor-quality"))

    # labels for the requests: the metric over time, next to the training run's value
    labels = pd.DataFrame({"request_id": list(sent),
                           "y": [float(target(batch).mean()) for batch in sent.values()]})
    with CleanEnv():
        logged = log_labels(NAME, labels, cwd=project.root)
    assert logged.matched == len(sent)
    refresh.click()
    performance = shown.locator(".jp-mlops-monitor-performance")
    picker = performance.locator(".jp-mlops-monitor-metric select")
    expect(picker).to_be_visible(timeout=60_000)
    picker.select_option("rmse")
    expect(performance.locator('[data-field="performance"]')).to_contain_text(
        "in training", timeout=30_000)
    expect(performance).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
    plotted = performance.locator(".jp-RenderedVegaLite svg")
    expect(plotted).to_be_visible(timeout=30_000)
    expect(plotted.locator(".mark-line path").first).to_be_attached()
    expect(plotted.locator(".mark-rule line, .mark-rule path").first).to_be_attached()
    shown_training = performance.locator('[data-field="performance"]').inner_text()
    assert f"{float(f'{project.training_rmse:.3g}'):g} in training" in shown_training
    screenshot(page, "monitor-performance", shown.locator(".jp-mlops-monitor-quality"))
