"""Frames between the serving front and a model worker, over the worker's stdin/stdout.

A frame is ``>II`` (header length, body length), a JSON header, then the body bytes: the
request bodies of a batch one after another, or the response bodies of its results. While it
starts, the worker announces its phases: frames whose header has an ``event``.
"""

from __future__ import annotations

import asyncio
import struct
from typing import IO, Any, Literal

from .protocol import dumps, loads

WorkerEvent = Literal["loading", "warming", "failed", "ready"]
"""A starting worker's announcements; ``ready`` carries the warm-up payload as its body."""
_PREFIX = struct.Struct(">II")
MAX_FRAME = 1 << 31


def encode(header: dict[str, Any], body: bytes = b"") -> bytes:
    head = dumps(header)
    return _PREFIX.pack(len(head), len(body)) + head + body


async def read_frame(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes]:
    """The next frame; raises asyncio.IncompleteReadError at end of stream."""
    prefix = await reader.readexactly(_PREFIX.size)
    head_len, body_len = _PREFIX.unpack(prefix)
    head = await reader.readexactly(head_len)
    body = await reader.readexactly(body_len) if body_len else b""
    return loads(head), body


def read_frame_sync(stream: IO[bytes]) -> tuple[dict[str, Any], bytes] | None:
    """The next frame from a blocking stream; None at end of stream."""
    prefix = _read_exactly(stream, _PREFIX.size)
    if prefix is None:
        return None
    head_len, body_len = _PREFIX.unpack(prefix)
    head = _read_exactly(stream, head_len)
    body = _read_exactly(stream, body_len) if body_len else b""
    if head is None or body is None:
        return None
    return loads(head), body


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks = []
    left = size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
