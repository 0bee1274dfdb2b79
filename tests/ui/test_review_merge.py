"""The Merge view as a person uses it, in real JupyterLab on a real git merge: two branches
edit one notebook, `git merge` runs this tool's merge driver and leaves the conflicts in the
notebook's cells; the notebook opens with each conflicted cell marked, and the Merge view
(from the Review panel or a cell's banner) resolves every kind of conflict, writes a valid
notebook and stages it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from ..review_fixtures import NB, code, markdown, notebook, run_git, stream, write
from .conftest import Lab, screenshot, start_lab, stop_lab
from .helpers import open_lab, open_notebook, show_panel
from .test_review_panel import tab

pytestmark = pytest.mark.ui

NOTEBOOK = "churn.ipynb"
KINDS = {"intro": "metadata", "rate": "source", "plot": "outputs",
         "old": "deleted-vs-modified", "mine": "both-added"}


def _churn(*, tags: list[str] | None, rate: str, plot: str, old: str | None,
           added: tuple[str, str] | None) -> NB:
    intro = markdown("# Churn\n\nHow many customers leave.", id="intro")
    if tags is not None:
        intro["metadata"] = {"tags": tags}
    cells = [
        intro,
        code("import math", id="setup"),
        code(f"rate = {rate}\nprint(rate)", id="rate", outputs=[stream("0.1\n")]),
        code("show(rate)", id="plot", outputs=[stream(f"{plot}\n")]),
    ]
    if old is not None:
        cells.append(code(old, id="old"))
    cells.append(markdown("That is all.", id="outro"))
    if added is not None:
        cells.append(code(added[1], id=added[0]))
    return notebook(cells)


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jupyter", "mlops", *args], cwd=root,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def merge_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A repository where `git merge theirs` (with the notebook merge driver installed)
    left churn.ipynb with five conflicts, one of each kind."""
    tmp = tmp_path_factory.mktemp("merge-ui")
    root = tmp / "root"
    root.mkdir()
    run_git(root, "init", "-q")
    run_git(root, "config", "user.name", "Ada Reviewer")
    run_git(root, "config", "user.email", "ada@example.invalid")
    done = _cli(root, "git-config", "--merge-driver")
    assert done.returncode == 0, done.stderr
    run_git(root, "add", ".gitattributes")
    write(root / NOTEBOOK, _churn(tags=None, rate="0.1", plot="plot v1",
                                  old="legacy = True", added=None))
    run_git(root, "add", NOTEBOOK)
    run_git(root, "commit", "-q", "-m", "churn")
    run_git(root, "checkout", "-q", "-b", "theirs")
    write(root / NOTEBOOK, _churn(tags=["final"], rate="0.2", plot="plot remote", old=None,
                                  added=("theirs", "summary = describe(rate, full=True)")))
    run_git(root, "commit", "-q", "-am", "theirs")
    run_git(root, "checkout", "-q", "main")
    write(root / NOTEBOOK, _churn(tags=["draft"], rate="0.05", plot="plot local",
                                  old="legacy = False  # still used",
                                  added=("mine", "summary = describe(rate)")))
    run_git(root, "commit", "-q", "-am", "ours")
    merged = run_git(root, "merge", "theirs", check=False)
    assert "CONFLICT" in merged, merged
    lab = start_lab(root, tmp)
    yield lab
    stop_lab(lab)


def _conflicts_on_disk(path: Path) -> list[dict[str, Any]]:
    cells = json.loads(path.read_text())["cells"]
    return [c for c in cells if "conflict" in c.get("metadata", {}).get("mlops", {})]


def test_every_kind_of_conflict_is_resolved_in_the_merge_view_and_staged(
        page: Any, merge_lab: Lab) -> None:
    root = merge_lab.root
    # what git's merge left: the notebook unmerged, its conflicts in its cells
    assert run_git(root, "diff", "--name-only", "--diff-filter=U").split() == [NOTEBOOK]
    recorded = {c["metadata"]["mlops"]["conflict"]["kind"] for c in _conflicts_on_disk(
        root / NOTEBOOK)}
    assert recorded == set(KINDS.values())

    # the notebook opens, and says it has conflicts (one for the two cells both added)
    open_notebook(page, merge_lab, NOTEBOOK)
    expect(page.get_by_text(f"{NOTEBOOK} has 5 merge conflicts, recorded in its cells.")
           ).to_be_visible(timeout=30_000)
    # the Review panel lists it as conflicted and offers the Merge view
    panel = show_panel(page, "review", settled=True)
    item = panel.locator(f'[data-list="changes"] [data-path="{NOTEBOOK}"]')
    expect(item).to_have_attribute("data-status", "conflicted", timeout=30_000)
    panel.locator(f'.jp-mlops-review-merge[data-merge="{NOTEBOOK}"]').click()
    view = page.locator(f'.jp-mlops-merge-widget[data-path="{NOTEBOOK}"]')
    expect(view).to_be_visible()
    conflicts = view.locator(".jp-mlops-merge-conflict")
    expect(conflicts).to_have_count(5, timeout=30_000)
    expect(view.locator(".jp-mlops-merge-count")).to_have_text("5 conflicts, 0 chosen")
    expect(view.locator(".jp-mlops-merge-write")).to_be_disabled()

    # the open notebook marks each conflicted cell (both-added: both cells) with a banner
    tab(page, NOTEBOOK).click()
    notebook = page.locator(".jp-NotebookPanel")
    marked = notebook.locator(".jp-Cell.jp-mlops-conflictCell")
    expect(marked).to_have_count(6, timeout=30_000)
    rate_cell = notebook.locator('.jp-Cell[data-mlops-conflict="source"]')
    banner = rate_cell.locator(".jp-mlops-conflictBanner")
    expect(banner).to_have_text("merge conflict (source) — resolve in the Merge view")
    expect(notebook.locator('.jp-Cell[data-mlops-conflict="both-added"]')).to_have_count(2)
    screenshot(page, "review-merge-notebook-markers")
    # its banner brings the Merge view back (the one already open)
    banner.get_by_role("button", name="Merge view").click()
    expect(view).to_be_visible()
    expect(page.locator(".jp-mlops-merge-widget")).to_have_count(1)

    def conflict(kind: str) -> Any:
        found = view.locator(f'.jp-mlops-merge-conflict[data-kind="{kind}"]')
        expect(found).to_have_count(1)
        return found

    # source: both sides' changes to the base, then an edit by hand
    source = conflict("source")
    expect(source.locator('[data-side="local"] [data-op="insert"]').first
           ).to_contain_text("rate = 0.05")
    expect(source.locator('[data-side="remote"] [data-op="insert"]').first
           ).to_contain_text("rate = 0.2")
    expect(source.locator('[data-side="local"] [data-op="delete"]').first
           ).to_contain_text("rate = 0.1")
    source.locator('.jp-mlops-merge-take[data-take="edit"]').click()
    editor = source.locator(".jp-mlops-merge-editor")
    expect(editor).to_have_value("rate = 0.05\nprint(rate)")
    editor.fill("rate = 0.1  # agreed\nprint(rate)")

    # outputs: local's and remote's outputs side by side; remote's taken
    outputs = conflict("outputs")
    expect(outputs.locator('.jp-mlops-merge-outputs [data-side="base"]')
           ).to_contain_text("plot local")
    expect(outputs.locator('.jp-mlops-merge-outputs [data-side="head"]')
           ).to_contain_text("plot remote")
    expect(outputs.locator('.jp-mlops-merge-take[data-take="both"]')).to_have_count(0)
    outputs.locator('.jp-mlops-merge-take[data-take="remote"]').click()

    # deleted on one side (remote), changed on the other: the deletion taken
    deleted = conflict("deleted-vs-modified")
    expect(deleted.locator('[data-side="remote"] .jp-mlops-merge-sideLabel')
           ).to_contain_text("deleted on this side")
    deleted.locator('.jp-mlops-merge-take[data-take="remote"]').click()

    # both added a cell at the end: both kept
    added = conflict("both-added")
    expect(added.locator('[data-side="local"]')).to_contain_text("summary = describe(rate)")
    expect(added.locator('[data-side="remote"]')).to_contain_text(
        "summary = describe(rate, full=True)")
    added.locator('.jp-mlops-merge-take[data-take="both"]').click()

    # metadata: the tags as JSON on each side; remote's taken
    metadata = conflict("metadata")
    expect(metadata.locator('[data-side="local"]')).to_contain_text('"draft"')
    expect(metadata.locator('[data-side="remote"]')).to_contain_text('"final"')
    metadata.locator('.jp-mlops-merge-take[data-take="remote"]').click()
    expect(metadata).to_have_attribute("data-take", "remote")
    # a second click on the chosen way takes the choice back
    metadata.locator('.jp-mlops-merge-take[data-take="remote"]').click()
    expect(view.locator(".jp-mlops-merge-count")).to_have_text("5 conflicts, 4 chosen")
    metadata.locator('.jp-mlops-merge-take[data-take="remote"]').click()
    expect(view.locator(".jp-mlops-merge-count")).to_have_text("5 conflicts, 5 chosen")
    screenshot(page, "review-merge-view")

    view.locator(".jp-mlops-merge-write").click()
    result = view.locator(".jp-mlops-merge-result")
    expect(result).to_have_attribute("data-remaining", "0", timeout=30_000)
    expect(result).to_have_attribute("data-staged", "true")
    expect(view.locator(".jp-mlops-merge-none")).to_be_visible()
    expect(conflicts).to_have_count(0)
    screenshot(page, "review-merge-written")

    # the open notebook was reloaded from disk: no marker left, the edit in its cell
    tab(page, NOTEBOOK).click()
    expect(marked).to_have_count(0, timeout=30_000)
    expect(notebook.locator(".jp-mlops-conflictBanner")).to_have_count(0)
    expect(notebook.locator(".jp-Cell").nth(2).locator(".cm-content")
           ).to_contain_text("rate = 0.1  # agreed")

    # on disk: a valid notebook without conflicts, every resolution as chosen, staged
    import nbformat

    text = (root / NOTEBOOK).read_text()
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert _conflicts_on_disk(root / NOTEBOOK) == []
    cells = {c.get("id"): c for c in nb.cells}
    assert [c.get("id") for c in nb.cells][:4] == ["intro", "setup", "rate", "plot"]
    assert "old" not in cells
    assert cells["rate"].source == "rate = 0.1  # agreed\nprint(rate)"
    assert [o["text"] for o in cells["plot"].outputs] == ["plot remote\n"]
    assert cells["intro"].metadata.get("tags") == ["final"]
    sources = [c.source for c in nb.cells]
    assert sources.index("summary = describe(rate)") < sources.index(
        "summary = describe(rate, full=True)")
    assert run_git(root, "diff", "--name-only", "--diff-filter=U").split() == []
    assert run_git(root, "diff", "--cached", "--name-only").split() == [NOTEBOOK]
    assert run_git(root, "show", f":{NOTEBOOK}") == text
    # and the merge can be committed as it is
    run_git(root, "commit", "-q", "--no-edit")
    assert run_git(root, "status", "--porcelain", "--untracked-files=no") == ""


def test_a_notebook_git_merged_as_text_says_how_to_merge_it_again(
        page: Any, tmp_path: Path) -> None:
    """Without the driver, git merges a notebook as text and leaves <<<<<<< in its JSON: the
    Merge view cannot read conflicts from it and says what to do instead."""
    root = tmp_path / "root"
    root.mkdir()
    run_git(root, "init", "-q")
    write(root / NOTEBOOK, _churn(tags=None, rate="0.1", plot="v1", old=None, added=None))
    run_git(root, "add", NOTEBOOK)
    run_git(root, "commit", "-q", "-m", "churn")
    run_git(root, "checkout", "-q", "-b", "theirs")
    write(root / NOTEBOOK, _churn(tags=None, rate="0.2", plot="v1", old=None, added=None))
    run_git(root, "commit", "-q", "-am", "theirs")
    run_git(root, "checkout", "-q", "main")
    write(root / NOTEBOOK, _churn(tags=None, rate="0.05", plot="v1", old=None, added=None))
    run_git(root, "commit", "-q", "-am", "ours")
    run_git(root, "merge", "theirs", check=False)
    assert "<<<<<<<" in (root / NOTEBOOK).read_text()
    lab = start_lab(root, tmp_path)
    try:
        open_lab(page, lab)
        panel = show_panel(page, "review", settled=True)
        expect(panel.locator(f'[data-list="changes"] [data-path="{NOTEBOOK}"]')
               ).to_have_attribute("data-status", "conflicted", timeout=30_000)
        panel.locator(f'.jp-mlops-review-merge[data-merge="{NOTEBOOK}"]').click()
        view = page.locator(f'.jp-mlops-merge-widget[data-path="{NOTEBOOK}"]')
        error = view.locator(".jp-mlops-review-error")
        expect(error).to_contain_text("conflict markers", timeout=30_000)
        expect(error).to_contain_text("git checkout -m")
        expect(view.locator(".jp-mlops-merge-conflict")).to_have_count(0)
        expect(view.locator(".jp-mlops-merge-write")).to_be_disabled()
    finally:
        stop_lab(lab)
