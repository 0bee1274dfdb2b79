"""The one representation every part works from: a Pipeline of Steps made of notebook cells,
with typed Parameters and the warnings found on the way. The runner, the three exports, the
magics, the CLI and the REST API all read this."""

from __future__ import annotations

import json
import keyword
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import UserInputError
from .results import runs_root

if TYPE_CHECKING:
    from .results import ExportResult, RunResult, StepEvent

#: ``# %% cell 3 (imports)``: how a step's code keeps track of the cells it came from.
CELL_MARKER = re.compile(r"^# %% cell (\d+)(?: \((\w+)\))?$")

CellRole = Literal["step", "shared", "parameters", "skipped"]
ParameterType = Literal["int", "float", "str", "bool", "list", "dict", "any"]


def pipeline_name(path: Path) -> str:
    """The pipeline's name (DAG id, flow name): the notebook's stem as an identifier (what is
    no identifier character as _, a leading digit or a keyword made one)."""
    stem = unicodedata.normalize("NFKC", path.stem)
    name = re.sub(r"\W+", "_", stem)
    name = "".join(c if f"_{c}".isidentifier() else "_" for c in name)
    name = name.strip("_") or "pipeline"
    if not name.isidentifier() or keyword.iskeyword(name):
        name = f"nb_{name}"
    return name


@dataclass(frozen=True)
class Cell:
    """One code cell as the pipeline uses it. ``source`` is the cell as written, with its line
    numbers kept (the ``%%mlops step`` line is blanked, not removed); IPython syntax in it
    (``!ls``, ``%time``, ``%%bash``) runs through IPython's own transformer, and ``magics``
    names what the cell uses of it."""

    index: int  # position among all the notebook's cells, 0-based
    id: str | None
    source: str
    role: CellRole
    step: str | None = None
    magics: tuple[str, ...] = ()  # e.g. ("%pip", "!", "%%bash"), in the order they appear

    @property
    def number(self) -> int:
        return self.index + 1

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "role": self.role, "step": self.step,
                "magics": list(self.magics)}


@dataclass(frozen=True)
class Finding:
    """A warning about the notebook, at a cell and line."""

    message: str
    cell: int | None = None  # 0-based position among all cells
    line: int | None = None
    cell_id: str | None = None

    def __str__(self) -> str:
        where = []
        if self.cell is not None:
            where.append(f"cell {self.cell + 1}")
        if self.line is not None:
            where.append(f"line {self.line}")
        return (", ".join(where) + ": " if where else "") + self.message

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "cell": self.cell, "line": self.line,
                "cell_id": self.cell_id, "text": str(self)}


PARAMETER_TYPES: dict[type, ParameterType] = {bool: "bool", int: "int", float: "float", str: "str",
                                    list: "list", dict: "dict"}


@dataclass(frozen=True)
class Parameter:
    """A pipeline parameter from the ``parameters`` cell; its type is its default's."""

    name: str
    type: ParameterType
    default: Any
    cell: int
    line: int

    def parse(self, text: str) -> Any:
        """A value given on a command line (``-p epochs=3``), checked against the type."""
        kind = self.type
        try:
            if kind == "str":
                return text
            if kind == "bool":
                lowered = text.lower()
                if lowered in ("true", "1", "yes"):
                    return True
                if lowered in ("false", "0", "no"):
                    return False
                raise ValueError(text)
            if kind == "int":
                return int(text)
            if kind == "float":
                return float(text)
            value = json.loads(text)
        except ValueError:
            raise UserInputError(f"parameter '{self.name}' is {_a(kind)}, not {text!r}") from None
        return self.check(value)

    def check(self, value: Any) -> Any:
        """A value given from Python or JSON, checked against the type (an int for a float is
        fine)."""
        kind = self.type
        if kind == "any":
            return value
        ok = {
            "bool": isinstance(value, bool),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool),
            "str": isinstance(value, str),
            "list": isinstance(value, list),
            "dict": isinstance(value, dict),
        }[kind]
        if not ok:
            raise UserInputError(f"parameter '{self.name}' is {_a(kind)}, not "
                                 f"{type(value).__name__} {value!r}")
        return float(value) if kind == "float" else value

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "default": self.default,
                "cell": self.cell, "line": self.line}


def _a(kind: str) -> str:
    words = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true/false",
             "list": "a JSON list", "dict": "a JSON object"}
    return words.get(kind, kind)


@dataclass
class Step:
    """A named run of cells: what it reads from which step, what it hands on, what it needs."""

    name: str
    cells: list[Cell]
    after: tuple[str, ...] = ()
    gpu: int = 0
    cpu: str | None = None
    memory: str | None = None
    retries: int = 0
    cache: bool = True
    inputs: dict[str, str] = field(default_factory=dict)  # name -> the step that makes it
    outputs: list[str] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)

    @property
    def ident(self) -> str:
        """The step's name as a Python identifier (generated code)."""
        return self.name.replace("-", "_")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cells": [c.index for c in self.cells],
            "cell_ids": [c.id for c in self.cells],
            "inputs": [{"name": n, "from": s} for n, s in self.inputs.items()],
            "outputs": list(self.outputs),
            "parameters": list(self.parameters),
            "after": list(self.after),
            "depends_on": list(self.depends_on),
            "resources": {"gpu": self.gpu, "cpu": self.cpu, "memory": self.memory},
            "retries": self.retries,
            "cache": self.cache,
        }


@dataclass
class Pipeline:
    """A notebook read as a pipeline (``from_notebook``): run it locally or export it."""

    name: str
    notebook: Path
    project_root: Path
    artifacts: str
    steps: list[Step]
    parameters: list[Parameter]
    prelude: list[Cell]  # shared and parameters cells, in notebook order
    skipped: list[Cell]
    warnings: list[Finding]
    #: literal assignments are parameters; anything else in the parameters cell is computed
    #: in every step, and then a step's cache key takes every parameter into account
    computed_parameters: bool = False
    endpoint_url: str = ""
    state_dir: Path | None = None

    @property
    def runs_root(self) -> Path:
        return runs_root(self.artifacts, self.name, self.state_dir or (
            self.project_root / ".mlops"))

    # ----------------------------------------------------------------- structure
    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise UserInputError(f"no step named {name!r}; steps: "
                             f"{', '.join(s.name for s in self.steps)}")

    def parameter(self, name: str) -> Parameter:
        for param in self.parameters:
            if param.name == name:
                return param
        known = ", ".join(p.name for p in self.parameters) or "none (tag a cell 'parameters')"
        raise UserInputError(f"unknown parameter {name!r}; parameters: {known}")

    @property
    def order(self) -> list[Step]:
        """Steps in an order where each comes after what it depends on (notebook order where
        that is free)."""
        done: set[str] = set()
        ordered: list[Step] = []
        pending = list(self.steps)
        while pending:
            for step in pending:
                if all(d in done for d in step.depends_on):
                    ordered.append(step)
                    done.add(step.name)
                    pending.remove(step)
                    break
            else:  # pragma: no cover - from_notebook refuses cycles
                raise UserInputError("the steps form a cycle")
        return ordered

    def downstream(self, name: str) -> list[str]:
        """``name`` and every step that depends on it, directly or not."""
        found = [name]
        for step in self.order:
            if step.name not in found and any(d in found for d in step.depends_on):
                found.append(step.name)
        return found

    def upstream(self, name: str) -> list[str]:
        """Every step ``name`` depends on, directly or not (not ``name`` itself)."""
        needed: list[str] = []
        todo = list(self.step(name).depends_on)
        while todo:
            current = todo.pop()
            if current not in needed:
                needed.append(current)
                todo.extend(self.step(current).depends_on)
        return [s.name for s in self.order if s.name in needed]

    def edges(self) -> list[dict[str, Any]]:
        result = []
        for step in self.steps:
            for up in step.depends_on:
                names = [n for n, s in step.inputs.items() if s == up]
                result.append({"from": up, "to": step.name, "names": names,
                                "after": up in step.after and not names})
        return result

    def check_parameters(self, values: Mapping[str, Any] | None) -> dict[str, Any]:
        """Defaults overridden by ``values`` (each checked against its parameter's type)."""
        merged = {p.name: p.default for p in self.parameters}
        for name, value in (values or {}).items():
            merged[name] = self.parameter(name).check(value)
        return merged

    def parse_parameters(self, pairs: Sequence[str]) -> dict[str, Any]:
        """``["epochs=3", "lr=0.1"]`` from a command line, typed by the parameters cell."""
        values: dict[str, Any] = {}
        for pair in pairs:
            name, sep, text = pair.partition("=")
            if not sep or not name.strip():
                raise UserInputError(f"parameters are NAME=VALUE, not {pair!r}")
            values[name.strip()] = self.parameter(name.strip()).parse(text)
        return values

    # ----------------------------------------------------------------- code
    def step_code(self, step: Step | str) -> str:
        """The code a step runs, as one text with ``# %% cell N`` markers: the shared and
        parameters cells first, then the step's cells. Exports embed exactly this."""
        if isinstance(step, str):
            step = self.step(step)
        parts = []
        for cell in [*self.prelude, *step.cells]:
            role = "" if cell.role == "step" else f" ({cell.role})"
            parts.append(f"# %% cell {cell.number}{role}\n{cell.source.rstrip()}\n")
        return "".join(parts)

    def step_spec(self, step: Step | str) -> dict[str, Any]:
        """Everything the runtime needs to run one step, as plain JSON-ready data."""
        if isinstance(step, str):
            step = self.step(step)
        params = ([p.name for p in self.parameters] if self.computed_parameters
                  else list(step.parameters))
        return {
            "pipeline": self.name,
            "notebook": self.notebook.name,
            "step": step.name,
            "code": self.step_code(step),
            "inputs": dict(step.inputs),
            "outputs": list(step.outputs),
            "parameters": params,
            "cache": step.cache,
        }

    # ----------------------------------------------------------------- views
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "notebook": str(self.notebook),
            "artifacts": self.artifacts,
            "steps": [s.to_dict() for s in self.steps],
            "edges": self.edges(),
            "parameters": [p.to_dict() for p in self.parameters],
            "shared_cells": [c.index for c in self.prelude if c.role == "shared"],
            "parameters_cells": [c.index for c in self.prelude if c.role == "parameters"],
            "skipped_cells": [c.index for c in self.skipped],
            "warnings": [w.to_dict() for w in self.warnings],
        }

    def to_text(self) -> str:
        """The steps as a terminal shows them: a table, the parameters, the warnings."""
        lines = [f"Pipeline {self.name!r} from {self.notebook.name}: {len(self.steps)} steps"]
        rows = [("step", "cells", "needs", "inputs (from)", "outputs", "parameters")]
        for step in self.steps:
            inputs = ", ".join(f"{n} ({s})" for n, s in step.inputs.items())
            rows.append((step.name, _numbers(step.cells), ", ".join(step.depends_on) or "-",
                         inputs or "-", ", ".join(step.outputs) or "-",
                         ", ".join(step.parameters) or "-"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = (v.ljust(w) for v, w in zip(row, widths, strict=True))
            lines.append("  " + "  ".join(cells).rstrip())
        if self.parameters:
            lines.append("parameters: " + ", ".join(f"{p.name}: {p.type} = {p.default!r}"
                                                    for p in self.parameters))
        shared = [c for c in self.prelude if c.role == "shared"]
        if shared:
            lines.append(f"shared by every step: cells {_numbers(shared)}")
        if self.skipped:
            lines.append(f"skipped: cells {_numbers(self.skipped)}")
        for warning in self.warnings:
            lines.append(f"warning: {warning}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Pipeline {self.name!r}: {len(self.steps)} steps from {self.notebook.name}>"

    # ----------------------------------------------------------------- doing
    def run(self, parameters: Mapping[str, Any] | None = None, from_step: str | None = None,
            only: str | Sequence[str] | None = None, *,
            on_progress: Callable[[StepEvent], None] | None = None,
            max_workers: int | None = None, run_id: str | None = None,
            python: str | None = None, refresh: bool = False) -> RunResult:
        """Run locally: each step in its own process, independent steps in parallel, outputs
        from the content-hash cache where nothing they depend on changed (``refresh``: no
        step from the cache)."""
        from .local import run_pipeline

        return run_pipeline(self, parameters=parameters, from_step=from_step, only=only,
                            on_progress=on_progress, max_workers=max_workers, run_id=run_id,
                            python=python, refresh=refresh)

    def export(self, target: str, out_dir: str | Path, schedule: str | None = None, *,
               compile_with: str | None = None) -> ExportResult:
        """Write the pipeline for ``airflow``, ``prefect`` or ``kfp`` into ``out_dir``."""
        from .export import export_pipeline

        return export_pipeline(self, target, out_dir, schedule=schedule,
                               compile_with=compile_with)


def _numbers(cells: Sequence[Cell]) -> str:
    return ", ".join(str(c.number) for c in cells)
