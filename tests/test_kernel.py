"""``%load_ext jupyter_mlops``, ``%mlops`` and ``%%mlops`` in a real IPython shell whose cell
errors are re-raised."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from jupyter_mlops_kernel import MLOpsMagics
from jupyter_mlops_kernel.display import FORMATTED

import jupyter_mlops as mlops
from jupyter_mlops import session
from jupyter_mlops.commands import verbs_for
from jupyter_mlops.status import StatusReport

from .pipeline_notebooks import CHAIN, write_notebook
from .shell_fixtures import forget_config, run, shown

TITLES = ("Features", "Experiments", "Pipeline", "Review", "Deploy", "Monitor")
MAGIC_VERBS = [v.name for v in verbs_for("magic")]


# --------------------------------------------------------------------------- loading


def test_load_ext_registers_the_line_and_cell_magic(shell: InteractiveShell) -> None:
    magics = shell.magics_manager.magics
    assert "mlops" in magics["line"]
    assert "mlops" in magics["cell"]
    assert any(isinstance(c, MLOpsMagics) for c in shell.configurables)


def test_unload_removes_the_magic_and_reload_brings_it_back(shell: InteractiveShell) -> None:
    run(shell, "%unload_ext jupyter_mlops")

    assert "mlops" not in shell.magics_manager.magics["line"]
    assert "mlops" not in shell.magics_manager.magics["cell"]
    assert not any(isinstance(c, MLOpsMagics) for c in shell.configurables)
    with pytest.raises(UsageError, match="mlops"):
        run(shell, "%mlops status")

    run(shell, "%load_ext jupyter_mlops")
    assert isinstance(run(shell, "%mlops status").report, StatusReport)
    assert sum(isinstance(c, MLOpsMagics) for c in shell.configurables) == 1


def hooks(shell: InteractiveShell) -> dict[str, Any]:
    """Everything loading an extension can add to a shell."""
    manager = shell.magics_manager
    return {
        "magics": {kind: dict(found) for kind, found in manager.magics.items()},
        "registry": dict(manager.registry),
        "configurables": list(shell.configurables),
        "events": {name: list(callbacks) for name, callbacks in shell.events.callbacks.items()},
        "formatters": {mime: (dict(f.type_printers), dict(f.deferred_printers))
                       for mime, f in shell.display_formatter.formatters.items()},
    }


def test_unload_removes_every_hook_that_load_and_the_verbs_added(
        shell: InteractiveShell, project: Path) -> None:
    run(shell, "%unload_ext jupyter_mlops")
    before = hooks(shell)
    run(shell, "%load_ext jupyter_mlops")
    # a verb's hook before each cell (as '%mlops track start' asks for), in use
    ctx = shell.magics_manager.registry["MLOpsMagics"].context()
    assert ctx.on_pre_run_cell is not None
    seen: list[str] = []
    stop = ctx.on_pre_run_cell(seen.append)
    run(shell, "x = 1")
    stop()
    run(shell, "x = 2")
    assert seen == ["x = 1"]
    ctx.on_pre_run_cell(seen.append)  # left in place: unloading removes it
    # a pipeline drawn by the display formatter the extension taught
    write_notebook(project / "chain.ipynb", CHAIN)
    assert "<svg" in shown(shell, run(shell, "%mlops pipeline show chain.ipynb"))["text/html"]
    assert hooks(shell) != before

    assert seen[-1] == "%mlops pipeline show chain.ipynb"

    run(shell, "%unload_ext jupyter_mlops")

    assert hooks(shell) == before
    seen.clear()
    run(shell, "x = 3")
    assert seen == []


def test_the_types_drawn_by_name_are_where_the_table_says() -> None:
    render = importlib.import_module("jupyter_mlops.pipeline.render")
    for module, name, draw in FORMATTED:
        found = getattr(importlib.import_module(module), name)
        assert (found.__module__, found.__name__) == (module, name)
        assert callable(getattr(render, draw))


def test_one_answer_to_which_notebook_this_kernel_runs_in_one_order(
        shell: InteractiveShell, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """set_notebook, then ``__session__`` (ipykernel), then JPY_SESSION_NAME (jupyter_server),
    then the server's sessions API (asked only inside ipykernel: stood in for here)."""
    for name in ("told", "session", "env", "server"):
        (project / f"{name}.ipynb").write_text("{}")
    server: list[str | None] = [str(project / "server.ipynb")]
    monkeypatch.setattr(session, "_from_server", lambda timeout=1.0: server[0])
    monkeypatch.setenv("JPY_SESSION_NAME", "env.ipynb")  # relative, as the server names it
    shell.user_ns["__session__"] = str(project / "session.ipynb")
    ctx = shell.magics_manager.registry["MLOpsMagics"].context()
    mlops.tracking.set_notebook(project / "told.ipynb")  # the tracking API's name for it
    try:
        assert ctx.notebook() == str(project / "told.ipynb")
        session.set_notebook(None)
        assert ctx.notebook() == str(project / "session.ipynb")
        del shell.user_ns["__session__"]
        assert ctx.notebook() == str(project / "env.ipynb")
        monkeypatch.setenv("JPY_SESSION_NAME", "gone.ipynb")  # not a file: passed over
        assert ctx.notebook() == str(project / "server.ipynb")
        server[0] = None
        assert ctx.notebook() is None
        # tracking asks the same function (lifecycle, listing), an explicit notebook first
        assert mlops.tracking.set_notebook is session.set_notebook
        assert session.current_notebook(None, project / "env.ipynb") == project / "env.ipynb"
    finally:
        session.set_notebook(None)


def test_loading_and_status_import_nothing_heavy(project: Path,
                                                 child_env: Callable[..., dict[str, str]]) -> None:
    """In a fresh interpreter: this test process may have loaded them for other tests."""
    script = (
        "import json, sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_cell('%load_ext jupyter_mlops').raise_error()\n"
        "result = shell.run_cell('%mlops status', store_history=False)\n"
        "result.raise_error()\n"
        "data, _ = shell.display_formatter.format(result.result)\n"
        "heavy = ['mlflow', 'torch', 'pandas', 'numpy', 'duckdb', 'sqlalchemy', 'boto3']\n"
        "print(json.dumps({'loaded': [m for m in heavy if m in sys.modules],\n"
        "                  'types': sorted(data)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=project, env=child_env(), capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["types"] == ["text/html", "text/plain"]
    assert result["loaded"] == []


# --------------------------------------------------------------------------- help and usage


def test_help_prints_usage_with_the_magic_verbs(
        shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(shell, "%mlops --help") is None

    out = capsys.readouterr().out
    assert out.startswith("usage: %mlops VERB [options]")
    for name in MAGIC_VERBS:
        assert f"\n  {name} " in out
    assert "\n  demo " not in out  # a CLI-only verb


def test_bare_magic_prints_usage(shell: InteractiveShell,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    run(shell, "%mlops")
    assert capsys.readouterr().out.startswith("usage: %mlops VERB [options]")


def test_verb_help_prints_its_options(shell: InteractiveShell,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert run(shell, "%mlops status --help") is None

    out = capsys.readouterr().out
    assert out.startswith("usage: %mlops status")
    assert "--timeout SECONDS" in out


def test_unknown_verb_is_a_usage_error_listing_the_verbs(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError) as caught:
        run(shell, "%mlops stauts")

    message = str(caught.value)
    assert "unknown verb 'stauts'" in message
    assert "did you mean 'status'" in message
    assert "verbs: " + ", ".join(MAGIC_VERBS) in message
    assert "\n" not in message


def test_bad_flag_is_a_usage_error_naming_it(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="unrecognized arguments: --jsno"):
        run(shell, "%mlops status --jsno")


def test_flag_without_verb_is_a_usage_error_listing_the_verbs(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError) as caught:
        run(shell, "%mlops --jsno")
    assert "--jsno" in str(caught.value)
    assert "verbs: " + ", ".join(MAGIC_VERBS) in str(caught.value)


def test_bad_flag_value_is_a_usage_error(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="argument --timeout"):
        run(shell, "%mlops status --timeout 0")


def test_unbalanced_quotes_are_a_usage_error(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="check the quotes"):
        run(shell, '%mlops status "oops')


def test_a_line_verb_used_as_a_cell_magic_is_a_usage_error(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError) as caught:
        run(shell, "%%mlops status\nx = 1\n")

    assert "'status' is a line verb" in str(caught.value)
    assert "track, sweep, step" in str(caught.value)
    assert "x" not in shell.user_ns  # the cell body did not run


def test_cli_only_verbs_are_unknown_to_the_magic(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="unknown verb 'demo'"):
        run(shell, "%mlops demo")


# --------------------------------------------------------------------------- %mlops status


def test_status_shows_tracking_uri_and_five_capabilities_as_html_and_text(
        shell: InteractiveShell, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = f"sqlite:///{project}/tracking.db"
    monkeypatch.setenv("MLOPS_TRACKING_URI", uri)

    value = run(shell, "%mlops status")

    data = shown(shell, value)
    assert set(data) == {"text/plain", "text/html"}
    assert f"tracking URI: {uri}  [env:MLOPS_TRACKING_URI]" in data["text/plain"]
    assert f"<code>{uri}</code>" in data["text/html"]
    for title in TITLES:
        assert f" {title}: " in data["text/plain"]
        assert f"<b>{title}</b>" in data["text/html"]
    for cap_id in ("features", "experiments", "pipeline", "review", "deploy", "monitor"):
        assert f'data-capability="{cap_id}"' in data["text/html"]


def test_status_resolves_the_config_of_the_working_folder(
        shell: InteractiveShell, project: Path) -> None:
    (project / "mlops.toml").write_text('[deploy]\ntarget = "kserve"\n')

    report = run(shell, "%mlops status").report

    assert report.config["project_root"] == str(project)
    assert report.config["config_file"] == str(project / "mlops.toml")
    deploy = next(c for c in report.capabilities if c.id == "deploy")
    assert deploy.summary.startswith("kserve target")


def test_status_html_escapes_values(shell: InteractiveShell,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_TRACKING_URI", "sqlite:///<script>alert(1)</script>.db")

    html = shown(shell, run(shell, "%mlops status"))["text/html"]

    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_status_never_shows_a_password(shell: InteractiveShell, free_port: int,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_TRACKING_URI", f"http://alice:s3cret@127.0.0.1:{free_port}")

    data = shown(shell, run(shell, "%mlops status"))

    assert "s3cret" not in data["text/html"]
    assert "s3cret" not in data["text/plain"]
    assert "alice:***@127.0.0.1" in data["text/plain"]


def test_broken_config_is_shown_in_the_status(shell: InteractiveShell, project: Path) -> None:
    (project / "mlops.toml").write_text('[features]\nbackend = "fest"\n')

    data = shown(shell, run(shell, "%mlops status"))

    assert f"config error: {project / 'mlops.toml'}:2:" in data["text/plain"]
    assert "Config error:" in data["text/html"]
    assert "features.backend" in data["text/html"]


def test_python_api_still_works_after_the_magic(shell: InteractiveShell,
                                                project: Path) -> None:
    run(shell, "%mlops status")
    run(shell, "import jupyter_mlops as mlops\nreport = mlops.status()")

    report = shell.user_ns["report"]
    assert isinstance(report, StatusReport)
    assert report.config is not None
    assert report.config["project_root"] == str(project)


# --------------------------------------------------------------------------- %config


def test_config_lists_the_magics_options(shell: InteractiveShell,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    run(shell, "%config MLOpsMagics")

    out = capsys.readouterr().out
    assert "MLOpsMagics.rich=<Bool>" in out
    assert "MLOpsMagics.status_timeout=<Float>" in out
    assert "Render results as rich HTML" in out


def test_config_rich_false_leaves_plain_text_only(shell: InteractiveShell) -> None:
    run(shell, "%config MLOpsMagics.rich = False")

    data = shown(shell, run(shell, "%mlops status"))

    assert set(data) == {"text/plain"}
    assert "tracking URI: " in data["text/plain"]


def test_config_set_before_loading_applies(project: Path) -> None:
    ip = InteractiveShell.instance()
    if "jupyter_mlops" in ip.extension_manager.loaded:
        run(ip, "%unload_ext jupyter_mlops")
    ip.config.MLOpsMagics.rich = False  # as from ipython_config.py
    try:
        run(ip, "%load_ext jupyter_mlops")
        assert set(shown(ip, run(ip, "%mlops status"))) == {"text/plain"}
    finally:
        run(ip, "%unload_ext jupyter_mlops")
        forget_config(ip)


def test_config_status_timeout_bounds_the_checks(
        shell: InteractiveShell, blackhole_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_TRACKING_URI", blackhole_url)
    run(shell, "%config MLOpsMagics.status_timeout = 1.0")

    began = time.monotonic()
    report = run(shell, "%mlops status").report
    elapsed = time.monotonic() - began

    assert elapsed < 1 + 2
    tracking = next(c for c in report.capabilities if c.id == "experiments").checks[0]
    assert tracking.level == "error"
    assert "timed out" in tracking.message
