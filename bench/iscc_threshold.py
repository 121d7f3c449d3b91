"""How far the ISCC Content-Code Image (256 bits, ``io.iscc.v0``) of an image moves under
the edits a platform makes, and how close the codes of distinct images come: the figures
behind ``provenance.iscc.ISCC_MATCH_DISTANCE``.

Images: the real photos of ``bench/fingerprint_robustness.py`` (the built-in photos of
``generators.realphotos``, scikit-image's sample photos, the PDQ test photo, and
../shared/pdq-reference's photos when present), each cut into four quadrants. For each
edit, the Hamming distance between the code of the edited copy and the original's; for
distinct images, the distance between every pair (quadrants of one photo count as
distinct). The same for the first 64 bits (the 64-bit Content-Code Image, iscc-core's
default length), for comparison. Prints a Markdown table and one JSON line.

    nice .venv/bin/python bench/iscc_threshold.py [--threshold 48]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fingerprint_robustness import (
    crop_edit,
    hamming_matrix,
    hash_bits,
    jpeg_edit,
    load_photos,
    quadrants,
)


def _resize(scale: float) -> Callable[[Image.Image], Image.Image]:
    def edit(image: Image.Image) -> Image.Image:
        size = (round(image.width * scale), round(image.height * scale))
        return image.resize(size, Image.Resampling.LANCZOS)

    return edit


def _stripped(image: Image.Image) -> Image.Image:
    """What an upload pipeline does: 0.75x, then JPEG q60."""
    return jpeg_edit(60)(_resize(0.75)(image))


def _png(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "PNG (lossless)": _png,
    "JPEG q90": jpeg_edit(90),
    "JPEG q75": jpeg_edit(75),
    "JPEG q50": jpeg_edit(50),
    "resize 0.5x": _resize(0.5),
    "resize 0.5x + JPEG q75": lambda im: jpeg_edit(75)(_resize(0.5)(im)),
    "resize 0.75x + JPEG q60": _stripped,
    "crop 5%": crop_edit(0.05),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=int, default=48)
    parser.add_argument("--max-side", type=int, default=640)
    args = parser.parse_args()

    from provenance.iscc import ISCC_BITS, image_code

    images = quadrants(load_photos(args.max_side))
    names = sorted(images)
    originals = hash_bits([image_code(images[name]) for name in names])

    edited: dict[str, np.ndarray] = {}
    for edit_name, edit in EDITS.items():
        codes = hash_bits([image_code(edit(images[name])) for name in names])
        edited[edit_name] = np.count_nonzero(codes != originals, axis=1)
        edited[edit_name + " /64"] = np.count_nonzero(codes[:, :64] != originals[:, :64], axis=1)

    upper = np.triu_indices(len(names), k=1)
    distinct = hamming_matrix(originals, originals)[upper]
    distinct_64 = hamming_matrix(originals[:, :64], originals[:, :64])[upper]
    closest = int(np.argmin(distinct))

    def summary(values: np.ndarray) -> dict[str, float]:
        return {
            "median": float(np.median(values)),
            "p95": float(np.percentile(values, 95)),
            "max": int(values.max()),
            "min": int(values.min()),
        }

    print(
        f"{len(names)} images, {len(distinct)} distinct pairs; ISCC Content-Code Image "
        f"{ISCC_BITS} bits (and its first 64), match at <= {args.threshold}"
    )
    print()
    print("| edit | median | p95 | max | matched | first 64 bits: max |")
    print("|---|---|---|---|---|---|")
    rows = {}
    for edit_name in EDITS:
        values = edited[edit_name]
        rows[edit_name] = {
            **summary(values),
            "matched": float((values <= args.threshold).mean()),
            "max_64": int(edited[edit_name + " /64"].max()),
        }
        row = rows[edit_name]
        print(
            f"| {edit_name} | {row['median']:.0f} | {row['p95']:.0f} | {row['max']} | "
            f"{row['matched']:.0%} | {row['max_64']} |"
        )
    distinct_row = {
        **summary(distinct),
        "p1": float(np.percentile(distinct, 1)),
        "p5": float(np.percentile(distinct, 5)),
    }
    false_rate = float((distinct <= args.threshold).mean())
    print(
        f"| **distinct pairs** | {distinct_row['median']:.0f} | p1 {distinct_row['p1']:.0f}, "
        f"min {distinct_row['min']} | {distinct_row['max']} | {false_rate:.2%} false | "
        f"min {int(distinct_64.min())} |"
    )
    i, j = upper[0][closest], upper[1][closest]
    print()
    print(f"closest distinct pair: {names[i]} / {names[j]} at {int(distinct[closest])} bits")
    sweep = {t: float((distinct <= t).mean()) for t in (40, 48, 56, 64, 72)}
    rates = ", ".join(f"<= {t}: {r:.2%}" for t, r in sweep.items())
    print(f"false-match rate by threshold: {rates}")
    print(
        json.dumps(
            {
                "bench": "iscc_threshold",
                "images": len(names),
                "pairs": len(distinct),
                "threshold": args.threshold,
                "edits": rows,
                "distinct": distinct_row,
                "distinct_first_64_min": int(distinct_64.min()),
                "false_match_rate": false_rate,
                "false_match_by_threshold": sweep,
                "closest_distinct_pair": [names[i], names[j], int(distinct[closest])],
            }
        )
    )


if __name__ == "__main__":
    main()
