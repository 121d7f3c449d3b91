"""Toy detector data with a planted generation artifact (helpers; no tests here).

Real images are smooth random scenes with sensor-like noise; generated ones are the same
kind of scene plus the periodic +-A checkerboard that transposed convolutions leave. A
detector that reaches AP > 0.9 on them has learned the artifact, not the content.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def scene(size: int, rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    phase = rng.uniform(0, 6.28, size=3)
    freq = rng.uniform(5, 20, size=3)
    channels = [
        128 + 90 * np.sin(x / freq[c] + phase[c]) * np.cos(y / (freq[c] + 3)) for c in range(3)
    ]
    return np.stack(channels, axis=-1)


# Per channel weight of the planted checkerboard: grey (all channels alike, no colour
# detail) unless a test asks for a coloured one, which a colour-only detector can see too.
GREY = (1.0, 1.0, 1.0)
COLOURED = (1.0, -1.0, 0.0)


def toy_image(
    size: int,
    fake: bool,
    rng: np.random.Generator,
    amplitude: float = 10.0,
    colours: tuple[float, float, float] = GREY,
):
    pixels = scene(size, rng) + rng.normal(0, 4, size=(size, size, 3))
    if fake:
        y, x = np.mgrid[0:size, 0:size]
        checkerboard = np.where((x + y) % 2 == 0, 1.0, -1.0)[..., None]
        pixels = pixels + amplitude * checkerboard * np.asarray(colours)
    return np.clip(pixels, 0, 255).round().astype(np.uint8)


def write_toy_dataset(
    root: Path,
    families: tuple[str, ...] = ("gan",),
    n_real: int = 48,
    n_fake: int = 48,
    size: int = 32,
    seed: int = 0,
    real_format: str = "PNG",
    colours: tuple[float, float, float] = GREY,
) -> Path:
    """The generators' layout: ROOT/<family>/0_real/*.png and ROOT/<family>/1_fake/*.png."""
    rng = np.random.default_rng(seed)
    suffix = ".jpg" if real_format == "JPEG" else ".png"
    for k, family in enumerate(families):
        (root / family / "0_real").mkdir(parents=True, exist_ok=True)
        (root / family / "1_fake").mkdir(parents=True, exist_ok=True)
        for i in range(n_real):
            image = Image.fromarray(toy_image(size, False, rng))
            image.save(root / family / "0_real" / f"{i:04d}{suffix}", real_format)
        for i in range(n_fake):
            amplitude = 10.0 + 4.0 * k
            image = Image.fromarray(toy_image(size, True, rng, amplitude, colours))
            image.save(root / family / "1_fake" / f"{i:04d}.png")
    return root
