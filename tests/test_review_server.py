"""The Review REST API through a real Jupyter server (pytest-jupyter, unauthenticated access
off): changed notebooks, diffs (ours and nbdime's format), threads, suggestions, verdicts,
and the 4xx answers to bad requests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbdime.diff_utils import to_diffentry_dicts
from nbdime.patching import patch
from tornado.httpclient import HTTPClientError

from jupyter_mlops.review.diffs import clear_cache
from jupyter_mlops.review.notebook import load_notebook

from .review_fixtures import base_cells, edited_pair, notebook, run_git, write


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


@pytest.fixture
def root(jp_root_dir: Path) -> Path:
    """The server root as a git repository with one committed notebook, edited since."""
    clear_cache()
    run_git(jp_root_dir, "init", "-q")
    run_git(jp_root_dir, "config", "user.name", "Ada")
    base, head = edited_pair()
    write(jp_root_dir / "work" / "train.ipynb", base)
    run_git(jp_root_dir, "add", ".")
    run_git(jp_root_dir, "commit", "-q", "-m", "base")
    write(jp_root_dir / "work" / "train.ipynb", head)
    return jp_root_dir


async def _get(jp_fetch: Any, *parts: str, **params: str) -> Any:
    response = await jp_fetch("mlops", "api", *parts, params=params)
    assert response.code == 200
    return json.loads(response.body.decode())


async def _post(jp_fetch: Any, *parts: str, body: dict[str, Any]) -> Any:
    response = await jp_fetch("mlops", "api", *parts, method="POST", body=json.dumps(body))
    assert response.code in (200, 201)
    return json.loads(response.body.decode())


async def _error(call: Any) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as info:
        await call
    assert info.value.response is not None
    return info.value.code, json.loads(info.value.response.body.decode())["message"]


async def test_changes_lists_the_working_trees_notebooks(jp_fetch: Any, root: Path) -> None:
    write(root / "work" / "new.ipynb", notebook(base_cells()[:1]))
    (root / "work" / "data.csv").write_text("a,b\n")
    body = await _get(jp_fetch, "review", "changes", path="work")
    assert body["git"] is True
    assert sorted((n["path"], n["status"]) for n in body["notebooks"]) == [
        ("work/new.ipynb", "untracked"), ("work/train.ipynb", "modified")]
    assert body["reviews"] == []


async def test_diff_against_head_in_the_contracts_shape(jp_fetch: Any, root: Path) -> None:
    body = await _get(jp_fetch, "review", "diff", path="work/train.ipynb")
    assert body["path"] == "work/train.ipynb"
    assert body["base"]["rev"] == "HEAD" and len(body["base"]["commit"]) == 40
    assert body["head"] == {"rev": "WORKING", "commit": None, "label": "working copy"}
    assert body["summary"] == {"added": 1, "removed": 1, "modified": 1, "moved": 1,
                               "unchanged": 4, "outputs_changed": 1}
    assert body["elapsed_ms"] >= 0
    cell = next(c for c in body["cells"] if c["status"] == "modified")
    assert set(cell) == {"status", "cell_id", "cell_type", "base_index", "head_index",
                         "base_source", "head_source", "lines", "outputs_changed",
                         "base_outputs", "head_outputs", "metadata_changed",
                         "base_attachments", "head_attachments"}
    changed = [ln for ln in cell["lines"] if ln["op"] != "equal"]
    assert changed[0]["base_line"] == 1 and changed[0]["inline"][0]["op"] == "equal"
    assert cell["head_outputs"][0]["text"] == "0.15000000000000002\n"


async def test_diff_in_nbdime_format_patches_base_into_head(jp_fetch: Any, root: Path) -> None:
    body = await _get(jp_fetch, "review", "diff", path="work/train.ipynb", format="nbdime",
                      outputs="1", metadata="1", execution_counts="1", attachments="1")
    assert set(body) == {"diff", "summary"}
    base = load_notebook(json.dumps(edited_pair()[0]), "base")
    head = load_notebook((root / "work" / "train.ipynb").read_bytes(), "head")
    patched = json.loads(json.dumps(patch(copy.deepcopy(base), to_diffentry_dicts(body["diff"]))))
    assert patched == head
    quiet = await _get(jp_fetch, "review", "diff", path="work/train.ipynb", outputs="0")
    assert quiet["summary"]["outputs_changed"] == 0


async def test_bad_requests_are_one_line_4xx(jp_fetch: Any, root: Path) -> None:
    code, message = await _error(jp_fetch("mlops", "api", "review", "diff",
                                          params={"path": "../elsewhere.ipynb"}))
    assert code == 403 and "outside the server root" in message
    code, message = await _error(jp_fetch("mlops", "api", "review", "diff",
                                          params={"path": "work/train.ipynb", "base": "nope"}))
    assert code == 400 and message.startswith("unknown git revision 'nope'")
    (root / "notes.txt").write_text("x")
    code, message = await _error(jp_fetch("mlops", "api", "review", "diff",
                                          params={"path": "notes.txt"}))
    assert code == 400 and "not a notebook" in message
    (root / "broken.ipynb").write_text("{")
    code, message = await _error(jp_fetch("mlops", "api", "review", "diff",
                                          params={"path": "broken.ipynb", "base": "WORKING"}))
    assert code == 400 and "'broken.ipynb' (working copy) is not valid JSON" in message
    code, message = await _error(jp_fetch("mlops", "api", "review", "diff",
                                          params={"path": "work/train.ipynb", "outputs": "x"}))
    assert code == 400 and "'outputs' is 1 or 0" in message
    code, message = await _error(jp_fetch("mlops", "api", "review", "comments", method="POST",
                                          body=json.dumps({"path": "work/train.ipynb",
                                                           "cell_id": "nope", "text": "x"})))
    assert code == 400 and "no cell 'nope'" in message
    code, message = await _error(jp_fetch("mlops", "api", "review", "request-changes",
                                          method="POST",
                                          body=json.dumps({"path": "work/train.ipynb"})))
    assert code == 400 and "needs some text" in message
    code, message = await _error(jp_fetch("mlops", "api", "review", "threads", "abc",
                                          "replies", method="POST",
                                          body=json.dumps({"path": "work/train.ipynb",
                                                           "text": "hi"})))
    assert code == 404 and "no thread 'abc'" in message
    code, message = await _error(jp_fetch("mlops", "api", "review", "comments", method="POST",
                                          body="[1]"))
    assert code == 400 and "JSON object" in message


async def test_comment_reply_resolve_approve_and_read_back(jp_fetch: Any, root: Path) -> None:
    nb = "work/train.ipynb"
    thread = (await _post(jp_fetch, "review", "comments", body={
        "path": nb, "cell_id": "params", "text": "why 0.05?", "line": 1}))["thread"]
    assert thread["cell_id"] == "params" and thread["line"] == 1 and not thread["outdated"]
    assert thread["comments"][0]["author"] == "Ada"  # token login: git's user.name
    thread = (await _post(jp_fetch, "review", "threads", thread["id"], "replies",
                          body={"path": nb, "text": "faster"}))["thread"]
    assert [c["text"] for c in thread["comments"]] == ["why 0.05?", "faster"]
    thread = (await _post(jp_fetch, "review", "threads", thread["id"], "resolve",
                          body={"path": nb, "resolved": True}))["thread"]
    assert thread["status"] == "resolved"
    review = (await _post(jp_fetch, "review", "approve", body={"path": nb, "text": "ok"}))[
        "review"]
    assert review["state"] == "approved"
    assert review["reviewers"][0]["user"] == "Ada"
    assert review["reviewers"][0]["state"] == "approved"

    again = (await _get(jp_fetch, "review", path=nb))["review"]
    assert again["me"] == "Ada" and again["state"] == "approved"
    assert [t["id"] for t in again["threads"]] == [thread["id"]]
    assert again["open_threads"] == 0
    listed = await _get(jp_fetch, "review", "changes", path="")
    assert [(r["path"], r["state"], r["threads"]) for r in listed["reviews"]] == [
        (nb, "approved", 1)]
    # the review is files in the repository, ready to commit
    assert len(list((root / ".mlops" / "reviews").rglob("*.json"))) == 4


async def test_a_comment_on_the_base_side_of_a_removed_cell(jp_fetch: Any, root: Path) -> None:
    nb = "work/train.ipynb"  # edited_pair removes the cell 'done'
    thread = (await _post(jp_fetch, "review", "comments", body={
        "path": nb, "cell_id": "done", "text": "keep a last message?", "line": 1,
        "side": "base"}))["thread"]
    assert (thread["side"], thread["cell_id"], thread["line"], thread["outdated"]) == (
        "base", "done", 1, False)
    again = (await _get(jp_fetch, "review", path=nb))["review"]
    assert [(t["id"], t["side"]) for t in again["threads"]] == [(thread["id"], "base")]
    code, message = await _error(jp_fetch("mlops", "api", "review", "comments", method="POST",
                                          body=json.dumps({"path": nb, "cell_id": "done",
                                                           "text": "x", "side": "left"})))
    assert code == 400 and "'side' is" in message
    code, message = await _error(jp_fetch("mlops", "api", "review", "comments", method="POST",
                                          body=json.dumps({"path": nb, "cell_id": "done",
                                                           "text": "x"})))
    assert code == 400 and "no cell 'done' in the head revision" in message


async def test_a_suggestion_is_applied_to_the_working_copy(jp_fetch: Any, root: Path) -> None:
    nb = "work/train.ipynb"
    thread = (await _post(jp_fetch, "review", "comments", body={
        "path": nb, "cell_id": "params", "text": "", "line": 2,
        "suggestion": "epochs = 5\n"}))["thread"]
    comment_id = thread["comments"][0]["id"]
    applied = (await _post(jp_fetch, "review", "threads", thread["id"], "apply",
                           body={"path": nb, "comment_id": comment_id}))["thread"]
    assert applied["comments"][0]["applied"] is True
    read = nbformat.read(str(root / nb), as_version=4)
    nbformat.validate(read)
    params = next(c for c in read.cells if c.get("id") == "params")
    assert params.source.splitlines()[1] == "epochs = 5"


async def test_outside_git_the_checkpoint_is_the_base(jp_fetch: Any, jp_root_dir: Path) -> None:
    clear_cache()
    base, head = edited_pair()
    write(jp_root_dir / ".ipynb_checkpoints" / "solo-checkpoint.ipynb", base)
    write(jp_root_dir / "solo.ipynb", head)
    write(jp_root_dir / "fresh.ipynb", base)
    body = await _get(jp_fetch, "review", "changes", path="")
    assert body["git"] is False
    assert sorted((n["path"], n["status"]) for n in body["notebooks"]) == [
        ("fresh.ipynb", "untracked"), ("solo.ipynb", "modified")]
    diffed = await _get(jp_fetch, "review", "diff", path="solo.ipynb")
    assert diffed["base"]["rev"] == "CHECKPOINT" and diffed["base"]["commit"] is None
    assert diffed["summary"]["moved"] == 1
    code, message = await _error(jp_fetch("mlops", "api", "review", "diff",
                                          params={"path": "solo.ipynb", "base": "main"}))
    assert code == 400 and "not in a git repository" in message


async def test_a_server_root_inside_a_repository(jp_fetch: Any, jp_root_dir: Path) -> None:
    """Paths stay relative to the server root when the repository begins above it."""
    clear_cache()
    top = jp_root_dir.parent
    run_git(top, "init", "-q")
    run_git(top, "config", "user.name", "Ada")
    base, head = edited_pair()
    write(jp_root_dir / "nb" / "train.ipynb", base)
    write(top / "outside.ipynb", base)
    run_git(top, "add", ".")
    run_git(top, "commit", "-q", "-m", "base")
    write(jp_root_dir / "nb" / "train.ipynb", head)
    write(top / "outside.ipynb", head)

    body = await _get(jp_fetch, "review", "changes", path="")
    assert [(n["path"], n["status"]) for n in body["notebooks"]] == [
        ("nb/train.ipynb", "modified")]
    diffed = await _get(jp_fetch, "review", "diff", path="nb/train.ipynb")
    assert diffed["path"] == "nb/train.ipynb" and diffed["summary"]["moved"] == 1
    await _post(jp_fetch, "review", "comments", body={"path": "nb/train.ipynb",
                                                      "cell_id": "params", "text": "ok?"})
    listed = await _get(jp_fetch, "review", "changes", path="nb")
    assert [r["path"] for r in listed["reviews"]] == ["nb/train.ipynb"]


async def test_a_long_diff_does_not_hold_up_the_server(jp_fetch: Any, root: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The diff runs in the executor: while one is stuck, the server answers other calls."""
    import asyncio
    import threading

    import jupyter_mlops.review as review_package

    started, release = threading.Event(), threading.Event()
    real = review_package.diff

    def stuck(*args: Any, **kwargs: Any) -> Any:
        started.set()
        release.wait(timeout=30)
        return real(*args, **kwargs)

    monkeypatch.setattr(review_package, "diff", stuck)
    pending = asyncio.ensure_future(jp_fetch("mlops", "api", "review", "diff",
                                             params={"path": "work/train.ipynb"}))
    while not started.is_set():
        await asyncio.sleep(0.01)
    other = await jp_fetch("mlops", "api", "review", "changes", params={"path": "work"})
    assert other.code == 200
    assert not pending.done()  # the diff is still waiting, the server is not
    release.set()
    assert (await pending).code == 200
