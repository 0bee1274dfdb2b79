"""A run of a notebook's pipeline in its own process (what the server starts), and the run
records on disk: list them, load one, write the record a run has before its process does,
and close the record of a process that died. The run itself is ``local.run_pipeline``.

    python -m jupyter_mlops.pipeline.runner NOTEBOOK --run-id ID [--from S] [--only S]
                                            [--parameters JSON]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, UserInputError
from ..paths import inside, make_folder
from .model import pipeline_name
from .results import RunResult as RunResult
from .results import StepEvent as StepEvent
from .results import StepState, runs_root, write_json
from .results import new_run_id as new_run_id

if TYPE_CHECKING:
    from .model import Pipeline



def runs_root_for(notebook: Path) -> Path:
    """The runs folder of a notebook, from its project's configuration alone (no parsing, so
    a notebook being edited still shows its runs)."""
    from ..config import load_config

    config = load_config(notebook.parent)
    return runs_root(str(config["pipeline.artifacts"]), pipeline_name(notebook),
                     config.state_dir)


def read_record(record: Path) -> dict[str, Any]:
    """A run.json as written, with the paths it names confined: ``folder`` is the run folder
    it lies in, and each step's ``log`` is ``<folder>/logs/<step>.log`` when that resolves
    inside the run folder (a symbolic link out of it, or a step name with ``..``, gives "").
    A repository can commit ``.mlops/``: a planted record names no file to open.
    Raises ValueError for a record that is not a run record (OSError when unreadable)."""
    data = json.loads(record.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list) or not all(
            isinstance(step, dict) for step in data["steps"]):
        raise ValueError(f"{record} is not a run record")
    folder = record.parent.resolve()
    data["folder"] = str(folder)
    for step in data["steps"]:
        name = step.get("name")
        log = folder / "logs" / f"{name}.log" if isinstance(name, str) else None
        step["log"] = str(log.resolve()) if log is not None and inside(log, folder) else ""
    return data


def list_runs(notebook: Path, limit: int = 20) -> list[RunResult]:
    """The newest runs of this notebook (from the kernel, the CLI or the panel)."""
    root = runs_root_for(notebook)
    if not root.is_dir():
        return []
    runs = []
    # ids start with the second they began: read the newest few hundred, order by start time
    for folder in sorted(root.iterdir(), reverse=True)[: max(limit * 10, 200)]:
        record = folder / "run.json"
        if not record.is_file() or not inside(record, root):
            continue  # a run folder linked out of the runs folder is not ours
        try:
            run = RunResult.from_dict(read_record(record))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if Path(run.notebook) == notebook:
            runs.append(run)
    runs.sort(key=lambda r: r.started, reverse=True)
    return runs[:limit]


def run_record(notebook: Path, run_id: str) -> Path:
    """The run.json of ``run_id``, which must resolve inside the notebook's runs folder (a
    run folder that links elsewhere is a 404, as a missing one)."""
    if not run_id.replace("-", "").isalnum():
        raise UserInputError(f"{run_id!r} is not a run id")
    root = runs_root_for(notebook)
    record = root / run_id / "run.json"
    if record.exists() and not inside(record, root):
        raise NotFoundError(f"no run {run_id} of {notebook.name} (its folder links out of "
                            f"{root})")
    return record


def load_run(notebook: Path, run_id: str) -> RunResult:
    record = run_record(notebook, run_id)
    try:
        return RunResult.from_dict(read_record(record))
    except FileNotFoundError:
        raise NotFoundError(f"no run {run_id} of {notebook.name}") from None
    except (ValueError, KeyError, TypeError):
        raise UserInputError(f"{record} is not a readable run record") from None


def starting_record(pipeline: Pipeline, run_id: str, parameters: Mapping[str, Any]) -> RunResult:
    """The record a run has before its process writes one (so the panel never sees a 404)."""
    folder = pipeline.runs_root / run_id
    make_folder(folder / "logs")
    result = RunResult(run_id, pipeline.name, str(pipeline.notebook), str(folder), "running",
                       dict(parameters), {s.name: StepState(s.name, log=str(
                           folder / "logs" / f"{s.name}.log")) for s in pipeline.order},
                       time.time(), artifacts=pipeline.artifacts,
                       endpoint_url=pipeline.endpoint_url)
    write_json(folder / "run.json", result.to_dict())
    return result


def mark_ended(record: Path, code: int) -> None:
    """A run process that ended without finishing its record (killed, crashed)."""
    try:
        data = json.loads(record.read_text())
    except (OSError, ValueError):
        return
    if data.get("state") != "running":
        return
    data["state"] = "failed" if code not in (-signal.SIGTERM, -signal.SIGKILL) else "cancelled"
    data["error"] = (f"the run's process ended with code {code}" if data["state"] == "failed"
                     else "the run was stopped")
    data["finished"] = time.time()
    for step in data["steps"]:
        if step["state"] in ("queued", "running"):
            step["state"], step["message"] = "skipped", "not finished: " + data["error"]
    write_json(record, data)


def main(argv: Sequence[str] | None = None) -> int:
    from .notebook import from_notebook

    parser = argparse.ArgumentParser(prog="python -m jupyter_mlops.pipeline.runner")
    parser.add_argument("notebook")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--from", dest="from_step")
    parser.add_argument("--only", action="append")
    parser.add_argument("--parameters", default="{}", help="JSON object")
    args = parser.parse_args(argv)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    pipeline = from_notebook(args.notebook)
    try:
        result = pipeline.run(json.loads(args.parameters), from_step=args.from_step,
                              only=args.only, run_id=args.run_id,
                              on_progress=lambda e: print(f"{e.step}: {e.state} {e.message}",
                                                          flush=True))
    except KeyboardInterrupt:
        return 130
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
