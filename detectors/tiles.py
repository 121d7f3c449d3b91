"""Cutting images into detector tiles at native resolution, and the small numpy maths the
scorers share. The bottom of ``detectors``: numpy only.

An image is cut into ``image_size`` x ``image_size`` tiles on a grid that covers it (the
last row and column are aligned to the border, so tiles may overlap); when the grid has
more than ``max_tiles`` tiles, ``max_tiles`` of them are taken evenly spread over it, in a
fixed order so scores are reproducible. A side shorter than the tile is reflection-padded
to it; a side shorter than half the tile is refused as too small to judge.
"""

from __future__ import annotations

import math

import numpy as np

from detectors.spec import DEFAULT_MAX_TILES
from provenance.errors import ImageTooSmallError

EVEN_ODDS = 0.5


def min_side(image_size: int) -> int:
    return max(2, image_size // 2)


def pad_to_tile(pixels: np.ndarray, size: int, name: str = "image") -> np.ndarray:
    """Reflection-pad an HWC image whose sides are shorter than ``size`` (never resize)."""
    height, width = pixels.shape[:2]
    if min(height, width) < min_side(size):
        raise ImageTooSmallError(
            f"{name} is {width}x{height} px, too small to judge (the detector needs at least "
            f"{min_side(size)} px on each side)."
        )
    pad_h, pad_w = max(0, size - height), max(0, size - width)
    if pad_h or pad_w:
        pixels = np.pad(
            pixels,
            ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)),
            mode="reflect",
        )
    return pixels


def _starts(length: int, size: int) -> list[int]:
    count = max(1, math.ceil(length / size))
    return sorted({round(value) for value in np.linspace(0, length - size, count)})


def tile_positions(height: int, width: int, size: int, max_tiles: int) -> list[tuple[int, int]]:
    grid = [(top, left) for top in _starts(height, size) for left in _starts(width, size)]
    if len(grid) > max_tiles:
        picks = np.unique(np.linspace(0, len(grid) - 1, max_tiles).round().astype(int))
        grid = [grid[i] for i in picks]
    return grid


def cut_tiles(
    pixels: np.ndarray, size: int, max_tiles: int = DEFAULT_MAX_TILES, name: str = "image"
) -> np.ndarray:
    """uint8 HWC image -> uint8 (T, size, size, 3): the tiles the detector judges it by."""
    pixels = pad_to_tile(pixels, size, name)
    height, width = pixels.shape[:2]
    return np.stack(
        [
            pixels[top : top + size, left : left + size]
            for top, left in tile_positions(height, width, size, max_tiles)
        ]
    )


def normalise_tiles(tiles: np.ndarray) -> np.ndarray:
    """uint8 (T, size, size, 3) tiles -> float32 (T, 3, size, size) in [-1, 1]."""
    scaled = tiles.astype(np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(scaled.transpose(0, 3, 1, 2))


def image_tiles(
    pixels: np.ndarray, size: int, max_tiles: int = DEFAULT_MAX_TILES, name: str = "image"
) -> np.ndarray:
    """uint8 HWC image -> float32 (T, 3, size, size) tiles in [-1, 1]."""
    return normalise_tiles(cut_tiles(pixels, size, max_tiles, name))


def mean_rows(values: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Rows of ``values`` averaged per ``owner`` index (0..max), in owner order."""
    totals = np.zeros((int(owner.max()) + 1, values.shape[1]), dtype=np.float64)
    np.add.at(totals, owner, values)
    return totals / np.bincount(owner)[:, None]


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(values, -60.0, 60.0)))


def softmax(values: np.ndarray) -> np.ndarray:
    shifted = values - values.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
