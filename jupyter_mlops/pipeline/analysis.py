"""Static analysis of a step's code: which names it reads before defining them, which it defines,
which objects from elsewhere it changes in place, and star imports. Python's ``ast`` only: the
code is never run to find this out."""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: Names a notebook may read without defining them: builtins and IPython's own.
BUILTINS = frozenset(dir(builtins)) | {
    "display", "get_ipython", "In", "Out", "exit", "quit", "__name__", "__file__",
    "__builtins__", "__doc__", "__spec__", "__loader__", "__package__", "_", "__", "___",
}

#: Methods that change their object: ``df.append(...)`` on an object another step made.
MUTATING_METHODS = frozenset({
    "append", "extend", "insert", "remove", "pop", "popitem", "clear", "sort", "reverse",
    "update", "setdefault", "add", "discard", "difference_update", "intersection_update",
    "symmetric_difference_update", "fill", "resize", "put", "itemset", "fit", "partial_fit",
    "train", "eval", "load_state_dict", "step", "zero_grad", "to", "cuda", "cpu", "requires_grad_",
    "add_", "mul_", "sub_", "div_", "zero_", "copy_", "fillna", "dropna", "drop", "rename",
    "set_index", "reset_index", "sort_values", "sort_index", "replace", "set_params",
})
#: Methods that, called as a statement, only look at their object.
READ_ONLY_METHODS = frozenset({
    "head", "tail", "describe", "info", "show", "plot", "hist", "print", "summary", "savefig",
    "to_csv", "to_parquet", "to_json", "to_pickle", "to_excel", "to_sql", "save", "count",
    "mean", "sum", "min", "max", "std", "var", "shape", "keys", "values", "items", "get",
    "copy", "tolist", "numpy", "item", "__repr__", "display", "close", "flush", "write",
})


@dataclass(frozen=True)
class Where:
    """A place in the notebook: cell position (0-based among all cells) and 1-based line."""

    cell: int
    line: int


@dataclass
class StepFlow:
    """What one step (a run of cells) does with names, in notebook order."""

    reads: dict[str, Where] = field(default_factory=dict)  # read before the step defines it
    writes: dict[str, Where] = field(default_factory=dict)  # defined at the step's top level
    mutates: dict[str, tuple[Where, str]] = field(default_factory=dict)  # name -> (where, how)
    star_imports: list[tuple[Where, str]] = field(default_factory=list)
    #: names an import statement bound last (a module: calling its functions changes nothing)
    modules: set[str] = field(default_factory=set)
    #: functions and classes the step defines -> the global names their bodies read
    callables: dict[str, set[str]] = field(default_factory=dict)


def _target_names(node: ast.AST) -> Iterator[ast.Name]:
    if isinstance(node, ast.Name):
        yield node
    elif isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            yield from _target_names(elt)
    elif isinstance(node, ast.Starred):
        yield from _target_names(node.value)


def _base_name(node: ast.AST) -> ast.Name | None:
    """``df`` of ``df.loc[a].x`` (the object a subscript or attribute chain starts from)."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node if isinstance(node, ast.Name) else None


def _pattern_names(pattern: ast.AST) -> Iterator[str]:
    for node in ast.walk(pattern):
        if isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            yield node.name
        elif isinstance(node, ast.MatchMapping) and node.rest:
            yield node.rest


def _args_names(args: ast.arguments) -> set[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    names = {a.arg for a in every}
    if args.vararg:
        names.add(args.vararg.arg)
    if args.kwarg:
        names.add(args.kwarg.arg)
    return names


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp,
           ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _scope_children(node: ast.AST) -> Iterator[ast.AST]:
    """Every node inside a scope's body, stopping at (but yielding) nested scopes."""
    for child in ast.iter_child_nodes(node):
        yield child
        if not isinstance(child, _SCOPES):
            yield from _scope_children(child)


def free_names(scope: ast.AST) -> dict[str, int]:
    """Global names a function, lambda, class or comprehension reads (name -> first line)."""
    bound: set[str] = set()
    declared_global: set[str] = set()
    loads: dict[str, int] = {}
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        bound |= _args_names(scope.args)
        body: list[ast.AST] = list(scope.body) if isinstance(scope.body, list) else [scope.body]
    elif isinstance(scope, ast.ClassDef):
        body = list(scope.body)
    else:
        assert isinstance(scope, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp))
        for comp in scope.generators:
            bound |= {n.id for n in _target_names(comp.target)}
        body = [scope]
    nodes: list[ast.AST] = []
    for stmt in body:
        nodes.append(stmt)
        if not isinstance(stmt, _SCOPES) or stmt is scope:
            nodes.extend(_scope_children(stmt))
    if isinstance(scope, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        nodes = list(_scope_children(scope))
    for node in nodes:
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loads.setdefault(node.id, node.lineno)
            else:
                bound.add(node.id)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            declared_global |= set(node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            for deco in node.decorator_list:
                for sub in ast.walk(deco):
                    if isinstance(sub, ast.Name):
                        loads.setdefault(sub.id, sub.lineno)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.match_case):
            bound |= set(_pattern_names(node.pattern))
        if isinstance(node, _SCOPES) and node is not scope:
            for name, line in free_names(node).items():
                loads.setdefault(name, line)
    bound -= declared_global
    return {name: line for name, line in loads.items() if name not in bound}


class StepAnalyzer:
    """Walks a step's cells statement by statement, in order."""

    def __init__(self) -> None:
        self.flow = StepFlow()
        self._defined: set[str] = set()
        self._deferred: dict[str, Where] = {}
        self._cell = 0

    def add_cell(self, cell: int, tree: ast.Module) -> None:
        self._cell = cell
        for stmt in tree.body:
            self._statement(stmt)

    def finish(self) -> StepFlow:
        """Names only nested functions read count as reads unless the step defines them."""
        for name, where in self._deferred.items():
            if name not in self.flow.writes and name not in self.flow.reads:
                self.flow.reads[name] = where
        return self.flow

    # ----------------------------------------------------------------- bookkeeping
    def _where(self, node: ast.AST) -> Where:
        return Where(self._cell, getattr(node, "lineno", 1))

    def _read(self, name: str, node: ast.AST) -> None:
        if name not in self._defined and name not in self.flow.reads:
            self.flow.reads[name] = self._where(node)

    def _write(self, name: str, node: ast.AST) -> None:
        self._defined.add(name)
        self.flow.writes.setdefault(name, self._where(node))
        self.flow.modules.discard(name)

    def _mutate(self, base: ast.Name | None, how: str) -> None:
        if base is None:
            return
        name = base.id
        self._read(name, base)
        if name not in self._defined:
            self.flow.mutates.setdefault(name, (self._where(base), how))

    def _reads_in(self, node: ast.AST | None) -> None:
        """Names an expression reads now; nested lambdas' reads are deferred, comprehensions'
        happen now; walrus targets are defined."""
        if node is None:
            return
        if isinstance(node, ast.Lambda):
            for sub in (*node.args.defaults, *(d for d in node.args.kw_defaults if d)):
                self._reads_in(sub)
            self._defer(node)
            return
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            for name, line in free_names(node).items():
                self._read(name, ast.Name(id=name, lineno=line))
            for walrus in ast.walk(node):
                if isinstance(walrus, ast.NamedExpr) and isinstance(walrus.target, ast.Name):
                    self._write(walrus.target.id, walrus)
            return
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                self._read(node.id, node)
            return
        if isinstance(node, ast.NamedExpr):
            self._reads_in(node.value)
            if isinstance(node.target, ast.Name):
                self._write(node.target.id, node)
            return
        if isinstance(node, ast.Call):
            self._inplace_call(node)
        for child in ast.iter_child_nodes(node):
            self._reads_in(child)

    def _inplace_call(self, call: ast.Call) -> None:
        if isinstance(call.func, ast.Attribute) and any(
                k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in call.keywords):
            self._mutate(_base_name(call.func.value), f"{call.func.attr}(..., inplace=True)")

    def _defer(self, scope: ast.AST) -> None:
        for name, line in free_names(scope).items():
            if name not in self._defined:
                self._deferred.setdefault(name, Where(self._cell, line))

    def _targets(self, target: ast.AST, how: str) -> None:
        subs: list[ast.AST] = ([target] if not isinstance(target, (ast.Tuple, ast.List))
                               else list(target.elts))
        for sub in subs:
            if isinstance(sub, ast.Starred):
                sub = sub.value
            if isinstance(sub, ast.Name):
                self._write(sub.id, sub)
            elif isinstance(sub, (ast.Tuple, ast.List)):
                self._targets(sub, how)
            elif isinstance(sub, (ast.Attribute, ast.Subscript)):
                # df["x"] = …, model.lr = …: the index/value expressions are read, the object
                # itself is changed in place
                for child in ast.iter_child_nodes(sub):
                    if child is not sub.value and not isinstance(child, ast.expr_context):
                        self._reads_in(child)
                inner = sub.value
                while isinstance(inner, (ast.Attribute, ast.Subscript)):
                    if isinstance(inner, ast.Subscript):
                        self._reads_in(inner.slice)
                    inner = inner.value
                self._mutate(_base_name(sub), how)

    # ----------------------------------------------------------------- statements
    def _try(self, stmt: Any) -> None:
        self._body(stmt.body)
        for handler in stmt.handlers:
            self._reads_in(handler.type)
            if handler.name:
                self._write(handler.name, handler)
            self._body(handler.body)
        self._body(stmt.orelse)
        self._body(stmt.finalbody)

    def _body(self, stmts: Iterable[ast.stmt]) -> None:
        for stmt in stmts:
            self._statement(stmt)

    def _statement(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in (*stmt.decorator_list, *stmt.args.defaults,
                        *(d for d in stmt.args.kw_defaults if d)):
                self._reads_in(sub)
            self._defer(stmt)
            self.flow.callables[stmt.name] = set(free_names(stmt))
            self._write(stmt.name, stmt)
        elif isinstance(stmt, ast.ClassDef):
            for sub in (*stmt.decorator_list, *stmt.bases, *(k.value for k in stmt.keywords)):
                self._reads_in(sub)
            self._defer(stmt)
            self.flow.callables[stmt.name] = set(free_names(stmt))
            self._write(stmt.name, stmt)
        elif isinstance(stmt, ast.Assign):
            self._reads_in(stmt.value)
            for target in stmt.targets:
                self._targets(target, "assigns into it")
        elif isinstance(stmt, ast.AnnAssign):
            self._reads_in(stmt.value)
            if stmt.value is not None or not isinstance(stmt.target, ast.Name):
                self._targets(stmt.target, "assigns into it")
        elif isinstance(stmt, ast.AugAssign):
            self._reads_in(stmt.value)
            if isinstance(stmt.target, ast.Name):
                self._read(stmt.target.id, stmt.target)
                self._write(stmt.target.id, stmt.target)
            else:
                self._targets(stmt.target, "changes it in place (augmented assignment)")
        elif isinstance(stmt, ast.Delete):
            for target in stmt.targets:
                if isinstance(target, (ast.Attribute, ast.Subscript)):
                    self._targets(target, "deletes from it")
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                if alias.name == "*":
                    module = stmt.module if isinstance(stmt, ast.ImportFrom) else ""
                    self.flow.star_imports.append((self._where(stmt), module or "?"))
                else:
                    name = (alias.asname or alias.name).split(".")[0]
                    self._write(name, stmt)
                    self.flow.modules.add(name)
        elif isinstance(stmt, ast.Expr):
            self._reads_in(stmt.value)
            call: ast.AST = stmt.value
            if isinstance(call, ast.Await):
                call = call.value
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    and call.func.attr not in READ_ONLY_METHODS
                    and not call.func.attr.startswith("to_")):
                base = _base_name(call.func.value)
                how = (f"calls {ast.unparse(call.func)}()" if call.func.attr in MUTATING_METHODS
                       else f"calls {ast.unparse(call.func)}(), which may change it")
                self._mutate(base, how)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            self._reads_in(stmt.iter)
            self._targets(stmt.target, "assigns into it")
            self._body(stmt.body)
            self._body(stmt.orelse)
        elif isinstance(stmt, (ast.While, ast.If)):
            self._reads_in(stmt.test)
            self._body(stmt.body)
            self._body(stmt.orelse)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                self._reads_in(item.context_expr)
                if item.optional_vars is not None:
                    self._targets(item.optional_vars, "assigns into it")
            self._body(stmt.body)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            assert isinstance(stmt, ast.Try) or hasattr(stmt, "handlers")
            self._try(stmt)
        elif isinstance(stmt, ast.Match):
            self._reads_in(stmt.subject)
            for case in stmt.cases:
                for name in _pattern_names(case.pattern):
                    self._write(name, case.pattern)
                for pattern in ast.walk(case.pattern):
                    if isinstance(pattern, ast.MatchValue):
                        self._reads_in(pattern.value)
                self._reads_in(case.guard)
                self._body(case.body)
        elif isinstance(stmt, (ast.Global, ast.Nonlocal, ast.Pass, ast.Break, ast.Continue)):
            pass
        else:  # Return, Raise, Assert, TypeAlias, ...: read what they mention
            for child in ast.iter_child_nodes(stmt):
                self._reads_in(child)
