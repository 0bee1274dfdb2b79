"""The few git questions a review asks, each one ``git`` process with an argument list (never
a shell): which commit a revision names, the blob of a notebook there, the index and its merge
conflicts, renames, and the working tree's changed notebooks."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import BackendUnavailableError, UserInputError

GIT_TIMEOUT = 60.0


#: a changed file's state in the working tree
FileStatus = Literal["modified", "added", "deleted", "renamed", "untracked", "conflicted"]


class GitError(UserInputError):
    """git refused what was asked (an unknown revision, a path outside the repository)."""


@dataclass(frozen=True)
class StatusEntry:
    path: str  # repository-relative, POSIX
    status: FileStatus
    old_path: str | None = None


def _git_binary() -> str:
    git = shutil.which("git")
    if git is None:
        raise BackendUnavailableError("git is not installed: install it to compare notebooks "
                                      "with git revisions")
    return git


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"})
    return env


def find_repo(folder: Path) -> GitRepo | None:
    """The repository ``folder`` is in, or None (not in git, or git is not installed)."""
    if shutil.which("git") is None:
        return None
    done = subprocess.run([_git_binary(), "-C", str(folder), "rev-parse", "--show-toplevel"],
                          capture_output=True, env=_env(), timeout=GIT_TIMEOUT, check=False)
    if done.returncode != 0:
        return None
    return GitRepo(Path(os.fsdecode(done.stdout.strip())).resolve())


class GitRepo:
    def __init__(self, root: Path) -> None:
        self.root = root

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run([_git_binary(), "-C", str(self.root), *args],
                              capture_output=True, env=_env(), timeout=GIT_TIMEOUT,
                              check=False)
        if check and done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip().splitlines()
            raise GitError(f"git {args[0]} failed: {message[0] if message else 'no message'}")
        return done

    def relative(self, path: Path) -> str:
        """``path`` relative to the repository root, POSIX style (git's pathspec)."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            raise GitError(f"{path} is outside the git repository {self.root}") from None

    def commit_of(self, rev: str) -> str:
        """The commit ``rev`` names; an unknown revision is the caller's mistake."""
        if rev.startswith("-"):
            raise GitError(f"'{rev}' is not a git revision")
        done = self.run("rev-parse", "--verify", "--quiet", "--end-of-options",
                        f"{rev}^{{commit}}", check=False)
        if done.returncode != 0:
            if rev == "HEAD":
                raise GitError("the repository has no commits yet: commit the notebook first, "
                               "or compare with base=INDEX")
            raise GitError(f"unknown git revision '{rev}': use a branch, tag or commit "
                           "('git log --oneline' lists them)")
        return done.stdout.decode().strip()

    def head_commit(self) -> str | None:
        done = self.run("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
        return done.stdout.decode().strip() or None if done.returncode == 0 else None

    def merge_base(self, branch: str) -> str:
        other = self.commit_of(branch)
        done = self.run("merge-base", "HEAD", other, check=False)
        if done.returncode != 0:
            raise GitError(f"HEAD and '{branch}' have no common ancestor")
        return done.stdout.decode().strip()

    def blob_at(self, commit: str, relpath: str) -> str | None:
        """The blob hash of ``relpath`` in ``commit``; None where it is absent."""
        done = self.run("ls-tree", "-z", "--full-tree", commit, "--", relpath)
        for entry in done.stdout.split(b"\x00"):
            if not entry:
                continue
            meta, _, name = entry.partition(b"\t")
            _mode, kind, sha = meta.decode().split()
            if os.fsdecode(name) == relpath:
                if kind != "blob":
                    raise GitError(f"'{relpath}' is a {kind} in {commit[:10]}, not a notebook")
                return sha
        return None

    def index_entries(self, relpath: str) -> dict[int, str]:
        """Stage number → blob hash of ``relpath`` in the index (stages 1-3: a conflict)."""
        done = self.run("ls-files", "-s", "-z", "--", relpath)
        stages: dict[int, str] = {}
        for entry in done.stdout.split(b"\x00"):
            if not entry:
                continue
            meta, _, name = entry.partition(b"\t")
            if os.fsdecode(name) != relpath:
                continue
            _mode, sha, stage = meta.decode().split()
            stages[int(stage)] = sha
        return stages

    def read_blob(self, sha: str) -> bytes:
        return self.run("cat-file", "blob", sha).stdout

    def conflict_message(self, relpath: str) -> str | None:
        """One line naming the revisions in conflict, or None when ``relpath`` is merged."""
        stages = self.index_entries(relpath)
        if not any(s in stages for s in (1, 2, 3)):
            return None
        ours = self._describe("HEAD")
        theirs = None
        for name in ("MERGE_HEAD", "REBASE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD"):
            described = self._describe(name)
            if described:
                theirs = f"{described} ({name})"
                break
        return (f"'{relpath}' has an unresolved merge conflict between {ours or 'HEAD'} "
                f"(ours) and {theirs or 'the other side'} (theirs): resolve it in the Review "
                "panel's Merge view (after 'jupyter mlops git-config --merge-driver' and "
                "'git checkout -m' on it) or with 'git checkout --ours/--theirs', and 'git add' "
                "it first")

    def _describe(self, rev: str) -> str | None:
        done = self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        if done.returncode != 0:
            return None
        sha = done.stdout.decode().strip()
        named = self.run("name-rev", "--name-only", "--exclude=tags/*", sha, check=False)
        name = named.stdout.decode().strip()
        return f"{name} {sha[:10]}" if name and name != "undefined" else sha[:10]

    def renamed_from(self, commit: str, relpath: str, *, cached: bool,
                     head_commit: str | None = None) -> str | None:
        """The path ``relpath`` had in ``commit`` when git sees it as renamed since (in
        ``head_commit``, else the index when ``cached``, else the working tree)."""
        args = ["diff", "-M", "--name-status", "-z"]
        if cached and head_commit is None:
            args.append("--cached")
        args.append(commit)
        if head_commit is not None:
            args.append(head_commit)
        done = self.run(*args, "--", "*.ipynb", check=False)
        parts = done.stdout.split(b"\x00")
        k = 0
        while k < len(parts) and parts[k]:
            code = parts[k].decode()
            if code.startswith(("R", "C")):
                old, new = os.fsdecode(parts[k + 1]), os.fsdecode(parts[k + 2])
                if new == relpath and code.startswith("R"):
                    return old
                k += 3
            else:
                k += 2
        return None

    def status(self, folder_rel: str) -> list[StatusEntry]:
        """The changed notebooks under ``folder_rel`` (repository-relative; "" = all)."""
        args = ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--"]
        args.append(folder_rel or ".")
        done = self.run(*args)
        parts = done.stdout.split(b"\x00")
        entries: list[StatusEntry] = []
        k = 0
        while k < len(parts):
            raw = parts[k]
            k += 1
            if len(raw) < 4:
                continue
            code, path = raw[:2].decode(), os.fsdecode(raw[3:])
            old = None
            if "R" in code or "C" in code:
                old = os.fsdecode(parts[k])
                k += 1
            if not path.endswith(".ipynb") or ".ipynb_checkpoints/" in f"/{path}":
                continue
            entries.append(StatusEntry(path, _status_name(code, old), old))
        return entries


def _status_name(code: str, old: str | None) -> FileStatus:
    if code == "??":
        return "untracked"
    if code in ("DD", "AU", "UD", "UA", "DU", "AA", "UU"):
        return "conflicted"
    if old is not None and "R" in code:
        return "renamed"
    if "A" in code:
        return "added"
    if "D" in code:
        return "deleted"
    return "modified"
