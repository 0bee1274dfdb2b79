"""The Review panel and the notebook diff view as a person uses them, in real JupyterLab on a
real git repository: open the diff of a changed notebook, comment on a cell, approve,
reload and see both; a 500-cell diff renders lazily."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import Lab, screenshot, start_lab, stop_lab

pytestmark = pytest.mark.ui

NOTEBOOK = "analysis.ipynb"
BIG = "big.ipynb"
BIG_CELLS = 500


def _cell(cell_id: str, cell_type: str, source: str,
          outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    cell: dict[str, Any] = {"id": cell_id, "cell_type": cell_type, "metadata": {},
                            "source": source}
    if cell_type == "code":
        cell.update(execution_count=None, outputs=outputs or [])
    return cell


def _stream(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text}


def _notebook(cells: list[dict[str, Any]]) -> str:
    return json.dumps({
        "cells": cells, "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}}}, indent=1)


def _analysis(rate: str, printed: str) -> str:
    return _notebook([
        _cell("intro", "markdown", "# Churn analysis\n\nThe *learning rate* we settled on."),
        _cell("setup", "code", "import math"),
        _cell("rate", "code", f"rate = {rate}\nprint(rate)", [_stream(printed)]),
        _cell("outro", "markdown", "That is all."),
    ])


def _big(offset: int) -> str:
    return _notebook([_cell(f"c{i}", "code", f"value = {i + offset}", [_stream(f"{i + offset}\n")])
                      for i in range(BIG_CELLS)])


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def review_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A lab whose root is a git repository with two committed notebooks, both changed in the
    working copy: one cell's source and output in analysis.ipynb, every cell of big.ipynb."""
    tmp = tmp_path_factory.mktemp("review-ui")
    root = tmp / "root"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.name", "Ada Reviewer")
    _git(root, "config", "user.email", "ada@example.org")
    (root / NOTEBOOK).write_text(_analysis("0.1", "0.1\n"))
    (root / BIG).write_text(_big(0))
    _git(root, "add", NOTEBOOK, BIG)
    _git(root, "commit", "-q", "-m", "analysis")
    (root / NOTEBOOK).write_text(_analysis("0.01", "0.01\n"))
    (root / BIG).write_text(_big(1))
    lab = start_lab(root, tmp)
    yield lab
    stop_lab(lab)


def show_review_panel(page: Any) -> Any:
    """The Review panel, once the page has restored its layout (which may have the MLOps
    sidebar open already: clicking its tab then would close it)."""
    page.locator("#jp-main-dock-panel").wait_for()
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=60_000)
    if not page.locator("#mlops-sidebar").is_visible():
        page.locator('.jp-SideBar [data-id="mlops-sidebar"]').click()
    panel = page.locator('[data-mlops-panel="review"]')
    expect(panel).to_be_visible()
    # the sections above grow when the status arrives: click only once the layout is still
    for section in page.locator("#mlops-sidebar [data-mlops-section]").all():
        expect(section).to_have_attribute("data-state", re.compile("^(ok|warning|error)$"),
                                          timeout=30_000)
    return panel


def open_review_panel(page: Any, lab: Lab) -> Any:
    page.goto(lab.page_url())
    return show_review_panel(page)


def diff_view(page: Any, path: str) -> Any:
    view = page.locator(f'.jp-mlops-review-widget[data-path="{path}"]')
    expect(view).to_be_visible()
    expect(view.locator(".jp-mlops-review-summary")).to_be_visible(timeout=30_000)
    return view


def test_comment_and_approve_a_changed_notebook_survive_a_reload(page: Any,
                                                                  review_lab: Lab) -> None:
    panel = open_review_panel(page, review_lab)
    changed = panel.locator(f'[data-list="changes"] [data-path="{NOTEBOOK}"]')
    expect(changed).to_be_visible(timeout=30_000)
    expect(changed).to_have_attribute("data-status", "modified")
    expect(panel.locator(f'[data-list="changes"] [data-path="{BIG}"]')).to_be_visible()
    screenshot(page, "review-panel", page.locator("#mlops-sidebar"))

    changed.click()
    view = diff_view(page, NOTEBOOK)
    expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
           ).to_contain_text(f"Review: {NOTEBOOK}")
    summary = view.locator(".jp-mlops-review-summary")
    expect(summary.locator('[data-summary="modified"] strong')).to_have_text("1")
    expect(summary.locator('[data-summary="outputs_changed"] strong')).to_have_text("1")
    expect(summary.locator('[data-summary="added"] strong')).to_have_text("0")

    # the changed cell: its line replaced, the changed characters marked on each side
    cell = view.locator('.jp-mlops-review-cell[data-cell-id="rate"]')
    expect(cell).to_have_attribute("data-status", "modified")
    replaced = cell.locator('.jp-mlops-review-line[data-op="replace"]').first
    expect(replaced.locator('[data-side="base"]')).to_have_text("rate = 0.1")
    expect(replaced.locator('[data-side="head"]')).to_have_text("rate = 0.01")
    expect(replaced.locator('[data-side="head"] mark.jp-mlops-review-inline').first
           ).to_be_visible()
    outputs = cell.locator('.jp-mlops-review-outputs[data-changed="true"]')
    expect(outputs.locator('[data-side="base"]')).to_contain_text("0.1")
    expect(outputs.locator('[data-side="head"]')).to_contain_text("0.01")

    # unchanged cells are folded; unfolding the first run shows the markdown rendered
    folded = view.locator(".jp-mlops-review-collapsed").first
    expect(folded).to_have_text("2 unchanged cells")
    folded.click()
    intro = view.locator('.jp-mlops-review-cell[data-cell-id="intro"]')
    expect(intro.locator("h1")).to_contain_text("Churn analysis")
    expect(intro.locator("em")).to_have_text("learning rate")

    # comment on the changed line
    cell.locator('.jp-mlops-review-lineButton[data-line="1"]').click()
    editor = cell.locator(".jp-mlops-review-editor")
    expect(editor).to_contain_text("line 1")
    editor.locator("textarea").first.fill("Why ten times smaller?")
    editor.locator('button[type="submit"]').click()
    thread = cell.locator(".jp-mlops-review-thread")
    expect(thread).to_have_count(1)
    expect(thread).to_contain_text("Why ten times smaller?")
    expect(thread.locator(".jp-mlops-review-threadAnchor")).to_have_text("line 1")
    expect(editor).to_have_count(0)

    # approve, with a message
    verdict = view.locator(".jp-mlops-review-verdict")
    verdict.locator(".jp-mlops-review-verdictText").fill("Fine once the rate is explained")
    verdict.locator('[data-verdict="approve"]').click()
    expect(verdict.locator(".jp-mlops-review-state")).to_have_text("Approved")
    me = verdict.locator('.jp-mlops-review-reviewer[data-state="approved"]')
    expect(me).to_have_count(1)
    expect(me).to_contain_text("(you)")
    screenshot(page, "review-diff-view")

    # what was said lies in the repository, one valid JSON file per event
    files = sorted((review_lab.root / ".mlops" / "reviews").rglob("*.json"))
    texts = [path.read_text() for path in files]
    events = [json.loads(text) for text in texts]
    assert len(events) >= 2
    assert any("Why ten times smaller?" in text for text in texts)
    assert any("approve" in json.dumps(event) for event in events)

    # a reload forgets everything the page held: the panel and the view read it back
    page.reload()
    panel = show_review_panel(page)
    review = panel.locator(f'[data-list="reviews"] [data-path="{NOTEBOOK}"]')
    expect(review).to_have_attribute("data-state", "approved", timeout=30_000)
    expect(review).to_contain_text("1 open of 1 threads")
    review.click()
    view = diff_view(page, NOTEBOOK)
    cell = view.locator('.jp-mlops-review-cell[data-cell-id="rate"]')
    expect(cell.locator(".jp-mlops-review-thread")).to_contain_text("Why ten times smaller?")
    expect(view.locator(".jp-mlops-review-verdict .jp-mlops-review-state")
           ).to_have_text("Approved")
    screenshot(page, "review-diff-view-reloaded")


def test_a_500_cell_diff_renders_as_it_scrolls(page: Any, review_lab: Lab) -> None:
    panel = open_review_panel(page, review_lab)
    changed = panel.locator(f'[data-list="changes"] [data-path="{BIG}"]')
    expect(changed).to_be_visible(timeout=30_000)
    changed.click()
    view = diff_view(page, BIG)
    expect(view.locator('.jp-mlops-review-summary [data-summary="modified"] strong')
           ).to_have_text(str(BIG_CELLS), timeout=30_000)
    cells = view.locator(".jp-mlops-review-cell")
    expect(cells.first).to_be_visible()
    # what is far below is not rendered yet, only held as room
    assert cells.count() < BIG_CELLS / 2
    assert view.locator(".jp-mlops-review-placeholder").count() > BIG_CELLS / 2
    last = view.locator(f'.jp-mlops-review-cell[data-head-index="{BIG_CELLS - 1}"]')
    expect(last).to_have_count(0)
    content = view.locator(".jp-mlops-review-content")
    for _ in range(20):
        content.evaluate("node => { node.scrollTop = node.scrollHeight; }")
        if last.count() > 0:
            break
        page.wait_for_timeout(250)
    expect(last).to_be_visible()
    expect(last.locator('[data-side="head"]').first).to_have_text(f"value = {BIG_CELLS}")
    screenshot(page, "review-diff-view-long")
