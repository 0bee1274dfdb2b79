"""``%%mlops step`` and ``%mlops pipeline …`` in a real IPython shell; ``jupyter mlops
pipeline …`` as a subprocess."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from jupyter_mlops.pipeline import Pipeline
from jupyter_mlops.pipeline.runner import RunResult

from .pipeline_notebooks import CHAIN, digest, write_notebook
from .shell_fixtures import run


def test_step_cells_run_as_usual_in_the_notebook(shell: InteractiveShell,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert run(shell, "%%mlops step load --retries 2 --gpu 1\nrows = [1, 2, 3]\n"
                      "print('rows', len(rows))") is None
    assert shell.user_ns["rows"] == [1, 2, 3]
    assert "rows 3" in capsys.readouterr().out


def test_a_bad_step_line_is_a_usage_error_and_the_cell_does_not_run(
        shell: InteractiveShell) -> None:
    shell.user_ns.pop("never", None)
    with pytest.raises(UsageError, match=r"--gpu.*whole number"):
        run(shell, "%%mlops step load --gpu lots\nnever = 1")
    assert "never" not in shell.user_ns
    with pytest.raises(UsageError, match=r"step name 'a b' must start"):
        run(shell, "%%mlops step 'a b'\nnever = 1")


def test_a_failing_step_cell_fails_the_cell(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match=r"step 'boom': the cell raised ZeroDivisionError"):
        run(shell, "%%mlops step boom\n1 / 0")


def test_pipeline_show_draws_the_dag_and_the_table(shell: InteractiveShell,
                                                   project: Path) -> None:
    write_notebook(project / "chain.ipynb", CHAIN)
    pipeline = run(shell, "%mlops pipeline show chain.ipynb")
    assert isinstance(pipeline, Pipeline)
    data, _ = shell.display_formatter.format(pipeline)
    html = data["text/html"]
    assert "<svg" in html and 'data-step="report"' in html
    assert "<code>mean</code>" in html  # an inferred input in the table
    assert "report" in data["text/plain"]


def test_pipeline_show_finds_the_kernels_own_notebook(shell: InteractiveShell, project: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    write_notebook(project / "chain.ipynb", CHAIN)
    monkeypatch.setenv("JPY_SESSION_NAME", str(project / "chain.ipynb"))
    assert run(shell, "%mlops pipeline show").name == "chain"
    monkeypatch.delenv("JPY_SESSION_NAME")
    shell.user_ns.pop("__session__", None)
    with pytest.raises(UsageError, match=r"name the notebook: %mlops pipeline show"):
        run(shell, "%mlops pipeline show")


def test_pipeline_run_in_the_notebook(shell: InteractiveShell, project: Path) -> None:
    nb = write_notebook(project / "chain.ipynb", CHAIN)
    result = run(shell, "%mlops pipeline run chain.ipynb -p scale=3")
    assert isinstance(result, RunResult) and result.ok
    assert result.value("scaled", "scaled") == [0.0, 6.0, 12.0]
    again = run(shell, "%mlops pipeline run chain.ipynb -p scale=3")
    assert {s.state for s in again.steps.values()} == {"cached"}
    with pytest.raises(UsageError, match=r"parameter 'scale' is a number, not 'x'"):
        run(shell, "%mlops pipeline run chain.ipynb -p scale=x")
    assert digest(nb) == digest(nb)


def test_a_run_in_the_notebook_draws_the_dag_live_in_one_display(shell: InteractiveShell,
                                                                 project: Path) -> None:
    write_notebook(project / "chain.ipynb", CHAIN)
    kept, shell.display_pub = shell.display_pub, CapturingDisplayPublisher()
    try:
        run(shell, "%mlops pipeline run chain.ipynb")
    finally:
        captured, shell.display_pub = shell.display_pub, kept
    outputs = captured.outputs  # type: ignore[attr-defined]
    assert len({o["transient"]["display_id"] for o in outputs}) == 1  # one display, updated
    assert [o["update"] for o in outputs] == [False] + [True] * (len(outputs) - 1)
    assert outputs[0]["data"]["text/plain"].startswith("pipeline: load queued, clean queued")
    last = outputs[-1]["data"]
    assert last["text/plain"] == ("pipeline: load done, clean done, stats done, scaled done, "
                                  "report done")
    assert "<svg" in last["text/html"] and "mlops-pipeline-progress" in last["text/html"]


def test_a_failed_run_in_the_notebook_shows_the_run_then_names_the_cell_and_line(
        shell: InteractiveShell, project: Path) -> None:
    write_notebook(project / "bad.ipynb", ["%%mlops step a\nx = 1", "%%mlops step b\ny = x / 0"])
    kept, shell.display_pub = shell.display_pub, CapturingDisplayPublisher()
    try:
        with pytest.raises(UsageError, match=r"step 'b' failed at cell 2"):
            run(shell, "%mlops pipeline run bad.ipynb")
    finally:
        captured, shell.display_pub = shell.display_pub, kept
    last = captured.outputs[-1]["data"]  # type: ignore[attr-defined]
    assert last["text/plain"] == "pipeline: a done, b failed"
    assert "data-state='failed'" in last["text/html"]  # the run's table, under the DAG


def test_a_failed_run_in_the_notebook_names_the_cell_and_line(shell: InteractiveShell,
                                                              project: Path) -> None:
    write_notebook(project / "bad.ipynb", ["%%mlops step a\nx = 1", "%%mlops step b\n\ny = x / 0"])
    with pytest.raises(UsageError, match=r"step 'b' failed at cell 2, line 3 of bad.ipynb: "
                                         r"ZeroDivisionError"):
        run(shell, "%mlops pipeline run bad.ipynb")


def test_pipeline_export_from_the_notebook(shell: InteractiveShell, project: Path) -> None:
    write_notebook(project / "chain.ipynb", CHAIN)
    result = run(shell, "%mlops pipeline export chain.ipynb --target prefect --out flows "
                        "--schedule '0 3 * * *'")
    assert result.files == [project / "flows" / "chain_flow.py"]
    assert "chain_flow.py" in shell.display_formatter.format(result)[0]["text/html"]


CLI = Callable[..., Any]


def test_cli_show_run_and_export(cli: CLI, project: Path) -> None:
    nb = write_notebook(project / "chain.ipynb", CHAIN)
    before = digest(nb)

    shown = cli("pipeline", "show", "chain.ipynb", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert "report  " in shown.stdout and "mean (stats), scaled (scaled)" in shown.stdout
    data = json.loads(cli("pipeline", "show", "chain.ipynb", "--json", cwd=project).stdout)
    assert [s["name"] for s in data["steps"]] == ["load", "clean", "stats", "scaled", "report"]
    assert data["edges"][0] == {"from": "load", "to": "clean", "names": ["raw"], "after": False}

    ran = cli("pipeline", "run", "chain.ipynb", "-p", "n=7", cwd=project, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "report: done" in ran.stderr and ": done" in ran.stdout

    out = cli("pipeline", "export", "chain.ipynb", "--target", "airflow", "--out", "dags",
              cwd=project)
    assert out.returncode == 0, out.stderr
    assert (project / "dags" / "chain_dag.py").is_file()
    assert digest(nb) == before


def test_cli_bad_input_is_one_line_and_writes_nothing(cli: CLI, project: Path) -> None:
    write_notebook(project / "chain.ipynb", CHAIN)
    for argv, message in [
        (("pipeline", "run", "chain.ipynb", "-p", "n=many"),
         "parameter 'n' is an integer, not 'many'"),
        (("pipeline", "run", "chain.ipynb", "--from", "ghost"), "no step named 'ghost'"),
        (("pipeline", "show", "missing.ipynb"), "no notebook at"),
        (("pipeline", "export", "chain.ipynb", "--target", "luigi", "--out", "x"),
         "invalid choice: 'luigi'"),
    ]:
        done = cli(*argv, cwd=project)
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        # (argparse's own errors end with the usage, which argparse wraps over lines)
        assert message in lines[0], done.stderr
        assert len(lines) == 1 or "usage:" in lines[0], done.stderr
    assert not (project / ".mlops").exists()
    assert not (project / "x").exists()


def test_export_target_comes_from_the_config_when_not_given(cli: CLI, project: Path) -> None:
    write_notebook(project / "chain.ipynb", CHAIN)
    done = cli("pipeline", "export", "chain.ipynb", "--out", "out", cwd=project)
    assert done.returncode != 0 and "give --target airflow, prefect or kfp" in done.stderr
    (project / "mlops.toml").write_text('[pipeline]\ntarget = "prefect"\n')
    done = cli("pipeline", "export", "chain.ipynb", "--out", "out", cwd=project)
    assert done.returncode == 0, done.stderr
    assert (project / "out" / "chain_flow.py").is_file()


def test_cli_failing_run_exits_1_naming_cell_and_line(cli: CLI, project: Path) -> None:
    write_notebook(project / "bad.ipynb", ["%%mlops step a\nx = 1", "%%mlops step b\ny = x / 0"])
    done = cli("pipeline", "run", "bad.ipynb", "--json", cwd=project, timeout=120)
    assert done.returncode == 1
    record = json.loads(done.stdout)
    assert record["state"] == "failed"
    failed = next(s for s in record["steps"] if s["name"] == "b")
    assert (failed["error"]["cell"], failed["error"]["line"]) == (1, 2)
