"""REST routes of the Review capability (issue #6). ``path`` is relative to the server root
(outside it: 403). Revisions: ``base`` defaults to ``HEAD`` (outside git: the last
checkpoint); ``head`` to the working copy, ``WORKING``; also ``INDEX``, ``CHECKPOINT``, any
git ref or commit, ``merge-base:BRANCH``. Line numbers count from 1 within a cell; inline
spans are ``[start, end)`` character offsets within a line. Errors: ``{"message": …}``, 4xx
for the caller's mistakes (unknown ref, not a notebook, invalid JSON, a merge-conflicted
notebook naming the conflicting revisions).

    GET  review/changes?path=FOLDER
      -> {git, notebooks: [{path, status, old_path}], reviews: [ReviewSummary + {error?}],
          unreadable: [path]}
    GET  review/diff?path=NB&base=&head=&outputs=1&metadata=0&execution_counts=0&attachments=1
      -> {path, status, base: {rev, commit, label}, head: {...}, summary, cells: [CellDiff],
          elapsed_ms}            (&format=nbdime: {diff: [nbdime diff ops], summary})
    GET  review?path=NB&base=&head=    -> {review: ReviewSummary + {me, threads, unreadable}}
    POST review/comments {path, base?, head?, cell_id, text, line?, end_line?, output?,
                          suggestion?, side?}                       -> {thread}
    POST review/threads/ID/replies {path, base?, head?, text}       -> {thread}
    POST review/threads/ID/resolve {path, base?, head?, resolved}   -> {thread}
    POST review/threads/ID/apply   {path, base?, head?, comment_id} -> {thread}
    POST review/approve            {path, base?, head?, text?}      -> {review}
    POST review/request-changes    {path, base?, head?, text}       -> {review}

A review whose revisions cannot be read now (its head branch was deleted) is listed with its
``error``; ``unreadable`` names the review files that are not valid events (skipped, so that
one bad file hides nothing else). Applying a suggestion applied already is a 409.

``metadata=0`` compares metadata without the noisy keys (ExecuteTime, execution, papermill,
collapsed, scrolled, jupyter, trusted); ``metadata=1`` compares all of it. The author of what
is written is the server's current user, or git's ``user.name`` for an anonymous
(token-only) login. Diffs, git and the review files are read in the executor.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tornado import web

from ..errors import UserInputError
from ..server.base import MLOpsHandler, relative_to_root
from .files_routes import DiffFilesHandler, ExportHandler
from .images_routes import ImageDiffHandler
from .merge_routes import ROUTES as MERGE_ROUTES
from .params import diff_filters
from .params import rev as _rev

if TYPE_CHECKING:
    from . import Review

def _line(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise UserInputError(f"'{name}' is a line number (counting from 1)")
    return value


class ReviewBase(MLOpsHandler):
    def author(self) -> str | None:
        """The server's user; None (git's user.name) when the login is an anonymous token."""
        user = self.current_user
        name = getattr(user, "name", None) or getattr(user, "username", None) or (
            user if isinstance(user, str) else None)
        if not name or (isinstance(name, str) and name.startswith("Anonymous ")):
            return None
        return str(name)

    def review(self, path: Any, base: Any, head: Any) -> Review:
        from . import Review

        notebook = self.notebook(path, must_exist=False)
        return Review(notebook, _rev(base, "base") or "HEAD", _rev(head, "head"),
                      author=self.author(), display_path=self.relative(notebook))

    def review_from_body(self, body: dict[str, Any]) -> Review:
        return self.review(body.get("path"), body.get("base"), body.get("head"))


def changes_json(root: str, folder_rel: str, author: str | None) -> dict[str, Any]:
    from ..paths import resolve_inside
    from . import changes
    from .reviews import review_list

    folder = resolve_inside(root, folder_rel)
    if folder.is_file():
        folder = folder.parent
    repo, entries = changes(folder)
    base = repo.root if repo is not None else folder

    def rel(p: str | None) -> str | None:
        return None if p is None else relative_to_root(root, base / p)

    notebooks = [{"path": rel(e.path), "status": e.status, "old_path": rel(e.old_path)}
                 for e in entries]
    reviews, unreadable = review_list(folder, author=author, names=Path(root))
    return {"git": repo is not None, "notebooks": notebooks, "reviews": reviews,
            "unreadable": unreadable}


class ChangesHandler(ReviewBase):
    """GET ?path=FOLDER: the changed notebooks of the working tree and the reviews there."""

    @web.authenticated
    async def get(self) -> None:
        data = await self.in_executor(changes_json, self.mlops.root_dir,
                                      self.get_argument("path", ""), self.author())
        self.reply(data)


class DiffHandler(ReviewBase):
    """GET ?path=NB&base=&head=&outputs=&metadata=&execution_counts=&attachments=[&format=]"""

    @web.authenticated
    async def get(self) -> None:
        from . import diff

        notebook = self.notebook(self.get_argument("path", ""), must_exist=False)
        filters = diff_filters(self)
        fmt = self.get_argument("format", "")
        if fmt not in ("", "nbdime"):
            raise UserInputError(f"format is nbdime or left out, not {fmt!r}")
        base = _rev(self.get_argument("base", ""), "base") or "HEAD"
        head = _rev(self.get_argument("head", ""), "head")
        result = await self.in_executor(lambda: diff(notebook, base, head, filters=filters))
        result.path = self.relative(notebook)
        if fmt == "nbdime":
            from dataclasses import asdict

            self.reply({"diff": result.to_nbdime(), "summary": asdict(result.summary)})
            return
        from .stream_reply import send_parts

        await send_parts(self, result.json_parts())


class ReviewHandler(ReviewBase):
    """GET ?path=NB&base=&head=: the review with its threads, re-anchored to the head."""

    @web.authenticated
    async def get(self) -> None:
        path, base, head = (self.get_argument(k, "") for k in ("path", "base", "head"))
        root = Path(self.mlops.root_dir)
        data = await self.in_executor(
            lambda: self.review(path, base, head).summary(with_threads=True, names=root))
        self.reply({"review": data})


class CommentsHandler(ReviewBase):
    """POST {path, base?, head?, cell_id, text, line?, end_line?, output?, suggestion?, side?}
    (side "base": deleted lines, a removed cell or output, numbered as in the base)"""

    @web.authenticated
    async def post(self) -> None:
        body = self.body()
        cell_id = body.get("cell_id")
        if not isinstance(cell_id, str) or not cell_id:
            raise UserInputError("name the cell: cell_id (the id a diff gives each cell)")
        suggestion = body.get("suggestion")
        if suggestion is not None and not isinstance(suggestion, str):
            raise UserInputError("'suggestion' is the suggested source text")
        line, end_line, output = _line(body, "line"), _line(body, "end_line"), _line(
            body, "output")
        text = body.get("text", "")
        side = body.get("side", "head")
        if side not in ("head", "base"):
            raise UserInputError("'side' is \"head\" (the newer revision's lines) or \"base\" "
                                 "(lines only the older one has)")
        thread = await self.in_executor(lambda: self.review_from_body(body).comment(
            cell_id, text, line, end_line, output=output, suggestion=suggestion, side=side))
        self.reply({"thread": thread.to_dict()}, 201)


class ThreadActionHandler(ReviewBase):
    """POST review/threads/ID/(replies|resolve|apply)"""

    @web.authenticated
    async def post(self, thread_id: str, action: str) -> None:
        body = self.body()
        if action == "replies":
            text = body.get("text", "")
            thread = await self.in_executor(
                lambda: self.review_from_body(body).reply(thread_id, text))
        elif action == "resolve":
            resolved = body.get("resolved", True)
            if not isinstance(resolved, bool):
                raise UserInputError("'resolved' is true or false")
            thread = await self.in_executor(
                lambda: self.review_from_body(body).resolve(thread_id, resolved))
        else:
            comment_id = body.get("comment_id")
            if comment_id is not None and not isinstance(comment_id, str):
                raise UserInputError("'comment_id' names the comment holding the suggestion")
            thread = await self.in_executor(
                lambda: self.review_from_body(body).apply(thread_id, comment_id))
        self.reply({"thread": thread.to_dict()})


class VerdictHandler(ReviewBase):
    """POST review/approve {path, base?, head?, text?} and review/request-changes {…, text}"""

    @web.authenticated
    async def post(self, verdict: str) -> None:
        body = self.body()
        text = body.get("text")
        if text is not None and not isinstance(text, str):
            raise UserInputError("'text' is the message to the author")

        def give() -> dict[str, Any]:
            review = self.review_from_body(body)
            if verdict == "approve":
                review.approve(text)
            else:
                review.request_changes(text or "")
            return review.summary(with_threads=True, names=Path(self.mlops.root_dir))

        self.reply({"review": await self.in_executor(give)})


ROUTES: list[tuple[str, type[MLOpsHandler]]] = [
    ("review", ReviewHandler),
    ("review/changes", ChangesHandler),
    ("review/diff", DiffHandler),
    ("review/comments", CommentsHandler),
    (r"review/threads/([A-Za-z0-9_-]+)/(replies|resolve|apply)", ThreadActionHandler),
    (r"review/(approve|request-changes)", VerdictHandler),
    *MERGE_ROUTES,
    ("review/image-diff", ImageDiffHandler),
    ("review/diff-files", DiffFilesHandler),
    ("review/export", ExportHandler),
]
