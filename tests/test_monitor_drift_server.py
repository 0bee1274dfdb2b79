"""The Monitor II REST routes through a real Jupyter server (pytest-jupyter, unauthenticated
access off) over an inference log written as the serving process writes it
(``monitor_traffic``: x1 shifted by one standard deviation, x0 not): a deployment's drift
against the reference stored on its training run (and the how-to line when it has none), its
performance once labels came in, its rules (list, add, remove) and its check; one-line 4xx
for the caller's mistakes, 403 without credentials."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.monitor_traffic import PER_HOUR, Traffic, retrain_notebook, shifted_traffic

from .rest_helpers import api_get

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


@pytest.fixture
def traffic(jp_root_dir: Path) -> Traffic:
    """A project ``proj`` under the server root: deployment 'churn' with shifted traffic,
    a retraining notebook, and no periodic check (monitor.check_interval 0)."""
    project = jp_root_dir / "proj"
    project.mkdir()
    (project / "mlops.toml").write_text('[tracking]\nexperiment = "drift-rest"\n'
                                        "[monitor]\ncheck_interval = 0\n")
    found = shifted_traffic(project)
    retrain_notebook(project)
    return found


async def _send(jp_fetch: Any, method: str, *parts: str, body: Any = None,
                **params: str) -> tuple[int, Any]:
    """``parts`` after ``monitor/deployments/``; a query ``a=b`` as the last part."""
    query = dict(p.split("=", 1) for p in parts if "=" in p)
    response = await jp_fetch("mlops", "api", "monitor", "deployments",
                              *(p for p in parts if "=" not in p), method=method,
                              params={"path": "proj", **query, **params},
                              body=None if body is None else json.dumps(body))
    return response.code, json.loads(response.body.decode())


async def _refused(jp_fetch: Any, method: str, *parts: str, body: Any = None
                   ) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as caught:
        await _send(jp_fetch, method, *parts, body=body)
    response = caught.value.response
    assert response is not None
    answer = json.loads(response.body.decode())
    assert set(answer) == {"message"} and "\n" not in answer["message"], answer
    return caught.value.code, answer["message"]


# --------------------------------------------------------------------------- drift


def _serving_a_tracked_run(project: Path) -> str:
    """'churn' serves (stopped) a model of a run of the project's own tracking store."""
    from jupyter_mlops.config import load_config
    from jupyter_mlops.deploy.state import Deployment, DeploymentStore, VersionInfo
    from jupyter_mlops.tracking.store import client, ensure_experiment

    config = load_config(project)
    # the project's experiment (its artifacts under the project, not ./mlruns of the cwd)
    run_id: str = client(config).create_run(
        ensure_experiment(config, "drift-rest-runs")).info.run_id
    DeploymentStore(config.path("deploy.path")).save(Deployment(
        "churn", "local", status="stopped", version=1, versions=[
            VersionInfo(1, f"runs:/{run_id}/model", run_id=run_id, status="stopped")]))
    return run_id


def _log_metric(project: Path, run_id: str, key: str, value: float) -> None:
    from jupyter_mlops.config import load_config
    from jupyter_mlops.tracking.store import client

    client(load_config(project)).log_metric(run_id, key, value)


async def test_drift_without_a_reference_says_how_to_give_one(jp_fetch: Any,
                                                              traffic: Traffic) -> None:
    report = await api_get(jp_fetch, "monitor", "deployments", "churn", "drift", path="proj",
                           since="1d")
    assert report["features"] == [] and report["reference"] is None
    assert report["name"] == "churn" and report["since"] is not None
    assert report["message"].startswith("deployment 'churn' serves no version, so it has no "
                                        "reference; give it one: mlops.monitor.set_reference")


async def test_drift_against_the_reference_of_the_training_run(jp_fetch: Any,
                                                               traffic: Traffic) -> None:
    from jupyter_mlops.monitor import set_reference

    run_id = await asyncio.to_thread(_serving_a_tracked_run, traffic.project)
    missing = await api_get(jp_fetch, "monitor", "deployments", "churn", "drift", path="proj")
    assert missing["features"] == [] and f"run {run_id} stored none" in missing["message"]
    assert await asyncio.to_thread(set_reference, "churn", traffic.reference,
                                   cwd=traffic.project) == run_id
    report = await api_get(jp_fetch, "monitor", "deployments", "churn", "drift", path="proj")
    assert report["drifted"] == ["x1"] and report["message"] is None
    assert report["current_rows"] == 2 * PER_HOUR
    assert report["reference"] == {"origin": f"run {run_id[:8]} (set_reference, 3,000 rows)",
                                   "rows": 3000}
    features = {f["feature"]: f for f in report["features"]}
    assert set(features) == {"x0", "x1"}
    assert set(features["x1"]) == {"feature", "kind", "method", "statistic", "threshold",
                                   "drifted", "reference_rows", "current_rows"}
    assert (features["x1"]["method"], features["x1"]["drifted"]) == ("psi", True)
    assert features["x1"]["statistic"] > features["x1"]["threshold"] == 0.2
    assert features["x0"]["statistic"] < 0.2 and not features["x0"]["drifted"]
    assert set(report["histograms"]["x1"]) == {"bins", "reference", "current"}
    # the second hour only: the window the panel asks for
    late = await api_get(jp_fetch, "monitor", "deployments", "churn", "drift", path="proj",
                         since=traffic.hours[1].isoformat())
    assert late["current_rows"] == PER_HOUR and late["drifted"] == ["x1"]
    empty = await api_get(jp_fetch, "monitor", "deployments", "churn", "drift", path="proj",
                          since="5m")
    assert empty["current_rows"] == 0 and empty["drifted"] == []
    assert empty["message"] == "no logged requests in the window"


# --------------------------------------------------------------------------- performance


async def test_performance_before_and_after_labels(jp_fetch: Any, traffic: Traffic) -> None:
    from jupyter_mlops.monitor import log_labels

    before = await api_get(jp_fetch, "monitor", "deployments", "churn", "performance",
                           path="proj")
    assert before["points"] == [] and "no labels for churn yet" in before["message"]
    await asyncio.to_thread(log_labels, "churn", traffic.labels, cwd=traffic.project)
    after = await api_get(jp_fetch, "monitor", "deployments", "churn", "performance",
                          path="proj", metric="accuracy", by="1h")
    assert (after["metric"], after["by"], after["training"], after["message"]) == (
        "accuracy", "1h", None, None)
    assert [(p["value"], p["rows"]) for p in after["points"]] == [(1.0, PER_HOUR),
                                                                  (0.75, PER_HOUR)]
    assert [p["t"][:19] for p in after["points"]] == [h.isoformat()[:19]
                                                       for h in traffic.hours]
    # the training run's metric of the same name comes along
    run_id = await asyncio.to_thread(_serving_a_tracked_run, traffic.project)
    await asyncio.to_thread(_log_metric, traffic.project, run_id, "accuracy", 0.9)
    trained = await api_get(jp_fetch, "monitor", "deployments", "churn", "performance",
                            path="proj")
    assert trained["training"] == 0.9 and len(trained["points"]) == 2
    second = traffic.hours[1].isoformat()
    late = await api_get(jp_fetch, "monitor", "deployments", "churn", "performance",
                         path="proj", since=second)
    assert [p["value"] for p in late["points"]] == [0.75]


# --------------------------------------------------------------------------- rules and check


async def test_rules_are_added_listed_checked_and_removed(jp_fetch: Any,
                                                          traffic: Traffic) -> None:
    assert await api_get(jp_fetch, "monitor", "deployments", "churn", "rules",
                         path="proj") == {"rules": []}
    code, added = await _send(jp_fetch, "POST", "churn", "rules",
                              body={"when": "rows>=0", "then": "retrain.ipynb",
                                    "cooldown": "2h"})
    assert code == 201
    assert (added["when"], added["then"], added["target"], added["cooldown_s"]) == (
        "rows>=0", "retrain.ipynb", "local", 7200)
    assert set(added) >= {"id", "when", "then", "target", "cooldown_s", "created",
                          "last_fired", "last_result"}
    listed = await api_get(jp_fetch, "monitor", "deployments", "churn", "rules", path="proj")
    assert listed == {"rules": [added]}

    code, dry = await _send(jp_fetch, "POST", "churn", "check", body={"dry_run": True})
    assert code == 200 and dry["name"] == "churn" and dry["dry_run"] is True
    (ruled,) = dry["rules"]
    assert (ruled["id"], ruled["holds"], ruled["fired"]) == (added["id"], True, False)
    assert "would fire" in ruled["reason"]

    code, fired = await _send(jp_fetch, "POST", "churn", "check", body={})
    assert code == 200 and [r["fired"] for r in fired["rules"]] == [True]
    assert fired["rules"][0]["result"]["status"] == "running"
    deadline = time.monotonic() + 120
    while True:  # the retraining runs in a child of its own; the rule records how it ended
        (state,) = (await api_get(jp_fetch, "monitor", "deployments", "churn", "rules",
                                  path="proj"))["rules"]
        if state["last_result"]["status"] != "running" or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert state["last_fired"] is not None
    assert state["last_result"]["status"] in ("succeeded", "failed"), state
    code, again = await _send(jp_fetch, "POST", "churn", "check", body={})
    assert [(r["fired"], r["skipped"]) for r in again["rules"]] == [(False, "cooldown")]

    code, removed = await _send(jp_fetch, "DELETE", "churn", "rules", added["id"])
    assert (code, removed) == (200, {"removed": added["id"]})
    assert await api_get(jp_fetch, "monitor", "deployments", "churn", "rules",
                         path="proj") == {"rules": []}


@pytest.mark.parametrize(("method", "parts", "body", "code", "message"), [
    ("GET", ("nobody", "drift"), None, 404, "no deployment named 'nobody'"),
    ("GET", ("churn", "drift", "since=later"), None, 400, "since: cannot read 'later'"),
    ("GET", ("churn", "drift", "since=1h", "until=2h"), None, 400, "must be before until"),
    ("GET", ("nobody", "performance"), None, 404, "no deployment named 'nobody'"),
    ("GET", ("churn", "performance", "metric=precision"), None, 400,
     "metric 'precision': choose accuracy"),
    ("GET", ("churn", "performance", "by=often"), None, 400, "by: "),
    ("GET", ("churn", "performance", "since=whenever"), None, 400, "since: cannot read"),
    ("POST", ("churn", "rules"), {"then": "retrain.ipynb"}, 400, "'when' is required"),
    ("POST", ("churn", "rules"), {"when": "drift"}, 400, "'then' is required"),
    ("POST", ("churn", "rules"), {"when": "sometimes", "then": "retrain.ipynb"}, 400,
     "cannot read the condition 'sometimes'"),
    ("POST", ("churn", "rules"), {"when": "drift", "then": "nothere.ipynb"}, 404,
     "no such notebook"),
    ("POST", ("churn", "rules"), {"when": "drift", "then": "../../escape.ipynb"}, 403,
     "outside the project"),
    ("POST", ("churn", "rules"), {"when": "drift", "then": "retrain.ipynb",
                                  "cooldown": [1]}, 400, "cooldown: give seconds"),
    ("POST", ("churn", "rules"), {"when": "drift", "then": "retrain.ipynb",
                                  "cooldown": "a bit"}, 400, "cooldown"),
    ("POST", ("churn", "rules"), {"when": "drift", "then": "retrain.ipynb", "every": 1}, 400,
     "unknown fields: every"),
    ("POST", ("churn", "rules"), [1, 2], 400, "the request body must be a JSON object"),
    ("DELETE", ("churn", "rules", "0123abcd"), None, 404, "has no rule '0123abcd'"),
    ("POST", ("churn", "check"), {"dry_run": "yes"}, 400, "dry_run must be true or false"),
    ("POST", ("nobody", "check"), {}, 404, "no deployment named 'nobody'"),
    ("POST", ("Bad_Name", "check"), {}, 400, "invalid deployment name"),
])
async def test_mistakes_are_one_line_4xx(jp_fetch: Any, traffic: Traffic, method: str,
                                         parts: tuple[str, ...], body: Any, code: int,
                                         message: str) -> None:
    got, text = await _refused(jp_fetch, method, *parts, body=body)
    assert (got, message in text) == (code, True), text


@pytest.mark.parametrize(("method", "parts"), [
    ("GET", ("churn", "drift")), ("GET", ("churn", "performance")), ("GET", ("churn", "rules")),
    ("POST", ("churn", "rules")),
    ("DELETE", ("churn", "rules", "0123abcd")), ("POST", ("churn", "check"))])
async def test_routes_need_authentication(jp_fetch: Any, traffic: Traffic, method: str,
                                          parts: tuple[str, ...]) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "api", "monitor", "deployments", *parts, method=method,
                       params={"path": "proj"}, headers={"Authorization": ""},
                       body="{}" if method == "POST" else None)
    assert caught.value.code == 403
