"""Detectors: architectures, transforms, data, training, checkpoints, calibration, ONNX, CLI.

Everything runs on the CPU with real torch on 32 px toy images; one small training run is
shared by the tests that need a trained checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from detectors.architectures import (
    UnknownDetectorError,
    create_detector,
    list_detectors,
    model_from_spec,
)
from detectors.augment import AugmentConfig, augment, equalize_codec
from detectors.calibrate import (
    calibration_report,
    expected_calibration_error,
    fit_temperature,
    fpr_threshold,
)
from detectors.checkpoint import read_checkpoint
from detectors.cli import app, detect_app
from detectors.data import SkippedFilesWarning, balanced_indices, scan
from detectors.detect import open_scorer
from detectors.evaluate import evaluate
from detectors.loading import load_checkpoint
from detectors.metrics import average_precision, roc_auc
from detectors.model import TorchScorer
from detectors.spec import DetectorSpec
from detectors.tiles import image_tiles, sigmoid
from detectors.train import TrainConfig, train
from detectors.transforms import ChromaResidual, LogSpectrum, NPRResidual
from provenance.errors import CheckpointError, ImageTooSmallError
from tests.conftest import REPO_ROOT
from tests.test_detectors_toy import toy_image, write_toy_dataset

SIZE = 32
RESULT_KEYS = {
    "path",
    "p_ai",
    "label",
    "reason",
    "threshold",
    "attribution",
    "tiles",
    "checks",
    "error",
}


def tiny_config(output: Path, **overrides: object) -> TrainConfig:
    options: dict = dict(
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
    options.update(overrides)
    return TrainConfig(**options)


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_dataset(
        tmp_path_factory.mktemp("toy") / "dataset", families=("gan", "vae"), n_real=40, n_fake=32
    )


@pytest.fixture(scope="module")
def trained(toy_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    data = scan(datasets=[toy_root], image_size=SIZE)
    checkpoint = tmp_path_factory.mktemp("ckpt") / "detector"
    train(data, tiny_config(checkpoint), quiet=True)
    return checkpoint, data


# --- architectures and transforms -------------------------------------------------------


@pytest.mark.parametrize("name", list_detectors())
def test_every_registered_detector_builds_offline_and_gives_both_heads(name):
    model = create_detector(name, families=["gan", "vae"], image_size=SIZE).eval()
    with torch.no_grad():
        logit, attribution = model(torch.zeros(2, 3, SIZE, SIZE))
    assert logit.shape == (2,)
    assert attribution.shape == (2, 3)  # real + 2 families
    assert model.spec.classes == ["real", "gan", "vae"]


def test_none_kwargs_keep_defaults_and_unknown_names_are_refused():
    model = create_detector("npr_tiny", width=None, transform=None, image_size=SIZE)
    assert model.spec.arch_kwargs == {}
    assert model.spec.transform == "npr"
    with pytest.raises(UnknownDetectorError, match="no detector architecture named"):
        create_detector("resnet9000")
    with pytest.raises(UnknownDetectorError, match="input transform"):
        create_detector("npr_tiny", transform="wavelet")


def test_small_input_stems():
    resnet = create_detector("resnet18", image_size=SIZE)
    assert resnet.backbone.conv1.kernel_size == (3, 3)
    assert resnet.backbone.conv1.stride == (1, 1)
    assert isinstance(resnet.backbone.maxpool, torch.nn.Identity)
    convnext = create_detector("convnext_atto", image_size=SIZE)
    assert convnext.backbone.stem[0].kernel_size == (2, 2)


def test_npr_residual_vanishes_on_nearest_upsampled_images():
    small = torch.rand(1, 3, 8, 8)
    upsampled = torch.nn.functional.interpolate(small, scale_factor=2.0, mode="nearest")
    assert torch.allclose(NPRResidual()(upsampled), torch.zeros_like(upsampled))
    assert NPRResidual()(torch.rand(1, 3, 16, 16)).abs().sum() > 0


def test_npr_raw_transform_feeds_pixels_and_residual_to_a_six_channel_backbone():
    model = create_detector("npr_small", transform="npr_raw", image_size=SIZE).eval()
    assert model.spec.arch_kwargs == {"stages": 3, "in_chans": 6}
    x = torch.rand(2, 3, SIZE, SIZE) * 2 - 1
    features = model.transform(x)
    assert features.shape == (2, 6, SIZE, SIZE)
    assert torch.equal(features[:, :3], x)
    assert torch.allclose(features[:, 3:], NPRResidual()(x))
    # A checkpoint's spec rebuilds the same network (the defaults are stored, not re-derived).
    rebuilt = model_from_spec(DetectorSpec.from_dict(model.spec.to_dict()))
    rebuilt.load_state_dict(model.state_dict())


def test_chroma_residual_sees_fine_colour_detail_and_nothing_else():
    # Grey images (R = G = B) have no chroma, however much luminance detail they carry.
    grey = (torch.rand(2, 1, SIZE, SIZE) * 2 - 1).expand(2, 3, SIZE, SIZE)
    assert ChromaResidual()(grey).abs().max() < 1e-6
    # Colour that only changes at the 2x2-block scale has no fine detail either.
    blocks = torch.nn.functional.interpolate(torch.rand(2, 3, 8, 8), scale_factor=4.0)
    assert ChromaResidual()(blocks).abs().max() < 1e-6
    colour_noise = torch.zeros(2, 3, SIZE, SIZE)
    colour_noise[:, 0] = torch.rand(2, SIZE, SIZE) * 0.1
    assert ChromaResidual()(colour_noise).abs().mean() > 0.01


def test_mixed_codec_draws_png_jpeg_and_webp_alike_for_every_image():
    rng = np.random.default_rng(0)
    image = toy_image(32, False, rng)
    outcomes = {"png": 0, "lossy": 0}
    draws = np.random.default_rng(1)
    for _ in range(60):
        out = equalize_codec(image, "mixed", draws)
        outcomes["png" if np.array_equal(out, image) else "lossy"] += 1
    # One in three is left as decoded; the rest went through JPEG or WebP at q90-100.
    assert 10 <= outcomes["png"] <= 30 and outcomes["lossy"] >= 30
    with pytest.raises(ValueError, match="mixed"):
        equalize_codec(image, "gif:3")


def test_log_spectrum_matches_torch_fft():
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    expected = torch.log(torch.sqrt(torch.fft.fft2(x, norm="ortho").abs() ** 2 + 1e-6))
    assert torch.allclose(LogSpectrum(16)(x), expected, atol=1e-4)


# --- tiling, augmentation, data -----------------------------------------------------------


def test_tiling_keeps_native_resolution():
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, size=(100, 300, 3), dtype=np.uint8)
    tiles = image_tiles(big, SIZE, max_tiles=8)
    assert tiles.shape == (8, 3, SIZE, SIZE)
    # Each tile is an exact crop (no resampling): the first one is the top-left corner.
    assert np.allclose((tiles[0].transpose(1, 2, 0) + 1) * 127.5, big[:SIZE, :SIZE], atol=1e-3)
    assert image_tiles(big[:20, :20], SIZE).shape == (1, 3, SIZE, SIZE)  # reflection-padded
    with pytest.raises(ImageTooSmallError, match="too small"):
        image_tiles(big[:1, :1], SIZE)


@pytest.mark.parametrize("width, height", [(333, 257), (64, 999), (1000, 701), (97, 80), (20, 30)])
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_region_tiles_equal_the_whole_image_variants(width, height, mode):
    """The serving path re-encodes and resamples only round each tile; a moderator must get
    the verdict the whole-image checks give, so the tiles must be theirs."""
    from PIL import Image, ImageFilter

    from detectors.inference import stability_variants
    from detectors.regions import image_tiles_of, stability_tile_sets
    from detectors.tiles import cut_tiles

    noise = np.random.default_rng(width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = Image.fromarray(noise).filter(ImageFilter.GaussianBlur(1.5)).convert(mode)
    pixels = np.asarray(image.convert("RGB"))
    assert (image_tiles_of(image, SIZE, 16) == cut_tiles(pixels, SIZE, 16)).all()
    whole = dict(stability_variants(pixels, SIZE))
    regions = dict(stability_tile_sets(image, SIZE, 16))
    assert regions.keys() == whole.keys()
    for name, tiles in regions.items():
        expected = cut_tiles(whole[name], SIZE, 16)
        assert tiles.shape == expected.shape
        difference = np.abs(tiles.astype(int) - expected)
        if name.startswith("JPEG"):
            assert difference.max() == 0, name  # blocks are coded independently: exact
        else:  # resampling coefficients may round one level apart on a rare value
            assert difference.max() <= 1 and (difference > 0).mean() < 1e-3, name


def test_augmentation_is_crop_flip_blur_jpeg_only():
    rng = np.random.default_rng(0)
    image = toy_image(48, True, rng)
    view = augment(image, SIZE, np.random.default_rng(1), AugmentConfig())
    assert view.shape == (SIZE, SIZE, 3) and view.dtype == np.uint8
    plain = augment(image, SIZE, np.random.default_rng(1), AugmentConfig.disabled())
    # Without blur/JPEG/flip a view is an exact window of the image: nothing resized.
    windows = np.lib.stride_tricks.sliding_window_view(image, (SIZE, SIZE, 3))
    assert (windows == plain).all(axis=(-3, -2, -1)).any()


def test_data_layouts_mix_and_balanced_sampling(toy_root: Path, tmp_path: Path):
    extra = tmp_path / "my-fakes"
    shutil.copytree(toy_root / "gan" / "1_fake", extra)
    (extra / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = scan(
            real=[toy_root / "gan" / "0_real"],
            fake=[f"diffusion={extra}"],
            datasets=[toy_root / "vae"],
            image_size=SIZE,
        )
    assert any(issubclass(w.category, SkippedFilesWarning) for w in caught)
    assert data.families == ["diffusion", "vae"]
    assert {s.split for s in data.samples} == {"train", "val", "calib"}
    train_samples = data.split("train")
    picks = balanced_indices(data, train_samples, 4000, seed=0, epoch=0)
    labels = np.array([train_samples[i].label for i in picks])
    families = [train_samples[i].family for i in picks if train_samples[i].label == 1]
    assert abs(labels.mean() - 0.5) < 0.04
    assert abs(families.count("vae") / len(families) - 0.5) < 0.05
    again = scan(datasets=[toy_root / "vae"], real=[toy_root / "gan" / "0_real"], image_size=SIZE)
    split = {s.sha256: s.split for s in again.samples}
    assert all(split[s.sha256] == s.split for s in data.samples if s.sha256 in split)


# --- training, checkpoints ----------------------------------------------------------------


def test_tiny_training_learns_the_planted_artifact(trained):
    checkpoint, data = trained
    scorer = open_scorer(checkpoint, backend="torch")
    report = evaluate(scorer, data, data.split("val", "calib"))
    assert report.clean["ap"] > 0.9, report
    assert set(report.clean["per_family"]) == {"gan", "vae"}
    info = read_checkpoint(checkpoint)
    assert info.spec.training["data_digest"] == data.digest
    assert info.spec.target_fpr == 0.01 and info.spec.temperature > 0
    assert info.spec.families == ["gan", "vae"]


def test_checkpoint_round_trip_gives_identical_scores(trained, tmp_path: Path):
    from detectors.loading import save_checkpoint

    checkpoint, data = trained
    model = load_checkpoint(checkpoint)
    images = [data.pixels(s) for s in data.samples[:12]]
    first = TorchScorer(model).score_pixels(images)
    save_checkpoint(tmp_path / "copy", model)
    second = TorchScorer(load_checkpoint(tmp_path / "copy")).score_pixels(images)
    assert np.array_equal(first.logits, second.logits)
    assert np.array_equal(first.attribution, second.attribution)


def test_pickle_and_tampered_checkpoints_are_refused(trained, tmp_path: Path):
    checkpoint, _ = trained
    pickled = tmp_path / "detector.pt"
    torch.save({"weights": torch.zeros(3)}, pickled)
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(pickled)
    folder = tmp_path / "pickled-folder"
    folder.mkdir()
    shutil.copy(pickled, folder / "model.bin")
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(folder)

    tampered = tmp_path / "tampered"
    shutil.copytree(checkpoint, tampered)
    weights = tampered / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF  # one weight changed
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="modified or replaced"):
        load_checkpoint(tampered)
    weights.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="modified or replaced"):
        load_checkpoint(tampered)
    result = CliRunner().invoke(detect_app, [str(tmp_path), "-c", str(tampered), "--json"])
    assert result.exit_code == 1


# --- calibration and metrics --------------------------------------------------------------


def test_metrics_match_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)  # rounding makes ties
    assert average_precision(labels, scores) == pytest.approx(
        sklearn_metrics.average_precision_score(labels, scores)
    )
    assert roc_auc(labels, scores) == pytest.approx(sklearn_metrics.roc_auc_score(labels, scores))


def test_temperature_scaling_lowers_ece_on_an_overconfident_model():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, 4000)
    labels = (rng.random(4000) < sigmoid(true_logits)).astype(int)
    overconfident = 4.0 * true_logits
    temperature = fit_temperature(overconfident, labels)
    assert 3.0 < temperature < 5.0
    before = expected_calibration_error(sigmoid(overconfident), labels)
    after = expected_calibration_error(sigmoid(overconfident / temperature), labels)
    assert after < before / 2
    report = calibration_report(overconfident, labels, overconfident[labels == 0])
    assert report["ece_after"] < report["ece_before"]


@pytest.mark.parametrize("fpr", [0.01, 0.05])
def test_quantile_threshold_gives_the_requested_fpr_on_held_out_reals(fpr):
    rng = np.random.default_rng(1)
    fit, held_out = rng.beta(2, 5, 20000), rng.beta(2, 5, 20000)
    threshold = fpr_threshold(fit, fpr)
    assert np.mean(fit > threshold) <= fpr
    assert abs(np.mean(held_out > threshold) - fpr) < 0.25 * fpr + 0.002


def test_unweighted_threshold_lets_floor_fpr_n_reals_above_it():
    scores = np.arange(1, 251) / 251.0  # 250 distinct real scores
    assert fpr_threshold(scores, 0.01) == scores[-3]  # two of 250 above
    assert fpr_threshold(scores, 0.01, np.full(250, 7.0)) == scores[-3]


def test_weighted_threshold_keeps_a_small_source_from_being_outvoted():
    """A thousand easy renders must not set the alarm rate a few photos then exceed."""
    renders, photos = np.full(1000, 0.01), np.linspace(0.60, 0.90, 30)
    scores = np.r_[renders, photos]
    plain = fpr_threshold(scores, 0.01)
    assert np.mean(photos > plain) > 0.3  # the photos' own false-alarm rate
    weights = np.r_[np.full(1000, np.sqrt(1000) / 1000), np.full(30, np.sqrt(30) / 30)]
    weighted = fpr_threshold(scores, 0.01, weights)
    share_above = weights[scores > weighted].sum() / weights.sum()
    assert share_above <= 0.01
    assert np.mean(photos > weighted) <= 0.1


def test_operating_threshold_never_calls_ai_below_even_odds():
    from detectors.calibrate import operating_threshold

    easy_reals = np.full(300, 0.02)
    assert fpr_threshold(easy_reals, 0.01) == pytest.approx(0.02)
    assert operating_threshold(easy_reals, 0.01) == 0.5
    assert operating_threshold(np.linspace(0.0, 0.99, 300), 0.01) > 0.95


def test_calibration_views_are_served_copies_weighted_by_source_size(tmp_path):
    from PIL import Image

    from detectors.data import scan
    from detectors.workflows import calibration_views

    rng = np.random.default_rng(3)
    for group, count in (("big", 16), ("small", 4)):
        folder = tmp_path / "real" / group
        folder.mkdir(parents=True)
        for index in range(count):
            pixels = rng.integers(0, 256, (1200, 80, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{index}.png")
    data = scan([tmp_path / "real" / "big", tmp_path / "real" / "small"])
    reals = [sample for sample in data.samples if sample.label == 0]
    views, weights = calibration_views(data, reals)
    assert len(views) == 3 * len(reals) == len(weights)
    assert views[1].shape[0] <= 1024 < views[0].shape[0]  # the web's copy is downscaled
    assert weights.sum() == pytest.approx(1.0)
    big = 3 * sum(w for w, s in zip(weights[::3], reals, strict=True) if s.group == "big")
    assert big / (1 - big) == pytest.approx(np.sqrt(16) / np.sqrt(4))


# --- ONNX and detect ----------------------------------------------------------------------


def test_onnx_scores_match_torch_within_tolerance(trained):
    from detectors.onnx_export import TOLERANCE, export_onnx

    checkpoint, data = trained
    record = export_onnx(checkpoint)
    assert record["max_abs_p_ai_diff"] <= TOLERANCE
    onnx_scorer = open_scorer(checkpoint, backend="onnx")
    torch_scorer = open_scorer(checkpoint, backend="torch")
    assert onnx_scorer.backend == "onnxruntime"
    rng = np.random.default_rng(3)
    images = [data.pixels(s) for s in data.samples[:16]]
    images.append(rng.integers(0, 256, size=(90, 70, 3), dtype=np.uint8))  # tiled, padded
    p_onnx = onnx_scorer.probabilities(onnx_scorer.score_pixels(images).logits)
    p_torch = torch_scorer.probabilities(torch_scorer.score_pixels(images).logits)
    assert np.max(np.abs(p_onnx - p_torch)) <= TOLERANCE


def test_detect_json_schema_and_per_file_errors(trained, tmp_path: Path):
    checkpoint, _ = trained
    folder = tmp_path / "inbox"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(toy_image(SIZE, True, rng)).save(folder / "fake.png")
    Image.fromarray(toy_image(80, False, rng)).save(folder / "real.jpg", quality=95)
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40 + b"IEND")
    (folder / "notes.txt").write_text("not an image\n")
    Image.new("RGB", (1, 1)).save(folder / "pixel.png")
    result = CliRunner().invoke(
        detect_app, [str(folder), str(tmp_path / "missing.png"), "-c", str(checkpoint), "--json"]
    )
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    by_name = {Path(line["path"]).name: line for line in lines}
    # A non-image inside a folder is skipped and counted; one named explicitly is an error.
    assert set(by_name) == {"fake.png", "real.jpg", "corrupt.png", "pixel.png", "missing.png"}
    assert "skipped 1 file(s) that are not images" in result.stderr
    for name in ("fake.png", "real.jpg"):
        line = by_name[name]
        assert set(line) == RESULT_KEYS and line["error"] is None
        assert 0.0 <= line["p_ai"] <= 1.0 and line["label"] in ("ai", "real", "inconclusive")
        assert (line["reason"] is None) == (line["label"] != "inconclusive")
        assert [v["name"] for v in line["checks"]["variants"]][:1] == ["JPEG q90"]
        assert line["attribution"]["label"] in ("real", "gan", "vae", "unknown")
        assert set(line["attribution"]["probs"]) == {"real", "gan", "vae"}
    assert by_name["real.jpg"]["tiles"] == 9
    assert by_name["pixel.png"]["error"]["code"] == "image_too_small"
    for name in ("corrupt.png", "missing.png"):
        assert by_name[name]["error"]["message"], name
    named = CliRunner().invoke(detect_app, [str(folder / "notes.txt"), "-c", str(checkpoint)])
    assert named.exit_code == 1
    assert "not a supported image" in named.stderr


def test_detect_with_onnx_never_imports_torch(trained):
    from detectors.onnx_export import export_onnx

    checkpoint, data = trained
    if not (checkpoint / "model.onnx").exists():
        export_onnx(checkpoint)
    probe = (
        "import sys\n"
        "from detectors.detect import open_scorer, detect_files, expand_inputs\n"
        f"scorer = open_scorer({str(checkpoint)!r})\n"
        f"print(list(detect_files(scorer, expand_inputs([{str(data.samples[0].path)!r}])))"
        "[0]['label'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'timm')))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[-1] == "[]"


def test_cli_module_import_is_light():
    probe = (
        "import sys, detectors.cli\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'timm', 'onnxruntime', 'numpy')))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60
    )
    assert completed.stdout.strip() == "[]", completed.stderr


def test_calibrate_and_evaluate_commands(trained, toy_root: Path, tmp_path: Path):
    checkpoint, _ = trained
    copy = tmp_path / "copy"
    shutil.copytree(checkpoint, copy)
    runner = CliRunner()
    result = runner.invoke(
        app, ["calibrate", str(copy), "--dataset", str(toy_root), "--fpr", "0.05", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert read_checkpoint(copy).spec.threshold == pytest.approx(report["threshold"])
    assert read_checkpoint(copy).spec.target_fpr == 0.05
    result = runner.invoke(
        app,
        ["evaluate", str(copy), "--dataset", str(toy_root), "--format-check", "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["clean"]["ap"] > 0.9
    assert set(report["format_check"]["mean_abs_shift"]) == {"png_vs_jpeg", "png_vs_webp"}


# --- distributed --------------------------------------------------------------------------


@pytest.mark.parametrize("experts", [[], ["npr_raw", "chroma"]], ids=["single", "fused"])
def test_two_process_ddp_training_on_cpu(toy_root: Path, tmp_path: Path, experts: list[str]):
    output = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "detectors.cli",
            "train",
            "--dataset",
            str(toy_root / "gan"),
            "--out",
            str(output),
            "--image-size",
            str(SIZE),
            "--epochs",
            "2",
            "--steps-per-epoch",
            "2",
            "--batch-size",
            "8",
            "--device",
            "cpu",
            "--quiet",
            "--json",
            *(option for name in experts for option in ("--transform", name)),
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads(completed.stdout.strip().splitlines()[-1])
    if not experts:
        assert summary["world_size"] == 2
        assert read_checkpoint(output).spec.training["world_size"] == 2
        return
    # One JSON line (rank 0's), the fusion written once both experts trained on 2 ranks.
    assert len(completed.stdout.strip().splitlines()) == 1
    assert [expert["world_size"] for expert in summary["experts"]] == [2, 2]
    assert read_checkpoint(output).spec.arch == "max_fusion"
    for name in experts:
        assert read_checkpoint(output / "experts" / name).spec.training["world_size"] == 2
