"""A review worth exporting, built for real in a git repository: a notebook whose change adds,
removes and edits cells and swaps an image, with hostile content (a ``<script>`` in a cell, in
a comment, in an HTML output and inside an SVG; a machine path and a token URL in an output),
threads of every kind (lines, an output, the base side, resolved, two suggestions of which one
is applied) and two verdicts. Shared by the export's core/CLI/REST tests and its Chromium
test."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_mlops.review import open_review

from .review_fixtures import code, image, image_pair, png, run_git, stream, write

HOSTILE_SOURCE = "</script><script>document.title='pwned'</script>"
HOSTILE_COMMENT = "why <img src=x onerror=\"document.title='pwned'\"> 0.05? <script>x()</script>"
HOSTILE_HTML_OUTPUT = "<script>document.title='pwned'</script><b>bold</b>"
HOSTILE_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
               "<script>document.title='pwned'</script>"
               '<rect width="10" height="10" fill="teal"/></svg>')
TOKEN_URL = "http://127.0.0.1:8888/lab?token=0123456789abcdef"


@dataclass
class BuiltReview:
    notebook: Path
    threads: dict[str, str]  # what each thread is about -> its id
    comments: list[str]  # every comment's text (threads' first comments and replies)
    suggestions: dict[str, str]  # thread name -> suggested source
    verdicts: list[tuple[str, str]]  # (author, text)
    images: list[str] = field(default_factory=list)  # base64 PNGs both sides show


def build_review(root: Path, folder: str = "work") -> BuiltReview:
    """``root`` becomes a git repository holding ``folder/plot.ipynb``, committed then edited,
    with the review described in this module's docstring."""
    run_git(root, "init", "-q")
    run_git(root, "config", "user.name", "Ada")
    run_git(root, "config", "user.email", "ada@example.invalid")
    base, head = image_pair()
    nb = write(root / folder / "plot.ipynb", base)
    run_git(root, "add", ".")
    run_git(root, "commit", "-q", "-m", "base")
    cells: list[dict[str, Any]] = head["cells"]
    cells[2]["source"] = f"rate = 0.05  # {HOSTILE_SOURCE}\nepochs = 3\nprint(rate * epochs)\n"
    cells[2]["outputs"] = [stream(f"saved to {root}/{folder}/model.pkl\nsee {TOKEN_URL}\n")]
    del cells[6]  # 'done' removed
    svg = {"output_type": "display_data", "metadata": {},
           "data": {"image/svg+xml": HOSTILE_SVG, "text/plain": "<svg>"}}
    html = {"output_type": "display_data", "metadata": {},
            "data": {"text/html": HOSTILE_HTML_OUTPUT}}
    cells.append(code("report()", id="report", outputs=[html, svg,
                                                        image(png(3, 2, (10, 200, 10)))]))
    write(nb, head)
    images = [o["data"]["image/png"].strip() for n in (base, head) for o in
              n["cells"][-1 if n is base else -2]["outputs"] if "image/png" in o.get("data", {})]

    bo = open_review(nb, author="Bo")
    ada = open_review(nb, author="Ada")
    cy = open_review(nb, author="<b>Cy</b>")
    on_line = bo.comment("params", HOSTILE_COMMENT, line=1)
    ada.reply(on_line.id, "faster, and the tests still pass")
    suggested = bo.suggest("params", "rate = 0.1\n", line=1, text="keep the old rate")
    applied = ada.suggest("train", "    for _ in range(epochs * 2):\n", line=3,
                          text="train twice as long")
    ada.apply(applied.id)
    removed = cy.comment("done", "why was this removed?", side="base")
    on_output = bo.comment("plot", "the colour changed on purpose?", output=0)
    resolved = cy.comment("intro", "a better title?", line=1)
    ada.reply(resolved.id, "kept it")
    ada.resolve(resolved.id)
    bo.request_changes("please keep <rate> at 0.1")
    cy.approve("looks right to me")
    return BuiltReview(
        nb,
        {"line": on_line.id, "suggested": suggested.id, "applied": applied.id,
         "removed": removed.id, "output": on_output.id, "resolved": resolved.id},
        [HOSTILE_COMMENT, "faster, and the tests still pass", "keep the old rate",
         "train twice as long", "why was this removed?", "the colour changed on purpose?",
         "a better title?", "kept it"],
        {"suggested": "rate = 0.1", "applied": "    for _ in range(epochs * 2):"},
        [("Bo", "please keep <rate> at 0.1"), ("<b>Cy</b>", "looks right to me")],
        images)
