"""Fixtures of the experiment-tracking tests: a real ``mlflow server`` on loopback (SQLite
backend) that can be killed and restarted on the same port and store, an S3 emulator (moto's
server) on loopback, and a reset of the tracking state between tests.

``tests/conftest.py`` imports the fixtures, so each session starts one server for all tests.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

CONFIG_PREFIXES = ("MLOPS_", "MLFLOW_", "AWS_")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MlflowServer:
    """``mlflow server`` with a SQLite store in ``folder``, proxying artifacts to
    ``folder/artifacts``; ``kill()`` and ``start()`` again keep the port and the store."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = folder / "mlflow.db"
        self.log = folder / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> MlflowServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_PREFIXES)}
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mlflow", "server",
                 "--backend-store-uri", f"sqlite:///{self.db}",
                 "--artifacts-destination", str(self.folder / "artifacts"),
                 "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, "mlflow server exited:\n" + self.tail()
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not start:\n" + self.tail()
            time.sleep(0.25)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL, as a crash: no graceful shutdown of requests in flight."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        if self.process is None:
            return
        for current in (sig, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, current)
            except ProcessLookupError:
                break
            try:
                self.process.wait(10)
                break
            except subprocess.TimeoutExpired:
                continue
        self.process = None
        # the port is free again once nothing answers on it
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.1)


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real ``mlflow server`` on loopback for the session; yields its URL."""
    server = MlflowServer(tmp_path_factory.mktemp("tracking-server")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _restartable_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path_factory.mktemp("restartable-server")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def restartable_server(_restartable_server: MlflowServer) -> MlflowServer:
    """A second server, which a test may stop, kill and start again (on the same port and
    store); it is running when the test begins."""
    if not _restartable_server.running:
        _restartable_server.start()
    return _restartable_server


@pytest.fixture(scope="session")
def s3_emulator() -> Iterator[dict[str, str]]:
    """moto's S3 *emulator* (not AWS) on loopback with a bucket ``mlops-test``; yields the
    environment a client needs to reach it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    import boto3

    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing",
                 ).create_bucket(Bucket="mlops-test")
    try:
        yield env
    finally:
        server.stop()


@pytest.fixture
def tracking_reset() -> Iterator[None]:
    """No run, queue state or MLflow global leaks from one test into the next."""
    yield
    from jupyter_mlops.tracking import lifecycle, verbs
    from jupyter_mlops.tracking.sender import SENDER

    while lifecycle._stack:
        lifecycle.end(lifecycle._stack[-1], "KILLED", timeout=5)
    SENDER.reset()
    verbs._cell_runs.clear()
    verbs._spanning.clear()
    lifecycle._warned.clear()
    if "mlflow" in sys.modules:
        import mlflow

        for _ in range(10):
            current = mlflow.active_run()
            if current is None:
                break
            lifecycle._detach_fluent_id(current.info.run_id)
        # MLflow's tracking URI is left at the test's store: reset to None, MLflow (its
        # telemetry, at exit) would resolve the default and create ./mlflow.db here


class LosingProxy:
    """An HTTP proxy in front of a tracking server that forwards every request, counts the
    metric points of the ``log-batch`` requests it forwarded, and for the first ``lose``
    of them drops the connection after the server applied the batch, without answering:
    the client cannot know whether its batch arrived. With ``hold``, the first ``log-batch``
    is held until the test sets that event: a sender stuck in a slow request."""

    def __init__(self, upstream: str, lose: int = 1,
                 hold: threading.Event | None = None) -> None:
        self.upstream = upstream
        self.lose = lose
        self.hold = hold  # the first log-batch waits for this event before it is forwarded
        self.held = threading.Event()
        self.forwarded_points = 0
        self.lost = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy.hold is not None and self.path.endswith("/runs/log-batch") and \
                        not proxy.held.is_set():
                    proxy.held.set()
                    proxy.hold.wait(60)
                host = proxy.upstream.split("//", 1)[1]
                conn = HTTPConnection(host, timeout=30)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                conn.close()
                if self.path.startswith("/api/2.0/mlflow/runs/log-batch") and body:
                    points = len(json.loads(body).get("metrics", []))
                    with proxy.lock:
                        proxy.forwarded_points += points
                        drop = points and proxy.lost < proxy.lose
                        if drop:
                            proxy.lost += 1
                    if drop:
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
