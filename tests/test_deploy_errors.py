"""Bad input to deploy: one clear line each, and nothing half-deployed left running."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.deploy import deploy, deployments
from jupyter_mlops.deploy.target import DeployFailed
from jupyter_mlops.errors import MLOpsError, NotFoundError, UserInputError
from tests.deploy_fixtures import DeployProject

pytestmark = pytest.mark.timeout(600)


def _nothing_left(root: Path, name: str) -> None:
    assert name not in {d.name for d in deployments(check=False, cwd=root)}
    assert not (root / ".mlops" / "deployments" / name).exists()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            assert f"deployments/{name}".encode() not in cmdline, cmdline


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert message and "\n" not in message
    return message


@pytest.mark.parametrize(("model", "error", "says"), [
    ("0123456789abcdef0123456789abcdef", NotFoundError, "was not found in the tracking store"),
    ("models:/no-such-model/1", NotFoundError, "was not found"),
    ("models:/churn@no-such-alias", NotFoundError, "was not found"),
    ("models:/churn", UserInputError, "name a version"),
    ("not a model", UserInputError, "is not a model reference"),
])
def test_a_model_that_does_not_exist_is_one_clear_line(
        deploy_project: DeployProject, model: str, error: type[Exception], says: str) -> None:
    with pytest.raises(error) as caught:
        deploy(model, name="missing", cwd=deploy_project.root)
    assert says in _one_line(caught)
    _nothing_left(deploy_project.root, "missing")


def test_a_model_with_neither_signature_nor_example_is_refused(
        deploy_project: DeployProject) -> None:
    with pytest.raises(UserInputError) as caught:
        deploy(str(deploy_project.no_signature), name="nosig", cwd=deploy_project.root)
    assert "no signature and no input example" in _one_line(caught)
    assert "input_example=" in str(caught.value)
    _nothing_left(deploy_project.root, "nosig")


def test_a_port_in_use_is_said_before_anything_starts(deploy_project: DeployProject) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(UserInputError) as caught:
            deploy(str(deploy_project.local_v1), name="busy-port", port=port,
                   cwd=deploy_project.root)
    assert f"port {port} on 127.0.0.1 is in use" in _one_line(caught)
    _nothing_left(deploy_project.root, "busy-port")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_where_none_exists_is_said_and_the_cpu_offered(
        deploy_project: DeployProject) -> None:
    with pytest.raises(DeployFailed) as caught:
        deploy(str(deploy_project.local_v1), name="no-gpu", gpu=0, cwd=deploy_project.root)
    message = _one_line(caught)
    assert "GPU 0 was requested but torch" in message and "no CUDA device" in message
    assert "gpu='none'" in message  # the CPU, offered
    _nothing_left(deploy_project.root, "no-gpu")


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"name": "Bad_Name"}, "invalid deployment name"),
    ({"canary": 100}, "between 1 and 99"),
    ({"target": "heroku"}, "unknown target"),
    ({"gpu": "fast"}, "invalid gpu"),
    ({"dry_run": True}, "--target kserve"),
])
def test_bad_options_are_refused_before_anything_starts(
        deploy_project: DeployProject, kwargs: dict[str, Any], says: str) -> None:
    with pytest.raises(MLOpsError) as caught:
        deploy(str(deploy_project.local_v1), cwd=deploy_project.root, **kwargs)
    assert says in _one_line(caught)
    assert isinstance(caught.value, UserInputError)


def test_operations_on_an_unknown_deployment_are_404s(deploy_project: DeployProject) -> None:
    from jupyter_mlops.deploy import logs, predict, rollback, undeploy

    for call in (lambda: rollback("nobody", cwd=deploy_project.root),
                 lambda: undeploy("nobody", cwd=deploy_project.root),
                 lambda: logs("nobody", cwd=deploy_project.root),
                 lambda: predict("nobody", [{"a": 1}], cwd=deploy_project.root)):
        with pytest.raises(NotFoundError) as caught:
            call()
        assert "no deployment named 'nobody'" in _one_line(caught)
        assert caught.value.http_status == 404
