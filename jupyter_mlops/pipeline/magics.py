"""IPython syntax in a step's cells (``files = !ls``, ``%time y = 3``, ``%%bash``): the cells are
read with IPython's own transformer (the kernel's rules), so such code is valid step code, and
steps run it under IPython's InteractiveShell (``runtime.py``, which also holds the
transformation both use). Here: which magics a cell uses, and the Python those magics run, for
the data-flow analysis.

IPython is imported the first time a cell is not plain Python.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from .runtime import to_python

#: Line magics that only set up the session (a leading cell of them and imports is shared by
#: every step, as imports are).
SETUP_MAGICS = frozenset({"load_ext", "reload_ext", "matplotlib", "config", "autoreload",
                          "aimport", "precision", "pylab", "pip", "conda", "mamba", "uv",
                          "env", "set_env", "xmode"})
#: Cell magics whose body is Python run in the notebook's namespace (the analysis reads it).
PYTHON_CELL_MAGICS = frozenset({"time", "capture", "prun", "mlops"})
#: Magics whose argument is Python code (``%time y = 3``; ``%timeit``'s runs in a function).
PYTHON_LINE_MAGICS = frozenset({"time", "prun"})
TIMEIT = "timeit"
#: Magics that wait for a person: they cannot run in a step's process.
INTERACTIVE_MAGICS = frozenset({"edit", "ed", "qtconsole", "connect_info"})
#: The extension that defines ``%mlops``; a step that uses it loads it.
OUR_MAGIC = "mlops"

_SHELL_CALLS = frozenset({"run_line_magic", "run_cell_magic", "system", "getoutput"})
_TIMEIT_OPTIONS = re.compile(r"^\s*(?:-(?:[nrp]\s*\d+(?:\.\d+)?|[tcqo])\s+)*")
_DOLLAR = re.compile(r"(?<!\$)\$(\w+)")
_BRACES = re.compile(r"(?<!\{)\{([^{}]+)\}(?!\})")


@dataclass(frozen=True)
class MagicUse:
    """One use of IPython syntax: ``%name`` (a line magic), ``%%name`` (a cell magic) or
    ``!`` (a shell command), at a 1-based line of the cell."""

    label: str
    name: str
    line: int


def parse_cell(source: str) -> ast.Module:
    """The cell's syntax tree, through IPython's transformer when it is not plain Python
    (valid Python is the same under IPython's rules). Raises SyntaxError for a cell that is
    not valid under IPython's rules either."""
    try:
        return ast.parse(source)
    except SyntaxError:
        pass
    return ast.parse(to_python(source))


def _shell_call(node: ast.AST) -> tuple[str, list[str]] | None:
    """``get_ipython().run_line_magic('time', 'y = 3')`` -> ("run_line_magic", ["time",
    "y = 3"]); None for anything else."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in _SHELL_CALLS and isinstance(node.func.value, ast.Call)
            and isinstance(node.func.value.func, ast.Name)
            and node.func.value.func.id == "get_ipython"):
        return None
    args = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    if len(args) != len(node.args):
        return None
    return node.func.attr, args


def _use(kind: str, args: list[str], line: int) -> MagicUse:
    if kind in ("system", "getoutput"):
        return MagicUse("!", "!", line)
    name = args[0] if args else ""
    return MagicUse(("%%" if kind == "run_cell_magic" else "%") + name, name, line)


def _own_exprs(stmt: ast.stmt) -> Iterator[ast.AST]:
    """The nodes of ``stmt`` outside the statements nested in it."""
    for child in ast.iter_child_nodes(stmt):
        if isinstance(child, (ast.stmt, ast.excepthandler, ast.match_case)):
            continue
        yield from ast.walk(child)


def magics_used(tree: ast.Module) -> list[MagicUse]:
    """Every magic and shell command in a transformed cell, in order."""
    uses = []
    for node in ast.walk(tree):
        call = _shell_call(node)
        if call is not None:
            uses.append(_use(call[0], call[1], getattr(node, "lineno", 1)))
    return sorted(uses, key=lambda u: u.line)


@cache
def ipython_magics() -> frozenset[str]:
    """The magics a plain IPython shell has (what a step's process runs under)."""
    from IPython.core import magics

    names: set[str] = {"ed", "hist", "rep", "SVG", "HTML", "file"}  # IPython's aliases
    table = getattr(magics, "BUILTIN_LAZY_MAGICS", None)
    if isinstance(table, dict):
        for kind in table.values():
            names.update(kind)
    else:  # IPython 8: the classes declare theirs
        for cls_name in getattr(magics, "__all__", dir(magics)):
            declared = getattr(getattr(magics, cls_name, None), "magics", None)
            if isinstance(declared, dict):
                for kind in declared.values():
                    names.update(kind)
    names.update({"sh", "bash", "perl", "ruby", "python", "python2", "python3", "pypy"})
    try:
        from IPython.core.alias import default_aliases

        names.update(alias for alias, _ in default_aliases())
    except ImportError:  # pragma: no cover - IPython always has it
        pass
    return frozenset(names)


def setup_only(tree: ast.Module | None) -> bool:
    """A cell of imports and session set-up magics only (``%load_ext``, ``%matplotlib``)."""
    if tree is None or not tree.body:
        return False
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            continue
        call = _shell_call(stmt.value) if isinstance(stmt, ast.Expr) else None
        if call is None or call[0] != "run_line_magic" or call[1][0] not in SETUP_MAGICS:
            return False
    return True


# --------------------------------------------------------------------------- analysis view


def _placed(nodes: list[ast.stmt], line: int) -> list[ast.stmt]:
    """Statements made for the analysis, all at ``line`` of the cell."""
    for stmt in nodes:
        for node in ast.walk(stmt):
            node.lineno = node.end_lineno = line  # type: ignore[attr-defined]
            node.col_offset = node.end_col_offset = 0  # type: ignore[attr-defined]
    return nodes


def _python_at(code: str, line: int) -> list[ast.stmt]:
    """``code`` (Python, maybe with magics of its own) as the analysis reads it, its first
    line at ``line`` of the cell; none when it is not Python."""
    try:
        tree = parse_cell(code)
    except SyntaxError:
        return []
    view = analysis_view(tree)
    ast.increment_lineno(view, line - 1)
    return view.body


def _reads(names: set[str], line: int) -> list[ast.stmt]:
    return _placed([ast.Expr(value=ast.Name(id=n, ctx=ast.Load())) for n in sorted(names)],
                   line)


def _reads_of(code: list[ast.stmt], line: int) -> list[ast.stmt]:
    """What code run in a function of IPython's (``%timeit``) reads; it defines nothing."""
    from .analysis import free_names

    if not code:
        return []
    holder = ast.parse("def _():\n    pass").body[0]
    assert isinstance(holder, ast.FunctionDef)
    holder.body = code
    return _reads(set(free_names(holder)), line)


def _expanded(text: str, line: int) -> list[ast.stmt]:
    """``$name`` and ``{expr}`` in a magic's arguments: IPython reads them from the
    namespace when it runs the line."""
    exprs: list[ast.expr] = [ast.Name(id=name, ctx=ast.Load()) for name in _DOLLAR.findall(text)]
    for inner in _BRACES.findall(text):
        try:
            exprs.append(ast.parse(inner, mode="eval").body)
        except SyntaxError:
            continue
    return _placed([ast.Expr(value=e) for e in exprs], line)


def _capture_target(header: str) -> list[ast.stmt]:
    """``%%capture out``: the name the captured output goes to."""
    words = [w for w in header.split() if not w.startswith("-")]
    if not words or not words[-1].isidentifier():
        return []
    return [ast.Assign(targets=[ast.Name(id=words[-1], ctx=ast.Store())],
                       value=ast.Constant(value=None))]


def _magic_statements(stmt: ast.stmt) -> list[ast.stmt]:
    """What the analysis reads for one statement of a transformed cell: the statement, the
    names its magics read (``$x``, ``{x}``), and the Python ``%time``/``%%time`` run."""
    extra: list[ast.stmt] = []
    replace: list[ast.stmt] | None = None
    for node in _own_exprs(stmt):
        call = _shell_call(node)
        if call is None:
            continue
        kind, args = call
        line = getattr(node, "lineno", 1)
        alone = isinstance(stmt, ast.Expr) and stmt.value is node
        if kind == "run_cell_magic" and len(args) == 3:
            name, header, body = args
            extra += _expanded(header, line)
            if name in PYTHON_CELL_MAGICS and alone:  # the body runs in the namespace
                replace = _python_at(body, line + 1)
                if name == "capture":
                    replace += _placed(_capture_target(header), line)
            elif name in PYTHON_CELL_MAGICS or name == TIMEIT:
                extra += _reads_of(_python_at(body, line + 1), line)
            continue
        text = args[-1] if args else ""
        name = args[0] if kind == "run_line_magic" and args else ""
        if name in PYTHON_LINE_MAGICS and alone:
            replace = _python_at(text, line)
        elif name in PYTHON_LINE_MAGICS or name == TIMEIT:
            code = _TIMEIT_OPTIONS.sub("", text, count=1) if name == TIMEIT else text
            extra += _reads_of(_python_at(code, line), line)
        else:
            extra += _expanded(text, line)
    return [*extra, *(replace if replace is not None else [stmt])]


def analysis_view(tree: ast.Module) -> ast.Module:
    """A transformed cell as the data-flow analysis reads it: each magic's Python made
    visible (``%time y = 3`` assigns ``y``; ``!ls $folder`` reads ``folder``)."""

    def body(stmts: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in stmts:
            for field in ("body", "orelse", "finalbody"):
                inner = getattr(stmt, field, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                    setattr(stmt, field, body(inner))
            for handler in getattr(stmt, "handlers", []):
                handler.body = body(handler.body)
            for case in getattr(stmt, "cases", []):
                case.body = body(case.body)
            out.extend(_magic_statements(stmt))
        return out

    return ast.Module(body=body(list(tree.body)), type_ignores=[])
