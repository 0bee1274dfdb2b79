"""``jupyter mlops …``: the real CLI in a subprocess and ``main([...])`` in-process, and the
headless demo runner behind ``make demo HEADLESS=1``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from jupyter_mlops.cli import main
from jupyter_mlops.commands import verbs_for
from jupyter_mlops.demo import execute_headless
from jupyter_mlops.status import collect_status

CLI = Callable[..., subprocess.CompletedProcess[str]]
REPO = Path(__file__).resolve().parents[1]
CLI_VERBS = [v.name for v in verbs_for("cli")]


def without_timings(data: Any) -> Any:
    """The report minus the numbers that vary from run to run."""
    if isinstance(data, dict):
        return {k: without_timings(v) for k, v in data.items() if k != "elapsed_ms"}
    if isinstance(data, list):
        return [without_timings(v) for v in data]
    return data


# --------------------------------------------------------------------------- status


def test_status_json_is_the_core_report(project: Path, cli: CLI) -> None:
    done = cli("status", "--json", cwd=project)

    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    expected = collect_status(project, {}).to_dict()
    assert without_timings(printed) == without_timings(expected)
    assert [c["id"] for c in printed["capabilities"]] == [
        "features", "experiments", "pipeline", "review", "deploy", "monitor"]
    assert printed["config"]["project_root"] == str(project)


def test_status_text_shows_the_tracking_uri_and_its_source(project: Path, cli: CLI) -> None:
    uri = f"sqlite:///{project}/elsewhere.db"
    done = cli("status", cwd=project, env={"MLFLOW_TRACKING_URI": uri})

    assert done.returncode == 0, done.stderr
    assert f"tracking URI: {uri}  [env:MLFLOW_TRACKING_URI]" in done.stdout
    for title in ("Features", "Experiments", "Pipeline", "Review", "Deploy"):
        assert f" {title}: " in done.stdout
    assert done.stderr == ""


def test_status_in_process_prints_the_same_report(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert without_timings(printed) == without_timings(collect_status(project, {}).to_dict())


def test_status_exits_1_when_a_backend_is_broken(project: Path, cli: CLI) -> None:
    db = project / ".mlops" / "mlflow.db"
    db.parent.mkdir()
    db.write_text("not sqlite")

    done = cli("status", "--json", cwd=project)

    assert done.returncode == 1
    states = {c["id"]: c["state"] for c in json.loads(done.stdout)["capabilities"]}
    assert states["experiments"] == "error"
    assert states["features"] == "ok"


def test_unreachable_tracking_server_is_one_clear_line_and_fast(
        project: Path, cli: CLI, closed_port_url: str) -> None:
    done = cli("status", cwd=project, env={"MLOPS_TRACKING_URI": closed_port_url}, timeout=10)

    assert done.returncode == 1
    lines = [line for line in done.stdout.splitlines() if "tracking store:" in line]
    assert len(lines) == 1
    assert f"{closed_port_url} is unreachable" in lines[0]


def test_hanging_tracking_server_does_not_hang_the_cli(
        project: Path, cli: CLI, blackhole_url: str) -> None:
    # subprocess.run's own timeout turns a hang into a test failure
    done = cli("status", "--timeout", "1", cwd=project,
               env={"MLOPS_TRACKING_URI": blackhole_url}, timeout=1 + 10)

    assert done.returncode == 1
    assert "timed out" in done.stdout


def test_broken_config_exits_1_with_one_line_naming_the_file(project: Path, cli: CLI) -> None:
    (project / "mlops.toml").write_text('[features]\nbackend = "fest"\n')

    done = cli("status", cwd=project)

    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"jupyter mlops: {project / 'mlops.toml'}:2:")
    assert "features.backend" in lines[0]


def test_broken_config_in_json_mode_is_still_json(project: Path, cli: CLI) -> None:
    (project / "mlops.toml").write_text("[tracking\n")

    done = cli("status", "--json", cwd=project)

    assert done.returncode == 1
    printed = json.loads(done.stdout)
    assert printed["config_error"].startswith(f"{project / 'mlops.toml'}:1:")
    assert printed["capabilities"] == []


# --------------------------------------------------------------------------- usage


def test_unknown_verb_exits_2_with_the_verbs_and_a_guess(project: Path, cli: CLI) -> None:
    done = cli("stauts", cwd=project)

    assert done.returncode == 2
    assert done.stdout == ""
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "unknown verb 'stauts'" in message
    assert "did you mean 'status'" in message
    assert "verbs: " + ", ".join(CLI_VERBS) in message


def test_bad_flag_exits_2_naming_the_flag(project: Path, cli: CLI) -> None:
    done = cli("status", "--jsno", cwd=project)

    assert done.returncode == 2
    assert "unrecognized arguments: --jsno" in done.stderr
    assert "usage: jupyter mlops status" in done.stderr


@pytest.mark.parametrize("argv", [["--verbose"], ["--verbose", "status"]])
def test_flag_before_any_verb_is_named(
        project: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 2
    assert "unrecognized arguments: --verbose" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-2", "inf", "nan", "soon"])
def test_timeout_must_be_a_positive_number_of_seconds(
        project: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    assert main(["status", "--timeout", value]) == 2
    err = capsys.readouterr().err
    assert "argument --timeout" in err
    assert repr(value) in err


def test_help_lists_every_verb_and_exits_0(project: Path, cli: CLI) -> None:
    done = cli("--help", cwd=project)

    assert done.returncode == 0
    assert done.stdout.startswith("usage: jupyter mlops VERB [options]")
    lines = {line.split()[0]: line for line in done.stdout.splitlines()
             if line.startswith("  ") and not line.startswith("   ")}
    for verb in verbs_for("cli"):
        assert verb.help in lines[verb.name]


def test_verb_help_prints_its_options_and_exits_0(project: Path, cli: CLI) -> None:
    done = cli("status", "--help", cwd=project)

    assert done.returncode == 0
    assert done.stdout.startswith("usage: jupyter mlops status")
    assert "--json" in done.stdout
    assert "--timeout SECONDS" in done.stdout
    assert not (project / ".mlops").exists()


def test_no_arguments_prints_usage(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert capsys.readouterr().out.startswith("usage: jupyter mlops VERB")


def test_magic_only_verbs_are_not_cli_verbs(project: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["track"]) == 2
    assert "unknown verb 'track'" in capsys.readouterr().err


# --------------------------------------------------------------------------- demo


def write_notebook(path: Path, *cells: Any) -> Path:
    nbformat.write(new_notebook(cells=list(cells)), path)
    return path


def test_headless_demo_runs_every_cell_and_prints_the_sections(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notebook = write_notebook(
        tmp_path / "tiny.ipynb",
        new_markdown_cell("# Tiny tour\n\nSome words."),
        new_code_cell("x = 6 * 7\nprint('answer', x)"),
        new_markdown_cell("## Second part"),
        new_code_cell("x + 1"),
    )
    before = notebook.read_bytes()

    assert execute_headless(notebook, cell_timeout=60) == 0

    out = capsys.readouterr().out
    assert "Running tiny.ipynb: 2 code cells" in out
    assert "== Tiny tour" in out
    assert "== Second part" in out
    assert "-> answer 42" in out
    assert "-> 43" in out
    assert "Demo finished: 2 cells" in out
    assert notebook.read_bytes() == before


def test_headless_demo_stops_at_a_failing_cell(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notebook = write_notebook(
        tmp_path / "broken.ipynb",
        new_markdown_cell("# Broken tour"),
        new_code_cell("print('first')"),
        new_code_cell("{}['missing']"),
        new_code_cell("print('never reached')"),
    )

    assert execute_headless(notebook, cell_timeout=60) == 1

    captured = capsys.readouterr()
    assert "[2/3] FAILED: {}['missing']" in captured.out
    assert "never reached" not in captured.out
    assert "KeyError: 'missing'" in captured.err.splitlines()


def test_headless_demo_reports_a_cell_that_runs_too_long(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notebook = write_notebook(tmp_path / "slow.ipynb",
                              new_code_cell("import time\ntime.sleep(60)"))

    assert execute_headless(notebook, cell_timeout=1) == 1

    captured = capsys.readouterr()
    assert "[1/1] FAILED: import time" in captured.out
    assert "timed out" in captured.err


def test_demo_of_a_missing_notebook_exits_1(tmp_path: Path, cli: CLI) -> None:
    done = cli("demo", "--headless", str(tmp_path / "nope.ipynb"), cwd=tmp_path)

    assert done.returncode == 1
    assert done.stderr.strip() == f"jupyter mlops: no notebook at {tmp_path / 'nope.ipynb'}"


def test_the_binder_demo_runs_headless_through_the_cli(cli: CLI) -> None:
    """What ``make demo HEADLESS=1`` runs (about 90 s alone; the suite runs beside it)."""
    done = cli("demo", "--headless", "binder/demo.ipynb", cwd=REPO, timeout=360)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "== jupyter-mlops: the whole ML loop in the notebook" in done.stdout
    assert "Demo finished" in done.stdout
    assert "FAILED" not in done.stdout


def test_a_reader_that_stops_early_is_not_an_error(
        project: Path, child_env: Callable[..., dict[str, str]]) -> None:
    # `jupyter mlops status --json | head -c 0`: the pipe closes before the report is out
    import sys

    with subprocess.Popen([sys.executable, "-m", "jupyter_mlops.cli", "status", "--json"],
                          cwd=project, env=child_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, bufsize=0) as child:
        assert child.stdout is not None and child.stderr is not None
        # closed before the child (still starting Python) has written anything
        child.stdout.close()
        err = child.stderr.read().decode()
        assert child.wait(30) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err
