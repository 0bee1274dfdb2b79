"""A review anyone can read (issue #15 item 5): ``export_review`` writes one static HTML file
of the diff with every thread, suggestion and verdict, images inlined; nothing runs in it,
nothing is loaded from elsewhere, nothing of the machine is in it. Also as the real CLI, as
``%mlops review export`` in a real shell, and as ``GET review/export`` through a real Jupyter
server with authentication on. (The page in Chromium: tests/ui/test_review_export_html.py.)"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from tornado.httpclient import HTTPClientError

from jupyter_mlops.errors import UserInputError
from jupyter_mlops.review import export_review, open_review, review_html
from jupyter_mlops.review.diffs import clear_cache

from .rest_helpers import api_error
from .review_export_fixtures import (
    HOSTILE_COMMENT,
    HOSTILE_HTML_OUTPUT,
    HOSTILE_SOURCE,
    TOKEN_URL,
    BuiltReview,
    build_review,
)
from .review_fixtures import attachment_pair, base_cells, notebook, run_git, write
from .shell_fixtures import run

CLI = Callable[..., subprocess.CompletedProcess[str]]


class Page(HTMLParser):
    """The parts of a page the tests look at: every tag with its attributes, the text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.chunks: list[str] = []
        self.feed(html)
        self.close()
        self.text = "".join(self.chunks)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)

    def with_attr(self, name: str, value: str | None = None) -> list[dict[str, str]]:
        return [a for _t, a in self.tags if name in a and (value is None or a[name] == value)]


@pytest.fixture
def built(project: Path) -> BuiltReview:
    clear_cache()
    return build_review(project)


def assert_static_and_clean(html: str, root: Path) -> Page:
    """Nothing runs, nothing loads from elsewhere, nothing of the machine shows."""
    page = Page(html)
    tags = {t for t, _a in page.tags}
    assert not tags & {"script", "iframe", "object", "embed", "link", "base", "form", "svg"}
    for _tag, attrs in page.tags:
        assert not [k for k in attrs if k.startswith("on")], attrs
        assert "src" not in attrs or attrs["src"].startswith("data:image/"), attrs
        assert "href" not in attrs or attrs["href"].startswith("#"), attrs
    policy = page.with_attr("http-equiv", "Content-Security-Policy")
    assert policy[0]["content"] == ("default-src 'none'; img-src data:; "
                                    "style-src 'unsafe-inline'")
    assert str(root) not in html and str(root.resolve()) not in html
    assert os.path.expanduser("~") + "/" not in html
    assert "0123456789abcdef" not in html
    return page


# --------------------------------------------------------------------------- the core


def test_the_page_holds_every_thread_suggestion_and_verdict(built: BuiltReview,
                                                            project: Path) -> None:
    out = project / "exports" / "review.html"
    exported = export_review(built.notebook, out)
    assert (exported.name, exported.threads, exported.verdicts, exported.changed_cells) == (
        "work/plot.ipynb", 6, 2, 5)
    html = out.read_text(encoding="utf-8")
    assert exported.bytes == len(html.encode())
    page = assert_static_and_clean(html, project)
    # every thread, once, with its status; each comment's text as the reviewer wrote it
    threads = page.with_attr("data-thread-id")
    assert sorted(a["data-thread-id"] for a in threads) == sorted(built.threads.values())
    status = {a["data-thread-id"]: a["data-status"] for a in threads}
    assert status[built.threads["resolved"]] == "resolved"
    assert status[built.threads["line"]] == "open"
    for text in built.comments:
        assert text in page.text
    # suggestions: what they replace and what they propose, applied or not
    applied = {a["data-applied"] for a in page.with_attr("data-applied")}
    assert applied == {"true", "false"}
    assert f"- rate = 0.05  # {HOSTILE_SOURCE}" in page.text
    assert "+ rate = 0.1" in page.text and "Suggested change (applied)" in page.text
    assert "+     for _ in range(epochs * 2):" in page.text
    # verdicts and reviewers, with their texts
    assert [a["data-verdict"] for a in page.with_attr("data-verdict")] == [
        "request_changes", "approve"]
    for author, text in built.verdicts:
        assert f"{author} requested changes" in page.text or f"{author} approved" in page.text
        assert text in page.text
    assert page.with_attr("id", "review-state")[0]["data-state"] == "changes_requested"
    # the diff: each changed cell, unchanged ones folded
    statuses = [a["data-cell-status"] for a in page.with_attr("data-cell-status")]
    assert statuses.count("modified") == 3 and statuses.count("added") == 1
    assert statuses.count("removed") == 1 and statuses.count("unchanged") == 4
    assert "1 added, 1 removed, 3 modified, 4 unchanged, outputs changed in 2 · 6 threads " \
        "(5 open)" in page.text


def test_images_are_inlined_and_untrusted_content_stays_text(built: BuiltReview,
                                                             project: Path) -> None:
    html, _exported = review_html(built.notebook)
    page = assert_static_and_clean(html, project)
    sources = [a["src"] for a in page.with_attr("src")]
    for b64 in built.images:  # the old and the new plot, and the report's image
        assert f"data:image/png;base64,{b64}" in sources
    svg = [s for s in sources if s.startswith("data:image/svg+xml;base64,")]
    assert len(svg) == 1  # the SVG only as an image: its script cannot run
    # a script in a cell, in a comment, in an HTML output: text on the page, escaped in it
    assert HOSTILE_SOURCE in page.text and HOSTILE_COMMENT in page.text
    assert HOSTILE_HTML_OUTPUT in page.text and "HTML output, shown as its source" in page.text
    assert "&lt;/script&gt;&lt;script&gt;document.title=" in html
    assert "<b>Cy</b>" not in html and "&lt;b&gt;Cy&lt;/b&gt;" in html
    # the machine: the project's folder shortened, the token masked
    assert "saved to <project>/work/model.pkl" in page.text
    assert TOKEN_URL.replace("0123456789abcdef", "***") in page.text


def test_only_whole_folder_names_are_shortened(monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_mlops.review.export_html import _Scrubber

    monkeypatch.setenv("HOME", "/h")
    scrub = _Scrubber(Path("/srv/proj"))
    assert scrub.plain("/h/x /hub /srv/proj/a.csv /srv/project '/srv/proj' /h") == (
        "~/x /hub <project>/a.csv /srv/project '<project>' ~")
    assert scrub("<b>https://user:pw@host/x?api_key=1 </b>") == (
        "&lt;b&gt;https://user:***@host/x?api_key=*** &lt;/b&gt;")


def test_writing_is_atomic_and_bad_input_is_one_line(built: BuiltReview,
                                                     project: Path) -> None:
    out = project / "review.html"
    out.write_text("the previous export")
    with pytest.raises(UserInputError, match="unknown git revision 'nope'"):
        export_review(built.notebook, out, base="nope")
    assert out.read_text() == "the previous export"
    export_review(built.notebook, out)
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in project.iterdir() if p.is_file()) == ["review.html"]
    with pytest.raises(UserInputError) as folder:
        export_review(built.notebook, project / "work")
    assert str(folder.value) == (f"'{project / 'work'}' is a folder: name the HTML file to "
                                 "write (e.g. review.html)")
    with pytest.raises(UserInputError, match=r"is not a notebook \(\.ipynb file\)"):
        export_review(project / "review.html", project / "again.html")


def test_a_review_outside_git_and_without_threads_exports_too(project: Path) -> None:
    nb = write(project / "a.ipynb", notebook(base_cells()))
    checkpoint = write(project / ".ipynb_checkpoints" / "a-checkpoint.ipynb",
                       notebook(base_cells()[:-1]))
    assert checkpoint.exists()
    html, exported = review_html(nb)
    page = assert_static_and_clean(html, project)
    assert exported.threads == 0 and exported.changed_cells == 1
    assert "No comment threads." in page.text and "no reviewers yet" in page.text
    assert page.with_attr("data-cell-status", "added")


def test_markdown_attachments_show_before_and_after(project: Path) -> None:
    base, head = attachment_pair()
    nb = write(project / "a.ipynb", base)
    run_git(project, "init", "-q")
    run_git(project, "add", ".")
    run_git(project, "commit", "-q", "-m", "logo")
    write(nb, head)
    html, exported = review_html(nb)
    page = assert_static_and_clean(html, project)
    assert exported.changed_cells == 1
    logos = [n["cells"][0]["attachments"]["logo.png"]["image/png"].strip()
             for n in (base, head)]
    sources = [a["src"] for a in page.with_attr("src")]
    assert sources == [f"data:image/png;base64,{b64}" for b64 in logos]  # before, after
    assert page.text.count("attachment: logo.png") == 2


# --------------------------------------------------------------------------- CLI and magic


def test_cli_review_export(built: BuiltReview, project: Path, cli: CLI) -> None:
    done = cli("review", "export", "work/plot.ipynb", "--html", "out/plot.html", cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("wrote out/plot.html: the review of work/plot.ipynb "
                                   "(5 changed cells, 6 threads, 2 verdicts)")
    assert_static_and_clean((project / "out" / "plot.html").read_text(), project)
    data = json.loads(cli("review", "export", "work/plot.ipynb", "--base", "HEAD", "--html",
                          "x.html", "--json", cwd=project).stdout)
    assert data == {"out": "x.html", "path": "work/plot.ipynb", "threads": 6, "verdicts": 2,
                    "changed_cells": 5, "bytes": (project / "x.html").stat().st_size}
    missing = cli("review", "export", "work/plot.ipynb", cwd=project)
    assert missing.returncode != 0 and missing.stdout == ""
    assert missing.stderr.startswith("jupyter mlops: the following arguments are required: "
                                     "--html; usage: jupyter mlops review export ")


def test_magic_review_export(shell: InteractiveShell, built: BuiltReview,
                             project: Path) -> None:
    shown = run(shell, "%mlops review export work/plot.ipynb --html r.html")
    assert str(shown) == ("wrote r.html: the review of work/plot.ipynb (5 changed cells, "
                          "6 threads, 2 verdicts)")
    assert (project / "r.html").read_text().count('data-thread-id="') == 6
    with pytest.raises(UsageError, match=r"'gone\.ipynb' does not exist"):
        run(shell, "%mlops review export work/gone.ipynb --html r.html")


# --------------------------------------------------------------------------- REST


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


@pytest.fixture
def served(jp_root_dir: Path) -> BuiltReview:
    clear_cache()
    (jp_root_dir / "work" / "data.csv").parent.mkdir(parents=True, exist_ok=True)
    (jp_root_dir / "work" / "data.csv").write_text("a,b\n")
    return build_review(jp_root_dir)


async def test_rest_export_is_an_html_attachment(jp_fetch: Any, served: BuiltReview,
                                                 jp_root_dir: Path, jp_http_port: int,
                                                 jp_auth_header: dict[str, str]) -> None:
    response = await jp_fetch("mlops", "api", "review", "export",
                              params={"path": "work/plot.ipynb"})
    assert response.code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="plot.review.html"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    html = response.body.decode()
    page = assert_static_and_clean(html, jp_root_dir)
    assert len(page.with_attr("data-thread-id")) == 6
    assert "Review of work/plot.ipynb" in page.text
    token = jp_auth_header["Authorization"].split()[-1]
    assert token not in html and f":{jp_http_port}" not in html
    # the same page as the command line's, but for the time it was made
    core, _exported = review_html(served.notebook, name="work/plot.ipynb")
    assert html.split("<footer>")[0] == core.split("<footer>")[0]


async def test_rest_export_names_a_unicode_notebook_both_ways(
        jp_fetch: Any, served: BuiltReview, jp_root_dir: Path) -> None:
    write(jp_root_dir / "work" / "résumé \"final\".ipynb", notebook(base_cells()))
    run_git(jp_root_dir, "add", ".")
    run_git(jp_root_dir, "commit", "-q", "-m", "cv")
    response = await jp_fetch("mlops", "api", "review", "export",
                              params={"path": 'work/résumé "final".ipynb'})
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="r_sum_final_.review.html"; '
        "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.review.html")


async def test_rest_export_bad_requests(jp_fetch: Any, served: BuiltReview,
                                        jp_root_dir: Path) -> None:
    write(jp_root_dir.parent / "outside.ipynb", notebook(base_cells()))
    cases = [
        ({"path": "../outside.ipynb"}, 403,
         "'../outside.ipynb' is outside the server root: use a path relative to the folder "
         "JupyterLab serves"),
        ({"path": "work/data.csv"}, 400, "'work/data.csv' is not a notebook (.ipynb file)"),
        ({"path": "work/plot.ipynb", "base": "nope"}, 400, "unknown git revision 'nope'"),
        ({}, 400, "name the notebook: path=folder/notebook.ipynb (relative to the server "
         "root)"),
    ]
    for params, code, said in cases:
        got_code, got = await api_error(jp_fetch, "review", "export", **params)
        assert got_code == code and got.startswith(said), (params, got)
    code, said = await api_error(jp_fetch, "review", "export", path="work/gone.ipynb")
    assert code == 404 and said.startswith("'gone.ipynb' does not exist")
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "api", "review", "export", params={"path": "work/plot.ipynb"},
                       headers={"Authorization": "token not-the-servers"})
    assert caught.value.code == 403


def test_exporting_changes_nothing(built: BuiltReview, project: Path) -> None:
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()
              and ".git" not in p.parts}
    review_html(built.notebook)
    after = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()
             and ".git" not in p.parts}
    assert after == before
    assert open_review(built.notebook).summary()["threads"] == 6
