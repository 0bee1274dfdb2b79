"""REST routes for any two notebooks and for a review anyone can read (issue #15). Paths are
relative to the server root (outside it: 403; missing: 404; not a notebook: 400).

    GET review/diff-files?base=A.ipynb&head=B.ipynb&outputs=&metadata=&execution_counts=
        &attachments=
      -> the body of GET review/diff: path = head; base and head are
         {rev: "FILE", commit: null, label: the file's path}; status "added"/"deleted" never
         (both files must exist)
    GET review/export?path=NB&base=&head=
      -> the review as one static HTML page (text/html; Content-Disposition: attachment;
         filename="<stem>.review.html"), as ``jupyter mlops review export`` writes it

Both read in the executor.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

from tornado import web

from ..errors import UserInputError
from ..server.base import MLOpsHandler, notebook_inside
from .params import diff_filters, rev


class DiffFilesHandler(MLOpsHandler):
    """GET ?base=A.ipynb&head=B.ipynb (+ the filters of review/diff): two files compared."""

    def _file(self, name: str) -> Path:
        relative = self.get_argument(name, "")
        if not relative:
            raise UserInputError("name both notebooks: base=A.ipynb&head=B.ipynb (relative to "
                                 "the server root)")
        return notebook_inside(self.mlops.root_dir, relative)

    @web.authenticated
    async def get(self) -> None:
        from .files import diff_files

        base, head = self._file("base"), self._file("head")
        filters = diff_filters(self)
        labels = (self.relative(base), self.relative(head))
        result = await self.in_executor(
            lambda: diff_files(base, head, filters, labels=labels))
        self.reply(result.to_dict())


def attachment_name(notebook: Path) -> str:
    """``Content-Disposition`` for ``<stem>.review.html``: an ASCII name, and the real one
    (RFC 5987) when it has other characters."""
    name = f"{notebook.stem}.review.html"
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    extended = f"; filename*=UTF-8''{quote(name, safe='')}" if ascii_name != name else ""
    return f'attachment; filename="{ascii_name}"{extended}'


class ExportHandler(MLOpsHandler):
    """GET ?path=NB&base=&head=: the review as a static HTML attachment."""

    @web.authenticated
    async def get(self) -> None:
        from .export_html import CSP, review_html

        notebook = self.notebook(self.get_argument("path", ""), must_exist=False)
        base = rev(self.get_argument("base", ""), "base") or "HEAD"
        head = rev(self.get_argument("head", ""), "head")
        name = self.relative(notebook)
        page, _exported = await self.in_executor(
            lambda: review_html(notebook, base, head, name=name))
        self.set_header("Content-Disposition", attachment_name(notebook))
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.finish(page.encode("utf-8"), set_content_type="text/html; charset=utf-8")
