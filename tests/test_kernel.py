"""``%load_ext jupyter_mlops``, ``%mlops`` and ``%%mlops`` in a real IPython shell whose cell
errors are re-raised."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from jupyter_mlops_kernel import MLOpsMagics

from jupyter_mlops.commands import verbs_for
from jupyter_mlops.status import StatusReport

TITLES = ("Features", "Experiments", "Pipeline", "Review", "Deploy")
MAGIC_VERBS = [v.name for v in verbs_for("magic")]


def _forget_config(shell: InteractiveShell) -> None:
    """``%config MLOpsMagics.x = …`` lives in the shell's config: no test leaks it to another."""
    shell.config.pop("MLOpsMagics", None)


@pytest.fixture
def shell(project: Path) -> Iterator[InteractiveShell]:
    """A real IPython shell, working in ``project``, with the extension loaded."""
    ip = InteractiveShell.instance()
    _forget_config(ip)
    if "jupyter_mlops" in ip.extension_manager.loaded:
        ip.run_cell("%unload_ext jupyter_mlops").raise_error()
    run(ip, "%load_ext jupyter_mlops")
    yield ip
    if "jupyter_mlops" in ip.extension_manager.loaded:
        ip.run_cell("%unload_ext jupyter_mlops").raise_error()
    _forget_config(ip)


def run(shell: InteractiveShell, code: str) -> Any:
    """Run a cell like the notebook does; re-raise its error; return its value."""
    result = shell.run_cell(code, store_history=False)
    result.raise_error()
    return result.result


def shown(shell: InteractiveShell, value: Any) -> dict[str, Any]:
    """What a frontend receives for ``value``: the shell's display formatter's mime bundle."""
    data, _metadata = shell.display_formatter.format(value)
    return dict(data)


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
    assert "track, step" in str(caught.value)
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
    for cap_id in ("features", "experiments", "pipeline", "review", "deploy"):
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
        _forget_config(ip)


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
