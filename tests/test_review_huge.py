"""A 20 MB notebook of 2,000 cells with 200 images (issue #15 item 4), in a real git
repository: the diff finds exactly the edits made (and nothing else), its nbdime form patches
the base into the head, and its peak memory (measured in a child process) stays under three
times the file's size. How fast it is goes in benchmarks/diff.py, not here."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.errors import UserInputError
from jupyter_mlops.review.diffs import clear_cache, diff
from jupyter_mlops.review.lean import load_lean
from jupyter_mlops.review.model import DiffFilters
from jupyter_mlops.review.notebook import load_notebook

from .huge_notebook import CELLS, IMAGES, HugeEdits, dumps, make_huge_pair
from .review_fixtures import run_git

ROOT = Path(__file__).resolve().parents[1]
NB = "huge.ipynb"


@pytest.fixture(scope="module")
def huge_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, HugeEdits, str, str]:
    """A repository with the huge notebook committed and the edited one in the working copy."""
    root = tmp_path_factory.mktemp("huge")
    base, head, edits = make_huge_pair()
    base_text, head_text = dumps(base), dumps(head)
    run_git(root, "init", "-q")
    (root / NB).write_text(base_text, encoding="utf-8")
    run_git(root, "add", NB)
    run_git(root, "commit", "-q", "-m", "base")
    (root / NB).write_text(head_text, encoding="utf-8")
    return root, edits, base_text, head_text


def test_the_generated_notebook_is_the_size_asked_for(
        huge_repo: tuple[Path, HugeEdits, str, str]) -> None:
    _root, _edits, base_text, _head = huge_repo
    assert len(base_text.encode()) >= 20_000_000
    base = json.loads(base_text)
    assert len(base["cells"]) == CELLS
    images = [o["data"]["image/png"] for c in base["cells"] for o in c.get("outputs", ())
              if "image/png" in o.get("data", {})]
    assert len(images) == IMAGES
    sizes = [len(i) * 3 // 4 for i in images]  # base64 → bytes
    assert min(sizes) >= 50_000 and max(sizes) <= 82_000


def test_the_diff_finds_the_edits_and_nothing_else(
        huge_repo: tuple[Path, HugeEdits, str, str]) -> None:
    root, edits, _base, _head = huge_repo
    clear_cache()
    result = diff(root / NB)
    by_status: dict[str, set[str]] = {}
    for cell in result.cells:
        assert cell.cell_id is not None
        by_status.setdefault(cell.status, set()).add(cell.cell_id)
    assert by_status["modified"] == set(edits.modified)
    assert by_status["added"] == set(edits.added)
    assert by_status["removed"] == set(edits.removed)
    assert by_status["moved"] == set(edits.moved)
    assert len(by_status["unchanged"]) == CELLS - len(edits.modified) - len(edits.removed) - 1
    assert {c.cell_id for c in result.cells if c.outputs_changed and c.status == "modified"
            } == set(edits.outputs_only)
    cells = {c.cell_id: c for c in result.cells}
    for cell_id in edits.images_changed:
        cell = cells[cell_id]
        assert not cell.source_changed
        assert cell.base_outputs[0] == cell.head_outputs[0]  # the printed text is the same
        assert cell.base_outputs[1]["data"]["image/png"] != \
            cell.head_outputs[1]["data"]["image/png"]
    for cell_id in edits.modified_source:
        assert cells[cell_id].source_changed and not cells[cell_id].outputs_changed
    last = cells[edits.last_change]
    assert [ln.head_text for ln in last.lines if ln.op == "insert"] == \
        ["print('the very last change')"]
    # the change right below the last image but one: nothing changed after it
    changed = [c for c in result.cells if c.status != "unchanged"]
    assert max(changed, key=lambda c: c.head_index or 0).cell_id == edits.last_change
    # unchanged cells show their outputs on both sides, from one shared object per image
    unchanged = next(c for c in result.cells if c.status == "unchanged" and
                     len(c.head_outputs) == 2)
    assert unchanged.base_outputs == unchanged.head_outputs
    assert unchanged.base_outputs[1]["data"]["image/png"] is \
        unchanged.head_outputs[1]["data"]["image/png"]
    assert result.to_dict()["summary"] == {
        "added": 3, "removed": 2, "modified": len(edits.modified), "moved": 1,
        "unchanged": len(by_status["unchanged"]), "outputs_changed": len(edits.outputs_only)}


def test_its_nbdime_form_patches_the_base_into_the_head(
        huge_repo: tuple[Path, HugeEdits, str, str]) -> None:
    from nbdime.diff_utils import to_diffentry_dicts
    from nbdime.patching import patch

    root, _edits, base_text, head_text = huge_repo
    result = diff(root / NB, filters=DiffFilters.everything())
    base = load_notebook(base_text, "base")
    patched = patch(copy.deepcopy(base), to_diffentry_dicts(result.to_nbdime()))
    assert json.loads(json.dumps(patched)) == load_notebook(head_text, "head")


@pytest.mark.parametrize("layout", ["nbformat", "compact", "indent 2"])
def test_read_cell_by_cell_it_is_the_notebook_json_reads(layout: str) -> None:
    base, head, _edits = make_huge_pair(120)
    for nb in (base, head):
        text = {"nbformat": dumps(nb), "compact": json.dumps(nb, separators=(",", ":")),
                "indent 2": json.dumps(nb, indent=2)}[layout]
        strings: dict[str, str] = {}
        assert load_lean(text.encode(), "nb", strings) == load_notebook(text, "nb")
        assert load_lean(bytearray(text.encode()), "nb") == load_notebook(text, "nb")


def test_equal_big_strings_of_both_sides_are_one_object() -> None:
    base, head, edits = make_huge_pair(60)
    strings: dict[str, str] = {}
    a = load_lean(dumps(base).encode(), "base", strings)
    b = load_lean(dumps(head).encode(), "head", strings)
    image_a = next(c for c in a["cells"] if len(c.get("outputs", ())) == 2 and
                   c["id"] not in edits.images_changed)
    image_b = next(c for c in b["cells"] if c["id"] == image_a["id"])
    assert image_a["outputs"][1]["data"]["image/png"] is image_b["outputs"][1]["data"][
        "image/png"]


def _bad(text: str) -> str:
    with pytest.raises(UserInputError) as caught:
        load_notebook(text, "'nb.ipynb' (working copy)")
    return str(caught.value)


@pytest.mark.parametrize("damage", ["markers between cells", "markers in a cell",
                                    "cut short", "a cell that is a list", "not json"])
def test_a_damaged_file_gets_the_same_one_line_as_before(damage: str) -> None:
    base, _head, _edits = make_huge_pair(30)
    text = dumps(base)
    lines = text.split("\n")
    at = next(i for i, ln in enumerate(lines) if ln == "  {" and i > 50)
    if damage == "markers between cells":
        lines[at:at] = ["<<<<<<< HEAD", "=======", ">>>>>>> other"]
    elif damage == "markers in a cell":
        lines[at + 2:at + 2] = ["<<<<<<< HEAD", "=======", ">>>>>>> other"]
    elif damage == "cut short":
        lines = lines[:at + 3]
    elif damage == "a cell that is a list":
        lines[at] = "  [],"
    else:
        lines = ["this is not json"]
    broken = "\n".join(lines)
    expected = _bad(broken)
    with pytest.raises(UserInputError) as caught:
        load_lean(broken.encode(), "'nb.ipynb' (working copy)")
    assert str(caught.value) == expected


_MEASURE = textwrap.dedent("""
    import json, sys, tracemalloc
    sys.path.insert(0, {root!r})
    from jupyter_mlops.review.diffs import diff
    tracemalloc.start()
    result = diff({path!r})
    current, peak = tracemalloc.get_traced_memory()
    print(json.dumps({{"peak": peak, "current": current,
                       "modified": result.summary.modified}}))
""")


def test_the_diff_peaks_under_three_times_the_file_size(
        huge_repo: tuple[Path, HugeEdits, str, str]) -> None:
    """Measured in a child process (nothing else of the test's in its memory): every byte
    Python allocates from reading both revisions to the finished diff, tracemalloc's peak."""
    root, edits, _base, _head_text = huge_repo
    size = (root / NB).stat().st_size
    done = subprocess.run([sys.executable, "-c", _MEASURE.format(root=str(ROOT),
                                                                  path=str(root / NB))],
                          capture_output=True, text=True, timeout=600, check=True)
    measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["modified"] == len(edits.modified)
    assert measured["peak"] <= 3 * size, f"peak {measured['peak'] / 1e6:.1f} MB for a " \
        f"{size / 1e6:.1f} MB notebook"
    # what stays (the cached diff with both notebooks): shared images count once
    assert measured["current"] <= 2 * size


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


async def test_the_rest_diff_of_the_huge_notebook_is_the_contracts_json(
        jp_fetch: Any, jp_root_dir: Path,
        huge_repo: tuple[Path, HugeEdits, str, str]) -> None:
    """GET review/diff, sent in parts (made off the event loop): the same JSON as
    ``NotebookDiff.to_dict()``."""
    source, edits, _base, _head = huge_repo
    run_git(jp_root_dir, "clone", "-q", str(source), "repo")
    (jp_root_dir / "repo" / NB).write_bytes((source / NB).read_bytes())
    clear_cache()
    response = await jp_fetch("mlops", "api", "review", "diff",
                              params={"path": f"repo/{NB}"})
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = json.loads(response.body)
    expected = diff(jp_root_dir / "repo" / NB).to_dict()
    expected["path"] = f"repo/{NB}"
    for reply in (body, expected):
        reply.pop("elapsed_ms")
    assert body == json.loads(json.dumps(expected))
    assert {c["cell_id"] for c in body["cells"] if c["status"] == "modified"} == \
        set(edits.modified)


def test_a_diff_found_in_the_cache_reads_neither_revision(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reopening the diff of an unchanged pair hashes the working copy (in pieces) and asks
    git for the blob's name; neither notebook is read whole, nor parsed."""
    from jupyter_mlops.review import diffs

    base, head, edits = make_huge_pair(40)
    run_git(tmp_path, "init", "-q")
    (tmp_path / NB).write_text(dumps(base), encoding="utf-8")
    run_git(tmp_path, "add", NB)
    run_git(tmp_path, "commit", "-q", "-m", "base")
    (tmp_path / NB).write_text(dumps(head), encoding="utf-8")
    clear_cache()
    first = diff(tmp_path / NB)

    def never(*_args: Any) -> Any:
        raise AssertionError("read again")

    monkeypatch.setattr(diffs, "_read_working", never)
    monkeypatch.setattr(diffs, "_lean_blob", never)
    monkeypatch.setattr(diffs, "load_lean", never)
    again = diff(tmp_path / NB)
    assert again.cells is first.cells
    assert {c.cell_id for c in again.cells if c.status == "modified"} == set(edits.modified)
