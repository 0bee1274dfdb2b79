"""Credentials go only where the user said (issue #16, item 2; and item 6's tracking URI).

A cloned repository's ``mlops.toml`` may name any tracking server. Here a real HTTP server on
loopback stands in for the attacker's: it records the ``Authorization`` header of every
request it gets and answers like a small MLflow server. ``status`` (the CLI, and the REST
route of a real Jupyter server with unauthenticated access off), the Experiments panel's
runs route and MLflow's own client built by the tracking capability must send it NO token
nor password while only a project file names it; with the URI in the environment, or in the
user config's ``tracking.trusted`` list, the token is sent (the controls). The config search
stops at the server root and the git root, and a credential inside a tracking URI is masked
in everything shown.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlops.config import load_config, redact
from jupyter_mlops.errors import ConfigError
from jupyter_mlops.status import collect_status

from .attacker_fixtures import AttackerServer

TOKEN = "tok-SECRET-4711"
PASSWORD = "pw-SECRET-0815"


@pytest.fixture
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user-level config file (outside every project), empty until a test writes it;
    MLOPS_USER_CONFIG points at it so the developer's own ~/.config is never read."""
    path = tmp_path / "user-config" / "mlops" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text("")
    monkeypatch.setenv("MLOPS_USER_CONFIG", str(path))
    return path


def _hostile_project(folder: Path, url: str) -> None:
    (folder / "mlops.toml").write_text(f'[tracking]\nuri = "{url}"\n')


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --------------------------------------------------------------------------- status, CLI


def test_cli_status_sends_no_token_to_a_uri_the_project_names(
        project: Path, attacker: AttackerServer, user_config: Path,
        cli: Callable[..., Any]) -> None:
    _hostile_project(project, attacker.url)
    done = cli("status", cwd=project, env={"MLFLOW_TRACKING_TOKEN": TOKEN,
                                           "MLOPS_USER_CONFIG": str(user_config)})

    assert attacker.seen, "the status check did not reach the server at all"
    assert attacker.authorizations() == []
    assert TOKEN not in done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if "not sent" in x)
    assert "MLFLOW_TRACKING_TOKEN" in line and "mlops.toml" in line
    assert "trusted" in line and str(user_config) in line  # how to allow it


def test_cli_status_sends_no_password_to_a_uri_the_project_names(
        project: Path, attacker: AttackerServer, user_config: Path,
        cli: Callable[..., Any]) -> None:
    _hostile_project(project, attacker.url)
    cli("status", cwd=project, env={"MLFLOW_TRACKING_USERNAME": "alice",
                                    "MLFLOW_TRACKING_PASSWORD": PASSWORD,
                                    "MLOPS_USER_CONFIG": str(user_config)})

    assert attacker.seen
    assert attacker.authorizations() == []


def test_cli_status_sends_the_token_to_a_uri_from_the_environment(
        project: Path, attacker: AttackerServer, user_config: Path,
        cli: Callable[..., Any]) -> None:
    """The control: the user's own server gets the user's token."""
    done = cli("status", cwd=project, env={"MLFLOW_TRACKING_URI": attacker.url,
                                           "MLFLOW_TRACKING_TOKEN": TOKEN,
                                           "MLOPS_USER_CONFIG": str(user_config)})

    assert attacker.authorizations() == [f"Bearer {TOKEN}"]
    assert "not sent" not in done.stdout


def test_cli_status_sends_the_token_to_a_project_uri_the_user_config_trusts(
        project: Path, attacker: AttackerServer, user_config: Path,
        cli: Callable[..., Any]) -> None:
    _hostile_project(project, attacker.url + "/")
    user_config.write_text(f'[tracking]\ntrusted = ["{attacker.url}"]\n')
    done = cli("status", cwd=project, env={"MLFLOW_TRACKING_USERNAME": "alice",
                                           "MLFLOW_TRACKING_PASSWORD": PASSWORD,
                                           "MLOPS_USER_CONFIG": str(user_config)})

    assert attacker.authorizations() == [_basic("alice", PASSWORD)]
    assert "not sent" not in done.stdout


def test_a_tracking_uri_in_the_user_config_is_trusted(
        project: Path, attacker: AttackerServer, user_config: Path) -> None:
    user_config.write_text(f'[tracking]\nuri = "{attacker.url}"\n')
    config = load_config(project, {"MLOPS_USER_CONFIG": str(user_config)})
    assert config["tracking.uri"] == attacker.url
    assert config.source("tracking.uri").startswith(f"user:{user_config}:")

    collect_status(project, {"MLOPS_USER_CONFIG": str(user_config),
                             "MLFLOW_TRACKING_TOKEN": TOKEN}, timeout=5)
    assert attacker.authorizations() == [f"Bearer {TOKEN}"]


def test_a_project_cannot_trust_its_own_tracking_server(
        project: Path, attacker: AttackerServer, user_config: Path) -> None:
    (project / "mlops.toml").write_text(
        f'[tracking]\nuri = "{attacker.url}"\ntrusted = ["{attacker.url}"]\n')
    with pytest.raises(ConfigError) as caught:
        load_config(project, {"MLOPS_USER_CONFIG": str(user_config)})
    message = str(caught.value)
    assert "mlops.toml:3" in message and "tracking.trusted" in message
    assert str(user_config) in message and "\n" not in message

    report = collect_status(project, {"MLOPS_USER_CONFIG": str(user_config),
                                      "MLFLOW_TRACKING_TOKEN": TOKEN}, timeout=5)
    assert report.config_error is not None
    assert attacker.authorizations() == []


# --------------------------------------------------------------------------- MLflow's client


def test_mlflow_client_of_a_project_named_uri_sends_no_credentials(
        project: Path, attacker: AttackerServer, user_config: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow reads MLFLOW_TRACKING_TOKEN from the environment itself: the client the
    tracking capability builds (the panels', the kernel's) must not hand it over, nor must
    the background sender's own HTTP session."""
    from jupyter_mlops.tracking.store import client
    from jupyter_mlops.tracking.transport import make_transport

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", TOKEN)
    _hostile_project(project, attacker.url)
    config = load_config(project)
    mlflow_client = client(config)
    assert mlflow_client.get_experiment_by_name("anything") is None
    make_transport(mlflow_client, attacker.url).find_run(["7"], "abc")

    assert len(attacker.seen) >= 2
    assert attacker.authorizations() == []


def test_mlflow_client_of_a_trusted_uri_sends_the_token(
        project: Path, attacker: AttackerServer, user_config: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_mlops.tracking.store import client

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", TOKEN)
    user_config.write_text(f'[tracking]\ntrusted = ["{attacker.url}/"]\n')
    _hostile_project(project, attacker.url)
    assert client(load_config(project)).get_experiment_by_name("anything") is None

    assert attacker.authorizations() == [f"Bearer {TOKEN}"]


# --------------------------------------------------------------------------- config search


def test_config_search_stops_at_the_git_root(tmp_path: Path, attacker: AttackerServer) -> None:
    _hostile_project(tmp_path, attacker.url)  # above the clone
    clone = tmp_path / "clone"
    (clone / ".git").mkdir(parents=True)
    (clone / "notebooks").mkdir()

    config = load_config(clone / "notebooks", {})
    assert config.config_file is None
    assert config.project_root == clone
    assert config["tracking.uri"].startswith("sqlite:///")


def test_config_search_stops_at_the_given_root(tmp_path: Path,
                                               attacker: AttackerServer) -> None:
    _hostile_project(tmp_path, attacker.url)
    root = tmp_path / "served"
    (root / "sub").mkdir(parents=True)

    assert load_config(root / "sub", {"MLOPS_SERVER_ROOT": str(root)}).config_file is None
    # a file inside the root is still found, and outside it the search is unchanged
    _hostile_project(root, attacker.url)
    assert load_config(root / "sub", {"MLOPS_SERVER_ROOT": str(root)}).config_file == \
        root / "mlops.toml"
    assert load_config(tmp_path, {"MLOPS_SERVER_ROOT": str(root)}).config_file == \
        tmp_path / "mlops.toml"


# --------------------------------------------------------------------------- masking

MASKED_FORMS = [
    "http://{secret}@127.0.0.1:{port}/",
    "http://127.0.0.1:{port}/?token={secret}",
    "http://127.0.0.1:{port}/mlflow?x=1&access_token={secret}",
    "http://alice:{secret}@127.0.0.1:{port}",
]


@pytest.mark.parametrize("form", MASKED_FORMS)
def test_redact_masks_every_form_of_credential_in_a_uri(form: str) -> None:
    uri = form.format(secret="S3CR3T", port=5000)
    shown = str(redact(uri))
    assert "S3CR3T" not in shown
    assert "127.0.0.1:5000" in shown
    assert str(redact(f"tracking server {uri} is unreachable")).count("S3CR3T") == 0
    assert redact("/home/me/x@y/.mlops") == "/home/me/x@y/.mlops"  # paths are left alone


@pytest.mark.parametrize("form", MASKED_FORMS)
def test_a_run_link_shown_in_a_notebook_carries_no_credential(form: str) -> None:
    """The link under a tracked cell ends up in the saved (and committed) notebook."""
    from jupyter_mlops.tracking.lifecycle import RunSummary
    from jupyter_mlops.tracking.queued import FlushResult

    summary = RunSummary("abc123", None, "e", "FINISHED", 1.0, 0,
                         FlushResult(True, 0, False, None),
                         form.format(secret="S3CR3T", port=5000), "7")
    assert summary.url is not None and "127.0.0.1:5000/" in summary.url
    assert summary.url.endswith("/#/experiments/7/runs/abc123")
    assert "S3CR3T" not in summary._repr_html_() + repr(summary)


@pytest.mark.parametrize("form", MASKED_FORMS)
def test_cli_status_never_shows_a_credential_in_the_uri(
        project: Path, form: str, free_port: int, user_config: Path,
        cli: Callable[..., Any]) -> None:
    uri = form.format(secret="S3CR3T", port=free_port)
    for env in ({"MLOPS_TRACKING_URI": uri}, {}):
        if not env:
            _hostile_project(project, uri)
        env["MLOPS_USER_CONFIG"] = str(user_config)
        text = cli("status", cwd=project, env=env)
        as_json = cli("status", "--json", cwd=project, env=env)
        shown = text.stdout + text.stderr + as_json.stdout + as_json.stderr
        assert "S3CR3T" not in shown, shown
        assert f"127.0.0.1:{free_port}" in text.stdout


# --------------------------------------------------------------------------- a real Jupyter server


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


@pytest.fixture
def server_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The Jupyter server's environment: a token, and an empty user config."""
    user = tmp_path / "user.toml"
    user.write_text("")
    monkeypatch.setenv("MLOPS_USER_CONFIG", str(user))
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", TOKEN)


async def _get(jp_fetch: Any, *parts: str, **params: str) -> Any:
    response = await jp_fetch("mlops", "api", *parts, params=params)
    assert response.code == 200
    return json.loads(response.body.decode())


async def _error(jp_fetch: Any, *parts: str, **params: str) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "api", *parts, params=params)
    response = caught.value.response
    assert response is not None
    body = json.loads(response.body.decode())
    assert set(body) == {"message"}, body
    assert "\n" not in body["message"]
    return caught.value.code, body["message"]


async def test_rest_status_sends_no_token_to_a_uri_the_project_names(
        server_env: None, jp_fetch: Any, jp_root_dir: Path, attacker: AttackerServer) -> None:
    (jp_root_dir / "cloned").mkdir()
    _hostile_project(jp_root_dir / "cloned", attacker.url)
    body = await _get(jp_fetch, "status", path="cloned")

    assert attacker.seen
    assert attacker.authorizations() == []
    store = body["capabilities"][1]["checks"][0]
    assert store["name"] == "tracking store"
    assert "MLFLOW_TRACKING_TOKEN not sent" in store["message"]
    assert TOKEN not in json.dumps(body)


async def test_rest_runs_send_no_token_to_a_uri_the_project_names(
        server_env: None, jp_fetch: Any, jp_root_dir: Path, attacker: AttackerServer) -> None:
    """The Experiments panel lists the runs of the open notebook's project: MLflow's client
    in the server must not carry the server's token there either."""
    (jp_root_dir / "cloned").mkdir()
    _hostile_project(jp_root_dir / "cloned", attacker.url)
    body = await _get(jp_fetch, "runs", path="cloned")

    assert body["runs"] == []
    assert any("/api/2.0/mlflow/" in path for _m, path, _a in attacker.seen)
    assert attacker.authorizations() == []


async def test_rest_status_ignores_a_hostile_mlops_toml_above_the_server_root(
        server_env: None, jp_fetch: Any, jp_root_dir: Path, attacker: AttackerServer) -> None:
    _hostile_project(jp_root_dir.parent, attacker.url)
    (jp_root_dir / "notebooks").mkdir()
    body = await _get(jp_fetch, "status", path="notebooks")

    assert body["config"]["config_file"] is None
    values = {v["key"]: v for v in body["config"]["values"]}
    assert values["tracking.uri"]["value"].startswith("sqlite:///")
    assert attacker.seen == []


@pytest.mark.parametrize("form", MASKED_FORMS)
async def test_rest_replies_never_show_a_credential_in_the_uri(
        server_env: None, jp_fetch: Any, jp_root_dir: Path, free_port: int,
        form: str) -> None:
    _hostile_project(jp_root_dir, form.format(secret="S3CR3T", port=free_port))
    body = await _get(jp_fetch, "status")
    code, message = await _error(jp_fetch, "runs", experiment="x")

    assert "S3CR3T" not in json.dumps(body) + message
    assert code == 503 and f"127.0.0.1:{free_port}" in message


async def test_rest_a_tracking_uri_with_a_port_that_is_not_a_number_is_a_400(
        server_env: None, jp_fetch: Any, jp_root_dir: Path) -> None:
    (jp_root_dir / "mlops.toml").write_text('[tracking]\nuri = "http://127.0.0.1:fivek/"\n')
    code, message = await _error(jp_fetch, "runs", experiment="x")
    assert code == 400
    assert "mlops.toml:2" in message and "port" in message

    body = await _get(jp_fetch, "status")
    assert "port" in body["config_error"] and "\n" not in body["config_error"]


def test_cli_a_tracking_uri_with_a_port_that_is_not_a_number_is_one_line(
        project: Path, user_config: Path, cli: Callable[..., Any]) -> None:
    done = cli("status", cwd=project, env={"MLOPS_TRACKING_URI": "https://mlflow.example:x8/",
                                           "MLOPS_USER_CONFIG": str(user_config)})
    assert done.returncode != 0 and "Traceback" not in done.stderr
    lines = [x for x in (done.stdout + done.stderr).splitlines() if "port" in x]
    assert len(lines) == 1, done
    assert "MLOPS_TRACKING_URI" in lines[0] and "'tracking.uri'" in lines[0]
