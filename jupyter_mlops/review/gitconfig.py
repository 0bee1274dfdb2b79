"""``jupyter mlops git-config``: this tool as git's merge driver for notebooks (``*.ipynb
merge=mlops`` in ``.gitattributes``, ``[merge "mlops"]`` in ``.git/config``) and as a
difftool (``[difftool "mlops"]``), and ``--remove`` undoing exactly that.

The commands git runs name this Python's own ``jupyter-mlops`` script by its absolute path
(else ``python -P -m jupyter_mlops.cli``, which never imports from the repository), so a merge
works whatever PATH git runs with. git is asked through ``git config`` (an argument list,
never a shell).
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserInputError
from .git import GitRepo, find_repo

DRIVER = "mlops"
ATTRIBUTE_LINE = f"*.ipynb merge={DRIVER}"


def tool_command() -> list[str]:
    """How git calls ``jupyter mlops``: the ``jupyter-mlops`` script beside this Python, else
    this Python with ``-m`` (``-P``/``-I``: the working folder, a repository, stays off
    ``sys.path``)."""
    script = Path(sys.executable).parent / ("jupyter-mlops.exe" if os.name == "nt"
                                            else "jupyter-mlops")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    isolate = "-P" if sys.version_info >= (3, 11) else "-I"
    return [sys.executable, isolate, "-m", "jupyter_mlops.cli"]


def settings() -> dict[str, dict[str, str]]:
    """The git config each part writes: ``{part: {key: value}}``."""
    tool = shlex.join(tool_command())
    return {
        "merge-driver": {f"merge.{DRIVER}.name": "jupyter-mlops: notebooks merged cell by cell",
                         f"merge.{DRIVER}.driver": f"{tool} merge %O %A %B --name %P"},
        "difftool": {f"difftool.{DRIVER}.cmd": f'{tool} diff "$LOCAL" "$REMOTE"'},
    }


@dataclass
class GitConfigResult:
    """What ``git-config`` changed (``changes``), in the repository at ``repo``."""

    repo: str
    changes: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"repo": self.repo, "changes": self.changes, "hints": self.hints}

    def to_text(self) -> str:
        lines = [f"{self.repo}:"] + [f"  {c}" for c in self.changes or ["nothing to change"]]
        return "\n".join(lines + self.hints)

    def __repr__(self) -> str:
        return self.to_text()


def _repo(folder: Path) -> GitRepo:
    repo = find_repo(folder)
    if repo is None:
        raise UserInputError(f"{folder} is not in a git repository (or git is not installed): "
                             "run git-config inside the repository whose notebooks to merge")
    return repo


def _get(repo: GitRepo, key: str) -> str | None:
    done = repo.run("config", "--local", "--get", key, check=False)
    return done.stdout.decode().strip() if done.returncode == 0 else None


def _attributes(repo: GitRepo) -> Path:
    return repo.root / ".gitattributes"


def _attribute_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path} cannot be read ({exc}): fix it, then run git-config "
                             "again") from None


def install(folder: Path, *, merge_driver: bool = True, difftool: bool = True
            ) -> GitConfigResult:
    """Write the parts asked for; what is there already is left as it is."""
    repo = _repo(folder)
    result = GitConfigResult(str(repo.root))
    wanted = settings()
    for part, on in (("merge-driver", merge_driver), ("difftool", difftool)):
        if not on:
            continue
        for key, value in wanted[part].items():
            if _get(repo, key) != value:
                repo.run("config", "--local", key, value)
                result.changes.append(f".git/config: {key} = {value}")
    if merge_driver:
        path = _attributes(repo)
        lines = _attribute_lines(path)
        if ATTRIBUTE_LINE not in (line.strip() for line in lines):
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            if text and not text.endswith("\n"):
                text += "\n"
            path.write_text(text + ATTRIBUTE_LINE + "\n", encoding="utf-8")
            result.changes.append(f".gitattributes: added '{ATTRIBUTE_LINE}'")
        result.hints.append("git merge now merges notebooks cell by cell; commit "
                            ".gitattributes so the team's merges do too (each clone runs "
                            "git-config once). A notebook git already merged as text: "
                            "'git checkout -m -- NOTEBOOK.ipynb' merges it again.")
    if difftool:
        result.hints.append("compare notebooks: git difftool --tool=mlops -- '*.ipynb'")
    return result


def remove(folder: Path, *, merge_driver: bool = True, difftool: bool = True
           ) -> GitConfigResult:
    """Undo ``install``: its keys, its section when nothing else is left in it, its line in
    ``.gitattributes`` (and the file, when it was only that line and git does not track it)."""
    repo = _repo(folder)
    result = GitConfigResult(str(repo.root))
    for part, on in (("merge-driver", merge_driver), ("difftool", difftool)):
        if not on:
            continue
        keys = settings()[part]
        for key in keys:
            if _get(repo, key) is not None:
                repo.run("config", "--local", "--unset-all", key)
                result.changes.append(f".git/config: removed {key}")
        section = next(iter(keys)).rsplit(".", 1)[0]
        left = repo.run("config", "--local", "--get-regexp", f"^{section}\\.", check=False)
        if left.returncode != 0 and not left.stdout.strip():
            repo.run("config", "--local", "--remove-section", section, check=False)
    if merge_driver:
        path = _attributes(repo)
        lines = _attribute_lines(path)
        kept = [line for line in lines if line.strip() != ATTRIBUTE_LINE]
        if len(kept) != len(lines):
            tracked = repo.run("ls-files", "--error-unmatch", "--", ".gitattributes",
                               check=False).returncode == 0
            if not "".join(kept).strip() and not tracked:
                path.unlink()
                result.changes.append(".gitattributes: removed (it held only "
                                      f"'{ATTRIBUTE_LINE}')")
            else:
                path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
                result.changes.append(f".gitattributes: removed '{ATTRIBUTE_LINE}'")
    return result
