"""Any two notebooks compared from the file browser, and a review exported as one HTML file,
as a person does it in real JupyterLab: select two notebooks, "Compare with…", read their
diff; "Export HTML" in a diff view and in the Review panel downloads the review."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from ..review_fixtures import NB, code, markdown, notebook, run_git, stream, write
from .conftest import Lab, screenshot, start_lab, stop_lab
from .helpers import open_lab, show_panel
from .test_review_panel import diff_view, tab

pytestmark = pytest.mark.ui

OLD, NEW = "model_v1.ipynb", "model_v2.ipynb"
REVIEWED = "analysis.ipynb"


def _model(rate: str, extra: bool) -> NB:
    cells = [markdown("# Model", id="title"),
             code(f"rate = {rate}\nprint(rate)", id="rate", outputs=[stream(f"{rate}\n")])]
    if extra:
        cells.append(code("evaluate(rate)", id="evaluate"))
    return notebook(cells)


@pytest.fixture(scope="module")
def compare_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Two versions of a model notebook side by side, and a committed notebook changed in
    the working copy (a review to export)."""
    tmp = tmp_path_factory.mktemp("compare-ui")
    root = tmp / "root"
    root.mkdir()
    run_git(root, "init", "-q")
    run_git(root, "config", "user.name", "Ada Reviewer")
    write(root / OLD, _model("0.1", extra=False))
    write(root / NEW, _model("0.2", extra=True))
    write(root / REVIEWED, _model("0.1", extra=False))
    run_git(root, "add", OLD, NEW, REVIEWED)
    run_git(root, "commit", "-q", "-m", "models")
    write(root / REVIEWED, _model("0.01", extra=False))
    lab = start_lab(root, tmp)
    yield lab
    stop_lab(lab)


def _wait_for_saved_layout(lab: Lab, text: str, timeout: float = 30) -> None:
    """Wait until the workspace JupyterLab saved on the server holds ``text``."""
    request = urllib.request.Request(f"{lab.url}lab/api/workspaces/default",
                                     headers={"Authorization": f"token {lab.token}"})
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(request, timeout=5) as response:
            saved = json.dumps(json.loads(response.read()))
        if text in saved or time.monotonic() > deadline:
            assert text in saved, saved[-2000:]
            return
        time.sleep(0.3)


def _file_browser(page: Any) -> Any:
    browser = page.locator("#filebrowser")
    if not browser.is_visible():
        page.locator('.jp-SideBar [data-id="filebrowser"]').click()
    expect(browser).to_be_visible()
    return browser


def _item(page: Any, browser: Any, name: str) -> Any:
    return browser.locator(".jp-DirListing-item").filter(
        has=page.locator(".jp-DirListing-itemText", has_text=re.compile(
            f"^{re.escape(name)}$")))


def _menu_item(page: Any, label: str) -> Any:
    return page.locator(".lm-Menu-content .lm-Menu-item").filter(
        has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(label)}$")))


def test_two_notebooks_selected_in_the_file_browser_are_compared(page: Any,
                                                                  compare_lab: Lab) -> None:
    open_lab(page, compare_lab)
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=60_000)
    browser = _file_browser(page)
    old, new = _item(page, browser, OLD), _item(page, browser, NEW)
    expect(new).to_be_visible(timeout=30_000)

    # one notebook selected: nothing to compare it with
    old.click()
    old.click(button="right")
    expect(page.locator(".lm-Menu-content")).to_be_visible()
    expect(_menu_item(page, "Compare with…")).to_be_hidden()
    page.keyboard.press("Escape")

    # two selected: "Compare with…" opens their diff, the first in the listing as the base
    old.click()
    new.click(modifiers=["Control"])
    new.click(button="right")
    _menu_item(page, "Compare with…").click()
    view = page.locator('.jp-mlops-review-widget[data-compare="files"]')
    expect(view).to_be_visible()
    expect(view).to_have_attribute("data-path", NEW)
    expect(tab(page, f"Compare: {OLD} ↔ {NEW}")).to_be_visible()
    summary = view.locator(".jp-mlops-review-summary")
    expect(summary).to_be_visible(timeout=30_000)
    expect(summary.locator(".jp-mlops-review-labels")).to_have_text(f"{OLD} → {NEW}")
    expect(summary.locator('[data-summary="modified"] strong')).to_have_text("1")
    expect(summary.locator('[data-summary="added"] strong')).to_have_text("1")
    rate = view.locator('.jp-mlops-review-cell[data-cell-id="rate"]')
    replaced = rate.locator('.jp-mlops-review-line[data-op="replace"]').first
    expect(replaced.locator('[data-side="base"]')).to_have_text("rate = 0.1")
    expect(replaced.locator('[data-side="head"]')).to_have_text("rate = 0.2")
    added = view.locator('.jp-mlops-review-cell[data-cell-id="evaluate"]')
    expect(added).to_have_attribute("data-status", "added")
    # two files have no review: no verdicts, no revisions to pick, nothing to export
    expect(view.locator(".jp-mlops-review-verdict")).to_be_hidden()
    expect(view.locator("[data-picker]").first).to_be_hidden()
    expect(view.locator(".jp-mlops-review-export")).to_have_count(0)
    # leaving the outputs out fetches the two files' diff again
    view.locator('[data-filter="outputs"] input').uncheck()
    expect(summary.locator('[data-summary="outputs_changed"] strong')).to_have_text("0")
    view.locator('[data-filter="outputs"] input').check()
    expect(summary.locator('[data-summary="outputs_changed"] strong')).to_have_text("1")
    screenshot(page, "review-compare-files")

    # a reload brings the comparison back, still of the two files (once the page has
    # saved its layout)
    _wait_for_saved_layout(compare_lab, '"files": true')
    page.reload()
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=60_000)
    view = page.locator('.jp-mlops-review-widget[data-compare="files"]')
    expect(view).to_have_count(1)
    expect(view.locator(".jp-mlops-review-labels")).to_have_text(f"{OLD} → {NEW}",
                                                                 timeout=30_000)


def test_export_html_downloads_the_review_from_the_diff_view_and_the_panel(
        page: Any, compare_lab: Lab) -> None:
    exports: list[str] = []
    page.on("request", lambda request: exports.append(request.url)
            if "review/export" in request.url else None)
    open_lab(page, compare_lab)
    panel = show_panel(page, "review", settled=True)
    panel.locator(f'[data-list="changes"] [data-path="{REVIEWED}"]').click(timeout=30_000)
    view = diff_view(page, REVIEWED)
    # a thread, which the export carries
    cell = view.locator('.jp-mlops-review-cell[data-cell-id="rate"]')
    cell.locator('.jp-mlops-review-lineButton[data-line-side="head"][data-line="1"]').click()
    editor = cell.locator(".jp-mlops-review-editor")
    editor.locator("textarea").first.fill("Ten times smaller, on purpose?")
    editor.locator('button[type="submit"]').click()
    expect(cell.locator(".jp-mlops-review-thread")).to_contain_text(
        "Ten times smaller, on purpose?")

    with page.expect_download() as from_view:
        view.locator(".jp-mlops-review-export").click()
    download = from_view.value
    assert download.suggested_filename == "analysis.review.html"
    html = Path(download.path()).read_text()
    assert "<html" in html.lower()
    text = re.sub(r"<[^>]+>", "", html)  # the changed characters are marked within lines
    assert "rate = 0.01" in text
    assert "Ten times smaller, on purpose?" in text
    assert compare_lab.token not in html
    expect(page.get_by_text("Review exported as analysis.review.html")).to_be_visible()

    # the Review panel's reviews list exports it too
    item = panel.locator(f'.jp-mlops-review-exportItem[data-export="{REVIEWED}"]')
    expect(item).to_be_visible(timeout=30_000)
    with page.expect_download() as from_panel:
        item.click()
    assert from_panel.value.suggested_filename == "analysis.review.html"
    assert "Ten times smaller, on purpose?" in Path(from_panel.value.path()).read_text()

    # fetched with the token in a header, never in the URL
    assert len(exports) == 2
    assert all("token" not in url for url in exports)
