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
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
    fallback of every adapter that has no richer display."""

    def __init__(self, title: str, stream: IO[str] | None = None) -> None:
        self.title = title
        self.stream = stream
        self.began = time.monotonic()
        self._write(title)

    def _write(self, text: str) -> None:
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
    #: call ``fn`` before each cell the user runs; returns the function that removes it.
    #: None where there are no cells (the command line)
    on_pre_run_cell: Callable[[Callable[[], None]], Callable[[], None]] | None = None

    @property
    def interactive(self) -> bool:
        """Frames are the user's variables (a kernel), not files (the command line)."""
        return self.namespace is not None


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


@dataclass(frozen=True)
class Capability:
    """A capability as the registry sees it. Each ``jupyter_mlops/<capability>/__init__.py``
    exports one as ``CAPABILITY``; its health checks are ``<package>.health.CHECKS`` and its
    REST routes ``<package>.routes.ROUTES``, found by the package name."""

    id: str
    title: str
    package: str
    verbs: tuple[Verb, ...] = ()
