"""The Experiments panel's REST API through a real Jupyter server (pytest-jupyter,
authentication on), over runs recorded by the tracking core in the server's project."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

import jupyter_mlops as mlops

pytestmark = [pytest.mark.usefixtures("tracking_reset"), pytest.mark.timeout(600)]

EMPTY_NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


@pytest.fixture
def runs(jp_root_dir: Path) -> dict[str, str]:
    """Three finished runs in the server root's project (embedded store, experiment 'api'):
    two of ``nb/train.ipynb`` (the second with a model), one of ``other.ipynb``."""
    (jp_root_dir / "mlops.toml").write_text('[tracking]\nexperiment = "api"\n')
    (jp_root_dir / "nb").mkdir()
    train = jp_root_dir / "nb" / "train.ipynb"
    other = jp_root_dir / "other.ipynb"
    for path in (train, other):
        path.write_text(json.dumps(EMPTY_NOTEBOOK))
    made = {}
    for name, nb, lr, losses in (("slow", train, 0.01, [1.0, 0.8, 0.6]),
                                 ("elsewhere", other, 0.5, [0.9]),
                                 ("fast", train, 0.1, [1.0, 0.3])):
        run = mlops.start_run(run_name=name, notebook=str(nb))
        mlops.log_params(lr=lr, epochs=3)
        for loss in losses:
            mlops.log(loss=loss)
        if name == "fast":
            import mlflow.pyfunc

            class Echo(mlflow.pyfunc.PythonModel):
                def predict(self, context: Any, model_input: Any) -> Any:
                    return model_input

            mlops.log_model(Echo(), "echo")
        assert mlops.end_run().flush.done
        made[name] = run.run_id
    return made


async def _json(response: Any) -> Any:
    return json.loads(response.body.decode())


async def _error(call: Any) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as caught:
        await call
    return caught.value.code, json.loads(caught.value.response.body)["message"]


async def test_runs_of_the_open_notebook_newest_first_then_the_whole_experiment(
        jp_fetch: Any, runs: dict[str, str]) -> None:
    body = await _json(await jp_fetch("mlops", "api", "runs",
                                      params={"notebook": "nb/train.ipynb"}))
    assert [r["run_id"] for r in body["runs"]] == [runs["fast"], runs["slow"]]
    assert body["notebook"] == "nb/train.ipynb" and body["total"] == 2
    assert body["active"] is False and body["truncated"] is False
    fast = body["runs"][0]
    assert fast["run_name"] == "fast" and fast["status"] == "FINISHED"
    assert fast["params"] == {"lr": "0.1", "epochs": "3"}
    assert fast["metrics"] == {"loss": 0.3}
    assert fast["duration"] >= 0 and fast["start_time"] <= fast["end_time"]
    assert [m["name"] for m in fast["models"]] == ["echo"]
    assert fast["models"][0]["uri"].startswith("models:/")
    assert fast["experiment"] == "api"
    assert fast["url"] is None  # no tracking server, so no link into MLflow's UI
    assert body["param_keys"] == ["epochs", "lr"] and body["metric_keys"] == ["loss"]

    whole = await _json(await jp_fetch("mlops", "api", "runs"))
    assert whole["experiment"] == "api"
    assert [r["run_name"] for r in whole["runs"]] == ["fast", "elsewhere", "slow"]


async def test_listing_before_the_first_run_creates_no_store(jp_fetch: Any,
                                                             jp_root_dir: Path) -> None:
    for params in ({}, {"notebook": "train.ipynb"}):
        body = await _json(await jp_fetch("mlops", "api", "runs", params=params))
        assert body["runs"] == [] and body["total"] == 0
    assert not (jp_root_dir / ".mlops").exists()


async def test_runs_are_sortable_and_paged(jp_fetch: Any, runs: dict[str, str]) -> None:
    async def names(**params: str) -> list[str]:
        body = await _json(await jp_fetch("mlops", "api", "runs", params=params))
        return [r["run_name"] for r in body["runs"]]

    assert await names(sort="metrics.loss", order="asc") == ["fast", "slow", "elsewhere"]
    assert await names(sort="params.lr", order="desc") == ["elsewhere", "fast", "slow"]
    assert await names(sort="run_name", order="asc") == ["elsewhere", "fast", "slow"]
    assert await names(sort="start_time", order="asc") == ["slow", "elsewhere", "fast"]
    assert await names(sort="start_time", offset="1", limit="1") == ["elsewhere"]
    page = await _json(await jp_fetch("mlops", "api", "runs", params={"offset": "2",
                                                                        "limit": "2"}))
    assert page["total"] == 3 and [r["run_name"] for r in page["runs"]] == ["slow"]


async def test_one_run_with_its_tags_and_artifacts(jp_fetch: Any, jp_root_dir: Path,
                                                  runs: dict[str, str]) -> None:
    run = await _json(await jp_fetch("mlops", "api", "runs", runs["slow"]))
    assert run["run_name"] == "slow"
    tags = run["tags"]
    assert tags["mlflow.source.type"] == "NOTEBOOK"
    assert tags["mlops.notebook.path"] == str((jp_root_dir / "nb" / "train.ipynb").resolve())
    assert "mlops.client_run_id" not in tags
    folders = {a["path"]: a["is_dir"] for a in run["artifacts"]}
    assert folders["notebook"] is True and folders["environment"] is True
    listed = await _json(await jp_fetch("mlops", "api", "runs", runs["slow"], "artifacts",
                                        params={"dir": "notebook"}))
    assert [(a["path"], a["is_dir"]) for a in listed["artifacts"]] == [
        ("notebook/train.ipynb", False)]
    assert listed["artifacts"][0]["size"] > 0


async def test_compare_gives_parameter_differences_histories_and_a_chart(
        jp_fetch: Any, runs: dict[str, str]) -> None:
    ids = f"{runs['slow']},{runs['fast']}"
    body = await _json(await jp_fetch("mlops", "api", "runs", "compare", params={"ids": ids}))
    assert [r["run_name"] for r in body["runs"]] == ["slow", "fast"]
    params = {p["key"]: p for p in body["params"]}
    assert params["lr"]["differs"] is True and params["epochs"]["differs"] is False
    assert params["lr"]["values"] == {runs["slow"]: "0.01", runs["fast"]: "0.1"}
    assert [p[:2] for p in body["histories"][runs["slow"]]["loss"]] == [
        [0, 1.0], [1, 0.8], [2, 0.6]]
    spec = body["spec"]
    assert spec["$schema"].endswith("vega-lite/v5.json")
    assert len([p for p in spec["data"]["values"] if p["run"] == "fast"]) == 2


async def test_register_a_runs_model_and_set_an_alias(jp_fetch: Any, jp_root_dir: Path,
                                                     runs: dict[str, str]) -> None:
    response = await jp_fetch("mlops", "api", "runs", runs["fast"], "register", method="POST",
                              body=json.dumps({"name": "echo-model", "alias": "champion"}))
    assert response.code == 201
    done = await _json(response)
    assert (done["name"], done["version"], done["alias"]) == ("echo-model", "1", "champion")
    assert done["uri"] == "models:/echo-model@champion"
    from jupyter_mlops.config import load_config
    from jupyter_mlops.tracking.store import client

    found = client(load_config(jp_root_dir)).get_model_version_by_alias("echo-model",
                                                                        "champion")
    assert found.run_id == runs["fast"]
    code, message = await _error(jp_fetch("mlops", "api", "runs", runs["slow"], "register",
                                          method="POST", body="{}"))
    assert code == 400 and "logged no model" in message


@pytest.mark.parametrize(("method", "parts", "params", "body", "code", "says"), [
    ("GET", ["runs"], {"sort": "colour"}, None, 400, "cannot sort by 'colour'"),
    ("GET", ["runs"], {"limit": "0"}, None, 400, "limit must be between 1 and 1000"),
    ("GET", ["runs"], {"order": "up"}, None, 400, "order must be 'asc' or 'desc'"),
    ("GET", ["runs"], {"notebook": "../x.ipynb"}, None, 403, "outside the server root"),
    ("GET", ["runs"], {"notebook": "notes.txt"}, None, 400, "is not a notebook"),
    ("GET", ["runs"], {"path": "../.."}, None, 403, "outside the server root"),
    ("GET", ["runs", "compare"], {"ids": "abc"}, None, 400, "at least two runs"),
    ("GET", ["runs", "0123abcd"], {}, None, 404, "no run '0123abcd'"),
    ("GET", ["runs", "0123abcd", "artifacts"], {}, None, 404, "no run '0123abcd'"),
    ("POST", ["runs", "0123abcd", "register"], {}, {"colour": 1}, 400, "unknown field: colour"),
    ("POST", ["runs", "0123abcd", "register"], {}, {"alias": 3}, 400, "must be a string"),
    ("POST", ["runs", "0123abcd", "register"], {}, {}, 404, "no run '0123abcd'"),
])
async def test_bad_requests_are_json_4xx(jp_fetch: Any, jp_root_dir: Path, method: str,
                                         parts: list[str], params: dict[str, str], body: Any,
                                         code: int, says: str) -> None:
    kwargs: dict[str, Any] = {"method": method, "params": params}
    if method == "POST":
        kwargs["body"] = json.dumps(body)
    got, message = await _error(jp_fetch("mlops", "api", *parts, **kwargs))
    assert got == code and says in message, message


async def test_an_artifact_folder_outside_the_run_is_refused(jp_fetch: Any,
                                                            runs: dict[str, str]) -> None:
    code, message = await _error(jp_fetch("mlops", "api", "runs", runs["slow"], "artifacts",
                                          params={"dir": "../../etc"}))
    assert code == 400 and "without '..'" in message


@pytest.mark.parametrize("where", ["closed_port_url", "blackhole_url"])
async def test_an_unreachable_tracking_server_is_a_clear_503(
        jp_fetch: Any, jp_root_dir: Path, where: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(where)
    (jp_root_dir / "mlops.toml").write_text(f'[tracking]\nuri = "{url}"\n')
    for parts in (["runs"], ["runs", "abc123"], ["runs", "compare"]):
        code, message = await _error(jp_fetch("mlops", "api", *parts,
                                              params={"ids": "a1,b2"}))
        assert code == 503 and f"tracking server {url} is unreachable" in message, message
    # the server kept answering
    assert (await jp_fetch("api", "status")).code == 200


async def test_every_route_needs_authentication(jp_fetch: Any, jp_base_url: str,
                                                jp_http_port: int) -> None:
    for path in ("runs", "runs/compare?ids=a,b", "runs/abc", "runs/abc/artifacts"):
        url = f"http://localhost:{jp_http_port}{jp_base_url}mlops/api/{path}"
        with pytest.raises(HTTPClientError) as caught:
            await AsyncHTTPClient().fetch(url)
        assert caught.value.code == 403, path


async def test_a_password_in_the_tracking_uri_never_reaches_the_browser(
        jp_fetch: Any, jp_root_dir: Path, free_port: int) -> None:
    url = f"http://alice:s3cret-token@127.0.0.1:{free_port}"
    (jp_root_dir / "mlops.toml").write_text(f'[tracking]\nuri = "{url}"\n')
    code, message = await _error(jp_fetch("mlops", "api", "runs"))
    assert code == 503 and "s3cret-token" not in message
    assert f"alice:***@127.0.0.1:{free_port}" in message
