"""Helpers of the generator tests (a module with a unique name, not conftest, so that
tests can import them whatever other conftest files the suite grows)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

TOY_IMAGES = 12
TOY_SIZE = 48
# (steps, batch) per family: the fewest that make each loss fall clearly on 2 CPU cores.
TRAIN_SETTINGS = {
    "gan": (60, 16),
    "diffusion": (30, 8),
    "vae": (40, 16),
    "pixelcnn": (30, 8),
    "style": (30, 4),
    "text_diffusion": (30, 8),
}
# The mean loss of the last 5 steps must fall below this fraction of the first 5's.
# Observed on seeds 0-4: gan <= 0.80, diffusion <= 0.52, vae <= 0.76, style <= 0.56;
# pixelcnn (bits/dim) on seeds 0-2 <= 0.78.
LOSS_RATIO_LIMIT = {
    "gan": 0.9,
    "diffusion": 0.7,
    "vae": 0.85,
    "pixelcnn": 0.85,
    "style": 0.75,
    "text_diffusion": 0.7,
}
STYLE_IMAGE_SIZE = 96
REPO_ROOT = Path(__file__).resolve().parents[2]


def write_toy_images(directory: Path, count: int = TOY_IMAGES, size: int = TOY_SIZE) -> list[Path]:
    """Gradients with one disc each: structured enough that every family's loss can fall."""
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)
    grid_y, grid_x = np.mgrid[0:size, 0:size] / (size - 1)
    paths = []
    for index in range(count):
        start, end = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        angle = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(angle) * grid_x + np.sin(angle) * grid_y
        ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
        image = start * (1 - ramp[..., None]) + end * ramp[..., None]
        centre_x, centre_y = rng.uniform(0.2, 0.8, 2) * size
        radius = rng.uniform(0.1, 0.25) * size
        disc = (grid_x * (size - 1) - centre_x) ** 2 + (grid_y * (size - 1) - centre_y) ** 2
        image[disc < radius**2] = rng.uniform(0, 255, 3)
        path = directory / f"toy_{index:02d}.png"
        Image.fromarray(image.astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def write_style_image(path: Path, size: int = STYLE_IMAGE_SIZE, seed: int = 7) -> Path:
    """A digital painting drawn by code (generators.renders.painting): the style image of
    the style-transfer tests, human-made and shippable."""
    from PIL import Image

    from generators.renders.painting import render_painting

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(render_painting(np.random.default_rng(seed), size, size)).save(path)
    return path


def train_options(family: str, style_image: Path) -> dict[str, object]:
    """What ``train`` needs beyond the common settings: the style family's --style."""
    return {"style": style_image} if family == "style" else {}


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("PROVAUDIT_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "provenance", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO_ROOT,
    )


@contextmanager
def provaudit_home_env(home: Path) -> Iterator[None]:
    """For session and module fixtures, which are set up before the per-test variable."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROVAUDIT_HOME", str(home))
        yield
