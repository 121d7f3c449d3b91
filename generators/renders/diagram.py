"""Human-made renders, flowcharts: labelled boxes, decisions and terminals joined by arrows."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from generators.renders.drawing import (
    Point,
    Rgb,
    _font,
    _hls,
    _ink,
    _line_height,
    _mix,
    _palette,
    _pick,
    _sentence,
    _title,
    _wrap,
)


def _dashed(
    draw: ImageDraw.ImageDraw, start: Point, end: Point, colour: Rgb, width: int, dash: float
) -> None:
    length = math.dist(start, end)
    if length == 0:
        return
    dx, dy = (end[0] - start[0]) / length, (end[1] - start[1]) / length
    position = 0.0
    while position < length:
        stop = min(position + dash, length)
        draw.line(
            [
                (start[0] + dx * position, start[1] + dy * position),
                (start[0] + dx * stop, start[1] + dy * stop),
            ],
            colour,
            width,
        )
        position += 2 * dash


def _arrowhead(
    draw: ImageDraw.ImageDraw, tip: Point, direction: Point, size: float, colour: Rgb
) -> None:
    dx, dy = direction
    norm = math.hypot(dx, dy) or 1.0
    dx, dy = dx / norm, dy / norm
    back = (tip[0] - dx * size, tip[1] - dy * size)
    draw.polygon(
        [
            tip,
            (back[0] - dy * size * 0.5, back[1] + dx * size * 0.5),
            (back[0] + dy * size * 0.5, back[1] - dx * size * 0.5),
        ],
        fill=colour,
    )


@dataclass
class _Node:
    centre: Point
    half: Point
    shape: str
    lines: list[str]
    children: list[int] = field(default_factory=list)


def render_diagram(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A flowchart: labelled boxes, decisions and terminals joined by arrows."""
    scale = 2 if rng.random() < 0.5 else 1
    big_w, big_h = width * scale, height * scale
    theme = _pick(rng, ("white", "paper", "blueprint", "dark"), p=(0.55, 0.15, 0.15, 0.15))
    pastel = _palette(rng, 5)
    if theme == "blueprint":
        background, line, fills = _hls(rng.uniform(0.58, 0.64), 0.3, 0.6), (235, 240, 250), [None]
    elif theme == "dark":
        background, line = _hls(rng.random(), 0.14, 0.15), (220, 220, 225)
        fills = [_hls(rng.random(), 0.3, 0.35)]
    else:
        background = (255, 255, 255) if theme == "white" else (250, 248, 240)
        line = (int(rng.integers(20, 80)),) * 3
        fills = pastel if rng.random() < 0.6 else [(255, 255, 255)]
    canvas = Image.new("RGB", (big_w, big_h), background)
    draw = ImageDraw.Draw(canvas)
    if theme == "blueprint" or rng.random() < 0.2:
        grid = max(6, round(min(big_w, big_h) / rng.uniform(12, 30)))
        grid_colour = _mix(background, line, 0.15)
        for gx in range(0, big_w, grid):
            draw.line([gx, 0, gx, big_h], grid_colour)
        for gy in range(0, big_h, grid):
            draw.line([0, gy, big_w, gy], grid_colour)
    stroke = max(1, round(rng.uniform(1, 3) * scale))
    font_px = float(np.clip(min(big_w, big_h) / rng.uniform(18, 30), 7 * scale, 18 * scale))
    margin = min(big_w, big_h) * 0.05
    top = margin
    if rng.random() < 0.3 and big_h > 6 * font_px:
        title_font = _font(rng, font_px * 1.4, bold=True)
        draw.text((big_w / 2, margin), _title(rng, 2, 4), line, title_font, anchor="ma")
        top += _line_height(title_font) * 1.5
    vertical = rng.random() < (0.7 if big_h >= big_w * 0.8 else 0.3)
    layers = int(rng.integers(2, 5))
    extent_along = (big_h - top - margin) if vertical else (big_w - 2 * margin)
    extent_across = (big_w - 2 * margin) if vertical else (big_h - top - margin)
    along_step = extent_along / layers
    # Two label lines and padding (about 3.6 font sizes) fit the height a box may take.
    box_room = 0.6 * (along_step if vertical else extent_across / 3)
    font_px = max(6.0 * scale, min(font_px, box_room / 3.6))
    font = _font(rng, font_px, bold=rng.random() < 0.2, mono=rng.random() < 0.15)
    line_h = _line_height(font)
    nodes: list[_Node] = []
    layer_nodes: list[list[int]] = []
    for layer in range(layers):
        count = 1 if layer in (0, layers - 1) and rng.random() < 0.6 else int(rng.integers(1, 4))
        across_step = extent_across / count
        room_w = (across_step if vertical else along_step) * 0.8
        room_h = (along_step if vertical else across_step) * 0.6
        members = []
        for slot in range(count):
            if layer in (0, layers - 1) and rng.random() < 0.5:
                shape = "terminal"
            else:
                shape = _pick(
                    rng,
                    ("rect", "rounded", "diamond", "data", "store"),
                    p=(0.35, 0.35, 0.15, 0.1, 0.05),
                )
            label = (
                _title(rng, 1, 3)
                if layer == 0 or rng.random() < 0.5
                else _sentence(rng, 1, 3).rstrip(".?")
            )
            lines = _wrap(label, font, room_w * 0.8)[:2]
            text_w = max(font.getlength(text) for text in lines)
            widen = 1.7 if shape == "diamond" else 1.25 if shape in ("terminal", "data") else 1.0
            half_w = min(room_w, text_w * widen + font_px * 1.6) / 2
            half_h = (
                min(room_h, (len(lines) * line_h + font_px) * (1.5 if shape == "diamond" else 1.0))
                / 2
            )
            along = (top if vertical else margin) + (layer + 0.5) * along_step
            across = (margin if vertical else top) + (slot + 0.5) * across_step
            centre = (across, along) if vertical else (along, across)
            nodes.append(_Node(centre, (half_w, half_h), shape, lines))
            members.append(len(nodes) - 1)
        layer_nodes.append(members)
    for upper, lower in itertools.pairwise(layer_nodes):
        for child in lower:
            nodes[upper[int(rng.integers(len(upper)))]].children.append(child)
        for parent in upper:
            if not nodes[parent].children or rng.random() < 0.2:
                nodes[parent].children.append(lower[int(rng.integers(len(lower)))])
    elbows = rng.random() < 0.5
    dashed = rng.random() < 0.1
    arrow = font_px * rng.uniform(0.5, 0.8)
    for node in nodes:
        for index, child in enumerate(dict.fromkeys(node.children)):
            target = nodes[child]
            if vertical:
                start = (node.centre[0], node.centre[1] + node.half[1])
                end = (target.centre[0], target.centre[1] - target.half[1])
                middle = (start[1] + end[1]) / 2
                path = (
                    [start, (start[0], middle), (end[0], middle), end] if elbows else [start, end]
                )
            else:
                start = (node.centre[0] + node.half[0], node.centre[1])
                end = (target.centre[0] - target.half[0], target.centre[1])
                middle = (start[0] + end[0]) / 2
                path = (
                    [start, (middle, start[1]), (middle, end[1]), end] if elbows else [start, end]
                )
            for a, b in itertools.pairwise(path):
                if dashed:
                    _dashed(draw, a, b, line, stroke, font_px * 0.4)
                else:
                    draw.line([a, b], line, stroke)
            _arrowhead(draw, end, (end[0] - path[-2][0], end[1] - path[-2][1]), arrow, line)
            if node.shape == "diamond" and index < 2:
                draw.text(
                    (start[0] + font_px * 0.3, start[1] + font_px * 0.2),
                    ("yes", "no")[index],
                    line,
                    font,
                )
    for node in nodes:
        (cx, cy), (hw, hh) = node.centre, node.half
        fill = _pick(rng, fills)
        box = [cx - hw, cy - hh, cx + hw, cy + hh]
        if node.shape == "rect":
            draw.rectangle(box, fill, line, stroke)
        elif node.shape == "rounded":
            draw.rounded_rectangle(box, min(hw, hh) * 0.35, fill, line, stroke)
        elif node.shape == "terminal":
            draw.rounded_rectangle(box, hh, fill, line, stroke)
        elif node.shape == "diamond":
            draw.polygon(
                [(cx, cy - hh), (cx + hw, cy), (cx, cy + hh), (cx - hw, cy)], fill, line, stroke
            )
        elif node.shape == "data":
            slant = hh * 0.6
            draw.polygon(
                [
                    (cx - hw + slant, cy - hh),
                    (cx + hw, cy - hh),
                    (cx + hw - slant, cy + hh),
                    (cx - hw, cy + hh),
                ],
                fill,
                line,
                stroke,
            )
        else:
            lid = hh * 0.35
            draw.rectangle([cx - hw, cy - hh + lid / 2, cx + hw, cy + hh - lid / 2], fill)
            draw.ellipse([cx - hw, cy + hh - lid, cx + hw, cy + hh], fill, line, stroke)
            draw.line([cx - hw, cy - hh + lid / 2, cx - hw, cy + hh - lid / 2], line, stroke)
            draw.line([cx + hw, cy - hh + lid / 2, cx + hw, cy + hh - lid / 2], line, stroke)
            draw.ellipse([cx - hw, cy - hh, cx + hw, cy - hh + lid], fill, line, stroke)
        ink = line if fill is None else _ink(fill)
        first = cy - (len(node.lines) - 1) * line_h / 2
        for i, text in enumerate(node.lines):
            draw.text((cx, first + i * line_h), text, ink, font, anchor="mm")
    if scale > 1:
        canvas = canvas.reduce(scale)
    return np.asarray(canvas)
