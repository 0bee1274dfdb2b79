"""A big JSON reply sent in parts (issue #15: the diff of a 20 MB notebook is a 40 MB body):
each batch of parts made in the executor, not on the server's event loop, and written out
before the next, so the body is never one string, then one bytes object, then joined again."""

from __future__ import annotations

from collections.abc import Iterator

from ..server.base import MLOpsHandler

#: Bytes made (and written) per trip to the executor.
BATCH = 4 << 20


async def send_parts(handler: MLOpsHandler, parts: Iterator[bytes], status: int = 200
                     ) -> None:
    """Reply with the concatenation of ``parts`` (JSON), batch by batch."""
    handler.set_status(status)
    handler.set_header("Content-Type", "application/json")

    def batch() -> list[bytes]:
        out: list[bytes] = []
        size = 0
        for part in parts:
            out.append(part)
            size += len(part)
            if size >= BATCH:
                break
        return out

    while chunk := await handler.in_executor(batch):
        for part in chunk:
            handler.write(part)
        await handler.flush()
    await handler.finish()
