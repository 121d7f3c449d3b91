"""Human-made renders, digital paintings: brush strokes over a procedural reference."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from generators.renders.drawing import (
    _coords,
    _fbm,
    _hls,
    _jitter,
    _normalise,
    _palette,
    _pick,
    _ramp,
    _smooth_noise,
    _to_uint8,
)


def _painting_reference(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """The scene the painter has in mind: a smooth colour field the strokes sample."""
    scene = _pick(rng, ("landscape", "abstract", "still_life"), p=(0.45, 0.3, 0.25))
    rows = (np.arange(height, dtype=np.float32) / height)[:, None, None]
    palette = np.array(_palette(rng, 5), np.float32)
    if scene == "landscape":
        warm = rng.random() < 0.35
        top = _hls(rng.uniform(0.55, 0.66), rng.uniform(0.35, 0.6), rng.uniform(0.4, 0.8))
        low = _hls(rng.uniform(0.02, 0.12), 0.7, 0.8) if warm else _hls(0.58, 0.85, 0.5)
        image = np.asarray(top, np.float32) * (1 - rows) + np.asarray(low, np.float32) * rows
        image = np.broadcast_to(image, (height, width, 3)).copy()
        horizon = rng.uniform(0.35, 0.7)
        layers = int(rng.integers(1, 4))
        ground_hue = rng.uniform(0.2, 0.4) if rng.random() < 0.7 else rng.uniform(0.05, 0.12)
        row_index = np.arange(height)[:, None]
        for layer in range(layers):
            level = horizon + (1 - horizon) * layer / (layers + 1)
            ridge = (
                level - _smooth_noise(rng, width, 1, rng.uniform(2, 6))[0] * rng.uniform(0.05, 0.25)
            ) * height
            colour = np.array(_hls(ground_hue + 0.04 * layer, 0.5 - 0.1 * layer, 0.45), np.float32)
            texture = 0.8 + 0.4 * _fbm(rng, width, height, 4, 3)[..., None]
            mask = row_index > ridge[None, :]
            image[mask] = (colour * texture)[mask]
    elif scene == "abstract":
        warp = _fbm(rng, width, height, rng.uniform(1.5, 4), 3)
        t = _fbm(rng, width, height, rng.uniform(1.5, 4), 3) * 0.6 + warp * 0.4
        image = _ramp(_normalise(t), palette)
    else:
        a, b = palette[0], palette[1] * 0.5 + 40
        image = np.broadcast_to(a * (1 - rows) + b * rows, (height, width, 3)).copy()
        y, x = _coords(width, height)
        light = rng.uniform(-1, 1, 2)
        for colour in palette[2:] if rng.random() < 0.5 else palette[1:]:
            cx, cy = (
                rng.uniform(0.2, 0.8) * width / max(width, height),
                rng.uniform(0.35, 0.85) * height / max(width, height),
            )
            rx, ry = rng.uniform(0.08, 0.25, 2)
            dx, dy = (x - cx) / rx, (y - cy) / ry
            inside = dx**2 + dy**2 <= 1
            shading = np.clip(1.0 - 0.35 * (dx * light[0] + dy * light[1]), 0.4, 1.4)
            image = np.where(inside[..., None], colour * shading[..., None], image)
    return image


def render_painting(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A digital painting: semi-transparent brush strokes from coarse to fine, along a flow."""
    reference = _painting_reference(rng, width, height)
    if rng.random() < 0.5:
        ground = Image.fromarray(_to_uint8(reference)).filter(
            ImageFilter.BoxBlur(max(width, height) / 30)
        )
    else:
        ground = Image.new(
            "RGB", (width, height), _jitter(rng, tuple(int(v) for v in reference.mean((0, 1))), 20)
        )
    draw = ImageDraw.Draw(ground, "RGBA")
    flow = _fbm(rng, width, height, rng.uniform(1.5, 4), 2) * rng.uniform(1, 4) * math.pi
    flow = flow + rng.uniform(0, 2 * math.pi)
    long_side = max(width, height)
    passes = int(rng.integers(3, 6))
    sizes = np.geomspace(
        long_side * rng.uniform(0.05, 0.09), long_side * rng.uniform(0.006, 0.012), passes
    )
    colour_jitter = rng.uniform(5, 25)
    budget = int(rng.integers(600, 1600))
    for size in sizes:
        count = int(min(budget / passes, width * height / (size * size) * 0.8)) + 1
        xs = rng.uniform(0, width - 1, count)
        ys = rng.uniform(0, height - 1, count)
        alphas = rng.integers(70, 230, count)
        lengths = size * rng.uniform(1.5, 5.0, count)
        dabs = rng.random(count) < 0.15
        noise = rng.normal(0, colour_jitter, (count, 3))
        picked = reference[ys.astype(int), xs.astype(int)] + noise
        colours = np.clip(picked, 0, 255).astype(int).tolist()
        # Every stroke follows the flow field for three steps, all strokes at once.
        x, y = xs, ys
        path = [np.stack([x, y], axis=1)]
        step = lengths / 3
        for _ in range(3):
            angle = flow[
                np.clip(y.astype(int), 0, height - 1), np.clip(x.astype(int), 0, width - 1)
            ]
            x, y = x + step * np.cos(angle), y + step * np.sin(angle)
            path.append(np.stack([x, y], axis=1))
        paths = np.stack(path, axis=1).reshape(count, -1).tolist()
        brush = max(1, round(size))
        joint = "curve" if brush > 3 else None
        radius = size * 0.6
        for i in range(count):
            fill = (*colours[i], int(alphas[i]))
            if dabs[i]:
                cx, cy = paths[i][0], paths[i][1]
                draw.ellipse([cx - radius, cy - radius * 0.7, cx + radius, cy + radius * 0.7], fill)
            else:
                draw.line(paths[i], fill=fill, width=brush, joint=joint)
    image = np.asarray(ground)
    if rng.random() < 0.3:  # canvas weave showing through
        weave = rng.normal(0, rng.uniform(2, 6), (height, width, 1))
        image = _to_uint8(image + weave)
    return image
