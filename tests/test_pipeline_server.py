"""The Pipeline panel's REST API through a real Jupyter server (pytest-jupyter, with auth)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from .pipeline_notebooks import CHAIN, digest, write_notebook


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


async def _get(jp_fetch: Any, *parts: str, **params: str) -> Any:
    response = await jp_fetch("mlops", "api", *parts, params=params)
    return json.loads(response.body.decode())


async def _post(jp_fetch: Any, *parts: str, body: dict[str, Any]) -> tuple[int, Any]:
    response = await jp_fetch("mlops", "api", *parts, method="POST", body=json.dumps(body))
    return response.code, json.loads(response.body.decode())


async def _error(call: Any) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as info:
        await call
    assert info.value.response is not None
    return info.value.code, json.loads(info.value.response.body.decode())["message"]


async def _wait(jp_fetch: Any, path: str, run_id: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        run = await _get(jp_fetch, "pipeline", "runs", run_id, path=path)
        if run["state"] != "running" or time.monotonic() > deadline:
            return run
        await asyncio.sleep(0.2)


async def test_the_dag_of_a_notebook(jp_fetch: Any, jp_root_dir: Path) -> None:
    write_notebook(jp_root_dir / "work" / "chain.ipynb", CHAIN)

    dag = await _get(jp_fetch, "pipeline", path="work/chain.ipynb")

    assert dag["notebook"] == "work/chain.ipynb"
    assert [s["name"] for s in dag["steps"]] == ["load", "clean", "stats", "scaled", "report"]
    report = dag["steps"][-1]
    assert report["inputs"] == [{"name": "mean", "from": "stats"},
                                {"name": "scaled", "from": "scaled"}]
    assert report["cells"] == [7] and report["cell_ids"][0]
    assert {"from": "clean", "to": "stats", "names": ["clean"], "after": False} in dag["edges"]
    assert [p["name"] for p in dag["parameters"]] == ["n", "scale", "label"]
    assert set(dag["layout"]) == {"load", "clean", "stats", "scaled", "report"}
    assert dag["layout"]["stats"]["y"] == dag["layout"]["scaled"]["y"]  # same depth
    # the grid the layout was made on, so the panel can redraw it with boxes of its own size
    grid = dag["node_size"]
    assert dag["layout"]["scaled"]["x"] - dag["layout"]["stats"]["x"] == (
        grid["width"] + grid["gap_x"])
    assert dag["layout"]["stats"]["y"] - dag["layout"]["clean"]["y"] == (
        grid["height"] + grid["gap_y"])
    assert dag["warnings"] == []


async def test_the_dag_of_unsaved_content(jp_fetch: Any, jp_root_dir: Path) -> None:
    nb = write_notebook(jp_root_dir / "chain.ipynb", CHAIN)
    content = json.loads(nb.read_text())
    content["cells"].append({"cell_type": "code", "metadata": {"mlops": {"step": "extra"}},
                             "source": "more = mean * 2", "outputs": [],
                             "execution_count": None, "id": "extra-cell"})
    code, dag = await _post(jp_fetch, "pipeline", body={"path": "chain.ipynb",
                                                        "content": content})
    assert code == 200
    assert dag["steps"][-1]["name"] == "extra"
    assert dag["steps"][-1]["inputs"] == [{"name": "mean", "from": "stats"}]
    assert dag["steps"][-1]["cell_ids"] == ["extra-cell"]
    assert "extra" not in nb.read_text()  # nothing saved


async def test_bad_requests_are_4xx_json(jp_fetch: Any, jp_root_dir: Path) -> None:
    write_notebook(jp_root_dir / "dup.ipynb", ["%%mlops step a\nx = 1", "%%mlops step a\ny = 2"])
    (jp_root_dir / "notes.txt").write_text("hi")
    cases = [
        (jp_fetch("mlops", "api", "pipeline", params={"path": "dup.ipynb"}), 400,
         "step name 'a' is used twice"),
        (jp_fetch("mlops", "api", "pipeline", params={"path": "../outside.ipynb"}), 403,
         "outside the server root"),
        (jp_fetch("mlops", "api", "pipeline", params={"path": "nope.ipynb"}), 404,
         "no such file"),
        (jp_fetch("mlops", "api", "pipeline", params={"path": "notes.txt"}), 400,
         "is not a notebook"),
        (jp_fetch("mlops", "api", "pipeline"), 400, "name the notebook"),
        (jp_fetch("mlops", "api", "pipeline", "runs", "20990101-000000-aaaaaa",
                  params={"path": "dup.ipynb"}), 404, "no run 20990101-000000-aaaaaa"),
    ]
    for call, code, message in cases:
        got_code, got_message = await _error(call)
        assert (got_code, message in got_message) == (code, True), got_message


async def test_a_run_started_from_the_panel(jp_fetch: Any, jp_root_dir: Path) -> None:
    nb = write_notebook(jp_root_dir / "chain.ipynb", CHAIN)
    before = digest(nb)

    code, started = await _post(jp_fetch, "pipeline", "runs",
                                body={"path": "chain.ipynb", "parameters": {"scale": 3}})

    assert code == 202
    assert started["state"] == "running"
    assert [s["state"] for s in started["steps"]] == ["queued"] * 5
    # while the run's process works, the server keeps answering
    assert (await jp_fetch("api", "status")).code == 200
    run = await _wait(jp_fetch, "chain.ipynb", started["run_id"])
    assert run["state"] == "done", run
    assert {s["name"]: s["state"] for s in run["steps"]} == dict.fromkeys(
        ["load", "clean", "stats", "scaled", "report"], "done")
    report = next(s for s in run["steps"] if s["name"] == "report")
    assert '"scaled": [0.0, 6.0, 12.0]' in report["log_tail"]
    assert report["log"].startswith(".mlops/pipelines/chain/runs/")
    assert run["parameters"]["scale"] == 3.0

    log = await _get(jp_fetch, "pipeline", "runs", run["run_id"], "logs", "load",
                     path="chain.ipynb")
    assert "loaded 5" in log["text"]
    listed = await _get(jp_fetch, "pipeline", "runs", path="chain.ipynb")
    assert listed["runs"][0]["run_id"] == run["run_id"]
    assert listed["runs"][0]["steps"] == {"done": 5}

    code, again = await _post(jp_fetch, "pipeline", "runs",
                              body={"path": "chain.ipynb", "parameters": {"scale": 3}})
    rerun = await _wait(jp_fetch, "chain.ipynb", again["run_id"])
    assert {s["state"] for s in rerun["steps"]} == {"cached"}
    assert digest(nb) == before


async def test_a_failed_step_reports_cell_and_line(jp_fetch: Any, jp_root_dir: Path) -> None:
    write_notebook(jp_root_dir / "bad.ipynb", ["%%mlops step a\nx = 1",
                                               "%%mlops step b\n\ny = x / 0"])
    _, started = await _post(jp_fetch, "pipeline", "runs", body={"path": "bad.ipynb"})
    run = await _wait(jp_fetch, "bad.ipynb", started["run_id"])
    assert run["state"] == "failed"
    failed = next(s for s in run["steps"] if s["name"] == "b")
    assert failed["state"] == "failed"
    assert (failed["error"]["cell"], failed["error"]["line"]) == (1, 3)
    assert failed["error"]["cell_id"]
    assert "ZeroDivisionError" in failed["log_tail"]


async def test_bad_run_requests_start_nothing(jp_fetch: Any, jp_root_dir: Path) -> None:
    write_notebook(jp_root_dir / "chain.ipynb", CHAIN)
    for body, message in [
        ({"path": "chain.ipynb", "parameters": {"n": "many"}}, "parameter 'n' is an integer"),
        ({"path": "chain.ipynb", "only": "ghost"}, "no step named 'ghost'"),
        ({"path": "chain.ipynb", "parameters": {"zzz": 1}}, "unknown parameter 'zzz'"),
    ]:
        code, got = await _error(jp_fetch("mlops", "api", "pipeline", "runs", method="POST",
                                          body=json.dumps(body)))
        assert code == 400 and message in got
    assert not (jp_root_dir / ".mlops").exists()


async def test_stopping_a_run(jp_fetch: Any, jp_root_dir: Path) -> None:
    write_notebook(jp_root_dir / "slow.ipynb", [
        "%%mlops step wait\nimport pathlib, time\npathlib.Path('started').write_text('x')\n"
        "time.sleep(120)\nx = 1",
        "%%mlops step after\ny = x",
    ])
    _, started = await _post(jp_fetch, "pipeline", "runs", body={"path": "slow.ipynb"})
    deadline = time.monotonic() + 60
    while not (jp_root_dir / "started").exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    response = await jp_fetch("mlops", "api", "pipeline", "runs", started["run_id"],
                              method="DELETE", params={"path": "slow.ipynb"})
    run = json.loads(response.body.decode())
    assert run["state"] == "cancelled"
    assert {s["state"] for s in run["steps"]} == {"skipped"}
    code, message = await _error(jp_fetch("mlops", "api", "pipeline", "runs",
                                          started["run_id"], method="DELETE",
                                          params={"path": "slow.ipynb"}))
    assert code == 400 and "is not running" in message


async def test_export_from_the_panel(jp_fetch: Any, jp_root_dir: Path) -> None:
    write_notebook(jp_root_dir / "chain.ipynb", CHAIN)
    code, result = await _post(jp_fetch, "pipeline", "export", body={
        "path": "chain.ipynb", "target": "airflow", "out_dir": "dags", "schedule": "@daily"})
    assert code == 200
    assert result["files"] == ["dags/chain_dag.py"]
    assert "schedule='@daily'" in (jp_root_dir / "dags" / "chain_dag.py").read_text()
    code, message = await _error(jp_fetch("mlops", "api", "pipeline", "export", method="POST",
                                          body=json.dumps({"path": "chain.ipynb",
                                                           "target": "airflow",
                                                           "out_dir": "../elsewhere"})))
    assert code == 403 and "outside the server root" in message
