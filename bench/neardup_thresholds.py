"""How far near-duplicate edits move PDQ and pHash, and how close distinct images come.

The measurement behind ``bias-report``'s default near-duplicate radii. Dataset
deduplication asks "is this the same picture, saved again?": re-encoded, resized, trimmed
or slightly re-toned copies. This script takes real photos available offline (the
built-in photos of ``generators.realphotos``, the PDQ test photo in tests/fixtures and
../shared/pdq-reference's photos when present), each whole and as its four quadrants
(quadrants of one photo are distinct images that share lighting and texture: a hard case
for false matches), applies each near-duplicate edit and prints, per edit, the largest,
95th-percentile and median Hamming distance between the original's hash and the copy's.
Then the same for every pair of distinct images: smallest distance, 0.1th percentile and
how many pairs fall within each candidate radius. Baseline in the same run: PDQ's own
matching threshold, 31 bits, whose false matches among distinct images are counted beside
the chosen radius's.

Images whose PDQ quality is below 50 are left out of the PDQ figures, as the report does.

    nice .venv/bin/python bench/neardup_thresholds.py [--max-side 640]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.fingerprint_robustness import (  # noqa: E402
    builtin_photo_bytes,
    crop_edit,
    decode_thumbnails,
    hamming_matrix,
    hash_bits,
    jpeg_edit,
    quadrants,
)
from service.bias.options import (  # noqa: E402
    DEFAULT_PDQ_RADIUS,
    DEFAULT_PHASH_RADIUS,
    PDQ_MATCH_RADIUS,
)

SHARED_PDQ = REPO.parent / "shared" / "pdq-reference"
CANDIDATES = {"pdq": (8, 10, 12, 14, 15, 16, 20, 24, 31), "phash": (2, 3, 4, 6, 8, 10, 12)}
# Radii whose share of kept copies is printed per edit: the report's defaults, PDQ's match
# threshold and the former pHash default.
SHOWN = {"pdq": (DEFAULT_PDQ_RADIUS, PDQ_MATCH_RADIUS), "phash": (DEFAULT_PHASH_RADIUS, 8)}


def load_photos(max_side: int) -> dict[str, Image.Image]:
    """Every distinct real photo available offline, longer side at most ``max_side``."""
    photos = builtin_photo_bytes(prefix="builtin-")
    photos["bridge"] = (REPO / "tests/fixtures/pdq/bridge-mods/aaa-orig.jpg").read_bytes()
    labelme = SHARED_PDQ / "labelme-subset"
    if labelme.is_dir():
        for path in sorted(labelme.glob("*.jpg")):
            photos[f"labelme-{path.stem}"] = path.read_bytes()
    return decode_thumbnails(photos, max_side)


def _resize(scale: float) -> Callable[[Image.Image], Image.Image]:
    def edit(image: Image.Image) -> Image.Image:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        return image.resize(size, Image.Resampling.LANCZOS)

    return edit


def _crop_corner(share: float) -> Callable[[Image.Image], Image.Image]:
    """Cut ``share`` of the width and height from the right and bottom edges only."""

    def edit(image: Image.Image) -> Image.Image:
        w, h = image.size
        return image.crop((0, 0, w - round(w * share), h - round(h * share)))

    return edit


def _brightness(factor: float) -> Callable[[Image.Image], Image.Image]:
    return lambda image: ImageEnhance.Brightness(image).enhance(factor)


EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "JPEG q80": jpeg_edit(80),
    "JPEG q50": jpeg_edit(50),
    "resize 0.75x": _resize(0.75),
    "resize 0.5x": _resize(0.5),
    "crop 5% (centred)": crop_edit(0.05),
    "crop 5% (one corner)": _crop_corner(0.05),
    "brightness +10%": _brightness(1.10),
    "brightness -10%": _brightness(0.90),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-side", type=int, default=640)
    args = parser.parse_args()

    from provenance.fingerprint import PDQ_MIN_QUALITY, pdq_hash, phash

    photos = load_photos(args.max_side)
    images = {**photos, **quadrants(photos)}
    names = sorted(images)
    pdq = {n: pdq_hash(images[n]) for n in names}
    ph = {n: phash(images[n]) for n in names}
    usable = [n for n in names if pdq[n][1] >= PDQ_MIN_QUALITY]

    edits: dict[str, dict[str, list[int]]] = {}
    for edit_name, edit in EDITS.items():
        found: dict[str, list[int]] = {"pdq": [], "phash": []}
        for name in names:
            copy = edit(images[name])
            copy_pdq, copy_quality = pdq_hash(copy)
            if name in usable and copy_quality >= PDQ_MIN_QUALITY:
                found["pdq"].append(
                    int(hamming_matrix(hash_bits([copy_pdq]), hash_bits([pdq[name][0]]))[0, 0])
                )
            found["phash"].append(
                int(hamming_matrix(hash_bits([phash(copy)]), hash_bits([ph[name]]))[0, 0])
            )
        edits[edit_name] = found

    upper_pdq = np.triu_indices(len(usable), k=1)
    distinct = {
        "pdq": hamming_matrix(b := hash_bits([pdq[n][0] for n in usable]), b)[upper_pdq],
        "phash": hamming_matrix(b := hash_bits([ph[n] for n in names]), b)[
            np.triu_indices(len(names), 1)
        ],
    }

    summary: dict[str, dict] = {}
    for hash_name, bits in (("pdq", 256), ("phash", 64)):
        worst_edit = max(max(found[hash_name]) for found in edits.values())
        pairs = distinct[hash_name]
        within = {r: int((pairs <= r).sum()) for r in CANDIDATES[hash_name]}
        # The separating radii: every edited copy inside, every distinct pair outside.
        separating = [r for r in range(bits) if worst_edit <= r < int(pairs.min())]
        summary[hash_name] = {
            "bits": bits,
            "images": len(usable) if hash_name == "pdq" else len(names),
            "distinct_pairs": len(pairs),
            "edits": {
                name: {
                    "max": max(found[hash_name]),
                    "p95": float(np.percentile(found[hash_name], 95)),
                    "median": float(np.median(found[hash_name])),
                    "copies": len(found[hash_name]),
                    "kept_within": {
                        r: float(np.mean(np.array(found[hash_name]) <= r)) for r in SHOWN[hash_name]
                    },
                }
                for name, found in edits.items()
            },
            "largest_edit_distance": worst_edit,
            "closest_distinct_pair": int(pairs.min()),
            "distinct_p0_1": float(np.percentile(pairs, 0.1)),
            "distinct_pairs_within": within,
            "separating_radii": [separating[0], separating[-1]] if separating else None,
        }

    for hash_name, s in summary.items():
        print(
            f"\n{hash_name.upper()} ({s['bits']} bits): {s['images']} images "
            f"(photos and their quadrants), {s['distinct_pairs']:,} distinct pairs"
        )
        shown = SHOWN[hash_name]
        print(
            "| edit | copies | max | p95 | median | "
            + " | ".join(f"kept at <= {r}" for r in shown)
            + " |"
        )
        print("|---|---|---|---|---|" + "---|" * len(shown))
        for name, row in s["edits"].items():
            print(
                f"| {name} | {row['copies']} | {row['max']} | {row['p95']:.0f} | "
                f"{row['median']:.0f} | "
                + " | ".join(f"{row['kept_within'][r]:.0%}" for r in shown)
                + " |"
            )
        print(
            f"| **distinct images** | {s['distinct_pairs']:,} pairs | closest "
            f"{s['closest_distinct_pair']} | 0.1th pct {s['distinct_p0_1']:.0f} | | "
            + " | ".join(f"{s['distinct_pairs_within'].get(r, 0)} within" for r in shown)
            + " |"
        )
        print(
            "distinct pairs within r: "
            + ", ".join(f"r={r}: {n}" for r, n in s["distinct_pairs_within"].items())
        )
        sep = s["separating_radii"]
        print(
            f"largest edit distance {s['largest_edit_distance']}, closest distinct pair "
            f"{s['closest_distinct_pair']}: "
            + (f"radii {sep[0]}-{sep[1]} separate them" if sep else "no radius separates them")
        )
    baseline = summary["pdq"]["distinct_pairs_within"][PDQ_MATCH_RADIUS]
    print(
        f"\nbaseline: PDQ's match threshold {PDQ_MATCH_RADIUS} puts {baseline} distinct "
        "pairs inside"
    )
    record = {"bench": "neardup_thresholds", "pdq_match_threshold": PDQ_MATCH_RADIUS, **summary}
    print(json.dumps(record))


if __name__ == "__main__":
    main()
