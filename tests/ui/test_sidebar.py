"""The MLOps sidebar and the %mlops magic as a person sees them, in real JupyterLab."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from jupyter_mlops import __version__

from .conftest import Lab, screenshot, start_lab, stop_lab

pytestmark = pytest.mark.ui
SECTIONS = ["features", "experiments", "pipeline", "review", "deploy"]
TITLES = ["Features", "Experiments", "Pipeline", "Review", "Deploy"]


def open_lab(page: Any, lab: Lab) -> None:
    page.goto(lab.page_url())
    page.locator("#jp-main-dock-panel").wait_for()
    page.locator(".jp-LauncherCard, .jp-NotebookPanel").first.wait_for(timeout=60_000)


def open_sidebar(page: Any) -> Any:
    page.locator('.jp-SideBar [data-id="mlops-sidebar"]').click()
    sidebar = page.locator("#mlops-sidebar")
    expect(sidebar).to_be_visible()
    return sidebar


def wait_loaded(sidebar: Any) -> None:
    for section in SECTIONS:
        expect(sidebar.locator(f'[data-mlops-section="{section}"]')).to_have_attribute(
            "data-state", re.compile("^(ok|warning|error)$"), timeout=20_000)


def test_sidebar_shows_five_sections_with_live_status(page: Any, lab: Lab) -> None:
    open_lab(page, lab)
    sidebar = open_sidebar(page)
    wait_loaded(sidebar)
    sections = sidebar.locator("[data-mlops-section]")
    expect(sections).to_have_count(5)
    assert [sections.nth(i).get_attribute("data-mlops-section") for i in range(5)] == SECTIONS
    for title in TITLES:
        expect(sidebar).to_contain_text(title)
    # live, measured values from this server's project, not placeholders
    experiments = sidebar.locator('[data-mlops-section="experiments"]')
    expect(experiments).to_contain_text("created by the first run")
    expect(sidebar.locator('[data-mlops-section="review"]')).to_contain_text("git")
    expect(sidebar.locator('[data-mlops-section="deploy"]')).to_contain_text("GPU")
    expect(sidebar.locator(".jp-mlops-banner")).to_have_count(0)
    screenshot(page, "sidebar", sidebar)
    screenshot(page, "sidebar-in-lab")


def test_refresh_picks_up_a_config_change(page: Any, lab: Lab) -> None:
    open_lab(page, lab)
    sidebar = open_sidebar(page)
    wait_loaded(sidebar)
    (lab.root / "mlops.toml").write_text("[tracking]\nuri = 3\n")
    page.locator('[data-command="mlops:refresh-status"]').first.click()
    banner = sidebar.locator('.jp-mlops-banner[data-kind="config-error"]')
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("mlops.toml:2")
    expect(banner).to_contain_text("tracking.uri")
    screenshot(page, "sidebar-config-error", sidebar)
    (lab.root / "mlops.toml").unlink()
    page.locator('[data-command="mlops:refresh-status"]').first.click()
    expect(banner).to_have_count(0)
    wait_loaded(sidebar)


def test_command_palette_opens_the_sidebar(page: Any, lab: Lab) -> None:
    open_lab(page, lab)
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".lm-CommandPalette-input")
    expect(palette).to_be_visible()
    palette.fill("Open MLOps sidebar")
    page.locator(".lm-CommandPalette-item", has_text="Open MLOps sidebar").first.click()
    sidebar = page.locator("#mlops-sidebar")
    expect(sidebar).to_be_visible()
    wait_loaded(sidebar)


def test_missing_server_extension_is_said_plainly(page: Any, lab_root: Path,
                                                  tmp_path: Path) -> None:
    # what `jupyter server extension disable jupyter_mlops` writes
    lab = start_lab(lab_root, tmp_path,
                    config={"ServerApp": {"jpserver_extensions": {"jupyter_mlops": False}}})
    try:
        open_lab(page, lab)
        sidebar = open_sidebar(page)
        banner = sidebar.locator('.jp-mlops-banner[data-kind="missing-server"]')
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("jupyter server extension enable jupyter_mlops")
        screenshot(page, "sidebar-missing-server", sidebar)
    finally:
        stop_lab(lab)


def test_mlops_status_in_a_notebook_shows_tracking_uri_and_health(page: Any, lab: Lab) -> None:
    page.goto(lab.page_url("lab/tree/demo.ipynb"))
    notebook = page.locator(".jp-NotebookPanel")
    notebook.wait_for(timeout=60_000)
    # JupyterLab may ask which kernel to start: take the notebook's own (Python 3)
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    try:
        dialog.wait_for(timeout=5_000)
    except PlaywrightTimeout:  # no dialog: the kernel started by itself
        pass
    else:
        dialog.locator(".jp-mod-accept").click()
    expect(page.locator(".jp-Notebook-ExecutionIndicator, .jp-Toolbar-kernelStatus").first
           ).to_be_visible()
    # run all cells through the menu, as a person would
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
    output = notebook.locator(".mlops-status").first
    expect(output).to_be_visible(timeout=60_000)
    expect(output).to_contain_text(f"jupyter-mlops {__version__}")
    expect(output).to_contain_text("Tracking URI")
    expect(output).to_contain_text("sqlite:///")
    for title in TITLES:
        expect(output).to_contain_text(title)
    expect(notebook.locator(".jp-OutputArea-output[data-mime-type*='error']")).to_have_count(0)
    screenshot(page, "notebook-status", output)



def test_sidebar_follows_the_project_of_the_open_notebook(page: Any, lab: Lab) -> None:
    # a sub-folder that is its own project: the panel must describe what that notebook's
    # kernel sees, not the server root
    project = lab.root / "churn"
    project.mkdir()
    (project / "mlops.toml").write_text('[tracking]\nexperiment = "churn-model"\n')
    (project / "train.ipynb").write_bytes((lab.root / "demo.ipynb").read_bytes())
    open_lab(page, lab)
    sidebar = open_sidebar(page)
    wait_loaded(sidebar)
    experiment = sidebar.locator('.jp-mlops-config-item[data-key="tracking.experiment"]')
    expect(experiment).not_to_contain_text("churn-model")
    page.goto(lab.page_url("lab/tree/churn/train.ipynb"))
    page.locator(".jp-NotebookPanel").wait_for(timeout=60_000)
    sidebar = open_sidebar(page)
    sidebar.locator(".jp-mlops-config-summary").click()
    expect(experiment).to_contain_text("churn-model")
    expect(experiment.locator(".jp-mlops-config-source")).to_contain_text("mlops.toml")
