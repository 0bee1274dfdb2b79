"""Issue #16's "done when": a hostile repository opened in a real Jupyter server.

One cloned project is the server root, and everything in it was written by someone else: an
``mlops.toml`` that names the attacker's tracking server (a loopback HTTP server that records
every ``Authorization`` header), a notebook whose name closes the export's docstring and runs
code, a corrupt review event next to honest ones, and a pipeline ``run.json`` whose step log
points at a credentials file. The server holds an ``MLFLOW_TRACKING_TOKEN`` and runs with
unauthenticated access off. Every panel's routes are then asked what a user opening the
project would ask: no code runs, no credential leaves, no planted file is shown, and every
other review and panel still works.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.review.diffs import clear_cache

from .attacker_fixtures import AttackerServer
from .pipeline_notebooks import CHAIN, write_notebook
from .review_fixtures import base_cells, notebook, run_git, write
from .test_hardening_credentials import TOKEN
from .test_hardening_export import HOSTILE_NAMES
from .test_hardening_review import _reply, dumped, plant

SECRET = "aws_secret_access_key = SECRET-9876"


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


@pytest.fixture
def hostile(jp_root_dir: Path, tmp_path: Path, attacker: AttackerServer,
            monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The cloned repository (the server root) and where a payload or a leak would show."""
    user = tmp_path / "user.toml"
    user.write_text("")
    monkeypatch.setenv("MLOPS_USER_CONFIG", str(user))
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", TOKEN)
    pwned = tmp_path / "PWNED"
    monkeypatch.setenv("PWNED_AT", str(pwned))
    secret = tmp_path / "credentials"
    secret.write_text(SECRET + "\n")

    clear_cache()
    run_git(jp_root_dir, "init", "-q")
    run_git(jp_root_dir, "config", "user.name", "Mallory")
    (jp_root_dir / "mlops.toml").write_text(f'[tracking]\nuri = "{attacker.url}"\n')
    for name in ("train", "other"):
        write(jp_root_dir / "work" / f"{name}.ipynb", notebook(base_cells()))
    write_notebook(jp_root_dir / "nb" / HOSTILE_NAMES[0], CHAIN)
    write_notebook(jp_root_dir / "chain.ipynb", CHAIN)
    run_git(jp_root_dir, "add", ".")
    run_git(jp_root_dir, "commit", "-q", "-m", "a repository someone else wrote")
    return {"root": jp_root_dir, "pwned": pwned, "secret": secret}


async def _post(jp_fetch: Any, *parts: str, body: dict[str, Any]) -> Any:
    response = await jp_fetch("mlops", "api", *parts, method="POST", body=json.dumps(body))
    assert response.code in (200, 201, 202), response.body
    return json.loads(response.body.decode())


async def test_a_hostile_repository_runs_no_code_takes_no_credential_and_breaks_nothing_else(
        jp_fetch: Any, hostile: dict[str, Path], attacker: AttackerServer) -> None:
    from jupyter_mlops.pipeline import from_notebook

    root = hostile["root"]
    # honest reviews on two notebooks, then a corrupt event committed next to one of them
    threads = {}
    for name in ("train", "other"):
        threads[name] = (await _post(jp_fetch, "review", "comments", body={
            "path": f"work/{name}.ipynb", "cell_id": "params", "text": f"on {name}"}))["thread"]
    folders = {p.name.rsplit("-", 1)[0]: p for p in (root / ".mlops" / "reviews").iterdir()}
    bad = plant(folders["work_train"], "follows",
                dumped({**_reply(threads["train"]["id"]), "follows": 5}))
    # a pipeline run whose record names the credentials file as a step's log
    run = from_notebook(root / "chain.ipynb").run()
    record_file = Path(run.folder) / "run.json"
    record = json.loads(record_file.read_text())
    record["steps"][0]["log"] = str(hostile["secret"])
    record_file.write_text(json.dumps(record))

    seen: list[bytes] = []

    async def get(*parts: str, **params: str) -> Any:
        response = await jp_fetch("mlops", "api", *parts, params=params)
        assert response.code == 200, (parts, response.body)
        seen.append(response.body)
        return json.loads(response.body.decode())

    status = await get("status", path="work")
    changes = await get("review", "changes", path="work")
    other = (await get("review", path="work/other.ipynb"))["review"]
    train = (await get("review", path="work/train.ipynb"))["review"]
    shown_run = await get("pipeline", "runs", run.run_id, path="chain.ipynb")
    log = await get("pipeline", "runs", run.run_id, "logs", "load", path="chain.ipynb")
    exports = [await _post(jp_fetch, "pipeline", "export", body={
        "path": f"nb/{HOSTILE_NAMES[0]}", "target": target, "out_dir": f"out-{target}"})
        for target in ("airflow", "prefect")]
    panels = [await get("runs", path="work"), await get("features", "views", path="work"),
              await get("deployments", path="work"),
              await get("monitor", "deployments", path="work")]

    # no code ran: the payload in the notebook's name left no mark
    assert not hostile["pwned"].exists()
    assert all(e["files"] for e in exports)
    # no credential left: the attacker's server was asked, without the server's token
    assert attacker.seen, "the project's tracking server was never contacted"
    assert attacker.authorizations() == []
    assert all(TOKEN.encode() not in body for body in seen)
    store = next(c for cap in status["capabilities"] for c in cap["checks"]
                 if c["name"] == "tracking store")
    assert "MLFLOW_TRACKING_TOKEN not sent" in store["message"]
    # no planted file is shown
    assert all(b"SECRET-9876" not in body for body in seen)
    assert "loaded" in log["text"] and shown_run
    # the bad event is named once; every review still lists and opens
    relative = bad.relative_to(root).as_posix()
    assert changes["unreadable"] == [relative]
    assert {r["path"] for r in changes["reviews"]} == {"work/train.ipynb", "work/other.ipynb"}
    assert all("error" not in r for r in changes["reviews"])
    assert [t["id"] for t in other["threads"]] == [threads["other"]["id"]]
    assert [t["id"] for t in train["threads"]] == [threads["train"]["id"]]
    assert train["unreadable"] == [relative]
    # the other panels answered (the runs list of the attacker's store is empty, not an error)
    assert panels[0]["runs"] == [] and isinstance(panels[1]["views"], list)
    assert isinstance(panels[2]["deployments"], list)
    assert panels[3]["deployments"] == []
