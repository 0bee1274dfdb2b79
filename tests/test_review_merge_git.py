"""A real ``git merge`` of two branches that both edited one notebook, with the merge driver
installed by ``jupyter mlops git-config --merge-driver``: clean, or conflicted with the
conflicts in the cells (no cell lost) and resolved and staged; a notebook git merged as text
merged again with ``git checkout -m``; ``--difftool``; ``--remove`` undoing exactly that."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

from jupyter_mlops.review.conflicts import Resolution, conflicts_of, read_notebook, resolve_file
from jupyter_mlops.review.notebook import ConflictMarkersError

from .review_fixtures import NB, base_cells, code, markdown, notebook, write

CLI = Callable[..., subprocess.CompletedProcess[str]]


class Repo:
    """A git repository in ``root`` whose git sees no user or system config; the driver git
    runs imports the code under test (``env``)."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = {**env, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                    "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.invalid",
                    "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.invalid",
                    "GIT_MERGE_AUTOEDIT": "no"}

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["git", *args], cwd=self.root, env=self.env, capture_output=True,
                              text=True, timeout=120, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"git {' '.join(args)}: {done.stdout}{done.stderr}")
        return done

    def config(self) -> list[str]:
        return sorted(self("config", "--local", "--list").stdout.splitlines())


@pytest.fixture
def repo(project: Path, child_env: Callable[..., dict[str, str]]) -> Repo:
    git = Repo(project, child_env())
    git("init", "-q", "-b", "main")
    write(project / "train.ipynb", notebook(base_cells()))
    git("add", "train.ipynb")
    git("commit", "-q", "-m", "base")
    return git


def edit(path: Path, change: Callable[[NB], None]) -> NB:
    nb = json.loads(path.read_text())
    change(nb)
    write(path, nb)
    result: NB = copy.deepcopy(nb)
    return result


def cell(nb: NB, cell_id: str) -> dict[str, Any]:
    return next(c for c in nb["cells"] if c.get("id") == cell_id)


def branches(repo: Repo, ours: Callable[[NB], None], theirs: Callable[[NB], None]
             ) -> tuple[NB, NB]:
    """``feature`` edited by ``theirs``, ``main`` by ``ours``, each committed; on main."""
    nb = repo.root / "train.ipynb"
    repo("checkout", "-q", "-b", "feature")
    remote = edit(nb, theirs)
    repo("commit", "-q", "-am", "theirs")
    repo("checkout", "-q", "main")
    local = edit(nb, ours)
    repo("commit", "-q", "-am", "ours")
    return local, remote


def install(cli: CLI, repo: Repo, *flags: str) -> subprocess.CompletedProcess[str]:
    done = cli("git-config", *flags, cwd=repo.root)
    assert done.returncode == 0, done.stderr
    return done


def _ours_clean(nb: NB) -> None:
    cell(nb, "params")["source"] = "rate = 0.05\nepochs = 3\nprint(rate * epochs)\n"
    nb["cells"].insert(1, markdown("Data: churn.csv", id="data"))


def _theirs_clean(nb: NB) -> None:
    cell(nb, "train")["source"] = cell(nb, "train")["source"].replace("1.0", "2.0")
    nb["cells"].append(code("print('report')", id="report"))


def test_git_merge_with_the_driver_merges_cleanly(repo: Repo, cli: CLI) -> None:
    done = install(cli, repo, "--merge-driver")
    assert "merge.mlops.driver" in done.stdout and ".gitattributes" in done.stdout
    assert (repo.root / ".gitattributes").read_text() == "*.ipynb merge=mlops\n"
    repo("add", ".gitattributes")
    repo("commit", "-q", "-m", "notebooks merged cell by cell")
    branches(repo, _ours_clean, _theirs_clean)

    merged = repo("merge", "--no-edit", "feature", check=False)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert repo("status", "--porcelain").stdout == ""
    nb = nbformat.read(str(repo.root / "train.ipynb"), as_version=4)
    nbformat.validate(nb)
    assert [c.id for c in nb.cells] == ["intro", "data", "imports", "params", "train", "run",
                                        "notes", "done", "report"]
    assert nb.cells[3].source.startswith("rate = 0.05")
    assert "loss = 2.0" in nb.cells[4].source
    assert conflicts_of(json.loads((repo.root / "train.ipynb").read_text())) == []


def _ours_conflict(nb: NB) -> None:
    _ours_clean(nb)
    nb["cells"] = [c for c in nb["cells"] if c["id"] != "done"]
    cell(nb, "notes")["source"] = "## Notes\nrate 0.05 is better."


def _theirs_conflict(nb: NB) -> None:
    _theirs_clean(nb)
    cell(nb, "params")["source"] = "rate = 0.2\nepochs = 3\nprint(rate * epochs)\n"
    cell(nb, "notes")["source"] = "## Notes\nrate 0.2 is better."


def test_git_merge_with_conflicts_keeps_every_cell_and_is_resolved_then_staged(
        repo: Repo, cli: CLI) -> None:
    install(cli, repo, "--merge-driver")
    local, remote = branches(repo, _ours_conflict, _theirs_conflict)

    merged = repo("merge", "--no-edit", "feature", check=False)
    assert merged.returncode == 1
    assert "CONFLICT" in merged.stdout
    assert "train.ipynb: 2 conflicts (8 cells)" in merged.stdout  # git's %P names it
    assert repo("diff", "--name-only", "--diff-filter=U").stdout.split() == ["train.ipynb"]
    path = repo.root / "train.ipynb"
    text = path.read_text()
    assert "<<<<<<<" not in text  # the notebook still opens in JupyterLab
    nbformat.validate(nbformat.reads(text, as_version=4))
    nb = read_notebook(path)
    conflicts = conflicts_of(nb)
    assert sorted(c["cell_id"] for c in conflicts) == ["notes", "params"]
    assert {c["kind"] for c in conflicts} == {"source"}
    # every cell of both sides is there ('done', deleted by us and untouched by them, is not)
    ids = [c["id"] for c in nb["cells"]]
    assert ids == ["intro", "data", "imports", "params", "train", "run", "notes", "report"]
    base = {c["id"]: c["source"] for c in base_cells()}
    for side in (local, remote):  # and what each side wrote is in a cell or a conflict
        for c in side["cells"]:
            if base.get(c["id"]) == c["source"]:
                continue
            alternatives = [x["source"] for x in conflicts if x["cell_id"] == c["id"]
                            for x in (x["local"], x["remote"])]
            assert c["source"] == cell(nb, c["id"])["source"] or c["source"] in alternatives

    first = resolve_file(path, [Resolution(conflicts[0]["id"], "remote")], stage=True)
    assert first.remaining == 1 and not first.staged
    assert "not staged" in first.message
    assert repo("diff", "--name-only", "--diff-filter=U").stdout.split() == ["train.ipynb"]
    done = resolve_file(path, [Resolution(conflicts[1]["id"], "local")], stage=True)
    assert done.remaining == 0 and done.staged
    assert repo("diff", "--name-only", "--diff-filter=U").stdout == ""
    repo("commit", "-q", "--no-edit")
    final = nbformat.read(str(path), as_version=4)
    assert final.cells[3].source.startswith("rate = 0.2")
    assert final.cells[6].source == "## Notes\nrate 0.05 is better."
    assert all("mlops" not in c.metadata for c in final.cells)


def test_a_text_merged_notebook_is_merged_again_with_checkout_m(repo: Repo,
                                                                cli: CLI) -> None:
    branches(repo, _ours_conflict, _theirs_conflict)
    assert repo("merge", "--no-edit", "feature", check=False).returncode == 1
    path = repo.root / "train.ipynb"
    with pytest.raises(ConflictMarkersError, match="git checkout -m") as caught:
        read_notebook(path)
    assert "\n" not in str(caught.value)
    # the way out the message gives
    install(cli, repo, "--merge-driver")
    repo("checkout", "-m", "--", "train.ipynb")
    nb = read_notebook(path)
    assert sorted(c["cell_id"] for c in conflicts_of(nb)) == ["notes", "params"]


def test_difftool_compares_notebooks(repo: Repo, cli: CLI) -> None:
    install(cli, repo, "--difftool")
    assert not (repo.root / ".gitattributes").exists()
    edit(repo.root / "train.ipynb", _ours_clean)
    shown = repo("difftool", "-y", "--tool=mlops", "--", "train.ipynb")
    assert "cell 1 added: markdown [data]" in shown.stdout
    assert "+ rate = 0.05" in shown.stdout


def test_remove_undoes_exactly_what_was_added(repo: Repo, cli: CLI) -> None:
    repo("config", "--local", "merge.other.driver", "true")
    before = repo.config()
    first = install(cli, repo)  # both parts
    assert "difftool.mlops.cmd" in first.stdout and "merge.mlops.driver" in first.stdout
    again = install(cli, repo)
    assert "nothing to change" in again.stdout
    assert repo.config() != before
    removed = install(cli, repo, "--remove")
    assert "removed" in removed.stdout
    assert repo.config() == before
    assert not (repo.root / ".gitattributes").exists()
    assert "[merge \"mlops\"]" not in (repo.root / ".git" / "config").read_text()
    # a .gitattributes with lines of its own keeps them
    (repo.root / ".gitattributes").write_text("*.png binary")
    install(cli, repo, "--merge-driver")
    assert (repo.root / ".gitattributes").read_text() == "*.png binary\n*.ipynb merge=mlops\n"
    install(cli, repo, "--merge-driver", "--remove")
    assert (repo.root / ".gitattributes").read_text() == "*.png binary\n"
    assert repo.config() == before


def test_git_config_outside_a_repository_is_one_line(project: Path, cli: CLI) -> None:
    done = cli("git-config", "--merge-driver", cwd=project)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "is not in a git repository" in done.stderr
    assert list(project.iterdir()) == []
