"""``export_review(path, out)``: a review as one static HTML file anyone can read in a browser,
without Jupyter — the diff cell by cell, each thread under its cell with its suggestions, the
reviewers' verdicts, image outputs inlined as ``data:`` URLs.

The file holds no script and loads nothing: its Content-Security-Policy allows only inline
styles and ``data:`` images, so a page saved from it cannot call out either. Notebook content
and comments are untrusted: every piece of text is escaped, HTML outputs are shown as their
source, SVG only as an image. Nothing of the machine goes into it: the notebook is named
relative to the project, and in texts (outputs, comments) the project's absolute folder and the
home folder are shortened and URL credentials masked (``config.redact``).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import redact
from ..errors import UserInputError

if TYPE_CHECKING:
    from .model import CellDiff, LineDiff, NotebookDiff
    from .reviews import Review

#: lines of a text output shown (the rest is counted)
OUTPUT_LINES = 200
#: image types shown as images (SVG as an image, where it cannot run a script)
RASTER_MIMES = ("image/png", "image/jpeg", "image/gif")
SVG = "image/svg+xml"
#: text types shown as text, best first (text/html only as its source: it is untrusted)
TEXT_MIMES = ("text/plain", "text/markdown", "text/latex", "application/json", "text/html")
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_STATE_TEXT = {"open": "Open", "approved": "Approved", "changes_requested": "Changes requested",
               "commented": "Commented"}
_VERDICT_TEXT = {"approve": "approved", "request_changes": "requested changes"}


@dataclass
class ExportedReview:
    """What ``export_review`` wrote: where, the notebook's name in it, and what it holds."""

    out: Path
    name: str
    threads: int
    verdicts: int
    changed_cells: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "path": self.name, "threads": self.threads,
                "verdicts": self.verdicts, "changed_cells": self.changed_cells,
                "bytes": self.bytes}

    def __str__(self) -> str:
        return (f"wrote {self.out}: the review of {self.name} ({self.changed_cells} changed "
                f"cells, {self.threads} threads, {self.verdicts} verdicts)")


# --------------------------------------------------------------------------- text


class _Scrubber:
    """Texts as the file shows them: machine paths shortened, URL credentials masked,
    terminal colours dropped, then escaped."""

    def __init__(self, project: Path) -> None:
        found = {str(project): "<project>", str(project.resolve()): "<project>"}
        home = os.path.expanduser("~")
        if home not in ("", "/"):
            found.setdefault(home, "~")
            found.setdefault(os.path.realpath(home), "~")
        # the longest first (the project usually lies in the home folder), each a whole
        # folder name: a home folder /a leaves /api alone
        self.prefixes = [(re.compile(re.escape(k) + r"(?![^/\\\s'\"`:;,)\]}>])"), v)
                         for k, v in sorted(found.items(), key=lambda kv: -len(kv[0]))
                         if len(k) > 1]

    def plain(self, text: str) -> str:
        text = _ANSI.sub("", text)
        for prefix, short in self.prefixes:
            text = prefix.sub(short, text)
        masked: str = redact(text)
        return masked

    def __call__(self, text: str | None) -> str:
        return "" if text is None else escape(self.plain(text))


# --------------------------------------------------------------------------- pieces


def _when(stamp: Any) -> str:
    """An event's ISO time as ``2026-12-05 09:30 UTC`` (as it is, when it is not one)."""
    try:
        moment = datetime.fromisoformat(str(stamp))
    except ValueError:
        return escape(str(stamp))
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return f'<time datetime="{escape(str(stamp))}">{moment:%Y-%m-%d %H:%M} UTC</time>'


def _marked(text: str | None, spans: list[tuple[int, int]], mark: str, scrub: _Scrubber
            ) -> str:
    """One side of a line, its changed characters in ``<mark>`` (each part escaped)."""
    if text is None:
        return ""
    out, last = [], 0
    for start, end in spans:
        out.append(scrub(text[last:start]))
        out.append(f'<mark class="{mark}">{scrub(text[start:end])}</mark>')
        last = end
    out.append(scrub(text[last:]))
    return "".join(out)


def _row(line: LineDiff, scrub: _Scrubber) -> str:
    base_spans = [p.base for p in line.inline or [] if p.op == "delete" and p.base]
    head_spans = [p.head for p in line.inline or [] if p.op == "insert" and p.head]
    return (f'<tr class="{line.op}"><td class="n">{line.base_line or ""}</td>'
            f'<td class="b">{_marked(line.base_text, base_spans, "del", scrub)}</td>'
            f'<td class="n">{line.head_line or ""}</td>'
            f'<td class="h">{_marked(line.head_text, head_spans, "ins", scrub)}</td></tr>')


def _source_table(cell: CellDiff, scrub: _Scrubber) -> str:
    if not cell.lines:
        return '<p class="empty">(empty cell)</p>'
    rows = "".join(_row(line, scrub) for line in cell.lines)
    return ('<table class="src"><colgroup><col class="nc"><col><col class="nc"><col>'
            f"</colgroup>{rows}</table>")


def _image(mime: str, value: Any, label: str) -> str | None:
    """An image as a ``data:`` URL (None when the value is not what the type says)."""
    if not isinstance(value, str):
        return None
    if mime == SVG:
        payload = base64.b64encode(value.encode("utf-8")).decode("ascii")
    else:
        payload = "".join(value.split())
        if not payload or not _BASE64.fullmatch(payload):
            return None
        try:
            base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return None
    return f'<img alt="{escape(label)}" src="data:{mime};base64,{payload}">'


def _clipped(text: str, scrub: _Scrubber) -> str:
    lines = text.splitlines()
    more = len(lines) - OUTPUT_LINES
    body = "\n".join(lines[:OUTPUT_LINES]) + (f"\n… {more} more lines" if more > 0 else "")
    return f"<pre>{scrub(body)}</pre>"


def _output(output: Any, scrub: _Scrubber) -> str:
    if not isinstance(output, dict):
        return ""
    kind = str(output.get("output_type", ""))
    if kind == "stream":
        text = output.get("text")
        shown = _clipped(text if isinstance(text, str) else "", scrub)
        return f'<div class="out stream">{shown}</div>'
    if kind == "error":
        trace = output.get("traceback")
        lines = [str(t) for t in trace] if isinstance(trace, list) else []
        text = "\n".join(lines) or f"{output.get('ename', '')}: {output.get('evalue', '')}"
        return f'<div class="out error">{_clipped(text, scrub)}</div>'
    data = output.get("data")
    bundle: dict[str, Any] = data if isinstance(data, dict) else {}
    for mime in (*RASTER_MIMES, SVG):
        if mime in bundle:
            img = _image(mime, bundle[mime], f"{mime} output")
            if img is not None:
                return f'<div class="out image">{img}</div>'
    for mime in TEXT_MIMES:
        value = bundle.get(mime)
        if isinstance(value, dict | list) and mime == "application/json":
            value = json.dumps(value, indent=1)
        if isinstance(value, str):
            note = ('<div class="note">HTML output, shown as its source</div>'
                    if mime == "text/html" else "")
            return f'<div class="out">{note}{_clipped(value, scrub)}</div>'
    kinds = ", ".join(sorted(str(m) for m in bundle)) or kind or "unknown"
    return f'<div class="out note">[{escape(kinds)} output]</div>'


def _outputs(outputs: list[Any], scrub: _Scrubber) -> str:
    if not outputs:
        return '<p class="note">no output</p>'
    return "".join(_output(o, scrub) for o in outputs)


def _attachments(found: dict[str, Any]) -> str:
    shown = []
    for name, bundle in sorted(found.items()):
        if not isinstance(bundle, dict):
            continue
        for mime in (*RASTER_MIMES, SVG):
            img = _image(mime, bundle.get(mime), f"attachment {name}")
            if img is not None:
                shown.append(f'<figure>{img}<figcaption>attachment: {escape(name)}'
                             "</figcaption></figure>")
                break
    return f'<div class="attachments">{"".join(shown)}</div>' if shown else ""


# --------------------------------------------------------------------------- threads


def _where(thread: dict[str, Any]) -> str:
    parts = []
    if thread.get("output") is not None:
        parts.append(f"output {int(thread['output']) + 1}")
    line, end = thread.get("line"), thread.get("end_line")
    if line:
        removed = "removed " if thread.get("side") == "base" else ""
        parts.append(f"{removed}line {line}" if not end or end == line
                     else f"{removed}lines {line}–{end}")
    elif thread.get("side") == "base":
        parts.append("the base revision's cell")
    return ", ".join(parts) or "the cell"


def _suggestion(comment: dict[str, Any], replaced: str | None, scrub: _Scrubber) -> str:
    applied = bool(comment.get("applied"))
    label = "Suggested change" + (" (applied)" if applied else "")
    old = "".join(f'<div class="del">- {scrub(line)}</div>'
                  for line in (replaced or "").splitlines()) if replaced is not None else ""
    new = "".join(f'<div class="ins">+ {scrub(line)}</div>'
                  for line in str(comment.get("suggestion") or "").splitlines()) or \
        '<div class="ins note">+ (the lines removed)</div>'
    return (f'<div class="suggestion" data-applied="{str(applied).lower()}">'
            f'<div class="label">{label}</div><div class="code">{old}{new}</div></div>')


def _replaced(thread: dict[str, Any], cell: CellDiff | None) -> str | None:
    """The head lines a thread's suggestion would replace (None: not known)."""
    if cell is None or cell.head_source is None or thread.get("outdated"):
        return None
    lines = cell.head_source.splitlines(keepends=True)
    line, end = thread.get("line"), thread.get("end_line")
    if not line:
        return cell.head_source
    return "".join(lines[int(line) - 1:int(end or line)])


def _thread(thread: dict[str, Any], cell: CellDiff | None, scrub: _Scrubber) -> str:
    status = "resolved" if thread.get("status") == "resolved" else "open"
    flags = [status] + (["outdated"] if thread.get("outdated") else [])
    comments = []
    for comment in thread.get("comments", []):
        suggestion = (_suggestion(comment, _replaced(thread, cell), scrub)
                      if comment.get("suggestion") is not None else "")
        text = str(comment.get("text") or "")
        comments.append(
            f'<div class="comment" id="comment-{escape(str(comment.get("id")))}">'
            f'<div class="meta"><b>{scrub(str(comment.get("author", "")))}</b> '
            f'{_when(comment.get("created_at", ""))}</div>'
            + (f'<div class="text">{scrub(text)}</div>' if text else "")
            + f"{suggestion}</div>")
    tid = escape(str(thread.get("id")))
    return (f'<section class="thread {status}" id="thread-{tid}" data-thread-id="{tid}" '
            f'data-status="{status}"><div class="thread-head">Thread on {_where(thread)} '
            f'<span class="flags">· {" · ".join(flags)}</span></div>{"".join(comments)}'
            "</section>")


def _place(threads: list[dict[str, Any]], cells: list[CellDiff], review: Review
           ) -> tuple[dict[int, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Each thread under the diff's cell it is on (by position in ``cells``), and those on
    no cell of this diff (outdated beyond finding, or on cells the filters hide)."""
    from .engine import cell_ids

    by_head = {c.head_index: k for k, c in enumerate(cells) if c.head_index is not None}
    by_id = {c.cell_id: k for k, c in enumerate(cells) if c.cell_id}
    by_base: dict[str, int] = {}
    if any(t.get("side") == "base" for t in threads):
        base_ids = cell_ids(review.base_cells())
        by_base = {base_ids[c.base_index]: k for k, c in enumerate(cells)
                   if c.base_index is not None and c.base_index < len(base_ids)}
    placed: dict[int, list[dict[str, Any]]] = {}
    elsewhere = []
    for thread in threads:
        cell_id = str(thread.get("cell_id"))
        if thread.get("side") == "base":
            k = by_base.get(cell_id)
        elif thread.get("head_index") is not None:
            k = by_head.get(thread["head_index"])
        else:
            k = by_id.get(cell_id)
        if k is None:
            elsewhere.append(thread)
        else:
            placed.setdefault(k, []).append(thread)
    return placed, elsewhere


# --------------------------------------------------------------------------- cells


def _before_after(before: str, after: str) -> str:
    return (f'<div class="outputs two"><div><div class="side">before</div>{before}</div>'
            f'<div><div class="side">after</div>{after}</div></div>')


def _cell(cell: CellDiff, k: int, threads: list[dict[str, Any]], scrub: _Scrubber) -> str:
    where = (f"{cell.base_index} → {cell.head_index}" if cell.status == "moved"
             else cell.head_index if cell.head_index is not None
             else f"{cell.base_index} of the base")
    notes = [n for n, on in (("outputs changed", cell.outputs_changed and cell.status in (
        "modified", "moved")), ("metadata changed", cell.metadata_changed)) if on]
    head = (f'<h3><span class="badge {cell.status}">{cell.status}</span> '
            f"{escape(cell.cell_type)} cell {escape(str(where))} "
            f'<span class="cid">{escape(cell.cell_id or "")}</span>'
            + (f' <span class="note">{escape(", ".join(notes))}</span>' if notes else "")
            + "</h3>")
    body = [head, _source_table(cell, scrub)]
    if cell.cell_type == "markdown" and cell.status in ("modified", "moved") and \
            cell.base_attachments != cell.head_attachments:
        body.append(_before_after(_attachments(cell.base_attachments),
                                  _attachments(cell.head_attachments)))
    elif cell.cell_type == "markdown":
        body.append(_attachments(cell.head_attachments if cell.head_index is not None
                                 else cell.base_attachments))
    if cell.status in ("modified", "moved") and cell.outputs_changed:
        body.append(_before_after(_outputs(cell.base_outputs, scrub),
                                  _outputs(cell.head_outputs, scrub)))
    elif cell.cell_type == "code":
        outputs = cell.base_outputs if cell.status == "removed" else cell.head_outputs
        if outputs:
            body.append(f'<div class="outputs">{_outputs(outputs, scrub)}</div>')
    body.extend(_thread(t, cell, scrub) for t in threads)
    cid = escape(cell.cell_id or "")
    return (f'<article class="cell {cell.status}" id="cell-{k}" data-cell-status='
            f'"{cell.status}" data-cell-id="{cid}">{"".join(body)}</article>')


def _cells(cells: list[CellDiff], placed: dict[int, list[dict[str, Any]]], scrub: _Scrubber
           ) -> Iterable[str]:
    """Changed cells and cells with threads in full; runs of other unchanged cells folded
    (``<details>``: readable with a click, no script)."""
    folded: list[str] = []

    def fold() -> Iterable[str]:
        if folded:
            many = "cell" if len(folded) == 1 else "cells"
            yield (f'<details class="unchanged"><summary>{len(folded)} unchanged {many}'
                   f"</summary>{''.join(folded)}</details>")
            folded.clear()

    for k, cell in enumerate(cells):
        html = _cell(cell, k, placed.get(k, []), scrub)
        if cell.status == "unchanged" and k not in placed:
            folded.append(html)
            continue
        yield from fold()
        yield html
    yield from fold()


# --------------------------------------------------------------------------- the page


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
 max-width:1200px;padding:16px 24px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px;border-bottom:1px
 solid #d0d7de;padding-bottom:4px} h3{font-size:13px;margin:0 0 6px;font-weight:600}
code,pre,.src,.code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
 font-size:12px} pre{margin:0;white-space:pre-wrap;word-break:break-word}
.muted,.note,.cid,time{color:#59636e} .cid{font-weight:400;font-size:11px}
.state{display:inline-block;padding:2px 8px;border-radius:10px;font-weight:600}
.state.approved{background:#dafbe1;color:#116329}
.state.changes_requested{background:#ffebe9;color:#a40e26}
.state.open{background:#ddf4ff;color:#0550ae}
.cell{border:1px solid #d0d7de;border-left:4px solid #8c959f;border-radius:6px;
 margin:10px 0;padding:8px 10px}
.cell.added{border-left-color:#1a7f37} .cell.removed{border-left-color:#cf222e}
.cell.modified{border-left-color:#bc4c00} .cell.moved{border-left-color:#0969da}
.badge{text-transform:uppercase;font-size:10px;padding:1px 6px;border-radius:8px;
 background:#eaeef2} .badge.added{background:#dafbe1} .badge.removed{background:#ffebe9}
.badge.modified{background:#fff1e5} .badge.moved{background:#ddf4ff}
table.src{border-collapse:collapse;width:100%;table-layout:fixed}
table.src col.nc{width:3.2em} table.src td{vertical-align:top;padding:0 6px;
 white-space:pre-wrap;word-break:break-word} td.n{color:#8c959f;text-align:right}
tr.delete td.b,tr.replace td.b{background:#ffebe9} tr.insert td.h,tr.replace td.h{
 background:#dafbe1} mark.del{background:#ff818266} mark.ins{background:#4ac26b66}
mark{color:inherit}
.outputs{margin-top:6px;border-top:1px dashed #d0d7de;padding-top:6px}
.outputs.two{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.side{font-size:11px;color:#59636e;text-transform:uppercase}
.out{margin:4px 0} .out.error pre{color:#a40e26} img{max-width:100%;height:auto}
.attachments figure{margin:6px 0} figcaption{font-size:11px;color:#59636e}
.thread{margin:8px 0 2px;border:1px solid #d0d7de;border-radius:6px;background:#f6f8fa}
.thread.resolved{opacity:.85} .thread-head{padding:4px 8px;font-size:12px;font-weight:600;
 border-bottom:1px solid #d0d7de} .comment{padding:6px 8px}
.comment+.comment{border-top:1px solid #eaeef2} .text{white-space:pre-wrap}
.suggestion{margin-top:6px;border:1px solid #d0d7de;border-radius:4px;background:#fff}
.suggestion .label{font-size:11px;padding:2px 6px;border-bottom:1px solid #d0d7de}
.suggestion .code div{white-space:pre-wrap;padding:0 6px}
.suggestion .del{background:#ffebe9} .suggestion .ins{background:#dafbe1}
details.unchanged{margin:8px 0;color:#59636e} details.unchanged summary{cursor:pointer}
ul.verdicts,ul.index{padding-left:18px} footer{margin-top:32px;font-size:12px;color:#59636e}
@media print{details.unchanged{display:none}}
"""


def _verdicts(summary: dict[str, Any], events: list[dict[str, Any]], scrub: _Scrubber) -> str:
    reviewers = "".join(
        f'<li data-reviewer="{scrub(r["user"])}"><b>{scrub(r["user"])}</b>: '
        f'<span class="state {escape(r["state"])}">'
        f'{_STATE_TEXT.get(r["state"], "")}</span>'
        + (f' <span class="muted">on {escape(str(r["commit"])[:10])}</span>'
           if r.get("commit") else "") + "</li>"
        for r in summary["reviewers"]) or '<li class="note">no reviewers yet</li>'
    history = "".join(
        f'<li class="verdict" data-verdict="{escape(str(e["kind"]))}"><b>'
        f'{scrub(str(e.get("author", "")))}</b> {_VERDICT_TEXT[str(e["kind"])]} '
        + (f'on {escape(str(e["head_commit"])[:10])} ' if e.get("head_commit") else "")
        + _when(e.get("at", ""))
        + (f'<div class="text">{scrub(str(e["text"]))}</div>' if e.get("text") else "")
        + "</li>" for e in events if e.get("kind") in _VERDICT_TEXT)
    return (f'<section id="verdicts"><h2>Reviewers</h2><ul class="reviewers">{reviewers}'
            "</ul>" + (f'<h2>Verdicts</h2><ul class="verdicts">{history}</ul>'
                       if history else "") + "</section>")


def _index(threads: list[dict[str, Any]], scrub: _Scrubber) -> str:
    if not threads:
        return '<p class="note">No comment threads.</p>'
    items = []
    for t in threads:
        first = (t.get("comments") or [{}])[0]
        text = str(first.get("text") or ("(a suggestion)" if first.get("suggestion") is not None
                                          else ""))
        short = text.splitlines()[0][:80] if text else ""
        cell = f"{t['cell_id']}, " if t.get("cell_id") else ""
        items.append(f'<li><a href="#thread-{escape(str(t["id"]))}">{scrub(cell)}{_where(t)}</a> '
                     f'<span class="muted">({escape(str(t.get("status")))})</span> — '
                     f'<b>{scrub(str(first.get("author", "")))}</b>: {scrub(short)}</li>')
    return f'<ul class="index">{"".join(items)}</ul>'


def render(result: NotebookDiff, summary: dict[str, Any], events: list[dict[str, Any]],
           review: Review, name: str) -> str:
    """The page: a diff, the review's summary (with threads) and its events."""
    from .._version import __version__

    scrub = _Scrubber(review.project_root)
    threads: list[dict[str, Any]] = summary["threads"]
    placed, elsewhere = _place(threads, result.cells, review)
    state = str(summary["state"])
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    open_count = sum(1 for t in threads if t.get("status") != "resolved")
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>Review of {scrub(name)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>Review of <code>{scrub(name)}</code></h1>",
        f'<p>{scrub(result.base.label)} → {scrub(result.head.label)} · '
        f'<span class="state {state}" id="review-state" data-state="{state}">'
        f"{_STATE_TEXT.get(state, state)}</span></p>",
        f'<p class="muted" id="summary">{escape(result.summary.to_text())} · '
        f"{len(threads)} threads ({open_count} open)</p></header>",
        _verdicts(summary, events, scrub),
        f'<section id="threads"><h2>Threads</h2>{_index(threads, scrub)}</section>',
        '<section id="changes"><h2>Changes</h2>',
    ]
    if not result.changed_cells():
        parts.append('<p class="note">No changes.</p>')
    parts.extend(_cells(result.cells, placed, scrub))
    parts.append("</section>")
    if elsewhere:
        parts.append('<section id="other-threads"><h2>Threads on cells not in this diff</h2>'
                     + "".join(_thread(t, None, scrub) for t in elsewhere) + "</section>")
    parts.append(f"<footer>Exported with jupyter-mlops {escape(__version__)} on {stamp}. "
                 "A static page: no scripts, nothing loaded from elsewhere.</footer>"
                 "</body></html>\n")
    return "".join(parts)


def review_html(path: str | os.PathLike[str], base: str = "HEAD", head: str | None = None,
                *, name: str | None = None) -> tuple[str, ExportedReview]:
    """The review of the notebook at ``path`` from ``base`` to ``head`` as a page, and what it
    holds (``out`` is unset). ``name``: how the page names the notebook (default: its path
    relative to the project)."""
    from .diffs import diff
    from .reviews import open_review

    review = open_review(path, base or "HEAD", head)
    result = diff(review.file, review.base, review.head)
    summary = review.summary(with_threads=True)
    events = review.events()
    shown = name or review.relpath
    page = render(result, summary, events, review, shown)
    verdicts = sum(1 for e in events if e.get("kind") in _VERDICT_TEXT)
    return page, ExportedReview(Path(), shown, len(summary["threads"]), verdicts,
                                len(result.changed_cells()), len(page.encode("utf-8")))


def export_review(path: str | os.PathLike[str], out: str | os.PathLike[str],
                  base: str = "HEAD", head: str | None = None, *, name: str | None = None
                  ) -> ExportedReview:
    """Write the review of ``path`` as one static HTML file ``out`` (atomically: the file is
    whole or as it was)."""
    from ..paths import atomic_write

    target = Path(out).expanduser()
    if target.is_dir():
        raise UserInputError(f"'{out}' is a folder: name the HTML file to write "
                             "(e.g. review.html)")
    page, exported = review_html(path, base, head, name=name)
    atomic_write(target, page.encode("utf-8"), mode=0o644)
    exported.out = Path(out)
    return exported
