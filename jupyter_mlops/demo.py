"""``jupyter mlops demo``: open the demo notebook in JupyterLab, or execute it headless."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .errors import NotFoundError, UserInputError

DEMO = Path("binder") / "demo.ipynb"


def find_demo(notebook: str | None) -> Path:
    if notebook:
        path = Path(notebook).expanduser().resolve()
        if not path.is_file():
            raise NotFoundError(f"no notebook at {path}")
        return path
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (base / DEMO).is_file():
            return (base / DEMO).resolve()
    raise NotFoundError(f"{DEMO} not found here: run from the jupyter-mlops checkout or pass "
                        "the notebook's path")


def run_demo(notebook: str | None = None, *, headless: bool = False,
             cell_timeout: int = 600) -> int:
    path = find_demo(notebook)
    if not headless:
        return subprocess.run([sys.executable, "-m", "jupyter", "lab", str(path)],
                              check=False, cwd=path.parent).returncode
    return execute_headless(path, cell_timeout=cell_timeout)


def _first_line(outputs: list[Any]) -> str:
    for output in outputs:
        if output.get("output_type") == "stream":
            text = output.get("text", "")
        elif output.get("output_type") in ("execute_result", "display_data"):
            text = output.get("data", {}).get("text/plain", "")
        else:
            continue
        text = "".join(text) if isinstance(text, list) else str(text)
        for line in text.splitlines():
            if line.strip():
                return line.strip()[:100]
    return ""


def execute_headless(path: Path, *, cell_timeout: int = 600) -> int:
    """Run every cell with nbclient in the notebook's folder, printing what each section did.

    Returns 0 when every cell ran, 1 when one failed (its error is printed); the notebook file
    itself is not modified.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    try:
        nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:
        raise UserInputError(f"{path} is not a readable notebook: {exc}") from None
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    print(f"Running {path.name}: {len(code_cells)} code cells", flush=True)
    index = 0
    began = time.perf_counter()
    # as jupyter_server does for a notebook's kernel: the kernel knows which notebook it runs
    with client.setup_kernel(env={**os.environ, "JPY_SESSION_NAME": str(path)}):
        for number, cell in enumerate(nb.cells):
            if cell.cell_type == "markdown":
                heading = next((line.lstrip("# ").strip() for line in cell.source.splitlines()
                                if line.startswith("#")), None)
                if heading:
                    print(f"\n== {heading}", flush=True)
                continue
            if cell.cell_type != "code":
                continue
            index += 1
            start = time.perf_counter()
            try:
                client.execute_cell(cell, number)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
                print(f"  [{index}/{len(code_cells)}] FAILED: {cell.source.splitlines()[0]}",
                      flush=True)
                # ename/evalue, not str(exc): its last line carries the kernel's ANSI colours
                error = (f"{exc.ename}: {exc.evalue}" if isinstance(exc, CellExecutionError)
                         else str(exc).strip().splitlines()[0])
                print(error, file=sys.stderr)
                return 1
            summary = _first_line(cell.outputs)
            print(f"  [{index}/{len(code_cells)}] ok ({time.perf_counter() - start:.1f} s)"
                  f" {cell.source.splitlines()[0] if cell.source else ''}"
                  + (f"\n      -> {summary}" if summary else ""), flush=True)
    print(f"\nDemo finished: {len(code_cells)} cells in {time.perf_counter() - began:.1f} s")
    return 0
