"""``%mlops labels|performance`` in a real IPython shell and the same ``jupyter mlops`` verbs
in a real subprocess, over an inference log written as the serving process writes it
(``monitor_traffic``: 2 hours of requests; labels right for the first hour, a quarter wrong
in the second, so accuracy is 1.0 then 0.75)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from jupyter_mlops_kernel.display import VEGA_LITE

from tests.monitor_traffic import PER_HOUR, Traffic, shifted_traffic
from tests.shell_fixtures import displayed, one_line_error, run

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def traffic(project: Any) -> Traffic:
    return shifted_traffic(project)


def test_labels_from_a_variable_then_performance_per_hour(shell: InteractiveShell,
                                                          traffic: Traffic) -> None:
    from jupyter_mlops.monitor.labels import LabelsLogged

    before = run(shell, "%mlops performance churn")
    assert before.frame.empty
    assert "no labels for churn yet" in before.to_dict()["message"]
    (card,) = displayed(shell, before)  # no points: no chart
    assert "no labels for churn yet" in card["text/html"]

    shell.user_ns["truth"] = traffic.labels
    logged = run(shell, "%mlops labels churn truth")
    assert isinstance(logged, LabelsLogged)
    assert (logged.rows, logged.matched, logged.unmatched) == (2 * PER_HOUR, 2 * PER_HOUR, 0)
    (card,) = displayed(shell, logged)
    assert 'data-level="ok"' in card["text/html"] and card["text/plain"] == logged.to_text()

    shown = run(shell, "%mlops performance churn --metric accuracy --by 1h")
    frame = shown.frame
    assert list(frame.columns) == ["time", "value", "rows", "training"]
    # the hand computation: every label right in the first hour, every fourth wrong after
    assert frame["time"].tolist() == [pd.Timestamp(h) for h in traffic.hours]
    assert frame["value"].tolist() == [1.0, 0.75]
    assert frame["rows"].tolist() == [PER_HOUR, PER_HOUR]
    table, chart = displayed(shell, shown)
    assert 'data-metric="accuracy"' in table["text/html"]
    assert "no training value logged" in table["text/html"]
    spec = chart[VEGA_LITE]
    assert [p["value"] for p in spec["layer"][0]["data"]["values"]] == [1.0, 0.75]
    # with a training value the chart has its dashed rule and the card says it
    from jupyter_mlops.monitor.verbs import Performance

    trained = Performance("churn", frame.assign(training=0.9))
    trained.frame.attrs.update(frame.attrs, training=0.9)
    table, chart = displayed(shell, trained)
    assert "training run: 0.9" in table["text/html"]
    assert chart[VEGA_LITE]["layer"][1]["data"]["values"] == [{"training": 0.9}]
    assert trained.to_text().startswith("churn: accuracy per 1h, training run: 0.9\n")
    data = run(shell, "%mlops performance churn --json")
    assert data["metric"] == "accuracy" and data["by"] == "1h" and data["training"] is None
    assert [(p["value"], p["rows"]) for p in data["points"]] == [(1.0, PER_HOUR),
                                                                 (0.75, PER_HOUR)]
    assert data["points"][0]["t"].startswith(traffic.hours[0].isoformat()[:19])
    daily = run(shell, "%mlops performance churn --by 1d --json")
    first, second = traffic.hours
    expected = ([(0.875, 2 * PER_HOUR)] if first.date() == second.date()
                else [(1.0, PER_HOUR), (0.75, PER_HOUR)])  # the two hours straddle midnight
    assert [(p["value"], p["rows"]) for p in daily["points"]] == expected


def test_labels_matching_nothing_are_said_loudly(shell: InteractiveShell,
                                                 traffic: Traffic) -> None:
    shell.user_ns["strangers"] = pd.DataFrame({"request_id": ["x-1", "x-2"], "churned": [0, 1]})
    logged = run(shell, "%mlops labels churn strangers --label churned")
    assert (logged.rows, logged.matched, logged.unmatched) == (2, 0, 2)
    (card,) = displayed(shell, logged)
    assert 'data-level="error"' in card["text/html"]
    assert "none of the 2 request ids matched" in card["text/plain"]
    half = pd.DataFrame({"request_id": ["req-0", "nobody"], "churned": [1, 0]})
    shell.user_ns["half"] = half
    (card,) = displayed(shell, run(shell, "%mlops labels churn half"))
    assert 'data-level="warning"' in card["text/html"]


@pytest.mark.parametrize(("line", "message"), [
    ("%mlops labels churn missing",
     "labels: no variable 'missing' in the notebook, and not a .parquet or .csv file"),
    ("%mlops labels churn numbers", "labels: numbers is a list, not a DataFrame"),
    ("%mlops labels churn gone.csv", "labels: no file gone.csv"),
    ("%mlops labels nobody truth", "no deployment named 'nobody'"),
    ("%mlops labels churn truth --label outcome", "outcome"),
    ("%mlops labels churn", "the following arguments are required: VAR|FILE"),
    ("%mlops performance churn --metric precision", "metric 'precision': choose accuracy"),
    ("%mlops performance churn --by soon", "by: "),
    ("%mlops performance churn --since yesterdayish", "since: cannot read 'yesterdayish'"),
    ("%mlops performance nobody", "no deployment named 'nobody'"),
])
def test_labels_and_performance_mistakes_are_one_line(shell: InteractiveShell,
                                                      traffic: Traffic, line: str,
                                                      message: str) -> None:
    shell.user_ns.update(truth=traffic.labels, numbers=[1, 2])
    assert message in one_line_error(shell, line)


def test_labels_and_performance_on_the_command_line(cli: Callable[..., Any],
                                                    traffic: Traffic) -> None:
    traffic.labels.to_csv(traffic.project / "truth.csv", index=False)
    done = cli("labels", "churn", "truth.csv", cwd=traffic.project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"{2 * PER_HOUR} labels for churn, {2 * PER_HOUR} matched "
                                   "a logged request, 0 matched none")
    done = cli("performance", "churn", cwd=traffic.project)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "churn: accuracy per 1h, no training value logged"
    assert [line.split()[-2:] for line in lines[2:]] == [["1", "400"], ["0.75", "400"]]
    done = cli("performance", "churn", "--metric", "f1", "--json", cwd=traffic.project)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["name"] == "churn" and data["metric"] == "f1" and len(data["points"]) == 2
    assert data["points"][0]["value"] == 1.0
    traffic.labels.to_parquet(traffic.project / "truth.parquet")
    done = cli("labels", "churn", "truth.parquet", "--json", cwd=traffic.project)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["matched"] == 2 * PER_HOUR
    done = cli("labels", "churn", "truth", cwd=traffic.project)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().endswith("labels: give a .parquet or .csv file, not 'truth'")
