"""The Monitor panel in real JupyterLab: a project without deployments says how to make one;
after a deployment has served requests (and refused one), its section shows the version and
device, sparklines of the last hour drawn by JupyterLab's Vega-Lite renderer, and the
requests its inference log holds, by the ids the callers gave; the Deploy panel's Monitor
link opens the section on that deployment.

The model is a real MLflow model (scikit-learn) saved under the lab root; the deployments are
made over REST, as any client of the server would, and served by real serving processes.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import Lab, screenshot, start_lab, stop_lab
from .helpers import open_lab, section_title, show_panel
from .monitor_helpers import api, deploy, only_open, send, split, undeploy_all

pytestmark = [pytest.mark.ui, pytest.mark.timeout(900)]

NAMES = ("ui-watched", "ui-quiet")
ROWS = [{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 0.0}]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with one saved model (``models/linear``: a + b)."""
    import mlflow
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    root = tmp_path_factory.mktemp("monitor-ui") / "root"
    root.mkdir()
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 2.0]})
    model = LinearRegression().fit(X, X["a"] + X["b"])
    mlflow.sklearn.save_model(model, str(root / "models" / "linear"), input_example=X[:2],
                              pip_requirements=["scikit-learn"])
    return root


@pytest.fixture(scope="module")
def monitor_lab(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    # the panels refresh every 5 s (the setting all panels follow), not the default 30 s
    running = start_lab(root, tmp_path_factory.mktemp("monitor-lab"),
                        settings={"refreshInterval": 5})
    yield running
    stop_lab(running)


@pytest.fixture(autouse=True)
def undeploy_everything(root: Path) -> Iterator[None]:
    """Whatever a test deployed is stopped and removed, pass or fail."""
    yield
    undeploy_all(root)


# ------------------------------------------------------------------------------ helpers


#: a number above zero, as the sparklines' labels show it
POSITIVE = re.compile(r"^(?!0$)(?!0\.0*$)\d[\d,]*(\.\d+)?$")


class Traffic:
    """Requests to a deployment every 0.2 s from a background thread, while in the block."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.2):
            send(self.url, f"ui-live-{uuid.uuid4().hex[:12]}", split(ROWS))

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


# -------------------------------------------------------------------------------- tests


def test_the_monitor_panel_shows_a_deployment_after_traffic(
        page: Any, monitor_lab: Lab) -> None:
    open_lab(page, monitor_lab, "lab/workspaces/monitor-flow")
    panel = show_panel(page, "monitor")
    # nothing deployed yet: how to deploy one
    expect(panel.locator(".jp-mlops-monitor-empty")).to_have_text(
        "No deployment yet — deploy a model from the Deploy panel or %mlops deploy")
    expect(panel.locator(".jp-mlops-monitor-empty code")).to_have_text("%mlops deploy")

    deployed = deploy(monitor_lab, {name: "models/linear" for name in NAMES})
    watched = deployed["ui-watched"]
    url = watched["url"]
    # traffic: requests with the callers' ids, answered with them; one the model refuses
    ids = [f"ui-{i:02d}-{uuid.uuid4().hex[:12]}" for i in range(8)]
    for request_id in ids:
        assert send(url, request_id, split(ROWS)) == (200, request_id)
    bad = f"ui-bad-{uuid.uuid4().hex[:12]}"
    status, answered = send(url, bad, split([{"a": "one", "b": 2.0}]))
    assert 400 <= status < 500 and answered == bad

    # the Deploy card's Monitor link opens the Monitor section on that deployment
    only_open(page, "deploy")
    card = page.locator('[data-mlops-panel="deploy"] [data-deployment="ui-watched"]')
    expect(card).to_have_attribute("data-status", "serving", timeout=30_000)
    card.get_by_role("button", name="Monitor").click()
    expect(section_title(page, "monitor")).to_have_attribute("aria-expanded", "true")
    shown = panel.locator('.jp-mlops-monitor-deployment[data-deployment="ui-watched"]')
    expect(shown).to_be_visible(timeout=30_000)
    only_open(page, "monitor")

    # version and device as the deployment reports them; the requests it counted
    expect(shown).to_have_attribute("data-status", "serving")
    expect(shown.locator('[data-field="version"]')).to_have_text(str(watched["version"]))
    expect(shown.locator('[data-field="device"]')).to_have_text(str(watched["device"]))
    expect(shown.locator('[data-field="requests"]')).to_have_text(
        "9 (0 server errors, 1 refused)", timeout=30_000)

    # the latest logged requests, newest first, by the ids the callers gave (each of two
    # rows); the refused one reached no model and is not in the log
    table = shown.locator(".jp-mlops-monitor-requests")
    expect(table.locator(f'tr[data-request-id="{ids[0]}"]').first).to_be_visible(
        timeout=60_000)
    logged = table.locator("tbody tr")
    expect(logged).to_have_count(2 * len(ids))
    shown_ids = [logged.nth(i).get_attribute("data-request-id")
                 for i in range(logged.count())]
    assert shown_ids == [rid for rid in reversed(ids) for _row in ROWS]
    newest = logged.first
    expect(newest.locator(".jp-mlops-monitor-request-id")).to_have_attribute("title", ids[-1])
    expect(newest.locator(".jp-mlops-monitor-request-id code")).to_have_text(ids[-1])
    # what the model answered first (a narrow sidebar shows it), then the inputs
    headers = table.locator("thead th").all_inner_texts()
    assert headers == ["Request", "Time", "v", "prediction", "ms", "a", "b"]
    inputs = table.locator('tbody tr:first-child td[data-kind="input"]').all_inner_texts()
    assert [float(v) for v in inputs] == [ROWS[-1]["a"], ROWS[-1]["b"]]
    versions = table.locator("tbody tr td:nth-child(3)").all_inner_texts()
    assert set(versions) == {str(watched["version"])}
    predictions = table.locator('tbody td[data-kind="prediction"]').all_inner_texts()
    assert len(predictions) == 2 * len(ids) and {float(p) for p in predictions} == {3.0}

    # four sparklines of the last hour, drawn by JupyterLab's Vega-Lite renderer (an SVG
    # with its line); the serving process measures 10-second intervals, so traffic keeps
    # coming while the panel is looked at, as it would for a deployment in use
    sparklines = shown.locator(".jp-mlops-monitor-sparkline")
    expect(sparklines).to_have_count(4)
    assert [sparklines.nth(i).get_attribute("data-series") for i in range(4)] == [
        "rps", "latency", "error_rate", "batch_size"]
    with Traffic(url):
        rps = shown.locator('[data-series="rps"] .jp-mlops-monitor-sparkline-value')
        expect(rps).to_have_text(POSITIVE, timeout=60_000)
        latency = shown.locator('[data-series="latency"] .jp-mlops-monitor-sparkline-value')
        expect(latency).to_have_text(re.compile(r"^[\d.]+ / [\d.]+ ms$"))
        batch = shown.locator('[data-series="batch_size"] .jp-mlops-monitor-sparkline-value')
        expect(batch).to_have_text(POSITIVE)
        # a 4xx is not a server error: the error rate stays 0
        expect(shown.locator('[data-series="error_rate"] .jp-mlops-monitor-sparkline-value')
               ).to_have_text("0%")
        for series in ("rps", "latency", "error_rate", "batch_size"):
            chart = shown.locator(f'[data-series="{series}"] .jp-RenderedVegaLite svg')
            expect(chart).to_be_visible(timeout=30_000)
            expect(chart.locator(".mark-line path").first).to_be_attached()
            box = chart.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] >= 20
        # p50 and p99: two lines
        expect(shown.locator('[data-series="latency"] .mark-line path')).to_have_count(2)
        # no actions menu on a sparkline
        expect(shown.locator(".vega-actions")).to_have_count(0)
        screenshot(page, "monitor-panel", page.locator("#mlops-sidebar"))

    # the other deployment's card opens the section on it (no requests yet)
    only_open(page, "deploy")
    quiet = page.locator('[data-mlops-panel="deploy"] [data-deployment="ui-quiet"]')
    quiet.get_by_role("button", name="Monitor").click()
    expect(section_title(page, "monitor")).to_have_attribute("aria-expanded", "true")
    other = panel.locator('.jp-mlops-monitor-deployment[data-deployment="ui-quiet"]')
    expect(other).to_be_visible(timeout=30_000)
    expect(other.locator(".jp-mlops-monitor-no-requests")).to_be_visible(timeout=30_000)
    picker = panel.locator(".jp-mlops-monitor-select select")
    expect(picker).to_have_value("ui-quiet")
    # and the deployment picker goes back to the watched one
    picker.select_option("ui-watched")
    expect(shown.locator(".jp-mlops-monitor-requests tbody tr").first).to_be_visible(
        timeout=30_000)


def test_the_panel_says_why_it_cannot_look_in_one_line(
        page: Any, monitor_lab: Lab, root: Path) -> None:
    open_lab(page, monitor_lab, "lab/workspaces/monitor-error")
    panel = show_panel(page, "monitor")
    expect(panel.locator(".jp-mlops-monitor-empty")).to_be_visible()
    refresh = page.locator('[data-command="mlops:refresh-status"]').first
    # a project whose configuration does not load: the server's one line (what was shown
    # before stays under it: a passing failure does not blank the charts)
    config = root / "mlops.toml"
    config.write_text("[monitor]\nsample_rate = 3\n")
    try:
        refresh.click()
        error = panel.locator(".jp-mlops-monitor-error")
        expect(error).to_contain_text("monitor.sample_rate", timeout=30_000)
        text = error.inner_text()
        assert "\n" not in text.strip() and "Traceback" not in text
        screenshot(page, "monitor-panel-error", page.locator("#mlops-sidebar"))
    finally:
        config.unlink()
    refresh.click()
    expect(panel.locator(".jp-mlops-monitor-error")).to_have_count(0, timeout=30_000)
    expect(panel.locator(".jp-mlops-monitor-empty")).to_be_visible()


def test_an_unknown_deployment_is_one_line_over_rest(monitor_lab: Lab) -> None:
    """What the panel would show as its error: the server's one-line message."""
    with pytest.raises(urllib.error.HTTPError) as caught:
        api(monitor_lab, "monitor/deployments/nope")
    assert caught.value.code == 404
    message = json.loads(caught.value.read())["message"]
    assert "nope" in message and "\n" not in message
