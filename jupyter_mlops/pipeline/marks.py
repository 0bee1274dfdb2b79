"""How a cell says it starts a step: ``%%mlops step NAME …``, ``mlops.step`` metadata, tags.

One argument parser serves the ``%%mlops step`` magic (which checks the line before running the
cell) and the notebook reader (which parses the same line out of the saved notebook).
"""

from __future__ import annotations

import argparse
import keyword
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import UserInputError

#: where a step's mark was read: the %%mlops step line, the cell's metadata, a tag, or none
#: (the cells above the first mark, as an implicit step)
MarkSource = Literal["magic", "metadata", "tag", "implicit"]

STEP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
CPU = re.compile(r"(\d+(\.\d+)?|\d+m)")
MEMORY = re.compile(r"\d+(\.\d+)?(Ki|Mi|Gi|Ti|K|M|G|T|k)?")

#: The step a ``%%mlops sweep`` cell starts when no tag or metadata names it.
SWEEP_STEP = "sweep"


def is_sweep_cell(source: str) -> bool:
    """A cell that ``%%mlops sweep …`` starts: a step of its own (a fan-out of trials on an
    engine), its line kept in the step's code."""
    first = next((line for line in source.split("\n") if line.strip()), "")
    return first.split()[:2] == ["%%mlops", "sweep"]


#: Tags with a meaning (papermill's ``parameters``, Kale's ``block:``/``step:``/``prev:``, …).
SHARED_TAGS = frozenset({"imports", "functions"})
PARAMETER_TAGS = frozenset({"parameters", "pipeline-parameters"})
SKIP_TAGS = frozenset({"skip"})


@dataclass(frozen=True)
class StepMark:
    """What one cell declares about the step it starts."""

    name: str
    after: tuple[str, ...] = ()
    gpu: int = 0
    cpu: str | None = None
    memory: str | None = None
    retries: int = 0
    cache: bool = True
    source: MarkSource = "magic"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "after": list(self.after), "gpu": self.gpu, "cpu": self.cpu,
                "memory": self.memory, "retries": self.retries, "cache": self.cache}


def check_step_name(name: str) -> str:
    if not STEP_NAME.fullmatch(name) or keyword.iskeyword(name.replace("-", "_")):
        raise UserInputError(f"step name {name!r} must start with a letter or _ and hold only "
                             "letters, digits, _ and - (and not be a Python keyword)")
    return name


def _name(text: str) -> str:
    try:
        return check_step_name(text)
    except UserInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):  # "²".isdigit(), yet int("²") fails
        raise argparse.ArgumentTypeError(f"must be a whole number ≥ 0, not {text!r}")
    return int(text)


def _cpu(text: str) -> str:
    if not CPU.fullmatch(text):
        raise argparse.ArgumentTypeError(f"CPUs as a number (2, 0.5) or millicores (500m), "
                                         f"not {text!r}")
    return text


def _memory(text: str) -> str:
    if not MEMORY.fullmatch(text):
        raise argparse.ArgumentTypeError(f"memory as a size such as 512Mi, 4Gi or 2G, not {text!r}")
    return text


def _after(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("--after needs step names: --after load,clean")
    return [_name(n) for n in names]


def configure_step_parser(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``%%mlops step``."""
    parser.add_argument("name", type=_name, help="the step's name (letters, digits, _ and -)")
    parser.add_argument("--after", type=_after, action="append", default=[], metavar="A,B",
                        help="run after these steps even where no data flows from them")
    parser.add_argument("--gpu", type=_count, default=0, metavar="N",
                        help="GPUs the step needs (exports ask the engine for them)")
    parser.add_argument("--cpu", type=_cpu, default=None, metavar="N",
                        help="CPUs the step needs, e.g. 2 or 500m (exports)")
    parser.add_argument("--memory", type=_memory, default=None, metavar="SIZE",
                        help="memory the step needs, e.g. 4Gi (exports)")
    parser.add_argument("--retries", type=_count, default=0, metavar="N",
                        help="times to retry the step when it fails")
    parser.add_argument("--no-cache", dest="cache", action="store_false",
                        help="always run the step, never take its outputs from the cache")


def mark_from_args(args: argparse.Namespace, source: MarkSource = "magic") -> StepMark:
    after = tuple(dict.fromkeys(name for group in args.after for name in group))
    return StepMark(args.name, after, args.gpu, args.cpu, args.memory, args.retries, args.cache,
                    source)


def parse_step_line(line: str) -> StepMark:
    """``NAME --after a …`` (the text after ``%%mlops step``) as a StepMark."""
    from ..verb import CommandParser

    parser = CommandParser(prog="%%mlops step", add_help=False)
    configure_step_parser(parser)
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise UserInputError(f"cannot parse '%%mlops step {line}' ({exc})") from None
    try:
        return mark_from_args(parser.parse_args(argv))
    except UserInputError as exc:  # argparse's message, without the (multi-line) usage
        reason = str(exc).split("; usage:")[0]
        raise UserInputError(f"'%%mlops step {line.strip()}': {reason}") from None


def mark_from_metadata(value: Any) -> StepMark:
    """The ``mlops.step`` cell metadata the Pipeline panel writes: a name, or
    ``{"name": …, "after": [...], "gpu": 1, "cpu": "2", "memory": "4Gi", "retries": 2,
    "cache": false}``."""
    if isinstance(value, str):
        return StepMark(check_step_name(value), source="metadata")
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
        raise UserInputError("cell metadata mlops.step must be a step name or an object with "
                             f"a 'name', not {value!r}")
    unknown = set(value) - {"name", "after", "gpu", "cpu", "memory", "retries", "cache"}
    if unknown:
        raise UserInputError(f"cell metadata mlops.step has unknown keys: "
                             f"{', '.join(sorted(unknown))}")
    after = value.get("after") or []
    if isinstance(after, str):
        after = [after]
    if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
        raise UserInputError("mlops.step 'after' must be a list of step names")
    fields: dict[str, Any] = field_defaults()
    for key in ("gpu", "retries"):
        if key in value:
            fields[key] = _checked(_count, str(value[key]), key)
    for key, check in (("cpu", _cpu), ("memory", _memory)):
        if value.get(key) not in (None, ""):
            fields[key] = _checked(check, str(value[key]), key)
    if "cache" in value:
        if not isinstance(value["cache"], bool):
            raise UserInputError("mlops.step 'cache' must be true or false")
        fields["cache"] = value["cache"]
    return StepMark(check_step_name(value["name"]),
                    tuple(check_step_name(a) for a in after), source="metadata", **fields)


def field_defaults() -> dict[str, Any]:
    return {"gpu": 0, "cpu": None, "memory": None, "retries": 0, "cache": True}


def _checked(check: Any, text: str, key: str) -> Any:
    try:
        return check(text)
    except argparse.ArgumentTypeError as exc:
        raise UserInputError(f"mlops.step '{key}': {exc}") from None


@dataclass(frozen=True)
class TagMarks:
    """What a cell's tags say: a step it starts (Kale's ``block:``/``step:``), ``prev:`` edges,
    and whether it is shared, the parameters cell, or skipped."""

    step: str | None = None
    after: tuple[str, ...] = ()
    shared: bool = False
    parameters: bool = False
    skip: bool = False
    unknown: tuple[str, ...] = field(default=())


def read_tags(tags: Any) -> TagMarks:
    if not isinstance(tags, list):
        return TagMarks()
    step: str | None = None
    after: list[str] = []
    shared = parameters = skip = False
    for tag in tags:
        if not isinstance(tag, str):
            continue
        kind, _, value = tag.partition(":")
        if value and kind in ("step", "block"):
            if step is not None and step != value:
                raise UserInputError(f"a cell is tagged with two steps: {step!r} and {value!r}")
            step = check_step_name(value)
        elif value and kind == "prev":
            after.append(check_step_name(value))
        elif tag in SHARED_TAGS:
            shared = True
        elif tag in PARAMETER_TAGS:
            parameters = True
        elif tag in SKIP_TAGS:
            skip = True
    return TagMarks(step, tuple(after), shared, parameters, skip)
