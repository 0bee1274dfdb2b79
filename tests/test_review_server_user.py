"""The author of what is written through the REST API is the Jupyter server's user (here a
server whose identity provider names its users, as JupyterHub's does), not git's."""

from __future__ import annotations

import json
from inspect import isawaitable
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth.identity import IdentityProvider, User

from .review_fixtures import base_cells, notebook, run_git, write


class TeamIdentity(IdentityProvider):
    """The token still decides who gets in; a valid one is Grace."""

    async def get_user(self, handler: Any) -> User | None:
        user = super().get_user(handler)
        if isawaitable(user):
            user = await user
        if user is None:
            return None
        return User(username="grace", name="Grace Hopper", display_name="Grace Hopper")


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False,
                          "identity_provider_class":
                              "tests.test_review_server_user.TeamIdentity"}}


async def test_comments_and_verdicts_carry_the_servers_user(jp_fetch: Any,
                                                            jp_root_dir: Path) -> None:
    run_git(jp_root_dir, "init", "-q")
    run_git(jp_root_dir, "config", "user.name", "Ada")
    write(jp_root_dir / "train.ipynb", notebook(base_cells()))
    run_git(jp_root_dir, "add", ".")
    run_git(jp_root_dir, "commit", "-q", "-m", "base")

    response = await jp_fetch("mlops", "api", "review", "comments", method="POST",
                              body=json.dumps({"path": "train.ipynb", "cell_id": "params",
                                               "text": "looks fine"}))
    thread = json.loads(response.body.decode())["thread"]
    assert thread["comments"][0]["author"] == "Grace Hopper"
    response = await jp_fetch("mlops", "api", "review", "approve", method="POST",
                              body=json.dumps({"path": "train.ipynb"}))
    review = json.loads(response.body.decode())["review"]
    assert review["me"] == "Grace Hopper"
    assert [(r["user"], r["state"]) for r in review["reviewers"]] == [
        ("Grace Hopper", "approved")]
