"""Notebook pairs for the review tests (a corpus built in code, so each case says what changed)
and a git repository to put them in."""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

NB = dict[str, Any]


def code(source: str, *, id: str | None = None, outputs: list[dict[str, Any]] | None = None,
         count: int | None = None, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": "code", "execution_count": count,
                            "metadata": metadata or {}, "outputs": outputs or [],
                            "source": source}
    if id is not None:
        cell["id"] = id
    return cell


def markdown(source: str, *, id: str | None = None,
             attachments: dict[str, Any] | None = None) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": "markdown", "metadata": {}, "source": source}
    if id is not None:
        cell["id"] = id
    if attachments is not None:
        cell["attachments"] = attachments
    return cell


def stream(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text}


def result(text: str, count: int | None = None) -> dict[str, Any]:
    return {"output_type": "execute_result", "execution_count": count, "metadata": {},
            "data": {"text/plain": text}}


def png(width: int, height: int, rgb: tuple[int, int, int]) -> str:
    """A real (tiny, solid colour) PNG, base64 as notebooks store it."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return (len(data).to_bytes(4, "big") + body
                + (zlib.crc32(body) & 0xFFFFFFFF).to_bytes(4, "big"))

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))
    return base64.b64encode(data).decode() + "\n"


def image(b64: str) -> dict[str, Any]:
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": b64, "text/plain": "<Figure size 640x480 with 1 Axes>"}}


def notebook(cells: list[dict[str, Any]], minor: int = 5,
             metadata: dict[str, Any] | None = None) -> NB:
    if minor < 5:
        cells = [{k: v for k, v in c.items() if k != "id"} for c in cells]
    return {"cells": cells, "metadata": metadata if metadata is not None else {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": minor}


def base_cells() -> list[dict[str, Any]]:
    return [
        markdown("# Churn model\nTrain and evaluate.", id="intro"),
        code("import math\nimport json\n", id="imports", count=1),
        code("rate = 0.1\nepochs = 3\nprint(rate * epochs)\n", id="params", count=2,
             outputs=[stream("0.30000000000000004\n")]),
        code("def train(rate, epochs):\n    loss = 1.0\n    for _ in range(epochs):\n"
             "        loss *= 1 - rate\n    return loss\n", id="train", count=3),
        code("train(rate, epochs)", id="run", count=4, outputs=[result("0.7290000000000001", 4)]),
        markdown("## Notes\nNothing yet.", id="notes"),
        code("print('done')", id="done", count=5, outputs=[stream("done\n")]),
    ]


def edited_pair(minor: int = 5) -> tuple[NB, NB]:
    """Added, removed, moved and edited cells (and the outputs that go with the edits)."""
    base = base_cells()
    head = copy.deepcopy(base)
    head[2]["source"] = "rate = 0.05\nepochs = 3\nprint(rate * epochs)\n"  # edited line
    head[2]["outputs"] = [stream("0.15000000000000002\n")]
    moved = head.pop(5)  # notes moved to the top, under the title
    head.insert(1, moved)
    head.pop()  # 'done' removed
    head.append(code("import json\nprint(json.dumps({'loss': 1}))", id="report",
                     outputs=[stream('{"loss": 1}\n')]))  # added
    return notebook(base, minor), notebook(head, minor)


def outputs_only_pair() -> tuple[NB, NB]:
    base = base_cells()
    head = copy.deepcopy(base)
    head[2]["outputs"] = [stream("0.3\n")]
    head[4]["outputs"] = [result("0.729", 4)]
    return notebook(base), notebook(head)


def image_pair() -> tuple[NB, NB]:
    base = [*base_cells(), code("plot()", id="plot", count=6,
                                outputs=[image(png(4, 3, (200, 30, 30)))])]
    head = copy.deepcopy(base)
    head[-1]["outputs"] = [image(png(4, 3, (30, 30, 200)))]
    return notebook(base), notebook(head)


def noise_pair() -> tuple[NB, NB]:
    """Only what a re-run changes: execution counts, timings, view state, papermill."""
    base = base_cells()
    head = copy.deepcopy(base)
    for n, cell in enumerate(head):
        if cell["cell_type"] == "code":
            cell["execution_count"] = 10 + n
            cell["metadata"]["ExecuteTime"] = {"end_time": f"2026-12-01T09:0{n}:00.000Z"}
            cell["metadata"]["collapsed"] = n % 2 == 0
            cell["metadata"]["scrolled"] = True
            for output in cell["outputs"]:
                if "execution_count" in output:
                    output["execution_count"] = 10 + n
    head[3]["metadata"]["papermill"] = {"duration": 0.1}
    meta = notebook(base)["metadata"]
    return notebook(base), notebook(head, metadata={**meta, "papermill": {"duration": 3.2}})


def attachment_pair() -> tuple[NB, NB]:
    base = base_cells()
    base[0] = markdown("# Churn model\n![logo](attachment:logo.png)", id="intro",
                       attachments={"logo.png": {"image/png": png(2, 2, (0, 0, 0))}})
    head = copy.deepcopy(base)
    head[0]["attachments"] = {"logo.png": {"image/png": png(2, 2, (255, 255, 255))}}
    return notebook(base), notebook(head)


def write(path: Path, nb: NB) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1) + "\n")
    return path


GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL":
           "ada@example.invalid", "GIT_COMMITTER_NAME": "Ada",
           "GIT_COMMITTER_EMAIL": "ada@example.invalid"}


def run_git(cwd: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.invalid",
                           "-c", "init.defaultBranch=main", *args], cwd=cwd,
                          env={**os.environ, **GIT_ENV}, capture_output=True, text=True,
                          timeout=30, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {done.stderr}")
    return done.stdout


@pytest.fixture
def repo(project: Path) -> Callable[..., str]:
    """``repo("add", ".")``: git in ``project``, freshly initialised, with user Ada."""
    run_git(project, "init", "-q")
    run_git(project, "config", "user.name", "Ada")
    run_git(project, "config", "user.email", "ada@example.invalid")

    def git(*args: str, check: bool = True) -> str:
        return run_git(project, *args, check=check)

    return git
