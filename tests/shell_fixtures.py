"""A real IPython shell with ``%load_ext jupyter_mlops`` done, and how tests drive it: ``run``
a cell as the notebook does (its error re-raised), see what a frontend is ``shown``.

Registered in ``conftest.py``; a test module that needs more (a working folder, a tracking
server) overrides ``shell`` with a fixture of the same name that asks for this one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output


def forget_config(shell: InteractiveShell) -> None:
    """``%config MLOpsMagics.x = …`` lives in the shell's config: no test leaks it to another."""
    shell.config.pop("MLOpsMagics", None)


def unload(shell: InteractiveShell) -> None:
    if "jupyter_mlops" in shell.extension_manager.loaded:
        run(shell, "%unload_ext jupyter_mlops")


@pytest.fixture
def shell(project: Path) -> Iterator[InteractiveShell]:
    """IPython's shell (one per process, shared by the tests), working in ``project``, with
    the extension freshly loaded; afterwards unloaded, and the variables the test made gone."""
    ip = InteractiveShell.instance()
    forget_config(ip)
    unload(ip)
    run(ip, "%load_ext jupyter_mlops")
    names = set(ip.user_ns)
    yield ip
    unload(ip)
    for name in set(ip.user_ns) - names:
        del ip.user_ns[name]
    forget_config(ip)


def run(shell: InteractiveShell, code: str) -> Any:
    """Run a cell like the notebook does; re-raise its error; return its value."""
    result = shell.run_cell(code, store_history=False)
    result.raise_error()
    return result.result


def shown(shell: InteractiveShell, value: Any) -> dict[str, Any]:
    """What a frontend receives for ``value``: the shell's display formatter's mime bundle."""
    data, _metadata = shell.display_formatter.format(value)
    return dict(data)


def displayed(shell: InteractiveShell, value: Any) -> list[dict[str, Any]]:
    """The outputs a frontend receives for ``value`` shown as a cell's result: those a view
    of the kernel's display shows one after the other (a card or table, then its charts)."""
    with capture_output() as captured:
        shell.displayhook(value)
    return [output.data for output in captured.outputs]


def one_line_error(shell: InteractiveShell, code: str) -> str:
    """The message of the UsageError running ``code`` raises, which must be one line
    (argparse's own messages end with the usage, wrapped: cut off)."""
    with pytest.raises(UsageError) as caught:
        run(shell, code)
    text = str(caught.value).split("; usage:")[0]
    assert "\n" not in text, text
    return text
