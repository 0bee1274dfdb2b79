"""Notebook diff benchmark: our cell-aware diff against nbdime 4.0.4's ``diff_notebooks``, in
one run, on the same notebook pairs.

Each pair is a generated notebook of 200 or 500 cells (code and markdown; stream, rich and
image outputs) and the same notebook re-run and edited: every output changed, five source
edits, one cell moved. Both diffs compare outputs. Reported: the CPU time of each (the
machines are shared, so CPU time, not wall time; the best of several runs; both diffs get
parsed notebooks, and our JSON parse is shown beside), the ratio, whether both align the cells
the same way (nbdime has no moves: it removes the moved cell and adds it again, where we call
it moved), and whether nbdime's ``patch`` of our nbdime-format diff gives the head back. Both
also diff the same pair without cell ids (nbformat 4.4), where cells are matched by content
(nbdime's slow case: it compares outputs while aligning). Target: ours >= 50x faster.
Bigger outputs: --log-lines, --table-rows.

Then the huge notebook (issue #15 item 4; tests/huge_notebook.py): 2,000 cells, 200 PNGs of
50-80 KB, 20 MB, edited (sources changed, cells added, removed and moved, outputs and images
re-drawn), the working copy of a git repository diffed against HEAD as the server does it —
reading both revisions, parsing, diffing; then the REST body (``json_parts``) apart.
nbdime reads the same two files with nbformat and diffs them. Time (CPU and wall, best of
--repeat; nbdime once), and peak memory of each (tracemalloc, in a child process each).
Target: ours <= 1 s wall and <= 3x the file's size of memory. --no-huge skips it.

    .venv/bin/python benchmarks/diff.py [--sizes 200,500] [--repeat 7] [--no-huge]
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import random
import subprocess
import sys
import tempfile
import textwrap
import time
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jupyter_mlops.review.engine import diff_notebooks  # noqa: E402
from jupyter_mlops.review.model import DiffFilters  # noqa: E402
from jupyter_mlops.review.notebook import load_notebook  # noqa: E402

TARGET_RATIO = 50.0
HUGE_SECONDS = 1.0  # the huge notebook's diff, wall time in the server
HUGE_MEMORY = 3.0  # its peak memory, times the file's size
EDITS = 5
LOG_LINES = 8  # lines of a training log a cell prints
TABLE_ROWS = 6  # rows of a table a cell shows (text/html and text/plain)


def _png(seed: int) -> str:
    """A real 32x24 PNG (noise), base64 with line breaks as notebooks keep it."""
    rng = random.Random(seed)
    raw = b"".join(b"\x00" + bytes(rng.randrange(256) for _ in range(32 * 3))
                   for _ in range(24))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    ihdr = (32).to_bytes(4, "big") + (24).to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))
    text = base64.b64encode(data).decode()
    return "\n".join(text[i:i + 76] for i in range(0, len(text), 76)) + "\n"


def _outputs(n: int, run: int, log_lines: int, table_rows: int) -> list[dict[str, Any]]:
    """What cell ``n`` printed on run ``run``: numbers that change from run to run."""
    rng = random.Random(run * 100_003 + n)
    kind = n % 4
    if kind == 0:
        return [{"output_type": "stream", "name": "stdout",
                 "text": "".join(f"epoch {e}: loss={rng.random():.6f} acc={rng.random():.4f}\n"
                                 for e in range(log_lines))}]
    if kind == 1:
        rows = "".join(f"<tr><td>{r}</td><td>{rng.random():.5f}</td><td>{rng.random():.5f}"
                       "</td></tr>\n" for r in range(table_rows))
        plain = "\n".join(f"{r}  {rng.random():.5f}  {rng.random():.5f}"
                          for r in range(table_rows))
        return [{"output_type": "execute_result", "execution_count": n, "metadata": {},
                 "data": {"text/plain": plain, "text/html": f"<table>{rows}</table>"}}]
    if kind == 2:
        return [{"output_type": "display_data", "metadata": {},
                 "data": {"image/png": _png(run * 7919 + n),
                          "text/plain": "<Figure size 640x480 with 1 Axes>"}}]
    return [{"output_type": "stream", "name": "stdout", "text": f"{rng.random():.8f}\n"},
            {"output_type": "execute_result", "execution_count": n, "metadata": {},
             "data": {"text/plain": f"array([{rng.random():.4f}, {rng.random():.4f}])"}}]


_WORDS = ("churn", "revenue", "clicks", "sessions", "basket", "tenure", "region", "device",
          "plan", "refunds", "latency", "visits", "orders", "ratings", "signups", "returns")
_VERBS = ("load", "clean", "merge", "pivot", "fit", "score", "sample", "encode", "scale",
          "split", "rank", "bucket")


def _source(n: int) -> str:
    """A code cell's source, unlike its neighbours' (as real cells are)."""
    rng = random.Random(n)
    names = rng.sample(_WORDS, 3)
    verbs = rng.sample(_VERBS, 4)
    lines = [f"# {names[0]} by {names[1]}"]
    lines += [f"{names[k % 3]}_{k} = {verbs[k]}({names[(k + 1) % 3]}, "
              f"{rng.choice(_WORDS)}={rng.randrange(1, 99)})" for k in range(rng.randrange(2, 5))]
    lines.append(f"model = fit({names[2]}_0, epochs={n % 5 + 2})")
    lines.append(f"print({names[0]}_{len(lines) - 2})")
    return "\n".join(lines)


def make_pair(cells: int, log_lines: int = LOG_LINES, table_rows: int = TABLE_ROWS
              ) -> tuple[dict[str, Any], dict[str, Any], int, int]:
    """(base, head, moved cell's base index, its head index), nbformat 4.5 with ids."""
    base_cells = []
    for n in range(cells):
        if n % 6 == 5:
            base_cells.append({"cell_type": "markdown", "id": f"cell-{n}", "metadata": {},
                               "source": f"## Part {n // 6}\nWhat step {n} does and why."})
        else:
            base_cells.append({"cell_type": "code", "id": f"cell-{n}", "execution_count": n,
                               "metadata": {}, "outputs": _outputs(n, 1, log_lines, table_rows),
                               "source": _source(n)})
    head_cells = copy.deepcopy(base_cells)
    for n, cell in enumerate(head_cells):
        if cell["cell_type"] == "code":
            cell["outputs"] = _outputs(n, 2, log_lines, table_rows)  # every output changed
            cell["execution_count"] = n + cells
    code_cells = [n for n, c in enumerate(head_cells) if c["cell_type"] == "code"]
    for k in range(EDITS):  # five source edits, spread out
        n = code_cells[(k + 1) * len(code_cells) // (EDITS + 2)]
        head_cells[n]["source"] = str(head_cells[n]["source"]).replace(
            "epochs=", "epochs=10 * ")
    moved_from, moved_to = cells // 3 + 1, 2 * cells // 3
    head_cells.insert(moved_to, head_cells.pop(moved_from))
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                           "language": "python"}, "language_info": {"name": "python"}}
    return ({"cells": base_cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5},
            {"cells": head_cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5},
            moved_from, moved_to)


def without_ids(nb: dict[str, Any]) -> dict[str, Any]:
    nb = copy.deepcopy(nb)
    nb["nbformat_minor"] = 4
    for cell in nb["cells"]:
        cell.pop("id", None)
    return nb


def nbdime_pairs(diff: list[Any], n_base: int) -> tuple[set[tuple[int, int]], set[int],
                                                        set[int]]:
    """nbdime's alignment: matched (base, head) pairs, removed base cells, added head cells."""
    cells_diff = next((e["diff"] for e in diff if e["key"] == "cells"), [])
    pairs: set[tuple[int, int]] = set()
    removed: set[int] = set()
    added: set[int] = set()
    head = 0
    taken = 0
    for e in cells_diff:
        key = e["key"]
        while taken < key:
            pairs.add((taken, head))
            taken += 1
            head += 1
        if e["op"] == "addrange":
            for _ in e["valuelist"]:
                added.add(head)
                head += 1
        elif e["op"] == "removerange":
            removed.update(range(key, key + e["length"]))
            taken = key + e["length"]
        elif e["op"] == "patch":
            pairs.add((key, head))
            taken, head = key + 1, head + 1
    while taken < n_base:
        pairs.add((taken, head))
        taken += 1
        head += 1
    return pairs, removed, added


def ours_pairs(cells: list[Any]) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    in_order = {(c.base_index, c.head_index) for c in cells
                if c.status in ("unchanged", "modified")}
    moved = {(c.base_index, c.head_index) for c in cells if c.status == "moved"}
    return in_order, moved


def time_ours(base_text: str, head_text: str, repeat: int) -> tuple[float, float, Any]:
    """Best CPU time of our diff of the parsed notebooks, and of parsing them."""
    diffs, parses, result = [], [], None
    for _ in range(repeat):
        began = time.process_time()
        base = load_notebook(base_text, "base")
        head = load_notebook(head_text, "head")
        parsed = time.process_time()
        result = diff_notebooks(base, head, DiffFilters())
        diffs.append(time.process_time() - parsed)
        parses.append(parsed - began)
    return min(diffs), min(parses), result


def time_nbdime(base_text: str, head_text: str, repeat: int) -> tuple[float, float, Any]:
    """Best CPU time and its wall time of nbdime's diff_notebooks (inputs parsed first)."""
    import nbformat
    from nbdime import diff_notebooks as nbdime_diff

    a = nbformat.reads(base_text, as_version=4)
    b = nbformat.reads(head_text, as_version=4)
    best, wall, result = float("inf"), 0.0, None
    for _ in range(repeat):
        began, began_wall = time.process_time(), time.perf_counter()
        result = nbdime_diff(a, b)
        took = time.process_time() - began
        if took < best:
            best, wall = took, time.perf_counter() - began_wall
    return best, wall, result


def patch_roundtrip(base_text: str, head_text: str) -> bool:
    from nbdime.diff_utils import to_diffentry_dicts
    from nbdime.patching import patch

    base, head = load_notebook(base_text, "base"), load_notebook(head_text, "head")
    _cells, _summary, ops, _ms = diff_notebooks(base, head, DiffFilters.everything())
    patched = json.loads(json.dumps(patch(copy.deepcopy(base), to_diffentry_dicts(ops))))
    return bool(patched == head)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,500")
    parser.add_argument("--log-lines", type=int, default=LOG_LINES)
    parser.add_argument("--table-rows", type=int, default=TABLE_ROWS)
    parser.add_argument("--repeat", type=int, default=7, help="runs of ours (best taken)")
    parser.add_argument("--nbdime-repeat", type=int, default=0,
                        help="runs of nbdime (best taken; default 3 up to 200 cells, else 1)")
    parser.add_argument("--no-huge", dest="huge", action="store_false",
                        help="skip the 20 MB notebook (tests/huge_notebook.py)")
    args = parser.parse_args()

    import nbdime
    import nbformat

    print(f"nbdime {nbdime.__version__}, nbformat {nbformat.__version__}, "
          f"python {sys.version.split()[0]}")
    print("CPU time, best of runs (ours: --repeat; nbdime: --nbdime-repeat)")
    print("both diff parsed notebooks; ours also parses the JSON text in '+parse'")
    print(f"{'cells':>5} {'format':<13} {'ours ms':>8} {'+parse':>7} {'nbdime s':>9} "
          f"{'(wall s)':>9} {'ratio':>7}  same alignment  patch ok")
    ok = True
    for size in (int(s) for s in args.sizes.split(",")):
        pair = make_pair(size, args.log_lines, args.table_rows)
        base, head, moved_from, moved_to = pair
        runs = args.nbdime_repeat or (3 if size <= 200 else 1)
        for label, (b, h) in (("4.5 (ids)", (base, head)),
                              ("4.4 (no ids)", (without_ids(base), without_ids(head)))):
            base_text, head_text = json.dumps(b, indent=1), json.dumps(h, indent=1)
            ours_s, parse_s, (cells, summary, _o, _m) = time_ours(base_text, head_text,
                                                                  args.repeat)
            nbdime_s, nbdime_wall, theirs = time_nbdime(base_text, head_text, runs)
            pairs, removed, added = nbdime_pairs(theirs, len(b["cells"]))
            in_order, moved = ours_pairs(cells)
            same = in_order == pairs and moved == {(moved_from, moved_to)} and \
                removed == {moved_from} and added == {moved_to}
            roundtrip = patch_roundtrip(base_text, head_text)
            ratio = nbdime_s / ours_s
            ok &= same and roundtrip and ratio >= TARGET_RATIO
            print(f"{size:>5} {label:<13} {ours_s * 1000:>8.1f} {parse_s * 1000:>7.1f} "
                  f"{nbdime_s:>9.2f} "
                  f"{nbdime_wall:>9.2f} {ratio:>6.0f}x  {'yes' if same else 'NO':<15} "
                  f"{'yes' if roundtrip else 'NO'}")
        print(f"      ours: {summary.to_text()}")
    print(f"target: ours >= {TARGET_RATIO:.0f}x faster than nbdime with outputs compared, same "
          f"alignment: {'met' if ok else 'MISSED'}")
    if args.huge:
        ok &= huge(args.repeat)
    return 0 if ok else 1


_PEAK = textwrap.dedent("""
    import json, sys, tracemalloc
    sys.path.insert(0, {root!r})
    {imports}
    tracemalloc.start()
    {work}
    print(json.dumps(tracemalloc.get_traced_memory()[1]))
""")
_OURS = ("from jupyter_mlops.review.diffs import diff", "diff({path!r})")
_NBDIME = ("import nbformat; from nbdime import diff_notebooks",
           "diff_notebooks(nbformat.read({base!r}, as_version=4), "
           "nbformat.read({path!r}, as_version=4))")


def _peak(imports: str, work: str) -> int:
    """Peak traced memory of ``work`` in a fresh interpreter (bytes), its modules imported
    before counting."""
    code = _PEAK.format(root=str(ROOT), imports=imports, work=work)
    done = subprocess.run([sys.executable, "-c", code],
                          capture_output=True, text=True, check=True, timeout=1800)
    return int(done.stdout.strip().splitlines()[-1])


def huge(repeat: int) -> bool:
    """The 20 MB notebook against nbdime: time, memory, the edits found."""
    import nbformat
    from nbdime import diff_notebooks as nbdime_diff

    from jupyter_mlops.review.diffs import clear_cache, diff
    from tests.huge_notebook import CELLS, IMAGES, dumps, make_huge_pair

    base, head, edits = make_huge_pair()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        path, base_path = repo / "huge.ipynb", repo / "huge-base.ipynb"
        git = ["git", "-C", tmp, "-c", "user.name=bench", "-c", "user.email=b@example.invalid"]
        subprocess.run([*git, "init", "-q"], check=True)
        path.write_text(dumps(base), encoding="utf-8")
        subprocess.run([*git, "add", path.name], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "base"], check=True)
        path.write_text(dumps(head), encoding="utf-8")
        base_path.write_text(dumps(base), encoding="utf-8")
        del base, head
        size = path.stat().st_size
        cpu, wall, body_s, body_mb = float("inf"), float("inf"), float("inf"), 0.0
        result = None
        for _ in range(repeat):
            clear_cache()
            began, began_wall = time.process_time(), time.perf_counter()
            result = diff(path)
            cpu = min(cpu, time.process_time() - began)
            wall = min(wall, time.perf_counter() - began_wall)
            began_wall = time.perf_counter()
            body = sum(len(part) for part in result.json_parts())  # as GET review/diff
            body_s = min(body_s, time.perf_counter() - began_wall)
            body_mb = body / 1e6
        assert result is not None
        found = {c.cell_id for c in result.cells if c.status == "modified"}
        right = found == set(edits.modified) and result.summary.added == len(edits.added) \
            and result.summary.removed == len(edits.removed) and \
            result.summary.moved == len(edits.moved)
        began, began_wall = time.process_time(), time.perf_counter()
        a = nbformat.read(base_path, as_version=4)
        b = nbformat.read(path, as_version=4)
        nbdime_diff(a, b)
        nbdime_cpu = time.process_time() - began
        nbdime_wall = time.perf_counter() - began_wall
        del a, b
        ours_peak = _peak(_OURS[0], _OURS[1].format(path=str(path)))
        nbdime_peak = _peak(_NBDIME[0], _NBDIME[1].format(base=str(base_path), path=str(path)))
    mb = size / 1e6
    print(f"\nhuge notebook: {CELLS} cells, {IMAGES} images, {mb:.1f} MB; working copy "
          f"against HEAD ({result.summary.to_text()}; the edits made: "
          f"{'found' if right else 'NOT found'})")
    print(f"{'':<22} {'ours':>10} {'nbdime':>10} {'ratio':>7}")
    print(f"{'CPU s':<22} {cpu:>10.3f} {nbdime_cpu:>10.2f} {nbdime_cpu / cpu:>6.0f}x")
    print(f"{'wall s':<22} {wall:>10.3f} {nbdime_wall:>10.2f} {nbdime_wall / wall:>6.0f}x")
    print(f"{'peak memory MB':<22} {ours_peak / 1e6:>10.1f} {nbdime_peak / 1e6:>10.1f} "
          f"{nbdime_peak / ours_peak:>6.1f}x")
    print(f"{'  x the file':<22} {ours_peak / size:>10.2f} {nbdime_peak / size:>10.2f}")
    print(f"REST body (json_parts, a cell at a time): {body_s:.3f} s wall, {body_mb:.1f} MB")
    ok = right and wall <= HUGE_SECONDS and ours_peak <= HUGE_MEMORY * size
    print(f"target: the diff in <= {HUGE_SECONDS:.0f} s and <= {HUGE_MEMORY:.0f}x the file's "
          f"size of memory: {'met' if ok else 'MISSED'}")
    return ok


if __name__ == "__main__":
    sys.exit(main())
