"""Shared fixtures of the generator tests: a fixed toy image set, tiny trained checkpoints.

The checkpoints are trained once per session (tiny presets, CPU) and shared read-only;
tests that modify a checkpoint copy it first.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from generator_helpers import (
    TRAIN_SETTINGS,
    provaudit_home_env,
    train_options,
    write_style_image,
    write_toy_images,
)


@pytest.fixture(scope="session")
def toy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("toy")
    write_toy_images(directory)
    return directory


@pytest.fixture(scope="session")
def style_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The style-transfer tests' style image: a painting drawn by code, outside toy_dir."""
    return write_style_image(tmp_path_factory.mktemp("style") / "painting.png")


@pytest.fixture(scope="session")
def provaudit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the development signing identity of these tests lives: never the user's."""
    return tmp_path_factory.mktemp("provaudit-home")


@pytest.fixture(autouse=True)
def _provaudit_home_env(provaudit_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Per test, not per session: the variable must not leak into other packages' tests.
    monkeypatch.setenv("PROVAUDIT_HOME", str(provaudit_home))


@pytest.fixture(scope="session")
def trust_anchor(provaudit_home: Path) -> bytes:
    from provenance.keys import default_identity

    with provaudit_home_env(provaudit_home):
        identity, _ = default_identity()
    assert identity.root_pem is not None
    return identity.root_pem


@pytest.fixture(scope="session")
def trained(
    tmp_path_factory: pytest.TempPathFactory, toy_dir: Path, style_image: Path
) -> dict[str, object]:
    """TrainResult per family: tiny models, a few CPU steps on the toy set."""
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    from generators.train import train

    root = tmp_path_factory.mktemp("checkpoints")
    return {
        family: train(
            family,
            toy_dir,
            size=32,
            steps=steps,
            out=root / family,
            batch=batch,
            device="cpu",
            seed=0,
            sample_every=steps,
            preset="tiny",
            progress=False,
            **train_options(family, style_image),
        )
        for family, (steps, batch) in TRAIN_SETTINGS.items()
    }
