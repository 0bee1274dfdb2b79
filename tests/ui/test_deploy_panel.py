"""The Deploy panel in real JupyterLab: deploy a tracked run from the form, watch its
progress, get answers from the endpoint (through the panel and over plain HTTP), roll out a
second version, roll back, undeploy; and the ``mlops:deploy-model`` command other panels use.

The models are real MLflow models (scikit-learn) logged into the lab root's embedded store
(``.mlops/mlflow.db``), where the server resolves its tracking URI for that root.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from .conftest import Lab, screenshot, start_lab, stop_lab
from .helpers import invocations, open_lab, show_panel

pytestmark = [pytest.mark.ui, pytest.mark.timeout(900)]

DEPLOY_TIMEOUT = 240_000  # ms: a model process starting on a busy 2-core machine
ROWS = [{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 0.0}, {"a": -1.5, "b": 4.0}]


@dataclass
class Models:
    root: Path
    run_v1: str
    v1: Any  # the fitted estimators, to compare the endpoint's answers with
    v2: Any
    gate: Path  # models/gated loads only once this file exists

    def expected(self, model: Any, rows: list[dict[str, float]] = ROWS) -> list[float]:
        import pandas as pd

        return [float(v) for v in model.predict(pd.DataFrame(rows))]


def _fit(a: float, b: float, c: float) -> Any:
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 2.0]})
    return LinearRegression().fit(X, a * X["a"] + b * X["b"] + c), X


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Models]:
    """Two versions of ``ui-model`` logged into ``<root>/.mlops/mlflow.db``."""
    import mlflow

    from jupyter_mlops.config import load_config
    from jupyter_mlops.tracking.store import ensure_experiment, tracking_uri

    root = tmp_path_factory.mktemp("deploy-ui") / "root"
    root.mkdir()
    saved = {k: os.environ.pop(k) for k in list(os.environ)
             if k.startswith(("MLOPS_", "MLFLOW_", "AWS_"))}
    config = load_config(root)  # what the server resolves for this root
    uri = tracking_uri(config)
    assert uri == f"sqlite:///{root / '.mlops' / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        mlflow.set_experiment(experiment_id=ensure_experiment(config, "deploy-ui"))
        fitted = []
        run_ids = []
        for coefficients in ((2.0, 1.0, 0.0), (-1.0, 3.0, 0.5)):
            model, X = _fit(*coefficients)
            with mlflow.start_run() as run:
                mlflow.sklearn.log_model(model, name="model", input_example=X[:2],
                                         registered_model_name="ui-model",
                                         pip_requirements=["scikit-learn"])
            fitted.append(model)
            run_ids.append(run.info.run_id)
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        os.environ.update(saved)
    # a version that cannot load: its pickle cut short
    broken = root / "models" / "broken"
    mlflow.sklearn.save_model(fitted[0], str(broken), input_example=X[:2],
                              pip_requirements=["scikit-learn"])
    for pickled in broken.glob("model.*"):
        pickled.write_bytes(pickled.read_bytes()[:40])
    # a model that loads only when the test says so: its deploy runs as long as needed
    gate = root.parent / "gate-open"
    code = root.parent / "gated_model.py"
    code.write_text(GATED_MODEL.format(gate=str(gate)))
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    # a signature, no input example: saving does not load the model (that would wait)
    mlflow.pyfunc.save_model(str(root / "models" / "gated"), python_model=str(code),
                             signature=ModelSignature(inputs=Schema([ColSpec("double", "a")])),
                             pip_requirements=["mlflow"])
    yield Models(root, run_ids[0], fitted[0], fitted[1], gate)


GATED_MODEL = """
import os
import time

import mlflow
from mlflow.pyfunc import PythonModel


class Gated(PythonModel):
    def load_context(self, context):
        deadline = time.monotonic() + 300
        while not os.path.exists({gate!r}) and time.monotonic() < deadline:
            time.sleep(0.2)

    def predict(self, context, model_input):
        return model_input


mlflow.models.set_model(Gated())
"""


@pytest.fixture(scope="module")
def deploy_lab(models: Models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    # window.jupyterapp, so the test can call the command as another panel would; the
    # list refreshes every 5 s (the setting all panels follow), not the default 30 s
    running = start_lab(models.root, tmp_path_factory.mktemp("deploy-lab"),
                        config={"LabApp": {"expose_app_in_browser": True}},
                        settings={"refreshInterval": 5})
    yield running
    stop_lab(running)


@pytest.fixture(autouse=True)
def undeploy_everything(models: Models) -> Iterator[None]:
    """Whatever a test deployed is stopped and removed, pass or fail."""
    yield
    from jupyter_mlops.deploy import deployments, undeploy

    for deployment in deployments(check=False, cwd=models.root):
        try:
            undeploy(deployment.name, cwd=models.root)
        except Exception as exc:  # pragma: no cover - reported, not hidden
            print(f"could not undeploy {deployment.name}: {exc}")


# ------------------------------------------------------------------------------ helpers


def open_workspace(page: Any, lab: Lab, workspace: str) -> None:
    """A fresh workspace per test: what an earlier test left open is not restored."""
    open_lab(page, lab, f"lab/workspaces/{workspace}")
    page.locator(".jp-LauncherCard").first.wait_for(timeout=60_000)


def open_deploy_panel(page: Any, lab: Lab, workspace: str) -> Any:
    open_workspace(page, lab, workspace)
    panel = show_panel(page, "deploy")
    expect(panel.locator(".jp-mlops-deploy-targets")).to_be_visible(timeout=30_000)
    return panel


def deploy_from_form(panel: Any, model: str, name: str, canary: int | None = None) -> Any:
    """Fill the form, press Deploy; returns the task card (newest first)."""
    form = panel.locator(".jp-mlops-deploy-form")
    form.locator('input[name="model"]').fill(model)
    form.locator('input[name="name"]').fill(name)
    form.locator('input[name="canary"]').fill("" if canary is None else str(canary))
    form.get_by_role("button", name="Deploy").click()
    task = panel.locator(".jp-mlops-deploy-task").first
    expect(task).to_contain_text(f"Deploying {model}")
    return task


def start_deploy_over_rest(lab: Lab, body: dict[str, Any]) -> dict[str, Any]:
    """``POST deployments`` as another client would (the token, no browser)."""
    request = urllib.request.Request(
        f"{lab.url}mlops/api/deployments", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        task: dict[str, Any] = json.loads(response.read())["task"]
    return task


def open_document(page: Any, path: str) -> None:
    page.evaluate("""async path => {
        await window.jupyterapp.commands.execute('docmanager:open', {path});
    }""", path)


def try_it(card: Any, rows: list[dict[str, float]] = ROWS) -> list[float]:
    """Send rows through the card's "try it" box; the predictions it shows."""
    details = card.locator(".jp-mlops-deploy-tryit-details")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    box = card.locator(".jp-mlops-deploy-tryit-input")
    box.fill(json.dumps(rows))
    card.get_by_role("button", name="Predict").click()
    cells = card.locator(".jp-mlops-deploy-predictions tbody td")
    expect(cells).to_have_count(len(rows))
    return [float(t) for t in cells.all_inner_texts()]


def assert_close(shown: list[float], expected: list[float]) -> None:
    assert len(shown) == len(expected)
    for got, want in zip(shown, expected, strict=True):
        assert abs(got - want) <= 1e-5 * max(1.0, abs(want)), (shown, expected)


def process_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has stopped


def refused(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/ping", timeout=5)
    except urllib.error.HTTPError:
        return False
    except OSError:
        return True
    return False


# -------------------------------------------------------------------------------- tests


def test_deploy_a_run_from_the_panel_roll_out_roll_back_and_undeploy(
        page: Any, deploy_lab: Lab, models: Models) -> None:
    from jupyter_mlops.deploy import get_deployment

    panel = open_deploy_panel(page, deploy_lab, "deploy-flow")
    expect(panel.locator(".jp-mlops-deploy-empty")).to_contain_text("No deployments")
    # the targets, which are usable and why not (no kubeconfig, no SageMaker settings here)
    targets = panel.locator(".jp-mlops-deploy-targets")
    expect(targets.locator('[data-target="local"]')).to_have_attribute("data-available",
                                                                       "true")
    expect(targets.locator('[data-target="local"]')).to_contain_text("default")
    expect(targets.locator('[data-target="kserve"]')).to_have_attribute("data-available",
                                                                        "false")
    expect(targets.locator('[data-target="sagemaker"]')).to_contain_text(
        "needs aws.sagemaker_role")

    # deploy the tracked run by its model URI; progress lines arrive while it starts
    task = deploy_from_form(panel, f"runs:/{models.run_v1}/model", "ui-churn")
    expect(task).to_have_attribute("data-state", "running")
    progress = task.locator(".jp-mlops-deploy-progress li")
    expect(progress.first).to_contain_text("resolving")
    expect(progress.first).to_be_visible()  # live, while the model loads
    expect(task).to_have_attribute("data-state", "done", timeout=DEPLOY_TIMEOUT)
    expect(task.locator(".jp-mlops-deploy-progress")).to_contain_text(
        "starting the serving process on http://127.0.0.1:")
    deployed = get_deployment("ui-churn", cwd=models.root)
    assert deployed.status == "serving" and deployed.url
    result = task.locator(".jp-mlops-deploy-result")
    # the link is the URL as the browser normalises it (safeHref: http(s) only)
    expect(result.locator("a")).to_have_attribute("href", f"{deployed.url}/")
    expect(result.locator('[data-field="device"]')).to_have_text(str(deployed.device))
    expect(result).to_contain_text("Warm-up")

    card = panel.locator('[data-deployment="ui-churn"]')
    expect(card).to_have_attribute("data-status", "serving")
    expect(card.locator('[data-field="device"]')).to_have_text(
        "cuda:0" if deployed.device == "cuda:0" else "cpu")
    expect(card.locator('[data-field="health"]')).to_have_text("ok")
    expect(card.locator('[data-field="model"]')).to_contain_text("(version 1)")
    expect(card.locator('[data-field="url"] a')).to_have_attribute("href", f"{deployed.url}/")
    expect(card.get_by_role("button", name="Rollback")).to_be_disabled()  # one version only

    # the "try it" box starts from the model's signature and shows the model's answers
    card.locator(".jp-mlops-deploy-tryit-details summary").click()
    example = json.loads(card.locator(".jp-mlops-deploy-tryit-input").input_value())
    assert example == [{"a": 0, "b": 0}]
    assert_close(try_it(card), models.expected(models.v1))
    # and the endpoint itself answers MLflow's protocol with the same predictions
    assert_close(invocations(deployed.url, ROWS), models.expected(models.v1))
    # what is not JSON is said before anything is sent; what the model refuses, by the server
    box = card.locator(".jp-mlops-deploy-tryit-input")
    box.fill('[{"a": 1')
    card.get_by_role("button", name="Predict").click()
    expect(card.locator(".jp-mlops-deploy-error")).to_contain_text("Not JSON")
    box.fill('[{"a": "one", "b": 2}]')
    card.get_by_role("button", name="Predict").click()
    refusal = card.locator(".jp-mlops-deploy-error")
    expect(refusal).not_to_contain_text("Not JSON")
    expect(refusal).to_contain_text("a")
    assert "Traceback" not in refusal.inner_text()
    card.locator(".jp-mlops-deploy-tryit-input").fill(json.dumps(ROWS))
    card.get_by_role("button", name="Predict").click()
    # the latency of recent requests appears with the next refresh of the list
    expect(card.locator('[data-field="latency"]')).to_contain_text("p50", timeout=30_000)
    screenshot(page, "deploy-panel", page.locator("#mlops-sidebar"))

    # logs: a main-area view with the sections the server returns, refreshable
    card.get_by_role("button", name="Logs").click()
    view = page.locator(".jp-mlops-deploy-logs-view")
    expect(view).to_be_visible()
    expect(view.locator('[data-log-section="serving process"]')).to_be_visible()
    expect(view.locator('[data-log-section="version 1"]')).to_contain_text("ready on")
    view.get_by_role("button", name="Refresh").click()
    expect(view).to_contain_text("fetched at")
    screenshot(page, "deploy-logs")

    # a broken new version fails with the reason, and version 1 keeps serving
    task = deploy_from_form(panel, "models/broken", "ui-churn")
    expect(task).to_have_attribute("data-state", "failed", timeout=DEPLOY_TIMEOUT)
    expect(task.locator(".jp-mlops-deploy-task-error")).to_contain_text(
        "version 1 keeps serving")
    expect(card.locator('[data-field="rollout"]')).to_contain_text(
        "version 2 did not become healthy", timeout=30_000)
    expect(card.locator('[data-field="model"]')).to_contain_text("(version 1)")
    assert_close(invocations(deployed.url, ROWS), models.expected(models.v1))
    task.scroll_into_view_if_needed()
    screenshot(page, "deploy-broken-version", page.locator("#mlops-sidebar"))

    # a second model version rolls out under the same name and takes the traffic
    task = deploy_from_form(panel, "models:/ui-model/2", "ui-churn")
    expect(task).to_have_attribute("data-state", "done", timeout=DEPLOY_TIMEOUT)
    expect(card.locator('[data-field="model"]')).to_contain_text("ui-model v2")
    expect(card.locator('[data-field="model"]')).to_contain_text("(version 3)")
    expect(card.locator('[data-field="rollout"]')).to_have_count(0)
    assert_close(invocations(deployed.url, ROWS), models.expected(models.v2))
    assert_close(try_it(card), models.expected(models.v2))

    # roll back: version 1 serves again
    rollback = card.get_by_role("button", name="Rollback")
    expect(rollback).to_be_enabled(timeout=30_000)
    rollback.click()
    task = panel.locator(".jp-mlops-deploy-task").first
    expect(task).to_contain_text("Rolling back ui-churn")
    expect(task).to_have_attribute("data-state", "done", timeout=DEPLOY_TIMEOUT)
    expect(card.locator('[data-field="model"]')).to_contain_text("(version 1)")
    assert_close(invocations(deployed.url, ROWS), models.expected(models.v1))

    # a canary: the next version takes a quarter of the traffic, the card shows the split
    task = deploy_from_form(panel, "models:/ui-model/2", "ui-churn", canary=25)
    expect(task).to_have_attribute("data-state", "done", timeout=DEPLOY_TIMEOUT)
    expect(card.locator('[data-field="traffic"]')).to_have_text(
        re.compile(r"^v1 75% · v\d+ 25%$"), timeout=30_000)
    screenshot(page, "deploy-panel-canary", card)

    # undeploy asks first; cancelling keeps it serving
    live = get_deployment("ui-churn", cwd=models.root)
    pids = [live.pid, *(w["pid"] for w in live.details.get("workers", {}).values())]
    assert all(pid and process_alive(pid) for pid in pids), pids
    card.get_by_role("button", name="Undeploy").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Undeploy ui-churn?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(card).to_have_attribute("data-status", "serving")
    card.get_by_role("button", name="Undeploy").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Undeploy").click()
    expect(card).to_have_count(0, timeout=60_000)
    expect(panel.locator(".jp-mlops-deploy-empty")).to_be_visible()
    assert not any(process_alive(pid) for pid in pids if pid)
    assert refused(deployed.url)
    assert not (models.root / ".mlops" / "deployments" / "ui-churn").exists()


def test_a_model_that_does_not_exist_fails_with_one_line(page: Any, deploy_lab: Lab) -> None:
    panel = open_deploy_panel(page, deploy_lab, "deploy-missing")
    task = deploy_from_form(panel, "models:/no-such-model/1", "ui-missing")
    expect(task).to_have_attribute("data-state", "failed", timeout=DEPLOY_TIMEOUT)
    error = task.locator(".jp-mlops-deploy-task-error")
    expect(error).to_contain_text("no-such-model")
    assert "Traceback" not in error.inner_text()
    expect(panel.locator('[data-deployment="ui-missing"]')).to_have_count(0)
    task.scroll_into_view_if_needed()
    screenshot(page, "deploy-failed-and-form", page.locator("#mlops-sidebar"))
    task.get_by_role("button", name="Dismiss").click()
    expect(panel.locator(".jp-mlops-deploy-task")).to_have_count(0)


def test_the_deploy_model_command_reveals_the_panel_and_resolves_with_the_deployment(
        page: Any, deploy_lab: Lab, models: Models) -> None:
    open_workspace(page, deploy_lab, "deploy-command")
    expect(page.locator("#mlops-sidebar")).to_be_hidden()
    # what the Experiments panel's Deploy button does
    deployment = page.evaluate(
        """async () => await window.jupyterapp.commands.execute('mlops:deploy-model',
               {model: 'models:/ui-model/1', name: 'ui-command', folder: ''})""")
    assert deployment["name"] == "ui-command" and deployment["status"] == "serving"
    assert deployment["health"] == "ok" and deployment["device"] in ("cpu", "cuda:0")
    assert_close(invocations(deployment["url"], ROWS), models.expected(models.v1))
    # the sidebar came up with the Deploy panel showing how it went
    panel = page.locator("#mlops-panel-deploy")
    expect(panel).to_be_visible()
    task = panel.locator(".jp-mlops-deploy-task").first
    expect(task).to_have_attribute("data-state", "done")
    expect(task).to_contain_text("Deploying models:/ui-model/1")
    expect(panel.locator('[data-deployment="ui-command"]')).to_have_attribute(
        "data-status", "serving", timeout=30_000)
    assert page.evaluate(
        "() => window.jupyterapp.commands.label('mlops:deploy-model')") == "Deploy model"

    # a failure rejects with the server's one-line message
    message = page.evaluate(
        """async () => {
               try {
                   await window.jupyterapp.commands.execute('mlops:deploy-model',
                       {model: 'models:/no-such-model/3'});
                   return null;
               } catch (error) { return error.message; }
           }""")
    assert message and "no-such-model" in message and "\n" not in message
    expect(panel.locator(".jp-mlops-deploy-task").first).to_have_attribute(
        "data-state", "failed")

    # the panel follows the project of the document in use: another folder with its own
    # mlops.toml is another project, with no deployments of its own
    other = models.root / "other"
    other.mkdir(exist_ok=True)
    (other / "mlops.toml").write_text("[deploy]\ntarget = \"local\"\n")
    (other / "notes.txt").write_text("another project\n")
    (models.root / "notes.txt").write_text("this project\n")
    open_document(page, "other/notes.txt")
    expect(panel.locator(".jp-mlops-deploy-empty")).to_be_visible(timeout=30_000)
    expect(panel.locator('[data-deployment="ui-command"]')).to_have_count(0)
    open_document(page, "notes.txt")
    expect(panel.locator('[data-deployment="ui-command"]')).to_be_visible(timeout=30_000)

    # without a model (a menu or the palette) the command asks for one; cancel deploys nothing
    page.evaluate("""() => {
        window.mlopsAsked = window.jupyterapp.commands.execute('mlops:deploy-model', {});
    }""")
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Model URI")
    dialog.get_by_role("button", name="Cancel").click()
    assert page.evaluate("async () => await window.mlopsAsked") is None
    from jupyter_mlops.deploy import deployments

    assert [d.name for d in deployments(check=False, cwd=models.root)] == ["ui-command"]
    assert not (other / ".mlops" / "deployments").exists()


def test_a_kserve_dry_run_shows_the_yaml_and_applies_nothing(
        page: Any, deploy_lab: Lab, models: Models) -> None:
    from jupyter_mlops.deploy import deployments

    panel = open_deploy_panel(page, deploy_lab, "deploy-dry-run")
    form = panel.locator(".jp-mlops-deploy-form")
    expect(form.locator('input[name="dry_run"]')).to_have_count(0)  # local: no dry run
    # no kubeconfig on this machine: KServe can still be chosen, for a dry run only
    form.locator('select[name="target"]').select_option("kserve")
    dry_run = form.locator('input[name="dry_run"]')
    expect(dry_run).to_be_checked()
    expect(dry_run).to_be_disabled()
    expect(form).to_contain_text("no cluster here")
    form.locator('input[name="model"]').fill("models:/ui-model/1")
    form.locator('input[name="name"]').fill("ui-dry")
    form.get_by_role("button", name="Dry run").click()

    task = panel.locator(".jp-mlops-deploy-task").first
    expect(task).to_contain_text("Dry run of models:/ui-model/1")
    expect(task).to_have_attribute("data-state", "done", timeout=60_000)
    yaml_box = task.locator("textarea.jp-mlops-deploy-yaml")
    expect(yaml_box).to_have_attribute("readonly", "")
    shown = yaml_box.input_value()
    assert "kind: InferenceService" in shown and "name: ui-dry" in shown, shown
    assert "storageUri:" in shown
    expect(task).to_contain_text("nothing was applied")
    # the tracking store is this machine's: the YAML says what a cluster could not read
    expect(task.locator(".jp-mlops-deploy-note")).to_contain_text("local to this machine")
    written = models.root / ".mlops" / "deployments" / "manifests" / "ui-dry.yaml"
    assert written.read_text() == shown
    # copyable: the button puts the YAML on the clipboard
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    task.get_by_role("button", name="Copy the YAML").click()
    expect(task.locator(".jp-mlops-deploy-copy")).to_contain_text("Copied")
    assert page.evaluate("async () => await navigator.clipboard.readText()") == shown
    task.scroll_into_view_if_needed()
    screenshot(page, "deploy-kserve-dry-run", page.locator("#mlops-sidebar"))
    # nothing was deployed
    expect(panel.locator('[data-deployment="ui-dry"]')).to_have_count(0)
    assert [d.name for d in deployments(check=False, cwd=models.root)] == []


def test_deploys_started_elsewhere_show_while_they_run(
        page: Any, browser: Any, deploy_lab: Lab, models: Models) -> None:
    """A deploy another client started (here over REST) shows in a panel that was open, and
    in one loaded while it runs, and both follow it to the end."""
    models.gate.unlink(missing_ok=True)
    panel = open_deploy_panel(page, deploy_lab, "deploy-elsewhere")
    task = start_deploy_over_rest(deploy_lab, {"model": "models/gated", "name": "ui-gated"})
    try:
        card = panel.locator(f'.jp-mlops-deploy-task[data-task-id="{task["id"]}"]')
        expect(card).to_have_attribute("data-state", "running", timeout=30_000)
        expect(card).to_have_attribute("data-origin", "elsewhere")
        expect(card).to_contain_text(f"Deploying {task['label']}")
        expect(card.locator(".jp-mlops-deploy-tag")).to_have_text("elsewhere")
        # another browser, loaded while the deploy runs, shows it at once
        other_context = browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            other = other_context.new_page()
            other_panel = open_deploy_panel(other, deploy_lab, "deploy-elsewhere-2")
            other_card = other_panel.locator(
                f'.jp-mlops-deploy-task[data-task-id="{task["id"]}"]')
            expect(other_card).to_have_attribute("data-state", "running")
            other_card.scroll_into_view_if_needed()
            screenshot(other, "deploy-started-elsewhere", other.locator("#mlops-sidebar"))
            models.gate.touch()  # the model loads: the deploy ends
            expect(other_card).to_have_attribute("data-state", "done", timeout=DEPLOY_TIMEOUT)
            expect(other_panel.locator('[data-deployment="ui-gated"]')).to_have_attribute(
                "data-status", "serving", timeout=30_000)
        finally:
            other_context.close()
        expect(card).to_have_attribute("data-state", "done", timeout=DEPLOY_TIMEOUT)
        expect(panel.locator('[data-deployment="ui-gated"]')).to_have_attribute(
            "data-status", "serving", timeout=30_000)
    finally:
        models.gate.touch()


def put_settings(lab: Lab, settings: dict[str, Any]) -> None:
    """The user's settings of this extension, as the Settings editor saves them."""
    body = json.dumps({"raw": json.dumps(settings)}).encode()
    request = urllib.request.Request(
        f"{lab.url}lab/api/settings/jupyter-mlops:plugin", data=body, method="PUT",
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30):
        pass


def test_the_list_refreshes_at_the_interval_setting_and_on_the_refresh_button(
        page: Any, deploy_lab: Lab) -> None:
    """The page's clock is Playwright's: time jumps ahead without waiting for it."""
    lists: list[str] = []

    def is_list(request: Any) -> bool:
        return bool(request.method == "GET" and
                    urlparse(request.url).path.endswith("/mlops/api/deployments"))

    page.on("request", lambda request: lists.append(request.url) if is_list(request) else None)
    put_settings(deploy_lab, {"refreshInterval": 7})
    try:
        page.clock.install()
        open_deploy_panel(page, deploy_lab, "deploy-interval")
        # 7 s on: the list is fetched again
        with page.expect_request(is_list):
            page.clock.fast_forward("00:08")

        # 0: never by itself, however long the panel stays open; the refresh button fetches
        put_settings(deploy_lab, {"refreshInterval": 0})
        page.reload()
        panel = show_panel(page, "deploy")
        expect(panel.locator(".jp-mlops-deploy-targets")).to_be_visible(timeout=30_000)
        before = len(lists)
        page.clock.fast_forward("10:00")
        with page.expect_request(is_list) as refreshed:
            page.locator('[data-command="mlops:refresh-status"]').first.click()
        assert lists[before:] == [refreshed.value.url]
    finally:
        put_settings(deploy_lab, {"refreshInterval": 5})
