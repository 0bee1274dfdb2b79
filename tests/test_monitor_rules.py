"""Monitoring rules: the grammar (read, never evaluated), their storage (a round trip, a
hostile file), and checks that fire: a rule fires once per cooldown and starts its notebook's
pipeline for real (local runner, a detached child process, a real MLflow server), whose run
carries the tag mlops.trigger and whose model becomes the deployment's candidate; a failing
retraining is recorded with its log and does not fire twice; the Jupyter server checks the
rules by itself, off its event loop."""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.config import load_config
from jupyter_mlops.deploy.state import DeploymentStore
from jupyter_mlops.errors import NotFoundError, PathOutsideRootError, UserInputError
from jupyter_mlops.monitor.check import check
from jupyter_mlops.monitor.rules import (
    Condition,
    Rule,
    parse_when,
    remove_rule,
    rule,
    rules,
    rules_file,
)
from tests.monitor_fixtures import deployed, row, write_part
from tests.pipeline_notebooks import write_notebook

UTC = timezone.utc

QUICK = ["%%mlops step retrain\nprint('retrained on', 3, 'rows')"]
FAILING = ["%%mlops step prepare\nrows = [1, 2]",
           "%%mlops step retrain\nraise ValueError(f'bad training data: {len(rows)} rows')"]
TRACKED = ["""%%mlops step retrain
import numpy as np
from sklearn.linear_model import LinearRegression

import jupyter_mlops as mlops

X = np.arange(40.0).reshape(-1, 2)
y = X @ np.array([1.5, -2.0]) + 0.5
with mlops.start_run(run_name="retrain"):
    model = LinearRegression().fit(X, y)
    mlops.log(score=model.score(X, y))
    mlops.log_model(model, "churn-model", input_example=X[:3])
"""]


@pytest.fixture
def churn(project: Path) -> Path:
    """'churn' deployed (stopped, no process), and a retraining notebook that succeeds."""
    deployed(project, "churn")
    write_notebook(project / "retrain.ipynb", QUICK)
    return project


def traffic(project: Path, count: int, when: datetime | None = None, first: int = 0) -> None:
    """``count`` logged requests at ``when`` (default: now)."""
    when = when or datetime.now(UTC)
    write_part(project, "churn", [row(when, first + i) for i in range(count)])


def settled(name: str, rule_id: str, timeout: float = 240) -> Rule:
    """The rule once its retraining has recorded an outcome."""
    deadline = time.monotonic() + timeout
    while True:
        (found,) = [r for r in rules(name) if r.id == rule_id]
        if found.last_result and found.last_result["status"] != "running":
            return found
        assert time.monotonic() < deadline, f"the retraining did not end: {found.last_result}"
        time.sleep(0.5)


# --------------------------------------------------------------------------- the grammar


@pytest.mark.parametrize(("text", "parsed", "shown"), [
    ("drift", Condition("drift"), "drift"),
    ("drift:age", Condition("drift", feature="age"), "drift:age"),
    ("metric:accuracy<0.8", Condition("metric", metric="accuracy", op="<", value=0.8),
     "metric:accuracy<0.8"),
    (" metric:RMSE >= 12.5 ", Condition("metric", metric="rmse", op=">=", value=12.5),
     "metric:rmse>=12.5"),
    ("metric:auc<=.7", Condition("metric", metric="auc", op="<=", value=0.7), "metric:auc<=0.7"),
    ("rows>10000", Condition("rows", op=">", value=10000.0), "rows>10000"),
    ("rows >= 5", Condition("rows", op=">=", value=5.0), "rows>=5"),
])
def test_rules_that_parse(text: str, parsed: Condition, shown: str) -> None:
    assert parse_when(text) == parsed
    assert str(parse_when(text)) == shown


@pytest.mark.parametrize(("text", "message"), [
    ("", "a rule needs a condition: give 'drift'"),
    ("drift:", "cannot read the condition 'drift:': give 'drift', 'drift:FEATURE', "
               "'metric:NAME<VALUE'"),
    ("metric:precision<0.9", "metric 'precision' is not one of accuracy, f1, auc, rmse, mae"),
    ("metric:accuracy<high", "cannot read the condition"),
    ("metric:accuracy == 0.8", "cannot read the condition"),
    ("rows<10", "give rows>COUNT or rows>=COUNT"),
    ("rows>1e9", "give rows>COUNT or rows>=COUNT"),
    ("__import__('os').system('touch pwned')", "cannot read the condition"),
    ("drift or rows>5", "cannot read the condition"),
])
def test_rules_that_do_not_parse_are_one_line(text: str, message: str,
                                              project: Path) -> None:
    with pytest.raises(UserInputError) as error:
        parse_when(text)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
    assert not (project / "pwned").exists()


# --------------------------------------------------------------------------- storage


def test_rules_round_trip_through_their_file(churn: Path) -> None:
    (churn / "mlops.toml").write_text("")  # the project's root, seen from jobs/ too
    (churn / "jobs").mkdir()
    write_notebook(churn / "jobs" / "nightly.ipynb", QUICK)
    first = rule("churn", "rows > 100", "retrain.ipynb")
    second = rule("churn", "metric:accuracy<0.8", "nightly.ipynb", cooldown="6h",
                  cwd=churn / "jobs")
    assert (first.when, first.then, first.target, first.cooldown_s) == \
        ("rows>100", "retrain.ipynb", "local", None)
    assert (second.then, second.cooldown_s) == ("jobs/nightly.ipynb", 6 * 3600)
    assert first.cooldown(load_config(churn)) == 3600  # monitor.cooldown's default

    stored = json.loads(rules_file(load_config(churn), "churn").read_text())
    assert [r["id"] for r in stored["rules"]] == [first.id, second.id]
    assert set(first.to_dict()) == {"id", "when", "then", "target", "cooldown_s", "created",
                                    "last_checked", "last_fired", "last_result"}
    assert [r.to_dict() for r in rules("churn")] == [first.to_dict(), second.to_dict()]

    assert remove_rule("churn", first.id).to_dict() == first.to_dict()
    assert [r.id for r in rules("churn")] == [second.id]
    with pytest.raises(NotFoundError, match=f"no rule 'abcdef12' \\(its rules: {second.id}\\)"):
        remove_rule("churn", "abcdef12")


def test_concurrent_writers_lose_no_rule(churn: Path) -> None:
    errors: list[BaseException] = []

    def add(n: int) -> None:
        try:
            rule("churn", f"rows>{n}", "retrain.ipynb")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(r.when for r in rules("churn")) == sorted(f"rows>{n}" for n in range(8))


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"then": "../elsewhere.ipynb"}, PathOutsideRootError, "is outside the project"),
    ({"then": "/etc/passwd"}, PathOutsideRootError, "is outside the project"),
    ({"then": "missing.ipynb"}, NotFoundError, "then='missing.ipynb': no such notebook"),
    ({"then": "mlops.toml"}, UserInputError, "is not a notebook (.ipynb)"),
    ({"when": "sometimes"}, UserInputError, "cannot read the condition 'sometimes'"),
    ({"target": "kfp"}, UserInputError, "target 'kfp' is not one of local, airflow, prefect"),
    # an engine runs the notebook's export: this one cannot be exported (its step's name is
    # the notebook's)
    ({"target": "airflow"}, UserInputError, "step 'retrain' and the notebook's name would both "
     "be 'retrain' in the airflow export"),
    ({"cooldown": "a while"}, UserInputError, "cooldown: give seconds or a duration"),
    ({"name": "nobody"}, NotFoundError, "no deployment named 'nobody'"),
])
def test_a_bad_rule_is_one_line(churn: Path, kwargs: dict[str, Any], error: type[Exception],
                                message: str) -> None:
    (churn / "mlops.toml").write_text("")
    (churn.parent / "elsewhere.ipynb").write_text("{}")
    asked = {"name": "churn", "when": "drift", "then": "retrain.ipynb", **kwargs}
    with pytest.raises(error) as raised:
        rule(**asked)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert rules("churn") == []


def test_the_rules_of_an_unknown_deployment_are_not_found(churn: Path) -> None:
    with pytest.raises(NotFoundError, match="no deployment named 'nobody'"):
        rules("nobody")


GOOD = {"id": "0123abcd", "when": "rows>5", "then": "retrain.ipynb", "target": "local",
        "cooldown_s": None, "created": "2026-12-01T10:00:00+00:00", "last_checked": None,
        "last_fired": None, "last_result": None}


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "is not JSON"),
    ('["rules"]', 'is not a rules file'),
    ('{"rules": {"a": 1}}', "is not a rules file"),
    (json.dumps({"rules": [{**GOOD, "when": "__import__('os').system('touch pwned')"}]}),
     "cannot read the condition"),
    (json.dumps({"rules": [{**GOOD, "then": "../../outside.ipynb"}]}),
     "'then' is not a notebook path inside the project"),
    (json.dumps({"rules": [{**GOOD, "then": "/tmp/x.ipynb"}]}),
     "'then' is not a notebook path inside the project"),
    (json.dumps({"rules": [{**GOOD, "id": "../../x"}]}), "its id is not 8 hex digits"),
    (json.dumps({"rules": [{**GOOD, "target": "shell"}]}), "'target' is not one of"),
    (json.dumps({"rules": [{**GOOD, "cooldown_s": "1h"}]}), "'cooldown_s' is not a number"),
    (json.dumps({"rules": [{**GOOD, "created": "yesterday"}]}), "is not an ISO 8601 time"),
    (json.dumps({"rules": [{**GOOD, "last_result": {"status": "exploded"}}]}),
     "'last_result' has no known status"),
    (json.dumps({"rules": [{**GOOD, "last_result": {"status": "failed", "log": ["/etc"]}}]}),
     "'last_result' has a field of the wrong type"),
    (json.dumps({"rules": [{**GOOD, "last_result": {"status": "running", "pid": "1"}}]}),
     "'last_result' has a field of the wrong type"),
    (json.dumps({"rules": [GOOD, GOOD]}), "two rules have the same id"),
    (json.dumps({"rules": [GOOD] * 101}), "at most 100"),
    ('{"rules": [' + ",".join([json.dumps(GOOD)] * 5000) + "]}", "is larger than 1000000 bytes"),
])
def test_a_hostile_rules_file_is_one_line(churn: Path, content: str, message: str) -> None:
    path = rules_file(load_config(churn), "churn")
    path.parent.mkdir(parents=True)
    path.write_text(content)
    for attempt in (lambda: rules("churn"), lambda: check("churn"),
                    lambda: rule("churn", "drift", "retrain.ipynb")):
        with pytest.raises(UserInputError) as error:
            attempt()
        assert message in str(error.value) and str(path) in str(error.value)
        assert "\n" not in str(error.value)
    assert not (churn / "pwned").exists()
    assert path.read_text() == content  # never rewritten over


# --------------------------------------------------------------------------- checks


def test_a_rows_rule_counts_the_requests_since_it_was_added(churn: Path) -> None:
    traffic(churn, 50, datetime.now(UTC) - timedelta(minutes=5))  # before the rule
    added = rule("churn", "rows>=3", "retrain.ipynb")
    traffic(churn, 2)
    first = check("churn", fire=False)
    assert first.dry_run and first.to_dict()["rules"] == [
        {"id": added.id, "when": "rows>=3", "holds": False, "fired": False, "skipped": None,
         "reason": first.rules[0].reason, "result": None}]
    assert first.rules[0].reason.startswith("2 requests logged since ")
    traffic(churn, 1, first=2)
    dry = check("churn", fire=False)
    assert dry.rules[0].holds is True and not dry.rules[0].fired
    assert dry.rules[0].reason.startswith("3 requests logged since ")
    assert dry.rules[0].reason.endswith("would fire (dry run)")
    assert rules("churn")[0].to_dict() == added.to_dict()  # a dry run changes nothing

    fired = check("churn")
    assert fired.fired == [added.id]
    assert "FIRED" in fired.to_text()
    outcome = settled("churn", added.id)
    assert outcome.last_result is not None
    assert outcome.last_result["status"] == "succeeded", outcome.last_result
    log = Path(outcome.last_result["log"]).read_text()
    assert "rows>=3" in log and "retrain: done" in log and "succeeded" in log
    assert outcome.last_fired is not None and outcome.last_checked is not None
    # the window starts again at the firing: the 3 requests are answered
    again = check("churn")
    assert again.rules[0].holds is False and not again.fired
    assert again.rules[0].reason.startswith("0 requests logged since ")


def test_a_rule_fires_once_and_its_retraining_is_tracked_as_a_candidate(
        churn: Path, tracking_server: str, monkeypatch: pytest.MonkeyPatch,
        tracking_reset: None) -> None:
    from mlflow import MlflowClient

    monkeypatch.setenv("MLOPS_TRACKING_URI", tracking_server)
    write_notebook(churn / "retrain.ipynb", TRACKED)
    added = rule("churn", "rows>=2", "retrain.ipynb", cooldown="1h")
    traffic(churn, 4)

    fired = check("churn")
    assert fired.fired == [added.id]
    result = fired.rules[0].result
    assert result is not None and result["status"] == "running"
    assert result["run_id"] and Path(result["log"]).is_file()
    traffic(churn, 4, first=10)  # more traffic while it runs: the rule holds, it waits
    second = check("churn")
    assert not second.fired and second.rules[0].holds is True
    assert second.rules[0].skipped in ("running", "cooldown")

    outcome = settled("churn", added.id)
    assert outcome.last_result is not None
    assert outcome.last_result["status"] == "succeeded", \
        Path(outcome.last_result["log"]).read_text()
    assert outcome.last_result["run_id"] == result["run_id"]  # it fired once
    third = check("churn")
    assert not third.fired and third.rules[0].skipped == "cooldown"
    assert "quiet until" in third.rules[0].reason

    (run_id,) = outcome.last_result["tracked_runs"]
    client = MlflowClient(tracking_server)
    tag = json.loads(client.get_run(run_id).data.tags["mlops.trigger"])
    assert (tag["deployment"], tag["rule"], tag["when"]) == ("churn", added.id, "rows>=2")
    assert tag["report"].startswith("4 requests logged since ")
    candidate = client.get_model_version_by_alias("churn", "candidate")
    assert candidate.run_id == run_id
    assert outcome.last_result["candidates"] == [
        f"churn version {candidate.version} → models:/churn@candidate"]
    # registered, never deployed: the deployment serves what it served
    deployment = DeploymentStore(load_config(churn).path("deploy.path")).load("churn")
    assert deployment.versions == [] and deployment.status == "stopped"


def test_a_failing_retraining_is_recorded_with_its_log_and_fires_no_second_time(
        churn: Path) -> None:
    write_notebook(churn / "retrain.ipynb", FAILING)
    added = rule("churn", "rows>=1", "retrain.ipynb", cooldown=600)
    traffic(churn, 1)
    assert check("churn").fired == [added.id]
    outcome = settled("churn", added.id)
    result = outcome.last_result
    assert result is not None and result["status"] == "failed"
    assert result["error"].startswith("step 'retrain' failed")
    assert "bad training data: 2 rows" in result["error"]
    log = Path(result["log"]).read_text()
    assert "ValueError: bad training data: 2 rows" in log  # the step's traceback
    assert "prepare: done" in log and "retrain: failed" in log
    assert "ValueError: bad training data: 2 rows" in result["log_tail"]  # kept with the rule
    assert len(result["log_tail"].encode()) <= 4_000

    traffic(churn, 5, first=1)
    again = check("churn")
    assert not again.fired and again.rules[0].skipped == "cooldown"
    assert again.rules[0].result == rules("churn")[0].last_result
    assert rules("churn")[0].last_result["run_id"] == result["run_id"]  # type: ignore[index]
    assert "retraining failed" in again.to_text()


@pytest.mark.parametrize("process", ["ended", "another program"])
def test_a_retraining_whose_process_died_is_recorded_as_failed(churn: Path,
                                                               process: str) -> None:
    import subprocess

    # a process that ended, or one that lives but is not a retraining (its id reused)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    if process == "ended":
        other.kill()
        other.wait()
    path = rules_file(load_config(churn), "churn")
    path.parent.mkdir(parents=True)
    running = {"status": "running", "run_id": "20261201-100000-abcdef", "log": None,
               "error": None, "pid": other.pid}
    path.write_text(json.dumps({"rules": [{**GOOD, "last_result": running}]}))
    try:
        result = check("churn")
    finally:
        other.kill()
        other.wait()
    assert result.rules[0].result is not None
    assert result.rules[0].result["status"] == "failed"
    assert "ended without recording its outcome" in result.rules[0].result["error"]
    assert rules("churn")[0].last_result["status"] == "failed"  # type: ignore[index]


def test_a_notebook_gone_since_the_rule_was_added_is_a_failed_firing(churn: Path) -> None:
    added = rule("churn", "rows>=1", "retrain.ipynb")
    (churn / "retrain.ipynb").unlink()
    traffic(churn, 1)
    fired = check("churn")
    assert fired.fired == [added.id]
    result = rules("churn")[0].last_result
    assert result is not None and result["status"] == "failed"
    assert "its notebook retrain.ipynb is gone" in result["error"]
    traffic(churn, 1, first=1)
    assert check("churn").rules[0].skipped == "cooldown"


def test_check_of_an_unknown_deployment_is_404(project: Path) -> None:
    with pytest.raises(NotFoundError, match="no deployment named 'nobody'"):
        check("nobody")
    deployed(project, "quiet")
    assert check("quiet").to_text() == "quiet: no rules (add one with mlops.monitor.rule)"


# --------------------------------------------------------------------------- the server


@pytest.fixture
def jp_server_config(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The server checks the rules every second (set before it starts)."""
    monkeypatch.setenv("MLOPS_MONITOR_CHECK_INTERVAL", "1")
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


@pytest.mark.timeout(300)
async def test_the_server_checks_the_rules_by_itself_off_its_event_loop(
        jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from tests.rest_helpers import api_get

    (jp_root_dir / "mlops.toml").write_text('[tracking]\nexperiment = "rules-test"\n')
    monkeypatch.chdir(jp_root_dir)
    deployed(jp_root_dir, "churn")
    write_notebook(jp_root_dir / "retrain.ipynb", QUICK)
    added = rule("churn", "rows>=2", "retrain.ipynb")
    (app,) = jp_serverapp.extension_manager.extension_apps["jupyter_mlops"]
    checks = app.monitor_checks
    assert checks.thread.is_alive() and checks.thread is not threading.main_thread()
    traffic(jp_root_dir, 2)

    loop_thread = threading.get_ident()
    seen: list[int] = []
    original = checks.run_once

    def watched() -> Any:
        seen.append(threading.get_ident())
        return original()

    monkeypatch.setattr(checks, "run_once", watched)
    deadline = time.monotonic() + 120
    while (rules("churn")[0].last_result or {}).get("status") != "succeeded":
        assert time.monotonic() < deadline, rules("churn")[0].to_dict()
        status = await api_get(jp_fetch, "status")  # the server answers meanwhile
        assert status["version"]
        await asyncio.sleep(0.3)
    assert seen and loop_thread not in seen
    assert rules("churn")[0].last_fired is not None
    assert rules("churn")[0].id == added.id


# --------------------------------------------------------------------------- drift and metrics


def test_metric_rules_read_the_labelled_requests(churn: Path) -> None:
    import pandas as pd

    from jupyter_mlops.monitor.labels import log_labels

    high = rule("churn", "metric:mae>0.5", "retrain.ipynb")
    low = rule("churn", "metric:rmse<0.5", "retrain.ipynb")
    before = check("churn", fire=False)
    assert [r.holds for r in before.rules] == [None, None]
    assert "no labels for churn yet" in before.rules[0].reason
    traffic(churn, 10)  # predictions 2n
    off = [1.0] * 5 + [3.0] * 5  # errors: mae 2.0, rmse sqrt(5)
    log_labels("churn", pd.DataFrame({"request_id": [f"req-{n}" for n in range(10)],
                                      "truth": [2.0 * n + e for n, e in enumerate(off)]}))
    result = check("churn", fire=False)
    by_id = {r.id: r for r in result.rules}
    assert by_id[high.id].holds is True
    assert by_id[high.id].reason.startswith("mae 2 over 10 labelled requests since ")
    assert by_id[high.id].reason.endswith("(> 0.5); would fire (dry run)")
    assert by_id[low.id].holds is False
    assert by_id[low.id].reason.startswith(f"rmse {5 ** 0.5:.4g} over 10 labelled requests")
    assert by_id[low.id].reason.endswith("(not < 0.5)")


def _deployed_with_reference(project: Path) -> None:
    """'churn' serving a run's model (stopped), whose reference has x0, x1 ~ N(0, 1)."""
    import numpy as np
    import pandas as pd

    import jupyter_mlops as mlops
    from jupyter_mlops.deploy.state import Deployment, VersionInfo
    from jupyter_mlops.monitor.reference import set_reference

    with mlops.start_run(cwd=str(project)) as run:
        mlops.log(score=1.0)
    store = DeploymentStore(load_config(project).path("deploy.path"))
    store.save(Deployment("churn", "local", status="stopped", version=1, versions=[
        VersionInfo(1, f"runs:/{run.run_id}/model", run_id=run.run_id, status="stopped")]))
    rng = np.random.default_rng(3)
    set_reference("churn", pd.DataFrame({"x0": rng.normal(0, 1, 3000),
                                         "x1": rng.normal(0, 1, 3000)}), cwd=project)


def test_a_drift_rule_fires_for_the_shifted_feature_only(
        churn: Path, tracking_server: str, monkeypatch: pytest.MonkeyPatch,
        tracking_reset: None) -> None:
    import numpy as np

    monkeypatch.setenv("MLOPS_TRACKING_URI", tracking_server)
    _deployed_with_reference(churn)
    shifted = rule("churn", "drift:x1", "retrain.ipynb")
    steady = rule("churn", "drift:x0", "retrain.ipynb")
    unknown = rule("churn", "drift:age", "retrain.ipynb")
    rng = np.random.default_rng(11)

    def shifted_requests(when: datetime, first: int) -> None:
        write_part(churn, "churn", [
            {**row(when, first + n), "x0": float(rng.normal(0, 1)),
             "x1": float(rng.normal(1, 1))} for n in range(400)])

    # shifted, but before the window (the last cooldown: an hour by default)
    shifted_requests(datetime.now(UTC) - timedelta(hours=2), 1000)
    quiet = check("churn", fire=False)
    assert [r.holds for r in quiet.rules] == [False, False, False]
    assert quiet.rules[0].reason.startswith("no logged requests since ")

    shifted_requests(datetime.now(UTC), 0)
    result = check("churn")
    by_id = {r.id: r for r in result.rules}
    assert result.fired == [shifted.id]
    assert by_id[shifted.id].reason.startswith("drifted: x1 (psi ")
    assert "over 400 requests since " in by_id[shifted.id].reason
    assert by_id[steady.id].holds is False
    assert by_id[steady.id].reason.startswith("no drift over 400 requests")
    assert by_id[unknown.id].holds is None
    assert by_id[unknown.id].reason.startswith("'age' is not compared (compared: x0, x1")
    outcome = settled("churn", shifted.id)
    assert outcome.last_result is not None and outcome.last_result["status"] == "succeeded"
    log = Path(outcome.last_result["log"]).read_text()
    assert "drift:x1" in log and "drifted: x1" in log
    # the traffic is still shifted: the rule holds, and waits out its cooldown
    again = {r.id: r for r in check("churn").rules}[shifted.id]
    assert (again.holds, again.fired, again.skipped) == (True, False, "cooldown")
