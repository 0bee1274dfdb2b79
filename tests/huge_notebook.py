"""A huge notebook and a realistic edit of it, generated deterministically (issue #15 item 4):
2,000 cells, about 20 MB, 200 of them showing a PNG of 50-80 KB; the head changes a few
sources, inserts and deletes cells, moves one, re-runs some cells (their printed text or their
image changes) and edits the last cell, which sits below a big image.

``make_huge_pair()`` gives both notebooks and ``HugeEdits``, what a diff must find (and
nothing else). Used by tests/test_review_huge.py, tests/ui/test_review_huge.py and
benchmarks/diff.py."""

from __future__ import annotations

import base64
import copy
import json
import random
import zlib
from dataclasses import dataclass, field
from typing import Any

CELLS = 2000
IMAGES = 200
#: every IMAGE_EVERY-th cell shows an image (CELLS / IMAGES)
IMAGE_EVERY = CELLS // IMAGES
_WORDS = ("churn", "revenue", "clicks", "sessions", "basket", "tenure", "region", "device",
          "plan", "refunds", "latency", "visits", "orders", "ratings", "signups", "returns")


def png(seed: int) -> str:
    """A real noise PNG of 50-80 KB (noise does not compress), base64 as notebooks keep it."""
    rng = random.Random(seed)
    side = rng.randrange(132, 164)  # side² · 3 bytes: 52-80 KB of pixels
    row = side * 3
    raw = b"".join(b"\x00" + rng.randbytes(row) for _ in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    ihdr = side.to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00"
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 1))
            + chunk(b"IEND", b""))
    return base64.b64encode(data).decode() + "\n"


def _source(n: int) -> str:
    rng = random.Random(n)
    names = rng.sample(_WORDS, 3)
    lines = [f"# step {n}: {names[0]} by {names[1]}"]
    lines += [f"{names[k % 3]}_{k} = transform({names[(k + 1) % 3]}, {rng.choice(_WORDS)}="
              f"{rng.randrange(1, 99)}, window={rng.randrange(2, 60)})"
              for k in range(rng.randrange(4, 9))]
    lines.append(f"print({names[0]}_0.describe())")
    return "\n".join(lines)


def _stream(n: int, run: int) -> dict[str, Any]:
    rng = random.Random(run * 1_000_003 + n)
    text = "".join(f"epoch {e:>3}: loss={rng.random():.6f} accuracy={rng.random():.4f} "
                   f"val_loss={rng.random():.6f}\n" for e in range(14))
    return {"output_type": "stream", "name": "stdout", "text": text}


def _image(seed: int) -> dict[str, Any]:
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": png(seed), "text/plain": "<Figure size 640x480 with 1 Axes>"}}


def _cell(n: int) -> dict[str, Any]:
    if n % 25 == 12:
        return {"cell_type": "markdown", "id": f"cell-{n}", "metadata": {},
                "source": f"## Part {n // 25}\n\nWhat the next steps do, and why."}
    outputs = [_stream(n, 1)]
    if n % IMAGE_EVERY == IMAGE_EVERY - 1:
        outputs.append(_image(n))
    return {"cell_type": "code", "id": f"cell-{n}", "execution_count": n + 1, "metadata": {},
            "outputs": outputs, "source": _source(n)}


@dataclass
class HugeEdits:
    """What changed from base to head, by cell id."""

    modified_source: list[str] = field(default_factory=list)
    outputs_only: list[str] = field(default_factory=list)  # source equal, outputs changed
    images_changed: list[str] = field(default_factory=list)  # among outputs_only
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    last_change: str = ""  # the last cell that changed, right below a big image

    @property
    def modified(self) -> list[str]:
        return self.modified_source + self.outputs_only


def make_huge_pair(cells: int = CELLS) -> tuple[dict[str, Any], dict[str, Any], HugeEdits]:
    """(base, head, edits): nbformat 4.5 notebooks (with cell ids). Fewer ``cells``: the
    same kinds of edit at the same relative places."""
    base_cells = [_cell(n) for n in range(cells)]
    head = copy.deepcopy(base_cells)
    by_id = {c["id"]: c for c in head}
    edits = HugeEdits()
    code_ids = [c["id"] for c in base_cells if c["cell_type"] == "code"]
    image_ids = [c["id"] for c in base_cells if len(c.get("outputs", ())) == 2]
    used: set[str] = set()

    def pick(ids: list[str], at: int, out_of: int) -> str | None:
        cell_id = ids[at * len(ids) // out_of]
        if cell_id in used:
            return None
        used.add(cell_id)
        return cell_id

    # the last image cell but one, and the cell after it: a source edit below a big output
    last_image = image_ids[-2]
    after = base_cells[[c["id"] for c in base_cells].index(last_image) + 1]
    used.update((last_image, after["id"]))
    moved_id = pick([c["id"] for c in base_cells], 480, CELLS)
    removed = [pick([c["id"] for c in base_cells], k, CELLS) for k in (555, 1555)]
    # sources edited: a changed argument, a line added
    for k in (3, 40, 420, 1010, 1600):
        cell_id = pick(code_ids, k, CELLS)
        if cell_id is None:
            continue
        cell = by_id[cell_id]
        cell["source"] = cell["source"].replace("window=", "window=2 * ", 1) + \
            "\nprint('checked')"
        edits.modified_source.append(cell_id)
    # re-run: printed text changed, and three images redrawn
    for k in (100, 300, 700, 900, 1300, 1700):
        cell_id = pick(code_ids, k, CELLS)
        if cell_id is not None:
            by_id[cell_id]["outputs"][0] = _stream(int(cell_id[5:]), 2)
            edits.outputs_only.append(cell_id)
    for k in (20, 90, 150):
        cell_id = pick(image_ids, k, IMAGES)
        if cell_id is not None:
            by_id[cell_id]["outputs"][1] = _image(10_000 + k)
            edits.outputs_only.append(cell_id)
            edits.images_changed.append(cell_id)
    by_id[after["id"]]["source"] = after["source"] + "\nprint('the very last change')"
    edits.modified_source.append(after["id"])
    edits.last_change = after["id"]
    # removed: two cells apart
    for cell_id in removed:
        if cell_id is not None:
            head.remove(by_id[cell_id])
            edits.removed.append(cell_id)
    # added: a new cell in three places
    for k, where in enumerate((10, 777, 1420)):
        new = {"cell_type": "code", "id": f"new-{k}", "execution_count": None, "metadata": {},
               "outputs": [], "source": f"# added {k}\nsanity_check(model, sample={k})"}
        head.insert(where * cells // CELLS, new)
        edits.added.append(new["id"])
    # moved: one cell from the first quarter into the third
    if moved_id is not None:
        moved = by_id[moved_id]
        head.remove(moved)
        head.insert(1500 * cells // CELLS, moved)
        edits.moved.append(moved_id)
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                           "language": "python"}, "language_info": {"name": "python"}}
    return ({"cells": base_cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5},
            {"cells": head, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}, edits)


def _lines(text: str) -> list[str]:
    return text.splitlines(True)


def dumps(nb: dict[str, Any]) -> str:
    """The notebook as nbformat writes it: one space of indent, sorted keys, sources and text
    as lists of lines (images as one string)."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        cell["source"] = _lines(cell["source"])
        for output in cell.get("outputs", ()):
            if "text" in output:
                output["text"] = _lines(output["text"])
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/"):
                    output["data"][mime] = _lines(value)
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
