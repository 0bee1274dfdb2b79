"""Diffs against git revisions in real repositories (``git init`` in a temporary folder):
working copy, index, HEAD, any commit, the merge-base with a branch; new, deleted and renamed
notebooks; unknown refs, binary files and merge conflicts as one clear line."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from jupyter_mlops.errors import NotFoundError, UserInputError
from jupyter_mlops.review import changes, diff
from jupyter_mlops.review.diffs import clear_cache

from . import review_fixtures
from .review_fixtures import base_cells, code, edited_pair, notebook, write

repo = review_fixtures.repo
Git = Callable[..., str]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_cache()


def committed(project: Path, git: Git) -> Path:
    base, _head = edited_pair()
    nb = write(project / "work" / "train.ipynb", base)
    git("add", ".")
    git("commit", "-q", "-m", "base")
    return nb


def test_working_copy_against_head(project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    write(nb, edited_pair()[1])
    head_sha = repo("rev-parse", "HEAD").strip()

    result = diff(nb)
    assert result.base.rev == "HEAD" and result.base.commit == head_sha
    assert result.base.label == f"HEAD ({head_sha[:10]})"
    assert result.head.rev == "WORKING" and result.head.commit is None
    s = result.summary
    assert (s.added, s.removed, s.moved, s.modified) == (1, 1, 1, 1)
    assert result.status == "modified"


def test_index_between_head_and_working_copy(project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    staged = json.loads(nb.read_text())
    staged["cells"].append(code("staged = True", id="staged"))
    write(nb, staged)
    repo("add", str(nb))
    unstaged = copy.deepcopy(staged)
    unstaged["cells"].append(code("unstaged = True", id="unstaged"))
    write(nb, unstaged)

    to_index = diff(nb, "HEAD", "INDEX")
    assert [c.cell_id for c in to_index.cells if c.status == "added"] == ["staged"]
    from_index = diff(nb, "INDEX")
    assert [c.cell_id for c in from_index.cells if c.status == "added"] == ["unstaged"]


def test_any_commit_and_the_merge_base_with_a_branch(project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    first = repo("rev-parse", "HEAD").strip()
    repo("checkout", "-q", "-b", "feature")
    write(nb, edited_pair()[1])
    repo("commit", "-q", "-am", "edit")
    repo("checkout", "-q", "main")
    later = json.loads(nb.read_text())
    later["cells"].append(code("on_main = 1", id="main"))
    write(nb, later)
    repo("commit", "-q", "-am", "main moves on")
    repo("checkout", "-q", "feature")

    by_commit = diff(nb, first, "HEAD")
    assert by_commit.base.commit == first and by_commit.base.label == first[:10]
    assert by_commit.summary.moved == 1
    # against main itself the diff also shows main's own new cell as removed...
    assert diff(nb, "main", "HEAD").summary.removed == 2
    # ...against the merge-base only this branch's changes
    branch = diff(nb, "merge-base:main", "HEAD")
    assert branch.base.commit == first and branch.base.label.startswith("merge-base with main")
    assert branch.summary.removed == 1 and branch.summary.added == 1


def test_new_deleted_and_renamed_notebooks(project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    fresh = write(project / "work" / "new.ipynb", notebook(base_cells()[:2]))
    added = diff(fresh)
    assert added.status == "added" and added.summary.added == 2
    assert added.base.blob is None

    nb.unlink()
    deleted = diff(nb)
    assert deleted.status == "deleted" and deleted.summary.removed == 7
    repo("checkout", "--", str(nb))

    repo("mv", "work/train.ipynb", "work/model.ipynb")
    moved = project / "work" / "model.ipynb"
    edited = json.loads(moved.read_text())
    edited["cells"][1]["source"] += "import os\n"
    write(moved, edited)
    renamed = diff(moved)
    assert renamed.status == "renamed" and renamed.base.path == "work/train.ipynb"
    assert renamed.summary.modified == 1 and renamed.summary.unchanged == 6
    staged = diff(moved, "HEAD", "INDEX")  # the rename is staged, the edit is not
    assert staged.status == "renamed" and not staged.summary.changed

    _repo, found = changes(project / "work")
    by_path = {e.path: e for e in found}
    assert by_path["work/model.ipynb"].status == "renamed"
    assert by_path["work/model.ipynb"].old_path == "work/train.ipynb"
    assert by_path["work/new.ipynb"].status == "untracked"

    repo("commit", "-q", "-am", "renamed and edited")  # between two commits too...
    moved.unlink()  # ...whatever the working tree holds
    committed_rename = diff(moved, "HEAD~1", "HEAD")
    assert committed_rename.status == "renamed" and committed_rename.summary.modified == 1


def test_unknown_ref_is_one_clear_line(project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    with pytest.raises(UserInputError) as caught:
        diff(nb, "no-such-branch")
    message = str(caught.value)
    assert message == ("unknown git revision 'no-such-branch': use a branch, tag or commit "
                       "('git log --oneline' lists them)")
    with pytest.raises(UserInputError, match="not a git revision"):
        diff(nb, "--output=/tmp/x")


def test_binary_and_invalid_committed_files_name_the_revision(project: Path,
                                                              repo: Git) -> None:
    nb = project / "blob.ipynb"
    nb.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    repo("add", ".")
    repo("commit", "-q", "-m", "binary")
    write(nb, notebook(base_cells()))
    sha = repo("rev-parse", "HEAD").strip()[:10]
    with pytest.raises(UserInputError, match=rf"'blob.ipynb' \(HEAD \({sha}\)\) is a binary"):
        diff(nb)


def test_a_merge_conflicted_notebook_names_both_sides(project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    repo("checkout", "-q", "-b", "theirs")
    edited = json.loads(nb.read_text())
    edited["cells"][0]["source"] = "# Theirs"
    write(nb, edited)
    repo("commit", "-q", "-am", "theirs")
    repo("checkout", "-q", "main")
    edited["cells"][0]["source"] = "# Ours"
    write(nb, edited)
    repo("commit", "-q", "-am", "ours")
    repo("merge", "theirs", check=False)

    with pytest.raises(UserInputError) as caught:
        diff(nb)
    message = str(caught.value)
    assert "unresolved merge conflict between main" in message
    assert "theirs" in message and "(MERGE_HEAD)" in message
    assert "\n" not in message
    _repo, found = changes(project)
    assert [(e.path, e.status) for e in found] == [("work/train.ipynb", "conflicted")]


def test_diffs_are_cached_by_the_pair_of_blobs(project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    write(nb, edited_pair()[1])
    first = diff(nb)
    again = diff(nb)
    assert again.cells is first.cells  # no second diff of the same pair
    edited = json.loads(nb.read_text())
    edited["cells"][0]["source"] = "# Retitled"
    write(nb, edited)
    third = diff(nb)
    assert third.cells is not first.cells and third.summary.modified == 2


def test_outside_git_without_a_checkpoint_says_what_to_do(project: Path) -> None:
    nb = write(project / "solo.ipynb", notebook(base_cells()))
    with pytest.raises(UserInputError, match="has no checkpoint"):
        diff(nb)
    with pytest.raises(UserInputError, match="not in a git repository"):
        diff(nb, "main")


def test_a_notebook_that_does_not_exist_is_one_clear_line(project: Path, repo: Git) -> None:
    committed(project, repo)
    with pytest.raises(NotFoundError) as caught:  # in git: not in the folder, nor at HEAD
        diff(project / "work" / "missing.ipynb")
    message = str(caught.value)
    assert message.startswith("'missing.ipynb' does not exist (nor in HEAD (")
    assert "\n" not in message
    head = repo("rev-parse", "HEAD").strip()[:10]
    with pytest.raises(NotFoundError) as caught:
        diff(project / "work" / "missing.ipynb", "HEAD", "HEAD")
    assert str(caught.value) == f"'missing.ipynb' does not exist in HEAD ({head})"


def test_outside_git_a_notebook_that_does_not_exist_is_one_clear_line(project: Path) -> None:
    for base in ("HEAD", "CHECKPOINT", "main"):  # said before what the base would need
        with pytest.raises(NotFoundError) as caught:
            diff(project / "missing.ipynb", base)
        message = str(caught.value)
        assert message == ("'missing.ipynb' does not exist: check the notebook's name and "
                           "folder")
