"""``%mlops drift|labels|performance|rule|check`` in a real IPython shell and ``jupyter mlops
…`` in a real subprocess, over an inference log written as the serving process writes it
(``monitor_traffic``: x1 shifted by one standard deviation, x0 not) and a reference handed
over explicitly (a notebook variable, a Parquet file)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from jupyter_mlops_kernel.display import VEGA_LITE

from tests.monitor_traffic import PER_HOUR, Traffic, shifted_traffic
from tests.shell_fixtures import displayed, one_line_error, run

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def traffic(project: Path) -> Traffic:
    return shifted_traffic(project)


# --------------------------------------------------------------------------- drift


def test_drift_flags_the_shifted_feature_in_a_notebook(shell: InteractiveShell,
                                                       traffic: Traffic) -> None:
    from jupyter_mlops.monitor import DriftReport

    shell.user_ns["reference"] = traffic.reference
    report = run(shell, "%mlops drift churn --reference reference")
    assert isinstance(report, DriftReport)  # the object itself, to keep and query
    assert report.drifted == ["x1"]
    assert report.current_rows == 2 * PER_HOUR and report.reference_rows == 3000
    table, chart = displayed(shell, report)
    html = table["text/html"]
    assert 'data-feature="x1" data-drifted="true"' in html
    assert 'data-feature="x0" data-drifted="false"' in html
    assert html.count("rgba(198, 40, 40") == 1  # one red row: x1's
    assert "x1" in table["text/plain"]
    spec = chart[VEGA_LITE]
    assert spec == report.vega_lite()
    assert "x0" in json.dumps(spec) and "x1" in json.dumps(spec)
    data = run(shell, "%mlops drift churn --reference reference --json")
    assert data["drifted"] == ["x1"]
    assert {f["feature"]: f["drifted"] for f in data["features"]} == {"x0": False, "x1": True}
    # a window with no logged request: a report that says so, nothing flagged
    empty = run(shell, "%mlops drift churn --reference reference --since 10m")
    assert empty.current_rows == 0 and empty.drifted == []
    assert empty.to_dict()["message"] == "no logged requests in the window"
    run(shell, "%config MLOpsMagics.rich = False")
    (plain,) = displayed(shell, report)
    assert set(plain) == {"text/plain"} and plain["text/plain"] == report.to_text()


def test_drift_on_the_command_line(cli: Callable[..., Any], traffic: Traffic) -> None:
    traffic.reference.to_parquet(traffic.project / "reference.parquet")
    done = cli("drift", "churn", "--reference", "reference.parquet", cwd=traffic.project)
    assert done.returncode == 0, done.stderr
    from jupyter_mlops.monitor.drift import drift

    expected = drift("churn", reference=traffic.reference, cwd=traffic.project)
    assert done.stdout.strip() == expected.to_text().strip()
    done = cli("drift", "churn", "--reference", "reference.parquet", "--json",
               cwd=traffic.project)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["name"] == "churn" and data["drifted"] == ["x1"]
    assert data["current_rows"] == 2 * PER_HOUR
    # a saved profile (a run's monitor/reference.json) serves as well as the frame
    from jupyter_mlops.monitor import profile_frame

    saved = profile_frame(traffic.reference, source={"kind": "set_reference"})
    (traffic.project / "reference.json").write_text(json.dumps(saved.to_json()))
    done = cli("drift", "churn", "--reference", "reference.json", "--json",
               cwd=traffic.project)
    assert done.returncode == 0, done.stderr
    from_profile = json.loads(done.stdout)
    assert from_profile["features"] == data["features"]
    assert from_profile["reference"]["origin"] == "the profile given (set_reference)"
    (traffic.project / "hostile.json").write_text('{"format": "mlops-profile/1", "rows": -1}')
    done = cli("drift", "churn", "--reference", "hostile.json", cwd=traffic.project)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "--reference hostile.json is not a valid profile: rows is not a count" in done.stderr


@pytest.mark.parametrize(("line", "message"), [
    ("%mlops drift nobody --reference reference", "no deployment named 'nobody'"),
    ("%mlops drift churn --reference missing",
     "--reference: no variable 'missing' in the notebook, and not a .parquet or .csv file"),
    ("%mlops drift churn --reference numbers", "--reference: numbers is a list, not a "
     "DataFrame or a Profile"),
    ("%mlops drift churn --reference gone.parquet", "--reference: no file gone.parquet"),
    ("%mlops drift churn --reference reference --since whenever",
     "since: cannot read 'whenever'"),
    ("%mlops drift churn --reference other", "the reference has columns"),
    ("%mlops drift churn", "deployment 'churn' serves no version, so it has no reference; "
     "give it one: mlops.monitor.set_reference('churn', df)"),
])
def test_drift_bad_input_is_one_line(shell: InteractiveShell, traffic: Traffic, line: str,
                                     message: str) -> None:
    shell.user_ns.update(reference=traffic.reference, numbers=[1, 2, 3],
                         other=pd.DataFrame({"age": [1.0, 2.0], "income": [3.0, 4.0]}))
    assert message in one_line_error(shell, line)


def test_drift_cli_mistakes(cli: Callable[..., Any], traffic: Traffic) -> None:
    (traffic.project / "reference.txt").write_text("x0,x1\n")
    done = cli("drift", "churn", "--reference", "reference.txt", cwd=traffic.project)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().endswith(
        "--reference: give a .parquet or .csv file, not 'reference.txt'")
    (traffic.project / "broken.parquet").write_text("not parquet")
    done = cli("drift", "churn", "--reference", "broken.parquet", cwd=traffic.project)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "--reference: cannot read broken.parquet" in done.stderr
