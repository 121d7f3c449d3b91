"""The evaluation report (``detectors evaluate --report``), Platt calibration and the
downscale augmentation, on a tiny detector trained on the toy set with a planted artifact.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from detectors.augment import AugmentConfig, augment
from detectors.calibrate import (
    calibration_report,
    ece_noise_floor,
    expected_calibration_error,
    fit_platt,
    fit_temperature,
)
from detectors.checkpoint import read_checkpoint
from detectors.cli import app
from detectors.data import scan
from detectors.detect import open_scorer
from detectors.metrics import average_precision
from detectors.tiles import sigmoid
from detectors.train import TrainConfig, train
from tests.test_detectors_toy import toy_image, write_toy_dataset

SIZE = 32
EVALUATION_PLOTS = ("roc.png", "histograms.png", "robustness.png", "reliability.png")


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_dataset(
        tmp_path_factory.mktemp("toy") / "dataset", families=("gan", "vae"), n_real=40, n_fake=32
    )


@pytest.fixture(scope="module")
def checkpoint(toy_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("ckpt") / "detector"
    config = TrainConfig(
        output=output,
        arch="npr_tiny",
        image_size=SIZE,
        arch_kwargs={"width": 16},
        epochs=4,
        steps_per_epoch=6,
        batch_size=32,
        lr=3e-3,
        patience=10,
    )
    train(scan(datasets=[toy_root], image_size=SIZE), config, quiet=True)
    return output


def _assert_png(path: Path) -> None:
    assert path.is_file(), path
    assert path.stat().st_size > 5_000, f"{path.name} is suspiciously small"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width >= 300 and image.height >= 200
        # A blank canvas has one colour; a plot has axes, text and curves.
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 20


def test_evaluate_report_writes_plots_and_html(checkpoint: Path, toy_root: Path, tmp_path: Path):
    report_dir = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(checkpoint),
            "--dataset",
            str(toy_root),
            "--robustness",
            "--format-check",
            "--backend",
            "torch",
            "--report",
            str(report_dir),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert "scores" not in printed  # per-image scores go to the report folder, not stdout
    stored = json.loads((report_dir / "evaluation.json").read_text())
    assert stored["clean"] == printed["clean"]
    for name in EVALUATION_PLOTS:
        _assert_png(report_dir / name)
    html = (report_dir / "report.html").read_text()
    for name in EVALUATION_PLOTS:
        assert f'src="{name}"' in html
    assert f"{printed['clean']['ap']:.4f}" in html
    assert f"{printed['calibration']['ece']:.4f}" in html
    for family in ("gan", "vae"):
        assert re.search(rf"<td>{family}</td>", html)
    check = printed["format_check"]
    assert "Format check" in html and f"{check['verdict_flips']['png_vs_jpeg']:.4f}" in html
    # Balanced, not the first images of the split (which are all of one class).
    assert check["images_real"] > 0 and check["images_fake"] > 0
    with (report_dir / "scores.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == printed["clean"]["n_real"] + printed["clean"]["n_fake"]
    # The plotted scores are the clean ones the summary was computed from.
    labels = np.array([row["label"] == "fake" for row in rows], dtype=int)
    p_ai = np.array([float(row["p_ai"]) for row in rows])
    assert average_precision(labels, p_ai) == pytest.approx(printed["clean"]["ap"], abs=1e-4)
    # The sweep carries the operating-point figures the robustness plot draws.
    assert {"fake_accuracy", "real_accuracy"} <= set(printed["robustness"]["downscale"]["0.5"])


def test_loo_report(toy_root: Path, tmp_path: Path):
    report_dir = tmp_path / "loo-report"
    # fmt: off
    command = [
        "loo", "--dataset", str(toy_root), "--out", str(tmp_path / "loo"),
        "--image-size", str(SIZE), "--epochs", "1", "--batch-size", "16", "--device", "cpu",
        "--json",
    ]
    # fmt: on
    result = CliRunner().invoke(app, [*command, "--report", str(report_dir)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    _assert_png(report_dir / "loo.png")
    html = (report_dir / "report.html").read_text()
    assert 'src="loo.png"' in html
    for family, row in printed["held_out"].items():
        assert f"<td>{family}</td>" in html
        assert f"{row['ap']:.4f}" in html

    # One family again: its fold is already trained, so it is only scored, to the same AP.
    family = sorted(printed["held_out"])[0]
    weights = next((tmp_path / "loo" / f"without-{family}").rglob("*.safetensors"))
    trained_at = weights.stat().st_mtime_ns
    again = CliRunner().invoke(app, [*command, "--family", family])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["held_out"] == {family: printed["held_out"][family]}
    assert weights.stat().st_mtime_ns == trained_at
    unknown = CliRunner().invoke(
        app, ["loo", "--dataset", str(toy_root), "--out", str(tmp_path / "x"), "--family", "dalle"]
    )
    assert unknown.exit_code == 1 and "No generated images of dalle" in unknown.stderr


# --- calibration --------------------------------------------------------------------------


def test_platt_scaling_fixes_a_shifted_boundary_temperature_cannot():
    """The first default detector's failure: the real/generated boundary sat at logit
    +1.2, not 0. Temperature alone cannot move it; temperature plus shift can."""
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 3, 4000)
    labels = (rng.random(4000) < sigmoid(true_logits)).astype(int)
    shifted = 0.5 * true_logits + 1.5  # underconfident and off-centre
    before = expected_calibration_error(sigmoid(shifted), labels)
    t_only = fit_temperature(shifted, labels)
    temperature_only = expected_calibration_error(sigmoid(shifted / t_only), labels)
    temperature, shift = fit_platt(shifted, labels)
    assert temperature == pytest.approx(0.5, rel=0.1)
    assert shift == pytest.approx(1.5, abs=0.2)
    after = expected_calibration_error(sigmoid((shifted - shift) / temperature), labels)
    assert after < 0.02 < temperature_only < before


def test_platt_fit_stays_finite_on_a_separable_split():
    logits = np.r_[np.linspace(-3, 0.9, 100), np.linspace(1.1, 4, 100)]
    labels = np.r_[np.zeros(100), np.ones(100)].astype(int)
    temperature, shift = fit_platt(logits, labels)
    assert temperature == pytest.approx(0.05)  # the bound; maximum likelihood wants 0
    assert 0.9 < shift < 1.1  # the boundary lands in the gap
    smoothed, _ = fit_platt(logits, labels, smooth=True)
    assert 0.05 < smoothed < 1.0
    report = calibration_report(
        logits, labels, logits[labels == 0], heldout_logits=logits, heldout_labels=labels
    )
    assert report["ece_after"] < report["ece_before"]
    assert report["ece_after_heldout"] == pytest.approx(report["ece_after"])


def test_ece_noise_floor_is_what_a_perfectly_calibrated_detector_measures():
    """Binned ECE on a few hundred images is biased upwards by sampling alone; the floor
    says how far, so a goal like ECE <= 0.03 can be judged against what is measurable."""
    rng = np.random.default_rng(2)
    probs = sigmoid(rng.normal(0, 1.5, 400))
    measured = [
        expected_calibration_error(probs, (rng.random(400) < probs).astype(int)) for _ in range(100)
    ]
    floor = ece_noise_floor(probs)
    assert floor == pytest.approx(float(np.mean(measured)), rel=0.15)
    assert floor > 0.03  # 400 such images cannot show ECE <= 0.03
    assert ece_noise_floor(sigmoid(rng.normal(0, 1.5, 40000)), draws=20) < floor / 5


def test_calibrate_command_folds_the_shift_into_the_weights(
    checkpoint: Path, toy_root: Path, tmp_path: Path
):
    """Scores from torch and ONNX after `calibrate` both carry the shift; the threshold
    still gives the requested FPR on the calibration reals."""
    from detectors.onnx_export import TOLERANCE, export_onnx

    copy = tmp_path / "copy"
    shutil.copytree(checkpoint, copy)
    export_onnx(copy)
    data = scan(datasets=[toy_root], image_size=SIZE)
    result = CliRunner().invoke(
        app, ["calibrate", str(copy), "--dataset", str(toy_root), "--fpr", "0.05", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    spec = read_checkpoint(copy).spec
    assert spec.calibration["logit_shift"] == pytest.approx(report["logit_shift"])
    assert report["temperature"] > 0 and "ece_after_heldout" in report
    calib_real = [s for s in data.split("calib") if s.label == 0]
    images = [data.pixels(s) for s in calib_real]
    scorer = open_scorer(copy, backend="torch")
    torch_probs = scorer.probabilities(scorer.score_pixels(images).logits)
    assert np.mean(torch_probs > spec.threshold) <= 0.05
    # The ONNX export was redone from the new weights: it applies the same shift.
    scorer = open_scorer(copy, backend="onnx")
    assert scorer.backend == "onnxruntime"
    onnx_probs = scorer.probabilities(scorer.score_pixels(images).logits)
    assert np.max(np.abs(torch_probs - onnx_probs)) <= TOLERANCE


# --- downscale augmentation ---------------------------------------------------------------


def test_downscale_augmentation_shrinks_without_resizing_up():
    """With only downscaling on, a view of a fine checkerboard loses the pattern's energy
    (bicubic shrinking averages it out); with it off the view is an exact window."""
    rng = np.random.default_rng(0)
    image = toy_image(96, True, rng, amplitude=40.0)
    only_downscale = AugmentConfig(
        blur_prob=0.0, jpeg_prob=0.0, flip=False, same_codec="none", downscale_prob=1.0
    )

    def checker_energy(view: np.ndarray) -> float:
        y, x = np.mgrid[0:SIZE, 0:SIZE]
        sign = np.where((x + y) % 2 == 0, 1.0, -1.0)[..., None]
        return abs(float(np.mean(view.astype(np.float64) * sign)))

    plain = [
        augment(image, SIZE, np.random.default_rng(k), AugmentConfig.disabled()) for k in range(20)
    ]
    shrunk = [augment(image, SIZE, np.random.default_rng(k), only_downscale) for k in range(20)]
    assert all(view.shape == (SIZE, SIZE, 3) and view.dtype == np.uint8 for view in shrunk)
    assert np.mean([checker_energy(v) for v in shrunk]) < 0.5 * np.mean(
        [checker_energy(v) for v in plain]
    )
    # A tile-sized image shrunk to half is reflection-padded back to a tile, as inference does.
    small = toy_image(SIZE, False, rng)
    for k in range(20):
        assert augment(small, SIZE, np.random.default_rng(k), only_downscale).shape == (
            SIZE,
            SIZE,
            3,
        )
    assert AugmentConfig.disabled().downscale_prob == 0.0
