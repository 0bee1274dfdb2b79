"""Three-way notebook merges (``mlops.review.merge``) on cases of the kinds nbdime's own merge
tests hold — both edit different cells, both edit one cell, delete vs modify, both add at one
place, output-only conflicts, cells without ids, execution counts — and the conflicts resolved
(take local / remote / both / edit); ``jupyter mlops merge`` and ``%mlops merge`` on files."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell

from jupyter_mlops.errors import NotFoundError, UserInputError
from jupyter_mlops.review import MergeResult, merge
from jupyter_mlops.review.conflicts import Resolution, conflicts_of, resolve, resolve_file
from jupyter_mlops.review.merge import merge_text
from jupyter_mlops.review.notebook import ConflictMarkersError, NotANotebookError

from .review_fixtures import NB, base_cells, code, markdown, notebook, result, stream, write
from .shell_fixtures import run

CLI = Callable[..., subprocess.CompletedProcess[str]]


def three(minor: int = 5) -> tuple[NB, NB, NB]:
    base = notebook(base_cells(), minor)
    return base, copy.deepcopy(base), copy.deepcopy(base)


def cell(nb: NB, cell_id: str) -> dict[str, Any]:
    return next(c for c in nb["cells"] if c.get("id") == cell_id)


def sources(nb: NB) -> list[str]:
    return [c["source"] for c in nb["cells"]]


def record(c: dict[str, Any]) -> dict[str, Any]:
    conflict: dict[str, Any] = c["metadata"]["mlops"]["conflict"]
    return conflict


def valid(nb: NB) -> None:
    """The merged notebook is a valid nbformat notebook (ids unique where it has them)."""
    nbformat.validate(nbformat.from_dict(copy.deepcopy(nb)))
    ids = [c.get("id") for c in nb["cells"] if "id" in c]
    assert len(ids) == len(set(ids))


def no_cell_lost(base: NB, local: NB, remote: NB, merged: MergeResult) -> None:
    """Every cell source of either side is in the result (or the conflict that holds it),
    unless that side left the cell as the base has it and the other deleted it."""
    kept = set(sources(merged.notebook))
    for c in merged.notebook["cells"]:
        rec = c["metadata"].get("mlops", {}).get("conflict")
        if rec:
            kept |= {alt["source"] for alt in (rec["local"], rec["remote"]) if alt}
    base_sources = set(sources(base))
    for side, other in ((local, remote), (remote, local)):
        for source in sources(side):
            deleted_there = source in base_sources and source not in sources(other)
            assert source in kept or deleted_there, f"lost: {source!r}"


# --------------------------------------------------------------------------- clean merges


def test_both_edit_different_cells_and_both_add_elsewhere() -> None:
    base, local, remote = three()
    cell(local, "params")["source"] = "rate = 0.05\nepochs = 3\nprint(rate * epochs)\n"
    cell(remote, "train")["source"] = cell(remote, "train")["source"].replace("1.0", "2.0")
    local["cells"].insert(0, markdown("# Local title", id="ltitle"))
    remote["cells"].append(code("print('remote')", id="rtail"))

    merged = merge(base, local, remote)

    assert merged.clean and merged.conflicts == []
    ids = [c["id"] for c in merged.notebook["cells"]]
    assert ids == ["ltitle", "intro", "imports", "params", "train", "run", "notes", "done",
                   "rtail"]
    assert cell(merged.notebook, "params")["source"].startswith("rate = 0.05")
    assert "loss = 2.0" in cell(merged.notebook, "train")["source"]
    no_cell_lost(base, local, remote, merged)
    valid(merged.notebook)
    assert base == notebook(base_cells())  # the inputs are left as they were


def test_both_edit_one_cell_on_different_lines_merges_the_lines() -> None:
    base, local, remote = three()
    cell(local, "train")["source"] = cell(local, "train")["source"].replace(
        "loss = 1.0", "loss = 1.5")
    cell(remote, "train")["source"] = cell(remote, "train")["source"].replace(
        "return loss", "return round(loss, 3)")
    merged = merge(base, local, remote)
    assert merged.clean
    source = cell(merged.notebook, "train")["source"]
    assert "loss = 1.5" in source and "return round(loss, 3)" in source


def test_text_merge_line_by_line() -> None:
    base = "a\nb\nc\nd\n"
    assert merge_text(base, "A\nb\nc\nd\n", "a\nb\nc\nD\n") == "A\nb\nc\nD\n"
    assert merge_text(base, "a\nB\nc\nd\n", "a\nb\nC\nd\n") == "a\nB\nC\nd\n"  # neighbours
    assert merge_text(base, "a\nB\nc\nd\n", "a\nB\nc\nd\n") == "a\nB\nc\nd\n"  # the same
    assert merge_text(base, "a\nB\nc\nd\n", "a\nX\nc\nd\n") is None  # one line two ways
    assert merge_text(base, "a\nb\nnew\nc\nd\n", "a\nb\nC\nd\n") is None  # insert at a change
    assert merge_text(base, "x\na\nb\nc\nd\n", "a\nb\nc\nd\ny\n") == "x\na\nb\nc\nd\ny\n"


def test_a_cell_moved_on_one_side_and_edited_on_the_other() -> None:
    base, local, remote = three()
    notes = local["cells"].pop(5)
    local["cells"].insert(1, notes)
    cell(remote, "notes")["source"] = "## Notes\nThe rate matters."
    merged = merge(base, local, remote)
    assert merged.clean
    assert [c["id"] for c in merged.notebook["cells"]][:2] == ["intro", "notes"]
    assert cell(merged.notebook, "notes")["source"] == "## Notes\nThe rate matters."
    assert len(merged.notebook["cells"]) == len(base["cells"])


def test_metadata_merged_key_by_key_and_noise_never_conflicts() -> None:
    base, local, remote = three()
    cell(local, "params")["metadata"] = {"tags": ["parameters"], "ExecuteTime": {"a": 1}}
    cell(remote, "params")["metadata"] = {"editable": False, "ExecuteTime": {"a": 2}}
    local["metadata"]["language_info"] = {"name": "python", "version": "3.11"}
    remote["metadata"]["language_info"] = {"name": "python", "version": "3.12"}
    merged = merge(base, local, remote)
    assert merged.clean
    meta = cell(merged.notebook, "params")["metadata"]
    assert meta == {"tags": ["parameters"], "editable": False, "ExecuteTime": {"a": 1}}
    assert merged.notebook["metadata"]["language_info"]["version"] == "3.11"
    assert merged.notes and "LOCAL's kept" in merged.notes[0]


def test_execution_counts_never_conflict() -> None:
    base, local, remote = three()
    for side, count in ((local, 7), (remote, 9)):
        run_cell = cell(side, "run")
        run_cell["execution_count"] = count
        run_cell["outputs"] = [result("0.7290000000000001", count)]
        cell(side, "imports")["execution_count"] = count + 100
    merged = merge(base, local, remote)
    assert merged.clean
    assert cell(merged.notebook, "run")["execution_count"] == 7
    assert cell(merged.notebook, "run")["outputs"] == [result("0.7290000000000001", 7)]
    # one side re-ran a cell: its outputs come with its count
    base, local, remote = three()
    cell(remote, "params")["outputs"] = [stream("0.3\n")]
    cell(remote, "params")["execution_count"] = 12
    merged = merge(base, local, remote)
    assert merged.clean
    assert cell(merged.notebook, "params")["outputs"] == [stream("0.3\n")]
    assert cell(merged.notebook, "params")["execution_count"] == 12


# --------------------------------------------------------------------------- conflicts


def test_both_edit_the_same_line_is_a_source_conflict_keeping_local() -> None:
    base, local, remote = three()
    cell(local, "params")["source"] = "rate = 0.05\nepochs = 3\nprint(rate * epochs)\n"
    cell(remote, "params")["source"] = "rate = 0.2\nepochs = 3\nprint(rate * epochs)\n"
    merged = merge(base, local, remote)

    assert not merged.clean and not merged.ok
    [conflict] = merged.conflicts
    assert conflict.kind == "source" and conflict.cell_id == "params"
    assert conflict.cell_index == 2
    kept = merged.notebook["cells"][2]
    assert kept["source"].startswith("rate = 0.05")  # LOCAL's content
    rec = record(kept)
    assert set(rec) == {"id", "kind", "base", "local", "remote", "note"}
    assert rec["id"] == conflict.id and rec["kind"] == "source"
    assert rec["base"]["source"].startswith("rate = 0.1")
    assert rec["local"]["source"].startswith("rate = 0.05")
    assert rec["remote"]["source"].startswith("rate = 0.2")
    assert rec["remote"]["cell_type"] == "code" and "outputs" in rec["remote"]
    assert "both sides changed the source" in rec["note"]
    assert len(merged.notebook["cells"]) == len(base["cells"])
    valid(merged.notebook)
    assert "1 conflict" in merged.to_text() and "params" in merged.to_text()


@pytest.mark.parametrize("deleter", ["local", "remote"])
def test_delete_vs_modify_keeps_the_modified_cell(deleter: str) -> None:
    base, local, remote = three()
    gone, changed = (local, remote) if deleter == "local" else (remote, local)
    gone["cells"] = [c for c in gone["cells"] if c["id"] != "train"]
    cell(changed, "train")["source"] += "# keep me\n"
    merged = merge(base, local, remote)

    [conflict] = merged.conflicts
    assert conflict.kind == "deleted-vs-modified"
    kept = cell(merged.notebook, "train")
    assert kept["source"].endswith("# keep me\n")
    assert [c["id"] for c in merged.notebook["cells"]] == [c["id"] for c in base["cells"]]
    assert getattr(conflict, deleter) is None
    assert getattr(conflict, "remote" if deleter == "local" else "local")["source"] \
        == kept["source"]
    assert f"{deleter.upper()} deleted this cell" in conflict.note


def test_delete_vs_unchanged_deletes_and_new_outputs_alone_do_not_keep_a_cell() -> None:
    base, local, remote = three()
    local["cells"] = [c for c in local["cells"] if c["id"] not in ("done", "run")]
    cell(remote, "run")["outputs"] = [result("0.73", 9)]  # only re-run there
    cell(remote, "run")["execution_count"] = 9
    merged = merge(base, local, remote)
    assert merged.clean
    assert [c["id"] for c in merged.notebook["cells"]] == [
        "intro", "imports", "params", "train", "notes"]
    # both deleted one cell, one deleted another
    base, local, remote = three()
    local["cells"] = [c for c in local["cells"] if c["id"] not in ("done", "intro")]
    remote["cells"] = [c for c in remote["cells"] if c["id"] != "done"]
    merged = merge(base, local, remote)
    assert merged.clean and [c["id"] for c in merged.notebook["cells"]] == [
        "imports", "params", "train", "run", "notes"]


def test_both_add_at_one_place() -> None:
    base, local, remote = three()
    # the same cell added by both (ids differ, as two people's would): one cell
    local["cells"].insert(3, code("import numpy as np", id="l-np"))
    remote["cells"].insert(3, code("import numpy as np", id="r-np"))
    # two versions of one new cell: a both-added conflict with both cells
    local["cells"].insert(7, code("score = evaluate(model)\nprint(score)\nsave(score)\n",
                                  id="l-eval"))
    remote["cells"].insert(7, code("score = evaluate(model, k=5)\nprint(score)\nsave(score)\n",
                                   id="r-eval"))
    # two unrelated new cells at the end: both kept, LOCAL's first, no conflict
    local["cells"].append(markdown("Local's conclusion", id="l-end"))
    remote["cells"].append(code("plot(history)", id="r-end"))
    merged = merge(base, local, remote)

    ids = [c["id"] for c in merged.notebook["cells"]]
    assert ids.count("l-np") + ids.count("r-np") == 1
    assert ids[-2:] == ["l-end", "r-end"]
    [conflict] = merged.conflicts
    assert conflict.kind == "both-added" and conflict.base is None
    assert conflict.local is not None and conflict.remote is not None
    assert "k=5" in conflict.remote["source"] and "k=5" not in conflict.local["source"]
    pair = [c for c in merged.notebook["cells"] if c["id"] in ("l-eval", "r-eval")]
    assert [c["id"] for c in pair] == ["l-eval", "r-eval"]  # next to each other
    assert ids.index("r-eval") == ids.index("l-eval") + 1
    assert [record(c)["side"] for c in pair] == ["local", "remote"]
    assert {record(c)["id"] for c in pair} == {conflict.id}
    no_cell_lost(base, local, remote, merged)
    valid(merged.notebook)


def test_both_added_cells_with_one_id_get_unique_ids() -> None:
    base, local, remote = three()
    local["cells"].append(code("x = 1\ny = 2\nz = 3\n", id="same"))
    remote["cells"].append(code("x = 1\ny = 5\nz = 3\n", id="same"))
    merged = merge(base, local, remote)
    [conflict] = merged.conflicts
    assert conflict.kind == "both-added"
    valid(merged.notebook)
    assert len(merged.notebook["cells"]) == len(base["cells"]) + 2


def test_outputs_both_changed_are_cleared_with_a_note_not_mixed() -> None:
    base, local, remote = three()
    cell(local, "params")["outputs"] = [stream("local run\n")]
    cell(local, "params")["execution_count"] = 3
    cell(remote, "params")["outputs"] = [stream("remote run\n"), stream("more\n")]
    merged = merge(base, local, remote)

    [conflict] = merged.conflicts
    assert conflict.kind == "outputs"
    kept = cell(merged.notebook, "params")
    assert kept["outputs"] == [] and kept["execution_count"] is None
    assert "cleared" in conflict.note
    assert conflict.local is not None and conflict.remote is not None
    assert conflict.local["outputs"] == [stream("local run\n")]
    assert len(conflict.remote["outputs"]) == 2
    valid(merged.notebook)


def test_source_and_outputs_conflict_in_one_cell_is_one_source_conflict() -> None:
    base, local, remote = three()
    for side, rate in ((local, "0.05"), (remote, "0.2")):
        cell(side, "params")["source"] = f"rate = {rate}\nepochs = 3\nprint(rate * epochs)\n"
        cell(side, "params")["outputs"] = [stream(f"{rate}\n")]
    merged = merge(base, local, remote)
    [conflict] = merged.conflicts
    assert conflict.kind == "source"
    assert "outputs" in conflict.note
    assert cell(merged.notebook, "params")["outputs"] == []


def test_metadata_conflict() -> None:
    base, local, remote = three()
    cell(local, "params")["metadata"]["tags"] = ["parameters"]
    cell(remote, "params")["metadata"]["tags"] = ["setup"]
    merged = merge(base, local, remote)
    [conflict] = merged.conflicts
    assert conflict.kind == "metadata" and "/tags" in conflict.note
    assert cell(merged.notebook, "params")["metadata"]["tags"] == ["parameters"]


@pytest.mark.parametrize("minor", [4, 5])
def test_cells_without_ids_are_matched_by_content(minor: int) -> None:
    base, local, remote = three(minor=4)
    local["cells"][2]["source"] = "rate = 0.05\nepochs = 3\nprint(rate * epochs)\n"
    del remote["cells"][6]  # 'done'
    remote["cells"].insert(1, markdown("Setup first."))
    remote["cells"][4]["source"] += "# a note\n"  # train, now at 4
    if minor == 5:  # one side saved by a newer JupyterLab: ids everywhere in the result
        local["nbformat_minor"] = 5
        for n, c in enumerate(local["cells"]):
            c["id"] = f"cell-{n}"
    merged = merge(base, local, remote)

    assert merged.clean
    out = merged.notebook
    assert out["nbformat_minor"] == minor
    assert [c["source"][:12] for c in out["cells"]] == [
        "# Churn mode", "Setup first.", "import math\n", "rate = 0.05\n", "def train(ra",
        "train(rate, ", "## Notes\nNot"]
    assert out["cells"][4]["source"].endswith("# a note\n")
    if minor == 4:
        assert all("id" not in c for c in out["cells"])
    valid(out)


def test_add_add_without_a_base() -> None:
    local = notebook([code("import pandas as pd", id="a"), code("df = load()", id="b")])
    remote = notebook([code("import pandas as pd", id="x"), code("print(1)", id="y")])
    merged = merge(notebook([]), local, remote)
    assert merged.clean
    assert sources(merged.notebook) == ["import pandas as pd", "df = load()", "print(1)"]


# --------------------------------------------------------------------------- resolving


def _conflicted() -> MergeResult:
    """A merge with one conflict of every kind."""
    base, local, remote = three()
    cell(local, "params")["source"] = "rate = 0.05\nepochs = 3\nprint(rate * epochs)\n"
    cell(remote, "params")["source"] = "rate = 0.2\nepochs = 3\nprint(rate * epochs)\n"
    cell(local, "run")["outputs"] = [result("local", 5)]
    cell(remote, "run")["outputs"] = [result("remote", 6)]
    cell(local, "imports")["metadata"]["tags"] = ["a"]
    cell(remote, "imports")["metadata"]["tags"] = ["b"]
    local["cells"] = [c for c in local["cells"] if c["id"] != "train"]
    cell(remote, "train")["source"] += "# remote\n"
    local["cells"].append(code("a = 1\nb = 2\nc = 3\n", id="l-new"))
    remote["cells"].append(code("a = 1\nb = 7\nc = 3\n", id="r-new"))
    return merge(base, local, remote)


def _by_kind(merged: MergeResult) -> dict[str, str]:
    return {c.kind: c.id for c in merged.conflicts}


def test_conflicts_listed_from_the_notebook() -> None:
    merged = _conflicted()
    listed = conflicts_of(merged.notebook)
    assert sorted(e["kind"] for e in listed) == [
        "both-added", "deleted-vs-modified", "metadata", "outputs", "source"]
    assert [e["id"] for e in listed] == [c.id for c in merged.conflicts]
    assert [e["cell_index"] for e in listed] == [c.cell_index for c in merged.conflicts]
    both = next(e for e in listed if e["kind"] == "both-added")
    assert [w["side"] for w in both["cells"]] == ["local", "remote"]


def test_take_local_everywhere() -> None:
    merged = _conflicted()
    nb, remaining = resolve(merged.notebook, [Resolution(c.id, "local")
                                               for c in merged.conflicts])
    assert remaining == 0 and conflicts_of(nb) == []
    assert [c["id"] for c in nb["cells"]] == [
        "intro", "imports", "params", "run", "notes", "done", "l-new"]  # train deleted
    assert cell(nb, "params")["source"].startswith("rate = 0.05")
    assert cell(nb, "run")["outputs"] == [result("local", 5)]
    assert cell(nb, "imports")["metadata"] == {"tags": ["a"]}
    assert all("mlops" not in c["metadata"] for c in nb["cells"])
    valid(nb)


def test_take_remote_everywhere() -> None:
    merged = _conflicted()
    nb, remaining = resolve(merged.notebook, [Resolution(c.id, "remote")
                                               for c in merged.conflicts])
    assert remaining == 0
    ids = [c["id"] for c in nb["cells"]]
    assert "l-new" not in ids and len(ids) == 8
    assert cell(nb, "params")["source"].startswith("rate = 0.2")
    assert cell(nb, "run")["outputs"] == [result("remote", 6)]
    assert cell(nb, "run")["execution_count"] == 4  # the base's count: remote left it
    assert cell(nb, "train")["source"].endswith("# remote\n")
    assert cell(nb, "imports")["metadata"] == {"tags": ["b"]}
    assert "b = 7" in nb["cells"][-1]["source"]
    valid(nb)


def test_take_both_and_edit() -> None:
    merged = _conflicted()
    kinds = _by_kind(merged)
    nb, remaining = resolve(merged.notebook, [
        Resolution(kinds["source"], "both"), Resolution(kinds["outputs"], "both"),
        Resolution(kinds["metadata"], "both"), Resolution(kinds["both-added"], "both")])
    assert remaining == 1
    [left] = conflicts_of(nb)
    assert left["kind"] == "deleted-vs-modified"
    at = [c["id"] for c in nb["cells"]].index("params")
    assert nb["cells"][at + 1]["source"].startswith("rate = 0.2")  # REMOTE's after LOCAL's
    assert cell(nb, "run")["outputs"] == [result("local", 5), result("remote", 6)]
    assert cell(nb, "imports")["metadata"] == {"tags": ["a"]}
    assert [c["id"] for c in nb["cells"]][-2:] == ["l-new", "r-new"]
    valid(nb)
    nb, remaining = resolve(nb, [Resolution(left["id"], "edit", "def train():\n    pass\n")])
    assert remaining == 0
    assert cell(nb, "train")["source"] == "def train():\n    pass\n"
    # edit of a both-added pair keeps one cell with the edited source
    merged = _conflicted()
    nb, _ = resolve(merged.notebook, [Resolution(_by_kind(merged)["both-added"], "edit",
                                                 "a = b = c = 1\n")])
    ids = [c["id"] for c in nb["cells"]]
    assert "r-new" not in ids and cell(nb, "l-new")["source"] == "a = b = c = 1\n"


def test_bad_resolutions_are_one_line_each() -> None:
    merged = _conflicted()
    first = merged.conflicts[0].id
    with pytest.raises(NotFoundError, match="no conflict 'nope'"):
        resolve(merged.notebook, [Resolution("nope", "local")])
    with pytest.raises(UserInputError, match="resolved twice"):
        resolve(merged.notebook, [Resolution(first, "local"), Resolution(first, "remote")])
    with pytest.raises(UserInputError, match="needs the cell's new source"):
        Resolution(first, "edit")
    with pytest.raises(UserInputError, match="take is one of"):
        Resolution(first, "theirs")  # type: ignore[arg-type]


def test_resolve_file_writes_whole_and_keeps_the_mode(project: Path) -> None:
    merged = _conflicted()
    path = write(project / "nb.ipynb", merged.notebook)
    path.chmod(0o640)
    done = resolve_file(path, [Resolution(c.id, "local") for c in merged.conflicts],
                        stage=True)
    assert done.remaining == 0 and not done.staged
    assert "not in a git repository" in done.message
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    nbformat.validate(nbformat.read(str(path), as_version=4))
    assert not any(p.name.endswith(".tmp") for p in project.iterdir())


# --------------------------------------------------------------------------- files


def _files(folder: Path, local_rate: str, remote_rate: str) -> tuple[Path, Path, Path]:
    base, local, remote = three()
    cell(local, "params")["source"] = f"rate = {local_rate}\nepochs = 3\n"
    cell(remote, "params")["source"] = f"rate = {remote_rate}\nepochs = 3\n"
    cell(remote, "train")["source"] += "# tuned\n"
    return (write(folder / "base.ipynb", base), write(folder / "local.ipynb", local),
            write(folder / "remote.ipynb", remote))


def test_cli_merge_follows_the_merge_driver_contract(project: Path, cli: CLI) -> None:
    base, local, remote = _files(project, "0.05", "0.05")
    done = cli("merge", str(base), str(local), str(remote), cwd=project)
    assert done.returncode == 0, done.stderr
    assert "merged cleanly" in done.stdout
    merged = nbformat.read(str(local), as_version=4)
    nbformat.validate(merged)
    assert merged.cells[3].source.endswith("# tuned\n")

    base, local, remote = _files(project, "0.05", "0.2")
    before = local.read_bytes()
    done = cli("merge", "base.ipynb", "local.ipynb", "remote.ipynb", "-o", "out.ipynb",
               cwd=project)
    assert done.returncode == 1
    assert "1 conflict" in done.stdout and "Merge view" in done.stdout
    assert local.read_bytes() == before  # -o: LOCAL left alone
    out = json.loads((project / "out.ipynb").read_text())
    assert out["cells"][2]["metadata"]["mlops"]["conflict"]["kind"] == "source"
    assert isinstance(out["cells"][2]["source"], list)  # as nbformat writes it

    done = cli("merge", "base.ipynb", "local.ipynb", "remote.ipynb", "--json", cwd=project)
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert data["clean"] is False and data["conflicts"][0]["kind"] == "source"


@pytest.mark.parametrize(("case", "message"), [
    ("missing", "REMOTE .* does not exist"),
    ("not-json", "REMOTE .* is not valid JSON"),
    ("not-a-notebook", "REMOTE .* is JSON but not a notebook"),
    ("markers", "git conflict markers .* git-config --merge-driver.*git checkout -m"),
    ("empty", "REMOTE .* is empty"),
    ("folder", "REMOTE .* is a folder"),
])
def test_a_bad_side_is_one_line_and_nothing_is_written(project: Path, cli: CLI, case: str,
                                                       message: str) -> None:
    _base, local, remote = _files(project, "0.05", "0.2")
    remote.unlink()
    if case == "not-json":
        remote.write_text("{\"cells\": [")
    elif case == "not-a-notebook":
        remote.write_text('{"name": "package.json"}')
    elif case == "markers":
        remote.write_text('{\n<<<<<<< HEAD\n "cells": []\n=======\n>>>>>>> b\n}\n')
    elif case == "empty":
        remote.write_text("")
    elif case == "folder":
        remote.mkdir()
    before = local.read_bytes()
    done = cli("merge", "base.ipynb", "local.ipynb", "remote.ipynb", cwd=project)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert re.search(message, lines[0]), lines[0]
    assert local.read_bytes() == before
    assert sorted(p.name for p in project.iterdir() if p.name.startswith(".")) == []


def test_markers_are_detected_on_read(project: Path) -> None:
    text = '{\n<<<<<<< HEAD\n "cells": [],\n=======\n "cells": [1],\n>>>>>>> b\n}\n'
    path = project / "nb.ipynb"
    path.write_text(text)
    with pytest.raises(ConflictMarkersError, match="jupyter mlops merge") as caught:
        merge(path, path, path)
    assert caught.value.http_status == 409
    assert isinstance(caught.value, NotANotebookError)


def test_magic_merge(shell: InteractiveShell, project: Path) -> None:
    _files(project, "0.05", "0.2")
    shown = run(shell, "%mlops merge base.ipynb local.ipynb remote.ipynb -o merged.ipynb")
    assert isinstance(shown, MergeResult) and not shown.clean
    assert repr(shown).startswith("merged.ipynb: 1 conflict")
    assert (project / "merged.ipynb").exists()
    data = run(shell, "%mlops merge base.ipynb local.ipynb remote.ipynb -o m2.ipynb --json")
    assert data["clean"] is False and data["path"] == "m2.ipynb"


def test_cell_types() -> None:
    base, local, remote = three()
    cell(remote, "notes")["cell_type"] = "raw"  # REMOTE changed the type alone
    cell(local, "params")["cell_type"] = "markdown"  # a type, and the source on the other side
    cell(local, "params").pop("outputs")
    cell(local, "params").pop("execution_count")
    cell(remote, "params")["source"] = "rate = 0.3\n"
    cell(remote, "run")["cell_type"] = "markdown"
    cell(remote, "run").pop("outputs")
    cell(remote, "run").pop("execution_count")
    cell(local, "run")["source"] = "train(rate, 2 * epochs)"
    cell(local, "intro")["cell_type"] = "raw"  # two types
    cell(remote, "intro")["cell_type"] = "code"
    merged = merge(base, local, remote)
    assert cell(merged.notebook, "notes")["cell_type"] == "raw"
    assert [(c.cell_id, c.kind) for c in merged.conflicts] == [("intro", "source")]
    assert "cell type" in merged.conflicts[0].note
    assert cell(merged.notebook, "intro")["cell_type"] == "raw"  # LOCAL's
    params, run_cell = cell(merged.notebook, "params"), cell(merged.notebook, "run")
    assert (params["cell_type"], params["source"]) == ("markdown", "rate = 0.3\n")
    assert (run_cell["cell_type"], run_cell["source"]) == ("markdown", "train(rate, 2 * epochs)")
    assert "outputs" not in run_cell
    valid(merged.notebook)


def test_a_notebook_nested_too_deeply_is_one_line() -> None:
    base, local, remote = three()
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(2000):
        inner["x"] = {}
        inner = inner["x"]
    cell(local, "params")["metadata"]["deep"] = deep
    cell(remote, "params")["metadata"]["deep"] = {"y": 1}
    with pytest.raises(UserInputError, match="nests its metadata or outputs too deeply"):
        merge(base, local, remote)
