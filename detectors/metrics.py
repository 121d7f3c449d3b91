"""Ranking metrics of a detector's scores: scikit-learn's, with NaN where a class is missing.

A per-family table or a small fold can hold one class only; there AP and ROC-AUC are
undefined, and a NaN in the record says so rather than an exception.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


def _binary(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(labels, dtype=np.int64), np.asarray(scores, dtype=np.float64)


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    labels, scores = _binary(labels, scores)
    if labels.sum() == 0:
        return float("nan")
    return float(average_precision_score(labels, scores))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    labels, scores = _binary(labels, scores)
    if labels.sum() == 0 or labels.sum() == len(labels):
        return float("nan")
    return float(roc_auc_score(labels, scores))


def roc_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) at every distinct threshold, from (0, 0) to (1, 1); a single point at
    the origin when one class is missing (there is no curve to draw)."""
    labels, scores = _binary(labels, scores)
    if labels.sum() == 0 or labels.sum() == len(labels):
        return np.zeros(1), np.zeros(1)
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    return fpr, tpr
