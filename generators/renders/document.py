"""Human-made renders, scanned and exported documents: justified pages, headings, tables."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from generators.renders.drawing import (
    _MONTHS,
    Font,
    Rgb,
    _clip_text,
    _font,
    _line_height,
    _pick,
    _sentence,
    _smooth_noise,
    _title,
    _to_uint8,
    _words,
    _wrap,
)


def _justify(
    draw: ImageDraw.ImageDraw, x: float, y: float, line: str, font: Font, width: float, ink: Rgb
) -> None:
    words = line.split()
    if len(words) < 2:
        draw.text((x, y), line, ink, font)
        return
    widths = [font.getlength(word) for word in words]
    gap = (width - sum(widths)) / (len(words) - 1)
    for word, word_width in zip(words, widths, strict=True):
        draw.text((x, y), word, ink, font)
        x += word_width + gap


def _scan(
    rng: np.random.Generator, page: Image.Image, pad: int, width: int, height: int
) -> np.ndarray:
    """What a flatbed scanner and its software do to a printed page."""
    bed = tuple([int(rng.integers(30, 90))] * 3) if rng.random() < 0.5 else (250, 250, 250)
    angle = float(np.clip(rng.normal(0, 0.8), -2.5, 2.5))
    page = page.rotate(angle, Image.Resampling.BICUBIC, fillcolor=bed)
    left = top = pad
    if rng.random() < 0.3:
        # A page edge and a strip of scanner bed in view.
        left += int(rng.integers(-pad, pad + 1))
        top += int(rng.integers(-pad, pad + 1))
    page = page.crop((left, top, left + width, top + height))
    if rng.random() < 0.7:
        page = page.filter(ImageFilter.GaussianBlur(rng.uniform(0.25, 0.8)))
    pixels = np.asarray(page, np.float32)
    light = 1.0 - rng.uniform(0.0, 0.08) * _smooth_noise(rng, width, height, 2)
    noise = rng.normal(0, rng.uniform(1.0, 4.5), (height, width, 1)).astype(np.float32)
    pixels = pixels * light[..., None] + noise
    if rng.random() < 0.45:
        pixels = np.repeat(pixels.mean(axis=2, keepdims=True), 3, axis=2)
    scanned = Image.fromarray(_to_uint8(pixels))
    if rng.random() < 0.5:
        buffer = io.BytesIO()
        scanned.save(buffer, "JPEG", quality=int(rng.integers(35, 76)))
        scanned = Image.open(buffer).convert("RGB")
    return np.asarray(scanned)


def render_document(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A scanned printed page: headings, justified paragraphs, tables, slightly askew."""
    pad = round(max(width, height) * 0.05)
    page_w, page_h = width + 2 * pad, height + 2 * pad
    tone = int(rng.integers(236, 254))
    paper = (tone, tone - int(rng.integers(0, 5)), tone - int(rng.integers(0, 14)))
    shade = int(rng.integers(5, 60))
    ink = (shade, shade, shade + int(rng.integers(0, 20)))
    page = Image.new("RGB", (page_w, page_h), paper)
    draw = ImageDraw.Draw(page)
    text_px = float(np.clip(page_h / rng.uniform(32, 62), 6, 16))
    serif = rng.random() < 0.6
    body = _font(rng, text_px, serif=serif)
    bold = _font(rng, text_px * rng.uniform(1.3, 2.0), bold=True, serif=serif)
    line_h = _line_height(body) * rng.uniform(1.0, 1.25)
    margin = pad + round(page_w * rng.uniform(0.06, 0.13))
    columns = 2 if page_w > 320 and rng.random() < 0.25 else 1
    gutter = round(page_w * 0.04)
    column_w = (page_w - 2 * margin - gutter * (columns - 1)) / columns
    y = float(pad + round(page_h * rng.uniform(0.04, 0.1)))
    if rng.random() < 0.3:
        date = f"{int(rng.integers(1, 29))} {_pick(rng, _MONTHS)} {int(rng.integers(1960, 2026))}"
        draw.text((page_w - margin, y), date, ink, body, anchor="ra")
        y += line_h * 2
    heading = _title(rng, 2, 7)
    for line in _wrap(heading, bold, page_w - 2 * margin)[:2]:
        if rng.random() < 0.4:
            draw.text((page_w / 2, y), line, ink, bold, anchor="ma")
        else:
            draw.text((margin, y), line, ink, bold)
        y += _line_height(bold)
    y += line_h * 0.6
    justified = rng.random() < 0.6
    indent = text_px * 2 if rng.random() < 0.5 else 0.0
    bottom = page_h - pad - page_h * 0.08
    column_top = y
    for column in range(columns):
        x = margin + column * (column_w + gutter)
        y = column_top
        while y + line_h < bottom:
            block = _pick(rng, ("paragraph", "table", "list", "subheading"), p=(0.7, 0.1, 0.1, 0.1))
            if block == "paragraph":
                text = " ".join(_sentence(rng) for _ in range(int(rng.integers(2, 6))))
                lines = _wrap(text, body, column_w - indent)
                lines = lines[:1] + _wrap(" ".join(lines[1:]), body, column_w)
                for i, line in enumerate(lines):
                    if y + line_h > bottom:
                        break
                    offset = indent if i == 0 else 0.0
                    if justified and i < len(lines) - 1:
                        _justify(draw, x + offset, y, line, body, column_w - offset, ink)
                    else:
                        draw.text((x + offset, y), line, ink, body)
                    y += line_h
                y += line_h * (0.5 if indent == 0 else 0.0)
            elif block == "subheading":
                y += line_h * 0.4
                draw.text((x, y), _title(rng, 1, 4), ink, _font(rng, text_px * 1.15, bold=True))
                y += line_h * 1.3
            elif block == "list":
                for number in range(1, int(rng.integers(3, 6))):
                    if y + line_h > bottom:
                        break
                    line = _wrap(_sentence(rng, 3, 8), body, column_w - text_px * 2)[0]
                    draw.text((x, y), f"{number}.", ink, body)
                    draw.text((x + text_px * 2, y), line, ink, body)
                    y += line_h
                y += line_h * 0.5
            else:
                cols = int(rng.integers(2, 5))
                rows = int(rng.integers(3, 8))
                cell_w = column_w / cols
                draw.line([(x, y), (x + column_w, y)], ink, 1)
                for row in range(rows):
                    if y + line_h * 1.2 > bottom:
                        break
                    for col in range(cols):
                        if row == 0:
                            cell = _words(rng, 1)[0].capitalize()
                        elif col == 0:
                            cell = _words(rng, 1)[0]
                        else:
                            cell = f"{rng.uniform(0, 1000):.{int(rng.integers(0, 3))}f}"
                        cell = _clip_text(cell, body, cell_w - 4)
                        draw.text((x + col * cell_w + 2, y + 2), cell, ink, body)
                    y += line_h * 1.2
                    if row == 0 or rng.random() < 0.3:
                        draw.line([(x, y), (x + column_w, y)], ink, 1)
                draw.line([(x, y), (x + column_w, y)], ink, 1)
                y += line_h * 0.8
    if rng.random() < 0.6:
        number = str(int(rng.integers(1, 300)))
        draw.text((page_w / 2, page_h - pad - page_h * 0.04), number, ink, body, anchor="ma")
    return _scan(rng, page, pad, width, height)
