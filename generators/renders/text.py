"""Human-made renders, typeset text: posters, slides and banners in licensed fonts."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from generators.renders.drawing import (
    _MONTHS,
    Font,
    Rgb,
    _background,
    _contrasting,
    _font,
    _ink,
    _line_height,
    _palette,
    _pick,
    _sentence,
    _title,
    _words,
    _wrap,
)
from generators.renders.gradient import render_gradient


def render_text(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Slides, posters and title cards: a title, then bullets, a paragraph or a figure."""
    palette = _palette(rng, 5)
    if rng.random() < 0.2:
        canvas = Image.fromarray(render_gradient(rng, width, height))
        background = tuple(int(v) for v in np.asarray(canvas).reshape(-1, 3).mean(axis=0))
    else:
        background = _background(rng, palette)
        canvas = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(canvas, "RGBA")
    ink = _ink(background)
    accent = _contrasting(palette, background)
    margin = round(min(width, height) * rng.uniform(0.04, 0.1))
    inner = width - 2 * margin
    centred = rng.random() < 0.4
    title_px = float(np.clip(height * rng.uniform(0.06, 0.14), 9, 72))
    body_px = float(np.clip(title_px * rng.uniform(0.4, 0.65), 7, 36))
    title_font = _font(rng, title_px, bold=rng.random() < 0.7, serif=rng.random() < 0.25)
    body_font = _font(rng, body_px, serif=rng.random() < 0.2)
    small_font = _font(rng, max(7.0, body_px * 0.75))
    x_anchor = width / 2 if centred else margin
    anchor = "ma" if centred else "la"

    def text_line(y: float, text: str, font: Font, colour: Rgb) -> float:
        draw.text((x_anchor, y), text, fill=colour, font=font, anchor=anchor)
        return y + _line_height(font)

    y = float(margin)
    banded = rng.random() < 0.3
    title_lines = _wrap(_title(rng, 2, 6), title_font, inner)[:2]
    if banded:
        band = 1.6 * margin + len(title_lines) * _line_height(title_font)
        draw.rectangle([0, 0, width, band], fill=accent)
    for line in title_lines:
        y = text_line(y, line, title_font, _ink(accent) if banded else ink)
    if banded:
        y = band
    if rng.random() < 0.5:
        y += _line_height(body_font) * 0.3
        for line in _wrap(_sentence(rng, 4, 9), body_font, inner)[:2]:
            y = text_line(y, line, body_font, ink if banded else accent)
    if rng.random() < 0.4 and not centred:
        y += 4
        draw.rectangle([margin, y, margin + inner * rng.uniform(0.15, 1.0), y + 2], fill=accent)
    y += _line_height(body_font) * 0.8
    bottom = height - margin
    body = _pick(rng, ("bullets", "paragraph", "figure"), p=(0.45, 0.35, 0.2))
    if body == "bullets":
        line_h = _line_height(body_font)
        bullet = line_h * 0.2
        square = rng.random() < 0.3
        for _ in range(int(rng.integers(2, 7))):
            lines = _wrap(_sentence(rng, 3, 10), body_font, inner - 3 * bullet)
            if y + line_h > bottom:
                break
            cx, cy = margin + bullet, y + line_h * 0.45
            dot = [cx - bullet, cy - bullet, cx + bullet, cy + bullet]
            (draw.rectangle if square else draw.ellipse)(dot, fill=accent)
            for line in lines:
                if y + line_h > bottom:
                    break
                draw.text((margin + 3.5 * bullet, y), line, fill=ink, font=body_font)
                y += line_h
            y += line_h * 0.3
    elif body == "paragraph":
        text = " ".join(_sentence(rng) for _ in range(int(rng.integers(2, 9))))
        for line in _wrap(text, body_font, inner):
            if y + _line_height(body_font) > bottom:
                break
            y = text_line(y, line, body_font, ink)
    else:
        figure = _pick(rng, ("{}%", "${}M", "{}x", "{}k", "+{}"))
        value = figure.format(int(rng.integers(2, 100)))
        # Bold digits are about 0.75 em wide: the figure fits the width.
        big_px = min(title_px * 2.2, (bottom - y) * 0.6, inner / (0.75 * len(value)))
        big = _font(rng, big_px, bold=True)
        if y + _line_height(big) <= bottom:
            y = text_line(y, value, big, accent)
            for line in _wrap(_sentence(rng, 3, 6), body_font, inner):
                if y + _line_height(body_font) > bottom:
                    break
                y = text_line(y, line, body_font, ink)
    if rng.random() < 0.4:
        footer = _pick(
            rng,
            (
                f"{int(rng.integers(1, 30))} / {int(rng.integers(30, 60))}",
                f"www.{_words(rng, 1)[0]}.org",
                f"{int(rng.integers(1, 29))} {_pick(rng, _MONTHS)} {int(rng.integers(1995, 2026))}",
            ),
        )
        if small_font.getlength(footer) <= inner:
            draw.text((width - margin, height - margin / 2), footer, ink, small_font, anchor="rd")
    return np.asarray(canvas)
