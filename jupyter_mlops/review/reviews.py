"""``open_review(path, base, head)``: comment threads anchored to cells, suggestions applied
as cell edits, and each reviewer's verdict tied to the head commit it was given on.

A review is of one notebook; its events (``store.py``) say which revisions each was made on.
The review's state: ``changes_requested`` while any reviewer's latest verdict asks for
changes; ``approved`` when a reviewer approved the current head commit; else ``open``.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from ..config import load_config
from ..errors import MLOpsError, NotFoundError, UserInputError
from .anchors import locate, make_anchor
from .diffs import INDEX, WORKING, _notebook_path, diff, read_side
from .engine import cell_ids
from .git import GitError, GitRepo, find_repo
from .model import NotebookDiff
from .notebook import load_notebook
from .store import EventKind, EventStore, ensure_state_gitignore, notebook_key, review_folders
from .suggestions import AlreadyAppliedError, apply_suggestion, notebook_lock

#: a reviewer's verdict, as an event
Decision = Literal["approve", "request_changes"]
#: where a reviewer stands: their latest verdict, else "commented"
ReviewerState = Literal["commented", "approved", "changes_requested"]
#: the review's state (see the module's docstring)
ReviewState = Literal["open", "approved", "changes_requested"]
#: a thread is open until resolved (and open again when reopened)
ThreadStatus = Literal["open", "resolved"]
#: the revision a thread's lines are numbered in
ThreadSide = Literal["head", "base"]

DECISIONS: tuple[Decision, ...] = ("approve", "request_changes")
STATE_OF: dict[Decision, ReviewerState] = {"approve": "approved",
                                           "request_changes": "changes_requested"}


@dataclass
class Comment:
    id: str
    author: str
    text: str
    created_at: str
    suggestion: str | None = None
    applied: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "author": self.author, "text": self.text,
                "created_at": self.created_at, "suggestion": self.suggestion,
                "applied": self.applied}


@dataclass
class Thread:
    id: str
    anchor: dict[str, Any]
    cell_id: str | None
    line: int | None
    end_line: int | None
    output: int | None
    status: ThreadStatus = "open"
    outdated: bool = False
    head_index: int | None = None
    comments: list[Comment] = field(default_factory=list)
    # "head": lines of the newer revision; "base": lines (or a cell) only the older one has,
    # e.g. deleted lines, numbered as there
    side: ThreadSide = "head"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "cell_id": self.cell_id, "line": self.line,
                "end_line": self.end_line, "output": self.output, "status": self.status,
                "outdated": self.outdated, "head_index": self.head_index, "side": self.side,
                "comments": [c.to_dict() for c in self.comments]}


@dataclass
class Reviewer:
    user: str
    state: ReviewerState
    commit: str | None
    at: str

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "state": self.state, "commit": self.commit, "at": self.at}


_NOBODY = Reviewer("", "commented", None, "")


def git_user(folder: Path) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), "config", "user.name"],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def default_author(folder: Path) -> str:
    """The author when the caller names none: git's user.name, else the login name."""
    return git_user(folder) or os.environ.get("JUPYTERHUB_USER") or getpass.getuser()


class Review:
    """The review of one notebook's change from ``base`` to ``head``."""

    def __init__(self, path: str | os.PathLike[str], base: str = "HEAD",
                 head: str | None = None, *, author: str | None = None,
                 display_path: str | None = None) -> None:
        self.file = _notebook_path(path)
        self.base = base or "HEAD"
        self.head = head or WORKING
        config = load_config(self.file.parent)
        self.project_root = config.project_root
        try:
            self.relpath = self.file.relative_to(self.project_root.resolve()).as_posix()
        except ValueError:
            self.relpath = self.file.name
        self.path = display_path or str(path)
        if "://" in str(config["review.path"]):
            raise UserInputError(f"review.path is {config['review.path']}: reviews are files "
                                 "in the repository, so set it to a local folder (default "
                                 ".mlops/reviews)")
        self.store = EventStore(config.path("review.path") / notebook_key(self.relpath))
        self._state_dir, self._review_root = config.state_dir, config.path("review.path")
        self.repo: GitRepo | None = find_repo(self.file.parent)
        self.me = author or default_author(self.file.parent)
        self._earlier: list[EventStore] | None = None

    # ----------------------------------------------------------------- reading

    def events(self) -> list[dict[str, Any]]:
        """This notebook's events, with those it got under earlier names (``earlier``)."""
        return self._load()[0]

    def unreadable(self) -> list[Path]:
        """The files of this review (and of those it follows) that are not events."""
        return self._load()[1]

    def _load(self) -> tuple[list[dict[str, Any]], list[Path]]:
        events, unreadable = [], []
        for store in (self.store, *self.earlier()):
            found = store.load()
            events += found.events
            unreadable += found.unreadable
        events.sort(key=lambda e: (e["at"], e["id"]))
        return events, sorted(unreadable)

    def earlier(self) -> list[EventStore]:
        """The reviews of this notebook under names it had before a rename or a move (in
        JupyterLab's file browser, with ``git mv`` or by hand): review folders whose notebook
        is gone and whose threads are on cells this notebook has, by cell id. They are read
        where they are (a rename moves no review file, so no one's commit conflicts); new
        events go to this name's folder and name the folders followed (``follows``), which
        settles them: a copy of the notebook made after that does not take them too (one made
        before anyone wrote under the new name does). Cells without ids (notebooks before
        nbformat 4.5) are not matched: their stand-in ids come from the source, which copies
        share."""
        if self._earlier is None:
            orphans: list[tuple[Path, set[str], set[str], set[str]]] = []
            mine: set[str] = set()  # folders this name's events say it follows
            taken: set[str] = set()  # and those that other notebooks' events claim
            for folder in review_folders(self._review_root):
                events = EventStore(folder).read()
                follows = {str(f) for e in events for f in e.get("follows") or []}
                if folder == self.store.folder:
                    mine = follows
                    continue
                names = {str(e.get("notebook") or "") for e in events} - {""}
                if not names or any((self.project_root / n).exists() for n in names):
                    taken |= follows
                    continue
                anchored = {str(e["anchor"].get("cell_id")) for e in events
                            if e["kind"] == "comment" and isinstance(e.get("anchor"), dict)}
                opened = {e["id"] for e in events if e["kind"] == "comment"}
                answered = {str(e["thread"]) for e in events if e.get("thread")}
                orphans.append((folder, {i for i in anchored if i and not i.startswith("src-")},
                                opened, answered))
            chosen = [f for f, _an, _o, _a in orphans if f.name in mine]
            orphans = [o for o in orphans if o[0].name not in mine | taken]
            if any(anchored for _f, anchored, _o, _a in orphans):
                try:
                    ids = set(cell_ids(self.head_cells()))
                except (UserInputError, NotFoundError):
                    ids = set()
                threads = {t for f, _an, opened, _a in orphans if f in chosen for t in opened}
                for folder, anchored, opened, _answered in orphans:
                    if anchored & ids:
                        chosen.append(folder)
                        threads |= opened
                # folders holding only replies and verdicts on those threads (made under a
                # name in between) come along
                for folder, anchored, _opened, answered in orphans:
                    if folder not in chosen and not anchored and answered & threads:
                        chosen.append(folder)
            self._earlier = [EventStore(folder) for folder in chosen]
        return self._earlier

    def head_commit(self) -> str | None:
        """The commit the head revision stands on (the working copy and index: HEAD)."""
        if self.repo is None:
            return None
        if self.head in (WORKING, INDEX):
            return self.repo.head_commit()
        return read_side(self.repo, self.file, self.head).revision.commit

    def head_cells(self, rev: str | None = None) -> list[dict[str, Any]]:
        side = read_side(self.repo, self.file, rev or self.head)
        if side.data is None:
            return []
        cells: list[dict[str, Any]] = load_notebook(
            side.data, f"'{self.file.name}' ({side.revision.label})").get("cells", [])
        return cells

    def base_cells(self) -> list[dict[str, Any]]:
        """The cells of the base revision (where base-side comments are anchored)."""
        side = read_side(self.repo, self.file, self.base)
        if side.data is None and self.repo is not None and side.revision.commit:
            relpath = self.repo.relative(self.file)
            old = self.repo.renamed_from(side.revision.commit, relpath, cached=False)
            if old is not None:  # renamed since: the base is under its old name
                side = read_side(self.repo, self.repo.root / old, self.base, old)
        if side.data is None:
            return []
        cells: list[dict[str, Any]] = load_notebook(
            side.data, f"'{self.file.name}' ({side.revision.label})").get("cells", [])
        return cells

    def _threads(self, events: list[dict[str, Any]], cells: list[dict[str, Any]] | None
                 ) -> list[Thread]:
        threads: dict[str, Thread] = {}
        comments: dict[str, Comment] = {}
        # threads and comments first: a teammate's clock may put a reply before its thread
        for event in events:
            kind = event["kind"]
            if kind == "comment" and isinstance(event.get("anchor"), dict):
                anchor = event["anchor"]
                base_side = anchor.get("side") == "base"
                threads[event["id"]] = Thread(
                    event["id"], anchor, anchor.get("cell_id"), anchor.get("line"),
                    anchor.get("end_line"), anchor.get("output"),
                    head_index=None if base_side else anchor.get("cell_index"),
                    side="base" if base_side else "head")
            if kind in ("comment", "reply"):
                comments[event["id"]] = Comment(event["id"], str(event.get("author", "")),
                                                str(event.get("text", "")), event["at"],
                                                event.get("suggestion"))
        for event in events:
            kind = event["kind"]
            target = threads.get(event.get("thread") or event["id"])
            if target is None:
                continue
            if kind == "comment":  # the thread's opening comment comes first
                target.comments.insert(0, comments[event["id"]])
            elif kind == "reply":
                target.comments.append(comments[event["id"]])
            elif kind == "resolve":
                target.status = "resolved"
            elif kind == "reopen":
                target.status = "open"
            elif kind == "apply" and event.get("comment") in comments:
                comments[event["comment"]].applied = True
        if cells is not None:
            ids = cell_ids(cells)
            base: tuple[list[dict[str, Any]], list[str]] | None = None
            for thread in threads.values():
                if thread.side == "base":  # found again in the base revision asked for now
                    if base is None:
                        base_cells = self.base_cells()
                        base = (base_cells, cell_ids(base_cells))
                    where = locate(thread.anchor, *base)
                    thread.cell_id, thread.line, thread.end_line = (
                        where.cell_id, where.line, where.end_line)
                    thread.outdated = where.outdated
                    continue
                where = locate(thread.anchor, cells, ids)
                thread.cell_id, thread.head_index = where.cell_id, where.head_index
                thread.line, thread.end_line = where.line, where.end_line
                thread.outdated = where.outdated
        return list(threads.values())

    @property
    def threads(self) -> list[Thread]:
        """Every thread, re-anchored to the head revision as it is now."""
        return self._threads(self.events(), self.head_cells())

    def thread(self, thread_id: str) -> Thread:
        for thread in self.threads:
            if thread.id == thread_id:
                return thread
        raise NotFoundError(f"no thread '{thread_id}' in the review of {self.relpath}")

    def reviewers(self, events: list[dict[str, Any]] | None = None) -> list[Reviewer]:
        """Each reviewer's latest verdict (and the commit it was given on), else their latest
        comment's."""
        found: dict[str, Reviewer] = {}
        for event in events if events is not None else self.events():
            user = str(event.get("author", ""))
            kind = event["kind"]
            if kind in DECISIONS:
                found[user] = Reviewer(user, STATE_OF[kind], event.get("head_commit"),
                                       event["at"])
            elif kind in ("comment", "reply") and found.get(user, _NOBODY).state == "commented":
                found[user] = Reviewer(user, "commented", event.get("head_commit"), event["at"])
        return sorted(found.values(), key=lambda r: r.at)

    def _state(self, reviewers: list[Reviewer], head_commit: str | None) -> ReviewState:
        if any(r.state == "changes_requested" for r in reviewers):
            return "changes_requested"
        if any(r.state == "approved" and r.commit == head_commit for r in reviewers):
            return "approved"
        return "open"

    @property
    def state(self) -> ReviewState:
        return self._state(self.reviewers(), self.head_commit())

    def summary(self, *, with_threads: bool = False, names: Path | None = None
                ) -> dict[str, Any]:
        """The contract's ReviewSummary (plus ``me``, ``threads`` and ``unreadable``, the
        files of the review that are not events, named relative to ``names`` (default: the
        project root), when asked)."""
        return self._summary(with_threads, names)

    def list_entry(self) -> dict[str, Any]:
        """The summary as a list of reviews shows it: a review that cannot be read now (the
        branch its head names is gone) says why in ``error`` instead of failing the list."""
        return self._summary(False, None, report=True)

    def _summary(self, with_threads: bool, names: Path | None, *, report: bool = False
                 ) -> dict[str, Any]:
        events, unreadable = self._load()
        error = None
        try:
            head_commit = self.head_commit()
        except MLOpsError as exc:
            if not report:
                raise
            head_commit, error = None, str(exc)
        reviewers = self.reviewers(events)
        threads = self._threads(events, self.head_cells() if with_threads else None)
        data: dict[str, Any] = {
            "path": self.path, "base": self.base, "head": self.head,
            "head_commit": head_commit, "state": self._state(reviewers, head_commit),
            "reviewers": [r.to_dict() for r in reviewers],
            "threads": len(threads),
            "open_threads": sum(1 for t in threads if t.status == "open"),
        }
        if error is not None:
            data["error"] = error
        if with_threads:
            data["me"] = self.me
            data["threads"] = [t.to_dict() for t in threads]
            data["thread_count"] = len(threads)
            data["unreadable"] = [named(p, names or self.project_root) for p in unreadable]
        return data

    def changes_since_my_review(self, user: str | None = None) -> NotebookDiff | None:
        """The diff from the commit ``user`` (default: me) last reviewed to the head; None
        when they have not reviewed a commit yet."""
        mine = [r for r in self.reviewers() if r.user == (user or self.me)]
        if not mine or not mine[0].commit:
            return None
        return diff(self.file, mine[0].commit, self.head)

    # ----------------------------------------------------------------- writing

    def _event(self, kind: EventKind, **fields: Any) -> dict[str, Any]:
        ensure_state_gitignore(self._state_dir, self._review_root)
        earlier = [store.folder.name for store in self.earlier()]
        if earlier:  # the claim: a copy made later does not take these threads too
            fields["follows"] = earlier
        return self.store.write({"kind": kind, "author": fields.pop("author", None) or self.me,
                                 "notebook": self.relpath, "base": self.base,
                                 "head": self.head, "head_commit": self.head_commit(),
                                 **fields})

    def comment(self, cell_id: str, text: str, line: int | None = None,
                end_line: int | None = None, *, output: int | None = None,
                suggestion: str | None = None, side: str = "head") -> Thread:
        """Start a thread on a cell of the head revision (a line range or an output of it),
        or with ``side="base"`` on what only the base revision has: deleted lines (numbered
        as in the base), a removed cell or output."""
        text = _text(text, allow_empty=suggestion is not None)
        if side not in ("head", "base"):
            raise UserInputError(f"side is 'head' or 'base', not {side!r}")
        if side == "base":
            if suggestion is not None:
                raise UserInputError("a suggestion replaces lines of the newer revision: "
                                     "comment on the base side without one")
            anchor = {**make_anchor(self.base_cells(), cell_id, line, end_line, output,
                                    revision="base revision"), "side": "base"}
        else:
            anchor = make_anchor(self.head_cells(), cell_id, line, end_line, output)
        if suggestion is not None and not isinstance(suggestion, str):
            raise UserInputError("a suggestion is the new source text of the cell or lines")
        event = self._event("comment", anchor=anchor, text=text, suggestion=suggestion)
        return self.thread(event["id"])

    def suggest(self, cell_id: str, new_source: str, line: int | None = None,
                end_line: int | None = None, text: str = "") -> Thread:
        """A thread proposing ``new_source`` for the cell (or for its lines line-end_line)."""
        return self.comment(cell_id, text, line, end_line, suggestion=new_source)

    def reply(self, thread_id: str, text: str) -> Thread:
        self.thread(thread_id)
        self._event("reply", thread=thread_id, text=_text(text))
        return self.thread(thread_id)

    def resolve(self, thread_id: str, resolved: bool = True) -> Thread:
        self.thread(thread_id)
        self._event("resolve" if resolved else "reopen", thread=thread_id)
        return self.thread(thread_id)

    def approve(self, text: str | None = None) -> dict[str, Any]:
        self._event("approve", text=text or "")
        return self.summary()

    def request_changes(self, text: str) -> dict[str, Any]:
        self._event("request_changes", text=_text(text))
        return self.summary()

    def apply(self, thread_id: str, comment_id: str | None = None) -> Thread:
        """Apply a thread's suggestion to the working copy as a cell edit (through nbformat,
        validated before it is written). Under the notebook's lock the review and the
        notebook are read again: an apply of another suggestion that just landed is kept,
        and a second apply of this one is an ``AlreadyAppliedError`` (409)."""
        ensure_state_gitignore(self._state_dir, self._review_root)
        lock = self._state_dir / "locks" / f"{notebook_key(self.relpath)}.lock"
        with notebook_lock(lock, self.file):
            thread = self.thread(thread_id)
            candidates = [c for c in thread.comments if c.suggestion is not None
                          and (comment_id is None or c.id == comment_id)]
            if not candidates:
                raise NotFoundError(f"thread '{thread_id}' has no suggestion"
                                    + (f" '{comment_id}'" if comment_id else ""))
            comment = candidates[-1]
            if comment.applied:
                raise AlreadyAppliedError("that suggestion is already applied")
            where = locate(thread.anchor, self.head_cells(WORKING))
            if where.head_index is None or where.outdated:
                raise UserInputError("the lines this suggestion replaces have changed since: "
                                     "suggest again on the current cell")
            assert comment.suggestion is not None
            apply_suggestion(self.file, where.head_index, comment.suggestion,
                             where.line if thread.line is not None else None, where.end_line)
            self._event("apply", thread=thread_id, comment=comment.id)
        return self.thread(thread_id)


def named(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it, else as it is."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _text(text: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(text, str) or (not text.strip() and not allow_empty):
        raise UserInputError("the comment needs some text")
    return text


def open_review(path: str | os.PathLike[str], base: str = "HEAD", head: str | None = None,
                *, author: str | None = None) -> Review:
    """The review of the notebook at ``path`` (working copy against HEAD by default)."""
    review = Review(path, base, head, author=author)
    if not review.file.exists() and review.repo is None:
        raise NotFoundError(f"no such notebook: {path}")
    return review


def reviews_under(folder: str | os.PathLike[str], *, author: str | None = None
                  ) -> list[Review]:
    """The reviews (with at least one event) of notebooks under ``folder``, each opened on
    the revisions of its latest event."""
    where = Path(folder).resolve()
    config = load_config(where)
    found = []
    for review_folder in review_folders(config.path("review.path")):
        events = EventStore(review_folder).read()
        if not events:
            continue
        last = events[-1]
        notebook = (config.project_root / str(last.get("notebook", ""))).resolve()
        if notebook.suffix != ".ipynb" or (where != notebook.parent
                                           and where not in notebook.parents):
            continue
        found.append(Review(notebook, str(last.get("base") or "HEAD"),
                            str(last.get("head") or WORKING), author=author,
                            display_path=notebook.relative_to(where).as_posix()))
    found += _renamed(found, where, author)
    # a renamed notebook's earlier review is listed once, under its new name
    adopted = {s.folder for r in found if r.file.exists() for s in r.earlier()}
    return [r for r in found if r.store.folder not in adopted]


def review_list(folder: str | os.PathLike[str], *, author: str | None = None,
                names: Path | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """The reviews under ``folder`` as a list shows them (``Review.list_entry``: one that
    cannot be read now says why, the others are whole), and the files of the project's review
    store that are not events; paths relative to ``names`` (default ``folder``)."""
    where = Path(folder).resolve()
    root = names or where
    entries = []
    for review in reviews_under(where, author=author):
        review.path = named(review.file, root)
        entries.append(review.list_entry())
    counts = review_counts(load_config(where).path("review.path"))
    return entries, [named(p, root) for p in counts.unreadable]


def _renamed(found: list[Review], where: Path, author: str | None) -> list[Review]:
    """Reviews of renamed notebooks with no event under their new name yet: the new name is
    looked for beside the old one (a rename in the file browser) and among the notebooks git
    sees as new or renamed (a move)."""
    gone = [r for r in found if not r.file.exists()]
    if not gone:
        return []
    candidates: set[Path] = set()
    for review in gone:
        if review.file.parent.is_dir():
            candidates.update(review.file.parent.glob("*.ipynb"))
    repo = find_repo(where)
    if repo is not None:
        with contextlib.suppress(GitError):
            for entry in repo.status(repo.relative(where)):
                if entry.status in ("untracked", "added", "renamed"):
                    candidates.add(repo.root / entry.path)
    listed = {r.file for r in found}
    more = []
    for candidate in sorted(p.resolve() for p in candidates):
        if candidate in listed or not candidate.is_file() or (
                where != candidate.parent and where not in candidate.parents):
            continue
        review = Review(candidate, "HEAD", WORKING, author=author,
                        display_path=candidate.relative_to(where).as_posix())
        if review.earlier():
            more.append(review)
    return more


class StoreCounts(NamedTuple):
    """What the review store holds, read from the event files alone (no git, no notebook)."""

    reviews: int  # notebooks with at least one event
    open_threads: int
    unreadable: list[Path]  # files that are not events


def review_counts(store: Path) -> StoreCounts:
    """How many notebooks have review events under ``store``, their open threads, and the
    files there that are not events."""
    reviews = open_threads = 0
    unreadable: list[Path] = []
    for folder in review_folders(store):
        found = EventStore(folder).load()
        unreadable += found.unreadable
        if not found.events:
            continue
        reviews += 1
        status: dict[str, str] = {}
        for event in found.events:
            if event["kind"] == "comment":
                status[event["id"]] = "open"
            elif event["kind"] in ("resolve", "reopen") and event.get("thread") in status:
                status[event["thread"]] = "open" if event["kind"] == "reopen" else "resolved"
        open_threads += sum(1 for s in status.values() if s == "open")
    return StoreCounts(reviews, open_threads, unreadable)


def unreadable_line(paths: list[str]) -> str:
    """``1 review event unreadable: PATH`` (the first three paths named)."""
    shown = ", ".join(paths[:3]) + (", …" if len(paths) > 3 else "")
    return (f"{len(paths)} review event{'s' if len(paths) != 1 else ''} unreadable: "
            f"{shown}")
