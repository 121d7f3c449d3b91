"""Workflows over a trained detector: calibrate it on a data set, fuse experts into one
checkpoint. The top of the model stack: they score with the torch model, save the
checkpoint and redo its ONNX export.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from detectors.calibrate import (
    calibrated,
    calibration_report,
    operating_threshold,
    weighted_rate,
)
from detectors.checkpoint import read_checkpoint
from detectors.data import DetectorData, Sample
from detectors.fusion import FusionError, MaxFusion, fuse
from detectors.imageops import served_variants
from detectors.loading import load_checkpoint, save_checkpoint
from detectors.model import DetectorModel
from detectors.onnx_export import export_onnx, onnx_scorer
from detectors.ood import fit_ood
from detectors.spec import DEFAULT_MAX_TILES, DEFAULT_TARGET_FPR
from provenance.errors import DataError

EXPERTS_FOLDER = "experts"


def apply_calibration(
    model: DetectorModel | MaxFusion,
    report: dict[str, Any],
    calib_real_views: list[np.ndarray],
    calib_real_weights: np.ndarray,
    data_digest: str,
) -> None:
    """Fold ``report``'s shift into ``model`` and store temperature and threshold in its spec.

    The threshold is then recomputed from the folded model's own scores of the calibration
    reals (and ``report`` updated): it sits exactly on one real image's score, and float32
    rounding of the new bias could otherwise lift that image a hair above it. The views are
    scored as ``detect`` and the service score them (``DEFAULT_MAX_TILES``).
    """

    model.shift_logit(report["logit_shift"])
    scorer = onnx_scorer(model, max_tiles=DEFAULT_MAX_TILES)
    probs = calibrated(scorer.score_pixels(calib_real_views).logits, report["temperature"])
    report["threshold"] = operating_threshold(probs, report["target_fpr"], calib_real_weights)
    report["achieved_fpr_calib"] = weighted_rate(probs > report["threshold"], calib_real_weights)
    spec = model.spec
    # Shifts add up over repeated calibrations; the total undoes them all.
    previous = float((spec.calibration or {}).get("logit_shift_total", 0.0) or 0.0)
    spec.temperature = report["temperature"]
    spec.threshold = report["threshold"]
    spec.target_fpr = report["target_fpr"]
    spec.calibration = {
        **report,
        "logit_shift_total": previous + report["logit_shift"],
        "data_digest": data_digest,
    }


def calibration_views(
    data: DetectorData, reals: list[Sample]
) -> tuple[list[np.ndarray], np.ndarray]:
    """The real images the threshold is set on, each as sent and as the web serves it.

    Weights: each source (group) counts in proportion to the square root of its number of
    images, and an image's weight is shared by its views.
    """
    sizes = Counter(sample.group for sample in reals)
    roots = sum(math.sqrt(size) for size in sizes.values())
    views: list[np.ndarray] = []
    weights: list[float] = []
    for sample in reals:
        served = served_variants(data.pixels(sample), f"{sample.group}/{sample.path.name}")
        share = math.sqrt(sizes[sample.group]) / roots / sizes[sample.group] / len(served)
        views.extend(served.values())
        weights.extend([share] * len(served))
    return views, np.array(weights)


def calibrate_model(
    model: DetectorModel | MaxFusion,
    data: DetectorData,
    target_fpr: float = DEFAULT_TARGET_FPR,
    max_tiles: int | None = None,
) -> dict[str, Any]:
    """Fit on ``data``'s val split, threshold on its calib reals; fold both into ``model``.

    ``max_tiles`` bounds the tiles of the validation and calibration images the fit is
    made on; the threshold and the feature distance are set at the deployed tiling.
    """

    val, calib = data.split("val"), data.split("calib")
    val_labels = np.array([s.label for s in val])
    calib_labels = np.array([s.label for s in calib])
    if not (0 < val_labels.sum() < len(val_labels)) or not (calib_labels == 0).any():
        raise DataError(
            "Calibration needs real and generated images in the validation split and real "
            "images in the calibration split; pass more data."
        )
    scorer = onnx_scorer(model, max_tiles=max_tiles or DEFAULT_MAX_TILES)
    val_logits = scorer.score_pixels([data.pixels(s) for s in val]).logits
    calib_logits = scorer.score_pixels([data.pixels(s) for s in calib]).logits
    real_views, real_weights = calibration_views(data, [s for s in calib if s.label == 0])
    # The same export at the deployed tiling: only the scorer's tile budget differs.
    deployed = copy.copy(scorer)
    deployed.max_tiles = DEFAULT_MAX_TILES
    report = calibration_report(
        val_logits,
        val_labels,
        deployed.score_pixels(real_views).logits,
        target_fpr,
        calib_real_weights=real_weights,
        heldout_logits=calib_logits,
        heldout_labels=calib_labels,
    )
    apply_calibration(model, report, real_views, real_weights, data.digest)
    model.spec.ood = fit_feature_distance(model, data)
    report["ood"] = {
        key: model.spec.ood[key] for key in ("threshold", "fit_images", "heldout_images")
    }
    return report


# Training images the feature distribution is fitted on (evenly spread over the split).
OOD_FIT_IMAGES = 4000


def fit_feature_distance(model: DetectorModel | MaxFusion, data: DetectorData) -> dict[str, Any]:
    """``detectors.ood``'s summary of the training split's features, thresholded on calib.

    Features are the mean over tiles, so they are taken at the deployed tiling.
    """

    scorer = onnx_scorer(model, max_tiles=DEFAULT_MAX_TILES)
    fit = data.split("train")
    if len(fit) > OOD_FIT_IMAGES:
        picks = np.unique(np.linspace(0, len(fit) - 1, OOD_FIT_IMAGES).round().astype(int))
        fit = [fit[i] for i in picks]
    heldout = data.split("calib")
    return fit_ood(
        scorer.image_features([data.pixels(s) for s in fit]),
        scorer.image_features([data.pixels(s) for s in heldout]),
    )


def calibrate_checkpoint(
    checkpoint: Path | str,
    data: DetectorData,
    target_fpr: float = DEFAULT_TARGET_FPR,
) -> dict[str, Any]:
    """Fit on ``data``'s val split, threshold on its calib reals; store both in the checkpoint.

    The shift is folded into the weights, so the weights file is rewritten; an ONNX export
    that existed is redone from the new weights (an old one would no longer match them).
    """

    info = read_checkpoint(checkpoint)
    had_onnx = bool(info.document.get("onnx"))
    model = load_checkpoint(info.directory)
    report = calibrate_model(model, data, target_fpr)
    save_checkpoint(info.directory, model)
    if had_onnx:
        report["onnx"] = export_onnx(info.directory)
    return report


def fuse_checkpoints(
    experts: list[Path],
    data: DetectorData,
    output: Path,
    *,
    target_fpr: float = DEFAULT_TARGET_FPR,
    max_tiles: int = 4,
) -> dict[str, Any]:
    """Fuse expert checkpoints, calibrate the fusion on ``data`` and save it to ``output``.

    ``data`` must be the data set the experts trained on: its validation and calibration
    splits are the images none of them saw, which is what calibration needs.
    """

    infos = [read_checkpoint(path) for path in experts]
    for info in infos:
        digest = info.spec.training.get("data_digest")
        if digest != data.digest:
            raise FusionError(
                f"The expert {info.directory} was trained on other images (data digest "
                f"{str(digest)[:12]}) than these ({data.digest[:12]}); fusing needs the same "
                "data set, so that calibration uses only images no expert trained on."
            )
    model = fuse([load_checkpoint(info.directory) for info in infos])
    calibration = calibrate_model(model, data, target_fpr, max_tiles)
    output = Path(output)
    model.spec.training = {
        "data_digest": data.digest,
        "fusion": "max of the experts' calibrated logits",
        # Kept so that a resumed run that reuses this fusion reports the same calibration.
        "calibration": calibration,
        "experts": [
            {
                "checkpoint": _relative(info.directory, output),
                "weights_sha256": info.weights_sha256,
                "transform": info.spec.transform,
                "temperature": info.spec.temperature,
                "training": info.spec.training,
            }
            for info in infos
        ],
    }
    save_checkpoint(output, model)
    return {"checkpoint": str(output), "calibration": calibration}


def _relative(path: Path, start: Path) -> str:
    path, start = Path(path).resolve(), Path(start).resolve()
    return str(path.relative_to(start)) if path.is_relative_to(start) else str(path)
