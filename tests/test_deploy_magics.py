"""``%mlops deploy|deployments|predict|rollback|undeploy|logs`` in a real IPython shell."""

from __future__ import annotations

import numpy as np
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from tests.deploy_fixtures import DeployProject
from tests.shell_fixtures import run, shown

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def shell(shell: InteractiveShell, deploy_project: DeployProject,
          monkeypatch: pytest.MonkeyPatch) -> InteractiveShell:
    """The shared shell, working in the deploy project."""
    monkeypatch.chdir(deploy_project.root)
    return shell


def test_deploy_shows_a_card_with_url_device_and_warm_up(
        shell: InteractiveShell, deploy_project: DeployProject) -> None:
    shell.user_ns["model_dir"] = str(deploy_project.local_v1)
    deployment = run(shell, "%mlops deploy $model_dir --name from-magic")
    try:
        bundle = shown(shell, deployment)
        html, text = bundle["text/html"], bundle["text/plain"]
        assert deployment.url in html and deployment.url in text
        assert f"Device</td><td style=\"text-align:left\">{deployment.device}" in html
        assert "Warm-up" in html and "warm-up:" in text
        assert 'data-status="serving"' in html
        # predict takes a variable of the notebook and gives a DataFrame back
        shell.user_ns["rows"] = deploy_project.X[:3]
        frame = run(shell, "%mlops predict from-magic rows")
        np.testing.assert_array_equal(frame.to_numpy(dtype="float32"),
                                      deploy_project.predict_v1(deploy_project.X[:3]))
        listed = run(shell, "%mlops deployments")
        assert "from-magic" in shown(shell, listed)["text/html"]
        logs = run(shell, "%mlops logs from-magic --lines 5")
        assert "version 1" in shown(shell, logs)["text/html"]
        with pytest.raises(UsageError, match="there is no previous version"):
            run(shell, "%mlops rollback from-magic")
    finally:
        gone = run(shell, "%mlops undeploy from-magic")
    assert shown(shell, gone)["text/plain"] == "from-magic: stopped and removed (local)"


def test_mistakes_are_one_line_usage_errors(shell: InteractiveShell) -> None:
    for line, says in (("%mlops deploy", "the following arguments are required: model"),
                       ("%mlops deploy models:/churn/1 --canary 150", "1-99"),
                       ("%mlops deploy models:/nope/1", "was not found"),
                       ("%mlops predict mlp no_such_variable", "no variable 'no_such_variable'"),
                       ("%mlops undeploy nobody", "no deployment named 'nobody'")):
        with pytest.raises(UsageError) as caught:
            run(shell, line)
        message = str(caught.value)
        assert says in message, message
        if "usage:" not in message:  # argparse's own errors end with the usage lines
            assert "\n" not in message, message
