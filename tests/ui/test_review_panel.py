"""The Review panel and the notebook diff view as a person uses them, in real JupyterLab on a
real git repository: open the diff of a changed notebook, comment on a cell, approve,
reload and see both; a 500-cell diff renders lazily."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from ..review_fixtures import NB, code, image, markdown, notebook, png, run_git, stream, write
from .conftest import Lab, screenshot, start_lab, stop_lab
from .helpers import open_lab, show_panel

pytestmark = pytest.mark.ui

NOTEBOOK = "analysis.ipynb"
BIG = "big.ipynb"
BIG_CELLS = 500
PLOT = "plot.ipynb"


def _analysis(rate: str) -> NB:
    return notebook([
        markdown("# Churn analysis\n\nThe *learning rate* we settled on.", id="intro"),
        code("import math", id="setup"),
        code(f"rate = {rate}\nprint(rate)", id="rate", outputs=[stream(f"{rate}\n")]),
        markdown("That is all.", id="outro"),
    ])


def _big(offset: int) -> NB:
    return notebook([code(f"value = {i + offset}", id=f"c{i}",
                          outputs=[stream(f"{i + offset}\n")]) for i in range(BIG_CELLS)])


def _plot(color: str, rgb: tuple[int, int, int]) -> NB:
    return notebook([
        markdown("# Colours\n\n![swatch](attachment:swatch.png)", id="title",
                 attachments={"swatch.png": {"image/png": png(8, 8, rgb)}}),
        code(f'color = "{color}"\nshow(color)', id="plot",
             outputs=[image(png(160, 90, rgb))]),
    ])


@pytest.fixture(scope="module")
def review_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A lab whose root is a git repository with two committed notebooks, both changed in the
    working copy: one cell's source and output in analysis.ipynb, every cell of big.ipynb, a
    line and an image in plot.ipynb."""
    tmp = tmp_path_factory.mktemp("review-ui")
    root = tmp / "root"
    root.mkdir()
    run_git(root, "init", "-q")
    # the author of what the browser writes (a token login is anonymous): git's user.name
    run_git(root, "config", "user.name", "Ada Reviewer")
    write(root / NOTEBOOK, _analysis("0.1"))
    write(root / BIG, _big(0))
    write(root / PLOT, _plot("red", (200, 40, 40)))
    run_git(root, "add", NOTEBOOK, BIG, PLOT)
    run_git(root, "commit", "-q", "-m", "analysis")
    write(root / NOTEBOOK, _analysis("0.01"))
    write(root / BIG, _big(1))
    write(root / PLOT, _plot("blue", (40, 40, 200)))
    lab = start_lab(root, tmp)
    yield lab
    stop_lab(lab)


def open_review_panel(page: Any, lab: Lab) -> Any:
    open_lab(page, lab)
    return show_panel(page, "review", settled=True)


def tab(page: Any, label: str) -> Any:
    """The main area's tab labelled exactly ``label``."""
    return page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab").filter(
        has=page.locator(".lm-TabBar-tabLabel", has_text=re.compile(f"^{re.escape(label)}$")))


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
    page.locator("#mlops-section-review").scroll_into_view_if_needed()
    screenshot(page, "review-panel", page.locator("#mlops-sidebar"))

    changed.click()
    view = diff_view(page, NOTEBOOK)
    expect(tab(page, f"Review: {NOTEBOOK}")).to_have_class(re.compile("lm-mod-current"))
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
    cell.locator('.jp-mlops-review-lineButton[data-line-side="head"][data-line="1"]').click()
    editor = cell.locator(".jp-mlops-review-editor")
    expect(editor).to_contain_text("line 1")
    editor.locator("textarea").first.fill("Why ten times smaller?")
    editor.locator('button[type="submit"]').click()
    thread = cell.locator(".jp-mlops-review-thread")
    expect(thread).to_have_count(1)
    expect(thread).to_contain_text("Why ten times smaller?")
    expect(thread.locator(".jp-mlops-review-threadAnchor")).to_have_text("line 1")
    expect(editor).to_have_count(0)
    # a shift-click extends a comment to a range of lines
    cell.locator('.jp-mlops-review-lineButton[data-line-side="head"][data-line="1"]').click()
    cell.locator('.jp-mlops-review-lineButton[data-line-side="head"][data-line="2"]').click(
        modifiers=["Shift"])
    expect(editor).to_contain_text("lines 1–2")
    editor.get_by_role("button", name="Cancel").click()
    expect(editor).to_have_count(0)

    # a reply in the thread
    thread.locator(".jp-mlops-review-replyText").fill("The loss diverged at 0.1")
    thread.get_by_role("button", name="Reply").click()
    expect(thread.locator(".jp-mlops-review-comment")).to_have_count(2)
    expect(thread).to_contain_text("The loss diverged at 0.1")

    # outputs left out of the comparison: fetched again, only the source differs
    view.locator('[data-filter="outputs"] input').uncheck()
    expect(summary.locator('[data-summary="outputs_changed"] strong')).to_have_text("0")
    expect(cell.locator('.jp-mlops-review-outputs[data-changed="true"]')).to_have_count(0)
    expect(cell).to_have_attribute("data-status", "modified")
    view.locator('[data-filter="outputs"] input').check()
    expect(summary.locator('[data-summary="outputs_changed"] strong')).to_have_text("1")

    # against the index (nothing staged): no change; back to the working copy
    head = view.locator('[data-picker="Head"] select')
    head.select_option("INDEX")
    expect(view).to_have_attribute("data-head", "INDEX")
    expect(summary.locator('[data-summary="modified"] strong')).to_have_text("0")
    head.select_option("WORKING")
    expect(summary.locator('[data-summary="modified"] strong')).to_have_text("1")
    # a ref typed in that git does not know: the server's one line, then back to HEAD
    base = view.locator('[data-picker="Base"]')
    base.locator("select").select_option("__other__")
    base.locator(".jp-mlops-review-refInput").fill("no-such-ref")
    base.locator(".jp-mlops-review-refInput").press("Enter")
    expect(view.locator(".jp-mlops-review-error")).to_contain_text(
        "unknown git revision 'no-such-ref'")
    base.locator("select").select_option("HEAD")
    expect(view.locator(".jp-mlops-review-error")).to_have_count(0)
    expect(summary.locator('[data-summary="modified"] strong')).to_have_text("1")

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
    panel = show_panel(page, "review", settled=True)
    # the diff view was open: the page's layout brings it back
    expect(page.locator(f'.jp-mlops-review-widget[data-path="{NOTEBOOK}"]')).to_have_count(1)
    review = panel.locator(f'[data-list="reviews"] [data-path="{NOTEBOOK}"]')
    expect(review).to_have_attribute("data-state", "approved", timeout=30_000)
    expect(review).to_contain_text("1 thread, 1 open")
    expect(review.locator('.jp-mlops-review-reviewerChip[data-state="approved"]')
           ).to_have_text("Ada Reviewer approved")
    review.scroll_into_view_if_needed()
    screenshot(page, "review-panel-approved", page.locator("#mlops-sidebar"))
    review.click()
    view = diff_view(page, NOTEBOOK)
    cell = view.locator('.jp-mlops-review-cell[data-cell-id="rate"]')
    expect(cell.locator(".jp-mlops-review-thread")).to_contain_text("Why ten times smaller?")
    expect(view.locator(".jp-mlops-review-verdict .jp-mlops-review-state")
           ).to_have_text("Approved")
    screenshot(page, "review-diff-view-reloaded")

    # the commented line is rewritten: the thread stays in place, marked outdated
    write(review_lab.root / NOTEBOOK, _analysis("0.02"))
    view.locator(".jp-mlops-review-refresh").click()
    expect(cell.locator('[data-side="head"]').first).to_have_text("rate = 0.02")
    thread = cell.locator(".jp-mlops-review-thread")
    expect(thread).to_have_attribute("data-outdated", "true")
    expect(thread.locator('.jp-mlops-review-badge[data-kind="outdated"]')).to_be_visible()
    expect(thread).to_contain_text("Why ten times smaller?")

    # committed since my approval: the approval no longer covers the head, and the view
    # offers the changes since the commit I approved
    approved_on = run_git(review_lab.root, "rev-parse", "HEAD").strip()
    run_git(review_lab.root, "add", NOTEBOOK)
    run_git(review_lab.root, "commit", "-q", "-m", "rate 0.02")
    view.locator(".jp-mlops-review-refresh").click()
    verdict = view.locator(".jp-mlops-review-verdict")
    expect(verdict.locator(".jp-mlops-review-state")).to_have_text("Open")
    expect(verdict.locator('.jp-mlops-review-commit[data-older="true"]')
           ).to_have_text(approved_on[:7])
    verdict.locator(".jp-mlops-review-since").click()
    expect(view.locator(".jp-mlops-review-refInput").first).to_have_value(approved_on)
    expect(view.locator(".jp-mlops-review-labels")).to_contain_text(approved_on[:7])
    expect(cell.locator('[data-side="base"]').first).to_have_text("rate = 0.1")


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

    def scrolled() -> float:
        return float(content.evaluate("node => node.scrollTop"))

    # next / previous change: by the buttons, and by n / p on the keyboard
    view.locator('[data-jump="next"]').click()
    view.locator('[data-jump="next"]').click()
    after_two = scrolled()
    assert after_two > 0
    view.locator(".jp-mlops-review-view").focus()
    page.keyboard.press("n")  # the handler scrolls at once
    assert scrolled() > after_two
    page.keyboard.press("p")
    page.keyboard.press("p")
    assert scrolled() < after_two
    for _ in range(20):
        content.evaluate("node => { node.scrollTop = node.scrollHeight; }")
        if last.count() > 0:
            break
        page.wait_for_timeout(250)
    expect(last).to_be_visible()
    expect(last.locator('[data-side="head"]').first).to_have_text(f"value = {BIG_CELLS}")
    screenshot(page, "review-diff-view-long")


def test_suggest_apply_and_request_changes_from_the_notebooks_command(
        page: Any, review_lab: Lab) -> None:
    page.goto(review_lab.page_url(f"lab/tree/{PLOT}"))
    page.locator(".jp-NotebookPanel").wait_for(timeout=60_000)
    # JupyterLab may ask which kernel to start: take the notebook's own
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    try:
        dialog.wait_for(timeout=5_000)
    except PlaywrightTimeout:
        pass
    else:
        dialog.locator(".jp-mod-accept").click()
    # an unsaved edit in the open notebook, which applying a suggestion must not discard
    page.locator(".jp-NotebookPanel .jp-CodeCell .cm-content").first.click()
    page.keyboard.press("End")
    page.keyboard.type("  # mine")
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Shift+C")
    page.locator(".lm-CommandPalette-input").fill("Review notebook changes")
    page.locator(".lm-CommandPalette-item", has_text="Review notebook changes").first.click()
    view = diff_view(page, PLOT)
    cell = view.locator('.jp-mlops-review-cell[data-cell-id="plot"]')

    # the title's attached image, changed, renders on each side as in the notebook
    title = view.locator('.jp-mlops-review-cell[data-cell-id="title"]')
    sources = []
    for side in ("base", "head"):
        swatch = title.locator(f'.jp-mlops-review-markdown [data-side="{side}"] img')
        expect(swatch).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
        page.wait_for_function("img => img.complete && img.naturalWidth === 8",
                               arg=swatch.element_handle(), timeout=10_000)
        sources.append(swatch.get_attribute("src"))
    assert sources[0] != sources[1]

    # the image before and after, side by side, then as a swipe revealing the older one
    images = cell.locator(".jp-mlops-review-images")
    expect(images.locator("img")).to_have_count(2)
    images.get_by_label("Swipe").check()
    slider = images.locator('.jp-mlops-review-swipe input[type="range"]')
    slider.fill("20")
    expect(images.locator(".jp-mlops-review-swipeBase")).to_have_attribute(
        "style", re.compile(r"inset\(0(px)? 80% 0(px)? 0(px)?\)"))
    screenshot(page, "review-image-swipe", cell)

    # unified: the old line, then the new one
    view.locator('.jp-mlops-review-segmented [data-mode="unified"]').click()
    source = cell.locator('.jp-mlops-review-source[data-mode="unified"]')
    expect(source.locator('[data-op="delete"] [data-side="base"]')).to_have_text('color = "red"')
    expect(source.locator('[data-op="insert"] [data-side="head"]')).to_have_text('color = "blue"')

    # a suggestion on the cell, applied to the working copy
    cell.locator(".jp-mlops-review-commentCell").click()
    editor = cell.locator(".jp-mlops-review-editor")
    editor.locator(".jp-mlops-review-editorText").fill("The plot was red on purpose")
    editor.get_by_label("Suggest a new source for the cell").check()
    editor.locator(".jp-mlops-review-editorSuggestion").fill('color = "red"\nshow(color)')
    editor.locator('button[type="submit"]').click()
    thread = cell.locator(".jp-mlops-review-thread")
    expect(thread.locator(".jp-mlops-review-suggestion pre")).to_have_text(
        'color = "red"\nshow(color)')
    thread.get_by_role("button", name="Apply suggestion").click()
    expect(thread.get_by_role("button", name="Applied")).to_be_disabled()
    saved = json.loads((review_lab.root / PLOT).read_text())
    plot = next(c for c in saved["cells"] if c.get("id") == "plot")
    assert "".join(plot["source"]) == 'color = "red"\nshow(color)'
    # the diff is fetched again: the source no longer differs from HEAD
    expect(cell.locator('[data-op="insert"]')).to_have_count(0)
    # the open notebook kept the unsaved edit; reloading it from disk shows the suggestion
    page.get_by_role("button", name="Reload from disk").click()
    tab(page, PLOT).click()
    code_cell = page.locator(".jp-NotebookPanel .jp-CodeCell .cm-content").first
    expect(code_cell).to_contain_text('color = "red"')
    expect(code_cell).not_to_contain_text("# mine")
    tab(page, f"Review: {PLOT}").click()

    # resolve the thread, and request changes with a reason
    thread.get_by_role("button", name="Resolve").click()
    expect(thread).to_have_attribute("data-status", "resolved")
    verdict = view.locator(".jp-mlops-review-verdict")
    request = verdict.locator('[data-verdict="request-changes"]')
    expect(request).to_be_disabled()  # a reason first
    verdict.locator(".jp-mlops-review-verdictText").fill("Keep the palette of the report")
    request.click()
    expect(verdict.locator(".jp-mlops-review-state")).to_have_text("Changes requested")
    expect(verdict.locator('.jp-mlops-review-reviewer[data-state="changes_requested"]')
           ).to_contain_text("Ada Reviewer")
    screenshot(page, "review-changes-requested")

    # a comment on the image itself
    cell.locator('.jp-mlops-review-outputComment[data-output="0"]').click()
    editor = cell.locator(".jp-mlops-review-editor")
    expect(editor).to_contain_text("output 1")
    editor.locator(".jp-mlops-review-editorText").fill("Legend is missing")
    editor.locator('button[type="submit"]').click()
    on_output = cell.locator(".jp-mlops-review-thread", has_text="Legend is missing")
    expect(on_output.locator(".jp-mlops-review-threadAnchor")).to_have_text("output 1")


def test_a_removed_line_takes_a_comment_numbered_as_in_the_base(page: Any,
                                                                review_lab: Lab) -> None:
    name = "trimmed.ipynb"  # its own notebook: the other tests commit and edit theirs
    write(review_lab.root / name, _analysis("0.1"))
    run_git(review_lab.root, "add", name)
    run_git(review_lab.root, "commit", "-q", "-m", "trimmed")
    write(review_lab.root / name, _analysis("0.01"))
    panel = open_review_panel(page, review_lab)
    panel.locator(f'[data-list="changes"] [data-path="{name}"]').click()
    view = diff_view(page, name)
    cell = view.locator('.jp-mlops-review-cell[data-cell-id="rate"]')
    # "rate = 0.1" is gone from the working copy: its base line number is a button
    removed = cell.locator('.jp-mlops-review-lineButton[data-line-side="base"][data-line="1"]')
    removed.click()
    editor = cell.locator(".jp-mlops-review-editor")
    expect(editor).to_contain_text("removed line 1")
    # no suggestion on lines the newer revision does not have
    expect(editor.get_by_label("Suggest a new source for the cell")).to_have_count(0)
    editor.locator(".jp-mlops-review-editorText").fill("0.1 was the paper's value")
    editor.locator('button[type="submit"]').click()
    thread = cell.locator(".jp-mlops-review-thread", has_text="0.1 was the paper's value")
    expect(thread.locator(".jp-mlops-review-threadAnchor")).to_have_text("removed line 1")
    expect(removed.locator("xpath=..")).to_have_attribute("data-thread", "true")
    # in the unified view the same line, marked with its thread
    view.locator('.jp-mlops-review-segmented [data-mode="unified"]').click()
    unified = cell.locator('.jp-mlops-review-source[data-mode="unified"]')
    expect(unified.locator('.jp-mlops-review-lineButton[data-line-side="base"][data-line="1"]'
                           ).locator("xpath=..")).to_have_attribute("data-thread", "true")
    view.locator('.jp-mlops-review-segmented [data-mode="side-by-side"]').click()
    # read back after a reload, still on the base side (opened from the reviews list: the
    # layout may have been saved before this tab opened)
    page.reload()
    panel = show_panel(page, "review", settled=True)
    panel.locator(f'[data-list="reviews"] [data-path="{name}"]').click(timeout=30_000)
    view = diff_view(page, name)
    cell = view.locator('.jp-mlops-review-cell[data-cell-id="rate"]')
    thread = cell.locator(".jp-mlops-review-thread", has_text="0.1 was the paper's value")
    expect(thread.locator(".jp-mlops-review-threadAnchor")).to_have_text("removed line 1")
    saved = [json.loads(p.read_text())
             for p in (review_lab.root / ".mlops" / "reviews").rglob("*.json")]
    (event,) = [e for e in saved if e.get("text") == "0.1 was the paper's value"]
    assert event["anchor"]["side"] == "base" and event["anchor"]["line"] == 1
    screenshot(page, "review-removed-line-comment", cell)


def test_outside_git_the_panel_says_so_and_a_notebook_without_checkpoint_is_explained(
        page: Any, lab: Lab) -> None:
    panel = open_review_panel(page, lab)  # conftest's lab: demo.ipynb, no git repository
    expect(panel.locator(".jp-mlops-review-note")).to_contain_text("Not a git repository")
    demo = panel.locator('[data-list="changes"] [data-path="demo.ipynb"]')
    expect(demo).to_have_attribute("data-status", "untracked")
    demo.click()
    view = page.locator('.jp-mlops-review-widget[data-path="demo.ipynb"]')
    expect(view.locator(".jp-mlops-review-error")).to_contain_text("has no checkpoint")
    expect(view.locator(".jp-mlops-review-cell")).to_have_count(0)
