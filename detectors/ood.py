"""How far an image is from everything the detector was trained on, in its own features.

A detector's score means something only on images like those it learned from; on others
(a camera pipeline, an art style or a generator it never saw) the score is an
extrapolation, and a confident-looking "AI" there is how false accusations happen. The
detector's pooled backbone features of the training images (the mean over each image's
tiles, as the logit is) are summarised by their mean and covariance, and an image's
distance is its Mahalanobis distance from them, divided by the feature dimension so that
numbers read alike across models. Every direction counts: a new camera pipeline or
generator often moves an image along a direction the training images barely vary in. The
threshold is a high quantile of the distances of held-out images from the same
distribution (the calibration split), so about ``1 - quantile`` of in-distribution images
exceed it.

numpy only: the fitted summary lives in ``config.json`` (``spec.ood``) and the ONNX graph
exports the features, so the torch-free path checks it too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_QUANTILE = 0.99
# Variance floor relative to the largest eigenvalue: keeps near-constant directions (dead
# ReLU channels) from turning rounding noise into enormous distances.
_FLOOR = 1e-4


def fit_ood(
    train_features: np.ndarray, heldout_features: np.ndarray, *, quantile: float = DEFAULT_QUANTILE
) -> dict[str, Any]:
    """The summary ``spec.ood`` stores: mean, principal directions, variances, threshold."""
    features = np.asarray(train_features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError("fitting the feature distribution needs at least two images")
    mean = features.mean(axis=0)
    centred = features - mean
    eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred / (len(features) - 1))
    floor = max(float(eigenvalues.max()) * _FLOOR, 1e-12)
    summary: dict[str, Any] = {
        "method": "mahalanobis",
        "dimension": int(features.shape[1]),
        "mean": _stored(mean),
        "directions": _stored(eigenvectors.T),
        "variances": _stored(np.maximum(eigenvalues, floor)),
        "quantile": quantile,
        "fit_images": len(features),
    }
    heldout = ood_distance(summary, heldout_features)
    summary["threshold"] = float(np.quantile(heldout, quantile))
    summary["heldout_images"] = len(heldout)
    return summary


def _stored(values: np.ndarray) -> Any:
    """float32 precision is all the check needs; it halves config.json."""
    return np.asarray(values, dtype=np.float32).astype(float).round(9).tolist()


def ood_distance(summary: dict[str, Any], features: np.ndarray) -> np.ndarray:
    """Per image (rows of ``features``): its distance from the training distribution."""
    features = np.atleast_2d(np.asarray(features, dtype=np.float64))
    directions = np.asarray(summary["directions"], dtype=np.float64)
    projected = (features - np.asarray(summary["mean"])) @ directions.T
    return (projected**2 / np.asarray(summary["variances"])).sum(axis=1) / features.shape[1]
