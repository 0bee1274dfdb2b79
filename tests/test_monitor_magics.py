"""``%mlops monitor|inferences`` in a real IPython shell, and ``jupyter mlops monitor|inferences``
in a real subprocess, over an inference log laid out as the serving process writes it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from jupyter_mlops_kernel.display import VEGA_LITE

from jupyter_mlops.monitor.overview import MonitorSummary, Sample
from tests.monitor_fixtures import NOW, make_churn_log
from tests.shell_fixtures import run, shown


@pytest.fixture
def churn_log(project: Path) -> Path:
    return make_churn_log(project)


def test_inferences_into_a_variable_and_as_a_frame(shell: InteractiveShell,
                                                   churn_log: Path) -> None:
    saved = run(shell, "%mlops inferences churn --limit 3 --into recent")
    frame = shell.user_ns["recent"]
    assert isinstance(frame, pd.DataFrame)
    assert frame["request_id"].tolist() == ["req-21", "req-22", "req-23"]
    assert shown(shell, saved)["text/plain"] == (
        "recent: 3 logged requests of 'churn' (the latest of 9) × 7 columns")
    # without --into the frame itself comes back: a table in the notebook
    table = run(shell, "%mlops inferences churn --since 1h")
    assert isinstance(table, pd.DataFrame) and len(table) == 4
    assert "req-23" in shown(shell, table)["text/html"]
    data = run(shell, "%mlops inferences churn --limit 1 --json")
    assert [r["request_id"] for r in data] == ["req-23"]


@pytest.mark.parametrize(("line", "message"), [
    ("%mlops inferences nobody", "no deployment named 'nobody' (deployments: churn)"),
    ("%mlops inferences churn --since lately", "since: cannot read 'lately'"),
    ("%mlops inferences churn --limit 0", "argument --limit: must be at least 1, not '0'"),
    ("%mlops inferences churn --into 2bad", "--into '2bad' is not a variable name"),
    ("%mlops monitor nobody", "no deployment named 'nobody'"),
    ("%mlops monitor churn --since forever", "since: cannot read 'forever'"),
])
def test_bad_input_is_one_line(shell: InteractiveShell, churn_log: Path, line: str,
                               message: str) -> None:
    with pytest.raises(UsageError) as caught:
        run(shell, line)
    text = str(caught.value)
    if "usage:" in text:  # argparse's own errors end with the (wrapped) usage line
        text = text.split("; usage:")[0]
    assert message in text and "\n" not in text


def displayed(shell: InteractiveShell, value: Any) -> list[dict[str, Any]]:
    """The outputs a frontend receives for ``value`` shown as a cell's result."""
    with capture_output() as captured:
        shell.displayhook(value)
    return [output.data for output in captured.outputs]


def test_monitor_shows_a_card_for_a_deployment_that_is_not_serving(
        shell: InteractiveShell, churn_log: Path) -> None:
    summary = run(shell, "%mlops monitor churn")
    assert isinstance(summary, MonitorSummary)  # the object itself, for the user to keep
    (card,) = displayed(shell, summary)  # no history: no charts
    assert 'data-deployment="churn"' in card["text/html"]
    assert "Inference log" in card["text/html"] and "serving process" in card["text/plain"]
    data = run(shell, "%mlops monitor churn --json")
    assert data["name"] == "churn" and set(data["series"]) >= {"t", "rps", "p99_ms"}


def test_a_summary_with_history_shows_its_card_and_its_charts(
        shell: InteractiveShell) -> None:
    """From Python too: the card first, then one Vega-Lite spec of the sparklines; text
    only while the magic's rich output is off."""
    summary = MonitorSummary("churn", "local", "serving", 1, device="cpu",
                             samples=[Sample(NOW.timestamp() - 10 * i, requests=5, p50_ms=1.0,
                                             p99_ms=2.0, mean_batch=1.0) for i in range(3)])
    card, chart = displayed(shell, summary)
    assert 'data-status="serving"' in card["text/html"] and "cpu" in card["text/html"]
    assert chart[VEGA_LITE]["concat"][0]["encoding"]["y"]["field"] == "rps"
    run(shell, "%config MLOpsMagics.rich = False")
    (plain,) = displayed(shell, summary)
    assert set(plain) == {"text/plain"} and plain["text/plain"] == summary.to_text()
    run(shell, "%unload_ext jupyter_mlops")
    assert displayed(shell, summary) == []  # back to the shell's own repr: printed, no output
    run(shell, "%load_ext jupyter_mlops")


def test_the_cli_writes_parquet_csv_and_json(cli: Callable[..., Any], churn_log: Path) -> None:
    done = cli("inferences", "churn", "--since", "1h", "--into", "recent.parquet", cwd=churn_log)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"{churn_log / 'recent.parquet'}: 4 logged requests of "
                                   "'churn' × 7 columns")
    assert pd.read_parquet(churn_log / "recent.parquet")["request_id"].tolist() == [
        "req-20", "req-21", "req-22", "req-23"]
    done = cli("inferences", "churn", "--limit", "2", "--into", "recent.csv", cwd=churn_log)
    assert done.returncode == 0, done.stderr
    assert pd.read_csv(churn_log / "recent.csv")["request_id"].tolist() == ["req-22", "req-23"]
    done = cli("inferences", "churn", "--limit", "2", "--json", cwd=churn_log)
    assert [r["version"] for r in json.loads(done.stdout)] == ["2", "2"]
    done = cli("inferences", "churn", "--into", "recent.txt", cwd=churn_log)
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.strip().endswith("--into recent.txt: give a .parquet or .csv file")
    assert not (churn_log / "recent.txt").exists()
    done = cli("monitor", "churn", cwd=churn_log)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("churn: stopped (local)")
    assert "log:" in done.stdout
    done = cli("monitor", "nobody", cwd=churn_log)
    assert done.returncode != 0
    assert "no deployment named 'nobody'" in done.stderr and done.stderr.count("\n") == 1
