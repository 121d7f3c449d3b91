"""Which way each generator family departs from real photos, on four plain image statistics.

Why the leave-one-family-out figures of ``provaudit detectors loo`` are what they are: a
detector learns the departures of the families it is trained on, and a held-out family
that departs the *other* way (or only in a way augmentation teaches it to ignore) scores
as real. No model here: each statistic is computed on the images themselves.

* ``luma_noise``: noise sigma of the luminance (median absolute diagonal Haar detail /
  0.6745, Donoho's estimator), 0-255 scale;
* ``chroma_noise``: the same on the chroma (each channel minus the luminance); cameras
  demosaic and codecs subsample colour, so real photos have little fine colour detail;
* ``detail``: mean absolute Laplacian of the luminance (high-frequency energy);
* ``nyquist``: share of the luminance power on the Nyquist row and column of the DFT,
  where a stride-2 upsampling layer leaves its period-2 trace.

Baseline in the same run: the real photos. Per group, the median of each statistic and its
ratio to the real photos' median; per family, the ROC-AUC of each statistic taken alone as
a "generated" score against the real photos (0.5 is chance, below 0.5 means the family sits
on the *real side* of the photos). Two control groups are real photos after the training
blur at sigma 1 and 2 (``detectors.augment``), which training labels real. One JSON line.

    .venv/bin/python bench/family_cues.py --dataset build/model-data [--limit 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectors.augment import gaussian_blur
from detectors.metrics import roc_auc

LUMA = np.array([0.299, 0.587, 0.114])


def _diagonal_detail(channel: np.ndarray) -> np.ndarray:
    """Diagonal Haar detail of (N, H, W[, C]) arrays with even H and W."""
    top_left, top_right = channel[:, 0::2, 0::2], channel[:, 0::2, 1::2]
    bottom_left, bottom_right = channel[:, 1::2, 0::2], channel[:, 1::2, 1::2]
    return top_left - top_right - bottom_left + bottom_right


def luma_noise(images: np.ndarray) -> np.ndarray:
    detail = _diagonal_detail(images @ LUMA) / 2
    return np.median(np.abs(detail), axis=(1, 2)) / 0.6745


def chroma_noise(images: np.ndarray) -> np.ndarray:
    chroma = images - (images @ LUMA)[..., None]
    detail = _diagonal_detail(chroma) / 2
    return np.median(np.abs(detail), axis=(1, 2, 3)) / 0.6745


def detail(images: np.ndarray) -> np.ndarray:
    luma = images @ LUMA
    laplacian = (
        4 * luma[:, 1:-1, 1:-1]
        - luma[:, :-2, 1:-1]
        - luma[:, 2:, 1:-1]
        - luma[:, 1:-1, :-2]
        - luma[:, 1:-1, 2:]
    )
    return np.abs(laplacian).mean(axis=(1, 2))


def nyquist(images: np.ndarray) -> np.ndarray:
    luma = images @ LUMA
    luma = luma - luma.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(luma)) ** 2
    half_h, half_w = luma.shape[1] // 2, luma.shape[2] // 2
    peak = power[:, half_h, :].sum(axis=1) + power[:, :, half_w].sum(axis=1)
    return peak / (power.sum(axis=(1, 2)) + 1e-9)


STATISTICS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "luma_noise": luma_noise,
    "chroma_noise": chroma_noise,
    "detail": detail,
    "nyquist": nyquist,
}


def load_groups(dataset: Path, limit: int, size: int) -> dict[str, np.ndarray]:
    from detectors.data import scan

    data = scan(datasets=[dataset], image_size=size)
    groups: dict[str, list[np.ndarray]] = {}
    for sample in data.samples:
        name = "real" if sample.label == 0 else str(sample.family)
        members = groups.setdefault(name, [])
        if len(members) < limit:
            pixels = data.pixels(sample)
            # A centre tile, so every statistic sees the same size from every group.
            top = (pixels.shape[0] - size) // 2
            left = (pixels.shape[1] - size) // 2
            members.append(pixels[top : top + size, left : left + size])
    if "real" not in groups:
        raise SystemExit(f"{dataset} holds no real images")
    return {name: np.stack(members).astype(np.float64) for name, members in groups.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, default=Path("build/model-data"))
    parser.add_argument("--limit", type=int, default=2000, help="images per group")
    parser.add_argument("--size", type=int, default=32, help="centre tile (even)")
    args = parser.parse_args()

    groups = load_groups(args.dataset, args.limit, args.size)
    real_uint8 = groups["real"].astype(np.uint8)
    controls = {
        f"real+blur{sigma}": np.stack([gaussian_blur(x, sigma) for x in real_uint8]).astype(float)
        for sigma in (1, 2)
    }
    families = sorted(name for name in groups if name != "real")
    ordered = {"real": groups["real"], **controls, **{f: groups[f] for f in families}}
    values = {
        group: {stat: fn(images) for stat, fn in STATISTICS.items()}
        for group, images in ordered.items()
    }
    baseline = {stat: float(np.median(values["real"][stat])) for stat in STATISTICS}
    medians = {
        group: {stat: float(np.median(v)) for stat, v in stats.items()}
        for group, stats in values.items()
    }
    aucs: dict[str, dict[str, float]] = {}
    for group in [*controls, *families]:
        aucs[group] = {}
        for stat in STATISTICS:
            real, other = values["real"][stat], values[group][stat]
            labels = np.r_[np.zeros(len(real)), np.ones(len(other))]
            aucs[group][stat] = roc_auc(labels, np.r_[real, other])

    header = "".join(f"{stat:>22s}" for stat in STATISTICS)
    print(f"median (ratio to real)  n={args.limit} per group, {args.size} px centre tiles")
    print(f"{'group':14s}{header}")
    for group, stats in medians.items():
        cells = "".join(
            f"{stats[s]:>13.4g} ({stats[s] / baseline[s] if baseline[s] else float('nan'):5.2f}x)"
            for s in STATISTICS
        )
        print(f"{group:14s}{cells}")
    print("\nROC-AUC of the statistic alone, group vs real (0.5 chance, < 0.5: the real side)")
    print(f"{'group':14s}{header}")
    for group, stats in aucs.items():
        print(f"{group:14s}" + "".join(f"{stats[s]:>22.3f}" for s in STATISTICS))
    print(
        json.dumps(
            {
                "bench": "family_cues",
                "dataset": str(args.dataset),
                "per_group": args.limit,
                "median": {g: {s: round(v, 5) for s, v in m.items()} for g, m in medians.items()},
                "ratio_to_real": {
                    g: {s: round(v / baseline[s], 3) if baseline[s] else None for s, v in m.items()}
                    for g, m in medians.items()
                },
                "roc_auc_vs_real": {
                    g: {s: round(v, 3) for s, v in m.items()} for g, m in aucs.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main()
