"""How far an image is from everything the detector was trained on, in its own features.

A detector's score means something only on images like those it learned from; on others
(a camera pipeline, an art style or a generator it never saw) the score is an
extrapolation, and a confident-looking "AI" there is how false accusations happen. The
detector's pooled backbone features of the training images (the mean over each image's
tiles, as the logit is) are summarised by their mean and principal directions; an
image's distance is the Mahalanobis distance in the ``components`` leading directions
(all of them by default) plus, when fewer are kept, the residual's squared norm over its
average variance (probabilistic PCA, Tipping & Bishop, 1999), divided by the feature
dimension so that numbers read alike across models. Keeping every direction matters: a
new camera pipeline or generator often moves an image along a direction the training
images barely vary in, which an averaged residual would dilute. The
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
    train_features: np.ndarray,
    heldout_features: np.ndarray,
    *,
    components: int | None = None,
    quantile: float = DEFAULT_QUANTILE,
) -> dict[str, Any]:
    """The summary ``spec.ood`` stores: mean, principal directions, variances, threshold."""
    features = np.asarray(train_features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError("fitting the feature distribution needs at least two images")
    mean = features.mean(axis=0)
    centred = features - mean
    covariance = centred.T @ centred / (len(features) - 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
    floor = max(float(eigenvalues[0]) * _FLOOR, 1e-12)
    eigenvalues = np.maximum(eigenvalues, floor)
    k = int(min(components or features.shape[1], features.shape[1], len(features) - 1))
    residual = float(eigenvalues[k:].mean()) if k < len(eigenvalues) else floor
    summary: dict[str, Any] = {
        "method": "mahalanobis" if k == features.shape[1] else "ppca",
        "dimension": int(features.shape[1]),
        "components": k,
        "mean": _stored(mean),
        "directions": _stored(eigenvectors[:, :k].T),
        "variances": _stored(eigenvalues[:k]),
        "residual_variance": residual,
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
    centred = features - np.asarray(summary["mean"])
    directions = np.asarray(summary["directions"], dtype=np.float64).reshape(-1, features.shape[1])
    projected = centred @ directions.T
    inside = (projected**2 / np.asarray(summary["variances"])).sum(axis=1)
    residual = (centred**2).sum(axis=1) - (projected**2).sum(axis=1)
    outside = np.maximum(residual, 0.0) / float(summary["residual_variance"])
    return (inside + outside) / features.shape[1]
