"""evaluate: KID and precision/recall/density/coverage behave as their definitions say."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from generators.evaluate import (
    RandomFeatures,
    compare_images,
    evaluate,
    kernel_inception_distance,
    precision_recall_density_coverage,
)


def _toy_crops(toy_dir: Path, n: int, seed: int) -> np.ndarray:
    from generators.data import ImageFolder, uint8_to_unit

    crops = [crop for crop, _ in ImageFolder.open(toy_dir, 32).crops(n, seed)]
    return uint8_to_unit(np.stack(crops))


def test_features_are_fixed_across_instances() -> None:
    images = np.random.default_rng(0).uniform(-1, 1, (4, 3, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(RandomFeatures()(images), RandomFeatures()(images))
    assert RandomFeatures()(images).shape == (4, RandomFeatures().dim)


def test_kid_is_zero_for_one_distribution_and_large_for_two() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((200, 16)), rng.standard_normal((200, 16))
    shifted = rng.standard_normal((200, 16)) + 1.0
    same, _ = kernel_inception_distance(a, b, subsets=20, subset_size=100)
    different, _ = kernel_inception_distance(a, shifted, subsets=20, subset_size=100)
    assert abs(same) < 0.05 and different > 10 * abs(same) and different > 0.1


def test_manifold_metrics_on_known_cases() -> None:
    rng = np.random.default_rng(1)
    real = rng.standard_normal((300, 8))
    identical = precision_recall_density_coverage(real, real)
    assert identical["precision"] == identical["recall"] == identical["coverage"] == 1.0
    # Each sample sits in its own real ball plus about k others: density (k + 1) / k.
    assert identical["density"] == pytest.approx(1.2, abs=0.1)
    collapsed = np.repeat(real[:1], 300, axis=0) + 1e-3 * rng.standard_normal((300, 8))
    metrics = precision_recall_density_coverage(real, collapsed)
    assert metrics["precision"] == 1.0  # every sample is realistic...
    assert metrics["coverage"] < 0.05 and metrics["recall"] < 0.05  # ...but one mode only


def test_real_crops_score_better_than_noise(toy_dir: Path) -> None:
    real, more_real = _toy_crops(toy_dir, 120, 0), _toy_crops(toy_dir, 120, 1)
    noise = np.random.default_rng(0).uniform(-1, 1, real.shape).astype(np.float32)
    good, bad = compare_images(real, more_real), compare_images(real, noise)
    assert good.kid < bad.kid and good.precision > bad.precision
    assert good.coverage > 0.5 > bad.coverage


def test_evaluate_a_checkpoint_api_and_cli(trained: dict, toy_dir: Path) -> None:
    report = evaluate(trained["vae"].out_dir, toy_dir, n=40, device="cpu")
    values = report.to_dict()
    assert values["real_images"] == values["fake_images"] == 40
    for name in ("precision", "recall", "coverage"):
        assert 0.0 <= values[name] <= 1.0
    assert np.isfinite(values["kid"])

    from generator_helpers import run_cli

    result = run_cli(
        "generators", "evaluate", str(trained["gan"].out_dir), "--data", str(toy_dir),
        "-n", "20", "--device", "cpu", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)) >= {"kid", "precision", "recall", "density", "coverage"}


def test_model_card_quotes_the_recorded_figures(trained: dict, toy_dir: Path, tmp_path: Path):
    import shutil

    from generator_helpers import run_cli

    checkpoint = tmp_path / "diffusion"
    shutil.copytree(trained["diffusion"].out_dir, checkpoint)
    figures = evaluate(checkpoint, toy_dir, n=20, device="cpu", sampling_steps=5).to_dict()
    (checkpoint / "evaluation.json").write_text(json.dumps(figures))
    log = tmp_path / "train.json"
    log.write_text(json.dumps({"family": "diffusion", "seconds": 754.4, "resumed_from": 1}) + "\n")

    result = run_cli(
        "generators", "model-card", str(checkpoint), "--command", "provaudit generators train x",
        "--hardware", "a 2-core CPU", "--appearance", "Blobs.", "--train-log", str(log),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    card = (checkpoint / "MODEL_CARD.md").read_text()
    steps = trained["diffusion"].steps
    assert f"{steps} steps" in card and "754 s (13 min)" in card and "a 2-core CPU" in card
    assert f"for steps 2-{steps} (the run resumed at step 1)" in card
    # The folder it trained on, in words: not the built-in photos' "six photos".
    images = len([p for p in toy_dir.rglob("*") if p.suffix.lower() in (".png", ".jpg")])
    assert f"`{toy_dir}`, {images} images" in card and "six photos" not in card
    assert f"| {figures['kid']:.4f} ± {figures['kid_std']:.4f} |" in card
    assert "EMA of the weights (decay 0.9)" in card and "Blobs." in card
