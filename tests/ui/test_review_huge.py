"""The diff view of a huge notebook (issue #15 item 4) in real JupyterLab and Chromium: the
generated 20 MB notebook of 2,000 cells and 200 images, edited in the working copy of a real
git repository. Only what is on screen is rendered (a bounded number of cells in the page
wherever it is scrolled), the changes ruler beside the scrollbar marks every change and
takes you there, and next-change reaches the last change, which sits below a big image."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from ..huge_notebook import CELLS, HugeEdits, dumps, make_huge_pair
from ..review_fixtures import run_git
from .conftest import Lab, screenshot, start_lab, stop_lab
from .test_review_panel import diff_view, open_review_panel

pytestmark = pytest.mark.ui

NB = "huge.ipynb"
#: at most this many cells in the page at once (a screen and about two screens around it)
MOUNTED_AT_MOST = 80


@pytest.fixture(scope="module")
def huge_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, HugeEdits]]:
    tmp = tmp_path_factory.mktemp("review-huge-ui")
    root = tmp / "root"
    root.mkdir()
    base, head, edits = make_huge_pair()
    run_git(root, "init", "-q")
    (root / NB).write_text(dumps(base), encoding="utf-8")
    run_git(root, "add", NB)
    run_git(root, "commit", "-q", "-m", "huge")
    (root / NB).write_text(dumps(head), encoding="utf-8")
    lab = start_lab(root, tmp)
    yield lab, edits
    stop_lab(lab)


def _changes(edits: HugeEdits) -> int:
    return len(edits.modified) + len(edits.added) + len(edits.removed) + len(edits.moved)


def _open(page: Any, lab: Lab) -> Any:
    panel = open_review_panel(page, lab)
    changed = panel.locator(f'[data-list="changes"] [data-path="{NB}"]')
    expect(changed).to_be_visible(timeout=30_000)
    changed.click()
    page.locator(f'.jp-mlops-review-widget[data-path="{NB}"] .jp-mlops-review-summary'
                 ).wait_for(timeout=120_000)
    return diff_view(page, NB)


def _top_cell(content: Any) -> str | None:
    """The id of the changed row right below the sticky top bar."""
    found: str | None = content.evaluate("""root => {
        const bar = root.querySelector('.jp-mlops-review-top').getBoundingClientRect();
        const rows = root.querySelectorAll('.jp-mlops-review-row[data-changed]');
        for (const row of rows) {
            const top = row.getBoundingClientRect().top;
            if (Math.abs(top - bar.bottom) <= 4) {
                const cell = row.querySelector('.jp-mlops-review-cell');
                return cell ? cell.dataset.cellId : '(not rendered)';
            }
        }
        return null;
    }""")
    return found


def _settled_top(page: Any, content: Any) -> str | None:
    """``_top_cell`` once the view stopped moving (the cells around a change render and
    take their heights after the jump)."""
    last: str | None = None
    for _ in range(30):
        page.wait_for_timeout(200)
        top = _top_cell(content)
        if top is not None and top == last and top != "(not rendered)":
            return top
        last = top
    return last


def test_only_what_is_on_screen_is_rendered_and_the_ruler_marks_every_change(
        page: Any, huge_lab: tuple[Lab, HugeEdits]) -> None:
    lab, edits = huge_lab
    view = _open(page, lab)
    expect(view.locator('.jp-mlops-review-summary [data-summary="modified"] strong')
           ).to_have_text(str(len(edits.modified)))
    ruler = view.locator(".jp-mlops-review-ruler")
    expect(ruler).to_be_visible()
    expect(ruler).to_have_attribute("data-changes", str(_changes(edits)))

    # every cell, unchanged ones too: 2,000 rows, 200 images, a few cells in the page
    view.locator('[data-filter="hide-unchanged"] input').uncheck()
    rows = view.locator(".jp-mlops-review-row")
    expect(rows).to_have_count(CELLS + len(edits.added))
    expect(ruler).to_have_attribute("data-changes", str(_changes(edits)))
    content = view.locator(".jp-mlops-review-content")
    cells = view.locator(".jp-mlops-review-cell")
    height = float(content.evaluate("node => node.scrollHeight"))
    screen = float(content.evaluate("node => node.clientHeight"))
    assert height > 50 * screen  # the whole notebook's room is there, scrollable
    # how long the page's longest tasks take while it scrolls (printed, not asserted:
    # timings go in benchmarks, and this machine is shared)
    page.evaluate("""() => {
        window.__longTasks = [];
        new PerformanceObserver(list => window.__longTasks.push(
            ...list.getEntries().map(e => e.duration))).observe({entryTypes: ['longtask']});
    }""")
    position, seen = 0.0, 0
    while position < height:
        content.evaluate(f"node => {{ node.scrollTop = {position}; }}")
        page.wait_for_timeout(60)
        mounted = cells.count()
        assert mounted <= MOUNTED_AT_MOST, f"{mounted} cells rendered at {position:.0f}px"
        seen = max(seen, mounted)
        position += screen * 7
        height = float(content.evaluate("node => node.scrollHeight"))
    assert seen > 0
    tasks = page.evaluate("() => window.__longTasks")
    print(f"\nscrolling {height:.0f}px: {len(tasks)} tasks over 50 ms, the longest "
          f"{max(tasks, default=0):.0f} ms; at most {seen} cells rendered at once")
    # the bottom of the diff: its last cell rendered, the earlier ones given back
    last = view.locator(f'.jp-mlops-review-cell[data-cell-id="cell-{CELLS - 1}"]')
    for _ in range(20):
        content.evaluate("node => { node.scrollTop = node.scrollHeight; }")
        if last.count():
            break
        page.wait_for_timeout(200)
    expect(last).to_be_visible()
    expect(view.locator('.jp-mlops-review-cell[data-cell-id="cell-0"]')).to_have_count(0)
    assert cells.count() <= MOUNTED_AT_MOST
    screenshot(page, "review-huge-bottom")

    # a mark of the ruler takes you to its change: the last one, below a big image
    ruler.locator(".jp-mlops-review-rulerMark").last.click()
    target = view.locator(f'.jp-mlops-review-cell[data-cell-id="{edits.last_change}"]')
    expect(target).to_be_visible()
    expect(target.locator('.jp-mlops-review-line[data-op="insert"]').last
           ).to_contain_text("print('the very last change')")
    assert _settled_top(page, content) == edits.last_change


def test_next_change_reaches_the_last_change_below_a_big_output(
        page: Any, huge_lab: tuple[Lab, HugeEdits]) -> None:
    lab, edits = huge_lab
    view = _open(page, lab)
    view.locator('[data-filter="hide-unchanged"] input').uncheck()
    content = view.locator(".jp-mlops-review-content")
    content.evaluate("node => { node.scrollTop = 0; }")
    next_change = view.locator('[data-jump="next"]')
    # the changed rows in order, as the view lists them (a removed cell where it was)
    order: list[str] = []
    for _ in range(_changes(edits) + 2):
        next_change.click()
        top = _settled_top(page, content)
        assert top is not None, "next change did not bring a change to the top"
        if order and top == order[-1]:
            break  # the last change: next has nowhere further to go
        order.append(top)
    assert order[-1] == edits.last_change
    assert set(order) == set(edits.modified) | set(edits.added) | set(edits.removed) | \
        set(edits.moved)
    # right above it: the big image of the cell before, rendered, and nothing hides it
    above = view.locator('.jp-mlops-review-cell[data-cell-id="cell-1989"]')
    expect(above.locator("img").first).to_be_attached()
    target = view.locator(f'.jp-mlops-review-cell[data-cell-id="{edits.last_change}"]')
    expect(target).to_be_in_viewport()
    screenshot(page, "review-huge-last-change")
    # and back: p on the keyboard, the change before it
    view.locator(".jp-mlops-review-view").focus()
    page.keyboard.press("p")
    assert _settled_top(page, content) == order[-2]
