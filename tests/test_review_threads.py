"""Reviews: threads anchored to cells and re-anchored after edits, suggestions applied as cell
edits, verdicts tied to the head commit, and the event files two writers share."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from jupyter_mlops.errors import UserInputError
from jupyter_mlops.review import open_review, reviews_under

from . import review_fixtures
from .conftest import _child_env
from .review_fixtures import base_cells, code, edited_pair, notebook, write

repo = review_fixtures.repo
Git = Callable[..., str]


def committed(project: Path, git: Git) -> Path:
    nb = write(project / "train.ipynb", notebook(base_cells()))
    git("add", ".")
    git("commit", "-q", "-m", "base")
    return nb


def edit(nb: Path, change: Callable[[list[dict[str, object]]], None]) -> None:
    data = json.loads(nb.read_text())
    change(data["cells"])
    write(nb, data)


def event_files(project: Path) -> list[Path]:
    return sorted((project / ".mlops" / "reviews").rglob("*.json"))


def test_a_thread_is_stored_as_files_and_seen_by_a_teammate(project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    edit(nb, lambda cells: cells[2].update(source="rate = 0.05\nepochs = 3\nprint(rate)\n"))
    review = open_review(nb)
    assert review.me == "Ada"  # git's user.name when no server user is given

    thread = review.comment("params", "why 0.05?", line=1)
    assert (thread.cell_id, thread.line, thread.end_line, thread.outdated) == (
        "params", 1, 1, False)
    assert thread.head_index == 2 and thread.comments[0].author == "Ada"
    review.reply(thread.id, "smaller steps converge")
    bob = open_review(nb, author="Bob")
    bob.reply(thread.id, "ok")
    bob.resolve(thread.id)

    files = event_files(project)
    assert len(files) == 4 and all(json.loads(f.read_text())["version"] == 1 for f in files)
    assert len({f.parent for f in files}) == 1  # one folder per notebook
    # a teammate who pulls these files sees the same thread
    repo("add", ".mlops/reviews")
    repo("commit", "-q", "-m", "review")
    again = open_review(nb, author="Carol").threads
    assert len(again) == 1
    assert [(c.author, c.text) for c in again[0].comments] == [
        ("Ada", "why 0.05?"), ("Ada", "smaller steps converge"), ("Bob", "ok")]
    assert again[0].status == "resolved"
    open_review(nb, author="Carol").resolve(thread.id, False)
    assert open_review(nb).threads[0].status == "open"


def test_threads_follow_their_lines_and_go_outdated_when_they_change(project: Path,
                                                                     repo: Git) -> None:
    nb = committed(project, repo)
    review = open_review(nb)
    on_line = review.comment("train", "loss starts at 1?", line=2)
    on_cell = review.comment("train", "document this function")
    on_last = review.comment("train", "return value", line=5)

    # two lines inserted above: the threads move down with their lines
    edit(nb, lambda cells: cells[3].update(
        source="# training\n# (plain python)\n" + str(cells[3]["source"])))
    by_id = {t.id: t for t in review.threads}
    assert (by_id[on_line.id].line, by_id[on_line.id].outdated) == (4, False)
    assert (by_id[on_last.id].line, by_id[on_last.id].outdated) == (7, False)
    assert by_id[on_cell.id].line is None and not by_id[on_cell.id].outdated

    # the commented line itself rewritten: outdated, shown where it was
    edit(nb, lambda cells: cells[3].update(source=str(cells[3]["source"]).replace(
        "loss = 1.0", "loss = 2.0")))
    by_id = {t.id: t for t in review.threads}
    assert by_id[on_line.id].outdated and by_id[on_line.id].line == 4
    assert by_id[on_line.id].head_index == 3
    assert not by_id[on_last.id].outdated

    # the cell moved to the top: its threads go with it
    edit(nb, lambda cells: cells.insert(0, cells.pop(3)))
    assert {t.head_index for t in review.threads} == {0}

    # the cell deleted: every thread outdated, with nowhere to be shown but the list
    edit(nb, lambda cells: cells.pop(0))
    assert all(t.outdated and t.head_index is None for t in review.threads)


def test_threads_on_cells_without_ids_follow_the_source(project: Path, repo: Git) -> None:
    nb = write(project / "old.ipynb", notebook(base_cells(), minor=4))
    repo("add", ".")
    repo("commit", "-q", "-m", "v4.4")
    review = open_review(nb)
    from jupyter_mlops.review.engine import cell_ids

    cells = json.loads(nb.read_text())["cells"]
    target = cell_ids(cells)[3]
    thread = review.comment(target, "why a loop?", line=3)
    edit(nb, lambda cs: cs.insert(0, cs.pop(3)))  # moved, unchanged: found by its source hash
    moved = review.threads[0]
    assert (moved.head_index, moved.line, moved.outdated) == (0, 3, False)
    edit(nb, lambda cs: cs[0].update(source=str(cs[0]["source"]) + "# end\n"))  # edited
    edited = review.threads[0]
    assert edited.id == thread.id and edited.head_index == 0 and edited.line == 3
    assert not edited.outdated  # its lines are as they were


def test_suggestions_apply_as_valid_cell_edits(project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    review = open_review(nb)
    whole = review.suggest("imports", "import math\n", text="json is unused")
    lines = review.suggest("train", "    for _ in range(epochs):  # each epoch\n", line=3)

    applied = review.apply(lines.id)
    assert applied.comments[0].applied
    read = nbformat.read(str(nb), as_version=4)
    nbformat.validate(read)
    assert read.cells[3].source.splitlines()[2] == "    for _ in range(epochs):  # each epoch"
    assert len(read.cells[3].source.splitlines()) == 5
    review.apply(whole.id)
    read = nbformat.read(str(nb), as_version=4)
    assert read.cells[1].source == "import math\n"
    assert [c.id for c in read.cells] == [c["id"] for c in notebook(base_cells())["cells"]]
    with pytest.raises(UserInputError, match="already applied"):
        review.apply(whole.id)


def test_a_suggestion_on_lines_that_changed_is_refused(project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    review = open_review(nb)
    thread = review.suggest("params", "rate = 0.2\n", line=1)
    edit(nb, lambda cells: cells[2].update(source="rate = 0.3\nepochs = 3\n"))
    with pytest.raises(UserInputError, match="changed since"):
        review.apply(thread.id)


def test_verdicts_are_tied_to_the_head_commit(project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    first = repo("rev-parse", "HEAD").strip()
    bob = open_review(nb, "HEAD~0", "HEAD", author="Bob")
    summary = bob.approve("looks good")
    assert summary["state"] == "approved" and summary["head_commit"] == first
    assert summary["reviewers"] == [{"user": "Bob", "state": "approved", "commit": first,
                                     "at": summary["reviewers"][0]["at"]}]
    assert bob.changes_since_my_review() is not None
    assert not bob.changes_since_my_review().summary.changed  # type: ignore[union-attr]

    edit(nb, lambda cells: cells.append(code("extra = 1", id="extra")))
    repo("commit", "-q", "-am", "more")
    # a new head commit: Bob's approval was of the old one
    assert open_review(nb, "HEAD~0", "HEAD", author="Bob").state == "open"
    since = open_review(nb, "HEAD~0", "HEAD", author="Bob").changes_since_my_review()
    assert since is not None and since.base.commit == first
    assert [c.cell_id for c in since.changed_cells()] == ["extra"]

    carol = open_review(nb, "HEAD~0", "HEAD", author="Carol")
    assert carol.request_changes("name it better")["state"] == "changes_requested"
    carol.approve()
    assert carol.state == "approved"
    with pytest.raises(UserInputError, match="needs some text"):
        carol.request_changes("  ")


def test_bad_anchors_are_refused(project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    review = open_review(nb)
    with pytest.raises(UserInputError, match="no cell 'nope'"):
        review.comment("nope", "hm")
    with pytest.raises(UserInputError, match=r"lines 9-9 are not in cell 'params' \(it has 3"):
        review.comment("params", "hm", line=9)
    with pytest.raises(UserInputError, match="has no output 3"):
        review.comment("params", "hm", output=3)
    assert event_files(project) == []


def test_reviews_under_a_folder(project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    other = write(project / "sub" / "eval.ipynb", edited_pair()[0])
    open_review(nb).comment("params", "a")
    open_review(other).comment("params", "b")
    assert sorted(r.relpath for r in reviews_under(project)) == ["sub/eval.ipynb",
                                                                 "train.ipynb"]
    assert [r.relpath for r in reviews_under(project / "sub")] == ["sub/eval.ipynb"]


def test_threads_follow_a_renamed_or_moved_notebook(project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    review = open_review(nb)
    thread = review.comment("params", "why 0.05?", line=1)
    review.reply(thread.id, "smaller steps converge")
    kept = {f: f.read_bytes() for f in event_files(project)}

    # renamed in JupyterLab's file browser: a plain rename, nothing staged; listed once, under
    # its new name, before anyone comments there
    moved = nb.rename(project / "baseline.ipynb")
    assert [r.relpath for r in reviews_under(project)] == ["baseline.ipynb"]
    renamed = open_review(moved, author="Bob")
    (found,) = renamed.threads
    assert (found.id, found.cell_id, found.line, found.outdated) == (thread.id, "params", 1,
                                                                     False)
    assert [c.text for c in found.comments] == ["why 0.05?", "smaller steps converge"]
    renamed.reply(thread.id, "ok")
    renamed.resolve(thread.id)
    assert open_review(moved).thread(thread.id).status == "resolved"
    # no event file was moved or rewritten: Bob's went under the new name
    assert set(kept) < set(event_files(project))
    assert all(f.read_bytes() == data for f, data in kept.items())
    assert [r.relpath for r in reviews_under(project)] == ["baseline.ipynb"]

    # moved into a folder with git and committed: followed again
    (project / "exp").mkdir()
    repo("add", "-A")
    repo("mv", "baseline.ipynb", "exp/baseline.ipynb")
    repo("commit", "-q", "-m", "move")
    again = open_review(project / "exp" / "baseline.ipynb")
    assert again.thread(thread.id).status == "resolved"
    assert len(again.thread(thread.id).comments) == 3
    again.comment("params", "and the epochs?", line=2)
    assert [r.relpath for r in reviews_under(project)] == ["exp/baseline.ipynb"]

    # a copy made while the notebook is there does not take its threads
    copy = project / "exp" / "copy.ipynb"
    copy.write_bytes((project / "exp" / "baseline.ipynb").read_bytes())
    assert open_review(copy).threads == []


def test_deleted_lines_and_a_removed_cell_take_comments_on_the_base_side(
        project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    # the working copy drops the 'epochs' line of params and the whole 'done' cell
    edit(nb, lambda cells: (cells[2].update(source="rate = 0.1\nprint(rate * 3)\n"),
                            cells.pop(6)))
    review = open_review(nb)

    dropped = review.comment("params", "why inline the 3?", line=2, side="base")
    assert (dropped.side, dropped.cell_id, dropped.line, dropped.outdated) == (
        "base", "params", 2, False)
    gone = review.comment("done", "keep a last message?", side="base")
    assert (gone.side, gone.cell_id, gone.line, gone.head_index) == ("base", "done", None, None)
    # numbered as in the base: line 3 exists there and not in the head
    assert review.comment("params", "this print changed", line=3, side="base").line == 3

    again = {t.id: t for t in open_review(nb, author="Bob").threads}
    assert again[dropped.id].side == "base" and again[dropped.id].line == 2
    assert again[gone.id].cell_id == "done" and not again[gone.id].outdated
    assert json.loads(json.dumps(again[gone.id].to_dict()))["side"] == "base"

    with pytest.raises(UserInputError, match="comment on the base side without one"):
        review.comment("params", "x", line=2, side="base", suggestion="epochs = 3\n")
    with pytest.raises(UserInputError, match="base revision"):
        review.comment("report", "not in the base", side="base")
    with pytest.raises(UserInputError, match="lines 9-9 are not in cell 'params'"):
        review.comment("params", "x", line=9, side="base")
    with pytest.raises(UserInputError, match="side is 'head' or 'base'"):
        review.comment("params", "x", side="left")

    # compared with another base, the lines are found again there (committed, the deletion is
    # the base itself, and the thread stays on the lines it was written on)
    repo("commit", "-q", "-am", "drop epochs")
    later = {t.id: t for t in open_review(nb, "HEAD~1", "HEAD").threads}
    assert later[dropped.id].line == 2 and not later[dropped.id].outdated


WRITER = textwrap.dedent("""
    import sys
    from jupyter_mlops.review import open_review
    review = open_review(sys.argv[1], author=sys.argv[2])
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.readline()  # both start writing together
    for n in range(100):
        review.store.write({"kind": "comment", "author": sys.argv[2], "text": f"c{n}",
                            "anchor": {"cell_id": "params", "source_hash": "", "source": "",
                                       "line": None, "end_line": None, "output": None,
                                       "cell_index": 2, "cell_type": "code"},
                            "notebook": review.relpath, "head_commit": None})
""")


def test_two_reviewers_writing_100_comments_each_at_once(project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(nb), who], cwd=project,
                              env=_child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) for who in ("Ada", "Bob")]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        assert proc.wait(timeout=120) == 0

    files = event_files(project)
    assert len(files) == 200
    events = [json.loads(f.read_text()) for f in files]  # every file is whole, valid JSON
    assert sorted(e["text"] for e in events if e["author"] == "Ada") == sorted(
        f"c{n}" for n in range(100))
    assert len([e for e in events if e["author"] == "Bob"]) == 100
    assert not list((project / ".mlops" / "reviews").rglob(".*.tmp"))
    threads = open_review(nb).threads
    assert len(threads) == 200


def test_status_counts_reviews_and_open_threads(project: Path, repo: Git) -> None:
    from jupyter_mlops.status import collect_status

    nb = committed(project, repo)
    review = open_review(nb)
    review.comment("params", "one")
    done = review.comment("train", "two")
    review.resolve(done.id)
    cap = next(c for c in collect_status(project, {}).capabilities if c.id == "review")
    store = next(c for c in cap.checks if c.name == "review store")
    assert store.ok and store.message.endswith("; 1 review, 1 open thread")


def test_reviews_are_committable_and_the_rest_of_mlops_is_not(project: Path,
                                                              repo: Git) -> None:
    nb = committed(project, repo)
    open_review(nb).comment("params", "shared through git")
    (project / ".mlops" / "mlflow.db").write_bytes(b"local")
    status = repo("status", "--porcelain", "--untracked-files=all")
    untracked = sorted(line[3:] for line in status.splitlines() if line.startswith("??"))
    assert untracked[0] == ".mlops/.gitignore"
    assert len(untracked) == 2 and untracked[1].startswith(".mlops/reviews/train-")
    assert ".mlops/mlflow.db" not in status


def test_a_reply_stamped_before_its_thread_still_belongs_to_it(project: Path,
                                                              repo: Git) -> None:
    """A teammate's clock runs behind: their reply's time is earlier than the comment's."""
    nb = committed(project, repo)
    review = open_review(nb)
    thread = review.comment("params", "first")
    review.store.write({"kind": "reply", "thread": thread.id, "author": "Bob",
                        "text": "behind", "at": "2000-01-01T00:00:00.000000Z"})
    assert [c.text for c in review.threads[0].comments] == ["first", "behind"]


def test_a_remote_review_path_is_refused(project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    (project / "mlops.toml").write_text('[review]\npath = "s3://bucket/reviews"\n')
    with pytest.raises(UserInputError, match="set it to a local folder"):
        open_review(nb)


def test_a_commenters_state_follows_their_latest_comment(project: Path, repo: Git) -> None:
    nb = committed(project, repo)
    review = open_review(nb, "HEAD~0", "HEAD", author="Dan")
    review.comment("params", "first look")
    edit(nb, lambda cells: cells.append(code("later = 1", id="later")))
    repo("commit", "-q", "-am", "more")
    second = repo("rev-parse", "HEAD").strip()
    open_review(nb, "HEAD~0", "HEAD", author="Dan").comment("later", "and this?")
    (dan,) = open_review(nb, "HEAD~0", "HEAD").reviewers()
    assert (dan.user, dan.state, dan.commit) == ("Dan", "commented", second)
