"""``%mlops diff`` in a real IPython shell (rich inline diff) and ``jupyter mlops diff`` /
``jupyter mlops review …`` as the real CLI in a subprocess (coloured only on a terminal)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from jupyter_mlops.review import diff

from . import review_fixtures
from .conftest import _child_env
from .review_fixtures import edited_pair, image_pair, write
from .shell_fixtures import run, shown

repo = review_fixtures.repo
Git = Callable[..., str]
CLI = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def changed(project: Path, repo: Git) -> Path:
    """train.ipynb committed, then edited: one cell each added, removed, moved, modified."""
    base, head = edited_pair()
    nb = write(project / "train.ipynb", base)
    repo("add", ".")
    repo("commit", "-q", "-m", "base")
    write(nb, head)
    return nb


# --------------------------------------------------------------------------- the magic


def test_magic_diff_renders_the_changed_cells_inline(shell: InteractiveShell,
                                                     changed: Path) -> None:
    bundle = shown(shell, run(shell, "%mlops diff train.ipynb"))
    html = bundle["text/html"]
    assert "data-mlops-diff" in html
    assert html.count('data-cell-status="') == 4  # unchanged cells are left out
    for status in ("added", "removed", "moved", "modified"):
        assert f'data-cell-status="{status}"' in html
    assert "working copy" in html and "HEAD (" in html
    # the edited line, with only its changed characters marked
    assert 'data-op="replace"' in html and "rate = 0." in html
    assert "rgba(46, 160, 67, 0.4)" in html
    # the changed output side by side with the old one
    assert "<tr data-outputs>" in html and "0.30000000000000004" in html
    assert "0.15000000000000002" in html
    assert "1 added, 1 removed, 1 modified, 1 moved, 4 unchanged" in bundle["text/plain"]


def test_magic_diff_shows_changed_images_side_by_side(shell: InteractiveShell, project: Path,
                                                      repo: Git) -> None:
    base, head = image_pair()
    nb = write(project / "plot.ipynb", base)
    repo("add", ".")
    repo("commit", "-q", "-m", "plot")
    write(nb, head)
    html = shown(shell, run(shell, "%mlops diff plot.ipynb"))["text/html"]
    images = [head["cells"][-1]["outputs"][0]["data"]["image/png"],
              base["cells"][-1]["outputs"][0]["data"]["image/png"]]
    for b64 in images:
        assert f'src="data:image/png;base64,{b64.strip()}"' in html


def test_magic_diff_defaults_to_the_kernels_notebook_and_takes_revisions(
        shell: InteractiveShell, changed: Path, repo: Git, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JPY_SESSION_NAME", str(changed))
    repo("commit", "-q", "-am", "edited")
    assert "No changes." in shown(shell, run(shell, "%mlops diff"))["text/html"]
    result = run(shell, "%mlops diff --base HEAD~1 --head HEAD")
    assert result.result.summary.moved == 1
    with pytest.raises(UsageError, match="unknown git revision 'nope'"):
        run(shell, "%mlops diff --base nope")
    data = run(shell, "%mlops diff --base HEAD~1 --json")
    assert data["summary"]["added"] == 1


def test_diff_of_a_notebook_that_does_not_exist_says_so_in_one_line(
        shell: InteractiveShell, project: Path, cli: CLI) -> None:
    said = "'missing.ipynb' does not exist: check the notebook's name and folder"
    with pytest.raises(UsageError) as caught:
        run(shell, "%mlops diff missing.ipynb")
    assert str(caught.value) == said
    done = cli("diff", "missing.ipynb", cwd=project)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"jupyter mlops: {said}"]


def test_diff_of_a_notebook_git_never_had_says_so_in_one_line(
        shell: InteractiveShell, project: Path, changed: Path, cli: CLI) -> None:
    with pytest.raises(UsageError) as caught:
        run(shell, "%mlops diff missing.ipynb")
    assert str(caught.value).startswith("'missing.ipynb' does not exist (nor in HEAD (")
    done = cli("diff", "missing.ipynb", cwd=project)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "jupyter mlops: 'missing.ipynb' does not exist (nor in HEAD (")


# --------------------------------------------------------------------------- the CLI


def test_cli_diff_is_plain_when_piped(project: Path, changed: Path, cli: CLI) -> None:
    done = cli("diff", "train.ipynb", cwd=project)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "\x1b[" not in out
    assert out.splitlines()[0].startswith("train.ipynb: HEAD (")
    assert " - rate = 0.1" in out and " + rate = 0.05" in out
    assert "@@ cell moved 5 → 1: markdown [notes]\n   ## Notes\n   Nothing yet." in out
    assert "@@ cell 6 removed: code [done]" in out


def test_cli_diff_is_coloured_on_a_terminal(project: Path, changed: Path) -> None:
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "jupyter_mlops.cli", "diff", "train.ipynb"],
                            cwd=project, env=_child_env(), stdout=follower,
                            stderr=subprocess.PIPE)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=60) == 0
    os.close(leader)
    out = b"".join(chunks).decode()
    assert "\x1b[31m - rate = 0." in out and "\x1b[32m + rate = 0." in out
    assert "\x1b[1m" in out  # the changed characters in bold
    no_color = subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", "diff",
                               "train.ipynb", "--no-color"], cwd=project, env=_child_env(),
                              capture_output=True, text=True, timeout=60, check=False)
    assert "\x1b[" not in no_color.stdout


def test_cli_diff_json_is_the_cores_diff(project: Path, changed: Path, cli: CLI) -> None:
    done = cli("diff", "train.ipynb", "HEAD", "WORKING", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    expected = diff(changed).to_dict()
    printed.pop("elapsed_ms"), expected.pop("elapsed_ms")
    assert printed == {**expected, "path": "train.ipynb"}
    nbdime_format = json.loads(cli("diff", "train.ipynb", "--nbdime", cwd=project).stdout)
    assert nbdime_format[0]["key"] == "cells"


def test_cli_bad_revision_is_one_line_on_stderr(project: Path, changed: Path,
                                                cli: CLI) -> None:
    done = cli("diff", "train.ipynb", "nope", cwd=project)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "jupyter mlops: unknown git revision 'nope': use a branch, tag or commit "
        "('git log --oneline' lists them)"]


def test_cli_review_comment_approve_show_and_list(project: Path, changed: Path,
                                                  cli: CLI) -> None:
    done = cli("review", "show", "train.ipynb", "--check", cwd=project)
    assert done.returncode == 1 and "train.ipynb: open" in done.stdout

    done = cli("review", "comment", "train.ipynb", "params", "why 0.05?", "--line", "1",
               "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    thread_id = json.loads(done.stdout)["id"]
    done = cli("review", "reply", "train.ipynb", thread_id, "faster", "--author", "Bob",
               cwd=project)
    assert f"[{thread_id}] cell params line 1 (open)" in done.stdout
    assert "Ada: why 0.05?" in done.stdout and "Bob: faster" in done.stdout
    done = cli("review", "resolve", "train.ipynb", thread_id, cwd=project)
    assert f"[{thread_id}] cell params line 1 (resolved)" in done.stdout
    done = cli("review", "request-changes", "train.ipynb", "explain the rate",
               "--author", "Bob", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "train.ipynb: changes_requested" in done.stdout
    done = cli("review", "approve", "train.ipynb", "--author", "Bob", cwd=project)
    assert "Bob: approved @ " in done.stdout

    shown_json = json.loads(cli("review", "show", "train.ipynb", "--json", cwd=project).stdout)
    assert shown_json["state"] == "approved"
    assert [r["user"] for r in shown_json["reviewers"]] == ["Ada", "Bob"]
    assert shown_json["threads"][0]["comments"][0]["text"] == "why 0.05?"
    assert cli("review", "show", "train.ipynb", "--check", cwd=project).returncode == 0

    listed = cli("review", "list", cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert "modified   train.ipynb" in listed.stdout
    assert "train.ipynb: approved" in listed.stdout

    done = cli("review", "comment", "train.ipynb", "nope", "x", cwd=project)
    assert done.returncode == 1 and "no cell 'nope'" in done.stderr
    # the removed cell 'done' takes a comment on the base side
    done = cli("review", "comment", "train.ipynb", "done", "keep it?", "--side", "base",
               cwd=project)
    assert done.returncode == 0, done.stderr
    assert "cell done (base) (open)" in done.stdout


def test_magic_review_and_the_python_api(shell: InteractiveShell, changed: Path) -> None:
    import jupyter_mlops as mlops

    assert mlops.diff("train.ipynb").summary.moved == 1
    thread = mlops.open_review("train.ipynb").comment("params", "why?", line=1)
    shown_text = repr(run(shell, "%mlops review show train.ipynb"))
    assert shown_text.startswith("train.ipynb: open (HEAD → WORKING @ ")
    assert f"[{thread.id}] cell params line 1 (open)" in shown_text
    approved = repr(run(shell, "%mlops review approve train.ipynb --author Bob"))
    assert approved.startswith("train.ipynb: approved") and "Bob: approved @ " in approved
    with pytest.raises(UsageError, match="the comment needs some text"):
        run(shell, "%mlops review comment train.ipynb params ' '")
