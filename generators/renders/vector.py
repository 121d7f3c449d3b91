"""Human-made renders, flat vector art: shapes, strokes and fills over a background."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from generators.renders.drawing import (
    Point,
    Rgb,
    _background,
    _hls,
    _palette,
    _pick,
    _regular_points,
)
from generators.renders.gradient import render_gradient


def _star_points(centre: Point, radius: float, tips: int, inner: float, rotation: float) -> list:
    points = []
    for i in range(2 * tips):
        r = radius if i % 2 == 0 else radius * inner
        angle = rotation + math.pi * i / tips
        points.append((centre[0] + r * math.cos(angle), centre[1] + r * math.sin(angle)))
    return points


_SHAPES = ("circle", "ellipse", "rect", "rounded", "polygon", "star", "triangle", "ring", "pie")


def _draw_shape(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    shape: str,
    centre: Point,
    radius: float,
    fill: tuple[int, ...] | None,
    outline: Rgb | None,
    line_width: int,
) -> None:
    cx, cy = centre
    rotation = rng.uniform(0, 2 * math.pi)
    aspect = rng.uniform(0.4, 1.0)
    box = [cx - radius, cy - radius * aspect, cx + radius, cy + radius * aspect]
    if shape == "circle":
        draw.ellipse(
            [cx - radius, cy - radius, cx + radius, cy + radius], fill, outline, line_width
        )
    elif shape == "ellipse":
        draw.ellipse(box, fill, outline, line_width)
    elif shape == "rect":
        draw.rectangle(box, fill, outline, line_width)
    elif shape == "rounded":
        corner = radius * aspect * rng.uniform(0.15, 0.9)
        draw.rounded_rectangle(box, corner, fill, outline, line_width)
    elif shape == "polygon":
        sides = int(rng.integers(5, 9))
        if rng.random() < 0.5:
            points = _regular_points(centre, radius, sides, rotation)
        else:
            angles = np.sort(rng.uniform(0, 2 * math.pi, sides))
            radii = radius * rng.uniform(0.6, 1.0, sides)
            points = [
                (cx + r * math.cos(a), cy + r * math.sin(a))
                for a, r in zip(angles, radii, strict=True)
            ]
        draw.polygon(points, fill, outline, line_width)
    elif shape == "star":
        tips = int(rng.integers(4, 9))
        points = _star_points(centre, radius, tips, rng.uniform(0.35, 0.6), rotation)
        draw.polygon(points, fill, outline, line_width)
    elif shape == "triangle":
        draw.polygon(_regular_points(centre, radius, 3, rotation), fill, outline, line_width)
    elif shape == "ring":
        ring = max(2, round(radius * rng.uniform(0.1, 0.4)))
        colour = fill if fill is not None else outline
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], None, colour, ring)
    else:
        start = rng.uniform(0, 360)
        draw.pieslice(
            [cx - radius, cy - radius, cx + radius, cy + radius],
            start,
            start + rng.uniform(60, 320),
            fill,
            outline,
            line_width,
        )


def render_vector(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Flat-colour vector art, aliased at 1x or anti-aliased by drawing at 2x/4x."""
    scale = int(_pick(rng, (1, 2, 4), p=(0.35, 0.15, 0.5)))
    big_w, big_h = width * scale, height * scale
    palette = _palette(rng, int(rng.integers(3, 8)))
    if rng.random() < 0.2:
        ground = Image.fromarray(render_gradient(rng, width, height))
        canvas = ground.resize((big_w, big_h), Image.Resampling.BILINEAR)
    else:
        canvas = Image.new("RGB", (big_w, big_h), _background(rng, palette))
    draw = ImageDraw.Draw(canvas, "RGBA")
    outline_kind = _pick(rng, ("none", "dark", "light", "colour"), p=(0.5, 0.25, 0.1, 0.15))
    outline_colour = {
        "none": None,
        "dark": _hls(rng.random(), 0.12, 0.3),
        "light": (255, 255, 255),
        "colour": _pick(rng, palette),
    }[outline_kind]
    line_width = max(1, round(rng.uniform(0.6, 4.0) * scale))
    unit = min(big_w, big_h)
    shadow = rng.random() < 0.2
    shadow_offset = unit * rng.uniform(0.01, 0.04)
    translucent = rng.random() < 0.25
    if rng.random() < 0.25:
        # A repeated motif: icons on a grid, wallpaper, a pattern swatch.
        shape = _pick(rng, _SHAPES)
        step = unit * rng.uniform(0.12, 0.35)
        radius = step * rng.uniform(0.25, 0.45)
        placements = [
            (
                col * step + step / 2,
                row * step + step / 2,
                radius,
                palette[(row + col) % len(palette)],
            )
            for row in range(int(big_h / step) + 1)
            for col in range(int(big_w / step) + 1)
        ]
        shapes = [shape] * len(placements)
    else:
        count = int(rng.integers(3, 26))
        shapes = [_pick(rng, _SHAPES) for _ in range(count)]
        placements = [
            (
                rng.uniform(-0.1, 1.1) * big_w,
                rng.uniform(-0.1, 1.1) * big_h,
                unit * rng.uniform(0.04, 0.35),
                _pick(rng, palette),
            )
            for _ in range(count)
        ]
    for shape, (cx, cy, radius, colour) in zip(shapes, placements, strict=True):
        alpha = int(rng.integers(110, 231)) if translucent else 255
        # The shadow is the same shape, hence the same generator for both.
        form = int(rng.integers(1 << 62))
        if shadow:
            offset = (cx + shadow_offset, cy + shadow_offset)
            shade = (0, 0, 0, 70)
            _draw_shape(draw, np.random.default_rng(form), shape, offset, radius, shade, None, 1)
        fill = (*colour, alpha)
        _draw_shape(
            draw,
            np.random.default_rng(form),
            shape,
            (cx, cy),
            radius,
            fill,
            outline_colour,
            line_width,
        )
    if scale > 1:
        canvas = canvas.reduce(scale)
    return np.asarray(canvas)
