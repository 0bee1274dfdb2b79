"""What running or exporting a pipeline gives back: a run's record (``RunResult`` with a
``StepState`` per step), the ``StepEvent`` a progress callback receives, and an
``ExportResult``. A leaf module: the model, the local runner, the exports, the REST routes and
the kernel's displays all read these types, and none of them is needed to make one."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Literal, get_args

from ..errors import NotFoundError
from ..paths import inside

StepStateName = Literal["queued", "running", "cached", "done", "failed", "skipped"]
RunState = Literal["running", "done", "failed", "cancelled"]
Target = Literal["airflow", "prefect", "kfp"]

STATES: tuple[StepStateName, ...] = get_args(StepStateName)
RUN_STATES: tuple[RunState, ...] = get_args(RunState)
TARGETS: tuple[Target, ...] = get_args(Target)


def runs_root(artifacts: str, name: str, state_dir: Path) -> Path:
    """Where run records and step logs go: beside the artifacts when they are local, under
    the project's state folder when the artifacts live in S3."""
    if "://" not in artifacts:
        return Path(artifacts) / name / "runs"
    return state_dir / "pipelines" / name / "runs"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def write_json(path: Path, data: Any) -> None:
    """Replace ``path`` at once (the panel polls run records while they change)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(json.dumps(data, indent=1, default=repr))
    os.replace(tmp, path)


@dataclass
class StepEvent:
    """One change of one step's state, as progress callbacks receive it."""

    run_id: str
    step: str
    state: StepStateName
    message: str = ""
    seconds: float | None = None
    cell: int | None = None
    line: int | None = None


@dataclass
class StepState:
    name: str
    state: StepStateName = "queued"
    started: float | None = None
    finished: float | None = None
    seconds: float | None = None  # the step's own code, in its process
    cache_key: str | None = None
    attempts: int = 0
    message: str = ""
    error: dict[str, Any] | None = None
    outputs: list[str] = field(default_factory=list)
    log: str = ""


@dataclass
class RunResult:
    """A run of a pipeline: its state, each step's state, where the logs are."""

    run_id: str
    pipeline: str
    notebook: str
    folder: str
    state: RunState
    parameters: dict[str, Any]
    steps: dict[str, StepState]
    started: float
    finished: float | None = None
    artifacts: str = ""
    endpoint_url: str = ""
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.state == "done"

    @property
    def failed_step(self) -> StepState | None:
        return next((s for s in self.steps.values() if s.state == "failed"), None)

    def value(self, step: str, name: str) -> Any:
        """An output a step handed on, loaded from the artifact store."""
        from . import runtime

        if step not in self.results:
            raise NotFoundError(f"step {step!r} has no outputs in run {self.run_id}")
        if name not in self.results[step]["outputs"]:
            kept = ", ".join(self.results[step]["outputs"]) or "none"
            raise NotFoundError(f"step {step!r} hands on no {name!r} (it hands on: {kept})")
        # an S3 run's folder is <state dir>/pipelines/NAME/runs/ID (runs_root): the project's
        # digest key lies in that state dir
        key_file = str(Path(self.folder).parents[3] / runtime.KEY_FILE_NAME) \
            if "://" in self.artifacts else None
        return runtime.load_output(self.results[step], name, artifacts=self.artifacts,
                                   endpoint_url=self.endpoint_url, key_file=key_file)

    def log(self, step: str) -> str:
        path = Path(self.folder) / "logs" / f"{step}.log"
        # a log linked out of its run folder (a repository can commit .mlops/) is not read
        return path.read_text(errors="replace") if path.is_file() and inside(
            path, self.folder) else ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["steps"] = [asdict(s) for s in self.steps.values()]
        data["ok"] = self.ok
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["steps"] = {s["name"]: StepState(**s) for s in data["steps"]}
        return cls(**fields)

    def to_text(self) -> str:
        """The run as a terminal shows it: one line per step, then what to do next."""
        took = (self.finished or time.time()) - self.started
        lines = [f"Run {self.run_id} of {self.pipeline}: {self.state} ({took:.1f} s)"]
        for state in self.steps.values():
            detail = state.message if state.state in ("failed", "skipped") else (
                "" if state.seconds is None else f"{state.seconds:.2f} s")
            lines.append(f"  {state.name:<16} {state.state:<8} {detail}".rstrip())
        if self.error:
            lines.append(f"error: {self.error}")
        if self.state == "failed":
            lines.append("Fix the cell and run again: finished steps come from the cache and "
                         "the run resumes at the failed step.")
        lines.append(f"logs: {self.folder}/logs")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


@dataclass
class ExportResult:
    """What an export wrote, and what the user should know about it."""

    target: Target
    files: list[Path]
    notes: list[str] = field(default_factory=list)
    compiled: bool | None = None  # kfp: whether the YAML was compiled here

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "files": [str(f) for f in self.files],
                "notes": list(self.notes), "compiled": self.compiled}

    def __str__(self) -> str:
        lines = [f"Exported to {self.target}:"] + [f"  {f}" for f in self.files]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        files = "".join(f"<li><code>{escape(str(f))}</code></li>" for f in self.files)
        notes = "".join(f"<div style='opacity:.8'>{escape(n)}</div>" for n in self.notes)
        return {"text/plain": str(self),
                "text/html": f"<div><b>Exported to {escape(self.target)}</b><ul>{files}</ul>"
                             f"{notes}</div>"}
