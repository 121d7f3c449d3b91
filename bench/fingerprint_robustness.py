"""Which edits PDQ, PDQ with its dihedral hashes, and pHash survive, and how often they
match distinct images: the table behind the default thresholds of the hash banks.

Images: real photos with no download (the built-in photos of ``generators.realphotos``
when scikit-image / scikit-learn are installed, more scikit-image sample photos, the PDQ
test photo in tests/fixtures, and ../shared/pdq-reference's photos when present), each cut
into four quadrants so that there are many distinct images. For each image and edit, an
edit "is matched" when the edited copy's hash is within the threshold of the original's:

* PDQ: the two PDQ hashes within 31 bits (PDQ quality >= 50 on both sides);
* PDQ-dihedral: the edited copy's PDQ within 31 bits of any of the original's eight
  rotation/flip hashes (what ``provaudit`` lookups do);
* pHash: imagehash pHashes within ``--phash-threshold`` bits (default 10).

False matches: the share of pairs of distinct images that match under the same rules.
Baseline in the same run: plain PDQ. Prints a Markdown table and one JSON line.

    nice .venv/bin/python bench/fingerprint_robustness.py [--phash-threshold 10]
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
SHARED_PDQ = REPO.parent / "shared" / "pdq-reference"
SKIMAGE_EXTRA = (
    "camera.png",
    "coins.png",
    "moon.png",
    "brick.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "ihc.png",
    "motorcycle_left.png",
    "horse.png",
)


def builtin_photo_bytes(prefix: str = "") -> dict[str, bytes]:
    """The encoded built-in photos of ``generators.realphotos`` that are installed."""
    photos: dict[str, bytes] = {}
    try:
        from generators.realphotos import available_photos, read_photo

        for photo in available_photos():
            data = read_photo(photo)
            if data:
                photos[f"{prefix}{photo.name}"] = data
    except ImportError:
        pass
    return photos


def decode_thumbnails(photos: dict[str, bytes], max_side: int) -> dict[str, Image.Image]:
    images = {}
    for name, data in photos.items():
        image = Image.open(io.BytesIO(data)).convert("RGB")
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        images[name] = image
    return images


def load_photos(max_side: int) -> dict[str, Image.Image]:
    """Every real photo available offline, scaled so the longer side is ``max_side``."""
    photos = builtin_photo_bytes()
    try:
        folder = resources.files("skimage") / "data"
        for name in SKIMAGE_EXTRA:
            if (folder / name).is_file():
                photos[f"skimage-{name}"] = (folder / name).read_bytes()
    except ModuleNotFoundError:
        pass
    photos["bridge"] = (REPO / "tests/fixtures/pdq/bridge-mods/aaa-orig.jpg").read_bytes()
    for name in ("q0122", "q0291", "q0746", "q1050", "q2821"):
        path = SHARED_PDQ / "labelme-subset" / f"{name}.jpg"
        if path.is_file():
            photos[f"labelme-{name}"] = path.read_bytes()
    return decode_thumbnails(photos, max_side)


def quadrants(images: dict[str, Image.Image]) -> dict[str, Image.Image]:
    out = {}
    for name, image in images.items():
        w, h = image.size
        for (qx, qy), label in zip(
            itertools.product((0, 1), (0, 1)), ("tl", "bl", "tr", "br"), strict=True
        ):
            box = (qx * w // 2, qy * h // 2, (qx + 1) * w // 2, (qy + 1) * h // 2)
            out[f"{name}/{label}"] = image.crop(box)
    return out


def jpeg_edit(quality: int) -> Callable[[Image.Image], Image.Image]:
    def edit(image: Image.Image) -> Image.Image:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")

    return edit


def crop_edit(share: float) -> Callable[[Image.Image], Image.Image]:
    """Cut ``share`` of the width and of the height, half from each side."""

    def edit(image: Image.Image) -> Image.Image:
        w, h = image.size
        dx, dy = round(w * share / 2), round(h * share / 2)
        return image.crop((dx, dy, w - dx, h - dy))

    return edit


def _screenshot(image: Image.Image) -> Image.Image:
    """Re-rendered on a screen and captured: scaled, framed by UI chrome, saved as PNG."""
    w, h = image.size
    shown = image.resize((round(w * 0.8), round(h * 0.8)), Image.Resampling.BILINEAR)
    margin, bar = round(0.06 * shown.width), round(0.05 * shown.height)
    canvas = Image.new(
        "RGB", (shown.width + 2 * margin, shown.height + 2 * margin + bar), "#f2f2f2"
    )
    canvas.paste(Image.new("RGB", (canvas.width, bar), "#202124"), (0, 0))
    canvas.paste(shown, (margin, bar + margin))
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "JPEG q30": jpeg_edit(30),
    "JPEG q50": jpeg_edit(50),
    "JPEG q70": jpeg_edit(70),
    "JPEG q90": jpeg_edit(90),
    "resize 0.5x": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "crop 5%": crop_edit(0.05),
    "crop 10%": crop_edit(0.10),
    "rotate 90°": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "flip": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "+brightness": lambda im: ImageEnhance.Brightness(im).enhance(1.3),
    "screenshot": _screenshot,
}


def hash_bits(hex_values: list[str]) -> np.ndarray:
    return np.unpackbits(
        np.frombuffer(bytes.fromhex("".join(hex_values)), np.uint8).reshape(len(hex_values), -1),
        axis=1,
    )


def hamming_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All pairwise Hamming distances between the rows of two bit matrices."""
    a, b = a.astype(np.int32), b.astype(np.int32)
    return a @ (1 - b).T + (1 - a) @ b.T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phash-threshold", type=int, default=10)
    parser.add_argument("--pdq-threshold", type=int, default=31)
    parser.add_argument("--max-side", type=int, default=640)
    args = parser.parse_args()

    from provenance.fingerprint import PDQ_MIN_QUALITY, pdq_hash, pdq_hash_dihedral, phash

    images = quadrants(load_photos(args.max_side))
    names = sorted(images)
    originals = {}
    for name in names:
        variants = pdq_hash_dihedral(images[name])
        originals[name] = (
            variants[0][0],
            variants[0][1],
            [v for v, _q in variants],
            phash(images[name]),
        )
    usable = [n for n in names if originals[n][1] >= PDQ_MIN_QUALITY]

    rows: dict[str, dict[str, float]] = {}
    for edit_name, edit in EDITS.items():
        counts = {"PDQ": 0, "PDQ-dihedral": 0, "pHash": 0}
        for name in usable:
            pdq, _quality, dihedral, ph = originals[name]
            edited = edit(images[name])
            edited_pdq, edited_quality = pdq_hash(edited)
            ok = edited_quality >= PDQ_MIN_QUALITY
            bits = hash_bits([edited_pdq])
            to_original = int(hamming_matrix(bits, hash_bits([pdq]))[0, 0])
            to_any = int(hamming_matrix(bits, hash_bits(dihedral)).min())
            counts["PDQ"] += ok and to_original <= args.pdq_threshold
            counts["PDQ-dihedral"] += ok and to_any <= args.pdq_threshold
            counts["pHash"] += (
                int(hamming_matrix(hash_bits([phash(edited)]), hash_bits([ph]))[0, 0])
                <= args.phash_threshold
            )
        rows[edit_name] = {method: count / len(usable) for method, count in counts.items()}

    # False matches between distinct images (quadrants of one photo count as distinct).
    pdq_bits = hash_bits([originals[n][0] for n in usable])
    plain = hamming_matrix(pdq_bits, pdq_bits)
    dihedral_bits = [hash_bits(originals[n][2]) for n in usable]
    any_variant = np.min(
        np.stack(
            [hamming_matrix(pdq_bits, np.stack([d[k] for d in dihedral_bits])) for k in range(8)]
        ),
        axis=0,
    )
    ph_bits = hash_bits([originals[n][3] for n in usable])
    ph = hamming_matrix(ph_bits, ph_bits)
    upper = np.triu_indices(len(usable), k=1)
    pairs = len(upper[0])
    false = {
        "PDQ": float((plain[upper] <= args.pdq_threshold).mean()),
        "PDQ-dihedral": float(
            (np.minimum(any_variant, any_variant.T)[upper] <= args.pdq_threshold).mean()
        ),
        "pHash": float((ph[upper] <= args.phash_threshold).mean()),
    }
    phash_sweep = {t: float((ph[upper] <= t).mean()) for t in (4, 6, 8, 10, 12, 14)}
    nearest_distinct = {
        "PDQ": int(plain[upper].min()),
        "PDQ-dihedral": int(np.minimum(any_variant, any_variant.T)[upper].min()),
        "pHash": int(ph[upper].min()),
    }

    either = np.minimum(any_variant, any_variant.T)
    falsely_matched = [
        (usable[i], usable[j], int(either[i, j]))
        for i, j in zip(*upper, strict=True)
        if either[i, j] <= args.pdq_threshold
    ]
    methods = ("PDQ", "PDQ-dihedral", "pHash")
    print(
        f"{len(usable)} images ({len(names) - len(usable)} left out for PDQ quality < 50), "
        f"{pairs} distinct pairs; PDQ <= {args.pdq_threshold}, pHash <= {args.phash_threshold}"
    )
    print()
    print("| edit | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    for edit_name, shares in rows.items():
        print(f"| {edit_name} | " + " | ".join(f"{shares[m]:.0%}" for m in methods) + " |")
    print(
        "| **false matches** (distinct pairs) | "
        + " | ".join(f"{false[m]:.2%}" for m in methods)
        + " |"
    )
    print()
    print(
        "pHash false-match rate by threshold: "
        + ", ".join(f"<= {t}: {r:.2%}" for t, r in phash_sweep.items())
    )
    print(
        json.dumps(
            {
                "bench": "fingerprint_robustness",
                "images": len(usable),
                "pairs": pairs,
                "pdq_threshold": args.pdq_threshold,
                "phash_threshold": args.phash_threshold,
                "matched": rows,
                "false_match_rate": false,
                "phash_false_match_by_threshold": phash_sweep,
                "closest_distinct_pair": nearest_distinct,
                "pdq_dihedral_false_matches": falsely_matched[:20],
            }
        )
    )


if __name__ == "__main__":
    main()
