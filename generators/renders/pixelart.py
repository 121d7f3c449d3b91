"""Human-made renders, pixel art: sprites, tile sets and landscapes at small scales, enlarged."""

from __future__ import annotations

import math

import numpy as np

from generators.renders.drawing import (
    Rgb,
    _background,
    _bayer,
    _fbm,
    _hls,
    _palette,
    _pick,
    _smooth_noise,
)


def _sprite(rng: np.random.Generator, size: int, palette: np.ndarray) -> np.ndarray:
    """A left-right symmetric sprite (RGBA, alpha 0 or 255) with a dark outline."""
    half = (size + 1) // 2
    mask = rng.random((size, half)) < rng.uniform(0.35, 0.6)
    mask[:, -1] |= rng.random(size) < 0.7  # a solid spine keeps the two halves together
    mask[[0, -1]] = False
    mask = np.concatenate([mask, mask[:, : size // 2][:, ::-1]], axis=1)
    # One cellular-automaton step turns random pixels into blobs (it keeps the symmetry).
    padded = np.pad(mask, 1).astype(np.int8)
    neighbours = sum(
        padded[1 + dy : 1 + dy + size, 1 + dx : 1 + dx + size]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if dy or dx
    )
    mask = (neighbours >= 5) | (mask & (neighbours >= 3))
    mask[:, [0, -1]] = False
    mask[[0, -1]] = False
    rows = rng.integers(0, len(palette), size)
    colours = palette[rows][:, None, :].repeat(size, axis=1)
    highlight = rng.random((size, half)) < 0.15
    highlight = np.concatenate([highlight, highlight[:, : size // 2][:, ::-1]], axis=1)
    colours = np.where(highlight[..., None], np.minimum(colours + 60, 255), colours)
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    sprite = np.zeros((size, size, 4), np.uint8)
    sprite[mask, :3] = colours[mask]
    outline = grown & ~mask
    sprite[outline, :3] = (palette.min(axis=0) * 0.3).astype(np.uint8)
    sprite[..., 3] = np.where(grown, 255, 0)
    return sprite


def _tile_set(rng: np.random.Generator, tile: int) -> dict[str, np.ndarray]:
    def speckled(colour: Rgb, spread: float) -> np.ndarray:
        base = np.empty((tile, tile, 3), np.float32)
        base[:] = colour
        specks = rng.integers(-1, 2, (tile, tile))
        specks[rng.random((tile, tile)) < 0.7] = 0
        return np.clip(base + specks[..., None] * spread, 0, 255).astype(np.uint8)

    water = speckled(_hls(rng.uniform(0.55, 0.62), rng.uniform(0.4, 0.55), 0.7), 0)
    wave = _hls(rng.uniform(0.55, 0.62), 0.75, 0.6)
    for row in range(1, tile, 4):
        start = int(rng.integers(0, tile // 2))
        water[row, start : start + tile // 3] = wave
    stone = speckled(_hls(rng.random(), rng.uniform(0.45, 0.6), 0.08), 18)
    stone[:: tile // 2] = stone[:: tile // 2] * 0.6
    stone[: tile // 2, 0] = stone[: tile // 2, 0] * 0.6
    stone[tile // 2 :, tile // 2] = stone[tile // 2 :, tile // 2] * 0.6
    return {
        "water": water,
        "sand": speckled(_hls(rng.uniform(0.1, 0.14), rng.uniform(0.65, 0.75), 0.55), 14),
        "grass": speckled(_hls(rng.uniform(0.25, 0.35), rng.uniform(0.35, 0.45), 0.55), 22),
        "forest": speckled(_hls(rng.uniform(0.28, 0.38), rng.uniform(0.2, 0.28), 0.5), 18),
        "stone": stone,
    }


def _pixel_landscape(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    sky_top = np.array(_hls(rng.uniform(0.5, 0.7), rng.uniform(0.3, 0.6), 0.6), np.float32)
    sky_low = np.array(_hls(rng.uniform(0.0, 0.15), rng.uniform(0.6, 0.8), 0.7), np.float32)
    t = (np.arange(height, dtype=np.float32) / height)[:, None, None]
    step = float(_pick(rng, (16.0, 24.0, 32.0)))
    sky = sky_top * (1 - t) + sky_low * t
    image = np.round(sky / step + _bayer(width, height)) * step
    image = np.broadcast_to(image, (height, width, 3)).copy()
    if rng.random() < 0.6:
        cx, cy, r = rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.4) * height, height * 0.08
        yy, xx = np.ogrid[:height, :width]
        image[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = _hls(rng.uniform(0.1, 0.16), 0.85, 0.9)
    layers = int(rng.integers(2, 5))
    hue = rng.random()
    for layer in range(layers):
        base = height * (0.45 + 0.45 * (layer + 1) / (layers + 1))
        ridge = base - _smooth_noise(rng, width, 1, rng.uniform(3, 10))[0] * height * rng.uniform(
            0.1, 0.35
        )
        colour = _hls(hue + 0.05 * layer, 0.55 - 0.4 * layer / layers, 0.35)
        rows = np.arange(height)[:, None]
        image[rows > np.round(ridge)[None, :]] = colour
    return image.astype(np.uint8)


def render_pixelart(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Pixel art upscaled by nearest neighbour: sprite sheets, tile maps, landscapes."""
    variant = _pick(rng, ("sprites", "tilemap", "landscape"))
    scale = int(rng.integers(2, 9))
    single = rng.random() < 0.4
    sprite_size = int(rng.integers(7, 17))
    if variant == "sprites" and single:
        scale = max(2, int(min(width, height) * rng.uniform(0.5, 0.85) / sprite_size))
    low_w, low_h = math.ceil(width / scale), math.ceil(height / scale)
    if variant == "sprites":
        palette = np.array(_palette(rng, int(rng.integers(3, 7))), np.int32)
        background = _background(rng, [tuple(int(v) for v in palette[0])])
        cell = sprite_size + int(rng.integers(1, 4))
        cols = 1 if single else max(1, (low_w - sprite_size) // cell + 1)
        rows = 1 if single else max(1, (low_h - sprite_size) // cell + 1)
        sheet_w, sheet_h = (cols - 1) * cell + sprite_size, (rows - 1) * cell + sprite_size
        small = np.empty((max(sheet_h, low_h), max(sheet_w, low_w), 3), np.uint8)
        small[:] = background
        top0 = (small.shape[0] - sheet_h) // 2
        left0 = (small.shape[1] - sheet_w) // 2
        for row in range(rows):
            for col in range(cols):
                sprite = _sprite(rng, sprite_size, palette)
                top, left = top0 + row * cell, left0 + col * cell
                region = small[top : top + sprite_size, left : left + sprite_size]
                opaque = sprite[..., 3] > 0
                region[opaque] = sprite[..., :3][opaque]
        top, left = (small.shape[0] - low_h) // 2, (small.shape[1] - low_w) // 2
        small = small[top : top + low_h, left : left + low_w]
    elif variant == "tilemap":
        tile = int(_pick(rng, (8, 16)))
        tiles = _tile_set(rng, tile)
        map_w, map_h = math.ceil(low_w / tile), math.ceil(low_h / tile)
        terrain = _fbm(rng, map_w, map_h, rng.uniform(1.5, 4), 2)
        levels = np.array([0.3, 0.38, 0.7, 0.85])
        names = ("water", "sand", "grass", "forest", "stone")
        kinds = np.searchsorted(levels, terrain)
        small = np.zeros((map_h * tile, map_w * tile, 3), np.uint8)
        for row in range(map_h):
            for col in range(map_w):
                small[row * tile : (row + 1) * tile, col * tile : (col + 1) * tile] = tiles[
                    names[kinds[row, col]]
                ]
        small = small[:low_h, :low_w]
    else:
        small = _pixel_landscape(rng, low_w, low_h)
    big = np.repeat(np.repeat(small, scale, axis=0), scale, axis=1)
    return np.ascontiguousarray(big[:height, :width])
