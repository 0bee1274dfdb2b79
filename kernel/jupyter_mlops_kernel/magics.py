"""``%mlops VERB …`` and ``%%mlops VERB …``: a thin adapter over ``jupyter_mlops.commands``."""

from __future__ import annotations

import os
import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import Bool, Float

from jupyter_mlops.commands import Context, HelpShown, parse, run
from jupyter_mlops.errors import MLOpsError

from .display import wrap

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
                                 + ", ".join(v for v in _cell_verbs()))
            ctx = Context(cwd=os.getcwd(), adapter="magic", cell=cell,
                          namespace=self.shell.user_ns if self.shell is not None else None,
                          options={"status_timeout": self.status_timeout,
                                   "shell": self.shell, "run_cell": self._run_cell})
            result = run(verb, args, ctx)
        except HelpShown:
            return None
        except MLOpsError as exc:
            raise UsageError(str(exc)) from None
        return wrap(result, rich=self.rich)

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


def _cell_verbs() -> list[str]:
    from jupyter_mlops.commands import verbs_for

    return [v.name for v in verbs_for("magic") if v.cell]
