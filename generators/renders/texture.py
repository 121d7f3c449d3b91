"""Human-made renders, procedural textures: noise, marble, wood, checkers, stripes, tiles."""

from __future__ import annotations

import math

import numpy as np

from generators.renders.drawing import (
    _coords,
    _fbm,
    _hls,
    _palette,
    _pick,
    _ramp,
    _smooth_noise,
    _to_uint8,
)


def render_texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Procedural textures: fractal noise, marble, wood, checkers, stripes, tiles, cells."""
    pattern = _pick(rng, ("noise", "marble", "wood", "checker", "stripes", "tiles", "cells"))
    colours = np.array(_palette(rng, int(rng.integers(2, 6))), np.float32)
    y, x = _coords(width, height)
    if pattern == "noise":
        t = _fbm(
            rng, width, height, rng.uniform(2, 8), int(rng.integers(2, 6)), rng.uniform(0.4, 0.65)
        )
        image = _ramp(t, colours)
    elif pattern == "marble":
        turbulence = _fbm(rng, width, height, rng.uniform(2, 5), 5)
        angle = rng.uniform(0, math.pi)
        frequency = rng.uniform(3, 12)
        along = x * math.cos(angle) + y * math.sin(angle)
        veins = np.abs(np.sin((along * frequency + turbulence * rng.uniform(2, 6)) * math.pi))
        t = veins ** rng.uniform(0.3, 3.0)
        image = _ramp(t, colours[:2] if rng.random() < 0.6 else colours)
    elif pattern == "wood":
        hue = rng.uniform(0.04, 0.11)
        light = _hls(hue, rng.uniform(0.55, 0.75), rng.uniform(0.35, 0.6))
        dark = _hls(hue, rng.uniform(0.25, 0.4), rng.uniform(0.35, 0.6))
        centre_x, centre_y = rng.uniform(-1.0, 2.0), rng.uniform(-1.0, 2.0)
        stretch = rng.uniform(2, 8)
        distortion = _fbm(rng, width, height, rng.uniform(2, 6), 3) * rng.uniform(0.5, 2)
        rings = np.hypot(x - centre_x, (y - centre_y) / stretch) * rng.uniform(15, 60) + distortion
        t = (rings % 1.0) ** rng.uniform(0.5, 2.5)
        grain = _smooth_noise(rng, width, height, max(width, height) / 3)
        image = _ramp(t * 0.85 + grain * 0.15, np.array([light, dark], np.float32))
    elif pattern == "checker":
        size = rng.uniform(0.03, 0.2)
        angle = rng.uniform(0, math.pi / 2) if rng.random() < 0.3 else 0.0
        u = (x * math.cos(angle) + y * math.sin(angle)) / size
        v = (y * math.cos(angle) - x * math.sin(angle)) / size
        t = (np.floor(u) + np.floor(v)) % 2
        image = _ramp(t, colours[:2])
    elif pattern == "stripes":
        angle = _pick(rng, (0.0, math.pi / 2, math.pi / 4, rng.uniform(0, math.pi)))
        count = len(colours)
        widths = rng.uniform(0.3, 1.0, count)
        bounds = np.cumsum(widths) / widths.sum()
        period = rng.uniform(0.04, 0.3)
        phase = ((x * math.cos(angle) + y * math.sin(angle)) / period) % 1.0
        image = colours[np.searchsorted(bounds, phase)]
        if rng.random() < 0.3:  # plaid: a crossing set of stripes, half transparent
            cross = ((y * math.cos(angle) - x * math.sin(angle)) / period) % 1.0
            image = 0.5 * image + 0.5 * colours[np.searchsorted(bounds, cross)]
    elif pattern == "tiles":
        tile_h = rng.uniform(0.04, 0.15)
        tile_w = tile_h * _pick(rng, (1.0, 2.0, 3.0))
        row = np.floor(y / tile_h)
        shift = 0.5 * (row % 2) if rng.random() < 0.6 else 0.0
        col = np.floor(x / tile_w + shift)
        fy = (y / tile_h) % 1.0
        fx = (x / tile_w + shift) % 1.0
        mortar = rng.uniform(0.03, 0.1)
        joint = (fy < mortar) | (fx < mortar * tile_h / tile_w)
        # Each tile its own colour and tint, from tables that repeat every 64 tiles.
        rows, cols = row.astype(np.int64) % 64, col.astype(np.int64) % 64
        choice = rng.integers(0, len(colours), (64, 64))
        tint = rng.uniform(-25, 25, (64, 64)).astype(np.float32)
        base = colours[choice[rows, cols]] + tint[rows, cols][..., None]
        grout = np.array(
            _hls(rng.random(), rng.uniform(0.6, 0.9), rng.uniform(0, 0.15)), np.float32
        )
        image = np.where(joint[..., None], grout, base)
    else:
        points = int(rng.integers(6, 30))
        aspect_w, aspect_h = width / max(width, height), height / max(width, height)
        px, py = rng.uniform(0, aspect_w, points), rng.uniform(0, aspect_h, points)
        nearest = np.full((height, width), np.inf, np.float32)
        second = np.full((height, width), np.inf, np.float32)
        owner = np.zeros((height, width), np.int64)
        for index in range(points):
            distance = np.hypot(x - px[index], y - py[index])
            closer = distance < nearest
            second = np.where(closer, nearest, np.minimum(second, distance))
            owner = np.where(closer, index, owner)
            nearest = np.minimum(nearest, distance)
        image = colours[owner % len(colours)]
        edge = np.clip((second - nearest) * max(width, height) / 3.0, 0, 1)[..., None]
        image = image * (0.55 + 0.45 * edge)
    image = np.broadcast_to(image, (height, width, 3)).astype(np.float32)
    if rng.random() < 0.25:
        image = image * (0.85 + 0.3 * _fbm(rng, width, height, 3, 3)[..., None])
    return _to_uint8(image)
