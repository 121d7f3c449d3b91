"""Out-of-the-lab detection: abstention, source groups, leave-sources-out, aligned fakes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from detectors.augment import AugmentConfig, augment
from detectors.cli import app as detectors_app
from detectors.data import scan
from detectors.detect import open_scorer
from detectors.imageops import sensor_noise, served_variants
from detectors.inference import INCONCLUSIVE, decide, stability_variants
from detectors.train import TrainConfig, train
from detectors.wild import leave_sources_out, source_folds
from provenance.errors import DataError
from tests.test_detectors_toy import toy_image

SIZE = 32
REPO = Path(__file__).resolve().parents[1]


# --- abstention -------------------------------------------------------------------------


def test_a_verdict_that_a_small_reencode_flips_is_inconclusive_with_its_reason():
    decision = decide(0.62, 0.5, [("JPEG q90", 0.31)], ai_tile_share=1.0, tiles=1)
    assert decision.label == INCONCLUSIVE
    assert "JPEG q90" in decision.reason and "0.620" in decision.reason
    # The same for a "real" that flips to "ai": a moderator cannot act on either.
    assert decide(0.4, 0.5, [("JPEG q90", 0.7)]).label == INCONCLUSIVE


def test_under_a_strict_threshold_only_a_reencode_below_even_odds_withdraws_an_ai_verdict():
    # A confident score that a re-encode lowers but leaves more likely AI than not stands.
    assert decide(0.9999, 0.999, [("JPEG q90", 0.91)]).label == "ai"
    assert decide(0.9999, 0.999, [("JPEG q90", 0.41)]).label == INCONCLUSIVE
    # A re-encode that would accuse makes a "real" verdict inconclusive, at any threshold.
    assert decide(0.6, 0.999, [("JPEG q90", 0.9995)]).label == INCONCLUSIVE
    assert decide(0.6, 0.999, [("JPEG q90", 0.99)]).label == "real"
    # Under a threshold below even odds, falling under the threshold is enough.
    assert decide(0.45, 0.44, [("JPEG q90", 0.43)]).label == INCONCLUSIVE


def test_an_ai_verdict_resting_on_a_few_tiles_is_inconclusive():
    few = decide(0.9, 0.5, [("JPEG q90", 0.8)], ai_tile_share=0.25, tiles=16)
    assert few.label == INCONCLUSIVE and "25% of the 16 tiles" in few.reason
    assert decide(0.9, 0.5, [("JPEG q90", 0.8)], ai_tile_share=0.75, tiles=16).label == "ai"
    # One tile (a small image) says nothing about agreement between tiles.
    assert decide(0.9, 0.5, [], ai_tile_share=0.0, tiles=1).label == "ai"


def test_stable_verdicts_are_kept():
    assert decide(0.1, 0.5, [("JPEG q90", 0.2), ("a 0.75x downscale", 0.3)]).label == "real"
    assert decide(0.1, 0.5, []).reason is None


def test_stability_variants_downscale_only_images_that_stay_several_tiles_wide():
    small = np.zeros((64, 64, 3), np.uint8)
    large = np.zeros((300, 200, 3), np.uint8)
    assert [name for name, _ in stability_variants(small, SIZE)] == ["JPEG q90"]
    names = [name for name, _ in stability_variants(large, SIZE)]
    assert names == ["JPEG q90", "a 0.75x downscale"]
    assert stability_variants(large, SIZE)[1][1].shape == (225, 150, 3)


# --- source groups ----------------------------------------------------------------------


def _write(folder: Path, images: list[np.ndarray], fmt: str = "PNG") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, pixels in enumerate(images):
        Image.fromarray(pixels).save(folder / f"{index:04d}.{fmt.lower()}", fmt)


@pytest.fixture(scope="module")
def grouped_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three real sources, a family with fakes aligned with one source, one plain family."""
    root = tmp_path_factory.mktemp("grouped") / "dataset"
    rng = np.random.default_rng(0)
    for source in ("lake", "city", "forest"):
        _write(root / f"real@{source}" / "0_real", [toy_image(48, False, rng) for _ in range(24)])
    _write(root / "gan" / "1_fake", [toy_image(SIZE, True, rng) for _ in range(36)])
    _write(root / "vae@aligned-lake" / "1_fake", [toy_image(SIZE, True, rng) for _ in range(12)])
    return root


def test_groups_come_from_folder_names_and_aligned_fakes_leave_with_their_source(grouped_root):
    data = scan(datasets=[grouped_root], image_size=SIZE)
    assert data.groups(label=0) == ["city", "forest", "lake"]
    assert data.families == ["gan", "vae"]
    aligned = [s for s in data.samples if s.group == "aligned-lake"]
    assert len(aligned) == 12 and {s.family for s in aligned} == {"vae"}
    without = data.without_groups(["lake"])
    assert "lake" not in without.groups() and "aligned-lake" not in without.groups()
    assert without.families == ["gan"]
    assert len(without.samples) == len(data.samples) - 24 - 12


def test_source_folds_deal_every_source_once():
    folds = source_folds(["e", "a", "d", "c", "b"], 2)
    assert folds == [["a", "c", "e"], ["b", "d"]]
    assert source_folds(["a"], 3) == [["a"]]


def test_leave_sources_out_never_trains_or_calibrates_on_the_held_out_source(
    grouped_root, tmp_path
):
    data = scan(datasets=[grouped_root], image_size=SIZE)
    config = TrainConfig(
        output=tmp_path,
        arch="npr_tiny",
        image_size=SIZE,
        arch_kwargs={"width": 8},
        epochs=1,
        steps_per_epoch=2,
        batch_size=16,
    )
    result = leave_sources_out(data, config, tmp_path / "loso", folds=3, checks=False)
    assert sorted(result["sources"]) == ["city", "forest", "lake"]
    for fold in result["folds"]:
        checkpoint = open_scorer(fold["checkpoint"], backend="torch").spec
        counts = checkpoint.training["data"]["counts"]
        assert checkpoint.training["data"]["images"] == sum(
            sum(split.values()) for split in counts.values()
        )
        held_out = set(fold["held_out"])
        trained_on = {s.sha256 for s in data.without_groups(sorted(held_out)).samples}
        assert not trained_on & {s.sha256 for s in data.samples if s.group in held_out}
        if "lake" in held_out:
            assert checkpoint.families == ["gan"]  # the fakes aligned with lake left too
    lake = result["sources"]["lake"]
    # Every image of the source, as sent and as served twice, with a verdict each.
    assert lake["overall"]["images"] == 24 * 3
    assert set(lake["variants"]) == {"as_sent", "web_jpeg", "web_webp"}
    outcome = lake["overall"]
    assert outcome["ai"] + outcome["inconclusive"] + outcome["real"] == outcome["images"]
    assert result["goals"]["max_ai_rate"] == 0.02


def test_served_variants_shrink_large_images_and_are_reproducible():
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, size=(1500, 1200, 3), dtype=np.uint8)
    first = served_variants(pixels, "source/photo.jpg")
    again = served_variants(pixels, "source/photo.jpg")
    assert first["as_sent"] is pixels
    assert 512 <= max(first["web_jpeg"].shape[:2]) <= 1024
    assert first["web_jpeg"].shape == first["web_webp"].shape
    assert np.array_equal(first["web_jpeg"], again["web_jpeg"])
    small = rng.integers(0, 256, size=(100, 80, 3), dtype=np.uint8)
    assert served_variants(small, "x")["web_jpeg"].shape == small.shape  # never enlarged


def test_the_web_augmentation_preset_gives_tiles_of_the_right_size():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(400, 300, 3), dtype=np.uint8)
    web = AugmentConfig.preset("web")
    assert web.downscale_min == 0.25 and web.webp_share > 0 and web.sharpen_prob > 0
    for seed in range(20):
        view = augment(pixels, SIZE, np.random.default_rng(seed), web)
        assert view.shape == (SIZE, SIZE, 3) and view.dtype == np.uint8
    camera = AugmentConfig.preset("camera")
    assert camera.noise_prob > 0 and camera.sharpen_percent_max > web.sharpen_percent_max
    for seed in range(20):
        view = augment(pixels, SIZE, np.random.default_rng(seed), camera)
        assert view.shape == (SIZE, SIZE, 3) and view.dtype == np.uint8
    with pytest.raises(ValueError, match="unknown augmentation"):
        AugmentConfig.preset("instagram")


def test_sensor_noise_speckles_each_channel_apart_around_the_same_mean():
    flat = np.full((64, 64, 3), 128, dtype=np.uint8)
    noisy = sensor_noise(flat, 4.0, np.random.default_rng(0)).astype(float)
    assert abs(noisy.mean() - 128) < 0.5 and 3.5 < noisy.std() < 4.5
    # Chroma noise, not only luma: the channels of one pixel move apart.
    assert np.abs(noisy[..., 0] - noisy[..., 1]).mean() > 2.0
    assert sensor_noise(np.zeros((8, 8, 3), np.uint8), 4.0, np.random.default_rng(0)).min() == 0


def test_loso_command_prints_per_source_outcomes(grouped_root, tmp_path):
    # fmt: off
    command = [
        "loso", "--dataset", str(grouped_root), "--out", str(tmp_path / "loso"),
        "--image-size", str(SIZE), "--epochs", "1", "--steps-per-epoch", "2",
        "--batch-size", "16", "--folds", "2", "--source", "lake", "--source", "city",
        "--no-checks", "--json",
    ]
    # fmt: on
    result = CliRunner().invoke(detectors_app, command)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert sorted(payload["sources"]) == ["city", "lake"]
    assert [fold["held_out"] for fold in payload["folds"]] == [["city"], ["lake"]]
    # --fold runs one fold: the second, already trained, is only scored again.
    only = CliRunner().invoke(detectors_app, [*command, "--fold", "1"])
    assert only.exit_code == 0, only.output
    second = json.loads(only.stdout)
    assert sorted(second["sources"]) == ["lake"] and second["folds"] == payload["folds"][1:]
    assert second["sources"]["lake"] == payload["sources"]["lake"]
    beyond = CliRunner().invoke(
        detectors_app,
        [
            "loso",
            "--dataset",
            str(grouped_root),
            "--out",
            str(tmp_path / "y"),
            "--folds",
            "2",
            "--fold",
            "2",
            "--source",
            "lake",
            "--source",
            "city",
        ],
    )
    assert beyond.exit_code == 1 and "No fold 2" in beyond.stderr
    unknown = CliRunner().invoke(
        detectors_app,
        ["loso", "--dataset", str(grouped_root), "--out", str(tmp_path / "x"), "--source", "moon"],
    )
    assert unknown.exit_code == 1 and "No real images come from moon" in unknown.stderr


# --- aligned fakes ------------------------------------------------------------------------


def test_aligned_fakes_share_the_photo_content_and_are_reproducible(tmp_path):
    from generators.aligned import AlignedConfig, export_aligned

    photos = tmp_path / "photos" / "meadow"
    rng = np.random.default_rng(1)
    _write(photos, [toy_image(96, False, rng) for _ in range(2)], "JPEG")
    config = AlignedConfig(windows_per_source=3, window_min=64, window_max=72, denoise_steps=2)
    weights = REPO / "generators" / "weights"
    runs = []
    for name in ("a", "b"):
        summary = export_aligned(
            {"meadow": photos},
            tmp_path / name,
            vae_checkpoint=weights / "vae",
            diffusion_checkpoint=weights / "diffusion",
            config=config,
        )
        runs.append(summary)
    # Each window: a VAE reconstruction, a re-noising and an inpainting (both diffusion).
    assert runs[0].counts == {"diffusion@aligned-meadow": 6, "vae@aligned-meadow": 3}
    for family in ("vae", "diffusion"):
        folder = f"{family}@aligned-meadow/1_fake"
        for file in sorted((tmp_path / "a" / folder).iterdir()):
            assert file.read_bytes() == (tmp_path / "b" / folder / file.name).read_bytes()
    records = [
        json.loads(line) for line in (tmp_path / "a" / "aligned.jsonl").read_text().splitlines()
    ]
    assert {r["source"] for r in records} == {"meadow"}
    # The data set's layout is what the detector's scan reads, with the groups it needs.
    data = scan(datasets=[tmp_path / "a"], image_size=SIZE)
    assert data.groups() == ["aligned-meadow"] and data.families == ["diffusion", "vae"]


def test_inpainting_makes_new_content_in_the_region_and_touches_every_pixel():
    from generators.aligned import diffusion_inpaint, elliptical_mask
    from generators.checkpoint import load_checkpoint

    diffusion = load_checkpoint(REPO / "generators" / "weights" / "diffusion", "diffusion")
    rng = np.random.default_rng(4)
    pixels = toy_image(96, False, rng)
    mask, box = elliptical_mask(96, 96, 0.3, rng)
    assert 0.25 < mask.mean() < 0.35 and box["height"] > 0
    image = diffusion_inpaint(diffusion.model, pixels, mask, 0.8, 0.15, 6, seed=1)
    error = np.abs(image.astype(int) - pixels.astype(int)).mean(axis=2)
    assert error[mask].mean() > 2 * error[~mask].mean()  # new content where asked
    assert np.mean(error[~mask] > 0) > 0.5  # and the rest passed through the UNet
    again = diffusion_inpaint(diffusion.model, pixels, mask, 0.8, 0.15, 6, seed=1)
    assert np.array_equal(image, again)
    with pytest.raises(DataError):
        diffusion_inpaint(diffusion.model, pixels, mask, 0.1, 0.15, 6, seed=1)


def test_vae_reconstruction_keeps_size_and_content_but_not_the_pixels():
    from generators.aligned import vae_reconstruct
    from generators.checkpoint import load_checkpoint

    vae = load_checkpoint(REPO / "generators" / "weights" / "vae", "vae")
    rng = np.random.default_rng(2)
    pixels = toy_image(80, False, rng)
    rebuilt = vae_reconstruct(vae.model, pixels, SIZE)
    assert rebuilt.shape == (64, 64, 3)  # cut to whole tiles
    error = np.abs(rebuilt.astype(int) - pixels[:64, :64].astype(int)).mean()
    assert 0.5 < error < 40  # a reconstruction, neither a copy nor noise


@pytest.fixture(scope="module")
def grouped_detector(grouped_root, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny detector trained on the grouped data set, exported to ONNX."""
    from detectors.onnx_export import export_onnx

    data = scan(datasets=[grouped_root], image_size=SIZE)
    checkpoint = tmp_path_factory.mktemp("grouped-detector") / "detector"
    config = TrainConfig(
        output=checkpoint,
        image_size=SIZE,
        arch_kwargs={"width": 8},
        epochs=1,
        steps_per_epoch=2,
        batch_size=16,
    )
    train(data, config, quiet=True)
    export_onnx(checkpoint)
    return checkpoint


def test_detector_trained_on_groups_scores_held_out_images(grouped_root, grouped_detector):
    data = scan(datasets=[grouped_root], image_size=SIZE)
    scorer = open_scorer(grouped_detector, backend="torch")
    verdicts = scorer.assess([data.pixels(s) for s in data.samples[:4]])
    assert all(v["label"] in ("ai", "real", INCONCLUSIVE) for v in verdicts)
    assert all(len(v["checks"]["variants"]) == 1 for v in verdicts)  # small: JPEG only


# --- distance from the training data ------------------------------------------------------


def test_feature_distance_flags_what_the_fit_never_saw():
    from detectors.ood import fit_ood, ood_distance

    rng = np.random.default_rng(0)
    scales = np.linspace(3.0, 0.1, 24)
    train_features = rng.normal(size=(3000, 24)) * scales
    heldout = rng.normal(size=(2000, 24)) * scales
    summary = fit_ood(train_features, heldout, quantile=0.99)
    fresh = rng.normal(size=(4000, 24)) * scales
    assert abs(np.mean(ood_distance(summary, fresh) > summary["threshold"]) - 0.01) < 0.01
    # Shifted along a direction the training data never moves in: far away.
    shifted = fresh[:100].copy()
    shifted[:, -1] += 2.0
    assert np.mean(ood_distance(summary, shifted) > summary["threshold"]) > 0.9
    json.dumps(summary)  # stored in config.json as it is


def test_an_ai_verdict_far_from_the_training_data_is_inconclusive_a_real_one_stands():
    far = decide(0.95, 0.5, [("JPEG q90", 0.9)], ai_tile_share=1.0, tiles=4, ood=(7.5, 2.0))
    assert far.label == INCONCLUSIVE and "unlike the detector's training data" in far.reason
    assert decide(0.1, 0.5, [], ood=(7.5, 2.0)).label == "real"
    assert decide(0.95, 0.5, [], ood=(1.5, 2.0)).label == "ai"


def test_trained_checkpoint_carries_the_feature_distance_and_onnx_matches_torch(
    grouped_root, grouped_detector
):
    data = scan(datasets=[grouped_root], image_size=SIZE)
    checkpoint = grouped_detector
    torch_scorer = open_scorer(checkpoint, backend="torch")
    onnx_scorer = open_scorer(checkpoint, backend="onnx")
    ood = torch_scorer.spec.ood
    assert ood["dimension"] == 16 and ood["threshold"] > 0
    rng = np.random.default_rng(5)
    images = [data.pixels(s) for s in data.samples[:6]]
    images.append(rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8))
    torch_distance = torch_scorer.score_pixels(images).ood_distance
    onnx_distance = onnx_scorer.score_pixels(images).ood_distance
    assert onnx_distance is not None
    np.testing.assert_allclose(onnx_distance, torch_distance, rtol=1e-3, atol=1e-4)
    verdict = onnx_scorer.assess(images[-1:])[0]
    assert verdict["checks"]["ood_threshold"] == pytest.approx(ood["threshold"], abs=1e-4)


def test_unseen_command_counts_outcomes_per_folder(grouped_root, grouped_detector, tmp_path):
    art = tmp_path / "drawings"
    rng = np.random.default_rng(9)
    _write(art, [toy_image(40, False, rng) for _ in range(5)])
    (art / "README.txt").write_text("not an image")
    result = CliRunner().invoke(
        detectors_app,
        ["unseen", str(grouped_detector), "--real", str(art), "--limit", "3", "--json"],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    drawings = payload["sources"]["drawings"]
    assert drawings["variants"]["as_sent"]["images"] == 3
    assert drawings["overall"]["images"] == 9
    assert payload["goals"]["max_ai_rate"] == 0.05
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = CliRunner().invoke(
        detectors_app, ["unseen", str(grouped_detector), "--real", str(empty)]
    )
    assert refused.exit_code == 1 and "holds no images" in refused.stderr


def test_limits_quote_only_figures_the_records_hold(grouped_detector, tmp_path):
    import shutil

    from detectors.model_card import render_limits

    checkpoint = tmp_path / "detector"
    shutil.copytree(grouped_detector, checkpoint)
    (checkpoint / "evaluation.json").write_text(
        json.dumps(
            {
                "clean": {
                    "fake_accuracy": 0.9123,
                    "per_family": {"gan": {"fake_accuracy": 0.8}, "vae": {"fake_accuracy": 0.95}},
                }
            }
        )
    )
    text = render_limits("catches {tpr_at_threshold}; weakest {weakest_family}", checkpoint)
    assert text == "catches 91.2%; weakest gan"
    with pytest.raises(ValueError, match="'loo_worst_ap'"):
        render_limits("AP {loo_worst_ap}", checkpoint)


def test_evaluate_reports_what_detect_answers_with_its_checks(grouped_root, grouped_detector):
    from detectors.evaluate import evaluate

    data = scan(datasets=[grouped_root], image_size=SIZE)
    scorer = open_scorer(grouped_detector)
    report = evaluate(scorer, data, data.split("val", "calib"), abstention=True)
    rates = report.abstention
    assert set(rates) == {"real", *{s.family for s in data.split("val", "calib") if s.label}}
    for values in rates.values():
        total = values["ai_rate"] + values["inconclusive_rate"] + values["real_rate"]
        assert total == pytest.approx(1.0, abs=1e-5) and values["images"] > 0
