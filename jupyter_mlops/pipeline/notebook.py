"""``from_notebook(path)``: read a notebook's cells into a Pipeline, with the data flow between
steps found by static analysis. The reading goes in phases, one function each: the notebook,
its cells (``cells.py``), the steps they group into, the parameters, the data flow between
steps, the magics' findings, and the Pipeline made of it all."""

from __future__ import annotations

import ast
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, UserInputError
from .analysis import BUILTINS, StepAnalyzer, StepFlow, Where
from .cells import ReadCell, read_cell
from .magics import INTERACTIVE_MAGICS, OUR_MAGIC, ipython_magics, setup_only
from .marks import StepMark
from .model import (
    PARAMETER_TYPES,
    Cell,
    CellRole,
    Finding,
    Parameter,
    Pipeline,
    Step,
    pipeline_name,
)

if TYPE_CHECKING:
    from ..config import Config

#: A step's mark and its cells, in notebook order.
Group = tuple[StepMark, list[ReadCell]]


def read_notebook(path: str | os.PathLike[str], content: Any = None) -> Any:
    """The notebook as nbformat v4 (older versions are upgraded); one clear line otherwise.
    ``content`` (the notebook's JSON, e.g. unsaved edits in the panel) is read instead of the
    file."""
    import json

    import nbformat

    file = Path(path)
    if content is None and not file.is_file():
        raise NotFoundError(f"no notebook at {file}")
    try:
        if content is not None:
            text = content if isinstance(content, str) else json.dumps(content)
            nb = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
        else:
            nb = nbformat.read(file, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:  # nbformat raises a zoo of exceptions for broken JSON
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserInputError(f"{file.name} is not a readable notebook ({message})") from None
    if nb.get("nbformat") != 4:
        raise UserInputError(f"{file.name} is notebook format {nb.get('nbformat')}: only "
                             "version 4 (or older, upgraded) notebooks can become pipelines")
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise UserInputError(f"{file.name} is not a valid notebook: it has no list of cells")
    return nb


def _group_steps(cells: list[ReadCell]) -> list[Group]:
    """Cells into steps: a marked cell starts one, the cells below it join it. Cells above
    the first step are shared when they only import and set up the session (``%load_ext``),
    else they are a step of their own."""
    marked = any(c.mark is not None for c in cells)
    groups: list[Group] = []
    leading: list[ReadCell] = []
    for cell in cells:
        if cell.role != "step":
            continue
        if cell.mark is not None:
            groups.append((cell.mark, [cell]))
        elif groups:
            groups[-1][1].append(cell)
        else:
            leading.append(cell)
    leading = [c for c in leading if c.tree is not None and c.tree.body]
    if leading and all(setup_only(c.tree) for c in leading):
        for cell in leading:
            cell.role = "shared"
    elif leading:
        groups.insert(0, (StepMark("setup" if marked else "main", source="implicit"), leading))
    return groups


def _check_step_names(groups: list[Group]) -> None:
    """Unique names (also as identifiers), and ``--after`` naming steps that exist."""
    seen: dict[str, int] = {}
    for mark, cells in groups:
        if mark.name in seen:
            raise UserInputError(f"step name {mark.name!r} is used twice (cells {seen[mark.name]}"
                                 f" and {cells[0].index + 1}): step names must be unique")
        seen[mark.name] = cells[0].index + 1
    idents: dict[str, str] = {}
    for mark, _ in groups:
        ident = mark.name.replace("-", "_")
        if ident in idents:
            raise UserInputError(f"steps {idents[ident]!r} and {mark.name!r} differ only in - "
                                 "and _: rename one")
        idents[ident] = mark.name
    for mark, cells in groups:
        for name in mark.after:
            if name == mark.name:
                raise UserInputError(f"cell {cells[0].index + 1}: step {name!r} cannot run "
                                     "after itself")
            if name not in seen:
                raise UserInputError(f"cell {cells[0].index + 1}: step {mark.name!r} runs after"
                                     f" unknown step {name!r}; steps: {', '.join(seen)}")


def _parameters(cells: list[ReadCell], findings: list[Finding]
                ) -> tuple[list[Parameter], set[str], bool]:
    """The parameters cell: literal assignments are parameters, anything else is computed."""
    params: dict[str, Parameter] = {}
    names: set[str] = set()
    computed = False
    for cell in cells:
        assert cell.tree is not None
        for stmt in cell.tree.body:
            target: ast.expr | None = None
            value: ast.expr | None = None
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target, value = stmt.targets[0], stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                target, value = stmt.target, stmt.value
            if isinstance(target, ast.Name) and value is not None:
                names.add(target.id)
                try:
                    default = ast.literal_eval(value)
                except ValueError:
                    default = None
                    kind = None
                else:
                    kind = PARAMETER_TYPES.get(type(default), "any" if default is None else None)
                if kind is not None:
                    params[target.id] = Parameter(target.id, kind, default, cell.index,
                                                  stmt.lineno)
                    continue
            computed = True
            scan = StepAnalyzer()
            scan.add_cell(cell.index, ast.Module(body=[stmt], type_ignores=[]))
            written = scan.finish().writes
            names.update(written)
            shown = ", ".join(sorted(written)) or ast.unparse(stmt)[:40]
            findings.append(Finding(f"{shown} in the parameters cell is not a literal: it is "
                                    "computed in every step and cannot be set when running",
                                    cell.index, stmt.lineno, cell.id))
            for name in written:
                params.pop(name, None)
    return list(params.values()), names, computed


def _check_parameter_names(groups: list[Group], parameters: list[Parameter]) -> None:
    names = {p.name for p in parameters}
    for mark, _ in groups:
        if mark.name in names or mark.name.replace("-", "_") in names:
            raise UserInputError(f"step {mark.name!r} has the name of a parameter: rename one")


@dataclass
class _Known:
    """What a step's reads are checked against."""

    parameter_names: set[str]  # every name the parameters cell defines
    parameters: set[str]  # those that are settable parameters
    shared: StepFlow  # the shared cells' flow
    skipped_writes: dict[str, int]  # name -> the skipped cell that defines it
    star: bool  # a star import hides names somewhere
    ids: dict[int, str | None]  # cell position -> cell id


def _flow(cells: Sequence[ReadCell]) -> StepFlow:
    analyzer = StepAnalyzer()
    for cell in cells:
        if cell.tree is not None:
            analyzer.add_cell(cell.index, cell.tree)
    return analyzer.finish()


def _step_flows(groups: list[Group], shared: StepFlow) -> list[StepFlow]:
    flows = []
    for _mark, cells in groups:
        flow = _flow(cells)
        # a shared function reads, when called, the globals its body names
        for name in list(flow.reads):
            for global_name in shared.callables.get(name, ()):
                if global_name not in shared.writes and global_name not in flow.reads:
                    flow.reads[global_name] = flow.reads[name]
        flows.append(flow)
    return flows


def _connect(step: Step, flow: StepFlow, later: list[tuple[str, StepFlow]],
             producers: dict[str, str], modules: set[str], known: _Known,
             findings: list[Finding]) -> None:
    """A step's reads become inputs (from the step that last made them) or parameters, or
    warnings; what it changes in place of an input becomes its output too."""

    def warn(message: str, where: Where) -> None:
        findings.append(Finding(message, where.cell, where.line, known.ids.get(where.cell)))

    for name, where in flow.reads.items():
        if name in producers:
            step.inputs[name] = producers[name]
        elif name in known.parameter_names:
            if name in known.parameters:
                step.parameters.append(name)
        elif name in known.shared.writes or name in BUILTINS:
            continue
        elif name in known.skipped_writes:
            warn(f"step {step.name!r} reads {name!r}, which only the skipped cell "
                 f"{known.skipped_writes[name] + 1} defines", where)
        elif any(name in f.writes for _, f in later):
            maker = next(n for n, f in later if name in f.writes)
            warn(f"step {step.name!r} reads {name!r} before step {maker!r} defines it", where)
        elif not known.star:
            warn(f"step {step.name!r} reads {name!r}, which no cell defines", where)
    for name, (where, how) in flow.mutates.items():
        if name in step.inputs and name not in modules:  # mlops.log_model() changes no module
            warn(f"step {step.name!r} changes {name!r} from step {step.inputs[name]!r} in "
                 f"place ({how}): later steps get the changed copy from {step.name!r}, not the "
                 "original", where)
            flow.writes.setdefault(name, where)


def _link(steps: list[Step], flows: list[StepFlow]) -> None:
    """Each step's outputs (what later steps read of it, in the order it makes them) and
    the steps it depends on (data and ``--after``)."""
    by_name = {s.name: s for s in steps}
    order = {s.name: i for i, s in enumerate(steps)}
    for step in steps:
        for name, producer in step.inputs.items():
            if name not in by_name[producer].outputs:
                by_name[producer].outputs.append(name)
        ups = {*step.inputs.values(), *step.after}
        step.depends_on = sorted(ups, key=order.__getitem__)
    for step, flow in zip(steps, flows, strict=True):
        made = list(flow.writes)
        step.outputs.sort(key=made.index)
    _check_cycles(steps)


def _steps(cells: list[ReadCell], groups: list[Group], parameters: list[Parameter],
           parameter_names: set[str], findings: list[Finding]) -> list[Step]:
    """The data flow: what each step reads from which step, hands on, and is warned about."""
    shared = _flow([c for c in cells if c.role == "shared"])
    skipped_writes: dict[str, int] = {}
    for cell in cells:
        if cell.role == "skipped" and cell.tree is not None:
            for name in _flow([cell]).writes:
                skipped_writes.setdefault(name, cell.index)
    flows = _step_flows(groups, shared)
    stars = [*shared.star_imports, *(s for f in flows for s in f.star_imports)]
    known = _Known(parameter_names, {p.name for p in parameters}, shared, skipped_writes,
                   bool(stars), {c.index: c.id for c in cells})
    for where, module in stars:
        findings.append(Finding(f"'from {module} import *' hides which names it defines: the "
                                "data flow cannot see them; import the names you use",
                                where.cell, where.line, known.ids.get(where.cell)))
    steps: list[Step] = []
    producers: dict[str, str] = {}
    modules: set[str] = set()  # of the producers' names, those an import bound
    named = [(mark.name, flow) for (mark, _), flow in zip(groups, flows, strict=True)]
    for position, ((mark, members), flow) in enumerate(zip(groups, flows, strict=True)):
        step = Step(mark.name, [_cell(c, "step", mark.name) for c in members], mark.after,
                    mark.gpu, mark.cpu, mark.memory, mark.retries, mark.cache)
        _connect(step, flow, named[position + 1:], producers, modules, known, findings)
        for name in flow.writes:
            producers[name] = mark.name
            (modules.add if name in flow.modules else modules.discard)(name)
        steps.append(step)
    _link(steps, flows)
    return steps


def _magic_findings(cells: list[ReadCell]) -> list[Finding]:
    """Magics a step's process cannot run: those that wait for a person, and those that are
    not IPython's own (nor ``%mlops``, which a step loads) while no cell loads an extension
    that could define them."""
    uses = [(c, u) for c in cells if c.role != "skipped" for u in c.magics]
    if not uses:
        return []
    extensions = any(u.name in ("load_ext", "reload_ext") for _, u in uses)
    own = ipython_magics()
    found = []
    for cell, use in uses:
        if use.label == "!":
            continue
        if use.name in INTERACTIVE_MAGICS:
            found.append(Finding(f"{use.label} waits for a person at the keyboard: a step "
                                 "cannot run it (tag the cell 'skip' or remove the line)",
                                 cell.index, use.line, cell.id))
        elif use.name not in own and use.name != OUR_MAGIC and not extensions:
            found.append(Finding(f"{use.label} is not one of IPython's own magics: the step "
                                 "runs under a plain IPython shell, where it exists only when "
                                 "a cell loads it (%load_ext)", cell.index, use.line, cell.id))
    return found


def _cell(cell: ReadCell, role: CellRole, step: str | None = None) -> Cell:
    return Cell(cell.index, cell.id, cell.source, role, step, cell.labels)


def _assemble(file: Path, config: Config, cells: list[ReadCell], steps: list[Step],
              parameters: list[Parameter], computed: bool, findings: list[Finding]) -> Pipeline:
    findings.sort(key=lambda f: (f.cell if f.cell is not None else -1, f.line or 0))
    return Pipeline(
        name=pipeline_name(file),
        notebook=file,
        project_root=config.project_root,
        artifacts=str(config["pipeline.artifacts"]),
        steps=steps,
        parameters=parameters,
        prelude=[_cell(c, c.role) for c in cells if c.role in ("shared", "parameters")],
        skipped=[_cell(c, "skipped") for c in cells if c.role == "skipped"],
        warnings=findings,
        computed_parameters=computed,
        endpoint_url=str(config["aws.endpoint_url"]),
        state_dir=config.state_dir,
    )


def from_notebook(path: str | os.PathLike[str], *, content: Any = None) -> Pipeline:
    """Read ``path`` into a Pipeline: steps from cell marks, parameters from the
    ``parameters`` cell, each step's inputs and outputs from static analysis of its code.

    Raises UserInputError (one line, naming the cell) for a broken notebook, a step name used
    twice, ``--after`` naming an unknown step, or a cycle; softer problems become warnings.
    ``content``: the notebook's JSON to read instead of the saved file (unsaved edits).
    """
    file = Path(path).expanduser().resolve()
    nb = read_notebook(file, content)
    try:
        return _read_pipeline(file, nb)
    except (RecursionError, MemoryError):  # Python's parser and our analysis both recurse
        raise UserInputError(f"{file.name} has code nested too deeply to read as a pipeline "
                             "(a few hundred levels of brackets or operators)") from None


def _read_pipeline(file: Path, nb: Any) -> Pipeline:
    from ..config import load_config

    cells = [read_cell(i, c) for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"]
    groups = _group_steps(cells)
    _check_step_names(groups)
    findings: list[Finding] = []
    parameters, parameter_names, computed = _parameters(
        [c for c in cells if c.role == "parameters"], findings)
    _check_parameter_names(groups, parameters)
    steps = _steps(cells, groups, parameters, parameter_names, findings)
    findings += _magic_findings(cells)
    return _assemble(file, load_config(file.parent), cells, steps, parameters, computed,
                     findings)


def _check_cycles(steps: list[Step]) -> None:
    deps = {s.name: list(s.depends_on) for s in steps}
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for up in deps[name]:
            if state.get(up) == 1:
                cycle = [*path[path.index(up):], up]
                raise UserInputError("the steps form a cycle: " + " -> ".join(reversed(cycle))
                                     + " (check --after)")
            if up not in state:
                visit(up)
        path.pop()
        state[name] = 2

    for step in steps:
        if step.name not in state:
            visit(step.name)
