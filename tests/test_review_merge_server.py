"""The merge REST API through a real Jupyter server (pytest-jupyter, unauthenticated access
off): the conflicts of a notebook a real ``git merge`` left conflicted, resolved and staged;
three files merged; one-line 4xx answers to bad requests; 403 without credentials."""

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
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from jupyter_mlops.review.gitconfig import install

from .rest_helpers import api_get
from .review_fixtures import NB, base_cells, code, notebook, write


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


def _sides() -> tuple[NB, NB, NB]:
    base = notebook(base_cells())
    local, remote = copy.deepcopy(base), copy.deepcopy(base)
    local["cells"][2]["source"] = "rate = 0.05\nepochs = 3\nprint(rate * epochs)\n"
    remote["cells"][2]["source"] = "rate = 0.2\nepochs = 3\nprint(rate * epochs)\n"
    local["cells"] = [c for c in local["cells"] if c["id"] != "train"]
    remote["cells"][3]["source"] += "# tuned\n"
    remote["cells"].append(code("print('report')", id="report"))
    return base, local, remote


@pytest.fixture
def conflicted(jp_root_dir: Path, child_env: Callable[..., dict[str, str]]) -> Path:
    """``work/train.ipynb`` left conflicted by a real ``git merge`` through the driver."""
    env = {**child_env(), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.invalid",
           "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.invalid"}

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=jp_root_dir, env=env, capture_output=True,
                              text=True, timeout=120, check=False)

    base, local, remote = _sides()
    path = jp_root_dir / "work" / "train.ipynb"
    git("init", "-q", "-b", "main")
    install(jp_root_dir, difftool=False)
    write(path, base)
    git("add", ".")
    git("commit", "-q", "-m", "base")
    git("checkout", "-q", "-b", "feature")
    write(path, remote)
    git("commit", "-q", "-am", "theirs")
    git("checkout", "-q", "main")
    write(path, local)
    git("commit", "-q", "-am", "ours")
    assert git("merge", "--no-edit", "feature").returncode == 1
    return path


def _unmerged(root: Path) -> list[str]:
    done = subprocess.run(["git", "diff", "--name-only", "--diff-filter=U"], cwd=root,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.split()


async def _post(jp_fetch: Any, *parts: str, body: dict[str, Any]) -> Any:
    response = await jp_fetch("mlops", "api", "review", *parts, method="POST",
                              body=json.dumps(body))
    assert response.code == 200
    return json.loads(response.body.decode())


async def _post_error(jp_fetch: Any, *parts: str, body: Any) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "api", "review", *parts, method="POST", body=json.dumps(body))
    assert caught.value.response is not None
    data = json.loads(caught.value.response.body.decode())
    assert set(data) == {"message"} and "\n" not in data["message"]
    return caught.value.code, data["message"]


async def _get_error(jp_fetch: Any, **params: str) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "api", "review", "conflicts", params=params)
    assert caught.value.response is not None
    data = json.loads(caught.value.response.body.decode())
    assert set(data) == {"message"} and "\n" not in data["message"]
    return caught.value.code, data["message"]


async def test_conflicts_listed_resolved_and_staged(jp_fetch: Any, jp_root_dir: Path,
                                                    conflicted: Path) -> None:
    listed = await api_get(jp_fetch, "review", "conflicts", path="work/train.ipynb")
    assert listed["path"] == "work/train.ipynb"
    conflicts = listed["conflicts"]
    assert [c["kind"] for c in conflicts] == ["source", "deleted-vs-modified"]
    source, deleted = conflicts
    assert set(source) == {"id", "cell_index", "cell_id", "kind", "base", "local", "remote",
                           "note", "cells"}
    assert source["cell_id"] == "params" and source["cell_index"] == 2
    assert source["local"]["source"].startswith("rate = 0.05")
    assert source["remote"]["source"].startswith("rate = 0.2")
    assert source["base"]["cell_type"] == "code"
    assert deleted["local"] is None and deleted["remote"]["source"].endswith("# tuned\n")
    assert _unmerged(jp_root_dir) == ["work/train.ipynb"]

    first = await _post(jp_fetch, "conflicts", "resolve", body={
        "path": "work/train.ipynb", "resolutions": [{"id": source["id"], "take": "edit",
                                                     "source": "rate = 0.1\n"}],
        "stage": True})
    assert first == {"path": "work/train.ipynb", "remaining": 1, "staged": False,
                     "message": first["message"]}
    assert "not staged" in first["message"]
    again = await api_get(jp_fetch, "review", "conflicts", path="work/train.ipynb")
    assert [c["id"] for c in again["conflicts"]] == [deleted["id"]]

    code, message = await _post_error(jp_fetch, "conflicts", "resolve", body={
        "path": "work/train.ipynb", "resolutions": [{"id": source["id"], "take": "local"}]})
    assert code == 404 and "resolved already" in message

    done = await _post(jp_fetch, "conflicts", "resolve", body={
        "path": "work/train.ipynb", "resolutions": [{"id": deleted["id"], "take": "remote"}],
        "stage": True})
    assert done["remaining"] == 0 and done["staged"] is True
    assert "git add work/train.ipynb" in done["message"]
    assert _unmerged(jp_root_dir) == []
    nb = nbformat.read(str(conflicted), as_version=4)
    nbformat.validate(nb)
    assert [c.id for c in nb.cells] == ["intro", "imports", "params", "train", "run", "notes",
                                        "done", "report"]
    assert nb.cells[2].source == "rate = 0.1\n"
    assert nb.cells[3].source.endswith("# tuned\n")


async def test_three_files_merged(jp_fetch: Any, jp_root_dir: Path) -> None:
    base, local, remote = _sides()
    for name, nb in (("base", base), ("local", local), ("remote", remote)):
        write(jp_root_dir / "m" / f"{name}.ipynb", nb)
    data = await _post(jp_fetch, "merge", body={
        "base": "m/base.ipynb", "local": "m/local.ipynb", "remote": "m/remote.ipynb",
        "out": "m/out.ipynb"})
    assert data["path"] == "m/out.ipynb" and data["clean"] is False
    assert [c["kind"] for c in data["conflicts"]] == ["source", "deleted-vs-modified"]
    listed = await api_get(jp_fetch, "review", "conflicts", path="m/out.ipynb")
    assert listed["conflicts"] == data["conflicts"]
    assert json.loads((jp_root_dir / "m" / "local.ipynb").read_text()) == local

    remote["cells"][2]["source"] = local["cells"][2]["source"]
    remote["cells"][3]["source"] = base["cells"][3]["source"]
    write(jp_root_dir / "m" / "remote.ipynb", remote)
    data = await _post(jp_fetch, "merge", body={
        "base": "m/base.ipynb", "local": "m/local.ipynb", "remote": "m/remote.ipynb"})
    assert data == {"path": "m/local.ipynb", "clean": True, "conflicts": []}
    merged = nbformat.read(str(jp_root_dir / "m" / "local.ipynb"), as_version=4)
    assert [c.id for c in merged.cells][-1] == "report"


async def test_bad_requests_are_one_line_4xx(jp_fetch: Any, jp_root_dir: Path) -> None:
    base, local, remote = _sides()
    for name, nb in (("base", base), ("local", local), ("remote", remote)):
        write(jp_root_dir / f"{name}.ipynb", nb)
    (jp_root_dir / "markers.ipynb").write_text(
        '{\n<<<<<<< HEAD\n "cells": [],\n=======\n "cells": [1],\n>>>>>>> feature\n}\n')
    (jp_root_dir / "notes.txt").write_text("not a notebook")
    code, message = await _get_error(jp_fetch, path="markers.ipynb")
    assert code == 409 and "git-config --merge-driver" in message
    assert "git checkout -m" in message
    assert (await _get_error(jp_fetch, path="../outside.ipynb"))[0] == 403
    assert (await _get_error(jp_fetch, path="missing.ipynb"))[0] == 404
    assert (await _get_error(jp_fetch, path="notes.txt"))[0] == 400
    assert (await _get_error(jp_fetch))[0] == 400

    sides = {"base": "base.ipynb", "local": "local.ipynb", "remote": "remote.ipynb"}
    for body, status, words in [
        ({**sides, "remote": "gone.ipynb"}, 404, "no such file"),
        ({**sides, "remote": "notes.txt"}, 400, "not valid JSON"),
        ({**sides, "remote": "markers.ipynb"}, 409, "git conflict markers"),
        ({**sides, "base": "/etc/passwd"}, 403, "outside the server root"),
        ({**sides, "out": "../escape.ipynb"}, 403, "outside the server root"),
        ({**sides, "out": "out.txt"}, 400, "not a notebook"),
        ({**sides, "local": ""}, 400, "'local' names a notebook"),
        ({"base": "base.ipynb"}, 400, "'local' is required"),
        ({**sides, "theirs": "x"}, 400, "unknown field"),
    ]:
        code, message = await _post_error(jp_fetch, "merge", body=body)
        assert (code, words in message) == (status, True), (body, code, message)
    assert json.loads((jp_root_dir / "local.ipynb").read_text()) == local

    write(jp_root_dir / "merged.ipynb", notebook(base_cells()))
    for body, status, words in [
        ({"path": "merged.ipynb", "resolutions": []}, 400, "'resolutions' is empty"),
        ({"path": "merged.ipynb", "resolutions": [{"id": "x", "take": "theirs"}]}, 400,
         "take"),
        ({"path": "merged.ipynb", "resolutions": [{"id": "x", "take": "edit"}]}, 400,
         "needs the cell's new source"),
        ({"path": "merged.ipynb", "resolutions": [{"id": "x", "take": "local"}]}, 404,
         "no conflict 'x'"),
        ({"path": "markers.ipynb", "resolutions": [{"id": "x", "take": "local"}]}, 409,
         "git conflict markers"),
        ({"path": "../x.ipynb", "resolutions": [{"id": "x", "take": "local"}]}, 403,
         "outside"),
        ({"path": "merged.ipynb", "resolutions": "all"}, 400, "resolutions"),
    ]:
        code, message = await _post_error(jp_fetch, "conflicts", "resolve", body=body)
        assert (code, words in message) == (status, True), (body, code, message)


async def test_the_merge_routes_need_credentials(jp_fetch: Any, jp_base_url: str,
                                                 jp_http_port: int) -> None:
    prefix = f"http://localhost:{jp_http_port}{jp_base_url}mlops/api/review"
    client = AsyncHTTPClient()
    for method, path in (("GET", "conflicts?path=a.ipynb"), ("POST", "conflicts/resolve"),
                         ("POST", "merge")):
        body = "{}" if method == "POST" else None
        with pytest.raises(HTTPClientError) as caught:
            await client.fetch(f"{prefix}/{path}", method=method, body=body)
        assert caught.value.code == 403, path
