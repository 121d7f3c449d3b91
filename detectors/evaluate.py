"""Evaluation: ranking and operating-point metrics, per family, robustness and format bias.

Ranking metrics are scikit-learn's (``detectors.metrics``). ``accuracy`` uses the
checkpoint's calibrated threshold, so it measures the detector as deployed, not at a
convenient 0.5.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from detectors.calibrate import (
    RELIABILITY_BINS,
    ece_noise_floor,
    expected_calibration_error,
    reliability,
    tpr_at_fpr,
)
from detectors.data import DetectorData, Sample
from detectors.imageops import downscale, gaussian_blur, jpeg_roundtrip, reencode
from detectors.inference import Scorer
from detectors.metrics import average_precision, roc_auc
from detectors.spec import DetectorSpec
from detectors.tiles import sigmoid

ROBUSTNESS: dict[str, tuple[float, ...]] = {
    "jpeg": (100, 90, 75, 50, 30),
    "blur": (0, 1, 2, 3),
    "downscale": (1.0, 0.75, 0.5),
}
# Scores moving more than this (mean |delta p_ai|) when only the container changes mean
# the detector reads the file format.
FORMAT_SHIFT_TOLERANCE = 0.05


def _clean(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def metrics(
    labels: np.ndarray,
    probs: np.ndarray,
    threshold: float,
    families: list[str | None] | None = None,
) -> dict[str, Any]:
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    predicted = (probs > threshold).astype(np.int64)
    real, fake = labels == 0, labels == 1
    result: dict[str, Any] = {
        "n_real": int(real.sum()),
        "n_fake": int(fake.sum()),
        "threshold": _clean(threshold),
        "ap": _clean(average_precision(labels, probs)),
        "roc_auc": _clean(roc_auc(labels, probs)),
        "accuracy": _clean(float(np.mean(predicted == labels)) if len(labels) else float("nan")),
        "real_accuracy": _clean(float(np.mean(predicted[real] == 0)) if real.any() else np.nan),
        "fake_accuracy": _clean(float(np.mean(predicted[fake] == 1)) if fake.any() else np.nan),
        "tpr_at_1pct_fpr": _clean(tpr_at_fpr(probs[real], probs[fake], 0.01)),
        "tpr_at_5pct_fpr": _clean(tpr_at_fpr(probs[real], probs[fake], 0.05)),
    }
    if families is not None:
        per_family: dict[str, Any] = {}
        names = np.array([name or "" for name in families])
        for family in sorted({name for name in families if name}):
            mask = fake & (names == family)
            subset = real | mask
            per_family[family] = {
                "n_fake": int(mask.sum()),
                "ap": _clean(average_precision(labels[subset], probs[subset])),
                "roc_auc": _clean(roc_auc(labels[subset], probs[subset])),
                "fake_accuracy": _clean(float(np.mean(predicted[mask] == 1))),
            }
        result["per_family"] = per_family
    return result


Perturbation = Callable[[np.ndarray], np.ndarray]


def perturbation(kind: str, value: float) -> Perturbation:
    if kind == "jpeg":
        return lambda pixels: jpeg_roundtrip(pixels, int(value))
    if kind == "blur":
        return lambda pixels: gaussian_blur(pixels, float(value))
    if kind == "downscale":
        return lambda pixels: downscale(pixels, float(value))
    raise ValueError(f"unknown perturbation {kind!r}")


def score_logits(
    scorer: Scorer, data: DetectorData, samples: list[Sample], perturb: Perturbation | None = None
) -> np.ndarray:
    """Stored (tile-averaged) logits: the checkpoint's calibration shift already folded in."""
    images = [data.pixels(sample) for sample in samples]
    if perturb is not None:
        images = [perturb(image) for image in images]
    return np.asarray(scorer.score_pixels(images).logits, dtype=np.float64)


def score_samples(
    scorer: Scorer, data: DetectorData, samples: list[Sample], perturb: Perturbation | None = None
) -> np.ndarray:
    return scorer.probabilities(score_logits(scorer, data, samples, perturb))


def calibration_check(spec: DetectorSpec, logits: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """ECE of the deployed p(AI) on these images, and of the uncalibrated network's.

    "Uncalibrated" undoes what calibration did: the folded shift
    (``calibration["logit_shift_total"]``, 0 for checkpoints calibrated by temperature
    alone) and the temperature, i.e. sigmoid of the network's own logit.
    """
    shift = float((spec.calibration or {}).get("logit_shift_total", 0.0) or 0.0)
    before = sigmoid(logits + shift)
    after = sigmoid(logits / spec.temperature)
    return {
        "bins": RELIABILITY_BINS,
        "temperature": _clean(spec.temperature),
        "logit_shift_total": _clean(shift),
        "ece": _clean(expected_calibration_error(after, labels)),
        "ece_floor": _clean(ece_noise_floor(after)),
        "ece_uncalibrated": _clean(expected_calibration_error(before, labels)),
        "reliability": {
            "before": reliability(before, labels),
            "after": reliability(after, labels),
        },
    }


def _reencode(pixels: np.ndarray, fmt: str) -> np.ndarray:
    return reencode(pixels, fmt, 95 if fmt in ("JPEG", "WEBP") else None)


def _balanced(samples: list[Sample], limit: int) -> list[Sample]:
    """Up to ``limit`` samples, half real and half generated where possible, each half
    spread evenly over its list (so over the families, which the scan keeps together)."""
    real = [s for s in samples if s.label == 0]
    fake = [s for s in samples if s.label == 1]
    n_fake = min(len(fake), max(limit // 2, limit - len(real)))
    n_real = min(len(real), limit - n_fake)

    def spread(items: list[Sample], count: int) -> list[Sample]:
        if count <= 0:
            return []
        picks = np.unique(np.linspace(0, len(items) - 1, count).round().astype(int))
        return [items[i] for i in picks]

    return spread(real, n_real) + spread(fake, n_fake)


def format_check(
    scorer: Scorer, data: DetectorData, samples: list[Sample], limit: int = 256
) -> dict[str, Any]:
    """Do scores follow the file format? The same pixels saved as PNG, JPEG 95 and WebP 95.

    High-quality re-encoding barely changes pixels, so a detector that looks at generation
    traces scores the three versions alike; a large shift means it learned the container.
    The images are class-balanced (the first ``limit`` of a held-out split sorted by source
    are nearly all of one class). ``passed`` is judged on mean |delta p(AI)|, which grows
    with calibration sharpness, so the signed shift per class (the shortcut's signature:
    JPEG pulling generated images towards "real") and the verdicts flipped at the stored
    threshold are reported beside it.
    """
    chosen = _balanced(samples, limit)
    labels = np.array([sample.label for sample in chosen])
    by_format = {
        fmt: score_samples(scorer, data, chosen, lambda p, f=fmt: _reencode(p, f))
        for fmt in ("PNG", "JPEG", "WEBP")
    }
    others = ("JPEG", "WEBP")
    shifts = {
        f"png_vs_{fmt.lower()}": float(np.mean(np.abs(by_format["PNG"] - by_format[fmt])))
        for fmt in others
    }
    threshold = scorer.spec.threshold
    flips = {
        f"png_vs_{fmt.lower()}": _clean(
            float(np.mean((by_format["PNG"] > threshold) != (by_format[fmt] > threshold)))
        )
        for fmt in others
    }
    signed = {
        name: {
            f"png_to_{fmt.lower()}": _clean(
                float(np.mean(by_format[fmt][labels == label] - by_format["PNG"][labels == label]))
                if (labels == label).any()
                else float("nan")
            )
            for fmt in others
        }
        for name, label in (("real", 0), ("fake", 1))
    }
    worst = max(shifts.values()) if shifts else 0.0
    return {
        "images": len(chosen),
        "images_real": int((labels == 0).sum()),
        "images_fake": int((labels == 1).sum()),
        "mean_p_ai": {fmt.lower(): _clean(float(np.mean(v))) for fmt, v in by_format.items()},
        "mean_abs_shift": {key: _clean(value) for key, value in shifts.items()},
        "mean_shift_by_class": signed,
        "verdict_flips": flips,
        "tolerance": FORMAT_SHIFT_TOLERANCE,
        "passed": bool(worst <= FORMAT_SHIFT_TOLERANCE),
        "source_formats": data.format_table() if hasattr(data, "format_table") else None,
    }


def abstention_rates(scorer: Scorer, data: DetectorData, samples: list[Sample]) -> dict[str, Any]:
    """Per class and family, the share of images each outcome of ``Scorer.assess`` takes
    (ai, inconclusive, real), with the stability checks: what a user of ``detect`` sees."""
    groups: dict[str, list[Sample]] = {}
    for sample in samples:
        groups.setdefault("real" if sample.label == 0 else str(sample.family), []).append(sample)
    rates: dict[str, Any] = {}
    for name, members in sorted(groups.items()):
        counts = {"ai": 0, "inconclusive": 0, "real": 0}
        for start in range(0, len(members), 64):
            chunk = members[start : start + 64]
            for verdict in scorer.assess([data.pixels(s) for s in chunk]):
                counts[verdict["label"]] += 1
        total = sum(counts.values())
        rates[name] = {
            "images": total,
            **{f"{label}_rate": _clean(count / total) for label, count in counts.items()},
        }
    return rates


@dataclass
class EvaluationReport:
    """What ``evaluate`` measured; ``to_dict`` is ``evaluation.json``'s layout."""

    checkpoint_arch: str
    backend: str
    clean: dict[str, Any]
    calibration: dict[str, Any]
    robustness: dict[str, dict[str, Any]] | None = None
    format_check: dict[str, Any] | None = None
    abstention: dict[str, Any] | None = None
    split: str | None = None
    # Each image's path, label, family and p(AI) (``keep_scores``): not part of the record.
    scores: dict[str, list[Any]] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            item.name: getattr(self, item.name)
            for item in fields(self)
            if item.name != "scores" and getattr(self, item.name) is not None
        }


def evaluate(
    scorer: Scorer,
    data: DetectorData,
    samples: list[Sample],
    *,
    robustness: bool = False,
    check_format: bool = False,
    keep_scores: bool = False,
    abstention: bool = False,
) -> EvaluationReport:
    """Metrics on ``samples``; ``keep_scores`` keeps each image's p(AI) in ``scores``
    (what the report's ROC curves and histograms are drawn from)."""
    labels = np.array([sample.label for sample in samples])
    families = [sample.family for sample in samples]
    threshold = scorer.spec.threshold
    logits = score_logits(scorer, data, samples)
    probs = scorer.probabilities(logits)
    report = EvaluationReport(
        checkpoint_arch=scorer.spec.arch,
        backend=scorer.backend,
        clean=metrics(labels, probs, threshold, families),
        calibration=calibration_check(scorer.spec, logits, labels),
    )
    if robustness:
        sweep: dict[str, dict[str, Any]] = {}
        for kind, values in ROBUSTNESS.items():
            sweep[kind] = {}
            for value in values:
                degraded = score_samples(scorer, data, samples, perturbation(kind, value))
                scored = metrics(labels, degraded, threshold)
                # fake/real accuracy: TPR and 1 - FPR at the stored threshold, which is
                # what a deployed detector's users see move when images are degraded.
                sweep[kind][str(value)] = {
                    key: scored[key]
                    for key in (
                        "ap",
                        "roc_auc",
                        "accuracy",
                        "tpr_at_1pct_fpr",
                        "fake_accuracy",
                        "real_accuracy",
                    )
                }
        report.robustness = sweep
    if check_format:
        report.format_check = format_check(scorer, data, samples)
    if abstention:
        report.abstention = abstention_rates(scorer, data, samples)
    if keep_scores:
        report.scores = {
            "path": [str(sample.path) for sample in samples],
            "label": labels.tolist(),
            "family": [sample.family for sample in samples],
            "p_ai": [round(float(p), 6) for p in probs],
        }
    return report
