"""``%mlops VERB …`` and ``%%mlops VERB …``: a thin adapter over ``jupyter_mlops.commands``.

It builds the verb's ``Context`` with this kernel's hooks (the user's namespace, live
progress, the running cell's id, the notebook this kernel runs, running a cell, a hook before
each cell) and shows the verb's one result through ``display.wrap``.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import Bool, Float

from jupyter_mlops.commands import parse, run, verbs_for
from jupyter_mlops.errors import MLOpsError
from jupyter_mlops.session import current_notebook
from jupyter_mlops.verb import Context, HelpShown, as_data

from .display import wrap
from .progress import progress_factory

PROG = "%mlops"


@magics_class
class MLOpsMagics(Magics):
    """The ``%mlops`` magic. A traitlets Configurable: ``%config MLOpsMagics.rich = False``."""

    rich = Bool(
        True,
        config=True,
        help="Render results as rich HTML where the frontend can show it (plain text always "
        "comes along for terminals).",
    )
    status_timeout = Float(
        3.0,
        config=True,
        help="Seconds each backend check of '%mlops status' may take (used when neither "
        "mlops.toml nor MLOPS_STATUS_TIMEOUT sets status.timeout).",
    )

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        #: pre_run_cell callbacks that verbs asked for, removed again by ``unhook``
        self.callbacks: list[Callable[[Any], None]] = []

    @line_cell_magic
    def mlops(self, line: str, cell: str | None = None) -> Any:
        """The ML loop in the notebook. Run '%mlops --help' for the verbs."""
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"cannot parse the arguments ({exc}): check the quotes") from None
        try:
            verb, args = parse(argv, "magic", PROG)
            if cell is not None and not verb.cell:
                raise UsageError(f"'{verb.name}' is a line verb: use '%mlops {verb.name} …' "
                                 "(one %), cell verbs are: "
                                 + ", ".join(v.name for v in verbs_for("magic") if v.cell))
            result = run(verb, args, self.context(cell))
            if getattr(args, "json", False):
                return as_data(result)
            return wrap(result, rich=self.rich)
        except HelpShown:
            return None
        except MLOpsError as exc:
            raise UsageError(str(exc)) from None

    def context(self, cell: str | None = None) -> Context:
        """Where a verb runs in this kernel, and this kernel's hooks."""
        cwd = os.getcwd()
        shell = self.shell
        return Context(
            cwd=cwd, adapter="magic", prog=PROG, cell=cell,
            namespace=shell.user_ns if shell is not None else None,
            options={"status_timeout": self.status_timeout},
            progress=progress_factory(lambda: bool(self.rich)),
            cell_id=self._cell_id,
            notebook=lambda: self._notebook(cwd),
            run_cell=self._run_cell if shell is not None else None,
            on_pre_run_cell=self._on_pre_run_cell if shell is not None else None,
        )

    def _cell_id(self) -> str | None:
        """The id the frontend gave the cell being run (ipykernel passes it on)."""
        result = getattr(getattr(self.shell, "displayhook", None), "exec_result", None)
        cell_id = getattr(getattr(result, "info", None), "cell_id", None)
        return str(cell_id) if cell_id else None

    def _notebook(self, cwd: str) -> str | None:
        found = current_notebook(self.shell.user_ns if self.shell is not None else None,
                                 cwd=cwd)
        return str(found) if found is not None else None

    def _run_cell(self, code: str) -> Any:
        """Run ``code`` as a cell of the user's shell (for %%mlops cell verbs): its output and
        traceback show as usual; its error is raised again for the verb."""
        assert self.shell is not None
        # the inner run resets the displayhook's link to the outer cell's result: keep it
        outer = self.shell.displayhook.exec_result
        try:
            result = self.shell.run_cell(code, store_history=False)  # type: ignore[no-untyped-call]
        finally:
            self.shell.displayhook.exec_result = outer
        result.raise_error()
        return result.result

    def _on_pre_run_cell(self, fn: Callable[[str], None]) -> Callable[[], None]:
        """Call ``fn(source)`` before each cell; the function returned stops it."""
        assert self.shell is not None
        events = self.shell.events

        def before(info: Any) -> None:
            fn(getattr(info, "raw_cell", "") or "")

        events.register("pre_run_cell", before)
        self.callbacks.append(before)

        def remove() -> None:
            if before in self.callbacks:
                self.callbacks.remove(before)
                events.unregister("pre_run_cell", before)

        return remove

    def unhook(self) -> None:
        """Remove every callback verbs registered (``%unload_ext``)."""
        if self.shell is not None:
            for callback in self.callbacks:
                self.shell.events.unregister("pre_run_cell", callback)
        self.callbacks.clear()
