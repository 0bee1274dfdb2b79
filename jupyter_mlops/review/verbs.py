"""``%mlops diff`` / ``jupyter mlops diff`` and ``jupyter mlops review list|show|comment|
reply|resolve|approve|request-changes`` (also as ``%mlops review …``): thin adapters over the
core."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserInputError
from ..session import notebook_path
from ..verb import Context


def _revisions(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", default=None, metavar="REV",
                        help="HEAD (default; outside git: the last checkpoint), INDEX, "
                        "CHECKPOINT, a ref or commit, merge-base:BRANCH")
    parser.add_argument("--head", default=None, metavar="REV",
                        help="WORKING (default: the working copy), INDEX, a ref or commit")


# --------------------------------------------------------------------------- diff


def configure_diff(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", default=None, metavar="PATH",
                        help="the notebook (in a notebook: this one)")
    parser.add_argument("base_rev", nargs="?", default=None, metavar="BASE",
                        help="same as --base; or a second notebook file: PATH and it are "
                        "compared as files (PATH the base)")
    parser.add_argument("head_rev", nargs="?", default=None, metavar="HEAD",
                        help="same as --head")
    _revisions(parser)
    parser.add_argument("--no-outputs", action="store_true", help="do not compare outputs")
    parser.add_argument("--metadata", action="store_true",
                        help="compare all metadata (default: without timings and view state)")
    parser.add_argument("--execution-counts", action="store_true",
                        help="compare execution counts")
    parser.add_argument("--no-attachments", action="store_true",
                        help="do not compare markdown attachments")
    parser.add_argument("--no-color", action="store_true",
                        help="plain text (the default when output is not a terminal)")
    parser.add_argument("--json", action="store_true", help="print the diff as JSON")
    parser.add_argument("--nbdime", action="store_true",
                        help="print the diff in nbdime's format (JSON)")


def run_diff(args: argparse.Namespace, ctx: Context) -> Any:
    """The diff (a ``NotebookDiff``), or its nbdime form with ``--nbdime``."""
    from . import DiffFilters, diff
    from .files import diff_files, files_given

    if args.base_rev and args.base:
        raise UserInputError("give the base once: BASE or --base")
    if args.head_rev and args.head:
        raise UserInputError("give the head once: HEAD or --head")
    filters = DiffFilters(outputs=not args.no_outputs, metadata=args.metadata,
                          execution_counts=args.execution_counts,
                          attachments=not args.no_attachments)
    files = files_given(args.path, args.base_rev, ctx.cwd)
    if files is not None:  # diff A.ipynb B.ipynb: two files as they are
        if args.head_rev or args.base or args.head:
            raise UserInputError("two files are compared as they are: leave out the "
                                 "revisions (HEAD, --base, --head)")
        result = diff_files(*files, filters=filters, labels=(args.path, args.base_rev))
        return result.to_nbdime() if args.nbdime else result
    path = notebook_path(args.path, ctx, "diff NOTEBOOK.ipynb")
    result = diff(path, args.base_rev or args.base or "HEAD", args.head_rev or args.head,
                  filters=filters)
    if args.path is not None:
        result.path = args.path
    return result.to_nbdime() if args.nbdime else result


# --------------------------------------------------------------------------- review


def configure_review(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def common(action: argparse.ArgumentParser, *, folder: bool = False) -> None:
        if folder:
            action.add_argument("folder", nargs="?", default=None, metavar="FOLDER",
                                help="where to look (default: the working folder)")
        else:
            action.add_argument("path", metavar="PATH", help="the notebook")
            _revisions(action)
        action.add_argument("--author", default=None,
                            help="who is speaking (default: git's user.name)")
        action.add_argument("--json", action="store_true", help="print the result as JSON")

    common(sub.add_parser("list", help="changed notebooks and their reviews"), folder=True)
    show = sub.add_parser("show", help="a review: state, reviewers, threads")
    common(show)
    show.add_argument("--check", action="store_true",
                      help="exit with 1 unless the review is approved (for CI)")
    comment = sub.add_parser("comment", help="start a thread on a cell")
    common(comment)
    comment.add_argument("cell_id", metavar="CELL", help="the cell's id (as 'diff' shows it)")
    comment.add_argument("text", metavar="TEXT", help="the comment")
    comment.add_argument("--line", type=int, default=None, help="first line (from 1)")
    comment.add_argument("--end-line", type=int, default=None, help="last line")
    comment.add_argument("--side", choices=("head", "base"), default="head",
                         help="base: on what only the base revision has, deleted lines "
                              "(numbered as there) or a removed cell")
    comment.add_argument("--suggest", default=None, metavar="SOURCE",
                         help="suggest this source for the cell (or the lines)")
    reply = sub.add_parser("reply", help="answer in a thread")
    common(reply)
    reply.add_argument("thread", metavar="THREAD", help="the thread's id (as 'show' lists it)")
    reply.add_argument("text", metavar="TEXT", help="the answer")
    resolve = sub.add_parser("resolve", help="mark a thread resolved (or open again)")
    common(resolve)
    resolve.add_argument("thread", metavar="THREAD", help="the thread's id")
    resolve.add_argument("--reopen", action="store_true", help="open it again")
    approve = sub.add_parser("approve", help="approve the change at its head commit")
    common(approve)
    approve.add_argument("--text", default=None, help="a note to the author")
    changes = sub.add_parser("request-changes", help="ask for changes")
    common(changes)
    changes.add_argument("text", metavar="TEXT", help="what to change")
    export = sub.add_parser("export", help="write the review as one static HTML file anyone "
                            "can read in a browser (diff, threads, suggestions, verdicts)")
    export.add_argument("path", metavar="PATH", help="the notebook")
    _revisions(export)
    export.add_argument("--html", required=True, metavar="OUT.html",
                        help="the file to write (replaced whole)")
    export.add_argument("--json", action="store_true", help="print what was written as JSON")


def _summary_text(data: dict[str, Any]) -> str:
    lines = [f"{data['path']}: {data['state']} ({data['base']} → {data['head']}"
             + (f" @ {str(data['head_commit'])[:10]}" if data.get("head_commit") else "") + ")"]
    if data.get("error"):
        lines.append(f"  cannot be read now: {data['error']}")
    for r in data["reviewers"]:
        at = f" @ {str(r['commit'])[:10]}" if r.get("commit") else ""
        lines.append(f"  {r['user']}: {r['state']}{at}")
    threads = data["threads"]
    count = len(threads) if isinstance(threads, list) else threads
    lines.append(f"  threads: {count} ({data['open_threads']} open)")
    return "\n".join(lines)


def _thread_text(thread: dict[str, Any]) -> str:
    where = f"cell {thread['cell_id']}"
    if thread.get("line"):
        end = thread.get("end_line")
        where += f" line {thread['line']}" + (f"-{end}" if end and end != thread["line"] else "")
    if thread.get("side") == "base":
        where += " (base)"
    flags = [thread["status"]] + (["outdated"] if thread["outdated"] else [])
    out = [f"[{thread['id']}] {where} ({', '.join(flags)})"]
    for c in thread["comments"]:
        out.append(f"    {c['author']}: {c['text']}")
        if c.get("suggestion") is not None:
            mark = " (applied)" if c.get("applied") else ""
            out.append(f"      suggests{mark}: " + c["suggestion"].rstrip("\n").replace(
                "\n", "\n      "))
    return "\n".join(out)


def run_review(args: argparse.Namespace, ctx: Context) -> Any:
    from . import changes, open_review
    from .reviews import review_list, unreadable_line

    if args.action == "list":
        folder = Path(ctx.cwd) / (args.folder or ".")
        repo, entries = changes(folder)
        reviews, unreadable = review_list(folder, author=args.author)
        notebooks = [{"path": e.path, "status": e.status, "old_path": e.old_path}
                     for e in entries]
        listing = {"git": repo is not None, "notebooks": notebooks, "reviews": reviews,
                   "unreadable": unreadable}
        lines = [f"{e['status']:<10} {e['path']}" + (f" (from {e['old_path']})"
                                                     if e["old_path"] else "")
                 for e in notebooks] or ["no changed notebooks"]
        lines += ["", *(_summary_text(r) for r in reviews)] if reviews else []
        lines += [unreadable_line(unreadable)] if unreadable else []
        return ReviewShown("\n".join(lines), listing)
    if args.action == "export":
        from .export_html import export_review

        path = notebook_path(args.path, ctx, "review export NOTEBOOK.ipynb --html OUT.html")
        exported = export_review(path, Path(ctx.cwd) / Path(args.html).expanduser(),
                                 args.base or "HEAD", args.head)
        exported.out = Path(args.html)
        return ReviewShown(str(exported), exported.to_dict())
    review = open_review(notebook_path(args.path, ctx, f"review {args.action} NOTEBOOK.ipynb"),
                         args.base or "HEAD", args.head, author=args.author)
    review.path = args.path
    if args.action in ("comment", "reply", "resolve"):
        if args.action == "comment":
            thread = review.comment(args.cell_id, args.text, args.line, args.end_line,
                                    suggestion=args.suggest,
                                    side=args.side)
        elif args.action == "reply":
            thread = review.reply(args.thread, args.text)
        else:
            thread = review.resolve(args.thread, not args.reopen)
        data = thread.to_dict()
        return ReviewShown(_thread_text(data), data)
    if args.action == "approve":
        review.approve(args.text)
    elif args.action == "request-changes":
        review.request_changes(args.text)
    data = review.summary(with_threads=True)
    text = "\n".join([_summary_text(data), *(_thread_text(t) for t in data["threads"]),
                      *([unreadable_line(data["unreadable"])] if data["unreadable"] else [])])
    # --check (for CI): the command line exits with 1 unless the review is approved
    return ReviewShown(text, data, ok=not (args.action == "show" and args.check
                                           and data["state"] != "approved"))


@dataclass
class ReviewShown:
    """What a ``review`` action shows: its text, and the data ``--json`` gives. ``ok`` is
    False when ``show --check`` finds the review not approved."""

    text: str
    data: dict[str, Any]
    ok: bool = True

    def to_dict(self) -> dict[str, Any]:
        return self.data

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:  # a notebook shows it as the text it is (no quotes)
        return self.text


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    (configure_diff if name == "diff" else configure_review)(parser)


def run(name: str, args: argparse.Namespace, ctx: Context) -> Any:
    return (run_diff if name == "diff" else run_review)(args, ctx)
