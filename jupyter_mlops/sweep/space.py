"""A sweep's search space: the four distributions, and the two ways to write them as text
(``--space "lr=loguniform(1e-4,1e-1) act=choice(relu,tanh)"`` and ``# sweep: …`` comments on
the ``parameters`` cell's lines). The text is read with a small grammar and
``ast.literal_eval`` for each argument, never ``eval``: a notebook is untrusted input."""

from __future__ import annotations

import ast
import io
import math
import re
import tokenize
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import UserInputError

Kind = Literal["uniform", "loguniform", "integer", "choice"]
GRID_LIMIT = 1000  # most values an integer range gives a grid


@dataclass(frozen=True)
class Distribution:
    """One parameter's range. ``suggest(trial, name)`` asks an Optuna trial for a value."""

    kind: Kind
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    values: tuple[Any, ...] = ()

    def suggest(self, trial: Any, name: str) -> Any:
        if self.kind == "choice":
            return trial.suggest_categorical(name, list(self.values))
        if self.kind == "integer":
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(name, self.low, self.high, log=self.kind == "loguniform")

    def grid(self, name: str) -> list[Any]:
        """The values a grid search tries: a choice's, an integer range's (at most 1000)."""
        if self.kind == "choice":
            return list(self.values)
        if self.kind == "integer" and self.high - self.low < GRID_LIMIT:
            return list(range(int(self.low), int(self.high) + 1))
        raise UserInputError(f"--sampler grid: parameter '{name}' is {self}, which has no "
                             "finite set of values; use choice(...) or a small integer(...)")

    def __str__(self) -> str:
        if self.kind == "choice":
            return f"choice({', '.join(repr(v) for v in self.values)})"
        if self.kind == "integer":
            return f"integer({int(self.low)}, {int(self.high)}{', log=True' if self.log else ''})"
        return f"{self.kind}({self.low:g}, {self.high:g})"


def _bounds(kind: Kind, low: Any, high: Any) -> tuple[float, float]:
    for value in (low, high):
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise UserInputError(f"{kind}({low!r}, {high!r}): the bounds must be numbers")
    if not low < high:
        raise UserInputError(f"{kind}({low!r}, {high!r}): the low bound must be below the high")
    return float(low), float(high)


def uniform(low: float, high: float) -> Distribution:
    """A float drawn evenly between ``low`` and ``high``."""
    lo, hi = _bounds("uniform", low, high)
    return Distribution("uniform", lo, hi)


def loguniform(low: float, high: float) -> Distribution:
    """A float between ``low`` and ``high`` (both above 0), even on a log scale."""
    lo, hi = _bounds("loguniform", low, high)
    if lo <= 0:
        raise UserInputError(f"loguniform({low!r}, {high!r}): the bounds must be above 0")
    return Distribution("loguniform", lo, hi)


def integer(low: int, high: int, log: bool = False) -> Distribution:
    """A whole number from ``low`` to ``high``, both included."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)):
        raise UserInputError(f"integer({low!r}, {high!r}): the bounds must be whole numbers")
    lo, hi = _bounds("integer", low, high)
    if log and lo < 1:
        raise UserInputError(f"integer({low!r}, {high!r}, log=True): the bounds must be >= 1")
    return Distribution("integer", lo, hi, log=bool(log))


def choice(*values: Any) -> Distribution:
    """One of ``values`` (numbers, strings, booleans or None)."""
    if not values:
        raise UserInputError("choice(): give at least one value")
    for value in values:
        if value is not None and not isinstance(value, bool | int | float | str):
            raise UserInputError(f"choice(...): {value!r} is not a number, string, boolean or "
                                 "None")
    if len(set(values)) != len(values):
        raise UserInputError(f"choice({', '.join(map(repr, values))}): a value is repeated")
    return Distribution("choice", values=tuple(values))


MAKERS: dict[str, Callable[..., Distribution]] = {
    "uniform": uniform, "loguniform": loguniform, "integer": integer, "choice": choice}
Space = dict[str, Distribution]

_ENTRY = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*([A-Za-z_]\w*)\s*\(([^()]*)\)\s*")
_CALL = re.compile(r"\s*([A-Za-z_]\w*)\s*\(([^()]*)\)\s*")
_WORD = re.compile(r"[A-Za-z_][\w.\-]*")


def parse_distribution(text: str) -> Distribution:
    """``loguniform(1e-4, 1e-1)``, ``integer(8, 256, log=True)``, ``choice(relu, tanh)``."""
    match = _CALL.fullmatch(text)
    if match is None:
        raise UserInputError(f"'{text.strip()}' is not a distribution: write one of "
                             f"{', '.join(f'{k}(...)' for k in MAKERS)}")
    return _make(match.group(1), match.group(2), text.strip())


def _make(kind: str, arguments: str, shown: str) -> Distribution:
    maker = MAKERS.get(kind)
    if maker is None:
        raise UserInputError(f"'{shown}': unknown distribution '{kind}'; use one of "
                             f"{', '.join(MAKERS)}")
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for part in _split(arguments, shown):
        key, sep, value = part.partition("=")
        if sep and key.strip().isidentifier() and not value.startswith("="):
            kwargs[key.strip()] = _value(value.strip(), shown)
        else:
            args.append(_value(part, shown))
    if kwargs and (set(kwargs) != {"log"} or kind != "integer"):
        raise UserInputError(f"'{shown}': only integer(...) takes a keyword (log=True)")
    try:
        return maker(*args, **kwargs)
    except TypeError:
        raise UserInputError(f"'{shown}': wrong number of arguments for {kind}(...)") from None


def _split(arguments: str, shown: str) -> list[str]:
    """Comma-separated arguments; commas inside quotes stay."""
    parts: list[str] = []
    current = ""
    quote: str | None = None
    for char in arguments:
        if quote:
            current += char
            quote = None if char == quote else quote
        elif char in "'\"":
            current += char
            quote = char
        elif char == ",":
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if quote:
        raise UserInputError(f"'{shown}': a quote is not closed")
    if current.strip() or parts:
        parts.append(current.strip())
    if any(not p for p in parts):
        raise UserInputError(f"'{shown}': an argument is empty")
    return parts


def _value(text: str, shown: str) -> Any:
    """A literal (number, quoted string, True/False/None), or a bare word as a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    if _WORD.fullmatch(text):
        return text
    raise UserInputError(f"'{shown}': {text!r} is not a number, a string or a word")


def parse_space(text: str) -> Space:
    """``--space "lr=loguniform(1e-4,1e-1) hidden=integer(8,256) act=choice(relu,tanh)"``."""
    space: Space = {}
    position = 0
    while position < len(text):
        match = _ENTRY.match(text, position)
        if match is None or match.end() == position:
            rest = text[position:].strip()
            if not rest:
                break
            raise UserInputError(f"--space: cannot read '{rest[:60]}': write NAME=KIND(ARGS) "
                                 "separated by spaces, e.g. lr=loguniform(1e-4,1e-1)")
        name, kind, arguments = match.groups()
        if name in space:
            raise UserInputError(f"--space: parameter '{name}' is given twice")
        shown = f"{kind}({arguments})"
        try:
            space[name] = _make(kind, arguments, shown)
        except UserInputError as exc:
            raise UserInputError(f"--space {name}: {exc}") from None
        position = match.end()
    if not space:
        raise UserInputError("--space is empty: write NAME=KIND(ARGS), e.g. x=uniform(-5,5)")
    return space


def parse_annotations(source: str) -> Space:
    """The ``# sweep: KIND(ARGS)`` comments on a parameters cell's assignment lines."""
    try:
        tree = ast.parse(source)
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (SyntaxError, tokenize.TokenError):
        return {}
    targets: dict[int, str] = {}
    for stmt in tree.body:
        target = (stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                  else stmt.target if isinstance(stmt, ast.AnnAssign) else None)
        if isinstance(target, ast.Name):
            for line in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1):
                targets[line] = target.id
    space: Space = {}
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        match = re.match(r"#\s*sweep\s*:\s*(.*)$", token.string)
        if match is None:
            continue
        line = token.start[0]
        name = targets.get(line)
        if name is None:
            raise UserInputError(f"parameters cell, line {line}: '# sweep:' must follow an "
                                 "assignment (name = value  # sweep: uniform(0, 1))")
        try:
            space[name] = parse_distribution(match.group(1))
        except UserInputError as exc:
            raise UserInputError(f"parameters cell, line {line} ({name}): {exc}") from None
    return space
