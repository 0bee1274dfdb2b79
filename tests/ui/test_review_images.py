"""Changed image outputs in the review's diff view, in real JupyterLab and Chromium: the four
modes (side by side, swipe, onion skin, pixel difference), the pixel mode stating the share
of changed pixels and the size change, a re-encoded image shown as unchanged pixels, and an
SVG compared as pixels after the browser rasterised it."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image, PngImagePlugin
from playwright.sync_api import expect

from ..review_fixtures import NB, code, notebook, run_git, write
from .conftest import Lab, screenshot, start_lab, stop_lab
from .test_review_panel import diff_view, open_review_panel

pytestmark = pytest.mark.ui

NOTEBOOK = "figures.ipynb"
SIZE = (160, 90)
BLOCK = (20, 30, 60, 60)  # 40 x 30 pixels repainted in the newer figure
CHANGED = (BLOCK[2] - BLOCK[0]) * (BLOCK[3] - BLOCK[1])


def picture() -> Image.Image:
    image = Image.new("RGB", SIZE, (250, 250, 250))
    image.paste((40, 90, 200), (0, 0, SIZE[0] // 2, SIZE[1]))
    image.paste((240, 140, 30), (SIZE[0] // 2, 0, SIZE[0], SIZE[1] // 2))
    return image


def png_b64(image: Image.Image, **options: Any) -> str:
    out = io.BytesIO()
    image.save(out, format="PNG", **options)
    return base64.b64encode(out.getvalue()).decode() + "\n"


def svg(red_width: int) -> str:
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50">'
            '<rect width="100" height="50" fill="#ffffff"/>'
            f'<rect width="{red_width}" height="50" fill="#d02020"/></svg>')


def figure(data: dict[str, str]) -> dict[str, Any]:
    return {"output_type": "display_data", "metadata": {},
            "data": {**data, "text/plain": "<Figure size 160x90 with 1 Axes>"}}


def figures(newer: bool) -> NB:
    image = picture()
    if newer:
        image.paste((20, 160, 60), BLOCK)
    # the same pixels, saved differently: a palette, a text chunk, another compression
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "matplotlib 3.9" if newer else "matplotlib 3.8")
    same = (png_b64(picture().quantize(8), pnginfo=info) if newer
            else png_b64(picture(), compress_level=1))
    return notebook([
        code("plot(block=True)", id="plot", outputs=[figure({"image/png": png_b64(image)})]),
        code("plot()", id="again", outputs=[figure({"image/png": same})]),
        code("diagram()", id="vector",
             outputs=[figure({"image/svg+xml": svg(25 if newer else 50)})]),
        code("thumbnail()", id="resized", outputs=[figure({"image/png": png_b64(
            Image.new("RGB", (80, 60) if newer else (100, 50), (90, 90, 90)))})]),
    ])


@pytest.fixture(scope="module")
def images_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A git repository whose committed notebook's three figures changed in the working
    copy: a block repainted, the same pixels re-encoded, an SVG's bar narrowed."""
    tmp = tmp_path_factory.mktemp("review-images-ui")
    root = tmp / "root"
    root.mkdir()
    run_git(root, "init", "-q")
    run_git(root, "config", "user.name", "Ada Reviewer")
    write(root / NOTEBOOK, figures(newer=False))
    run_git(root, "add", NOTEBOOK)
    run_git(root, "commit", "-q", "-m", "figures")
    write(root / NOTEBOOK, figures(newer=True))
    lab = start_lab(root, tmp)
    yield lab
    stop_lab(lab)


def share_text(changed: int, total: int) -> str:
    """The share as the pixel mode states it (one decimal between 1 and 10 %)."""
    share = 100 * changed / total
    assert 1 <= share < 10
    return f"{share:.1f}% of pixels changed"


def test_a_changed_figure_in_four_modes(page: Any, images_lab: Lab) -> None:
    panel = open_review_panel(page, images_lab)
    panel.locator(f'[data-list="changes"] [data-path="{NOTEBOOK}"]').click()
    view = diff_view(page, NOTEBOOK)
    cell = view.locator('.jp-mlops-review-cell[data-cell-id="plot"]')
    images = cell.locator(".jp-mlops-review-images")

    # side by side: both figures; the bar already says how much changed
    expect(images).to_have_attribute("data-mode", "side-by-side")
    expect(images.locator(".jp-mlops-review-outputSide img")).to_have_count(2)
    expect(images).to_have_attribute("data-pixels", "changed", timeout=30_000)
    total = SIZE[0] * SIZE[1]
    expect(images.locator(".jp-mlops-review-pixelsBadge")).to_have_text(
        share_text(CHANGED, total))

    # swipe: the border between before (left) and after (right) follows the slider
    images.get_by_label("Swipe").check()
    expect(images).to_have_attribute("data-mode", "swipe")
    images.locator('.jp-mlops-review-swipe input[type="range"]').fill("30")
    expect(images.locator(".jp-mlops-review-swipeBase")).to_have_attribute(
        "style", re.compile(r"inset\(0(px)? 70% 0(px)? 0(px)?\)"))
    expect(images.locator(".jp-mlops-review-swipeHandle")).to_have_attribute(
        "style", re.compile(r"left: 30%"))
    screenshot(page, "review-image-swipe-modes", cell)

    # onion skin: the figure after over the one before, its opacity on the slider
    images.get_by_label("Onion skin").check()
    expect(images).to_have_attribute("data-mode", "onion-skin")
    onion = images.locator(".jp-mlops-review-onion")
    expect(onion.locator("img")).to_have_count(2)
    onion.get_by_label("Opacity of the image after").fill("25")
    expect(onion.locator(".jp-mlops-review-onionAfter")).to_have_attribute(
        "style", re.compile(r"opacity: 0\.25"))
    screenshot(page, "review-image-onion", cell)

    # pixel difference: the share, the count, the size change, the highlight and its box
    images.get_by_label("Pixel difference").check()
    pixels = images.locator('.jp-mlops-review-pixels[data-state="done"]')
    expect(pixels.locator(".jp-mlops-review-pixelsShare")).to_have_text(
        f"{share_text(CHANGED, total)} ({CHANGED:,} of {total:,})")
    expect(pixels.locator(".jp-mlops-review-pixelsSize")).to_contain_text(
        f"{SIZE[0]} × {SIZE[1]} pixels")
    highlight = pixels.locator("img.jp-mlops-review-pixelsImage")
    expect(highlight).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    page.wait_for_function("img => img.complete && img.naturalWidth === 160",
                           arg=highlight.element_handle(), timeout=10_000)
    # the magenta pixels are where the block was repainted, and nowhere else
    counted = page.evaluate("""img => {
        const canvas = document.createElement('canvas');
        canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
        const context = canvas.getContext('2d');
        context.drawImage(img, 0, 0);
        const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
        let inside = 0, outside = 0;
        for (let i = 0; i < data.length; i += 4) {
            const x = (i / 4) % canvas.width, y = Math.floor(i / 4 / canvas.width);
            const magenta = data[i] === 230 && data[i + 1] === 0 && data[i + 2] === 126;
            if (magenta && x >= 20 && x < 60 && y >= 30 && y < 60) inside++;
            else if (magenta) outside++;
        }
        return [inside, outside];
    }""", highlight.element_handle())
    assert counted == [CHANGED, 0]
    box = pixels.locator(".jp-mlops-review-pixelsBox")
    expect(box).to_have_attribute("style", re.compile(r"left: 12\.5%.*top: 33\.3"))
    screenshot(page, "review-image-pixels", cell)


def test_a_re_encoded_figure_has_unchanged_pixels(page: Any, images_lab: Lab) -> None:
    panel = open_review_panel(page, images_lab)
    panel.locator(f'[data-list="changes"] [data-path="{NOTEBOOK}"]').click()
    view = diff_view(page, NOTEBOOK)
    images = view.locator('.jp-mlops-review-cell[data-cell-id="again"] '
                          '.jp-mlops-review-images')
    expect(images).to_have_attribute("data-pixels", "equal", timeout=30_000)
    expect(images.locator(".jp-mlops-review-pixelsBadge")).to_have_text("pixels unchanged")
    images.get_by_label("Pixel difference").check()
    pixels = images.locator('.jp-mlops-review-pixels[data-state="done"]')
    expect(pixels.locator(".jp-mlops-review-pixelsShare")).to_have_text(
        "Pixels unchanged (metadata/encoding only)")
    # the bytes changed, the size in pixels did not
    expect(pixels.locator(".jp-mlops-review-pixelsSize")).to_contain_text(
        re.compile(r"^160 × 90 pixels · \d"))
    expect(pixels.locator(".jp-mlops-review-pixelsImage")).to_have_count(0)
    expect(pixels.locator(".jp-mlops-review-pixelsBox")).to_have_count(0)


def test_an_svg_is_compared_as_pixels(page: Any, images_lab: Lab) -> None:
    panel = open_review_panel(page, images_lab)
    panel.locator(f'[data-list="changes"] [data-path="{NOTEBOOK}"]').click()
    view = diff_view(page, NOTEBOOK)
    images = view.locator('.jp-mlops-review-cell[data-cell-id="vector"] '
                          '.jp-mlops-review-images')
    expect(images.locator(".jp-mlops-review-outputSide img")).to_have_count(2)
    images.get_by_label("Pixel difference").check()
    pixels = images.locator('.jp-mlops-review-pixels[data-state="done"]')
    # the red bar lost 25 of its 50 columns: a quarter of the 100 x 50 picture
    expect(pixels.locator(".jp-mlops-review-pixelsShare")).to_have_text(
        f"25% of pixels changed ({25 * 50:,} of {100 * 50:,})", timeout=30_000)
    size = len(svg(50).encode())
    expect(pixels.locator(".jp-mlops-review-pixelsSize")).to_have_text(
        f"100 × 50 pixels · {size} B → {size} B (±0 B)")


def test_images_of_different_sizes_share_one_canvas(page: Any, images_lab: Lab) -> None:
    panel = open_review_panel(page, images_lab)
    panel.locator(f'[data-list="changes"] [data-path="{NOTEBOOK}"]').click()
    view = diff_view(page, NOTEBOOK)
    images = view.locator('.jp-mlops-review-cell[data-cell-id="resized"] '
                          '.jp-mlops-review-images')
    # onion skin: a 100 x 60 canvas, each image at its own size at the top left
    images.get_by_label("Onion skin").check()
    stage = images.locator(".jp-mlops-review-swipeStage")
    expect(stage).to_have_attribute("style", re.compile(r"width: 100px"))
    page.wait_for_function("stage => stage.getBoundingClientRect().height === 60",
                           arg=stage.element_handle(), timeout=10_000)
    boxes = [img.bounding_box() for img in stage.locator("img").all()]
    stage_box = stage.bounding_box()
    assert [(round(b["width"]), round(b["height"])) for b in boxes] == [(100, 50), (80, 60)]
    assert all((b["x"], b["y"]) == (stage_box["x"], stage_box["y"]) for b in boxes)
    # the pixel difference: where only one image has pixels they changed (the overlap is one
    # grey, the corner neither covers is empty in both)
    images.get_by_label("Pixel difference").check()
    pixels = images.locator('.jp-mlops-review-pixels[data-state="done"]')
    changed = 100 * 50 + 80 * 60 - 2 * 80 * 50
    expect(pixels.locator(".jp-mlops-review-pixelsShare")).to_have_text(
        f"{100 * changed / 6000:.0f}% of pixels changed ({changed:,} of {6000:,})")
    expect(pixels.locator(".jp-mlops-review-pixelsSize")).to_contain_text(
        "100 × 50 → 80 × 60 pixels")
    expect(pixels.locator(".jp-mlops-review-pixelsNote")).to_contain_text(
        "compared on a 100 × 60 canvas")
