"""The Experiments panel's sweeps through a real Jupyter server (pytest-jupyter, authentication
on) over sweeps tracked to a real ``mlflow server``: the listing shows a sweep as one row, its
trials counted; ``GET sweeps/ID`` lists the trials with their state, value and params, the
best trial and the two charts, live while the sweep runs; the best trial's model registers
through the run's register route."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

import jupyter_mlops as mlops
from jupyter_mlops.sweep import Sweep, sweep, uniform

from .test_tracking_server import _error, _json

pytestmark = [pytest.mark.usefixtures("tracking_reset"), pytest.mark.timeout(600)]


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


@pytest.fixture
def project(jp_root_dir: Path, tracking_server: str) -> Path:
    """The server root is a project tracking to the session's ``mlflow server``, in an
    experiment of its own."""
    (jp_root_dir / "mlops.toml").write_text(
        f'[tracking]\nuri = "{tracking_server}"\nexperiment = "sweeps-{uuid.uuid4().hex[:8]}"\n')
    return jp_root_dir


def quadratic(x: float, y: float) -> None:
    if x > 4:
        raise ValueError("x is too far")
    mlops.log(loss=(x - 2) ** 2 + (y + 1) ** 2)


def run_sweep(project: Path, trials: int = 8, **kwargs: Any) -> Sweep:
    options: dict[str, Any] = {"space": {"x": uniform(-5, 5), "y": uniform(-5, 5)},
                               "trials": trials, "sampler": "random", "seed": 11,
                               "pruner": "none", **kwargs}
    return sweep(quadratic, cwd=project, **options)


async def test_a_sweep_is_one_row_of_the_listing_with_its_trials_counted(
        jp_fetch: Any, project: Path) -> None:
    plain = mlops.start_run(run_name="plain", cwd=str(project))
    mlops.log(loss=3.0)
    mlops.end_run()
    result = run_sweep(project, name="listed")
    states = list(result.trials["state"])

    body = await _json(await jp_fetch("mlops", "api", "runs"))

    assert [r["run_id"] for r in body["runs"]] == [result.run_id, plain.run_id]
    assert body["total"] == 2 and list(body["sweeps"]) == [result.run_id]
    about = body["sweeps"][result.run_id]
    assert about["study"] == "listed" and about["metric"] == "loss"
    assert about["direction"] == "minimize" and about["planned"] == 8
    assert about["trials"] == 8
    assert about["counts"] == {"running": 0, "complete": states.count("complete"),
                               "pruned": 0, "fail": states.count("fail")}
    assert states.count("fail") >= 1 and states.count("complete") >= 1
    assert about["best_run_id"] == result.best_run_id
    assert about["best_value"] == pytest.approx(result.best_value)


async def test_a_sweeps_trials_best_trial_and_charts(jp_fetch: Any, project: Path) -> None:
    result = run_sweep(project, name="opened")
    frame = result.trials

    body = await _json(await jp_fetch("mlops", "api", "sweeps", result.run_id))

    assert body["run"]["run_id"] == result.run_id and body["run"]["status"] == "FINISHED"
    assert body["summary"]["trials"] == 8 and body["summary"]["study"] == "opened"
    assert body["summary"]["best_run_id"] == result.best_run_id
    assert body["active"] is False and body["truncated"] is False
    assert body["param_names"] == ["x", "y"]
    trials = body["trials"]
    assert [t["number"] for t in trials] == list(frame["number"])
    assert [t["run_id"] for t in trials] == list(frame["run_id"])
    assert [t["state"] for t in trials] == list(frame["state"])
    for trial, params, value in zip(trials, frame["params"], frame["value"], strict=True):
        assert {k: float(v) for k, v in trial["params"].items()} == pytest.approx(params)
        if trial["state"] == "complete":
            assert trial["value"] == pytest.approx(value) and trial["status"] == "FINISHED"
        else:
            assert trial["value"] is None and trial["status"] == "FAILED"
            assert "x is too far" in trial["error"]
    best = body["best"]
    assert best["run_id"] == result.best_run_id and best["number"] == result.study.best_trial.number
    assert best["value"] == pytest.approx(result.best_value)
    assert float(best["params"]["x"]) == pytest.approx(result.best_params["x"])

    complete = [t for t in trials if t["state"] == "complete"]
    history = body["charts"]["history"]
    assert history["$schema"].endswith("vega-lite/v5.json")
    points = history["data"]["values"]
    assert [p["trial"] for p in points if p["series"] == "trial"] == \
        [t["number"] for t in complete]
    assert points[-1]["value"] == pytest.approx(result.best_value)  # the best so far, at last
    parallel = body["charts"]["parallel"]
    lines = [row for row in parallel["data"]["values"] if row["kind"] == "line"]
    assert len(lines) == 3 * len(complete)  # x, y and the objective for each completed trial
    assert {row["axis"] for row in lines} == {"x", "y", "loss"}
    assert parallel["layer"][1]["encoding"]["x"]["sort"] == ["x", "y", "loss"]
    assert all(0 <= row["position"] <= 1 for row in lines)
    best_line = {row["axis"]: row for row in lines if row["trial"] == best["number"]}
    # on the space's range: -5 at the bottom, 5 at the top
    assert best_line["x"]["position"] == pytest.approx((result.best_params["x"] + 5) / 10)
    assert best_line["loss"]["position"] == 0  # the lowest loss is at the bottom


async def test_a_running_sweep_shows_its_running_trial(jp_fetch: Any, project: Path) -> None:
    started, release = threading.Event(), threading.Event()

    def slow(x: float) -> None:
        started.set()
        assert release.wait(60)
        mlops.log(loss=x)

    outcome: list[Any] = []
    worker = threading.Thread(target=lambda: outcome.append(
        sweep(slow, space={"x": uniform(0, 1)}, trials=2, cwd=project, name="live")))
    worker.start()
    try:
        assert await asyncio.get_running_loop().run_in_executor(None, started.wait, 60)
        for _ in range(100):  # the runs' tags reach the store from the tracking queue
            listing = await _json(await jp_fetch("mlops", "api", "runs"))
            if listing["sweeps"] and len(listing["runs"]) == 1:
                break
            await asyncio.sleep(0.2)
        parent = listing["runs"][0]
        assert listing["active"] is True and parent["status"] == "RUNNING"
        assert listing["sweeps"][parent["run_id"]]["counts"]["running"] == 1
        body = await _json(await jp_fetch("mlops", "api", "sweeps", parent["run_id"]))
        assert body["active"] is True
        assert [t["state"] for t in body["trials"]] == ["running"]
        assert body["best"] is None and body["charts"]["history"]["data"]["values"] == []
    finally:
        release.set()
        await asyncio.get_running_loop().run_in_executor(None, worker.join, 60)
    body = await _json(await jp_fetch("mlops", "api", "sweeps", outcome[0].run_id))
    assert body["active"] is False
    assert [t["state"] for t in body["trials"]] == ["complete", "complete"]


async def test_the_best_trials_model_registers_through_the_runs_route(
        jp_fetch: Any, project: Path) -> None:
    import mlflow.pyfunc

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context: Any, model_input: Any) -> Any:
            return model_input

    def train(x: float) -> None:
        mlops.log(loss=(x - 0.3) ** 2)
        mlops.log_model(Echo(), "echo")

    result = sweep(train, space={"x": uniform(0, 1)}, trials=3, cwd=project, sampler="random",
                   seed=2, pruner="none")
    body = await _json(await jp_fetch("mlops", "api", "sweeps", result.run_id))
    best = body["best"]
    assert best["run_id"] == result.best_run_id
    assert [m["name"] for m in best["models"]] == ["echo"]

    response = await jp_fetch("mlops", "api", "runs", best["run_id"], "register",
                              method="POST", body=json.dumps({"alias": "champion"}))

    assert response.code == 201
    from jupyter_mlops.config import load_config
    from jupyter_mlops.tracking.store import client

    found = client(load_config(project)).get_model_version_by_alias("echo", "champion")
    assert found.run_id == result.best_run_id


async def test_a_run_that_is_not_a_sweep_and_bad_ids_are_json_4xx(
        jp_fetch: Any, project: Path) -> None:
    plain = mlops.start_run(run_name="plain", cwd=str(project))
    mlops.end_run()
    code, message = await _error(jp_fetch("mlops", "api", "sweeps", plain.run_id))
    assert code == 404 and "is not a sweep" in message
    code, message = await _error(jp_fetch("mlops", "api", "sweeps", "0123abcd"))
    assert code == 404 and "no run '0123abcd'" in message
    code, message = await _error(jp_fetch("mlops", "api", "sweeps", "abc",
                                          params={"path": "../.."}))
    assert code == 403 and "outside the server root" in message


async def test_the_sweep_route_needs_authentication(jp_fetch: Any, jp_base_url: str,
                                                    jp_http_port: int) -> None:
    url = f"http://localhost:{jp_http_port}{jp_base_url}mlops/api/sweeps/abc"
    with pytest.raises(HTTPClientError) as caught:
        await AsyncHTTPClient().fetch(url)
    assert caught.value.code == 403
