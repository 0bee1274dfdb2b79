"""What every UI test does the same way: load JupyterLab, open a notebook and run its cells
as a person would, show a panel of the MLOps sidebar, write notebooks, call a deployment."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from .conftest import Lab

SIDEBAR_TAB = '.jp-SideBar [data-id="mlops-sidebar"]'


def notebook_json(cells: list[str]) -> dict[str, Any]:
    """A notebook (nbformat 4, Python 3 kernel) of code cells with these sources."""
    return {
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {},
                   "outputs": [], "source": source} for source in cells],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5}


def notebook_text(cells: list[str]) -> str:
    return json.dumps(notebook_json(cells))


def open_lab(page: Any, lab: Lab, path: str = "lab") -> None:
    """Load ``path`` (``lab``, ``lab/tree/NOTEBOOK``, ``lab/workspaces/NAME``) and wait until
    JupyterLab is up with the MLOps sidebar's tab."""
    page.goto(lab.page_url(path))
    page.locator("#jp-main-dock-panel").wait_for()
    page.locator(SIDEBAR_TAB).wait_for(timeout=60_000)


def open_notebook(page: Any, lab: Lab, path: str) -> Any:
    """Open the notebook at ``path`` (relative to the server root) with its kernel running;
    a "Select Kernel" dialog, when JupyterLab asks, is accepted."""
    open_lab(page, lab, f"lab/tree/{path}")
    notebook = page.locator(".jp-NotebookPanel")
    notebook.wait_for(timeout=60_000)
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    try:
        dialog.wait_for(timeout=5_000)
    except PlaywrightTimeout:  # no dialog: the kernel started by itself
        pass
    else:
        dialog.locator(".jp-mod-accept").click()
    expect(page.locator(".jp-Notebook-ExecutionIndicator, .jp-Toolbar-kernelStatus").first
           ).to_be_visible()
    return notebook


def show_panel(page: Any, capability: str, *, settled: bool = False) -> Any:
    """The panel of ``capability`` in the MLOps sidebar, once the page has restored its
    layout (which may show the sidebar already: clicking its tab then would close it).
    ``settled``: also wait until every section has its status, so that nothing above the
    panel grows any more."""
    page.locator("#jp-main-dock-panel").wait_for()
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=60_000)
    if not page.locator("#mlops-sidebar").is_visible():
        page.locator(SIDEBAR_TAB).click()
    expand_section(page, capability)
    panel = page.locator(f'#mlops-sidebar [data-mlops-panel="{capability}"]')
    expect(panel).to_be_visible()
    if settled:
        for section in page.locator("#mlops-sidebar [data-mlops-section]").all():
            expect(section).to_have_attribute(
                "data-state", re.compile("^(ok|warning|error)$"), timeout=30_000)
    return panel


def section_title(page: Any, capability: str) -> Any:
    """The title bar of ``capability``'s section in the sidebar's accordion."""
    return page.locator(f'#mlops-sidebar [data-mlops-title="{capability}"]')


def expand_section(page: Any, capability: str) -> None:
    """Open ``capability``'s section (a click on its title bar) unless it is open."""
    title = section_title(page, capability)
    if title.get_attribute("aria-expanded") != "true":
        title.click()
    expect(title).to_have_attribute("aria-expanded", "true")


def cell(notebook: Any, index: int) -> Any:
    return notebook.locator(".jp-Notebook-cell").nth(index)


def cell_text(notebook: Any, index: int) -> str:
    return str(cell(notebook, index).locator(".cm-content").inner_text())


def run_cell(page: Any, notebook: Any, index: int, timeout: float = 120_000) -> None:
    """Select the cell (command mode) and run it with Shift+Enter, as a person would; wait
    until its prompt shows an execution count."""
    target = cell(notebook, index)
    target.locator(".jp-InputPrompt").click()
    page.keyboard.press("Shift+Enter")
    expect(target.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]"),
                                                           timeout=timeout)


def invocations(url: str, rows: list[dict[str, float]]) -> list[float]:
    """MLflow's scoring protocol over plain HTTP, as any client would send it; the
    predictions as numbers."""
    body = json.dumps({"dataframe_split": {"columns": list(rows[0]),
                                           "data": [list(r.values()) for r in rows]}})
    request = urllib.request.Request(f"{url}/invocations", data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        predictions = json.loads(response.read())["predictions"]
    return [float(p) if not isinstance(p, dict) else float(next(iter(p.values())))
            for p in predictions]
