"""The local serving backend through HTTP: MLflow's scoring protocol, batching, limits.

One deployment of a torch MLP (``churn`` v1, logged with mlflow.pytorch) serves every test
here; each compares what comes back over HTTP with the model's own in-process output."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from tests.deploy_fixtures import DeployProject, get, post

pytestmark = pytest.mark.timeout(600)


def _predictions(body: Any) -> np.ndarray:
    predictions = body["predictions"]
    if predictions and isinstance(predictions[0], dict):  # DataFrame records
        return np.array([list(row.values()) for row in predictions], dtype="float32")
    return np.array(predictions, dtype="float32")


def payloads(X: np.ndarray) -> dict[str, tuple[str, str]]:
    """The same rows in every JSON format MLflow's scoring server accepts (its CSV parser
    needs a column-based signature; this model's is a tensor)."""
    import pandas as pd

    rows = X.tolist()
    frame = pd.DataFrame(X, columns=[str(i) for i in range(X.shape[1])])
    return {
        "inputs": (json.dumps({"inputs": rows}), "application/json"),
        "instances": (json.dumps({"instances": rows}), "application/json"),
        "dataframe_split": (json.dumps({"dataframe_split": json.loads(
            frame.to_json(orient="split", index=False))}), "application/json"),
        "dataframe_records": (json.dumps({"dataframe_records": json.loads(
            frame.to_json(orient="records"))}), "application/json"),
        "json with charset": (json.dumps({"inputs": rows}), "application/json; charset=utf-8"),
    }


@pytest.mark.parametrize("fmt", list(payloads(np.zeros((1, 16)))))
def test_predictions_over_http_equal_the_models_own_output(
        served: Any, deploy_project: DeployProject, fmt: str) -> None:
    body, content_type = payloads(deploy_project.X)[fmt]
    status, answer, headers = post(f"{served.url}/invocations", body, content_type)
    assert status == 200, answer
    assert headers["X-Model-Version"] == "1"
    got = _predictions(answer)
    assert got.shape == deploy_project.expected_v1.shape
    np.testing.assert_array_equal(got, deploy_project.expected_v1)


def test_the_deployment_says_where_and_on_what_it_runs(served: Any) -> None:
    import torch

    assert served.status == "serving" and served.health == "ok"
    assert served.url.startswith("http://127.0.0.1:")  # loopback by default
    assert served.model == "models:/churn/1"
    current = served.current
    assert current.registered_name == "churn" and current.registered_version == "1"
    assert current.run_id is not None
    assert served.device == ("cuda:0" if torch.cuda.is_available() else "cpu")
    assert served.warmup_ms is not None and served.warmup_ms > 0


def test_mlflows_own_scoring_client_works_against_it(
        served: Any, deploy_project: DeployProject) -> None:
    import mlflow
    from mlflow.models import convert_input_example_to_serving_input
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    port = int(served.url.rsplit(":", 1)[1])
    client = ScoringServerClient("127.0.0.1", port)
    client.wait_server_ready(timeout=10)
    assert client.ping() is None or True  # raises on a non-200
    assert client.get_version() == mlflow.__version__
    response = client.invoke(deploy_project.X)
    np.testing.assert_array_equal(np.asarray(response.get_predictions(), dtype="float32"),
                                  deploy_project.expected_v1)
    # the payload MLflow writes for a model's input example is accepted as is
    serving_input = convert_input_example_to_serving_input(deploy_project.X[:3])
    status, answer, _ = post(f"{served.url}/invocations", serving_input)
    assert status == 200
    np.testing.assert_array_equal(_predictions(answer),
                                  deploy_project.predict_v1(deploy_project.X[:3]))


def test_ping_health_and_version_answer_like_mlflows_server(served: Any) -> None:
    import mlflow

    assert get(f"{served.url}/ping")[0] == 200
    assert get(f"{served.url}/health")[0] == 200
    assert get(f"{served.url}/version") == (200, mlflow.__version__)


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(
        served: Any, deploy_project: DeployProject) -> None:
    from jupyter_mlops.deploy import get_deployment

    X, expected = deploy_project.X, deploy_project.expected_v1
    jobs = [(i % len(X), 1 + i % 3) for i in range(96)]  # 1-3 rows from various offsets

    def one(job: tuple[int, int]) -> tuple[int, int, np.ndarray]:
        start, n = job
        rows = np.roll(X, -start, axis=0)[:n]
        status, answer, _ = post(f"{served.url}/invocations", {"inputs": rows.tolist()})
        assert status == 200, answer
        return start, n, _predictions(answer)

    before = get_deployment("mlp", cwd=deploy_project.root).metrics
    with ThreadPoolExecutor(48) as pool:
        results = list(pool.map(one, jobs))
    for start, n, got in results:
        # rows predicted in a batch with other requests' rows: equal up to float32 rounding
        np.testing.assert_allclose(got, np.roll(expected, -start, axis=0)[:n], rtol=1e-5,
                                   atol=1e-6)
    after = get_deployment("mlp", cwd=deploy_project.root).metrics
    assert after["requests"] - before["requests"] == len(jobs)
    assert after["max_batch_rows"] > 3  # several requests went through one predict call


@pytest.mark.parametrize(("body", "content_type", "status", "says"), [
    ("{not json", "application/json", 400, "valid JSON"),
    ("[[1, 2, 3]]", "application/json", 400, "received a list"),
    ('{"rows": [[1, 2]]}', "application/json", 400, "exactly one of the fields"),
    ('{"inputs": [[1]], "instances": [[1]]}', "application/json", 400,
     "exactly one of the fields"),
    ('{"inputs": [[1, 2, 3]]}', "application/json", 400, "shape"),
    ('{"dataframe_split": [1, 2]}', "application/json", 400, "dataframe_split must be"),
    ("", "application/json", 400, "empty request body"),
    ("a,b\n1,2\n", "text/plain", 415, "content types"),
    ('{"inputs": [[1]]}', "application/json; charset=latin-1", 415, "UTF-8"),
])
def test_malformed_requests_get_4xx_with_a_message(
        served: Any, body: str, content_type: str, status: int, says: str) -> None:
    got, answer, _ = post(f"{served.url}/invocations", body, content_type)
    assert got == status, answer
    assert says.lower() in answer["message"].lower()
    assert get(f"{served.url}/health")[0] == 200


def test_oversized_requests_get_413(served: Any) -> None:
    too_many_rows = {"inputs": np.zeros((1001, 16)).tolist()}  # the limit is 1000
    status, answer, _ = post(f"{served.url}/invocations", too_many_rows)
    assert status == 413 and "at most 1000" in answer["message"]
    too_big = b'{"inputs": [' + b"[0.0]," * 200_000 + b"[0.0]]}"  # 1.2 MB > 1 MB
    # urllib sends "Connection: close" and is still writing when the 413 comes: the server
    # reads the rest to the bin before closing, else the caller gets a broken pipe (1 in 4)
    for _ in range(8):
        status, answer, _ = post(f"{served.url}/invocations", too_big)
        assert status == 413 and "larger than" in answer["message"]
    assert get(f"{served.url}/health")[0] == 200


def test_predict_takes_a_dataframe_and_returns_one(
        served: Any, deploy_project: DeployProject) -> None:
    import pandas as pd

    from jupyter_mlops.deploy import predict

    frame = predict("mlp", deploy_project.X, cwd=deploy_project.root)
    assert isinstance(frame, pd.DataFrame) and frame.shape == (8, 3)
    np.testing.assert_array_equal(frame.to_numpy(dtype="float32"), deploy_project.expected_v1)
    records = [dict(zip([str(i) for i in range(16)], map(float, row), strict=True))
               for row in deploy_project.X[:2]]
    frame = predict("mlp", records, cwd=deploy_project.root)
    # over HTTP MLflow casts the JSON numbers to the signature's float32; in process we must
    in_process = deploy_project.predict_v1(pd.DataFrame(records).astype("float32"))
    np.testing.assert_array_equal(frame.to_numpy(dtype="float32"),
                                  np.asarray(in_process, dtype="float32"))


def test_a_new_process_lists_the_deployment_and_predicts_through_the_cli(
        served: Any, deploy_project: DeployProject, cli: Any, tmp_path: Any) -> None:
    """The state lives under .mlops/deployments: a fresh process (as after a restart of
    Jupyter) finds the deployment, checks its health and sends it a CSV file."""
    listed = cli("deployments", "--json", cwd=deploy_project.root)
    assert listed.returncode == 0, listed.stderr
    (found,) = [d for d in json.loads(listed.stdout) if d["name"] == "mlp"]
    assert found["status"] == "serving" and found["health"] == "ok"
    assert found["url"] == served.url and found["version"] == 1
    assert "token" not in listed.stdout
    import pandas as pd

    csv = tmp_path / "rows.csv"
    pd.DataFrame(deploy_project.X[:4]).to_csv(csv, index=False)
    done = cli("predict", "mlp", str(csv), "--json", cwd=deploy_project.root)
    assert done.returncode == 0, done.stderr
    got = pd.read_json(io.StringIO(done.stdout), orient="records").to_numpy(dtype="float32")
    np.testing.assert_array_equal(got, deploy_project.predict_v1(deploy_project.X[:4]))
    text = cli("deployments", cwd=deploy_project.root)
    assert "mlp" in text.stdout and "serving" in text.stdout


def test_logs_show_the_serving_process_and_the_version(served: Any,
                                                       deploy_project: DeployProject) -> None:
    from jupyter_mlops.deploy import logs

    found = logs("mlp", 50, cwd=deploy_project.root)
    text = str(found)
    assert "serving mlp on http://127.0.0.1" in text
    assert "ready on" in text and "warm-up request" in text
    assert list(found.sections) == ["serving process", "version 1"]


def test_the_serving_process_outlives_the_process_that_deployed_it(
        deploy_project: DeployProject, child_env: Any) -> None:
    """Deployed by a CLI process that then exits: still serving; then undeployed."""
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "deploy", str(deploy_project.local_v1),
         "--name", "from-cli", "--json"],
        cwd=deploy_project.root, env=child_env(), capture_output=True, text=True, timeout=300,
        check=False)
    assert done.returncode == 0, done.stderr
    deployed = json.loads(done.stdout)
    assert deployed["status"] == "serving"
    status, answer, _ = post(f"{deployed['url']}/invocations",
                             {"inputs": deploy_project.X.tolist()})
    assert status == 200
    np.testing.assert_array_equal(_predictions(answer), deploy_project.expected_v1)
    gone = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "undeploy", "from-cli"],
        cwd=deploy_project.root, env=child_env(), capture_output=True, text=True, timeout=120,
        check=False)
    assert gone.returncode == 0, gone.stderr
    assert not (deploy_project.root / ".mlops" / "deployments" / "from-cli").exists()
    with pytest.raises(OSError):
        import urllib.request

        urllib.request.urlopen(f"{deployed['url']}/ping", timeout=5)
