"""How the REST tests call ``/mlops/api/<capability>/…`` through pytest-jupyter's ``jp_fetch``:
a JSON answer, or the one-line ``{"message"}`` of an error (never a traceback)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError


async def api_get(jp_fetch: Any, capability: str, *parts: str, **params: Any) -> Any:
    response = await jp_fetch("mlops", "api", capability, *parts, params=params)
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body.decode())


async def api_error(jp_fetch: Any, capability: str, *parts: str,
                    **params: Any) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "api", capability, *parts, params=params)
    response = caught.value.response
    assert response is not None
    body = json.loads(response.body.decode())
    assert set(body) == {"message"}, body  # no traceback for the caller's mistakes
    assert "\n" not in body["message"]
    return caught.value.code, body["message"]
