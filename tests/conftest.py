"""Shared fixtures: an isolated PROVAUDIT_HOME, images made on the fly, a CLI runner."""

from __future__ import annotations

import io
import os
import subprocess
import sys

# Under pytest-xdist every core already runs a worker: one thread each (and in the CLIs they
# start), or torch's OpenMP threads oversubscribe the cores and a test runs many times slower.
# Set before numpy and torch are imported, which read it once.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
C2PA_FIXTURES = FIXTURES / "c2pa"
SHARED = REPO_ROOT.parent / "shared"


def make_image(size: tuple[int, int] = (256, 192), seed: int = 0) -> Image.Image:
    """A photo-like test image: smooth gradients plus mild noise (compresses like a photo)."""
    rng = np.random.default_rng(seed)
    height, width = size[1], size[0]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 6.28, size=3)
    channels = [
        127 + 100 * np.sin(x / (17 + 5 * i) + phase[i]) * np.cos(y / (23 + 3 * i)) for i in range(3)
    ]
    pixels = np.stack(channels, axis=-1) + rng.normal(0, 6, size=(height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def provaudit_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own data directory, so the dev identity never leaks between tests."""
    home = tmp_path_factory.mktemp("provaudit-home")
    monkeypatch.setenv("PROVAUDIT_HOME", str(home))
    return home


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(provaudit_home: Path) -> Iterator:
    """Run ``provaudit`` as a real subprocess, the way a user does."""

    def run(*args: str | os.PathLike, cwd: Path | None = None) -> CliResult:
        env = dict(os.environ, PROVAUDIT_HOME=str(provaudit_home), COLUMNS="200")
        completed = subprocess.run(
            [sys.executable, "-m", "provenance", *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=120,
        )
        return CliResult(completed.returncode, completed.stdout, completed.stderr)

    yield run
