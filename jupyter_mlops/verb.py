"""What every capability's verbs are made of: ``Verb``, ``Context``, ``UsageError``,
``CommandParser`` and the ``Capability`` declaration the registry discovers.

A leaf module: it imports only the standard library and ``errors``, so capability packages,
``commands``, the CLI and the kernel can all import it without an import circle.

The adapters (``kernel/`` for ``%mlops``, ``cli.py`` for ``jupyter mlops``) build a ``Context``
and fill in its hooks; verbs call the hooks and return one result object, never asking which
adapter called them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, NoReturn, Protocol

from .errors import UserInputError

Adapter = Literal["cli", "magic"]
BOTH: frozenset[Adapter] = frozenset({"cli", "magic"})
MAGIC_ONLY: frozenset[Adapter] = frozenset({"magic"})
CLI_ONLY: frozenset[Adapter] = frozenset({"cli"})


class UsageError(UserInputError):
    """Bad verb, flag or argument; the message ends with the usage line."""


class HelpShown(Exception):
    """``--help`` was asked for and has been printed: nothing more to do."""


class VerbFailed(UserInputError):
    """The verb ran, and the work it started failed (a pipeline step raised): ``result`` is
    the outcome. The command line prints the result and exits 1; the notebook, where a live
    display has shown it already, raises the message as a one-line error."""

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of exiting, so a notebook never sees SystemExit."""

    def __init__(self, *args: Any, help_file: IO[str] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self._help_file = help_file

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}; {self.format_usage().strip()} (see --help)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            raise UsageError(message.strip())
        raise HelpShown()

    def print_help(self, file: Any = None) -> None:
        super().print_help(file or self._help_file or sys.stdout)


def positive_int(text: str) -> int:
    """An argument that is a whole number of at least 1 (``--limit``, ``--replicas``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text!r}")
    return value


# --------------------------------------------------------------------------- progress


class Progress(Protocol):
    """A live report of long work. The kernel shows it as one display updated in place; the
    command line writes lines to stderr. Verbs only call these three methods."""

    def __call__(self, message: str) -> None:
        """One step of progress, in words ("loading model", "3 of 5 views joined")."""

    def event(self, event: Any) -> None:
        """A structured event (a pipeline ``StepEvent``); text adapters print ``str(event)``."""

    def close(self, result: Any = None) -> None:
        """The work ended (``result`` is its outcome, for a final rendering)."""


class TextProgress:
    """Progress as lines on a stream (stderr by default): the command line's, and the
    fallback of every adapter that has no richer display. The title comes with the first
    line, so work that fails before it reports anything prints only its one-line error."""

    def __init__(self, title: str, stream: IO[str] | None = None) -> None:
        self.title = title
        self.stream = stream
        self.began = time.monotonic()
        self._titled = False

    def _write(self, text: str) -> None:
        if not self._titled:
            self._titled = True
            print(self.title, file=self.stream or sys.stderr, flush=True)
        print(text, file=self.stream or sys.stderr, flush=True)

    def __call__(self, message: str) -> None:
        self._write(f"  {message}")

    def event(self, event: Any) -> None:
        self._write(f"  {event}")

    def close(self, result: Any = None) -> None:
        pass


class SilentProgress:
    """Progress nobody watches (REST handlers, tests, library calls)."""

    def __init__(self, title: str = "") -> None:
        self.title = title

    def __call__(self, message: str) -> None:
        pass

    def event(self, event: Any) -> None:
        pass

    def close(self, result: Any = None) -> None:
        pass


ProgressFactory = Callable[..., Progress]
"""``ctx.progress(title, subject=None)``: a new live report; ``subject`` is what the work is
about (a ``Pipeline``, for a display of its DAG), for adapters that can draw it."""


def _text_progress(title: str, subject: Any = None) -> Progress:
    return TextProgress(title)


def _nothing() -> None:
    return None


# --------------------------------------------------------------------------- context


@dataclass
class Context:
    """Where a verb runs, and the hooks its adapter fills in. Defaults are the command
    line's: no namespace, no cell, progress as text on stderr."""

    cwd: str = field(default_factory=os.getcwd)
    adapter: Adapter = "cli"
    #: how the user calls verbs here ("%mlops", "jupyter mlops"): for messages only
    prog: str = "jupyter mlops"
    #: the body of a ``%%mlops`` cell
    cell: str | None = None
    #: the user's variables (the kernel's namespace); None on the command line, where frames
    #: are files
    namespace: dict[str, Any] | None = None
    #: the adapter's own settings (``status_timeout``)
    options: dict[str, Any] = field(default_factory=dict)
    #: a live progress report for long work
    progress: ProgressFactory = _text_progress
    #: the id of the cell being run (the kernel's), if any
    cell_id: Callable[[], str | None] = _nothing
    #: the notebook file this kernel runs (``jupyter_mlops.session.current_notebook``), if any
    notebook: Callable[[], str | None] = _nothing
    #: run code as a cell of the user's shell (``%%mlops`` cell verbs); None: plain exec
    run_cell: Callable[[str], Any] | None = None
    #: call ``fn(source)`` before each cell the user runs (``source``: the cell's code);
    #: returns the function that removes it. None where there are no cells (the command line)
    on_pre_run_cell: Callable[[Callable[[str], None]], Callable[[], None]] | None = None

    @property
    def interactive(self) -> bool:
        """Frames are the user's variables (a kernel), not files (the command line)."""
        return self.namespace is not None

    def keep_frame(self, frame: Any, into: str) -> Path | None:
        """``--into``: the frame becomes a variable of the notebook (a kernel) or a Parquet/CSV
        file (the command line); the file's path, or None for a variable."""
        if self.namespace is not None:
            self.namespace[into] = frame
            return None
        return write_frame(frame, into, self.cwd)


# --------------------------------------------------------------------------- verbs


@dataclass(frozen=True)
class Verb:
    """One verb of ``%mlops`` / ``jupyter mlops``: its arguments and what it does."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Context], Any]
    adapters: frozenset[Adapter] = BOTH
    #: a ``%%mlops`` cell verb
    cell: bool = False


def lazy(target: str, *bound: Any) -> Callable[..., Any]:
    """``"package.module:function"``, imported on the first call (with ``bound`` arguments
    first), so declaring a verb loads nothing of its capability."""
    module_name, _, attribute = target.partition(":")

    def call(*args: Any, **kwargs: Any) -> Any:
        fn = getattr(importlib.import_module(module_name), attribute)
        return fn(*bound, *args, **kwargs)

    call.__qualname__ = call.__name__ = f"lazy({target})"
    return call


def dispatched(module: str, name: str, help: str, adapters: frozenset[Adapter] = BOTH) -> Verb:
    """A verb of a module whose ``configure(name, parser)`` and ``run(name, args, ctx)`` serve
    several verbs, told apart by ``name``."""
    return Verb(name, help, configure=lazy(f"{module}:configure", name),
                run=lazy(f"{module}:run", name), adapters=adapters)


@dataclass(frozen=True)
class Capability:
    """A capability as the registry sees it. Each ``jupyter_mlops/<capability>/__init__.py``
    exports one as ``CAPABILITY``; its health checks are ``<package>.health.CHECKS`` and its
    REST routes ``<package>.routes.ROUTES``, found by the package name."""

    id: str
    title: str
    package: str
    verbs: tuple[Verb, ...] = ()


class _ExportingModule(types.ModuleType):
    """A package whose public name is also one of its submodules' names (``monitor.drift``,
    the function, defined in ``monitor/drift.py``): importing the submodule would bind the
    module over the function (the import system sets ``package.drift``), so that binding is
    left out and the name keeps resolving lazily to the function. Setting a module's
    ``__class__`` to a ModuleType subclass is the documented way to customise it."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in self.__dict__.get(
                "_mlops_exports", ()) and value.__name__ == f"{self.__name__}.{name}":
            return
        super().__setattr__(name, value)


def lazy_exports(namespace: dict[str, Any], names: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's module ``__getattr__`` and ``__dir__`` (PEP 562) for its public names:
    ``names`` maps each to the submodule defining it, imported on first use, so importing the
    package (to read its ``CAPABILITY``) loads none of its modules. Call it with ``globals()``;
    the package repeats the names under ``if TYPE_CHECKING:`` for type checkers."""
    package = namespace["__name__"]
    module = sys.modules.get(package)
    if module is not None and type(module) is types.ModuleType:
        module.__class__ = _ExportingModule
        module.__dict__["_mlops_exports"] = frozenset(names)

    def __getattr__(name: str) -> Any:
        where = names.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{where}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__


# --------------------------------------------------------------------------- results


def as_data(result: Any) -> Any:
    """A verb's result as JSON-ready data, for ``--json``: its ``to_dict()`` (or
    ``to_dicts()`` for a list of records), a DataFrame's records (ISO dates), plain data as
    it is. Both adapters use it, so ``--json`` gives the same data in the notebook."""
    for method in ("to_dict", "to_dicts"):
        convert = getattr(result, method, None)
        if callable(convert) and not _is_frame(result):
            return convert()
    if _is_frame(result):
        return json.loads(result.to_json(orient="records", date_format="iso"))
    return result


def write_frame(frame: Any, name: str, cwd: str) -> Path:
    """A DataFrame written where ``--into FILE`` says on the command line (``.parquet``,
    ``.pq`` or ``.csv``, relative to ``cwd``); any other name is a UsageError."""
    path = Path(cwd) / name
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        raise UsageError(f"--into {name}: give a .parquet or .csv file")
    return path


def _is_frame(value: Any) -> bool:
    pandas = sys.modules.get("pandas")  # loaded wherever a DataFrame exists
    return pandas is not None and isinstance(value, pandas.DataFrame)
