"""Pixel comparison of two raster images (PNG, JPEG, GIF) as a notebook's outputs hold them:
whether the pixels are equal, the share of pixels that changed, the size change, and a PNG
that shows where (a faded grey copy of the newer image with the changed pixels in a strong
colour).

    from jupyter_mlops.review.images import compare_images
    result = compare_images(before_bytes, after_bytes)
    result.pixels_equal, result.changed_share, result.to_dict()

Two images are compared as the browser shows them: decoded to RGBA, a JPEG turned by its EXIF
orientation, fully transparent pixels equal whatever colour they hide. Metadata (text chunks,
EXIF, ICC profiles) and the encoding (compression level, palette or true colour, interlacing)
do not count: a re-encoded image has ``pixels_equal`` true. Images of different sizes are
compared on the union canvas (both placed at its top-left corner; where only one image has
pixels, those pixels changed) and ``same_size`` says so. An animated GIF is compared by its
first frame (``animated`` says so).

Bounded work: an image over ``MAX_PIXELS`` (50 megapixels, also the union canvas) or over
``MAX_BYTES`` is refused with one line before it is decoded (decompression bombs: a tiny PNG
that claims 100,000 x 100,000 pixels), as are bytes that are not one of the three formats.
SVG is vector: the diff view rasterises it in the browser and sends PNGs.

Pillow is imported on first use (the ``review`` extra).
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..errors import BackendUnavailableError, UserInputError

if TYPE_CHECKING:
    from PIL import Image
    from PIL.ImageFile import ImageFile

#: The most pixels one image (and the union canvas of two) may have: 50 megapixels.
MAX_PIXELS = 50_000_000
#: The largest encoded image taken: 25 MiB.
MAX_BYTES = 25 * 1024 * 1024
#: The raster formats compared, by the mime types notebooks use for them.
RASTER_MIMES: dict[str, str] = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF"}
#: The colour of changed pixels in the highlight (a strong magenta, rare in plots).
HIGHLIGHT = (230, 0, 126)
#: The EXIF tag of a JPEG's orientation (5-8: shown turned by a quarter).
_ORIENTATION = 0x0112

Side = Literal["before", "after"]


@dataclass(frozen=True)
class ImageInfo:
    """One side's image: its size in pixels and in bytes, the format Pillow found."""

    width: int
    height: int
    bytes: int
    format: str
    animated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "bytes": self.bytes,
                "format": self.format, "animated": self.animated}


@dataclass(frozen=True)
class ImageComparison:
    """What changed between two images. ``changed_share`` is changed pixels / canvas pixels
    (0.0 when ``pixels_equal``); ``changed_box`` the smallest ``[left, top, right, bottom)``
    rectangle holding every changed pixel; ``diff_png`` the highlight (None when equal or not
    asked for)."""

    pixels_equal: bool
    changed_pixels: int
    canvas_width: int
    canvas_height: int
    before: ImageInfo
    after: ImageInfo
    changed_box: tuple[int, int, int, int] | None
    diff_png: bytes | None
    tolerance: int = 0

    @property
    def same_size(self) -> bool:
        return (self.before.width, self.before.height) == (self.after.width, self.after.height)

    @property
    def changed_share(self) -> float:
        total = self.canvas_width * self.canvas_height
        return self.changed_pixels / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The REST reply: ``diff_png`` base64-encoded, present only when there is one."""
        data: dict[str, Any] = {
            "pixels_equal": self.pixels_equal,
            "changed_share": self.changed_share,
            "changed_pixels": self.changed_pixels,
            "same_size": self.same_size,
            "canvas": {"width": self.canvas_width, "height": self.canvas_height},
            "changed_box": list(self.changed_box) if self.changed_box else None,
            "tolerance": self.tolerance,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
        }
        if self.diff_png is not None:
            data["diff_png"] = base64.b64encode(self.diff_png).decode("ascii")
        return data


def decode_base64(value: object, side: Side) -> bytes:
    """An image's bytes from base64 text as notebooks store it (line breaks allowed)."""
    if not isinstance(value, str) or not value.strip():
        raise UserInputError(f"'{side}' is the image as base64 text")
    compact = "".join(value.split())
    if len(compact) > (MAX_BYTES * 4) // 3 + 4:
        raise UserInputError(f"the image '{side}' is larger than {MAX_BYTES // 2**20} MiB")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise UserInputError(f"'{side}' is not valid base64") from None


def compare_images(before: bytes, after: bytes, *, tolerance: int = 0,
                   highlight: bool = True) -> ImageComparison:
    """Compare two encoded PNG/JPEG/GIF images pixel by pixel. A pixel changed when one of
    its RGBA channels differs by more than ``tolerance`` (0-255; 0: any difference)."""
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise BackendUnavailableError("comparing image pixels needs Pillow: pip install "
                                      "'jupyter-mlops[review]'") from None
    if not 0 <= tolerance <= 255:
        raise UserInputError(f"'tolerance' is 0 to 255 (a channel's difference), not "
                             f"{tolerance}")
    old_file, old_info = _open(before, "before")
    new_file, new_info = _open(after, "after")
    width = max(old_info.width, new_info.width)
    height = max(old_info.height, new_info.height)
    if width * height > MAX_PIXELS:  # checked before either image is decoded
        raise UserInputError(f"the two images together need a {width}x{height} canvas, over "
                             f"the limit of {MAX_PIXELS // 1_000_000} megapixels")
    old, new = _decode(old_file, "before"), _decode(new_file, "after")
    old, new = _on_canvas(old, width, height), _on_canvas(new, width, height)
    mask = _changed_mask(old, new, tolerance)
    del old
    changed = mask.histogram()[255]
    box = mask.getbbox() if changed else None
    diff_png = _highlight(new, mask) if highlight and changed else None
    return ImageComparison(pixels_equal=changed == 0, changed_pixels=changed,
                           canvas_width=width, canvas_height=height, before=old_info,
                           after=new_info, changed_box=box, diff_png=diff_png,
                           tolerance=tolerance)


def _open(data: bytes, side: Side) -> tuple[ImageFile, ImageInfo]:
    """``data``'s header read (nothing decoded yet) and its size checked; the size is the one
    shown (a JPEG's EXIF orientation may swap width and height)."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_BYTES:
        raise UserInputError(f"the image '{side}' is larger than {MAX_BYTES // 2**20} MiB")
    too_big = (f"over the limit of {MAX_PIXELS // 1_000_000} megapixels: not decoded "
               f"(a decompression bomb, or a picture too large to compare here)")
    try:
        image = Image.open(io.BytesIO(data), formats=list(RASTER_MIMES.values()))
        turned = image.format == "JPEG" and image.getexif().get(_ORIENTATION) in (5, 6, 7, 8)
        animated = bool(getattr(image, "is_animated", False))
    except UnidentifiedImageError:
        raise UserInputError(f"'{side}' is not a PNG, JPEG or GIF image") from None
    except Image.DecompressionBombError:  # Pillow's own bound, twice its MAX_IMAGE_PIXELS
        raise UserInputError(f"the image '{side}' is {too_big}") from None
    except (OSError, SyntaxError, ValueError) as exc:  # a broken header
        raise UserInputError(f"'{side}' is not a readable image: {exc}") from None
    if image.width * image.height > MAX_PIXELS:
        raise UserInputError(
            f"the image '{side}' has {image.width}x{image.height} pixels, {too_big}")
    width, height = (image.height, image.width) if turned else image.size
    return image, ImageInfo(width=width, height=height, bytes=len(data),
                            format=str(image.format), animated=animated)


def _decode(image: ImageFile, side: Side) -> Image.Image:
    """The first frame of ``image`` as shown (a JPEG turned by its EXIF orientation), as RGBA
    with fully transparent pixels zeroed."""
    from PIL import Image, ImageOps

    try:
        image.load()
        frame: Image.Image = image
        if image.format == "JPEG":
            frame = ImageOps.exif_transpose(image)
        rgba = frame.convert("RGBA")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UserInputError(f"the image '{side}' cannot be decoded: {exc}") from None
    return _zero_transparent(rgba)


def _zero_transparent(image: Image.Image) -> Image.Image:
    """``image`` with every fully transparent pixel (0, 0, 0, 0): the colour such a pixel
    hides is invisible, and encoders change it freely."""
    from PIL import Image

    alpha = image.getchannel("A")
    if alpha.getextrema()[0] != 0:
        return image
    visible = alpha.point(lambda a: 255 if a else 0)
    cleared = Image.new("RGBA", image.size, (0, 0, 0, 0))
    cleared.paste(image, (0, 0), visible)
    return cleared


def _on_canvas(image: Image.Image, width: int, height: int) -> Image.Image:
    """``image`` at the top-left of a transparent ``width`` x ``height`` canvas."""
    from PIL import Image

    if image.size == (width, height):
        return image
    canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    canvas.paste(image, (0, 0))
    return canvas


def _changed_mask(old: Image.Image, new: Image.Image, tolerance: int) -> Image.Image:
    """An "L" image: 255 where a channel differs by more than ``tolerance``, else 0."""
    from PIL import ImageChops

    difference = ImageChops.difference(old, new)
    red, green, blue, alpha = difference.split()
    largest = ImageChops.lighter(ImageChops.lighter(red, green),
                                 ImageChops.lighter(blue, alpha))
    return largest.point(lambda v: 255 if v > tolerance else 0)


def _highlight(new: Image.Image, mask: Image.Image) -> bytes:
    """A PNG of ``new`` faded to light grey (over white where it is transparent) with the
    pixels of ``mask`` in ``HIGHLIGHT``."""
    from PIL import Image

    if new.getchannel("A").getextrema() == (255, 255):
        grey = new.convert("L")
    else:
        white = Image.new("RGBA", new.size, (255, 255, 255, 255))
        grey = Image.alpha_composite(white, new).convert("L")
    faded = grey.point(lambda v: 255 - (255 - v) * 35 // 100).convert("RGB")
    faded.paste(HIGHLIGHT, (0, 0, *new.size), mask)
    out = io.BytesIO()
    faded.save(out, format="PNG", compress_level=3)
    return out.getvalue()
