"""REST route of the review's image comparison (issue #15): two images of an output, before
and after, compared pixel by pixel (see ``review/images.py``).

    POST review/image-diff {mime, before, after, tolerance?, highlight?}
      -> {pixels_equal, changed_share, changed_pixels, same_size, canvas: {width, height},
          changed_box, tolerance, before: {width, height, bytes, format, animated},
          after: {…}, diff_png?}

``before`` and ``after`` are base64 as notebooks store the images (line breaks allowed);
``mime`` is image/png, image/jpeg or image/gif (the bytes decide the format: a notebook may
label a JPEG image/png). image/svg+xml is vector: the diff view rasterises both sides and
sends them as image/png. ``tolerance`` (0-255, default 0) is how much a channel may differ
before the pixel counts as changed; ``highlight`` false leaves ``diff_png`` out.
``diff_png`` (base64 PNG, only when pixels changed) is the newer image faded to grey with the
changed pixels in magenta. Bad base64, bytes that are not such an image, an image over 50
megapixels (decoded never), over 25 MiB, a body over ``MAX_BODY`` bytes: one line, 4xx.
At most ``PARALLEL`` comparisons run at once (each holds a few copies of its canvas).
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import Any

from tornado import web

from ..errors import UserInputError
from ..server.base import MLOpsHandler
from .images import MAX_BYTES, RASTER_MIMES

#: The largest request body: two images of ``MAX_BYTES`` as base64, and some room.
MAX_BODY = 2 * (MAX_BYTES * 4 // 3) + 64 * 1024
#: Comparisons running at once per server; more wait their turn (not the event loop).
PARALLEL = 2

_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary())


def _turn() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _turns:
        _turns[loop] = asyncio.Semaphore(PARALLEL)
    return _turns[loop]


@dataclass(frozen=True)
class ImageDiffBody:
    mime: str
    before: str
    after: str
    tolerance: int = 0
    highlight: bool = True

    def __post_init__(self) -> None:
        if self.mime == "image/svg+xml":
            raise UserInputError("an SVG is compared as pixels once rasterised: send both "
                                 "sides as image/png (the diff view does this in the browser)")
        if self.mime not in RASTER_MIMES:
            raise UserInputError(f"'mime' is one of {', '.join(RASTER_MIMES)}, not "
                                 f"{self.mime!r}")


def image_diff(body: ImageDiffBody) -> dict[str, Any]:
    from .images import compare_images, decode_base64

    before = decode_base64(body.before, "before")
    after = decode_base64(body.after, "after")
    return compare_images(before, after, tolerance=body.tolerance,
                          highlight=body.highlight).to_dict()


class ImageDiffHandler(MLOpsHandler):
    """POST {mime, before, after, tolerance?, highlight?}: two images compared pixel by
    pixel, in the executor."""

    @web.authenticated
    async def post(self) -> None:
        if len(self.request.body) > MAX_BODY:
            raise web.HTTPError(413, f"the request is over {MAX_BODY // 2**20} MiB: two "
                                     f"images of at most {MAX_BYTES // 2**20} MiB each")
        body = self.body(ImageDiffBody)
        async with _turn():
            data = await self.in_executor(image_diff, body)
        self.reply(data)
