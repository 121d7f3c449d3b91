"""The tiles of a decoded image and of its stability variants, computed region by region.

The serving path judges an image by at most ``max_tiles`` tiles, and checks the verdict
under a JPEG re-encode and a downscale (``detectors.inference.stability_variants``).
Building those variants whole costs several copies of the image: a 50-megapixel upload
would hold well over a gigabyte for tiles that cover a few hundred kilobytes. Here each
tile is computed from its own neighbourhood instead, with the result the whole-image
operation gives at that tile:

* JPEG: each 8x8 block is coded on its own, and chroma is subsampled and smoothed only
  across neighbouring samples. A region that starts on the 16-pixel MCU grid, with one
  MCU of margin round the tile, re-encodes to the same pixels inside that margin.
* Downscale: Pillow resamples a ``box`` of the full image with the coefficients the full
  resize uses there (the filter's support reaches past the box into the image).

``tests/test_detectors.py`` checks both against the whole-image operations.
Images with a side shorter than a tile are padded first (``detectors.tiles``); they
are small, so they simply go the whole-image way.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from detectors.imageops import downscale, jpeg_roundtrip
from detectors.inference import (
    STABILITY_DOWNSCALE,
    STABILITY_DOWNSCALE_MIN_TILES,
    STABILITY_JPEG_QUALITY,
)
from detectors.spec import DEFAULT_MAX_TILES
from detectors.tiles import cut_tiles, tile_positions

MCU = 16
"""A JPEG MCU with 4:2:0 chroma (what Pillow writes at the qualities used here)."""


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(_rgb(image), dtype=np.uint8)


def _fits(image: Image.Image, size: int) -> bool:
    return min(image.size) >= size


def image_tiles_of(
    image: Image.Image, size: int, max_tiles: int = DEFAULT_MAX_TILES, name: str = "image"
) -> np.ndarray:
    """``cut_tiles`` of the image's RGB pixels, cropping only the tiles."""
    if not _fits(image, size):
        return cut_tiles(_pixels(image), size, max_tiles, name)
    width, height = image.size
    return np.stack(
        [
            _pixels(image.crop((left, top, left + size, top + size)))
            for top, left in tile_positions(height, width, size, max_tiles)
        ]
    )


def jpeg_tiles(
    image: Image.Image, quality: int, size: int, max_tiles: int = DEFAULT_MAX_TILES
) -> np.ndarray:
    """``cut_tiles(jpeg_roundtrip(pixels, quality))``, re-encoding only round each tile."""
    if not _fits(image, size):
        return cut_tiles(jpeg_roundtrip(_pixels(image), quality), size, max_tiles)
    rgb = _rgb(image)
    width, height = rgb.size
    tiles = []
    for top, left in tile_positions(height, width, size, max_tiles):
        x0 = max(0, (left // MCU - 1) * MCU)
        y0 = max(0, (top // MCU - 1) * MCU)
        x1 = min(width, (-(-(left + size) // MCU) + 1) * MCU)
        y1 = min(height, (-(-(top + size) // MCU) + 1) * MCU)
        buffer = io.BytesIO()
        rgb.crop((x0, y0, x1, y1)).save(buffer, "JPEG", quality=int(quality))
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            region = _pixels(decoded)
        tiles.append(region[top - y0 : top - y0 + size, left - x0 : left - x0 + size])
    return np.stack(tiles)


def downscaled_tiles(
    image: Image.Image, factor: float, size: int, max_tiles: int = DEFAULT_MAX_TILES
) -> np.ndarray:
    """``cut_tiles(downscale(pixels, factor))``, resampling only each tile's box."""
    width, height = image.size
    shrunk = (max(1, round(width * factor)), max(1, round(height * factor)))
    if factor >= 1.0 or min(shrunk) < size:
        return cut_tiles(downscale(_pixels(image), factor), size, max_tiles)
    rgb = _rgb(image)
    x_scale, y_scale = width / shrunk[0], height / shrunk[1]
    tiles = []
    for top, left in tile_positions(shrunk[1], shrunk[0], size, max_tiles):
        box = (left * x_scale, top * y_scale, (left + size) * x_scale, (top + size) * y_scale)
        tiles.append(np.asarray(rgb.resize((size, size), Image.Resampling.BICUBIC, box=box)))
    return np.stack(tiles)


def stability_tile_sets(
    image: Image.Image, size: int, max_tiles: int = DEFAULT_MAX_TILES
) -> list[tuple[str, np.ndarray]]:
    """The tiles of ``stability_variants`` (same checks, same names), region by region."""
    sets = [
        (
            f"JPEG q{STABILITY_JPEG_QUALITY}",
            jpeg_tiles(image, STABILITY_JPEG_QUALITY, size, max_tiles),
        )
    ]
    if min(image.size) * STABILITY_DOWNSCALE >= STABILITY_DOWNSCALE_MIN_TILES * size:
        sets.append(
            (
                f"a {STABILITY_DOWNSCALE}x downscale",
                downscaled_tiles(image, STABILITY_DOWNSCALE, size, max_tiles),
            )
        )
    return sets
