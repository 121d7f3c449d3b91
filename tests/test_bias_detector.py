"""Section 4 with a real exported detector: fairlearn's numbers equal a hand count."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from service.bias.options import ReportOptions
from service.bias.report import build_report
from tests.test_bias_planted import planted_pixels, save_png

pytest.importorskip("fairlearn")


@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    import torch

    from detectors.architectures import create_detector
    from detectors.loading import save_checkpoint
    from detectors.onnx_export import export_onnx

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("detector") / "tiny"
    save_checkpoint(directory, create_detector("npr_tiny", families=["gan"], image_size=32))
    export_onnx(directory)
    return directory


def _dataset(root: Path) -> dict[str, tuple[str, int]]:
    """group=a|b / real/0_real | gan/1_fake: key -> (group, 1 if generated)."""
    truth = {}
    seed = 0
    for group, real, fake in (("a", 14, 6), ("b", 8, 12)):
        for label, count, folder in ((0, real, "real/0_real"), (1, fake, "gan/1_fake")):
            for k in range(count):
                seed += 1
                key = f"group={group}/{folder}/{k:02d}.png"
                pixels = planted_pixels(seed, group)
                if label:  # generated-looking: blocky 2x upsampled noise, as cheap GANs leave
                    pixels = np.repeat(np.repeat(pixels[::2, ::2], 2, 0), 2, 1)
                save_png(root / key, pixels)
                truth[key] = (group, label)
    return truth


def test_fairlearn_rates_match_a_hand_count(tmp_path, tiny_detector):
    from detectors.detect import open_scorer

    truth = _dataset(tmp_path / "data")
    scorer = open_scorer(tiny_detector, backend="onnx")
    keys = sorted(truth)
    pixels = [np.asarray(Image.open(tmp_path / "data" / key).convert("RGB")) for key in keys]
    p_ai = scorer.probabilities(scorer.score_pixels(pixels).logits)
    # An untrained detector scores everything alike; a threshold between two middle scores
    # gives a real mix of verdicts (calibration rewrites config.json the same way).
    ordered = np.sort(p_ai)
    threshold = float((ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2)
    config = tiny_detector / "config.json"
    document = json.loads(config.read_text())
    document["detector"]["threshold"] = threshold
    config.write_text(json.dumps(document))
    flagged = {key: int(p > threshold) for key, p in zip(keys, p_ai, strict=True)}

    report, _, _ = build_report(
        ReportOptions(dataset=tmp_path / "data", detector=tiny_detector, bootstrap=30)
    )
    section = report["detector"]
    assert section["images_in_scope"] == len(keys)
    rows = {row["group"]: row for row in section["by_attribute"]["group"]["groups"]}

    def rate(group: str, label: int | None) -> float:
        chosen = [k for k in keys if truth[k][0] == group and label in (None, truth[k][1])]
        return sum(flagged[k] for k in chosen) / len(chosen)

    for group in "ab":
        assert rows[group]["selection_rate"] == pytest.approx(rate(group, None))
        assert rows[group]["false_positive_rate"] == pytest.approx(rate(group, 0))
        assert rows[group]["true_positive_rate"] == pytest.approx(rate(group, 1))
    disparity = section["by_attribute"]["group"]
    selection = [rate(g, None) for g in "ab"]
    assert disparity["demographic_parity_difference"] == pytest.approx(
        max(selection) - min(selection)
    )
    assert disparity["demographic_parity_ratio"] == pytest.approx(
        min(selection) / max(selection) if max(selection) else 0.0
    )
    eod = max(abs(rate("a", 1) - rate("b", 1)), abs(rate("a", 0) - rate("b", 0)))
    assert disparity["equalized_odds_difference"] == pytest.approx(eod)
    low, high = disparity["equalized_odds_difference_ci"]
    assert 0.0 <= low <= high <= 1.0
    overall = section["overall"]
    assert overall["selection_rate"] == pytest.approx(sum(flagged.values()) / len(keys))
    assert overall["n_real"] == 22 and overall["n_generated"] == 18
    family = {row["group"]: row for row in section["by_family"]}
    generated = [k for k in keys if truth[k][1]]
    assert family["gan"]["true_positive_rate"] == pytest.approx(
        sum(flagged[k] for k in generated) / len(generated)
    )


def test_without_labels_selection_rate_and_parity_show_a_planted_disparity(tmp_path):
    """No real/generated label anywhere: the detector still says how often it calls each
    group AI. Planted: 24 of 40 group=a images and 6 of 40 group=b images carry the mark
    the stand-in detector calls AI (60% vs 15%)."""
    from service.bias.html import render_html
    from tests.test_bias_planted import build_standin_detector, mark

    data = tmp_path / "data"
    for group, marked in (("a", 24), ("b", 6)):
        for k in range(40):
            pixels = planted_pixels(500 + k + (0 if group == "a" else 100), group)
            save_png(
                data / f"group={group}" / f"{k:02d}.png", mark(pixels) if k < marked else pixels
            )
    detector = build_standin_detector(tmp_path / "ckpt")
    report, _, _ = build_report(ReportOptions(dataset=data, detector=detector, bootstrap=100))
    section = report["detector"]
    assert section["labelled"] is False
    assert section["images_in_scope"] == 80 and section["images_without_label"] == 80
    rows = {row["group"]: row for row in section["by_attribute"]["group"]["groups"]}
    assert rows["a"]["selection_rate"] == pytest.approx(0.60)
    assert rows["b"]["selection_rate"] == pytest.approx(0.15)
    for group in "ab":
        low, high = rows[group]["selection_rate_ci"]
        assert low < rows[group]["selection_rate"] < high
        assert rows[group]["false_positive_rate"] is None  # needs labels
    parity = section["by_attribute"]["group"]
    assert parity["demographic_parity_difference"] == pytest.approx(0.45)
    assert parity["demographic_parity_ratio"] == pytest.approx(0.25)
    low, high = parity["demographic_parity_difference_ci"]
    assert 0.2 < low < 0.45 < high < 0.7  # the interval excludes parity (0)
    low, high = parity["demographic_parity_ratio_ci"]
    assert 0.0 < low < 0.25 < high < 0.6
    assert section["overall"]["selection_rate"] == pytest.approx(30 / 80)
    sentence = next(line for line in report["findings"] if "Without ground-truth labels" in line)
    assert "60.0%" in sentence and "15.0%" in sentence and "group=a" in sentence
    assert "demographic parity difference 0.45" in sentence
    html = render_html(report)
    assert "no rate can be computed" not in html
    assert "60.0%" in html and "0.450" in html
