"""Image outputs compared pixel by pixel (issue #15 item 3) on images Pillow generates: the
exact share of a changed block, re-encodings and metadata that change no pixel, images of
different sizes, JPEG, GIF, decompression bombs refused undecoded, and the REST route through
a real Jupyter server with authentication on."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import random
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from jupyter_mlops.errors import UserInputError
from jupyter_mlops.review import images
from jupyter_mlops.review.images import HIGHLIGHT, MAX_PIXELS, compare_images, decode_base64

RGB = tuple[int, int, int]


def encode(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def gradient(width: int, height: int) -> Image.Image:
    """A picture with many colours (a plain fill would hide palette and encoding bugs)."""
    image = Image.new("RGB", (width, height))
    image.putdata([((x * 7) % 256, (y * 5) % 256, (x + y) % 256)
                   for y in range(height) for x in range(width)])
    return image


def with_block(image: Image.Image, box: tuple[int, int, int, int], rgb: RGB) -> Image.Image:
    changed = image.copy()
    changed.paste(rgb, box)
    return changed


def png_claiming(width: int, height: int) -> bytes:
    """A real PNG of ``width`` x ``height`` black pixels (one bit each), compressed to almost
    nothing: the shape of a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + one bit per pixel
    rows = 256
    idat = b"".join(packer.compress(row * rows) for _ in range(height // rows))
    idat += packer.compress(row * (height % rows)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


# ----- the core -----------------------------------------------------------------------------

def test_a_changed_block_gives_its_exact_share_box_and_highlight() -> None:
    before = gradient(120, 80)
    after = with_block(before, (30, 20, 50, 30), (0, 200, 0))  # 20 x 10 pixels
    result = compare_images(encode(before), encode(after))
    assert not result.pixels_equal
    assert result.changed_pixels == 200
    assert result.changed_share == pytest.approx(200 / (120 * 80))
    assert result.changed_box == (30, 20, 50, 30)
    assert result.same_size and (result.canvas_width, result.canvas_height) == (120, 80)
    assert (result.before.width, result.before.height, result.before.format) == (120, 80, "PNG")
    assert result.before.bytes == len(encode(before))

    assert result.diff_png is not None
    highlight = Image.open(io.BytesIO(result.diff_png))
    assert highlight.format == "PNG" and highlight.size == (120, 80)
    pixels = highlight.convert("RGB")
    for y in range(80):
        for x in range(120):
            r, g, b = pixels.getpixel((x, y))  # type: ignore[misc]
            if 30 <= x < 50 and 20 <= y < 30:
                assert (r, g, b) == HIGHLIGHT
            else:  # faded grey: light, and no colour
                assert r == g == b and r >= 255 * 65 // 100 - 1, (x, y)

    data = result.to_dict()
    assert data["pixels_equal"] is False and data["changed_pixels"] == 200
    assert Image.open(io.BytesIO(base64.b64decode(data["diff_png"]))).size == (120, 80)


def test_a_tolerance_ignores_small_differences() -> None:
    before = Image.new("RGB", (10, 10), (100, 100, 100))
    after = with_block(before, (0, 0, 10, 5), (103, 100, 100))  # 3 levels apart
    after = with_block(after, (0, 9, 10, 10), (140, 100, 100))  # 40 levels apart
    assert compare_images(encode(before), encode(after)).changed_pixels == 60
    assert compare_images(encode(before), encode(after), tolerance=3).changed_pixels == 10
    with pytest.raises(UserInputError, match="'tolerance' is 0 to 255"):
        compare_images(encode(before), encode(after), tolerance=300)


def test_a_re_encoded_png_with_other_metadata_has_equal_pixels() -> None:
    image = gradient(64, 48).quantize(200).convert("RGB")  # few enough colours for a palette
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "matplotlib version 3.9, https://matplotlib.org/")
    info.add_text("Comment", "re-rendered on another machine")
    variants = [
        encode(image, compress_level=0),
        encode(image, pnginfo=info, optimize=True),
        encode(image.quantize(256), pnginfo=info),       # palette instead of true colour
        encode(image.convert("RGBA")),                   # an opaque alpha channel
        encode(image, dpi=(300, 300)),
    ]
    plain = encode(image)
    assert len({plain, *variants}) == len(variants) + 1  # every file's bytes differ
    for other in variants:
        result = compare_images(plain, other)
        assert result.pixels_equal, result.to_dict()
        assert result.changed_pixels == 0 and result.changed_share == 0.0
        assert result.changed_box is None and result.diff_png is None
        assert "diff_png" not in result.to_dict()
        assert result.after.bytes == len(other)


def test_fully_transparent_pixels_are_equal_whatever_colour_they_hide() -> None:
    before = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    after = Image.new("RGBA", (8, 8), (0, 0, 255, 0))
    assert compare_images(encode(before), encode(after)).pixels_equal
    after.putpixel((3, 3), (0, 0, 255, 1))  # barely visible is visible
    result = compare_images(encode(before), encode(after))
    assert result.changed_pixels == 1 and result.changed_box == (3, 3, 4, 4)


def test_images_of_different_sizes_compare_on_the_union_canvas() -> None:
    before = Image.new("RGB", (100, 50), (10, 20, 30))
    after = Image.new("RGB", (80, 60), (10, 20, 30))
    result = compare_images(encode(before), encode(after))
    assert not result.same_size and not result.pixels_equal
    assert (result.canvas_width, result.canvas_height) == (100, 60)
    # only before has x 80..99 of rows 0..49; only after has rows 50..59 of x 0..79
    assert result.changed_pixels == 20 * 50 + 80 * 10
    assert result.changed_share == pytest.approx(1800 / 6000)
    assert result.changed_box == (0, 0, 100, 60)
    data = result.to_dict()
    assert data["same_size"] is False and data["canvas"] == {"width": 100, "height": 60}
    assert (data["before"]["width"], data["before"]["height"]) == (100, 50)
    assert (data["after"]["width"], data["after"]["height"]) == (80, 60)
    assert Image.open(io.BytesIO(result.diff_png or b"")).size == (100, 60)


def test_jpeg_metadata_only_is_equal_and_a_changed_block_is_exact() -> None:
    image = Image.new("RGB", (64, 64), (40, 90, 160))
    image.paste((220, 180, 20), (0, 0, 32, 64))
    plain = encode(image, "JPEG", quality=90, subsampling=0)
    comment = b"a note a tool added"
    marked = plain[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + plain[2:]
    result = compare_images(plain, marked)
    assert result.pixels_equal and result.before.format == result.after.format == "JPEG"
    assert result.after.bytes == result.before.bytes + len(comment) + 4

    # a block on whole 8x8 JPEG blocks: the other blocks encode (and decode) identically
    changed = encode(with_block(image, (16, 16, 48, 32), (255, 255, 255)), "JPEG",
                     quality=90, subsampling=0)
    result = compare_images(plain, changed, tolerance=8)
    assert result.changed_pixels == 32 * 16 and result.changed_box == (16, 16, 48, 32)


def test_a_jpeg_turned_by_exif_compares_as_shown() -> None:
    upright = gradient(40, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to show
    stored = encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=100,
                    subsampling=0, exif=exif.tobytes())
    shown = compare_images(encode(upright, "JPEG", quality=100, subsampling=0), stored,
                           tolerance=16)
    assert (shown.after.width, shown.after.height) == (40, 20)
    assert shown.same_size and shown.changed_share < 0.01


def test_gif_changes_are_counted_and_an_animation_by_its_first_frame() -> None:
    base = Image.new("P", (30, 20), 0)
    base.putpalette([0, 0, 0, 255, 255, 255, 200, 0, 0] + [0] * 759)
    changed = base.copy()
    changed.paste(2, (5, 5, 10, 9))  # 5 x 4 pixels red
    result = compare_images(encode(base, "GIF"), encode(changed, "GIF"))
    assert result.before.format == "GIF" and result.changed_pixels == 20
    assert result.changed_box == (5, 5, 10, 9)

    frames = [base.copy(), changed.copy()]
    animated = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    result = compare_images(encode(base, "GIF"), animated)
    assert result.after.animated and not result.before.animated
    assert result.pixels_equal  # the first frames are equal


def test_a_decompression_bomb_is_refused_without_decoding(
        monkeypatch: pytest.MonkeyPatch) -> None:
    small = encode(Image.new("L", (4, 4)))
    side = 7_100  # 50.4 megapixels: just over the limit, under Pillow's own warning
    assert side * side > MAX_PIXELS
    bomb = png_claiming(side, side)
    assert len(bomb) < 300_000
    started = time.perf_counter()
    with pytest.raises(UserInputError) as caught:
        compare_images(small, bomb)
    assert time.perf_counter() - started < 1.0
    message = str(caught.value)
    assert "'after'" in message and f"{side}x{side}" in message and "50 megapixels" in message
    assert "\n" not in message

    # far over Pillow's own bound (it refuses on open): the same one line
    huge = png_claiming(20_000, 20_000)
    with pytest.raises(UserInputError, match="'before' is over the limit of 50 megapixels"):
        compare_images(huge, small)

    # each image under the limit, their union canvas over it: refused before decoding either
    wide, tall = png_claiming(50_000, 900), png_claiming(900, 50_000)
    decoded: list[str] = []
    monkeypatch.setattr(images, "_decode", lambda image, side: decoded.append(side))
    with pytest.raises(UserInputError, match="50000x50000 canvas"):
        compare_images(wide, tall)
    assert decoded == []


def test_what_is_not_an_image_is_one_clear_line() -> None:
    good = encode(gradient(8, 8))
    cases = {
        b"just some text, not a picture": "'after' is not a PNG, JPEG or GIF image",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>": "'after' is not a PNG, JPEG or GIF",
        encode(gradient(8, 8), "BMP"): "'after' is not a PNG, JPEG or GIF image",
        good[: len(good) // 2]: "'after' cannot be decoded",
    }
    for data, expected in cases.items():
        with pytest.raises(UserInputError, match=expected) as caught:
            compare_images(good, data)
        assert "\n" not in str(caught.value)


def test_base64_is_read_as_notebooks_store_it() -> None:
    data = encode(gradient(8, 8))
    text = base64.b64encode(data).decode()
    wrapped = "\n".join(text[i:i + 76] for i in range(0, len(text), 76)) + "\n"
    assert decode_base64(wrapped, "before") == data
    for bad, expected in (("not*base64!", "'before' is not valid base64"),
                          ("", "'before' is the image as base64 text"),
                          (42, "'before' is the image as base64 text")):
        with pytest.raises(UserInputError, match=expected):
            decode_base64(bad, "before")


# ----- REST, through a real Jupyter server with authentication on ---------------------------

@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _post(jp_fetch: Any, body: Any) -> Any:
    response = await jp_fetch("mlops", "api", "review", "image-diff", method="POST",
                              body=body if isinstance(body, str) else json.dumps(body))
    assert response.code == 200
    return json.loads(response.body.decode())


async def _error(jp_fetch: Any, body: Any) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as info:
        await _post(jp_fetch, body)
    assert info.value.response is not None
    return info.value.code, json.loads(info.value.response.body.decode())["message"]


async def test_rest_compares_two_images(jp_fetch: Any, jp_root_dir: Path) -> None:
    before = gradient(60, 40)
    after = with_block(before, (0, 0, 6, 4), (255, 0, 255))
    body = await _post(jp_fetch, {"mime": "image/png", "before": b64(encode(before)),
                                  "after": b64(encode(after))})
    assert body["pixels_equal"] is False
    assert body["changed_pixels"] == 24 and body["changed_share"] == pytest.approx(0.01)
    assert body["before"] == {"width": 60, "height": 40, "bytes": len(encode(before)),
                              "format": "PNG", "animated": False}
    assert body["changed_box"] == [0, 0, 6, 4] and body["same_size"] is True
    assert Image.open(io.BytesIO(base64.b64decode(body["diff_png"]))).size == (60, 40)

    # a JPEG labelled image/jpeg, re-saved with a comment: pixels equal, no highlight
    jpeg = encode(before, "JPEG", quality=80)
    commented = jpeg[:2] + b"\xff\xfe\x00\x0are-saved" + jpeg[2:]  # a COM segment
    body = await _post(jp_fetch, {"mime": "image/jpeg", "before": b64(jpeg),
                                  "after": b64(commented), "highlight": True})
    assert body["pixels_equal"] is True and "diff_png" not in body


async def test_rest_answers_bad_input_with_one_line(jp_fetch: Any) -> None:
    good = b64(encode(gradient(8, 8)))
    cases: list[tuple[Any, int, str]] = [
        ({"mime": "image/png", "before": "###", "after": good}, 400,
         "'before' is not valid base64"),
        ({"mime": "image/png", "before": good, "after": b64(b"%PDF-1.7")}, 400,
         "'after' is not a PNG, JPEG or GIF image"),
        ({"mime": "image/svg+xml", "before": good, "after": good}, 400,
         "send both sides as image/png"),
        ({"mime": "text/plain", "before": good, "after": good}, 400, "'mime' is one of"),
        ({"mime": "image/png", "before": good}, 400, "after"),
        ({"mime": "image/png", "before": good, "after": good, "tolerance": "x"}, 400,
         "tolerance"),
        ({"mime": "image/png", "before": b64(png_claiming(8_000, 8_000)), "after": good},
         400, "over the limit of 50 megapixels"),
        ("not json", 400, "not JSON"),
    ]
    for body, status, expected in cases:
        code, message = await _error(jp_fetch, body)
        assert (code, expected in message, "\n" in message) == (status, True, False), (
            body if isinstance(body, str) else body.get("mime"), message)


async def test_rest_bounds_the_request_and_runs_requests_side_by_side(
        jp_fetch: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_mlops.review import images_routes

    monkeypatch.setattr(images_routes, "MAX_BODY", 4096)
    noise = Image.frombytes("RGB", (60, 60), random.Random(7).randbytes(60 * 60 * 3))
    big = b64(encode(noise))
    code, message = await _error(jp_fetch, {"mime": "image/png", "before": big, "after": big})
    assert code == 413 and "MiB" in message
    monkeypatch.undo()

    small = [encode(with_block(gradient(30, 30), (0, 0, n + 1, 1), (1, 255, 1)))
             for n in range(6)]
    replies = await asyncio.gather(*(
        _post(jp_fetch, {"mime": "image/png", "before": b64(encode(gradient(30, 30))),
                         "after": b64(data)}) for data in small))
    assert [r["changed_pixels"] for r in replies] == [1, 2, 3, 4, 5, 6]


async def test_rest_needs_authentication(jp_fetch: Any, jp_base_url: str,
                                         jp_http_port: int) -> None:
    url = f"http://localhost:{jp_http_port}{jp_base_url}mlops/api/review/image-diff"
    good = b64(encode(gradient(8, 8)))
    with pytest.raises(HTTPClientError) as caught:
        await AsyncHTTPClient().fetch(url, method="POST", body=json.dumps(
            {"mime": "image/png", "before": good, "after": good}))
    assert caught.value.code == 403
