"""Caller mistakes and hostile input through a real Jupyter server (pytest-jupyter, auth on):
each is a 4xx of one line, never a 500 with a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


async def _refused(jp_fetch: Any, *parts: str, method: str = "GET", body: bytes | None = None,
                   **params: str) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "api", *parts, method=method, body=body, params=params)
    response = caught.value.response
    assert response is not None
    reply = json.loads(response.body.decode())
    assert set(reply) == {"message"}, reply  # no traceback
    assert "\n" not in reply["message"]
    return caught.value.code, reply["message"]


#: A POST route of every capability whose handler reads a JSON body.
POSTS = [("runs", "abc123", "register"), ("pipeline", "runs"), ("pipeline", "export"),
         ("deployments",), ("review", "comments")]


@pytest.mark.parametrize("route", POSTS, ids="/".join)
@pytest.mark.parametrize("depth", [100_000, 200])
async def test_deeply_nested_json_is_a_400(jp_fetch: Any, route: tuple[str, ...],
                                           depth: int) -> None:
    """100,000 levels overflow the parser (RecursionError); 200 parse but are still refused,
    so no later step (a copy, a reply) can overflow on them."""
    body = ("[" * depth + "]" * depth).encode()
    code, message = await _refused(jp_fetch, *route, method="POST", body=body)
    assert code == 400
    assert "nested too deeply" in message


async def test_a_body_that_is_not_json_is_a_400(jp_fetch: Any) -> None:
    code, message = await _refused(jp_fetch, "runs", "abc123", "register", method="POST",
                                   body=b"\xff{")
    assert code == 400 and "not JSON" in message


@pytest.mark.parametrize(("body", "expected"), [
    ({"alias": 5}, "'alias' must be a string or null, not 5"),
    ({"model": ["a"]}, "'model' must be a string or null, not a list"),
    ({"aliases": "x"}, "unknown field: aliases"),
    ([1, 2], "must be a JSON object, not a list"),
])
async def test_a_register_body_of_the_wrong_type_names_the_field(
        jp_fetch: Any, body: Any, expected: str) -> None:
    code, message = await _refused(jp_fetch, "runs", "abc123", "register", method="POST",
                                   body=json.dumps(body).encode())
    assert code == 400
    assert expected in message


async def test_a_nul_byte_in_a_notebook_path_is_a_400(jp_fetch: Any, jp_root_dir: Path
                                                     ) -> None:
    (jp_root_dir / "a.ipynb").write_text("{}")
    for route, extra in ((("pipeline", "runs"), {}),
                         (("pipeline", "export"), {"target": "airflow", "out_dir": "out"})):
        body = {"path": "a\0.ipynb", **extra}
        code, message = await _refused(jp_fetch, *route, method="POST",
                                       body=json.dumps(body).encode())
        assert code == 400, (route, message)
        assert "NUL" in message


async def test_a_nul_byte_in_a_route_name_is_a_4xx(jp_fetch: Any) -> None:
    code, _ = await _refused(jp_fetch, "features", "views", "a%00b")
    assert 400 <= code < 500
    code, _ = await _refused(jp_fetch, "features", "views", "a%00b", "stats")
    assert 400 <= code < 500


async def test_a_planted_run_record_or_log_link_shows_no_file_outside_the_run(
        jp_fetch: Any, jp_root_dir: Path, tmp_path: Path) -> None:
    """A repository can commit .mlops/: a run.json naming ~/.aws/credentials as a step's log,
    or a step log that links there, shows nothing of it in the Pipeline panel."""
    from jupyter_mlops.pipeline import from_notebook

    from .pipeline_notebooks import CHAIN, write_notebook

    secret = tmp_path / "credentials"
    secret.write_text("aws_secret_access_key = SECRET\n")
    nb = write_notebook(jp_root_dir / "chain.ipynb", CHAIN)
    run = from_notebook(nb).run()
    folder = Path(run.folder)
    record = json.loads((folder / "run.json").read_text())
    record["steps"][0]["log"] = str(secret)
    record["state"] = "failed"  # the runner.log tail is shown for such a record
    (folder / "run.json").write_text(json.dumps(record))
    (folder / "logs" / "clean.log").unlink()
    (folder / "logs" / "clean.log").symlink_to(secret)
    (folder / "runner.log").symlink_to(secret)

    status = await jp_fetch("mlops", "api", "pipeline", "runs", run.run_id,
                            params={"path": "chain.ipynb"})
    assert b"SECRET" not in status.body
    for step in ("load", "clean"):
        log = await jp_fetch("mlops", "api", "pipeline", "runs", run.run_id, "logs", step,
                             params={"path": "chain.ipynb"})
        assert b"SECRET" not in log.body
    honest = await jp_fetch("mlops", "api", "pipeline", "runs", run.run_id, "logs", "load",
                            params={"path": "chain.ipynb"})
    assert "loaded" in json.loads(honest.body)["text"]
