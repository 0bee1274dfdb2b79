"""A newcomer's first screen: the demo project opened in a fresh JupyterLab shows no error in
any panel, no Jupyter-news prompt, and every capability one click away in the sidebar."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import Lab, screenshot, start_lab, stop_lab
from .helpers import SIDEBAR_TAB, open_notebook, section_title, show_panel

pytestmark = pytest.mark.ui
BINDER = Path(__file__).resolve().parents[2] / "binder"
CAPABILITIES = ["features", "experiments", "pipeline", "review", "deploy", "monitor"]
# what each panel shows once its first answer is in (so that "no error" is not said early)
SETTLED = {
    "features": ".jp-mlops-features-note[data-kind='empty-store'], .jp-mlops-features-results",
    "experiments": ".jp-mlops-experiments[aria-busy='false'] .jp-mlops-experiments-muted",
    "pipeline": ".jp-mlops-pipeline[aria-busy='false'] :is(.jp-mlops-pipeline-graph,"
                " .jp-mlops-pipeline-problem)",
    "review": ".jp-mlops-review-heading",
    "deploy": ".jp-mlops-deploy-empty",
    "monitor": ".jp-mlops-monitor-empty",
}
# whatever a panel uses to say something went wrong
ERRORS = ", ".join([
    "[role='alert']", ".jp-mlops-banner", ".jp-mlops-dot[data-state='error']",
    ".jp-mlops-sectionTitle[data-state='error']", ".jp-mlops-check[data-level='error']",
    ".jp-mlops-pipeline-problem", ".jp-mlops-pipeline-warnings li",
    ".jp-mlops-experiments-error", ".jp-mlops-review-error", ".jp-mlops-features-error",
    ".jp-mlops-deploy-error", ".jp-mlops-monitor-error",
])


@pytest.fixture
def demo_lab(tmp_path: Path) -> Iterator[Lab]:
    """The binder project (demo notebooks and mlops.toml) copied into a temp root, served by
    a JupyterLab with fresh user settings and workspaces."""
    root = tmp_path / "demo"
    root.mkdir()
    for item in BINDER.iterdir():
        if item.suffix in (".ipynb", ".toml"):
            shutil.copy(item, root)
    lab = start_lab(root, tmp_path)
    yield lab
    stop_lab(lab)


def lab_settings(lab: Lab, plugin: str) -> dict[str, Any]:
    """A plugin's settings as JupyterLab's settings API serves them (schema with the
    defaults in force, and the user's raw settings)."""
    request = urllib.request.Request(f"{lab.url}lab/api/settings/{plugin}",
                                     headers={"Authorization": f"token {lab.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def test_the_demo_opens_with_no_error_in_any_panel(page: Any, demo_lab: Lab) -> None:
    notebook = open_notebook(page, demo_lab, "demo.ipynb")
    expect(notebook.locator(".jp-Notebook-cell").first).to_be_visible()
    sidebar = page.locator("#mlops-sidebar")
    for capability in CAPABILITIES:
        panel = show_panel(page, capability, settled=True)
        expect(panel.locator(SETTLED[capability]).first).to_be_visible(timeout=60_000)
        expect(section_title(page, capability)).to_have_attribute(
            "data-state", re.compile("^(ok|warning)$"))
        problems = sidebar.locator(ERRORS)
        assert problems.count() == 0, (
            f"{capability}: " + " | ".join(problems.all_inner_texts()))
    # the pipeline panel read every code cell of the demo (magics included) into its DAG,
    # and found nothing wrong with them
    expect(sidebar.locator(".jp-mlops-pipeline-graph")).to_be_visible()
    # JupyterLab's first-start question about fetching news stays away: the demo's
    # jupyter-config makes "never" the default, the fresh user settings say nothing
    notification = lab_settings(demo_lab, "@jupyterlab/apputils-extension:notification")
    assert notification["schema"]["properties"]["fetchNews"]["default"] == "false"
    assert "fetchNews" not in json.loads(notification["raw"] or "{}")
    expect(page.get_by_text("get notified about official Jupyter news")).to_have_count(0)
    expect(page.locator(".jp-Notification-Toast, .Toastify__toast")).to_have_count(0)
    screenshot(page, "newcomer-demo")


def test_every_capability_is_one_click_away_at_1400x900(page: Any, demo_lab: Lab) -> None:
    open_notebook(page, demo_lab, "demo.ipynb")
    show_panel(page, "features", settled=True)
    sidebar = page.locator("#mlops-sidebar")
    content = sidebar.locator(".jp-mlops-sections")
    # nothing to scroll: the sections share the sidebar's height, each title in sight
    assert content.evaluate("n => n.scrollHeight <= n.clientHeight + 1")
    height = page.viewport_size["height"]
    for capability in CAPABILITIES:
        title = section_title(page, capability)
        expect(title).to_be_visible()
        box = title.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height
        expect(title.locator(".jp-mlops-dot")).to_have_attribute(
            "data-state", re.compile("^(ok|warning)$"))
        expect(title.locator(".jp-mlops-sectionTitle-line")).not_to_be_empty()
    screenshot(page, "sidebar-1400x900", sidebar)
    # one click on a closed section's title opens it
    pipeline = section_title(page, "pipeline")
    pipeline.click()
    expect(pipeline).to_have_attribute("aria-expanded", "false")
    expect(sidebar.locator('[data-mlops-panel="pipeline"]')).to_be_hidden()
    pipeline.click()
    expect(pipeline).to_have_attribute("aria-expanded", "true")
    expect(sidebar.locator('[data-mlops-panel="pipeline"]')).to_be_visible()
    # the sidebar's tab toggles the whole sidebar; the sections stay as they were
    page.locator(SIDEBAR_TAB).click()
    expect(sidebar).to_be_hidden()
