"""Hardening of notebook review (issue #16, items 3 and 4): a review file a hostile or broken
repository carries is skipped and named, never taking the other reviews down; applying a
suggestion is safe against a second click, a second process and a failed write.

Real git repositories, real child processes, and a real Jupyter server (pytest-jupyter,
unauthenticated access off) for the REST side."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlops.errors import UserInputError
from jupyter_mlops.review import open_review, reviews_under
from jupyter_mlops.review.diffs import clear_cache
from jupyter_mlops.review.store import EventStore

from . import review_fixtures
from .conftest import _child_env
from .rest_helpers import api_error, api_get
from .review_fixtures import base_cells, notebook, run_git, write

repo = review_fixtures.repo
Git = Callable[..., str]
Event = dict[str, Any]


def committed(project: Path, git: Git, name: str = "train.ipynb") -> Path:
    nb = write(project / name, notebook(base_cells()))
    git("add", ".")
    git("commit", "-q", "-m", f"add {name}")
    return nb


def plant(folder: Path, name: str, data: bytes) -> Path:
    """A file someone committed into a review folder (sorted after the real events)."""
    path = folder / f"29991231T235959999999Z-{name}.json"
    path.write_bytes(data)
    return path


def dumped(event: Event) -> bytes:
    return json.dumps(event).encode()


# --------------------------------------------------------------------------- item 3: core


def _reply(thread: str) -> Event:
    return {"version": 1, "kind": "reply", "id": "bad0reply", "at": "2999-12-31T00:00:00Z",
            "author": "Mallory", "thread": thread, "text": "hi", "notebook": "train.ipynb",
            "base": "HEAD", "head": "WORKING", "head_commit": None}


def _comment() -> Event:
    return {"version": 1, "kind": "comment", "id": "bad0comment",
            "at": "2999-12-31T00:00:00Z", "author": "Mallory", "text": "look",
            "suggestion": None, "notebook": "train.ipynb", "base": "HEAD", "head": "WORKING",
            "head_commit": None,
            "anchor": {"cell_id": "params", "cell_index": 2, "cell_type": "code",
                       "source_hash": "x", "source": "rate = 0.1\n", "line": 1,
                       "end_line": 1, "output": None}}


def _anchored(**anchor: Any) -> bytes:
    event = _comment()
    event["anchor"].update(anchor)
    return dumped(event)


#: (case, the bytes of the planted file; "THREAD" stands for a real thread's id)
BAD_FILES: list[tuple[str, Callable[[str], bytes]]] = [
    ("follows-an-int", lambda t: dumped({**_reply(t), "follows": 5})),
    ("follows-a-list-of-ints", lambda t: dumped({**_reply(t), "follows": [1, 2]})),
    ("thread-a-list", lambda t: dumped({**_reply(t), "thread": [t]})),
    ("thread-missing", lambda t: dumped({k: v for k, v in _reply(t).items() if k != "thread"})),
    ("text-an-int", lambda t: dumped({**_reply(t), "text": 5})),
    ("author-an-object", lambda t: dumped({**_reply(t), "author": {"name": "x"}})),
    ("at-an-int", lambda t: dumped({**_reply(t), "at": 5})),
    ("id-a-path", lambda t: dumped({**_reply(t), "id": "../../etc"})),
    ("head-commit-an-int", lambda t: dumped({**_reply(t), "head_commit": 7})),
    ("head-a-list", lambda t: dumped({**_reply(t), "head": ["main"]})),
    ("head-with-a-nul", lambda t: dumped({**_reply(t), "head": "main\x00"})),
    ("notebook-with-a-nul", lambda t: dumped({**_reply(t), "notebook": "train\x00.ipynb"})),
    ("follows-with-a-nul", lambda t: dumped({**_reply(t), "follows": ["a\x00"]})),
    ("newer-format", lambda t: dumped({**_reply(t), "version": 2})),
    ("version-a-bool", lambda t: dumped({**_reply(t), "version": True})),
    ("unknown-kind", lambda t: dumped({**_reply(t), "kind": "merge"})),
    ("apply-comment-an-int", lambda t: dumped({**_reply(t), "kind": "apply", "comment": 3})),
    ("resolve-thread-null", lambda t: dumped({**_reply(t), "kind": "resolve", "thread": None})),
    ("anchor-a-string", lambda t: dumped({**_comment(), "anchor": "cell 1"})),
    ("anchor-line-a-string", lambda t: _anchored(line="3")),
    ("anchor-line-zero", lambda t: _anchored(line=0, end_line=0)),
    ("anchor-end-before-line", lambda t: _anchored(line=3, end_line=1)),
    ("anchor-output-negative", lambda t: _anchored(output=-1)),
    ("anchor-cell-id-a-list", lambda t: _anchored(cell_id=["params"])),
    ("anchor-side-left", lambda t: _anchored(side="left")),
    ("suggestion-a-list", lambda t: dumped({**_comment(), "suggestion": ["x"]})),
    ("verdict-text-an-int", lambda t: dumped({**_reply(t), "kind": "approve", "text": 1})),
    ("not-json", lambda t: b"{<<<<<<< HEAD\n"),
    ("not-utf8", lambda t: b'{"kind": "reply", "text": "\xff\xfe"}'),
    ("a-list", lambda t: b"[1, 2]"),
    ("deeply-nested", lambda t: b"[" * 200_000 + b"]" * 200_000),
    ("huge", lambda t: dumped({**_reply(t), "text": "x" * (9 << 20)})),
]


@pytest.mark.parametrize(("case", "content"), BAD_FILES, ids=[c for c, _ in BAD_FILES])
def test_a_bad_event_file_is_skipped_and_named(project: Path, repo: Git, case: str,
                                               content: Callable[[str], bytes]) -> None:
    nb = committed(project, repo)
    review = open_review(nb)
    thread = review.comment("params", "why 0.1?", line=1)
    bad = plant(review.store.folder, case, content(thread.id))

    again = open_review(nb)
    summary = again.summary(with_threads=True)
    assert [t["id"] for t in summary["threads"]] == [thread.id]
    assert summary["threads"][0]["comments"] == [thread.comments[0].to_dict()]
    assert [e["id"] for e in EventStore(review.store.folder).read()] == [thread.id]
    assert [r.path for r in reviews_under(project)] == ["train.ipynb"]
    loaded = EventStore(review.store.folder).load()  # and the bad file is named
    assert [e["id"] for e in loaded.events] == [thread.id]
    assert loaded.unreadable == [bad]
    assert again.unreadable() == [bad]


def test_links_and_devices_in_the_review_folder_are_not_followed(project: Path,
                                                                 repo: Git) -> None:
    """A committed symlink to a file elsewhere (or a FIFO) is not read as an event."""
    nb = committed(project, repo)
    review = open_review(nb)
    thread = review.comment("params", "why 0.1?")
    outside = project.parent / "secret.json"
    outside.write_bytes(dumped(_reply(thread.id)))
    link = review.store.folder / "29991231T000000000000Z-link.json"
    link.symlink_to(outside)
    assert [e["id"] for e in EventStore(review.store.folder).read()] == [thread.id]
    fifo = review.store.folder / "29991231T000000000001Z-fifo.json"
    os.mkfifo(fifo)
    loaded = EventStore(review.store.folder).load()
    assert [e["id"] for e in loaded.events] == [thread.id]
    assert sorted(loaded.unreadable) == [link, fifo]


def test_a_bad_file_in_one_review_leaves_the_others_whole(project: Path, repo: Git) -> None:
    train = committed(project, repo)
    other = committed(project, repo, "other.ipynb")
    kept = open_review(train).comment("params", "fine")
    broken = open_review(other)
    target = broken.comment("params", "soon broken")
    bad = plant(broken.store.folder, "follows", dumped({**_reply(target.id), "follows": 5}))
    listed = {r.path: r.summary() for r in reviews_under(project)}
    assert set(listed) == {"train.ipynb", "other.ipynb"}
    assert listed["train.ipynb"]["threads"] == 1 and listed["other.ipynb"]["threads"] == 1
    assert [t.id for t in open_review(train).threads] == [kept.id]
    assert open_review(other).unreadable() == [bad]


def test_a_review_whose_head_branch_is_gone_fails_alone(project: Path, repo: Git) -> None:
    train = committed(project, repo)
    gone = committed(project, repo, "gone.ipynb")
    open_review(train).comment("params", "fine")
    repo("branch", "feature")
    open_review(gone, "main", "feature").comment("params", "on the branch")
    repo("branch", "-D", "feature")

    listed = {r.path: r.list_entry() for r in reviews_under(project)}
    assert "error" not in listed["train.ipynb"] and listed["train.ipynb"]["threads"] == 1
    assert "unknown git revision 'feature'" in listed["gone.ipynb"]["error"]
    assert listed["gone.ipynb"]["head"] == "feature" and listed["gone.ipynb"]["threads"] == 1


def test_status_reports_an_unreadable_event_once(project: Path, repo: Git) -> None:
    from jupyter_mlops.status import collect_status

    nb = committed(project, repo)
    review = open_review(nb)
    thread = review.comment("params", "one")
    bad = plant(review.store.folder, "thread", dumped({**_reply(thread.id), "thread": [1]}))
    cap = next(c for c in collect_status(project, {}).capabilities if c.id == "review")
    store = next(c for c in cap.checks if c.name == "review store")
    relative = bad.relative_to(project).as_posix()
    assert store.level == "warning"
    assert store.message.endswith(f"; 1 review, 1 open thread; 1 review event unreadable: "
                                  f"{relative}")
    assert store.message.count(relative) == 1


# --------------------------------------------------------------------------- item 3: REST


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


@pytest.fixture
def root(jp_root_dir: Path) -> Path:
    """The server root as a git repository with three committed notebooks."""
    clear_cache()
    run_git(jp_root_dir, "init", "-q")
    run_git(jp_root_dir, "config", "user.name", "Ada")
    for name in ("train", "other", "gone"):
        write(jp_root_dir / "work" / f"{name}.ipynb", notebook(base_cells()))
    run_git(jp_root_dir, "add", ".")
    run_git(jp_root_dir, "commit", "-q", "-m", "base")
    return jp_root_dir


async def _post(jp_fetch: Any, *parts: str, body: dict[str, Any]) -> Any:
    response = await jp_fetch("mlops", "api", *parts, method="POST", body=json.dumps(body))
    assert response.code in (200, 201)
    return json.loads(response.body.decode())


async def test_rest_lists_every_review_despite_bad_files(jp_fetch: Any, root: Path) -> None:
    threads = {}
    for name in ("train", "other"):
        threads[name] = (await _post(jp_fetch, "review", "comments", body={
            "path": f"work/{name}.ipynb", "cell_id": "params", "text": f"on {name}"}))["thread"]
    run_git(root, "branch", "feature")
    await _post(jp_fetch, "review", "comments", body={
        "path": "work/gone.ipynb", "base": "main", "head": "feature", "cell_id": "params",
        "text": "on the branch"})
    run_git(root, "branch", "-D", "feature")
    folders = {p.name.rsplit("-", 1)[0]: p for p in (root / ".mlops" / "reviews").iterdir()}
    bad = [plant(folders["work_train"], "follows",
                 dumped({**_reply(threads["train"]["id"]), "follows": 5})),
           plant(folders["work_other"], "thread",
                 dumped({**_reply(threads["other"]["id"]), "thread": ["x"]})),
           plant(folders["work_other"], "conflict", b"<<<<<<< HEAD\n")]
    relative = sorted(p.relative_to(root).as_posix() for p in bad)

    body = await api_get(jp_fetch, "review", "changes", path="work")
    listed = {r["path"]: r for r in body["reviews"]}
    assert set(listed) == {"work/train.ipynb", "work/other.ipynb", "work/gone.ipynb"}
    assert listed["work/train.ipynb"]["threads"] == 1
    assert listed["work/other.ipynb"]["open_threads"] == 1
    assert "error" not in listed["work/train.ipynb"]
    assert "unknown git revision 'feature'" in listed["work/gone.ipynb"]["error"]
    assert body["unreadable"] == relative

    review = (await api_get(jp_fetch, "review", path="work/train.ipynb"))["review"]
    assert [t["id"] for t in review["threads"]] == [threads["train"]["id"]]
    assert review["unreadable"] == [relative[-1]]
    other = (await api_get(jp_fetch, "review", path="work/other.ipynb"))["review"]
    assert other["thread_count"] == 1 and other["unreadable"] == relative[:2]
    code, message = await api_error(jp_fetch, "review", path="work/gone.ipynb", base="main",
                                    head="feature")
    assert code == 400 and "unknown git revision 'feature'" in message


# --------------------------------------------------------------------------- item 4


#: A child process that applies one suggestion; it waits (at most two seconds) for the other
#: child to be about to write too, so without a lock both read the same notebook.
APPLIER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import nbformat
    from jupyter_mlops.review import open_review

    notebook, thread, me, other = sys.argv[1:5]
    real = nbformat.writes

    def writes(nb, *args, **kwargs):
        Path(me).touch()
        deadline = time.monotonic() + 2
        while not Path(other).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return real(nb, *args, **kwargs)

    nbformat.writes = writes
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.readline()
    open_review(notebook).apply(thread)
""")


def test_two_processes_applying_two_suggestions_at_once_both_land(project: Path,
                                                                  repo: Git) -> None:
    nb = committed(project, repo)
    review = open_review(nb)
    first = review.suggest("imports", "import math\n", text="json is unused")
    second = review.suggest("params", "rate = 0.2\n", line=1)
    nb.chmod(0o640)
    marks = [project.parent / "mark-a", project.parent / "mark-b"]
    procs = [subprocess.Popen([sys.executable, "-c", APPLIER, str(nb), thread.id,
                               str(marks[n]), str(marks[1 - n])], cwd=project,
                              env=_child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for n, thread in enumerate((first, second))]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err

    read = nbformat.read(str(nb), as_version=4)
    nbformat.validate(read)
    assert read.cells[1].source == "import math\n"
    assert read.cells[2].source.splitlines()[0] == "rate = 0.2"
    assert all(t.comments[0].applied for t in open_review(nb).threads)
    assert not [p for p in project.iterdir() if p.name.startswith(".train.ipynb")]
    assert nb.stat().st_mode & 0o777 == 0o640  # the notebook keeps its permissions


def test_the_same_suggestion_applied_twice_at_once_lands_once(
        project: Path, repo: Git, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = committed(project, repo)
    thread = open_review(nb).suggest("train", "    for _ in range(epochs):  # each\n", line=3)
    reviews = [open_review(nb, author="Ada"), open_review(nb, author="Bob")]
    meet = threading.Barrier(2, timeout=2)
    real = nbformat.writes

    def writes(nb_: Any, *args: Any, **kwargs: Any) -> str:
        with contextlib.suppress(threading.BrokenBarrierError):
            meet.wait()  # both about to write, unless a lock keeps the second out
        return str(real(nb_, *args, **kwargs))

    monkeypatch.setattr(nbformat, "writes", writes)
    outcomes: list[str] = []

    def click(review: Any) -> None:
        try:
            review.apply(thread.id)
            outcomes.append("applied")
        except UserInputError as exc:
            outcomes.append(str(exc))

    clicks = [threading.Thread(target=click, args=(r,)) for r in reviews]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join(timeout=60)
    assert sorted(outcomes) == ["applied", "that suggestion is already applied"]
    applies = [e for e in open_review(nb).events() if e["kind"] == "apply"]
    assert len(applies) == 1
    read = nbformat.read(str(nb), as_version=4)
    assert read.cells[3].source.splitlines()[2] == "    for _ in range(epochs):  # each"
    assert len(read.cells[3].source.splitlines()) == 5


#: A child process whose writes stop at 200 bytes (a full disk, a quota): the new notebook
#: cannot be written.
FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    from jupyter_mlops.errors import MLOpsError
    from jupyter_mlops.review import open_review

    review = open_review(sys.argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))
    try:
        review.apply(sys.argv[2])
    except MLOpsError as exc:
        sys.stdout.write(str(exc))
        sys.exit(3)
""")


def test_a_failed_write_leaves_the_notebook_and_its_folder_as_they_were(project: Path,
                                                                        repo: Git) -> None:
    nb = committed(project, repo)
    thread = open_review(nb).suggest("params", "rate = 0.2\n", line=1)
    before = nb.read_bytes()
    listing = sorted(p.name for p in project.iterdir())
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(nb), thread.id], cwd=project,
                          env=_child_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "train.ipynb" in done.stdout and "\n" not in done.stdout.strip()
    assert nb.read_bytes() == before
    assert sorted(p.name for p in project.iterdir()) == listing  # no half-written file left
    assert not any(e["kind"] == "apply" for e in open_review(nb).events())
    applied = open_review(nb).apply(thread.id)  # and it can be applied afterwards
    assert applied.comments[0].applied


async def test_rest_second_apply_of_a_suggestion_is_409(jp_fetch: Any, root: Path) -> None:
    nb = "work/train.ipynb"
    thread = (await _post(jp_fetch, "review", "comments", body={
        "path": nb, "cell_id": "params", "text": "", "line": 2,
        "suggestion": "epochs = 5\n"}))["thread"]
    comment_id = thread["comments"][0]["id"]
    applied = (await _post(jp_fetch, "review", "threads", thread["id"], "apply",
                           body={"path": nb, "comment_id": comment_id}))["thread"]
    assert applied["comments"][0]["applied"] is True
    after = (root / nb).read_bytes()
    with pytest.raises(HTTPClientError) as again:
        await jp_fetch("mlops", "api", "review", "threads", thread["id"], "apply",
                       method="POST", body=json.dumps({"path": nb, "comment_id": comment_id}))
    assert again.value.code == 409 and again.value.response is not None
    assert json.loads(again.value.response.body) == {
        "message": "that suggestion is already applied"}
    assert (root / nb).read_bytes() == after
