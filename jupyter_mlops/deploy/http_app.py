"""The HTTP side of a serving process: MLflow's scoring protocol (``POST /invocations``,
``GET /ping``, ``/health``, ``/version``), Prometheus' ``GET /metrics`` (no token, like
``/ping``) and the admin routes under ``/-/admin/`` (bearer token from ``secret.json``) that
start versions, roll back, promote a canary, shut down and give the last hour's history.
FastAPI answers everything but ``/invocations``, which ``ScoringApp`` answers directly.

Every answer carries ``X-Request-Id``: the caller's (when it is 1-128 characters of letters,
digits and ``-_.:``), else a new uuid4 hex; the inference log and the serving log's error
lines name requests by it.

A request whose ``Host`` is not the deployment's own is refused (403) whatever its route: a
web page whose name an attacker resolves to 127.0.0.1 (DNS rebinding) sends its own name, so
it cannot call the model. With ``deploy.auth = "token"``, ``/invocations`` wants the bearer
token made at deploy (401 without it). A scoring request is admitted before its body is read:
a ``Content-Length`` over the limit is a 413 and a full queue (requests or bytes) a 503. The
answer goes out at once; then, as nginx's lingering close does, the refused body is read and
thrown away (up to ``DRAIN_BYTES`` within ``DRAIN_SECONDS``) before the response is ended: a
client that sent ``Connection: close`` (urllib does) and is still writing would otherwise find
the socket closed under it and never read the 413, only a broken pipe."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import Message, Receive, Scope, Send

from .front import Scored, ServingFront
from .metrics import CONTENT_TYPE
from .protocol import JSON, dumps, error_body
from .state import ServingSettings, VersionInfo

REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
DRAIN_BYTES = 64 * 1024 * 1024  # a refused body larger is not read: the client may see a reset
DRAIN_SECONDS = 5.0


def request_id(scope: Scope) -> bytes:
    """The caller's X-Request-Id when it is a sane one, else a new uuid4 hex."""
    for key, value in scope["headers"]:
        if key == b"x-request-id":
            if REQUEST_ID.match(value):
                return bytes(value)
            break
    return new_request_id()


def new_request_id() -> bytes:
    """A uuid4 in hex, as ``uuid.uuid4().hex`` (a fifth of its cost: no UUID object)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    return raw.hex().encode()


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_allowed(host: bytes | None, settings: ServingSettings) -> bool:
    """``Host`` names this deployment: an IP address (DNS rebinding needs a name), localhost,
    the address it listens on or a name it was deployed with, and its own port if any."""
    if host is None:  # no browser leaves it out
        return True
    text = host.decode("latin-1").strip().lower()
    if text.startswith("["):  # [::1]:8080
        name, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else rest
    else:
        name, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if port and port != str(settings.port):
        return False
    name = name.rstrip(".")
    if _is_ip(name):
        return True
    return name in ("localhost", settings.host.lower(),
                    *(n.lower() for n in settings.host_names))


async def drain(receive: Receive, length: int | None, expects_continue: bool) -> None:
    """Read and discard a refused request's body (none of it is kept), so that the client
    gets to read the answer; gives up past ``DRAIN_BYTES`` or ``DRAIN_SECONDS``. A client
    that sent ``Expect: 100-continue`` has sent no body yet and is not invited to."""
    if expects_continue or length == 0 or (length is not None and length > DRAIN_BYTES):
        return

    async def read() -> None:
        seen, more = 0, True
        while more and seen <= DRAIN_BYTES:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            seen += len(message.get("body", b""))
            more = message.get("more_body", False)

    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(read(), DRAIN_SECONDS)


async def respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]],
                  media: str = JSON, end: bool = True) -> None:
    """Send the whole answer; with ``end=False`` the response is left open (the client has
    every byte already) until an empty ``http.response.body`` ends it: uvicorn closes a
    ``Connection: close`` socket only once the response ends."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", media.encode()),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body, "more_body": not end})


def create_app(front: ServingFront) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        boot = front.deployment.get_version(front.deployment.details.get("boot_version", -1))
        if front.inference_log is not None:
            front.inference_log.start(process=True)
        history = asyncio.create_task(front.keep_history())
        watch = asyncio.create_task(front.watch_health())
        if boot is not None:
            task = asyncio.create_task(front.roll_out(boot, None))
        yield
        history.cancel()
        watch.cancel()
        if boot is not None:
            task.cancel()
        await front.shutdown()

    app = FastAPI(title=f"jupyter-mlops deployment {front.deployment.name}", docs_url=None,
                  redoc_url=None, openapi_url=None, lifespan=lifespan)

    def unavailable() -> Response:
        return Response(error_body(front.unavailable_reason(), "TEMPORARILY_UNAVAILABLE"),
                        503, media_type=JSON, headers={"Retry-After": "1"})

    async def health() -> Response:
        if front.primary_ready():
            return Response("\n", 200, media_type=JSON)
        return unavailable()

    app.get("/ping")(health)
    app.get("/health")(health)

    @app.get("/version")
    async def version() -> Response:
        return Response(front.mlflow_version or "unknown", 200, media_type=JSON)

    @app.get("/metrics")
    async def metrics() -> Response:
        if front.metrics is None:
            return Response(dumps({"message": "monitoring is off for this deployment "
                                              "(monitor.enabled = false)"}), 404,
                            media_type=JSON)
        return Response(front.metrics.exposition(), 200, media_type=CONTENT_TYPE)

    # -------------------------------------------------------------- admin
    def authorized(request: Request) -> bool:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {front.token}".encode())

    def reply(data: Any, status: int = 200) -> Response:
        return Response(dumps(data), status, media_type=JSON)

    def forbidden() -> Response:
        return reply({"message": "admin token required"}, 403)

    @app.get("/-/admin/status")
    async def admin_status(request: Request) -> Response:
        if not authorized(request):
            return forbidden()
        return reply(front.live())

    @app.get("/-/admin/history")
    async def admin_history(request: Request) -> Response:
        if not authorized(request):
            return forbidden()
        return reply(front.history_dict())

    @app.post("/-/admin/versions")
    async def admin_version(request: Request) -> Response:
        if not authorized(request):
            return forbidden()
        if front.rollout is not None and front.rollout.get("ok") is None:
            return reply({"message": f"a rollout of version {front.rollout.get('version')} "
                                     "is in progress: wait for it"}, 409)
        try:
            body = json.loads(await request.body())
            info = VersionInfo.from_dict(body["version"])
        except (ValueError, RecursionError, KeyError, TypeError) as exc:
            return reply({"message": f"not a version: {type(exc).__name__}"}, 400)
        canary = body.get("canary")
        front.rollout = {"version": info.version, "phase": "queued", "ok": None}
        front.spawn(front.roll_out(info, int(canary) if canary else None))
        return reply({"version": info.version}, 202)

    @app.post("/-/admin/rollback")
    async def admin_rollback(request: Request) -> Response:
        if not authorized(request):
            return forbidden()
        if front.rollout is not None and front.rollout.get("ok") is None:
            return reply({"message": "a rollout is in progress: wait for it"}, 409)
        if front.canary is None and len(front.deployment.history) < 2:
            return reply({"message": "there is no previous version to roll back to"}, 400)
        front.rollout = {"version": None, "phase": "queued", "ok": None, "kind": "rollback"}
        front.spawn(front.roll_back())
        return reply({"accepted": True}, 202)

    @app.post("/-/admin/promote")
    async def admin_promote(request: Request) -> Response:
        if not authorized(request):
            return forbidden()
        why = await front.promote()
        return reply({"message": why}, 400) if why else reply(front.live())

    @app.post("/-/admin/shutdown")
    async def admin_shutdown(request: Request) -> Response:
        if not authorized(request):
            return forbidden()
        asyncio.get_running_loop().call_later(0.05, front.should_exit)
        return reply({"stopping": True}, 202)

    return app


class ScoringApp:
    """The ASGI app uvicorn runs: ``POST /invocations`` is answered here directly (the hot
    path: no routing, no dependency injection), everything else by the FastAPI app."""

    def __init__(self, front: ServingFront, app: FastAPI) -> None:
        self.front = front
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        settings = self.front.settings
        host = next((value for key, value in scope["headers"] if key == b"host"), None)
        if not host_allowed(host, settings):
            await respond(send, 403, error_body(
                "this deployment answers only requests addressed to it (Host: "
                f"127.0.0.1:{settings.port} or localhost:{settings.port})",
                "PERMISSION_DENIED"), [(b"x-request-id", rid)])
            return
        if scope["path"] != "/invocations" or scope["method"] != "POST":
            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []),
                                                      (b"x-request-id", rid)]}
                await send(message)

            await self.app(scope, receive, send_with_id)
            return
        started = time.perf_counter()  # latency: the loop's clock is coarse (uvloop: 1 ms)
        began = asyncio.get_running_loop().time()  # the batcher's deadlines
        content_type, length, authorization = JSON, None, b""
        expects_continue = False
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value.decode("latin-1")
            elif key == b"content-length":
                length = int(value) if value.isdigit() else None
            elif key == b"authorization":
                authorization = value
            elif key == b"expect":
                expects_continue = value.lower() == b"100-continue"
        front = self.front
        scored = front.refuse(authorization, length)
        if scored is not None:  # refused before the body is read: answer, then drain it
            await self._answer(send, rid, scored, started, b"", content_type,
                               drain(receive, length, expects_continue))
            return
        limit = settings.max_request_bytes
        chunks: list[bytes] = []
        size, more, held = 0, True, length or 0
        try:
            try:
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = message.get("body", b"")
                    more = message.get("more_body", False)
                    size += len(chunk)
                    if size > limit:  # a chunked body grew past the limit: stop reading it
                        break
                    if length is None:
                        front.hold(len(chunk))
                        held += len(chunk)
                    chunks.append(chunk)
            finally:
                front.read_done()
            body = b"".join(chunks)
            scored = await front.score(body, size, content_type, began)
        finally:
            front.release(held)
        await self._answer(send, rid, scored, started, body, content_type)

    async def _answer(self, send: Send, rid: bytes, scored: Scored, started: float,
                      body: bytes, content_type: str,
                      linger: Awaitable[None] | None = None) -> None:
        status, answer, media, headers = scored[:4]
        await respond(send, status, answer, [(b"x-request-id", rid), *headers], media,
                      end=linger is None)
        self.front.answered(rid.decode(), scored, time.perf_counter() - started, body,
                            content_type)
        if linger is not None:
            await linger
            await send({"type": "http.response.body", "body": b""})
