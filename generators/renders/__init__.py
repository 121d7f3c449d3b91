"""Human-made negatives: images drawn by ordinary programs, with no generative model.

A real-vs-AI detector that only ever saw camera photos in its real class learns a
shortcut: smooth, flat and colourful means "AI". People make such images every day with
ordinary software (illustrations, vector art, slides, scanned documents, charts,
screenshots, textures, pixel art, diagrams, digital paintings), and the detector then
flags them falsely. This module draws images of those kinds procedurally, with Pillow,
NumPy and matplotlib, so that they can go into the *real* class of a detector data set.

Every kind is one function ``(rng, width, height) -> uint8 array (height, width, 3)`` in
:data:`RENDERERS`. Image ``k`` of an export is a pure function of ``(seed, k)`` and the
list of kinds (its generator is ``np.random.default_rng([seed, k])``), so any range of an
export can be drawn again alone. Files are byte-identical for the same seed on the same
installation: the fonts found on the machine and the builds of Pillow, libjpeg, libwebp
and matplotlib all shape the bytes.

Text is drawn only with fonts whose licence is known (DejaVu, Liberation, Noto under
/usr/share/fonts, Pillow's embedded Aileron, matplotlib's DejaVu Sans); the export's
``ATTRIBUTION.txt`` names every font file it actually used, with its licence.
"""

from __future__ import annotations

import io
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from generators.renders.chart import MATPLOTLIB_MISSING, matplotlib_available, render_chart
from generators.renders.diagram import render_diagram
from generators.renders.document import render_document
from generators.renders.drawing import (
    _USED_FONTS,
    ATTRIBUTION_FILE,
    EXTENSIONS,
    FORMAT_WEIGHTS,
    FORMATS,
    LOG_FILE,
    MAX_ASPECT,
    MAX_SIDE,
    MIN_SIDE,
    Renderer,
)
from generators.renders.gradient import render_gradient
from generators.renders.painting import render_painting
from generators.renders.pixelart import render_pixelart
from generators.renders.text import render_text
from generators.renders.texture import render_texture
from generators.renders.ui import render_ui
from generators.renders.vector import render_vector
from provenance.errors import DataError

RENDERERS: dict[str, Renderer] = {
    "gradient": render_gradient,
    "vector": render_vector,
    "text": render_text,
    "document": render_document,
    "chart": render_chart,
    "ui": render_ui,
    "texture": render_texture,
    "pixelart": render_pixelart,
    "diagram": render_diagram,
    "painting": render_painting,
}
KINDS: tuple[str, ...] = tuple(RENDERERS)


def draw_size(rng: np.random.Generator) -> tuple[int, int]:
    """Width and height in [MIN_SIDE, MAX_SIDE], width/height in [1/MAX_ASPECT, MAX_ASPECT]."""
    aspect = math.exp(rng.uniform(-math.log(MAX_ASPECT), math.log(MAX_ASPECT)))
    low = max(MIN_SIDE, math.ceil(MIN_SIDE * aspect))
    high = min(MAX_SIDE, math.floor(MAX_SIDE * aspect))
    width = int(rng.integers(low, high + 1))
    height = min(MAX_SIDE, max(MIN_SIDE, round(width / aspect)))
    return width, height


@dataclass(frozen=True, eq=False)
class Render:
    index: int
    kind: str
    pixels: np.ndarray
    format: str
    quality: int | None  # None: PNG or lossless WebP

    def encode(self) -> bytes:
        image = Image.fromarray(self.pixels)
        buffer = io.BytesIO()
        if self.format == "png":
            image.save(buffer, "PNG")
        elif self.format == "jpeg":
            image.save(buffer, "JPEG", quality=self.quality)
        elif self.quality is None:
            image.save(buffer, "WEBP", lossless=True)
        else:
            image.save(buffer, "WEBP", quality=self.quality)
        return buffer.getvalue()


def render(
    seed: int, index: int, kinds: Sequence[str] = KINDS, formats: Sequence[str] = FORMATS
) -> Render:
    """Image ``index`` of an export: its kind is ``kinds[index % len(kinds)]``."""
    kind = kinds[index % len(kinds)]
    rng = np.random.default_rng([seed, index])
    # Format and quality are drawn first, a fixed number of draws, so the pixels do not
    # depend on which formats are allowed.
    weights = np.array([FORMAT_WEIGHTS[name] if name in formats else 0.0 for name in FORMATS])
    image_format = FORMATS[int(rng.choice(len(FORMATS), p=weights / weights.sum()))]
    quality: int | None = int(rng.integers(80, 96))
    lossless = rng.random() < 0.3  # the share of WebP graphics served lossless
    if image_format == "png" or (image_format == "webp" and lossless):
        quality = None
    width, height = draw_size(rng)
    pixels = RENDERERS[kind](rng, width, height)
    return Render(index, kind, pixels, image_format, quality)


def squashed(drawn: Render, size: int) -> Render:
    """``drawn`` resized (Lanczos, aspect not kept) to a ``size`` px square."""
    square = Image.fromarray(drawn.pixels).resize((size, size), Image.Resampling.LANCZOS)
    return replace(drawn, pixels=np.asarray(square.convert("RGB")))


@dataclass(frozen=True)
class RendersSummary:
    folder: Path
    images: int
    counts: dict[str, int]
    formats: dict[str, int]
    fonts: tuple[str, ...]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "images": self.images,
            "counts": self.counts,
            "formats": self.formats,
            "fonts": list(self.fonts),
            "seconds": round(self.seconds, 2),
            "images_per_second": round(self.images / self.seconds, 1) if self.seconds else None,
        }


def _resolve_kinds(kinds: Sequence[str] | None) -> tuple[str, ...]:
    if kinds:
        unknown = sorted(set(kinds) - set(RENDERERS))
        if unknown:
            raise DataError(
                f"Unknown render kind {', '.join(unknown)}; the kinds are {', '.join(KINDS)}."
            )
        chosen = tuple(dict.fromkeys(kinds))
        if "chart" in chosen and not matplotlib_available():
            raise DataError(MATPLOTLIB_MISSING)
        return chosen
    if matplotlib_available():
        return KINDS
    warnings.warn(
        "matplotlib is not installed, so the chart kind is left out: "
        "pip install 'provaudit[train]'.",
        UserWarning,
        stacklevel=3,
    )
    return tuple(kind for kind in KINDS if kind != "chart")


def attribution_text(fonts: Sequence[tuple[str, str]]) -> str:
    lines = [
        "Programmatic renders made by provaudit (generators/renders.py) with Pillow, NumPy",
        "and matplotlib: every pixel is drawn by code, with no photograph, no generative model",
        "and no third-party image content. They are human-made (non-AI) images for the real",
        "class of a detector data set.",
        "",
    ]
    if fonts:
        lines.append("Fonts used to draw text:")
        for name, licence in fonts:
            lines += [f"  {name}", f"    licence: {licence}"]
    else:
        lines.append("No font was used.")
    return "\n".join(lines) + "\n"


def export_renders(
    out_dir: Path | str,
    n: int,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
    formats: Sequence[str] = FORMATS,
    progress: Callable[[int], None] | None = None,
    square: int | None = None,
) -> RendersSummary:
    """Write ``n`` renders spread evenly over ``kinds`` (default: all) to ``out_dir``.

    Files are ``<kind>_<index:05d>.<ext>``; ``renders.jsonl`` records each one and
    ``ATTRIBUTION.txt`` states what they are and which fonts drew their text. Without
    matplotlib, the chart kind is left out with a warning, or is an error when asked for.

    With ``square``, each render is squashed (Lanczos) to a ``square`` px square and
    written as ``<kind>/<index:04d>.png``: the whole picture at a generator's size, filed
    in class folders that a text-conditioned model reads as captions.
    """
    if square is not None and square < 8:
        raise DataError("A square render needs a side of at least 8 px.")
    if n < 1:
        raise DataError("The number of renders must be at least 1.")
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise DataError(
            f"Unknown image format {', '.join(unknown)}; the formats are {', '.join(FORMATS)}."
        )
    chosen = _resolve_kinds(kinds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = dict.fromkeys(chosen, 0)
    format_counts = dict.fromkeys(formats, 0)
    used: set[tuple[str, str]] = set()
    token = _USED_FONTS.set(used)
    started = time.perf_counter()
    try:
        with (out_dir / LOG_FILE).open("w") as log:
            for index in range(n):
                if square is None:
                    image = render(seed, index, chosen, formats)
                    name = f"{image.kind}_{index:05d}.{EXTENSIONS[image.format]}"
                    (out_dir / name).write_bytes(image.encode())
                else:
                    image = squashed(render(seed, index, chosen, ("png",)), square)
                    name = f"{image.kind}/{index:04d}.png"
                    (out_dir / image.kind).mkdir(exist_ok=True)
                    (out_dir / name).write_bytes(image.encode())
                record = {
                    "file": name,
                    "kind": image.kind,
                    "width": int(image.pixels.shape[1]),
                    "height": int(image.pixels.shape[0]),
                    "format": image.format,
                    "quality": image.quality,
                    "seed": seed,
                    "index": index,
                }
                log.write(json.dumps(record) + "\n")
                counts[image.kind] += 1
                format_counts[image.format] += 1
                if progress is not None:
                    progress(1)
    finally:
        _USED_FONTS.reset(token)
    seconds = time.perf_counter() - started
    fonts = sorted(used)
    (out_dir / ATTRIBUTION_FILE).write_text(attribution_text(fonts))
    return RendersSummary(
        out_dir, n, counts, format_counts, tuple(name for name, _ in fonts), seconds
    )
