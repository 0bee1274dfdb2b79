"""The Features panel as a person uses it, in real JupyterLab: two views published with the
Python API, found by a word of one description, opened (schema, statistics), and its code
inserted into the notebook and run there to get the training frame."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import Lab, screenshot, start_lab, stop_lab
from .helpers import cell, cell_text, notebook_json, open_lab, open_notebook, run_cell, show_panel

pytestmark = pytest.mark.ui

#: the entity frame, and what a point-in-time join of `customer_spend` gives for it:
#: customer 1 on Jan 5 sees Jan 1's 10.0 (Jan 7's 20.0 is later), customer 2 sees Jan 2's
#: 5.0, customer 3 has no history (null)
ENTITY_CELL = """import pandas as pd
entity_df = pd.DataFrame({
    "customer_id": [1, 2, 3],
    "event_timestamp": pd.to_datetime(["2026-01-05", "2026-01-10", "2026-01-03"], utc=True),
})"""
CHECK_CELL = 'print("spend:", training["spend_30d"].tolist(), "rows:", len(training))'
#: a tracked retrieval: the run is recorded as a user of the view
TRACKED_CELL = """%%mlops track --run-name panel-run
import jupyter_mlops as mlops
tracked = mlops.features.get("customer_spend:*", entity_df, timestamp="event_timestamp")"""
EXPECTED_OUTPUT = "spend: [10.0, 5.0, nan] rows: 3"


def _publish_two_views(root: Path) -> None:
    import pandas as pd

    from jupyter_mlops import features

    spend = pd.DataFrame({
        "customer_id": [1, 1, 2],
        "event_timestamp": pd.to_datetime(["2026-01-01", "2026-01-07", "2026-01-02"],
                                          utc=True),
        "spend_30d": [10.0, 20.0, 5.0],
        "orders_30d": [1, 3, 1],
    })
    features.publish(spend, "customer_spend", entities="customer_id",
                     timestamp="event_timestamp",
                     description="Rolling thirty-day spend per customer",
                     tags={"team": "growth"}, owner="alice",
                     field_descriptions={"spend_30d": "Total spend over the last 30 days"},
                     cwd=root)
    drivers = pd.DataFrame({
        "driver_id": [7, 8],
        "event_timestamp": pd.to_datetime(["2026-01-01 10:00", "2026-01-01 11:00"], utc=True),
        "rating": [4.8, 4.1],
        "cancel_rate": [0.02, 0.11],
    })
    features.publish(drivers, "driver_quality", entities="driver_id",
                     timestamp="event_timestamp",
                     description="Hourly driver ratings and cancellations",
                     tags={"team": "ops"}, owner="bob", cwd=root)


def _publish_second_version(root: Path) -> None:
    import pandas as pd

    from jupyter_mlops import features

    more = pd.DataFrame({
        "customer_id": [2],
        "event_timestamp": pd.to_datetime(["2026-01-09"], utc=True),
        "spend_30d": [7.0],
        "orders_30d": [2],
        "avg_basket": [3.5],
    })
    features.publish(more, "customer_spend", entities="customer_id",
                     timestamp="event_timestamp", cwd=root)


@pytest.fixture
def features_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    # the project's own config file: the server, the kernel and this test resolve one store
    (root / "mlops.toml").write_text('[features]\nbackend = "embedded"\n')
    (root / "train.ipynb").write_text(json.dumps(notebook_json(
        ["%load_ext jupyter_mlops", ENTITY_CELL, "", CHECK_CELL, TRACKED_CELL])))
    return root


@pytest.fixture
def features_lab(features_root: Path, tmp_path: Path) -> Iterator[Lab]:
    _publish_two_views(features_root)
    running = start_lab(features_root, tmp_path)
    yield running
    stop_lab(running)


def test_search_open_a_view_and_insert_its_code_into_the_notebook(
        page: Any, features_lab: Lab) -> None:
    from jupyter_mlops import features

    snippet = features.show("customer_spend", runs=False, cwd=features_lab.root).snippet
    notebook = open_notebook(page, features_lab, "train.ipynb")
    panel = show_panel(page, "features")

    # both views are listed, newest publish first, with owner, tags and freshness
    results = panel.locator(".jp-mlops-features-result")
    expect(results).to_have_count(2, timeout=30_000)
    assert results.nth(0).get_attribute("data-view") == "driver_quality"
    spend = panel.locator('.jp-mlops-features-result[data-view="customer_spend"]')
    expect(spend).to_contain_text("Rolling thirty-day spend per customer")
    expect(spend).to_contain_text("@alice")
    expect(spend).to_contain_text("team=growth")
    expect(spend.locator(".jp-mlops-features-freshness")).to_contain_text(
        re.compile(r"newest event .*ago"))
    screenshot(page, "features-panel", page.locator("#mlops-sidebar"))

    # the owner filter narrows the list; back to every owner
    panel.locator(".jp-mlops-features-owner select").select_option("bob")
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("data-view", "driver_quality")
    panel.locator(".jp-mlops-features-owner select").select_option("")
    expect(results).to_have_count(2)
    # so does a click on a tag of a result
    spend.locator('.jp-mlops-features-chip[data-kind="tag"]', has_text="team=growth").click()
    expect(panel.locator(".jp-mlops-features-tag select")).to_have_value("team=growth")
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("data-view", "customer_spend")
    panel.locator(".jp-mlops-features-tag select").select_option("")
    expect(results).to_have_count(2)

    # a word of one view's description, typed: that view and not the other
    panel.locator(".jp-mlops-features-query input").press_sequentially("thirty", delay=40)
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("data-view", "customer_spend")
    expect(results.first.locator(".jp-mlops-features-match")).to_contain_text("description")
    screenshot(page, "features-panel-search", page.locator("#mlops-sidebar"))

    # open it: schema with roles and field descriptions, then the statistics
    spend.locator(".jp-mlops-features-open").click()
    detail = page.locator('.jp-mlops-features-detail[data-view="customer_spend"]')
    expect(detail).to_be_visible()
    schema = detail.locator(".jp-mlops-features-schema")
    expect(schema.locator('tr[data-column="customer_id"] .jp-mlops-features-role')
           ).to_have_attribute("data-role", "entity")
    expect(schema.locator('tr[data-column="event_timestamp"] .jp-mlops-features-role')
           ).to_have_attribute("data-role", "timestamp")
    expect(schema.locator('tr[data-column="spend_30d"]')).to_contain_text(
        "Total spend over the last 30 days")
    stats = detail.locator(".jp-mlops-features-stats")
    expect(stats).to_have_attribute("data-state", "ok", timeout=30_000)
    expect(stats).to_contain_text("3 rows")
    spend_stats = stats.locator('tr[data-column="spend_30d"] td')
    # column, nulls, min, max, mean, distinct of 10.0, 20.0, 5.0
    expect(spend_stats).to_have_text(["spend_30d", "0", "5", "20", "11.6667", "3"])
    expect(detail.locator(".jp-mlops-features-versions tr[data-version]")).to_have_count(1)
    expect(detail.locator(".jp-mlops-features-runs")).to_contain_text("No tracked run")
    expect(detail.locator(".jp-mlops-features-code")).to_have_text(snippet)
    screenshot(page, "features-detail")

    # make the empty third cell the active one, then Insert code: it goes into that cell,
    # which is left in edit mode with the focus
    cell(notebook, 2).locator(".jp-InputPrompt").click()
    expect(cell(notebook, 2)).to_have_class(re.compile(r"\bjp-mod-active\b"))
    cells_before = notebook.locator(".jp-Notebook-cell").count()
    expect(detail.locator(".jp-mlops-features-insert-target")).to_have_text("into train.ipynb")
    detail.locator(".jp-mlops-features-insert-button").click()
    expect(detail.locator(".jp-mlops-features-insert-outcome")).to_contain_text(
        "Inserted into cell 3 of train.ipynb")
    assert cell_text(notebook, 2) == snippet
    assert notebook.locator(".jp-Notebook-cell").count() == cells_before
    expect(notebook.locator(".jp-Notebook")).to_have_class(re.compile(r"\bjp-mod-editMode\b"))
    assert page.evaluate(
        "() => !!document.activeElement.closest('.jp-Notebook-cell.jp-mod-active .cm-editor')")

    # Insert again: the active cell is no longer empty, so a new cell below gets the code
    detail.locator(".jp-mlops-features-insert-button").click()
    expect(notebook.locator(".jp-Notebook-cell")).to_have_count(cells_before + 1)
    assert cell_text(notebook, 3) == snippet
    assert cell_text(notebook, 4) == CHECK_CELL
    expect(cell(notebook, 3)).to_have_class(re.compile(r"\bjp-mod-active\b"))
    screenshot(page, "features-inserted")

    # run the notebook's cells: the inserted line gives the point-in-time training frame
    for index in range(6):
        run_cell(page, notebook, index, timeout=60_000)
    output = cell(notebook, 4).locator(".jp-OutputArea-output")
    expect(output).to_contain_text(EXPECTED_OUTPUT, timeout=60_000)
    expect(notebook.locator(".jp-OutputArea-output[data-mime-type*='error']")).to_have_count(0)
    screenshot(page, "features-training-frame", notebook)

    # the tracked cell's run now shows among the runs that used the view (refreshed)
    page.locator(".jp-MainAreaWidget", has=detail).locator(
        '[data-jp-item-name="refresh"] button').click()
    run = detail.locator(".jp-mlops-features-runs tr[data-run]")
    expect(run).to_have_count(1, timeout=30_000)
    expect(run).to_contain_text("panel-run")
    expect(run).to_contain_text("FINISHED")
    run.scroll_into_view_if_needed()
    screenshot(page, "features-detail-runs")


def test_empty_store_says_how_to_publish_and_insert_needs_a_notebook(
        page: Any, features_root: Path, tmp_path: Path) -> None:
    lab = start_lab(features_root, tmp_path)
    try:
        open_lab(page, lab)
        page.locator(".jp-LauncherCard").first.wait_for(timeout=60_000)
        panel = show_panel(page, "features")
        empty = panel.locator('.jp-mlops-features-note[data-kind="empty-store"]')
        expect(empty).to_contain_text(
            "publish one with %mlops features publish df --name … --entities … --timestamp …")
        screenshot(page, "features-panel-empty", page.locator("#mlops-sidebar"))

        # published from elsewhere (a kernel, a job): the sidebar's refresh shows it
        _publish_two_views(features_root)
        page.locator('[data-command="mlops:refresh-status"]').first.click()
        results = panel.locator(".jp-mlops-features-result")
        expect(results).to_have_count(2, timeout=30_000)

        # a changed schema made a second version: the latest is shown, the first one on a click
        _publish_second_version(features_root)
        page.locator('[data-command="mlops:refresh-status"]').first.click()
        spend = panel.locator('[data-view="customer_spend"]')
        expect(spend.locator(".jp-mlops-features-version")).to_have_text("v2")
        # typed and Enter: the first result opens
        search = panel.locator(".jp-mlops-features-query input")
        search.press_sequentially("customer", delay=40)
        expect(panel.locator(".jp-mlops-features-result")).to_have_count(1)
        search.press("Enter")
        detail = page.locator('.jp-mlops-features-detail[data-view="customer_spend"]')
        expect(detail).to_have_attribute("data-version", "2")
        expect(detail.locator('.jp-mlops-features-schema tr[data-column="avg_basket"]')
               ).to_have_count(1)
        versions = detail.locator(".jp-mlops-features-versions tr[data-version]")
        expect(versions).to_have_count(2)
        versions.locator("button", has_text="v1").click()
        expect(detail).to_have_attribute("data-version", "1")
        expect(detail.locator(".jp-mlops-features-title")).to_contain_text("latest is v2")
        expect(detail.locator(".jp-mlops-features-code")).to_contain_text(
            "%mlops features get customer_spend@1:* --entities")
        expect(detail.locator('.jp-mlops-features-schema tr[data-column="avg_basket"]')
               ).to_have_count(0)
        expect(detail.locator(".jp-mlops-features-stats")).to_have_attribute(
            "data-state", "ok", timeout=30_000)
        screenshot(page, "features-detail-old-version", detail)
        # opened again from the search: the latest version
        search.press("Enter")
        expect(detail).to_have_attribute("data-version", "2")

        # no notebook open: Insert code says so instead of doing nothing
        expect(detail.locator(".jp-mlops-features-insert-target")).to_have_text(
            "no notebook open")
        detail.locator(".jp-mlops-features-insert-button").click()
        expect(detail.locator(".jp-mlops-features-insert-outcome")).to_contain_text(
            "Open a notebook first")
    finally:
        stop_lab(lab)


def test_a_server_error_is_said_and_each_project_shows_its_own_views(
        page: Any, features_root: Path, tmp_path: Path) -> None:
    import pandas as pd

    from jupyter_mlops import features

    # the root's feature store is misconfigured: the server answers the search with an error
    (features_root / "mlops.toml").write_text('[features]\nbackend = "feast"\n')
    # a sub-folder is a project of its own, with ten views
    project = features_root / "churn"
    project.mkdir()
    (project / "mlops.toml").write_text('[features]\nbackend = "embedded"\n')
    explore = notebook_json(["%load_ext jupyter_mlops"])
    explore["cells"].append({"cell_type": "markdown", "metadata": {}, "source": ""})
    (project / "explore.ipynb").write_text(json.dumps(explore))
    frame = pd.DataFrame({"account_id": [1, 2],
                          "event_timestamp": pd.to_datetime(["2026-01-01", "2026-01-02"],
                                                            utc=True),
                          "score": [0.5, 0.7]})
    for index in range(10):
        features.publish(frame, f"churn_signal_{index}", entities="account_id",
                         timestamp="event_timestamp", description="Churn signal", cwd=project)
    lab = start_lab(features_root, tmp_path)
    try:
        open_lab(page, lab)
        page.locator(".jp-LauncherCard").first.wait_for(timeout=60_000)
        panel = show_panel(page, "features")
        error = panel.locator(".jp-mlops-features-error")
        expect(error).to_contain_text("features.repo is not set")
        expect(panel.locator(".jp-mlops-features-result")).to_have_count(0)
        screenshot(page, "features-panel-error", page.locator("#mlops-sidebar"))

        # the sub-project's notebook in front: the panel lists that project's views, the
        # first eight and a button for the rest
        notebook = open_notebook(page, lab, "churn/explore.ipynb")
        panel = show_panel(page, "features")
        results = panel.locator(".jp-mlops-features-result")
        expect(results).to_have_count(8, timeout=30_000)
        expect(error).to_have_count(0)
        panel.locator(".jp-mlops-features-more", has_text="Show 2 more").click()
        expect(results).to_have_count(10)
        expect(results.first).to_have_attribute("data-view", "churn_signal_9")

        # an empty Markdown cell that is active becomes the code cell
        cell(notebook, 1).click()
        expect(cell(notebook, 1)).to_have_class(re.compile(r"\bjp-mod-active\b"))
        results.first.locator(".jp-mlops-features-open").click()
        detail = page.locator('.jp-mlops-features-detail[data-view="churn_signal_9"]')
        detail.locator(".jp-mlops-features-insert-button").click()
        expect(detail.locator(".jp-mlops-features-insert-outcome")).to_contain_text(
            "Inserted into cell 2 of explore.ipynb")
        expect(notebook.locator(".jp-Notebook-cell")).to_have_count(2)
        expect(cell(notebook, 1)).to_have_class(re.compile(r"\bjp-CodeCell\b"))
        assert cell_text(notebook, 1).startswith("%mlops features get churn_signal_9:* ")
    finally:
        stop_lab(lab)
