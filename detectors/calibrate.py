"""Calibration: temperature scaling, expected calibration error, and the FPR threshold.

* Temperature with a logit shift (Platt scaling, of which temperature scaling, Guo et al.
  ICML 2017, is the shift-free case): p = sigmoid((z - shift) / T), both fitted by
  minimising the negative log-likelihood on the validation split. Both are monotone in z,
  so AP and ROC-AUC are untouched. Temperature alone is not enough here: a detector
  trained on augmented, codec-equalised views and validated on clean images puts its
  real/generated boundary away from logit 0 (the first default detector had real logits
  up to +1.2 and fakes from +0.8, a near-separable split around +1.2, not 0). No T can
  move that boundary, so the fit traded sharpness against the misplaced middle and ECE
  stayed at 0.12; fitting the shift too brought it to about 0.01 on held-out images.
  The validation split is nearly separable, where maximum likelihood sends T toward 0, so
  T is kept within [0.05, 20]. Platt's smoothed targets ((n+ + 1)/(n+ + 2) and 1/(n- + 2)
  instead of 1 and 0; ``fit_platt(smooth=True)``) would keep it finite too, but they cap
  p(AI) near 1 - 1/n, and on three detectors trained on the ``make models`` data they
  doubled the held-out ECE (0.022-0.025 against 0.011-0.018), so they are off by default.
* The shift is folded into the binary head's bias (``DetectorModel.shift_logit``) rather than
  stored beside the temperature, so every scorer (torch, the ONNX export, the service)
  applies it with no change to the checkpoint format: the stored logit's 0 is p = 0.5.
  ``calibration["logit_shift_total"]`` records all the shift folded in so far, so the
  uncalibrated network's output stays reconstructible (the reliability diagram's "before").
* ECE is reported on the validation split the fit saw and on the calibration split it did
  not (``ece_after_heldout``); the second is the honest figure. Each comes with its
  sampling floor (``ece_floor*``, :func:`ece_noise_floor`): what a perfectly calibrated
  detector would measure on the same number of images with the same scores.
* Threshold: the (1 - FPR) quantile of calibrated scores on held-out *real* images, with
  "ai" meaning ``p_ai > threshold``. The operating point users care about is the false
  alarm rate on real photos; a 0.5 cut on a detector trained on balanced data promises
  nothing about it. With n real images the achieved FPR is known only to about
  +-sqrt(FPR / n), so the report carries n and warns below 1 / FPR images.
  Three choices make that quantile mean what a moderator reads into it
  (:func:`calibration_views`). Each real image counts as sent *and* as the web serves it
  (``detectors.imageops.served_variants``), since that is how uploads arrive. Real sources
  weigh in proportion to the square root of their sizes, as in training, so a thousand
  easy programmatic renders cannot set the alarm rate that a few dozen photos then
  exceed. And the threshold never sits below even odds (:data:`EVEN_ODDS`): "likely AI"
  for an image the calibrated detector itself finds more likely real would be a
  contradiction, which a fold with few, easy calibration reals otherwise produced.

The math is numpy only; ``detectors.workflows.calibrate_checkpoint`` scores the data with
the checkpoint and applies it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from detectors.spec import DEFAULT_TARGET_FPR
from detectors.tiles import EVEN_ODDS, sigmoid


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    z = np.asarray(logits, dtype=np.float64) / temperature
    y = np.asarray(labels, dtype=np.float64)
    # log(1 + exp(-|z|)) form: stable for large logits.
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


TEMPERATURE_RANGE = (0.05, 20.0)
RELIABILITY_BINS = 15


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """T in [0.05, 20] minimising validation NLL (golden-section search on log T).

    NLL in log T is unimodal for binary logistic outputs, and a 1-D search needs no
    optimiser state, no torch and no learning rate.
    """
    low, high = math.log(TEMPERATURE_RANGE[0]), math.log(TEMPERATURE_RANGE[1])
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


def platt_targets(labels: np.ndarray) -> np.ndarray:
    """Platt's (1999) smoothed targets: they keep a separable split's fit finite."""
    labels = np.asarray(labels)
    positives = float(np.sum(labels == 1))
    negatives = float(np.sum(labels == 0))
    return np.where(labels == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))


def _weighted_nll(z: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean(np.maximum(z, 0) - z * targets + np.log1p(np.exp(-np.abs(z)))))


def fit_platt(logits: np.ndarray, labels: np.ndarray, smooth: bool = False) -> tuple[float, float]:
    """(temperature, shift) minimising NLL of sigmoid((z - shift) / T) (Platt scaling).

    Newton's method on p = sigmoid(a z + b) (convex in a and b), with step halving; then T
    = 1 / a clipped to TEMPERATURE_RANGE (the shift refitted at the clipped T) and shift =
    -b / a.
    """
    z = np.asarray(logits, dtype=np.float64)
    targets = platt_targets(labels) if smooth else np.asarray(labels, dtype=np.float64)
    if len(z) == 0 or np.all(targets == targets[0]):
        return 1.0, 0.0
    a, b = 1.0, 0.0
    loss = _weighted_nll(a * z + b, targets)
    for _ in range(100):
        p = sigmoid(a * z + b)
        g = p - targets
        w = np.maximum(p * (1 - p), 1e-12)
        grad = np.array([np.mean(g * z), np.mean(g)])
        hess = np.array(
            [[np.mean(w * z * z), np.mean(w * z)], [np.mean(w * z), np.mean(w)]]
        ) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while scale > 1e-6:
            a_new, b_new = a - scale * step[0], b - scale * step[1]
            new_loss = _weighted_nll(a_new * z + b_new, targets)
            if new_loss <= loss + 1e-12:
                break
            scale /= 2
        else:
            break
        converged = abs(loss - new_loss) < 1e-12
        a, b, loss = a_new, b_new, new_loss
        if converged:
            break
    low, high = TEMPERATURE_RANGE
    if not (1 / high <= a <= 1 / low):
        # a <= 0 means the logits rank backwards on this split: keep T = 1 rather than
        # invert the detector; otherwise clip, and refit the shift alone at that slope.
        a = 1.0 if a <= 0 else float(np.clip(a, 1 / high, 1 / low))
        b = _fit_offset(a * z, targets)
    return float(1 / a), float(-b / a)


def _fit_offset(z: np.ndarray, targets: np.ndarray) -> float:
    """b minimising NLL of sigmoid(z + b) (1-D Newton; convex)."""
    b = 0.0
    for _ in range(100):
        p = sigmoid(z + b)
        step = np.mean(p - targets) / max(float(np.mean(p * (1 - p))), 1e-12)
        b -= float(np.clip(step, -5.0, 5.0))
        if abs(step) < 1e-10:
            break
    return b


def calibrated(logits: np.ndarray, temperature: float, shift: float = 0.0) -> np.ndarray:
    return sigmoid((np.asarray(logits, dtype=np.float64) - shift) / temperature)


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = RELIABILITY_BINS) -> dict:
    """Per-bin counts, mean p(AI) and fraction generated: the reliability diagram's data."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probs, edges[1:-1]), 0, bins - 1)
    count, confidence, frequency = [], [], []
    for k in range(bins):
        mask = which == k
        count.append(int(mask.sum()))
        confidence.append(round(float(probs[mask].mean()), 6) if mask.any() else None)
        frequency.append(round(float(labels[mask].mean()), 6) if mask.any() else None)
    return {
        "edges": [round(float(e), 6) for e in edges],
        "count": count,
        "mean_p_ai": confidence,
        "fraction_ai": frequency,
        "ece": expected_calibration_error(probs, labels, bins) if len(probs) else None,
    }


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


def ece_noise_floor(
    probs: np.ndarray, bins: int = RELIABILITY_BINS, draws: int = 200, seed: int = 0
) -> float:
    """Mean ECE of a *perfectly* calibrated detector giving these probabilities: labels drawn
    as Bernoulli(p). Binned ECE is biased upwards by sampling noise, the more so the fewer
    images and the more of them sit mid-range; a measured ECE at this floor cannot be told
    from perfect calibration on this many images (e.g. 0.04 for 380 images of a detector
    with AP 0.97), and a goal below it needs more evaluation images, not a better fit.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if len(probs) == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    return float(
        np.mean(
            [
                expected_calibration_error(probs, rng.random(len(probs)) < probs, bins)
                for _ in range(draws)
            ]
        )
    )


def fpr_threshold(
    real_scores: np.ndarray, fpr: float = DEFAULT_TARGET_FPR, weights: np.ndarray | None = None
) -> float:
    """Smallest score t with at most ``fpr`` of the real weight above it (``ai`` = score > t).

    Unweighted, that lets floor(fpr * n) of n real images above the threshold.
    """
    scores = np.asarray(real_scores, dtype=np.float64)
    if len(scores) == 0:
        raise ValueError("no real scores to set a threshold on")
    mass = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(scores, kind="stable")
    scores, mass = scores[order], mass[order]
    # above[k]: the real weight strictly after position k in ascending order.
    above = np.append(np.cumsum(mass[::-1])[::-1][1:], 0.0)
    allowed = fpr * mass.sum() * (1 + 1e-9)
    return float(scores[int(np.argmax(above <= allowed))])


def operating_threshold(
    real_probs: np.ndarray, fpr: float, weights: np.ndarray | None = None
) -> float:
    """The FPR threshold on calibrated real scores, never below even odds."""
    return max(fpr_threshold(real_probs, fpr, weights), EVEN_ODDS)


def weighted_rate(called: np.ndarray, weights: np.ndarray | None = None) -> float:
    called = np.asarray(called, dtype=np.float64)
    if weights is None:
        return float(called.mean())
    return float((called * weights).sum() / np.sum(weights))


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
    *,
    calib_real_weights: np.ndarray | None = None,
    heldout_logits: np.ndarray | None = None,
    heldout_labels: np.ndarray | None = None,
) -> dict[str, Any]:
    """Temperature and shift from the validation split, threshold from held-out reals.

    ``heldout_*`` (the calibration split, real and generated) give ECE on images the fit
    never saw. The threshold is on the calibrated scale, i.e. after the shift;
    ``calib_real_weights`` weigh the real scores it is set on (:func:`calibration_views`).
    """
    val_logits = np.asarray(val_logits, dtype=np.float64)
    val_labels = np.asarray(val_labels)
    temperature, shift = fit_platt(val_logits, val_labels)
    before_probs = sigmoid(val_logits)
    after_probs = calibrated(val_logits, temperature, shift)
    real_probs = calibrated(calib_real_logits, temperature, shift)
    threshold = operating_threshold(real_probs, target_fpr, calib_real_weights)
    real_val = after_probs[val_labels == 0]
    fake_val = after_probs[val_labels == 1]
    weights = np.ones(len(real_probs)) if calib_real_weights is None else calib_real_weights
    # Kish's effective sample size: what the weighted scores are worth as independent ones.
    n_real = float(np.sum(weights) ** 2 / np.sum(np.square(weights)))
    report: dict[str, Any] = {
        "method": "platt",
        "temperature": temperature,
        "logit_shift": shift,
        "threshold": threshold,
        "target_fpr": target_fpr,
        "ece_before": expected_calibration_error(before_probs, val_labels),
        "ece_after": expected_calibration_error(after_probs, val_labels),
        "ece_floor": ece_noise_floor(after_probs),
        "nll_before": nll(val_logits, val_labels, 1.0),
        "nll_after": nll(val_logits - shift, val_labels, temperature),
        "threshold_real_scores": len(real_probs),
        "threshold_real_images": round(n_real, 1),
        "threshold_reliable": n_real >= math.ceil(1.0 / target_fpr),
        "achieved_fpr_calib": weighted_rate(real_probs > threshold, calib_real_weights),
        "tpr_at_1pct_fpr": tpr_at_fpr(real_val, fake_val, 0.01),
        "tpr_at_5pct_fpr": tpr_at_fpr(real_val, fake_val, 0.05),
        "val_images": len(val_labels),
        "reliability_val": {
            "before": reliability(before_probs, val_labels),
            "after": reliability(after_probs, val_labels),
        },
    }
    if heldout_logits is not None and heldout_labels is not None and len(heldout_labels):
        held = np.asarray(heldout_logits, dtype=np.float64)
        held_labels = np.asarray(heldout_labels)
        report["heldout_images"] = len(held_labels)
        report["ece_before_heldout"] = expected_calibration_error(sigmoid(held), held_labels)
        held_probs = calibrated(held, temperature, shift)
        report["ece_after_heldout"] = expected_calibration_error(held_probs, held_labels)
        report["ece_floor_heldout"] = ece_noise_floor(held_probs)
    return report
