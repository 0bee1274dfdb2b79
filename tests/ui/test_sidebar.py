"""The MLOps sidebar and the %mlops magic as a person sees them, in real JupyterLab."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from jupyter_mlops import __version__

from .conftest import Lab, screenshot, start_lab, stop_lab
from .helpers import section_title

pytestmark = pytest.mark.ui
SECTIONS = ["features", "experiments", "pipeline", "review", "deploy", "monitor"]
TITLES = ["Features", "Experiments", "Pipeline", "Review", "Deploy", "Monitor"]


def open_lab(page: Any, lab: Lab) -> None:
    page.goto(lab.page_url())
    page.locator("#jp-main-dock-panel").wait_for()
    page.locator(".jp-LauncherCard, .jp-NotebookPanel").first.wait_for(timeout=60_000)


def open_sidebar(page: Any) -> Any:
    """Show the sidebar; once the page has restored its layout, which may show it already
    (a click on its tab would then close it)."""
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=60_000)
    sidebar = page.locator("#mlops-sidebar")
    if not sidebar.is_visible():
        page.locator('.jp-SideBar [data-id="mlops-sidebar"]').click()
    expect(sidebar).to_be_visible()
    return sidebar


def wait_loaded(sidebar: Any) -> None:
    for section in SECTIONS:
        expect(sidebar.locator(f'[data-mlops-section="{section}"]')).to_have_attribute(
            "data-state", re.compile("^(ok|warning|error)$"), timeout=20_000)


def test_sidebar_shows_six_sections_with_live_status(page: Any, lab: Lab) -> None:
    open_lab(page, lab)
    sidebar = open_sidebar(page)
    wait_loaded(sidebar)
    sections = sidebar.locator("[data-mlops-section]")
    expect(sections).to_have_count(len(SECTIONS))
    assert [sections.nth(i).get_attribute("data-mlops-section")
            for i in range(len(SECTIONS))] == SECTIONS
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


def saved_sections(lab: Lab) -> dict[str, Any] | None:
    """What the sidebar saved of its sections in the workspace (JupyterLab's state DB)."""
    request = urllib.request.Request(f"{lab.url}lab/api/workspaces/default",
                                     headers={"Authorization": f"token {lab.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        data = json.loads(response.read())["data"]
    saved = data.get("jupyter-mlops:plugin:sections")
    return saved if isinstance(saved, dict) else None


def test_health_folds_to_a_dot_and_a_line_and_the_layout_survives_a_reload(
        page: Any, lab: Lab) -> None:
    open_lab(page, lab)
    sidebar = open_sidebar(page)
    wait_loaded(sidebar)
    # each title bar: the dot and one line of the capability's health, open or closed
    experiments = section_title(page, "experiments")
    expect(experiments.locator(".jp-mlops-dot")).to_have_attribute(
        "data-state", re.compile("^(ok|warning)$"))
    expect(experiments.locator(".jp-mlops-sectionTitle-line")).to_contain_text("MLflow")
    # the checks behind it: folded, one click away
    health = sidebar.locator('[data-mlops-section="experiments"]')
    check = health.locator(".jp-mlops-check").first
    expect(check).to_be_hidden()
    health.locator(".jp-mlops-checks-summary").click()
    expect(check).to_be_visible()
    expect(health).to_contain_text("created by the first run")

    # close two sections, make another one taller by its handle
    section_title(page, "features").click()
    section_title(page, "review").click()
    for name in ("features", "review"):
        expect(section_title(page, name)).to_have_attribute("aria-expanded", "false")
    body = page.locator("#mlops-section-pipeline")
    before = body.bounding_box()["height"]
    handle = body.locator("xpath=following-sibling::*[contains(@class,'lm-SplitPanel-handle')][1]")
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 82, steps=5)
    page.mouse.up()
    taller = body.bounding_box()["height"]
    assert taller > before + 40
    screenshot(page, "sidebar-sections-arranged", sidebar)
    # saved in the workspace (debounced), then the page comes back as it was left
    def arranged(saved: dict[str, Any] | None) -> bool:
        return bool(saved and saved["expanded"].get("review") is False
                    and saved["sizes"]["pipeline"] > saved["sizes"]["experiments"] + 0.01)
    deadline = time.monotonic() + 15
    saved = saved_sections(lab)
    while not arranged(saved) and time.monotonic() < deadline:
        time.sleep(0.3)
        saved = saved_sections(lab)
    assert arranged(saved), saved
    assert saved and saved["expanded"] == {
        "features": False, "experiments": True, "pipeline": True, "review": False,
        "deploy": True, "monitor": True}
    page.reload()
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=60_000)
    sidebar = page.locator("#mlops-sidebar")
    expect(sidebar).to_be_visible()  # the sidebar itself was left open
    for name, expanded in (("features", "false"), ("experiments", "true"),
                           ("pipeline", "true"), ("review", "false"), ("deploy", "true"),
                           ("monitor", "true")):
        expect(section_title(page, name)).to_have_attribute("aria-expanded", expanded)
    expect(page.locator('[data-mlops-panel="review"]')).to_be_hidden()
    expect(page.locator('[data-mlops-panel="pipeline"]')).to_be_visible()
    assert abs(page.locator("#mlops-section-pipeline").bounding_box()["height"] - taller) < 4
