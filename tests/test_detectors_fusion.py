"""Max-fusion of independently trained experts: training, scoring, calibration, export.

Real torch training on the toy set with its planted artifact (``tiny_config``), two
experts (``npr_raw`` and ``chroma``) per fused detector.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from detectors.checkpoint import read_checkpoint
from detectors.cli import app, detect_app
from detectors.data import scan
from detectors.detect import open_scorer
from detectors.evaluate import evaluate
from detectors.fusion import FUSION_ARCH, FusionError
from detectors.loading import load_checkpoint
from detectors.loo import leave_one_family_out
from detectors.model import TorchScorer
from detectors.train import train_fused
from detectors.workflows import fuse_checkpoints
from tests.test_detectors import SIZE, tiny_config
from tests.test_detectors_toy import COLOURED, write_toy_dataset

TRANSFORMS = ["npr_raw", "chroma"]


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A coloured checkerboard, so that both experts have something to learn.
    return write_toy_dataset(
        tmp_path_factory.mktemp("toy") / "dataset",
        families=("gan", "vae"),
        n_real=40,
        n_fake=32,
        colours=COLOURED,
    )


@pytest.fixture(scope="module")
def fused(toy_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, dict]:
    data = scan(datasets=[toy_root], image_size=SIZE)
    checkpoint = tmp_path_factory.mktemp("fused") / "detector"
    summary = train_fused(data, tiny_config(checkpoint), TRANSFORMS, quiet=True)
    return checkpoint, data, summary


def test_fused_detector_is_one_calibrated_checkpoint_that_learns_the_artifact(fused):
    checkpoint, data, summary = fused
    info = read_checkpoint(checkpoint)
    assert info.spec.arch == FUSION_ARCH and info.spec.transform == "npr_raw+chroma"
    assert [e["transform"] for e in info.spec.training["experts"]] == TRANSFORMS
    assert info.spec.training["data_digest"] == data.digest
    assert info.spec.target_fpr == 0.01 and 0 < info.spec.threshold < 1
    assert not any(expert.reused for expert in summary.experts)
    for transform in TRANSFORMS:
        assert read_checkpoint(checkpoint / "experts" / transform).spec.transform == transform
    report = evaluate(open_scorer(checkpoint, backend="torch"), data, data.split("val", "calib"))
    assert report.clean["ap"] > 0.9, report


def test_fused_logit_is_the_larger_calibrated_expert_logit_less_the_fusion_shift(fused):
    checkpoint, data, _ = fused
    images = [data.pixels(s) for s in data.split("val", "calib")]
    calibrated_experts = []
    for transform in TRANSFORMS:
        expert = load_checkpoint(checkpoint / "experts" / transform)
        calibrated_experts.append(
            TorchScorer(expert).score_pixels(images).logits / expert.spec.temperature
        )
    model = load_checkpoint(checkpoint)
    shift = model.spec.calibration["logit_shift"]
    logits = TorchScorer(model).score_pixels(images).logits
    expected = np.maximum(*calibrated_experts) - shift
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    # The two experts disagree on some images, so the max is not just one of them.
    assert not np.allclose(calibrated_experts[0], calibrated_experts[1], atol=1e-2)


def test_fused_checkpoint_exports_to_onnx_and_detect_scores_with_it(fused, tmp_path: Path):
    checkpoint, data, _ = fused
    copy = tmp_path / "fused"
    shutil.copytree(checkpoint, copy)
    runner = CliRunner()
    result = runner.invoke(app, ["export-onnx", str(copy), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["max_abs_p_ai_diff"] <= 1e-4
    images = [data.pixels(s) for s in data.split("val")[:16]]
    torch_probs = open_scorer(copy, backend="torch").score_pixels(images).logits
    onnx_probs = open_scorer(copy, backend="onnx").score_pixels(images).logits
    np.testing.assert_allclose(onnx_probs, torch_probs, atol=1e-4)
    fake = next(s for s in data.split("val") if s.label == 1)
    result = runner.invoke(detect_app, [str(fake.path), "-c", str(copy), "--json"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout)
    assert line["error"] is None and set(line["attribution"]["probs"]) == {"real", "gan", "vae"}
    assert sum(line["attribution"]["probs"].values()) == pytest.approx(1.0, abs=1e-3)


def test_rerunning_train_keeps_finished_experts_and_gives_the_same_detector(
    toy_root: Path, tmp_path: Path
):
    output = tmp_path / "detector"
    command = ["train", "--dataset", str(toy_root), "--out", str(output)]
    command += ["--image-size", str(SIZE), "--epochs", "1", "--steps-per-epoch", "2"]
    command += ["--batch-size", "16", "--transform", "npr_raw", "--transform", "chroma"]
    command += ["--quiet", "--json"]
    runner = CliRunner()
    first = runner.invoke(app, command)
    assert first.exit_code == 0, first.output
    assert [e["reused"] for e in json.loads(first.stdout)["experts"]] == [False, False]
    weights = read_checkpoint(output).weights_sha256
    shutil.rmtree(output / "experts" / "chroma")
    second = runner.invoke(app, command)
    assert second.exit_code == 0, second.output
    assert [e["reused"] for e in json.loads(second.stdout)["experts"]] == [True, False]
    assert json.loads(second.stdout)["fusion_reused"] is False
    # Same seed on the CPU: the retrained expert, and so the fusion, come out identical.
    assert read_checkpoint(output).weights_sha256 == weights
    # Nothing left to train: the fusion and its calibration are kept as they are.
    written = (output / "model.safetensors").stat().st_mtime_ns
    third = runner.invoke(app, command)
    assert third.exit_code == 0, third.output
    summary = json.loads(third.stdout)
    assert [e["reused"] for e in summary["experts"]] == [True, True] and summary["fusion_reused"]
    assert summary["calibration"] == json.loads(second.stdout)["calibration"]
    assert (output / "model.safetensors").stat().st_mtime_ns == written


def test_fuse_refuses_experts_trained_on_other_data(fused, tmp_path: Path):
    checkpoint, _, _ = fused
    other_root = write_toy_dataset(
        tmp_path / "other", families=("gan", "vae"), seed=7, colours=COLOURED
    )
    other = scan(datasets=[other_root], image_size=SIZE)
    experts = [checkpoint / "experts" / t for t in TRANSFORMS]
    with pytest.raises(FusionError, match="trained on other images"):
        fuse_checkpoints(experts, other, tmp_path / "out")
    result = CliRunner().invoke(
        app, ["fuse", *map(str, experts), "--dataset", str(other_root), "--out", "x"]
    )
    assert result.exit_code == 1
    assert "trained on other images" in result.output
    assert not (tmp_path / "out").exists()


def test_leave_one_family_out_scores_the_fusion_of_each_fold(toy_root: Path, tmp_path: Path):
    data = scan(datasets=[toy_root], image_size=SIZE)
    config = replace(tiny_config(tmp_path), epochs=2)
    result = leave_one_family_out(data, config, tmp_path / "loo", fuse_transforms=TRANSFORMS)
    assert result.fusion == {"transforms": TRANSFORMS}
    assert set(result.held_out) == {"gan", "vae"}
    for family in ("gan", "vae"):
        fold = read_checkpoint(tmp_path / "loo" / f"without-{family}")
        assert fold.spec.arch == FUSION_ARCH
        assert fold.spec.families == [f for f in ("gan", "vae") if f != family]
