"""How far the box reduction before hashing (``provenance.fingerprint.hashing_image``) moves
PDQ and pHash on large camera photos, and what it saves.

For each photo: the hashes of the full-resolution pixels (the reference computation, the
baseline) against those of the reduced image: their Hamming distances, and the hash's
speed as a ratio to the full one, measured in this process. The images are the large camera JPEGs of
the C2PA conformance set in ``../shared`` (4032x3024 and 4128x2752), each also enlarged
2x with Lanczos to stand in for a 48-megapixel sensor.

    python bench/hash_reduction_bench.py
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pdqhash
from PIL import Image

from provenance.fingerprint import HASH_MAX_PIXELS, hashing_image, pdq_hash, phash

T = TypeVar("T")

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "c2pa-testfiles" / "jpeg"
NAMES = (
    "nikon-20221019-building.jpeg",
    "truepic-20230212-camera.jpg",
    "truepic-20230212-landscape.jpg",
    "truepic-20230212-library.jpg",
)


def _distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def _full_pdq(image: Image.Image) -> str:
    bits, _quality = pdqhash.compute(np.ascontiguousarray(np.asarray(image, dtype=np.uint8)))
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def _full_phash(image: Image.Image) -> str:
    import imagehash

    return str(imagehash.phash(image))


def _timed(function: Callable[[Image.Image], T], image: Image.Image) -> tuple[T, float]:
    started = time.perf_counter()
    value = function(image)
    return value, time.perf_counter() - started


def main() -> None:
    rows = []
    for name in NAMES:
        photo = Image.open(PHOTOS / name).convert("RGB")
        enlarged = photo.resize((photo.width * 2, photo.height * 2), Image.Resampling.LANCZOS)
        for label, image in ((name, photo), (f"{name} 2x", enlarged)):
            full, full_s = _timed(_full_pdq, image)
            full_phash = _full_phash(image)
            (reduced, _q), reduced_s = _timed(pdq_hash, image)
            rows.append(
                {
                    "image": label,
                    "size": list(image.size),
                    "reduced_to": list(hashing_image(image).size),
                    "pdq_distance": _distance(full, reduced),
                    "phash_distance": _distance(full_phash, phash(image)),
                    "speedup": round(full_s / reduced_s, 1),
                }
            )
    for row in rows:
        print(
            f"{row['image']:40} {row['size'][0]}x{row['size'][1]} -> "
            f"{row['reduced_to'][0]}x{row['reduced_to'][1]}: PDQ moves {row['pdq_distance']} "
            f"bits, pHash {row['phash_distance']}; {row['speedup']}x faster than the full hash"
        )
    summary = {
        "bench": "hash_reduction",
        "hash_max_pixels": HASH_MAX_PIXELS,
        "images": len(rows),
        "max_pdq_distance": max(row["pdq_distance"] for row in rows),
        "max_phash_distance": max(row["phash_distance"] for row in rows),
        "min_speedup": min(row["speedup"] for row in rows),
        "rows": rows,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
