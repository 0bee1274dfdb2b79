"""Notebook -> pipeline benchmark: our local runner against its anchors, in one run.

A generated 10-step notebook (a chain: each step reads the one before; numpy in a shared
imports cell) is run by

  * papermill, executing the notebook top to bottom in one kernel (the anchor),
  * our local runner (each step in its own process, forked from a warm worker that ran the
    imports cell once; content-hash cache), cold then unchanged,
  * the same steps as a Prefect 3 flow (our Prefect export, in its own venv), cold then
    unchanged,

and a generated 500-cell notebook is converted (``from_notebook``). Overhead per step is the
wall time less the time the notebook's own code took, divided by the 10 steps. The result
(the last step's array, printed by the last cell) must be the same from every runner. Targets:
first run >= 3x faster than papermill, <= 150 ms overhead per step, unchanged re-run <= 1 s,
500-cell conversion <= 1 s.

    .venv/bin/python benchmarks/pipeline.py [--prefect-python PATH] [--skip-papermill]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jupyter_mlops.pipeline import from_notebook  # noqa: E402

STEPS = 10
TARGET_OVERHEAD_MS = 150.0
TARGET_RERUN_S = 1.0
TARGET_CONVERT_S = 1.0
TARGET_FIRST_RUN_RATIO = 3.0
#: what the notebook's last cell prints: the final array's sum and digest
FINAL = re.compile(r"\bfinal \S+ [0-9a-f]{64}\b")


def write(path: Path, cells: list[tuple[str, list[str]]]) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for source, tags in cells:
        nb.cells.append(new_code_cell(source, metadata={"tags": tags} if tags else {}))
    nbformat.write(nb, str(path))
    return path


def ten_step_notebook(path: Path) -> Path:
    cells: list[tuple[str, list[str]]] = [
        ("%load_ext jupyter_mlops", []),  # the step marks are magics when papermill runs it
        ("import numpy as np", ["imports"]),
        ("size = 20000\nseed = 0", ["parameters"]),
        ("%%mlops step s0\nvalues = np.random.default_rng(seed).normal(size=size)", []),
    ]
    for i in range(1, STEPS):
        cells.append((f"%%mlops step s{i}\nvalues = np.sort(values * 1.0001 + {i})\n"
                      f"summary_{i} = float(values.mean())", []))
    # joins the last step: the result every runner must give
    cells.append(("import hashlib\n"
                  "print('final', float(values.sum()), hashlib.sha256(values.tobytes())"
                  ".hexdigest())", []))
    return write(path, cells)


def big_notebook(path: Path, cells: int = 500) -> Path:
    out: list[tuple[str, list[str]]] = [("import math\nimport json", ["imports"])]
    for i in range(cells - 1):
        if i % 5 == 0:
            prev = f"v{i - 5}" if i else "1"
            out.append((f"%%mlops step s{i}\nv{i} = {prev} + math.sqrt({i})", []))
        else:
            out.append((f"w{i} = [v{i - i % 5} * k for k in range({i % 7})]\n"
                        f"t{i} = sum(w{i})", []))
    return write(path, out)


def timed(fn: object) -> tuple[float, object]:
    began = time.perf_counter()
    result = fn()  # type: ignore[operator]
    return time.perf_counter() - began, result


def final_line(text: str) -> str | None:
    found = FINAL.findall(text)
    return found[-1] if found else None


def run_papermill(nb: Path, out: Path) -> tuple[float, float, str | None]:
    """(wall seconds, seconds the cells' code took, the result line it printed)."""
    import papermill

    wall, _ = timed(lambda: papermill.execute_notebook(
        str(nb), str(out), kernel_name="python3", progress_bar=False, log_output=False,
        cwd=str(nb.parent), prepare_only=False))
    cells = json.loads(out.read_text())["cells"]
    code = sum(c["metadata"].get("papermill", {}).get("duration") or 0.0 for c in cells)
    printed = "".join("".join(o.get("text", "")) for c in cells for o in c.get("outputs", []))
    return wall, code, final_line(printed)


def run_prefect(python: str, flow: Path, artifacts: Path, home: Path) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "PREFECT"))}
    env.update(PYTHONPATH=str(ROOT), PREFECT_HOME=str(home), DO_NOT_TRACK="1",
               PREFECT_SERVER_ANALYTICS_ENABLED="false",
               MLOPS_PIPELINE_ARTIFACTS=str(artifacts))
    began = time.perf_counter()
    done = subprocess.run([python, str(flow)], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError("the Prefect flow failed:\n" + (done.stdout + done.stderr)[-3000:])
    return wall, done.stdout + done.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_prefect = Path(os.environ.get("MLOPS_ENGINES_DIR", "/tmp/jupyter-mlops-engines")) \
        / "prefect" / "bin" / "python"
    parser.add_argument("--prefect-python", default=str(default_prefect),
                        help="a Python with Prefect 3 (default: the tests' engine venv)")
    parser.add_argument("--skip-papermill", action="store_true")
    args = parser.parse_args(argv)

    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "mlops.toml").write_text('[pipeline]\nartifacts = "artifacts"\n')
        nb = ten_step_notebook(tmp / "ten.ipynb")
        pipeline = from_notebook(nb)
        assert [s.name for s in pipeline.steps] == [f"s{i}" for i in range(STEPS)]

        # ---- ours: cold, then unchanged
        cold_wall, cold = timed(pipeline.run)
        assert cold.ok, cold.to_text()  # type: ignore[attr-defined]
        results = cold.results  # type: ignore[attr-defined]
        code = sum(r["seconds"] for r in results.values())
        shared = sum(r.get("shared_seconds", 0.0) for r in results.values())
        ours_overhead = (cold_wall - code - shared) / STEPS
        ours_result = final_line(cold.log(f"s{STEPS - 1}"))  # type: ignore[attr-defined]
        assert ours_result, "the last step printed no result"
        warm_wall, warm = timed(pipeline.run)
        assert {s.state for s in warm.steps.values()} == {"cached"}  # type: ignore[attr-defined]

        # ---- papermill (anchor)
        pm_wall = pm_overhead = None
        results = {"ours": ours_result}
        if not args.skip_papermill:
            pm_wall, pm_code, results["papermill"] = run_papermill(nb, tmp / "ten.out.ipynb")
            pm_overhead = (pm_wall - pm_code) / STEPS

        # ---- Prefect 3 flow of the same steps
        pf_cold = pf_warm = pf_overhead = None
        prefect = Path(args.prefect_python)
        pf_note = ""
        if prefect.is_file():
            flow = pipeline.export("prefect", tmp / "flows").files[0]
            artifacts = tmp / "prefect-artifacts"
            pf_cold, output = run_prefect(str(prefect), flow, artifacts, tmp / "prefect-home")
            results["Prefect"] = final_line(output)
            pf_overhead = (pf_cold - code - shared) / STEPS
            pf_warm, _ = run_prefect(str(prefect), flow, artifacts, tmp / "prefect-home")
        else:
            pf_note = f"(no Prefect at {prefect}: run `make engines` first)"

        # ---- conversion of a 500-cell notebook
        big = big_notebook(tmp / "big.ipynb")
        convert = []
        for _ in range(5):
            seconds, converted = timed(lambda: from_notebook(big))
            convert.append(seconds)
        steps_big = len(converted.steps)  # type: ignore[attr-defined]
        convert_s = statistics.median(convert)

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.0f} ms"

    def sec(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    print(f"10-step notebook (chain; numpy in a shared imports cell), {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]}")
    print(f"  notebook code itself: {code * 1000:.0f} ms in the steps, {shared * 1000:.0f} ms "
          "in their parameters cells (the imports cell ran once, in the run's warm worker)")
    header = ("", "first run", "unchanged re-run", "overhead / step")
    rows = [
        ("ours (local runner)", sec(cold_wall), sec(warm_wall), ms(ours_overhead)),
        ("papermill (anchor)", sec(pm_wall), sec(pm_wall), ms(pm_overhead)),
        ("Prefect 3 flow", sec(pf_cold), sec(pf_warm), ms(pf_overhead)),
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    if pf_note:
        print("  " + pf_note)
    print(f"500-cell notebook -> {steps_big} steps: conversion {convert_s * 1000:.0f} ms "
          f"(median of 5)")
    print("ratios (anchor time / ours; > 1 means we are faster):")
    ratio = pm_wall / cold_wall if pm_wall else None
    if pm_wall:
        print(f"  papermill / ours, first run:      {pm_wall / cold_wall:.2f}x")
        print(f"  papermill / ours, unchanged rerun: {pm_wall / warm_wall:.2f}x")
    if pf_cold and pf_warm:
        print(f"  Prefect / ours, first run:        {pf_cold / cold_wall:.2f}x")
        print(f"  Prefect / ours, unchanged rerun:  {pf_warm / warm_wall:.2f}x")
    print("result (the last cell's line):")
    for who, line in results.items():
        print(f"  {who}: {line}")
    checks = [
        *([(f"first run >= {TARGET_FIRST_RUN_RATIO:.0f}x faster than papermill",
            ratio >= TARGET_FIRST_RUN_RATIO, f"{ratio:.2f}x")] if ratio else []),
        ("the same result from every runner", len(set(results.values())) == 1
         and None not in results.values(), f"{len(results)} runners"),
        (f"overhead per step <= {TARGET_OVERHEAD_MS:.0f} ms",
         ours_overhead * 1000 <= TARGET_OVERHEAD_MS, ms(ours_overhead)),
        (f"unchanged re-run <= {TARGET_RERUN_S:.0f} s", warm_wall <= TARGET_RERUN_S,
         sec(warm_wall)),
        (f"500-cell conversion <= {TARGET_CONVERT_S:.0f} s", convert_s <= TARGET_CONVERT_S,
         sec(convert_s)),
    ]
    print("targets:")
    for name, ok, value in checks:
        print(f"  [{'met' if ok else 'MISSED'}] {name}: {value}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
