"""A tracking server of the attacker's, on loopback: it records the ``Authorization`` header
of every request and answers like a small MLflow server (the hardening tests' stand-in for
a server a hostile repository names)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class AttackerServer(ThreadingHTTPServer):
    """A tracking server that records what it was sent: (method, path, Authorization)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Recording)
        self.seen: list[tuple[str, str, str | None]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def authorizations(self) -> list[str]:
        return [auth for _m, _p, auth in self.seen if auth]


class _Recording(BaseHTTPRequestHandler):
    server: AttackerServer

    def _answer(self) -> None:
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization")))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self._reply(200, b"OK", "text/plain")
        elif path == "/api/2.0/mlflow/runs/search":
            self._reply(200, b"{}")
        elif path == "/api/2.0/mlflow/experiments/search":
            self._reply(200, json.dumps({"experiments": [
                {"experiment_id": "7", "name": "bait", "lifecycle_stage": "active"}]}).encode())
        else:  # e.g. experiments/get-by-name: no such experiment, answered at once
            self._reply(404, json.dumps({"error_code": "RESOURCE_DOES_NOT_EXIST",
                                         "message": "not here"}).encode())

    do_GET = do_POST = _answer

    def _reply(self, code: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def attacker() -> Iterator[AttackerServer]:
    server = AttackerServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
