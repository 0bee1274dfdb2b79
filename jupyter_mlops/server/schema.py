"""One schema check for JSON request bodies: a body is declared as a dataclass whose field
annotations are the schema, and ``parse(Schema, data)`` returns an instance with every value
type-checked, or raises one ``UserInputError`` line naming the field and the type it expects.

    @dataclass(frozen=True)
    class RegisterBody:
        model: str | None = None
        alias: str | None = None

    body = self.body(RegisterBody)      # in an MLOpsHandler: typed, or a 400

Understood annotations: ``str``, ``int`` (not ``bool``), ``float`` (an int is accepted),
``bool``, ``None``, ``Any`` / ``object`` (any JSON), ``Literal[...]``, unions (``X | None``),
``list[X]``, ``dict[str, X]`` and nested dataclasses. A field without a default is required;
a field the dataclass does not declare is refused. Range and cross-field checks belong in the
dataclass's ``__post_init__`` (raise ``UserInputError``).

``load_json`` parses text with a nesting limit, for every JSON a caller sends (the REST API
and the serving process): deeply nested input is a clear 400, never a RecursionError.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Literal, TypeVar, Union

from ..errors import UserInputError

D = TypeVar("D")

#: The deepest nesting of arrays and objects a caller's JSON may have (a batch of images as
#: nested lists is 5 deep).
MAX_DEPTH = 64


def load_json(text: str | bytes, *, what: str = "the request body",
              max_depth: int = MAX_DEPTH) -> Any:
    """``text`` parsed as JSON, nested at most ``max_depth`` deep; else a UserInputError."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise UserInputError(f"{what} is nested too deeply (at most {max_depth} levels)"
                             ) from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise UserInputError(f"{what} is not JSON: {exc}") from None
    if _depth_exceeds(data, max_depth):
        raise UserInputError(f"{what} is nested too deeply (at most {max_depth} levels)")
    return data


def _depth_exceeds(data: Any, limit: int) -> bool:
    """Whether ``data`` nests lists/dicts deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
    return False


def parse(schema: type[D], data: object, *, where: str = "") -> D:
    """``data`` (a decoded JSON object) checked against the dataclass ``schema``."""
    if not dataclasses.is_dataclass(schema):
        raise TypeError(f"{schema!r} is not a dataclass")
    if not isinstance(data, dict):
        raise UserInputError(f"{where or 'the request body'} must be a JSON object, "
                             f"not {_json_kind(data)}")
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema) if f.init}
    unknown = sorted(str(key) for key in data if key not in fields)
    if unknown:
        label = f"{where}: " if where else ""
        raise UserInputError(f"{label}unknown field{'s' if len(unknown) > 1 else ''}: "
                             f"{', '.join(unknown)} (known: {', '.join(fields)})")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        key = f"{where}.{name}" if where else name
        if name in data:
            values[name] = _check(hints[name], data[name], key)
        elif (field.default is dataclasses.MISSING
              and field.default_factory is dataclasses.MISSING):
            raise UserInputError(f"'{key}' is required ({describe(hints[name])})")
    return schema(**values)


def _check(kind: Any, value: object, key: str) -> Any:
    """``value`` if it has the type ``kind`` (nested dataclasses built), else a 400."""
    origin = typing.get_origin(kind)
    if kind is Any or kind is object:
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(kind)
        for option in options:
            try:
                return _check(option, value, key)
            except UserInputError:
                continue
        raise _wrong(kind, value, key)
    if origin is Literal:
        if any(type(value) is type(choice) and value == choice
               for choice in typing.get_args(kind)):
            return value
        raise _wrong(kind, value, key)
    if kind is None or kind is type(None):
        if value is None:
            return None
        raise _wrong(kind, value, key)
    if origin is list:
        if not isinstance(value, list):
            raise _wrong(kind, value, key)
        (item,) = typing.get_args(kind) or (Any,)
        return [_check(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _wrong(kind, value, key)
        _, item = typing.get_args(kind) or (str, Any)
        return {k: _check(item, v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return parse(kind, value, where=key)
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"schema field '{key}': unsupported annotation {kind!r}")
    raise _wrong(kind, value, key)


def describe(kind: Any) -> str:
    """``kind`` in words, as an error names what it expected."""
    origin = typing.get_origin(kind)
    if kind is Any or kind is object:
        return "any JSON value"
    if origin in (Union, types.UnionType):
        return " or ".join(describe(option) for option in typing.get_args(kind))
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(c) for c in typing.get_args(kind))
    if origin is list:
        (item,) = typing.get_args(kind) or (Any,)
        return f"a list of {_plural(describe(item))}"
    if origin is dict:
        return "an object"
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return "an object"
    return {bool: "true or false", int: "a whole number", float: "a number",
            str: "a string", type(None): "null", None: "null"}.get(kind, repr(kind))


def _plural(words: str) -> str:
    for article in ("a ", "an "):
        if words.startswith(article):
            return words[len(article):] + "s"
    return words


def _wrong(kind: Any, value: object, key: str) -> UserInputError:
    shown = json.dumps(value) if not isinstance(value, dict | list) else _json_kind(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return UserInputError(f"'{key}' must be {describe(kind)}, not {shown}")


def _json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true or false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "a number"
    return "a string"
