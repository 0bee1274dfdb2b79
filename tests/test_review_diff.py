"""The diff engine on a corpus of notebook pairs: what a reviewer is shown (cells added,
removed, moved, edited; lines and parts of lines; outputs, images, metadata noise), and that
the nbdime-format diff is one nbdime itself applies to get the head notebook back."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbdime.diff_format import validate_diff
from nbdime.diff_utils import to_diffentry_dicts
from nbdime.patching import patch

from jupyter_mlops.review import DiffFilters, diff
from jupyter_mlops.review.engine import diff_notebooks
from jupyter_mlops.review.notebook import load_notebook

from .review_fixtures import (
    attachment_pair,
    base_cells,
    code,
    edited_pair,
    image_pair,
    markdown,
    noise_pair,
    notebook,
    outputs_only_pair,
    stream,
    write,
)

NB = dict[str, Any]
PAIRS: dict[str, Callable[[], tuple[NB, NB]]] = {
    "edited": edited_pair, "outputs_only": outputs_only_pair, "image": image_pair,
    "noise": noise_pair, "attachments": attachment_pair,
    **{f"nbformat_4.{minor}": (lambda minor=minor: edited_pair(minor)) for minor in range(6)},
}


def loaded(nb: NB) -> NB:
    """A notebook as the engine reads it from disk."""
    return load_notebook(json.dumps(nb), "test")


def by_status(cells: list[Any]) -> dict[str, list[tuple[int | None, int | None]]]:
    found: dict[str, list[tuple[int | None, int | None]]] = {}
    for cell in cells:
        found.setdefault(cell.status, []).append((cell.base_index, cell.head_index))
    return found


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_nbdime_patch_of_our_diff_gives_back_the_head(name: str) -> None:
    base, head = (loaded(nb) for nb in PAIRS[name]())
    _cells, _summary, ops, _ms = diff_notebooks(base, head, DiffFilters.everything())

    validate_diff(to_diffentry_dicts(ops), deep=True)
    patched = json.loads(json.dumps(patch(copy.deepcopy(base), to_diffentry_dicts(ops))))
    assert patched == head
    nbformat.validate(nbformat.from_dict(patched))
    # and nbdime's own diff of the pair agrees that there was a change to patch
    assert ops


@pytest.mark.parametrize("minor", range(6))
def test_added_removed_moved_and_edited_cells_in_every_nbformat_4_minor(minor: int) -> None:
    base, head = (loaded(nb) for nb in edited_pair(minor))
    cells, summary, _ops, _ms = diff_notebooks(base, head)

    assert (summary.added, summary.removed, summary.moved, summary.modified,
            summary.unchanged) == (1, 1, 1, 1, 4)
    status = by_status(cells)
    assert status["moved"] == [(5, 1)]  # the notes, now under the title
    assert status["removed"] == [(6, None)]
    assert status["added"] == [(None, 6)]
    assert status["modified"] == [(2, 3)]
    assert [c.head_index for c in cells if c.head_index is not None] == list(range(7))
    edited = next(c for c in cells if c.status == "modified")
    assert edited.outputs_changed
    changed = [ln for ln in edited.lines if ln.op != "equal"]
    assert [(ln.op, ln.base_line, ln.head_line, ln.base_text, ln.head_text)
            for ln in changed] == [("replace", 1, 1, "rate = 0.1", "rate = 0.05")]
    inline = changed[0].inline
    assert inline is not None
    # "rate = 0.1" -> "rate = 0.05": only the changed characters are marked
    inserted = [(p.head, "rate = 0.05"[p.head[0]:p.head[1]]) for p in inline
                if p.op == "insert" and p.head]
    deleted = [("rate = 0.1"[p.base[0]:p.base[1]]) for p in inline if p.op == "delete" and p.base]
    assert "".join(t for _, t in inserted) in ("05", "5", "0", "05")
    assert "".join(deleted) in ("", "1")
    assert all(p.op == "equal" for p in inline[:1])
    added = next(c for c in cells if c.status == "added")
    assert added.cell_type == "code" and added.head_source.startswith("import json")
    assert all(ln.op == "insert" for ln in added.lines)


def test_cells_without_ids_are_matched_by_content() -> None:
    """nbformat 4.4: no ids; an edited cell is still one cell modified, not removed+added."""
    base, head = (loaded(nb) for nb in edited_pair(4))
    assert all("id" not in c for c in base["cells"])
    cells, summary, _ops, _ms = diff_notebooks(base, head)
    assert summary.modified == 1 and summary.moved == 1
    # ids are derived from the content, stable between reads
    again, _s, _o, _m = diff_notebooks(loaded(edited_pair(4)[0]), head)
    assert [c.cell_id for c in cells] == [c.cell_id for c in again]
    assert all(c.cell_id for c in cells)


def test_ids_win_over_content() -> None:
    """Two cells that swapped their sources keep their ids: both modified, nothing moved."""
    base = notebook([code("a = 1", id="x"), code("b = 2", id="y")])
    head = notebook([code("b = 2", id="x"), code("a = 1", id="y")])
    cells, summary, _o, _m = diff_notebooks(loaded(base), loaded(head))
    assert summary.modified == 2 and summary.moved == 0
    assert [c.cell_id for c in cells] == ["x", "y"]


def test_an_output_only_change_is_an_output_change_not_a_source_change() -> None:
    base, head = (loaded(nb) for nb in outputs_only_pair())
    cells, summary, ops, _ms = diff_notebooks(base, head)
    assert summary.modified == 2 and summary.outputs_changed == 2
    for cell in cells:
        if cell.status == "modified":
            assert cell.outputs_changed and not cell.source_changed
    cell_ops = ops[0]["diff"]
    assert {op["op"] for op in cell_ops} == {"patch"}
    assert all({sub["key"] for sub in op["diff"]} == {"outputs"} for op in cell_ops)
    # with outputs filtered out, the same pair shows no change at all
    _cells, quiet, ops_quiet, _ms = diff_notebooks(base, head, DiffFilters(outputs=False))
    assert not quiet.changed and ops_quiet == []


def test_a_changed_image_is_replaced_whole_and_both_images_are_given() -> None:
    base, head = (loaded(nb) for nb in image_pair())
    cells, summary, ops, _ms = diff_notebooks(base, head)
    plot = next(c for c in cells if c.status == "modified")
    assert plot.outputs_changed and summary.outputs_changed == 1
    assert plot.base_outputs[0]["data"]["image/png"] != plot.head_outputs[0]["data"]["image/png"]
    data_ops = ops[0]["diff"][0]["diff"][0]["diff"][0]["diff"][0]["diff"]
    assert data_ops == [{"op": "replace", "key": "image/png",
                         "value": head["cells"][-1]["outputs"][0]["data"]["image/png"]}]


def test_rerun_noise_is_hidden_by_default_and_shown_on_request() -> None:
    base, head = (loaded(nb) for nb in noise_pair())
    cells, summary, ops, _ms = diff_notebooks(base, head)
    assert not summary.changed and summary.outputs_changed == 0 and ops == []
    assert {c.status for c in cells} == {"unchanged"}

    _c, counts, _o, _m = diff_notebooks(base, head, DiffFilters(execution_counts=True))
    assert counts.modified == 5  # the five code cells' counts
    _c, meta, meta_ops, _m = diff_notebooks(base, head, DiffFilters(metadata=True))
    assert meta.modified == 5
    assert any(op["key"] == "metadata" for op in meta_ops)  # notebook-level papermill
    shown = [c for c in _c if c.metadata_changed]
    assert len(shown) == 5


def test_meaningful_metadata_shows_by_default() -> None:
    base = notebook([code("x = 1", id="p")])
    head = notebook([code("x = 1", id="p", metadata={"tags": ["parameters"]})])
    cells, summary, _ops, _ms = diff_notebooks(loaded(base), loaded(head))
    assert summary.modified == 1 and cells[0].metadata_changed and not cells[0].source_changed


def test_attachments_compared_unless_filtered() -> None:
    base, head = (loaded(nb) for nb in attachment_pair())
    cells, summary, _ops, _ms = diff_notebooks(base, head)
    assert summary.modified == 1 and cells[0].metadata_changed
    # both sides' images travel with the diff, so the view renders attachment: links
    assert cells[0].base_attachments == base["cells"][0]["attachments"]
    assert cells[0].head_attachments == head["cells"][0]["attachments"]
    assert cells[0].base_attachments != cells[0].head_attachments
    hidden_cells, hidden, _o, _m = diff_notebooks(base, head, DiffFilters(attachments=False))
    assert not hidden.changed
    assert hidden_cells[0].head_attachments == {}


def test_duplicate_cells_and_a_rewritten_stretch_align_in_order() -> None:
    base = notebook([code("", id=None), code("x = 1"), code(""), code("y = 2"), code("")], 4)
    head = notebook([code(""), code("x = 10"), code(""), code("y = 2"), code(""), code("z")], 4)
    cells, summary, _ops, _ms = diff_notebooks(loaded(base), loaded(head))
    assert (summary.added, summary.removed, summary.modified, summary.moved) == (1, 0, 1, 0)
    assert [(c.base_index, c.head_index) for c in cells] == [
        (0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (None, 5)]


def test_a_cell_whose_type_changed_is_one_modified_cell() -> None:
    base = notebook([code("# Title", id="t"), code("x", id="x")])
    head = notebook([markdown("# Title", id="t"), code("x", id="x")])
    b, h = loaded(base), loaded(head)
    cells, summary, ops, _ms = diff_notebooks(b, h, DiffFilters.everything())
    assert summary.modified == 1 and cells[0].cell_type == "markdown"
    assert json.loads(json.dumps(patch(copy.deepcopy(b), to_diffentry_dicts(ops)))) == h


def test_lines_and_whole_line_replacements() -> None:
    base = notebook([code("a = 1\nb = 2\nc = 3\n", id="c")])
    head = notebook([code("a = 1\nsomething entirely different\nc = 3\nd = 4\n", id="c")])
    cells, _s, ops, _m = diff_notebooks(loaded(base), loaded(head), DiffFilters.everything())
    lines = [(ln.op, ln.base_line, ln.head_line) for ln in cells[0].lines]
    assert lines == [("equal", 1, 1), ("replace", 2, 2), ("equal", 3, 3), ("insert", None, 4)]
    assert cells[0].lines[1].inline is None  # nothing alike: no character parts
    b, h = loaded(base), loaded(head)
    assert json.loads(json.dumps(patch(copy.deepcopy(b), to_diffentry_dicts(ops)))) == h


def test_outputs_are_compared_by_hash_and_text_patched_by_line() -> None:
    base = notebook([code("for i in range(3): print(i)", id="c",
                          outputs=[stream("0\n1\n2\n"), stream("tail\n")])])
    head = notebook([code("for i in range(3): print(i)", id="c",
                          outputs=[stream("0\n1\n3\n"), stream("tail\n")])])
    b, h = loaded(base), loaded(head)
    _cells, _s, ops, _m = diff_notebooks(b, h, DiffFilters.everything())
    outputs = ops[0]["diff"][0]["diff"][0]
    assert outputs["key"] == "outputs"
    assert [op["key"] for op in outputs["diff"]] == [0]  # the second output matched by hash
    assert outputs["diff"][0]["diff"][0]["key"] == "text"
    assert json.loads(json.dumps(patch(copy.deepcopy(b), to_diffentry_dicts(ops)))) == h


# --------------------------------------------------------------------------- bad files


def test_not_json_and_not_a_notebook_name_the_file(project: Path) -> None:
    from jupyter_mlops.errors import UserInputError

    (project / "broken.ipynb").write_text('{"cells": [')
    with pytest.raises(UserInputError, match=r"'broken.ipynb' \(working copy\) is not valid "
                       r"JSON \(line 1"):
        diff(project / "broken.ipynb", "WORKING", "WORKING")
    (project / "list.ipynb").write_text("[1, 2]")
    with pytest.raises(UserInputError, match=r"'list.ipynb' .* not a notebook"):
        diff(project / "list.ipynb", "WORKING", "WORKING")
    (project / "bin.ipynb").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(UserInputError, match=r"'bin.ipynb' .* binary file"):
        diff(project / "bin.ipynb", "WORKING", "WORKING")
    with pytest.raises(UserInputError, match="not a notebook"):
        diff(project / "notes.txt")


def test_nbformat_3_is_upgraded() -> None:
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "old"}, "worksheets": [
        {"cells": [{"cell_type": "code", "input": "x = 1", "language": "python",
                    "outputs": [], "metadata": {}}]}]}
    nb = load_notebook(json.dumps(v3), "old.ipynb")
    assert nb["nbformat"] == 4 and nb["cells"][0]["source"] == "x = 1"


def test_source_stored_as_lists_reads_like_strings() -> None:
    raw = notebook(base_cells())
    split = copy.deepcopy(raw)
    for cell in split["cells"]:
        cell["source"] = cell["source"].splitlines(True)
    _cells, summary, ops, _ms = diff_notebooks(loaded(raw), loaded(split),
                                               DiffFilters.everything())
    assert not summary.changed and ops == []


def test_diff_of_two_files_outside_git_uses_the_checkpoint(project: Path) -> None:
    base, head = edited_pair()
    write(project / ".ipynb_checkpoints" / "train-checkpoint.ipynb", base)
    write(project / "train.ipynb", head)
    result = diff(project / "train.ipynb")
    assert result.base.rev == "CHECKPOINT" and result.base.label.startswith("checkpoint (")
    assert result.head.label == "working copy"
    assert result.summary.moved == 1 and result.summary.added == 1
    assert result.to_dict()["summary"]["modified"] == 1
    body = json.loads(json.dumps(result.to_dict()))
    assert [c["status"] for c in body["cells"]].count("unchanged") == 4


def test_an_output_added_in_front_is_aligned_by_hash() -> None:
    base = notebook([code("run()", id="c", outputs=[stream("a\n"), stream("b\n")])])
    head = notebook([code("run()", id="c", outputs=[stream("warning\n"), stream("a\n"),
                                                    stream("b\n")])])
    b, h = loaded(base), loaded(head)
    _cells, _s, ops, _m = diff_notebooks(b, h, DiffFilters.everything())
    outputs = ops[0]["diff"][0]["diff"][0]["diff"]
    assert outputs == [{"op": "addrange", "key": 0, "valuelist": [stream("warning\n")]}]
    assert json.loads(json.dumps(patch(copy.deepcopy(b), to_diffentry_dicts(ops)))) == h


def test_nbdimes_own_pretty_printer_reads_our_diff() -> None:
    """nbdime's tools take our diff as theirs: its text renderer shows the same changes."""
    import io

    from nbdime.prettyprint import PrettyPrintConfig, pretty_print_notebook_diff

    base, head = (loaded(nb) for nb in edited_pair())
    _cells, _summary, ops, _ms = diff_notebooks(base, head, DiffFilters.everything())
    out = io.StringIO()
    pretty_print_notebook_diff("base.ipynb", "head.ipynb", base, to_diffentry_dicts(ops),
                               PrettyPrintConfig(out=out, use_color=False))
    text = out.getvalue()
    assert "-rate = 0.1" in text and "+rate = 0.05" in text
    assert "## modified /cells/2/source:" in text
    assert "## inserted before /cells/1:\n+  markdown cell:\n+    id: notes" in text  # moved..
    assert "## deleted /cells/5-6:\n-  markdown cell:\n-    id: notes" in text  # ..from here
    assert "print(json.dumps({'loss': 1}))" in text  # the added cell


def test_ids_added_by_an_upgrade_to_4_5_are_not_a_change_by_default() -> None:
    """JupyterLab saves a 4.4 notebook as 4.5 with new ids: the same cells, matched by
    content; the ids show only when all metadata is compared."""
    base = loaded(notebook(base_cells(), minor=4))
    head = loaded(notebook(base_cells(), minor=5))
    cells, summary, _ops, _ms = diff_notebooks(base, head)
    assert summary.unchanged == 7 and not summary.changed
    cells, summary, _ops, _ms = diff_notebooks(base, head, DiffFilters(metadata=True))
    assert summary.modified == 7 and all(c.metadata_changed for c in cells)


def test_a_line_given_a_newline_reads_as_unchanged() -> None:
    base = notebook([code("import os", id="c")])
    head = notebook([code("import os\nimport sys\n", id="c")])
    b, h = loaded(base), loaded(head)
    cells, _s, ops, _m = diff_notebooks(b, h, DiffFilters.everything())
    assert [(ln.op, ln.base_text, ln.head_text) for ln in cells[0].lines] == [
        ("equal", "import os", "import os"), ("insert", None, "import sys")]
    assert json.loads(json.dumps(patch(copy.deepcopy(b), to_diffentry_dicts(ops)))) == h
