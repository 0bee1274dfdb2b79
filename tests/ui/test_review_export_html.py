"""The exported review (``jupyter mlops review export``) opened as a file in Chromium, with
JavaScript off as a reader's locked-down browser may have it: every thread, suggestion and
verdict is on screen, the inlined images load, the ``<script>``s of the notebook and the
comments stay text, and the page asks for nothing but itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.review import export_review
from jupyter_mlops.review.diffs import clear_cache

from ..review_export_fixtures import HOSTILE_COMMENT, HOSTILE_SOURCE, BuiltReview, build_review
from .conftest import screenshot


@pytest.fixture
def exported(project: Path) -> tuple[BuiltReview, Path]:
    clear_cache()
    built = build_review(project)
    out = project / "share" / "plot.review.html"
    export_review(built.notebook, out)
    return built, out


@pytest.fixture(params=[False, True], ids=["javascript-off", "javascript-on"])
def reader(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  java_script_enabled=request.param)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_the_exported_review_reads_in_chromium(reader: Any,
                                               exported: tuple[BuiltReview, Path]) -> None:
    built, out = exported
    asked: list[str] = []
    reader.on("request", lambda request: asked.append(request.url))
    reader.goto(out.as_uri())
    reader.wait_for_load_state("load")
    assert reader.title() == "Review of work/plot.ipynb"
    state = reader.locator("#review-state")
    assert state.is_visible() and state.inner_text() == "Changes requested"

    for name, thread_id in built.threads.items():
        thread = reader.locator(f'[data-thread-id="{thread_id}"]')
        thread.scroll_into_view_if_needed()
        assert thread.is_visible(), name
    for text in built.comments:
        shown = reader.get_by_text(text, exact=True)
        assert shown.count() >= 1, text
        assert shown.first.is_visible(), text
    suggestions = reader.locator(".suggestion")
    assert suggestions.count() == 2
    for k in range(2):
        assert suggestions.nth(k).is_visible()
    assert reader.locator('.suggestion[data-applied="true"] .label').inner_text() == (
        "Suggested change (applied)")
    for proposed in built.suggestions.values():
        assert reader.locator(".suggestion .ins", has_text=proposed).first.is_visible()
    verdicts = reader.locator("li.verdict")
    assert verdicts.count() == 2
    for k, (author, text) in enumerate(built.verdicts):
        item = verdicts.nth(k)
        assert item.is_visible()
        assert author in item.inner_text() and text in item.inner_text()

    # the images are in the page itself, and they load
    for b64 in built.images:
        img = reader.locator(f'img[src="data:image/png;base64,{b64}"]').first
        img.scroll_into_view_if_needed()
        assert img.is_visible()
        assert img.evaluate("i => i.complete && i.naturalWidth > 0")
    svg = reader.locator('img[src^="data:image/svg+xml;base64,"]')
    assert svg.evaluate("i => i.naturalWidth") == 10

    # what was hostile is text: no script ran, none is in the document
    assert reader.get_by_text(HOSTILE_COMMENT, exact=True).is_visible()
    assert reader.locator("td.h", has_text=HOSTILE_SOURCE).is_visible()
    assert reader.locator("script").count() == 0
    assert reader.title() != "pwned"
    # unchanged cells are folded, and open with a click (no script needed)
    folded = reader.locator("details.unchanged").first
    assert not folded.locator("article").first.is_visible()
    folded.locator("summary").click()
    assert folded.locator("article").first.is_visible()
    # nothing was asked for but the file (and its inline data: images)
    assert asked and all(url == out.as_uri() or url.startswith("data:") for url in asked), asked
    reader.locator("#review-state").scroll_into_view_if_needed()
    screenshot(reader, "review-export-html")
