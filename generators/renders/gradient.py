"""Human-made renders, gradients: linear, radial, conic, diamond or four-corner, some banded."""

from __future__ import annotations

import math

import numpy as np

from generators.renders.drawing import (
    _coords,
    _luma,
    _normalise,
    _palette,
    _pick,
    _ramp,
    _to_uint8,
)


def render_gradient(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Linear, radial, conic, diamond or four-corner gradients, some banded or dithered."""
    stops = int(rng.integers(2, 6))
    colours = np.array(_palette(rng, max(stops, 4)), np.float32)
    if np.ptp(colours[:stops], axis=0).max() < 60:
        # Near-identical stops make a flat fill, not a gradient: push the last one away.
        lift = 100.0 if _luma(colours[0]) < 128 else -100.0
        colours[stops - 1] = np.clip(colours[0] + lift, 0, 255)
    ramp_colours = colours[:stops]
    ramp_positions = np.concatenate(([0.0], np.sort(rng.random(stops - 2)), [1.0]))
    y, x = _coords(width, height)
    centre_x, centre_y = rng.uniform(-0.1, 1.1, 2) * (width, height) / max(width, height)
    shape = _pick(
        rng, ("linear", "radial", "conic", "diamond", "corners"), p=(0.45, 0.25, 0.1, 0.08, 0.12)
    )
    if shape == "linear":
        angle = rng.integers(0, 8) * math.pi / 4 if rng.random() < 0.5 else rng.uniform(0, 7)
        t = _normalise(x * math.cos(angle) + y * math.sin(angle))
    elif shape == "radial":
        stretch = rng.uniform(0.6, 1.6)
        distance = np.hypot((x - centre_x) * stretch, (y - centre_y) / stretch)
        # The radius is relative to the farthest pixel, so the ramp always shows.
        t = distance / (float(distance.max()) * rng.uniform(0.5, 1.1))
    elif shape == "conic":
        t = (np.arctan2(y - centre_y, x - centre_x) / (2 * math.pi) + rng.random()) % 1.0
        # Seamless all round: the ramp ends on the colour it starts with.
        ramp_colours = np.concatenate([colours[:stops], colours[:1]])
        ramp_positions = np.linspace(0.0, 1.0, stops + 1)
    elif shape == "diamond":
        distance = np.abs(x - centre_x) + np.abs(y - centre_y)
        t = distance / (float(distance.max()) * rng.uniform(0.5, 1.1))
    else:
        t = None
    if t is not None:
        if rng.random() < 0.15:
            # Repeating and reflecting gradients, as design tools offer them.
            t = np.abs((t * rng.integers(2, 6)) % 2.0 - 1.0)
        t = np.clip(t, 0.0, 1.0)
        levels = int(rng.integers(6, 33)) if rng.random() < 0.3 else 0
        if levels:
            t = np.floor(t * levels) / (levels - 1)
        image = _ramp(t, ramp_colours, ramp_positions)
    else:
        u = (x / x.max())[..., None]
        v = (y / y.max())[..., None]
        top = colours[0] * (1 - u) + colours[1] * u
        bottom = colours[2] * (1 - u) + colours[3] * u
        image = top * (1 - v) + bottom * v
    image = np.broadcast_to(image, (height, width, 3)).astype(np.float32)
    # Dither as image editors apply it against banding: a level or two of noise, the same
    # in every channel. Ordered (Bayer) dithering per channel is left out: its periodic
    # colour pattern is the very trace upsampling generators leave, and it is rare in
    # images people publish today.
    if rng.random() < 0.4:
        noise = rng.uniform(-1.0, 1.0, (height, width, 1)).astype(np.float32)
        image = image + noise * rng.uniform(1, 3)
    return _to_uint8(image)
