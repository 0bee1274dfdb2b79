"""``from_notebook(path)``: read a notebook's cells into a Pipeline, with the data flow between
steps found by static analysis."""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, UserInputError
from .analysis import BUILTINS, StepAnalyzer, StepFlow, Where
from .marks import StepMark, mark_from_metadata, parse_step_line, read_tags
from .model import PARAMETER_TYPES, Cell, Finding, Parameter, Pipeline, Step

#: Cell magics whose body is plain Python that runs as usual in a pipeline step.
TRANSPARENT_CELL_MAGICS = frozenset({"time", "capture", "mlops"})
#: Line magics that matter only inside the notebook (left out of steps without a warning).
QUIET_LINE_MAGICS = frozenset({"load_ext", "reload_ext", "matplotlib", "config", "mlops",
                               "autoreload", "aimport", "precision", "pylab"})
MAGIC_LINE = re.compile(r"^(\s*)(%{1,2}|!)\s*(\w*)")


@dataclass
class _RawCell:
    index: int
    id: str | None
    source: str  # magics blanked, line numbers kept
    tree: ast.Module | None
    mark: StepMark | None = None
    role: str = "step"  # "step", "shared", "parameters" or "skipped"
    findings: list[Finding] = field(default_factory=list)


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


def _blank_magics(source: str, index: int, findings: list[Finding],
                  cell_id: str | None) -> str:
    """IPython-only lines (``%pip …``, ``!ls``) become blank (or ``pass``), keeping line
    numbers; each one that may matter is reported."""
    lines = source.split("\n")
    for number, line in enumerate(lines, start=1):
        match = MAGIC_LINE.match(line)
        if not match:
            continue
        indent, kind, name = match.groups()
        lines[number - 1] = f"{indent}pass" if indent else ""
        if kind == "%" and name in QUIET_LINE_MAGICS:
            continue
        findings.append(Finding(f"IPython line '{line.strip()[:60]}' is left out of the "
                                "pipeline (steps run as plain Python)", index, number, cell_id))
    return "\n".join(lines)


def _read_cell(index: int, cell: Any, findings: list[Finding]) -> _RawCell:
    cell_id = cell.get("id")
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(source)
    metadata = cell.get("metadata", {}) or {}
    tags = read_tags(metadata.get("tags"))
    mark: StepMark | None = None
    role = "step"

    lines = source.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        header = lines[first].strip()[2:]
        magic, _, rest = header.partition(" ")
        words = rest.split(None, 1)
        if magic == "mlops" and words and words[0] == "step":
            try:
                mark = parse_step_line(words[1] if len(words) > 1 else "")
            except UserInputError as exc:
                raise UserInputError(f"cell {index + 1}: {exc}") from None
        elif magic not in TRANSPARENT_CELL_MAGICS:
            findings.append(Finding(f"a %%{magic} cell is left out of the pipeline (steps run "
                                    "Python only)", index, first + 1, cell_id))
            return _RawCell(index, cell_id, "", None, role="skipped")
        lines[first] = ""
        source = "\n".join(lines)

    own: list[Finding] = []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        source = _blank_magics(source, index, own, cell_id)
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            if tags.skip:
                return _RawCell(index, cell_id, source, None, role="skipped")
            raise UserInputError(f"cell {index + 1}, line {exc.lineno}: syntax error "
                                 f"({exc.msg}): fix the cell or tag it 'skip'") from None
    findings.extend(own)

    meta_step = (metadata.get("mlops") or {}).get("step") if isinstance(
        metadata.get("mlops"), dict) else None
    if meta_step is not None:
        try:
            from_meta = mark_from_metadata(meta_step)
        except UserInputError as exc:
            raise UserInputError(f"cell {index + 1}: {exc}") from None
        if mark is not None and mark.name != from_meta.name:
            raise UserInputError(f"cell {index + 1}: %%mlops step names {mark.name!r} but the "
                                 f"cell's metadata names {from_meta.name!r}: keep one")
        mark = mark or from_meta
    if tags.step is not None:
        if mark is not None and mark.name != tags.step:
            raise UserInputError(f"cell {index + 1}: step {mark.name!r} is also tagged "
                                 f"'step:{tags.step}': keep one")
        if mark is None:
            mark = StepMark(tags.step, tags.after, source="tag")
    if mark is not None and tags.after:
        mark = StepMark(mark.name, tuple(dict.fromkeys((*mark.after, *tags.after))), mark.gpu,
                        mark.cpu, mark.memory, mark.retries, mark.cache, mark.source)
    if tags.skip:
        role = "skipped"
    elif tags.parameters:
        role = "parameters"
    elif tags.shared:
        role = "shared"
    if role != "step" and mark is not None and role != "skipped":
        raise UserInputError(f"cell {index + 1} is tagged '{role}' and also starts step "
                             f"{mark.name!r}: a cell is one or the other")
    return _RawCell(index, cell_id, source, tree, mark=mark if role == "step" else None,
                    role=role)


def _only_imports(tree: ast.Module | None) -> bool:
    return tree is not None and all(isinstance(s, (ast.Import, ast.ImportFrom))
                                    for s in tree.body)


def pipeline_name(path: Path) -> str:
    """The pipeline's name (DAG id, flow name): the notebook's stem as an identifier."""
    name = re.sub(r"\W+", "_", path.stem).strip("_") or "pipeline"
    return f"nb_{name}" if name[0].isdigit() else name


def _parameters(cells: list[_RawCell], findings: list[Finding]
                ) -> tuple[list[Parameter], set[str], bool]:
    params: dict[str, Parameter] = {}
    names: set[str] = set()
    computed = False
    for raw in cells:
        assert raw.tree is not None
        for stmt in raw.tree.body:
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
                    params[target.id] = Parameter(target.id, kind, default, raw.index,
                                                  stmt.lineno)
                    continue
            computed = True
            scan = StepAnalyzer()
            scan.add_cell(raw.index, ast.Module(body=[stmt], type_ignores=[]))
            written = scan.finish().writes
            names.update(written)
            shown = ", ".join(sorted(written)) or ast.unparse(stmt)[:40]
            findings.append(Finding(f"{shown} in the parameters cell is not a literal: it is "
                                    "computed in every step and cannot be set when running",
                                    raw.index, stmt.lineno, raw.id))
            for name in written:
                params.pop(name, None)
    return list(params.values()), names, computed


def from_notebook(path: str | os.PathLike[str], *, content: Any = None) -> Pipeline:
    """Read ``path`` into a Pipeline: steps from cell marks, parameters from the
    ``parameters`` cell, each step's inputs and outputs from static analysis of its code.

    Raises UserInputError (one line, naming the cell) for a broken notebook, a step name used
    twice, ``--after`` naming an unknown step, or a cycle; softer problems become warnings.
    ``content``: the notebook's JSON to read instead of the saved file (unsaved edits).
    """
    from ..config import load_config

    file = Path(path).expanduser().resolve()
    nb = read_notebook(file, content)
    findings: list[Finding] = []
    raws = [_read_cell(i, c, findings) for i, c in enumerate(nb.cells)
            if c.get("cell_type") == "code"]

    # ------------------------------------------------------------------ cells -> steps
    marked = any(r.mark is not None for r in raws)
    groups: list[tuple[StepMark, list[_RawCell]]] = []
    leading: list[_RawCell] = []
    for raw in raws:
        if raw.role != "step":
            continue
        if raw.mark is not None:
            groups.append((raw.mark, [raw]))
        elif groups:
            groups[-1][1].append(raw)
        else:
            leading.append(raw)
    # cells above the first step: imports are shared by every step, other code is a step
    leading = [r for r in leading if r.tree is not None and r.tree.body]
    if leading and all(_only_imports(r.tree) for r in leading):
        for raw in leading:
            raw.role = "shared"
    elif leading:
        groups.insert(0, (StepMark("setup" if marked else "main", source="implicit"), leading))

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

    # ------------------------------------------------------------------ shared, parameters
    prelude = [r for r in raws if r.role in ("shared", "parameters")]
    parameters, param_names, computed = _parameters(
        [r for r in raws if r.role == "parameters"], findings)
    param_types = {p.name for p in parameters}
    for mark, _ in groups:
        if mark.name in param_types or mark.name.replace("-", "_") in param_types:
            raise UserInputError(f"step {mark.name!r} has the name of a parameter: rename one")
    shared_flow = StepAnalyzer()
    for raw in raws:
        if raw.role == "shared" and raw.tree is not None:
            shared_flow.add_cell(raw.index, raw.tree)
    shared = shared_flow.finish()
    shared_names = set(shared.writes)
    star = list(shared.star_imports)

    skipped_writes: dict[str, int] = {}
    for raw in raws:
        if raw.role == "skipped" and raw.tree is not None:
            scan = StepAnalyzer()
            scan.add_cell(raw.index, raw.tree)
            for name in scan.finish().writes:
                skipped_writes.setdefault(name, raw.index)

    # ------------------------------------------------------------------ data flow
    flows: list[StepFlow] = []
    for _mark, cells in groups:
        analyzer = StepAnalyzer()
        for raw in cells:
            assert raw.tree is not None
            analyzer.add_cell(raw.index, raw.tree)
        flow = analyzer.finish()
        # a shared function reads, when called, the globals its body names
        for name in list(flow.reads):
            for global_name in shared.callables.get(name, ()):
                if global_name not in shared_names and global_name not in flow.reads:
                    flow.reads[global_name] = flow.reads[name]
        flows.append(flow)
        star.extend(flow.star_imports)

    ids = {r.index: r.id for r in raws}
    for where, module in star:
        findings.append(Finding(f"'from {module} import *' hides which names it defines: the "
                                "data flow cannot see them; import the names you use",
                                where.cell, where.line, ids.get(where.cell)))

    steps: list[Step] = []
    producers: dict[str, str] = {}
    all_writes = [set(f.writes) for f in flows]
    for position, ((mark, cells), flow) in enumerate(zip(groups, flows, strict=True)):
        step = Step(mark.name, [Cell(r.index, r.id, r.source, "step", mark.name) for r in cells],
                    mark.after, mark.gpu, mark.cpu, mark.memory, mark.retries, mark.cache)

        def warn(message: str, where: Where) -> None:
            findings.append(Finding(message, where.cell, where.line, ids.get(where.cell)))

        for name, where in flow.reads.items():
            if name in producers:
                step.inputs[name] = producers[name]
            elif name in param_names:
                if name in param_types:
                    step.parameters.append(name)
            elif name in shared_names or name in BUILTINS:
                continue
            elif name in skipped_writes:
                warn(f"step {mark.name!r} reads {name!r}, which only the skipped cell "
                     f"{skipped_writes[name] + 1} defines", where)
            elif any(name in w for w in all_writes[position + 1:]):
                later = next(g[0].name for g, w in zip(
                    groups[position + 1:], all_writes[position + 1:], strict=True) if name in w)
                warn(f"step {mark.name!r} reads {name!r} before step {later!r} defines it",
                     where)
            elif not star:
                warn(f"step {mark.name!r} reads {name!r}, which no cell defines", where)
        for name, (where, how) in flow.mutates.items():
            if name in step.inputs:
                warn(f"step {mark.name!r} changes {name!r} from step {step.inputs[name]!r} in "
                     f"place ({how}): later steps get the changed copy from "
                     f"{mark.name!r}, not the original", where)
                flow.writes.setdefault(name, where)
        for name in flow.writes:
            producers[name] = mark.name
        steps.append(step)

    by_name = {s.name: s for s in steps}
    order = {s.name: i for i, s in enumerate(steps)}
    for step in steps:
        for name, producer in step.inputs.items():
            if name not in by_name[producer].outputs:
                by_name[producer].outputs.append(name)
        ups = {*step.inputs.values(), *step.after}
        step.depends_on = sorted(ups, key=order.__getitem__)
    for step, flow in zip(steps, flows, strict=True):
        step.outputs.sort(key=lambda n, f=flow: list(f.writes).index(n))  # type: ignore[misc]
    _check_cycles(steps)

    config = load_config(file.parent)
    prelude_cells = [Cell(r.index, r.id, r.source, r.role) for r in prelude]
    skipped = [Cell(r.index, r.id, r.source, "skipped") for r in raws if r.role == "skipped"]
    findings.sort(key=lambda f: (f.cell if f.cell is not None else -1, f.line or 0))
    return Pipeline(
        name=pipeline_name(file),
        notebook=file,
        project_root=config.project_root,
        artifacts=str(config["pipeline.artifacts"]),
        steps=steps,
        parameters=parameters,
        prelude=prelude_cells,
        skipped=skipped,
        warnings=findings,
        computed_parameters=computed,
        endpoint_url=str(config["aws.endpoint_url"]),
        state_dir=config.state_dir,
    )


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
