"""Leave-one-family-out AP of two detectors and of their max-fusion, from two ``loo`` runs.

``provaudit detectors loo --out DIR`` leaves ``DIR/without-<family>`` checkpoints. Given
two such folders trained on the same data with different recipes (say ``npr_raw``, which
holds up under recompression, and ``chroma``, which generalises to unseen families on
lossless images), this scores, for every held-out family, the held-out split's real
images and that family's images with both, and reports AP for each detector alone and for
the larger of the two calibrated logits (a generated image needs only one expert to
notice it; what ``detectors loo --transform A --transform B`` scores, less the fusion's own
recalibration, which is monotone and leaves AP as it is). The same for the families each
checkpoint *was* trained on, clean and after JPEG q75 and a 0.5x downscale, so the cost of
fusion on seen families is visible.

Baseline in the same run: detector A alone. Prints a table, the ratios fused / A, and a
JSON line.

    .venv/bin/python bench/loo_fusion.py --dataset build/model-data \\
        --loo-a build/loo-npr_raw --loo-b build/loo-chroma
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectors.augment import downscale, jpeg_roundtrip
from detectors.metrics import average_precision

PERTURBATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "clean": lambda pixels: pixels,
    "jpeg75": lambda pixels: jpeg_roundtrip(pixels, 75),
    "downscale0.5": lambda pixels: downscale(pixels, 0.5),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--loo-a", type=Path, required=True, help="baseline loo folder")
    parser.add_argument("--loo-b", type=Path, required=True)
    parser.add_argument("--backend", default="torch")
    args = parser.parse_args()

    from detectors.data import scan
    from detectors.detect import open_scorer

    first = open_scorer(next(args.loo_a.glob("without-*")), backend=args.backend)
    data = scan(datasets=[args.dataset], image_size=first.spec.image_size)
    held_out_split = [s for s in data.samples if s.split != "train"]
    rows: list[dict[str, object]] = []
    for family in data.families:
        experts = [
            open_scorer(folder / f"without-{family}", backend=args.backend)
            for folder in (args.loo_a, args.loo_b)
        ]
        cases = [("held_out", "clean", [s for s in held_out_split if s.family in (None, family)])]
        seen = [s for s in held_out_split if s.family != family]
        cases += [("seen", name, seen) for name in PERTURBATIONS]
        for kind, perturbation, samples in cases:
            images = [PERTURBATIONS[perturbation](data.pixels(s)) for s in samples]
            labels = np.array([s.label for s in samples])
            # Calibrated log-odds (shift folded into the weights, then the temperature),
            # the scale on which detectors.fusion takes the max.
            logit_a, logit_b = (
                expert.score_pixels(images).logits / expert.spec.temperature for expert in experts
            )
            rows.append(
                {
                    "without": family,
                    "families": kind,
                    "perturbation": perturbation,
                    "ap_a": average_precision(labels, logit_a),
                    "ap_b": average_precision(labels, logit_b),
                    "ap_max": average_precision(labels, np.maximum(logit_a, logit_b)),
                }
            )
    print(f"A = {args.loo_a}, B = {args.loo_b}; AP, and max-fusion / A")
    print(f"{'without':10s} {'scored on':10s} {'images':13s} {'A':>7s} {'B':>7s} {'max':>7s} ratio")
    for row in rows:
        print(
            f"{row['without']:10s} {row['families']:10s} {row['perturbation']:13s} "
            f"{row['ap_a']:7.3f} {row['ap_b']:7.3f} {row['ap_max']:7.3f} "
            f"{row['ap_max'] / row['ap_a']:.2f}x"
        )
    print(
        json.dumps(
            {
                "bench": "loo_fusion",
                "a": str(args.loo_a),
                "b": str(args.loo_b),
                "rows": [
                    {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
                    for row in rows
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
