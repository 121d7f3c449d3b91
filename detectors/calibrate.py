"""Calibration: temperature scaling, expected calibration error, and the FPR threshold.

* Temperature (Guo et al., ICML 2017): one scalar T dividing the logit, fitted by
  minimising the negative log-likelihood on a validation split. It changes confidence,
  never the ranking, so AP and ROC-AUC are untouched.
* Threshold: the (1 - FPR) quantile of calibrated scores on held-out *real* images, with
  "ai" meaning ``p_ai > threshold``. The operating point users care about is the false
  alarm rate on real photos; a 0.5 cut on a detector trained on balanced data promises
  nothing about it. With n real images the achieved FPR is known only to about
  +-sqrt(FPR / n), so the report carries n and warns below 1 / FPR images.

The math is numpy only; :func:`calibrate_checkpoint` scores the data with the checkpoint.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from detectors.inference import sigmoid
from detectors.spec import DEFAULT_TARGET_FPR


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    z = np.asarray(logits, dtype=np.float64) / temperature
    y = np.asarray(labels, dtype=np.float64)
    # log(1 + exp(-|z|)) form: stable for large logits.
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """T in [0.05, 20] minimising validation NLL (golden-section search on log T).

    NLL in log T is unimodal for binary logistic outputs, and a 1-D search needs no
    optimiser state, no torch and no learning rate.
    """
    low, high = math.log(0.05), math.log(20.0)
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = low, high
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(logits, labels, math.exp(c)), nll(logits, labels, math.exp(d))
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(logits, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(logits, labels, math.exp(d))
    return float(math.exp((a + b) / 2.0))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE of p(AI) over equal-width bins (the binary form: confidence = p(AI))."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if len(probs) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probs, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            error += mask.mean() * abs(probs[mask].mean() - labels[mask].mean())
    return float(error)


def fpr_threshold(real_scores: np.ndarray, fpr: float = DEFAULT_TARGET_FPR) -> float:
    """Smallest threshold t with mean(real_scores > t) <= fpr (``ai`` = score > t)."""
    scores = np.sort(np.asarray(real_scores, dtype=np.float64))
    if len(scores) == 0:
        raise ValueError("no real scores to set a threshold on")
    allowed = math.floor(fpr * len(scores))  # real images allowed above the threshold
    return float(scores[len(scores) - 1 - allowed])


def tpr_at_fpr(real_scores: np.ndarray, fake_scores: np.ndarray, fpr: float) -> float:
    if len(fake_scores) == 0 or len(real_scores) == 0:
        return float("nan")
    threshold = fpr_threshold(real_scores, fpr)
    return float(np.mean(np.asarray(fake_scores) > threshold))


def calibration_report(
    val_logits: np.ndarray,
    val_labels: np.ndarray,
    calib_real_logits: np.ndarray,
    target_fpr: float = DEFAULT_TARGET_FPR,
) -> dict[str, Any]:
    """Temperature from the validation split, threshold from held-out real images."""
    val_logits = np.asarray(val_logits, dtype=np.float64)
    val_labels = np.asarray(val_labels)
    temperature = fit_temperature(val_logits, val_labels)
    before = expected_calibration_error(sigmoid(val_logits), val_labels)
    after_probs = sigmoid(val_logits / temperature)
    after = expected_calibration_error(after_probs, val_labels)
    real_probs = sigmoid(np.asarray(calib_real_logits, dtype=np.float64) / temperature)
    threshold = fpr_threshold(real_probs, target_fpr)
    real_val = after_probs[val_labels == 0]
    fake_val = after_probs[val_labels == 1]
    n_real = len(real_probs)
    return {
        "temperature": temperature,
        "threshold": threshold,
        "target_fpr": target_fpr,
        "ece_before": before,
        "ece_after": after,
        "nll_before": nll(val_logits, val_labels, 1.0),
        "nll_after": nll(val_logits, val_labels, temperature),
        "threshold_real_images": n_real,
        "threshold_reliable": n_real >= math.ceil(1.0 / target_fpr),
        "achieved_fpr_calib": float(np.mean(real_probs > threshold)),
        "tpr_at_1pct_fpr": tpr_at_fpr(real_val, fake_val, 0.01),
        "tpr_at_5pct_fpr": tpr_at_fpr(real_val, fake_val, 0.05),
        "val_images": len(val_labels),
    }


def calibrate_checkpoint(
    checkpoint: Path | str,
    data: Any,
    target_fpr: float = DEFAULT_TARGET_FPR,
    backend: str = "torch",
) -> dict[str, Any]:
    """Score ``data``'s val split (temperature) and calib reals (threshold); store both."""
    from detectors.checkpoint import read_checkpoint, update_spec
    from detectors.inference import open_scorer

    info = read_checkpoint(checkpoint)
    scorer = open_scorer(info.directory, backend=backend)
    val = data.split("val")
    calib_real = [s for s in data.split("calib") if s.label == 0]
    if not val or not calib_real:
        from detectors.data import DataError

        raise DataError(
            "Calibration needs images in the validation split and real images in the "
            "calibration split; pass more data."
        )
    val_scores = scorer.score_pixels([data.pixels(s) for s in val])
    calib_scores = scorer.score_pixels([data.pixels(s) for s in calib_real])
    report = calibration_report(
        val_scores.logits,
        np.array([s.label for s in val]),
        calib_scores.logits,
        target_fpr,
    )
    spec = info.spec
    spec.temperature = report["temperature"]
    spec.threshold = report["threshold"]
    spec.target_fpr = target_fpr
    spec.calibration = {**report, "data_digest": data.digest}
    update_spec(info, spec)
    return report
