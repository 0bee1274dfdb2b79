"""Any two notebooks compared as files (issue #15 item 1): ``diff_files`` in-process,
``jupyter mlops diff A.ipynb B.ipynb`` as the real CLI, ``%mlops diff A B`` in a real shell,
and ``GET review/diff-files`` through a real Jupyter server with authentication on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from nbdime.diff_utils import to_diffentry_dicts
from nbdime.patching import patch
from tornado.httpclient import HTTPClientError

from jupyter_mlops.errors import NotFoundError, UserInputError
from jupyter_mlops.review import DiffFilters, diff_files
from jupyter_mlops.review.files import files_given
from jupyter_mlops.review.notebook import load_notebook

from . import review_fixtures
from .rest_helpers import api_error, api_get
from .review_fixtures import edited_pair, image_pair, run_git, write
from .shell_fixtures import run, shown

repo = review_fixtures.repo
CLI = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def pair(project: Path) -> tuple[Path, Path]:
    """Two copies of one notebook, the second edited: a cell each added, removed, moved,
    modified (no git anywhere)."""
    base, head = edited_pair()
    return write(project / "a.ipynb", base), write(project / "b.ipynb", head)


# --------------------------------------------------------------------------- the core


def test_two_files_diff_cell_by_cell_with_the_file_names(pair: tuple[Path, Path]) -> None:
    a, b = pair
    result = diff_files(a, b)
    assert result.status == "modified"
    assert (result.summary.added, result.summary.removed, result.summary.modified,
            result.summary.moved, result.summary.unchanged) == (1, 1, 1, 1, 4)
    assert {c.cell_id: c.status for c in result.changed_cells()} == {
        "notes": "moved", "params": "modified", "done": "removed", "report": "added"}
    assert (result.base.rev, result.base.label, result.base.commit) == ("FILE", str(a), None)
    assert (result.head.rev, result.head.label) == ("FILE", str(b))
    assert result.path == str(b)
    body = result.to_dict()
    assert body["base"] == {"rev": "FILE", "commit": None, "label": str(a)}
    assert body["summary"]["outputs_changed"] == 1


def test_the_nbdime_form_patches_the_first_file_into_the_second(
        pair: tuple[Path, Path]) -> None:
    a, b = pair
    result = diff_files(a, b, DiffFilters.everything())
    base = nbformat.reads(a.read_text(), as_version=4)
    patched = patch(base, to_diffentry_dicts(result.to_nbdime()))
    assert json.loads(json.dumps(patched)) == load_notebook(b.read_bytes(), "b")


def test_labels_name_the_files_and_identical_files_are_unchanged(project: Path) -> None:
    base, _head = image_pair()
    one, two = write(project / "x" / "plot.ipynb", base), write(project / "plot.ipynb", base)
    result = diff_files(one, two, labels=("theirs/plot.ipynb", "plot.ipynb"))
    assert result.status == "unchanged" and not result.changed_cells()
    assert (result.base.label, result.head.label, result.path) == (
        "theirs/plot.ipynb", "plot.ipynb", "plot.ipynb")
    assert result.base.blob == result.head.blob


def test_dev_null_is_the_side_of_an_added_or_deleted_notebook(
        pair: tuple[Path, Path]) -> None:
    a, _b = pair
    added = diff_files(os.devnull, a)
    assert added.status == "added" and added.summary.added == 7
    assert added.base.label == os.devnull and added.base.blob is None
    deleted = diff_files(a, os.devnull)
    assert deleted.status == "deleted" and deleted.summary.removed == 7
    with pytest.raises(UserInputError, match="both sides are /dev/null"):
        diff_files(os.devnull, os.devnull)


def test_bad_files_are_one_clear_line_each(project: Path, pair: tuple[Path, Path]) -> None:
    a, _b = pair
    (project / "data.csv").write_text("a,b\n1,2\n")
    (project / "broken.ipynb").write_text('{"cells": [')
    (project / "folder.ipynb").mkdir()
    (project / "list.ipynb").write_text("[1, 2]")
    cases: list[tuple[Path, type[Exception], str]] = [
        (project / "missing.ipynb", NotFoundError,
         f"'{project / 'missing.ipynb'}' does not exist: check the file's name and folder"),
        (project / "data.csv", UserInputError,
         f"'{project / 'data.csv'}' is not a notebook (.ipynb file)"),
        (project / "folder.ipynb", UserInputError,
         f"'{project / 'folder.ipynb'}' is a folder, not a notebook"),
        (project / "list.ipynb", UserInputError,
         f"'{project / 'list.ipynb'}' is JSON but not a notebook (no 'cells' list)"),
    ]
    for path, kind, said in cases:
        with pytest.raises(kind) as caught:
            diff_files(a, path)
        assert str(caught.value) == said
    with pytest.raises(UserInputError) as invalid:
        diff_files(project / "broken.ipynb", a)
    assert str(invalid.value).startswith(f"'{project / 'broken.ipynb'}' is not valid JSON")
    assert "\n" not in str(invalid.value)


def test_mlops_review_diff_files_is_there_after_import_jupyter_mlops(
        pair: tuple[Path, Path], child_env: Callable[..., dict[str, str]]) -> None:
    code = ("import jupyter_mlops as mlops, sys; "
            "d = mlops.review.diff_files('a.ipynb', 'b.ipynb'); "
            "print(d.summary.to_text(), mlops.diff_files is mlops.review.diff_files)")
    done = subprocess.run([sys.executable, "-c", code], cwd=pair[0].parent, env=child_env(),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("1 added, 1 removed, 1 modified, 1 moved, 4 unchanged, "
                                   "outputs changed in 1 True")


def test_which_second_arguments_make_a_files_diff(project: Path) -> None:
    (project / "main").write_text("a file named like a branch")
    (project / "copy.json").write_text("{}")
    assert files_given("a.ipynb", "b.ipynb", project) == (project / "a.ipynb",
                                                           project / "b.ipynb")
    assert files_given("a.ipynb", os.devnull, project) == (project / "a.ipynb",
                                                            Path(os.devnull))
    assert files_given("a.ipynb", "copy.json", project) == (project / "a.ipynb",
                                                             project / "copy.json")
    for revision in ("main", "HEAD~1", "merge-base:main", "v1.0", None):
        assert files_given("a.ipynb", revision, project) is None


# --------------------------------------------------------------------------- CLI and magic


def test_cli_compares_two_files_outside_git(pair: tuple[Path, Path], project: Path,
                                            cli: CLI) -> None:
    done = cli("diff", "a.ipynb", "b.ipynb", cwd=project)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "b.ipynb: a.ipynb → b.ipynb"  # the path is the head
    assert lines[1] == "1 added, 1 removed, 1 modified, 1 moved, 4 unchanged, outputs " \
        "changed in 1"
    assert " - rate = 0.1" in lines and " + rate = 0.05" in lines
    data = json.loads(cli("diff", "a.ipynb", "b.ipynb", "--json", cwd=project).stdout)
    assert data["path"] == "b.ipynb" and data["base"]["label"] == "a.ipynb"
    nbdime_ops = json.loads(cli("diff", "a.ipynb", "b.ipynb", "--nbdime", cwd=project).stdout)
    assert nbdime_ops[0]["key"] == "cells"


def test_cli_files_inside_a_repository_are_files_not_revisions(
        project: Path, repo: Callable[..., str], cli: CLI) -> None:
    base, head = edited_pair()
    write(project / "train.ipynb", base)
    repo("add", ".")
    repo("commit", "-q", "-m", "base")
    write(project / "sub" / "train-ada.ipynb", head)  # untracked: no revision names it
    done = cli("diff", "train.ipynb", "sub/train-ada.ipynb", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["moved"] == 1
    # a revision still is one
    as_rev = cli("diff", "train.ipynb", "HEAD", "--json", cwd=project)
    assert as_rev.returncode == 0, as_rev.stderr
    assert json.loads(as_rev.stdout)["base"]["rev"] == "HEAD"


@pytest.mark.parametrize(("args", "said"), [
    (("a.ipynb", "nope.ipynb"),
     "'nope.ipynb' does not exist: check the file's name and folder"),
    (("nope.ipynb", "b.ipynb"),
     "'nope.ipynb' does not exist: check the file's name and folder"),
    (("a.ipynb", "notes.txt"), "'notes.txt' is not a notebook (.ipynb file)"),
    (("a.ipynb", "b.ipynb", "HEAD"),
     "two files are compared as they are: leave out the revisions (HEAD, --base, --head)"),
    (("a.ipynb", "b.ipynb", "--base", "HEAD"),
     "give the base once: BASE or --base"),
])
def test_cli_bad_files_are_one_line(pair: tuple[Path, Path], project: Path, cli: CLI,
                                    args: tuple[str, ...], said: str) -> None:
    (project / "notes.txt").write_text("not a notebook\n")
    done = cli("diff", *args, cwd=project)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"jupyter mlops: {said}"]


def test_magic_diff_of_two_files_renders_inline(shell: InteractiveShell,
                                                pair: tuple[Path, Path]) -> None:
    result = run(shell, "%mlops diff a.ipynb b.ipynb")
    assert result.result.base.label == "a.ipynb"
    html = shown(shell, result)["text/html"]
    assert "data-mlops-diff" in html and "b.ipynb</b>: a.ipynb → b.ipynb" in html
    for status in ("added", "removed", "moved", "modified"):
        assert f'data-cell-status="{status}"' in html
    with pytest.raises(UsageError, match=r"'gone\.ipynb' does not exist"):
        run(shell, "%mlops diff a.ipynb gone.ipynb")


# --------------------------------------------------------------------------- REST


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


@pytest.fixture
def root(jp_root_dir: Path) -> Path:
    """The server root (a git repository) with two versions of a notebook side by side."""
    run_git(jp_root_dir, "init", "-q")
    base, head = edited_pair()
    write(jp_root_dir / "work" / "train.ipynb", base)
    write(jp_root_dir / "work" / "train-ada.ipynb", head)
    (jp_root_dir / "work" / "data.csv").write_text("a,b\n")
    write(jp_root_dir.parent / "outside.ipynb", base)
    return jp_root_dir


async def test_rest_diff_files_in_the_diffs_shape(jp_fetch: Any, root: Path) -> None:
    body = await api_get(jp_fetch, "review", "diff-files", base="work/train.ipynb",
                         head="work/train-ada.ipynb")
    core = diff_files(root / "work" / "train.ipynb", root / "work" / "train-ada.ipynb",
                      labels=("work/train.ipynb", "work/train-ada.ipynb")).to_dict()
    assert set(body) == set(core) == {"path", "status", "base", "head", "summary", "cells",
                                      "elapsed_ms"}
    assert body["path"] == "work/train-ada.ipynb" and body["status"] == "modified"
    assert body["base"] == {"rev": "FILE", "commit": None, "label": "work/train.ipynb"}
    assert body["head"] == {"rev": "FILE", "commit": None, "label": "work/train-ada.ipynb"}
    assert body["summary"] == core["summary"]
    assert body["cells"] == json.loads(json.dumps(core["cells"]))
    # the filters of review/diff: without outputs, the output-only change is gone
    bare = await api_get(jp_fetch, "review", "diff-files", base="work/train.ipynb",
                         head="work/train-ada.ipynb", outputs="0")
    assert bare["summary"]["outputs_changed"] == 0


async def test_rest_diff_files_bad_requests(jp_fetch: Any, root: Path) -> None:
    outside = str(root.parent / "outside.ipynb")
    cases = [
        ({"base": "../outside.ipynb", "head": "work/train.ipynb"}, 403,
         "'../outside.ipynb' is outside the server root: use a path relative to the folder "
         "JupyterLab serves"),
        ({"base": "work/train.ipynb", "head": outside}, 403,
         f"'{outside}' is outside the server root: use a path relative to the folder "
         "JupyterLab serves"),
        ({"base": "work/train.ipynb", "head": "work/gone.ipynb"}, 404,
         "no such file or folder: 'work/gone.ipynb'"),
        ({"base": "work/data.csv", "head": "work/train.ipynb"}, 400,
         "'work/data.csv' is not a notebook (.ipynb file)"),
        ({"head": "work/train.ipynb"}, 400,
         "name both notebooks: base=A.ipynb&head=B.ipynb (relative to the server root)"),
        ({"base": "work/train.ipynb", "head": "work/train-ada.ipynb", "outputs": "maybe"},
         400, "'outputs' is 1 or 0, not 'maybe'"),
    ]
    for params, code, said in cases:
        assert await api_error(jp_fetch, "review", "diff-files", **params) == (code, said)


async def test_rest_diff_files_needs_a_login(jp_fetch: Any, root: Path) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "api", "review", "diff-files", headers={
            "Authorization": "token not-the-servers"}, params={
            "base": "work/train.ipynb", "head": "work/train-ada.ipynb"})
    assert caught.value.code == 403
