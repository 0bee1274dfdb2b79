"""``jupyter mlops merge BASE LOCAL REMOTE [-o OUT]`` (also ``%mlops merge``) and ``jupyter
mlops git-config [--merge-driver] [--difftool] [--remove]``: thin adapters over the core.

``merge`` follows git's merge-driver contract: the result goes over LOCAL (unless ``-o``),
written whole or not at all, and the exit status is 1 when conflicts remain (recorded in the
cells for the Merge view) — git then leaves the notebook unmerged until it is ``git add``-ed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..verb import Context


def configure_merge(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", metavar="BASE", help="the common ancestor (git's %%O; an "
                        "empty file: none)")
    parser.add_argument("local", metavar="LOCAL", help="our notebook (git's %%A): the result "
                        "is written here unless -o")
    parser.add_argument("remote", metavar="REMOTE", help="their notebook (git's %%B)")
    parser.add_argument("-o", "--out", default=None, metavar="OUT",
                        help="write the merged notebook here instead of over LOCAL")
    parser.add_argument("--name", default=None, metavar="PATH",
                        help="what to call the notebook in messages (the merge driver passes "
                        "git's %%P, its path in the repository)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run_merge(args: argparse.Namespace, ctx: Context) -> Any:
    from .conflicts import merge_files

    def where(name: str) -> Path:
        path = Path(name).expanduser()
        return path if path.is_absolute() else Path(ctx.cwd) / path

    result = merge_files(where(args.base), where(args.local), where(args.remote),
                         where(args.out) if args.out else None)
    result.path = args.name or args.out or args.local
    return result


def configure_git_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--merge-driver", action="store_true",
                        help="merge notebooks cell by cell in 'git merge' (.gitattributes "
                        "and .git/config)")
    parser.add_argument("--difftool", action="store_true",
                        help="'git difftool --tool=mlops' compares notebooks with 'diff'")
    parser.add_argument("--remove", action="store_true",
                        help="undo what git-config wrote (the parts named, default both)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run_git_config(args: argparse.Namespace, ctx: Context) -> Any:
    from .gitconfig import install, remove

    both = not args.merge_driver and not args.difftool
    parts = {"merge_driver": args.merge_driver or both, "difftool": args.difftool or both}
    return (remove if args.remove else install)(Path(ctx.cwd), **parts)


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    (configure_merge if name == "merge" else configure_git_config)(parser)


def run(name: str, args: argparse.Namespace, ctx: Context) -> Any:
    return (run_merge if name == "merge" else run_git_config)(args, ctx)
