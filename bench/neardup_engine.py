"""Near-duplicate recall per edit and image size, false pairs, and search time at scale.

The measurement behind ``bias-report``'s default near-duplicate engine ("phash-centre":
the pHash of each image and of its central 95 %, any code within the radius, or up to
three bits past it when the two pictures' 8x8 luma layouts correlate at 0.9 or more; an
exact FAISS multi-hash search up to 5,000 images, a blocked search on five 22-bit keys
above), against, in the same run: the exact search without the layout check, the previous
blocked search (five 24-bit keys, no layout check) and the default before those, PDQ at
radius 15.

Part 1, recall and false pairs, on real pixels: the project's built-in photos
(``generators.realphotos``) whole and as their four quadrants, and programmatic renders
(``generators.renders``), each scaled so that its longer side is every one of
``--sizes`` (32 px to 4,000 px: the photos are at most 640 px, so the larger sizes are
upscaled). Each is edited by JPEG q50/q70/q90, resizing by 0.5/0.7/0.9, brightness +-10 %,
a centred 5 % crop, and the issue's case, JPEG q70 after a 0.9x resize. All originals and
copies of all sizes go into one pool and each search runs once over it (the blocked ones
forced, whatever the pool's size); a copy is recalled when the search pairs it with its
own original directly. Every pair between images of two different sources (a photo and
its quadrant count as different) is a false pair; its share is taken of all pairs of
different sources in the pool.

Part 2, at each of ``--scale``: synthetic codes drawn to mimic the real ones (64-bit
pHashes whose bits are each set as often as in the real pool's codes; each image's centre
hash its whole hash with six bits flipped), with the pool's real copies planted among
them (each original and its copy, their four codes XORed by one mask: every distance
among them kept, so a search sees the real pair; at most n / 5 copies, cells taking
turns); the synthetic images' layouts are random bytes, the planted ones' their own.
Each search's time, its recall of the planted copies per edit and size, and the
other pairs it finds; PDQ-15 on random 256-bit codes as the baseline, and the exact search
where the default engine runs it (up to 5,000 images).

    OMP_NUM_THREADS=2 nice .venv/bin/python bench/neardup_engine.py \\
        [--sizes 32,64,128,512,1024,4000] [--renders 24] [--scale 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service.bias.neardup import (  # noqa: E402
    EXACT_MAX_IMAGES,
    LAYOUT_EXTRA_BITS,
    WIDE_KEY_BLOCKING,
)
from service.bias.options import (  # noqa: E402
    DEFAULT_CENTRE_RADIUS,
    DEFAULT_PDQ_RADIUS,
)

Edit = Callable[[Image.Image], Image.Image]
GOAL_RECALL = 0.95
GOAL_FALSE_PAIR_SHARE = 0.001


def _jpeg(quality: int) -> Edit:
    def edit(image: Image.Image) -> Image.Image:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")

    return edit


def _resize(scale: float) -> Edit:
    def edit(image: Image.Image) -> Image.Image:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        return image.resize(size, Image.Resampling.LANCZOS)

    return edit


def _brightness(factor: float) -> Edit:
    return lambda image: ImageEnhance.Brightness(image).enhance(factor)


def _crop(share: float) -> Edit:
    """Cut ``share`` of the width and of the height, half from each side."""

    def edit(image: Image.Image) -> Image.Image:
        w, h = image.size
        dx, dy = round(w * share / 2), round(h * share / 2)
        return image.crop((dx, dy, w - dx, h - dy))

    return edit


EDITS: dict[str, Edit] = {
    "JPEG q50": _jpeg(50),
    "JPEG q70": _jpeg(70),
    "JPEG q90": _jpeg(90),
    "resize 0.5x": _resize(0.5),
    "resize 0.7x": _resize(0.7),
    "resize 0.9x": _resize(0.9),
    "brightness +10%": _brightness(1.10),
    "brightness -10%": _brightness(0.90),
    "crop 5%": _crop(0.05),
    "q70 after 0.9x": lambda image: _jpeg(70)(_resize(0.9)(image)),
}


def sources(renders: int, seed: int = 20) -> dict[str, Image.Image]:
    """Distinct images: built-in photos, their quadrants, and ``renders`` renders."""
    from bench.fingerprint_robustness import builtin_photo_bytes, decode_thumbnails, quadrants
    from generators.renders import render

    photos = decode_thumbnails(builtin_photo_bytes(prefix="photo-"), 4000)
    images = {**photos, **quadrants(photos)}
    for index in range(renders):
        drawn = render(seed, index)
        images[f"render-{index:03d}-{drawn.kind}"] = Image.fromarray(drawn.pixels)
    return images


def at_size(image: Image.Image, side: int) -> Image.Image:
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


@dataclass(frozen=True)
class Entry:
    source: str
    size: int
    edit: str  # "" for the original


def hash_pool(images: dict[str, Image.Image], sizes: list[int]) -> tuple[list[Entry], dict]:
    from provenance.fingerprint import pdq_hash, phash, phash_centre
    from service.bias.images import QUALITY_MAX_SIDE, layout

    entries: list[Entry] = []
    columns: dict[str, list] = {
        "pdq": [], "pdq_quality": [], "phash": [], "phash_centre": [], "layout": []
    }  # fmt: skip

    def add(entry: Entry, image: Image.Image) -> None:
        image = image.convert("RGB")
        pdq, quality = pdq_hash(image)
        entries.append(entry)
        columns["pdq"].append(pdq)
        columns["pdq_quality"].append(quality)
        columns["phash"].append(phash(image))
        columns["phash_centre"].append(phash_centre(image))
        # As the report's per-image stage takes it: from the copy it keeps for statistics.
        small = image
        if max(image.size) > QUALITY_MAX_SIDE:
            small = image.copy()
            small.thumbnail((QUALITY_MAX_SIDE, QUALITY_MAX_SIDE), Image.Resampling.BOX)
        columns["layout"].append(layout(small))

    for side in sizes:
        for name, source in images.items():
            original = at_size(source, side)
            add(Entry(name, side, ""), original)
            for edit_name, edit in EDITS.items():
                add(Entry(name, side, edit_name), edit(original))
    return entries, columns


def engine_pairs(name: str, columns: dict, radius: int) -> tuple[set[tuple[int, int]], float]:
    """The image pairs the report's engine ``name`` finds, and the search's seconds."""
    from provenance.fingerprint import PDQ_MIN_QUALITY
    from service.bias.neardup import blocked_image_pairs, layout_checked_pairs, near_image_pairs

    n = len(columns["pdq"])
    if name == "pdq":
        usable = [i for i in range(n) if columns["pdq_quality"][i] >= PDQ_MIN_QUALITY]
        codes = [[columns["pdq"][i]] for i in usable]
    else:
        usable = list(range(n))
        codes = [[columns["phash"][i], columns["phash_centre"][i]] for i in usable]
    start = time.perf_counter()
    layouts = np.asarray(columns["layout"])[usable]
    if name == "phash-centre-blocked":
        pairs, _, _ = layout_checked_pairs(blocked_image_pairs, codes, radius, layouts)
    elif name == "phash-centre-blocked-former":
        pairs, _, _ = blocked_image_pairs(codes, radius, blocking=WIDE_KEY_BLOCKING)
    elif name == "phash-centre":
        pairs, _, _ = layout_checked_pairs(near_image_pairs, codes, radius, layouts)
    else:  # the radius alone: PDQ-15, and phash-centre before the layout check
        pairs, _, _ = near_image_pairs(codes, radius)
    seconds = time.perf_counter() - start
    return {(usable[a], usable[b]) for a, b in pairs.tolist()}, seconds


def score(entries: list[Entry], found: set[tuple[int, int]], sizes: list[int]) -> dict:
    index = {(e.source, e.size, e.edit): i for i, e in enumerate(entries)}
    recall: dict[str, dict[str, float]] = {}
    for edit in EDITS:
        recall[edit] = {}
        for side in sizes:
            hits = total = 0
            for e in entries:
                if e.edit != edit or e.size != side:
                    continue
                a, b = index[(e.source, side, "")], index[(e.source, side, edit)]
                total += 1
                hits += (min(a, b), max(a, b)) in found
            recall[edit][str(side)] = hits / total if total else float("nan")
    per_source: dict[str, int] = {}
    for e in entries:
        per_source[e.source] = per_source.get(e.source, 0) + 1
    n = len(entries)
    same = sum(k * (k - 1) // 2 for k in per_source.values())
    distinct_pairs = n * (n - 1) // 2 - same
    false = sum(entries[a].source != entries[b].source for a, b in found)
    true = len(found) - false
    return {
        "recall": recall,
        "worst_cell": min(v for row in recall.values() for v in row.values()),
        "false_pairs": false,
        "true_pairs_found": true,
        "distinct_pairs": distinct_pairs,
        "false_pair_share": false / distinct_pairs,
    }


def bit_shares(columns: dict) -> np.ndarray:
    """How often each of the 64 pHash bits is set over the real pool's codes."""
    codes = [columns["phash"], columns["phash_centre"]]
    bits = [[int(c, 16) >> (63 - k) & 1 for k in range(64)] for col in codes for c in col]
    return np.asarray(bits, dtype=np.float64).mean(0)


def planted_copies(entries: list[Entry], columns: dict, sizes: list[int]) -> list[dict]:
    """Every copy of the pool with its original: both images' two 64-bit codes, and its
    cell."""
    index = {(e.source, e.size, e.edit): i for i, e in enumerate(entries)}
    copies = []
    for i, e in enumerate(entries):
        if e.edit and e.size in sizes:
            j = index[(e.source, e.size, "")]
            copies.append(
                {
                    "cell": (e.edit, e.size),
                    "original": [int(columns[c][j], 16) for c in ("phash", "phash_centre")],
                    "copy": [int(columns[c][i], 16) for c in ("phash", "phash_centre")],
                    "layouts": (columns["layout"][j], columns["layout"][i]),
                }
            )
    return copies


def stratified(copies: list[dict], count: int, rng: np.random.Generator) -> list[dict]:
    """``count`` of the copies, the cells taking turns, so each keeps an even share."""
    cells: dict[tuple, list[dict]] = {}
    for copy in copies:
        cells.setdefault(copy["cell"], []).append(copy)
    queues = [[group[k] for k in rng.permutation(len(group))] for group in cells.values()]
    chosen: list[dict] = []
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop())
    return chosen


def synthetic_codes(
    n: int, shares: np.ndarray, copies: list[dict], seed: int = 0
) -> tuple[list[list[str]], np.ndarray, list[tuple[int, int, tuple]]]:
    """``n`` images' two codes drawn like real pHashes, with real copies planted.

    A planted pair is a real original and its copy, all four codes XORed with one mask that
    turns the original's whole-image hash into a synthetic image's: XOR by a common mask
    keeps every Hamming distance among the four codes, on the keys as on the whole codes,
    so a search treats the pair as it treats the real one, among n synthetic neighbours.
    At most n / 5 copies are planted (two images each), the cells taking turns. Layouts:
    random bytes for the synthetic images (two seldom agree), the real ones for the planted.
    """
    rng = np.random.default_rng([seed, n])
    # Each bit set as often as in real pHashes (bits drawn independently).
    whole = (rng.random((n, 64)) < shares).astype(np.uint8)
    centre = whole.copy()
    # The centre hash of a real image differs from its whole hash by a few bits.
    flips = rng.integers(0, 64, (n, 6))
    centre[np.arange(n)[:, None], flips] ^= 1
    as_int = lambda bits: np.packbits(bits, axis=1).view(">u8").ravel().tolist()  # noqa: E731
    codes = [list(pair) for pair in zip(as_int(whole), as_int(centre), strict=True)]
    chosen = stratified(copies, min(len(copies), n // 5), rng)
    slots = rng.choice(n, 2 * len(chosen), replace=False)
    layouts = rng.integers(0, 256, (n, 64), dtype=np.uint8)
    planted = []
    for copy, original_at, copy_at in zip(chosen, slots[0::2], slots[1::2], strict=True):
        layouts[original_at], layouts[copy_at] = copy["layouts"]
        mask = codes[original_at][0] ^ copy["original"][0]
        codes[original_at] = [code ^ mask for code in copy["original"]]
        codes[copy_at] = [code ^ mask for code in copy["copy"]]
        a, b = sorted((int(original_at), int(copy_at)))
        planted.append((a, b, copy["cell"]))
    return [[f"{code:016x}" for code in own] for own in codes], layouts, planted


def planted_recall(
    found: set[tuple[int, int]], planted: list[tuple[int, int, tuple]]
) -> dict[str, dict[str, float]]:
    hits: dict[tuple, list[bool]] = {}
    for a, b, cell in planted:
        hits.setdefault(cell, []).append((a, b) in found)
    recall: dict[str, dict[str, float]] = {}
    for (edit, side), got in hits.items():
        recall.setdefault(edit, {})[str(side)] = sum(got) / len(got)
    return recall


def timing(n: int, shares: np.ndarray, copies: list[dict], radius: int) -> dict:
    """Seconds, planted copies found per cell, and other pairs of each search on ``n``
    synthetic images, and of the PDQ-15 baseline on ``n`` random codes."""
    from service.bias.neardup import (
        blocked_image_pairs,
        layout_checked_pairs,
        near_image_pairs,
        near_pairs,
    )

    codes, layouts, planted = synthetic_codes(n, shares, copies)
    planted_pairs = {(a, b) for a, b, _ in planted}
    searches: dict[str, Callable] = {
        "phash-centre-blocked": lambda c, r: layout_checked_pairs(
            blocked_image_pairs, c, r, layouts
        ),
        "phash-centre-blocked-former": lambda c, r: blocked_image_pairs(
            c, r, blocking=WIDE_KEY_BLOCKING
        ),
    }
    if n <= EXACT_MAX_IMAGES:
        searches["phash-centre"] = lambda c, r: layout_checked_pairs(
            near_image_pairs, c, r, layouts
        )
    row: dict = {"images": n, "planted": len(planted), "engines": {}}
    for name, search in searches.items():
        start = time.perf_counter()
        pairs, _, info = search(codes, radius)
        seconds = time.perf_counter() - start
        found = {tuple(p) for p in pairs.tolist()}
        recall = planted_recall(found, planted)
        row["engines"][name] = {
            "seconds": round(seconds, 2),
            "planted_found": len(found & planted_pairs),
            "recall": recall,
            "worst_cell": min(v for cells in recall.values() for v in cells.values()),
            # Pairs of synthetic codes whose independently drawn bits land within the
            # radius; they bound, from above, what the search adds to the real pool's
            # false pairs.
            "other_pairs": len(found - planted_pairs),
            "search": info,
        }
    rng = np.random.default_rng([1, n])
    pdq = [code.tobytes().hex() for code in rng.integers(0, 256, (n, 32), dtype=np.uint8)]
    start = time.perf_counter()
    near_pairs(pdq, DEFAULT_PDQ_RADIUS)
    row["pdq15_seconds"] = baseline = round(time.perf_counter() - start, 2)
    new = row["engines"]["phash-centre-blocked"]["seconds"]
    former = row["engines"]["phash-centre-blocked-former"]["seconds"]
    row["ratio_blocked_to_former"] = round(new / former, 3) if former else None
    row["ratio_blocked_to_pdq15"] = round(new / baseline, 3) if baseline else None
    row["default_mode"] = "exact" if n <= EXACT_MAX_IMAGES else "blocked"
    return row


def recall_table(
    rows: dict[str, dict[str, dict[str, float]]], sizes: list[int], label: str
) -> list[str]:
    """A markdown table, one cell per edit and size: the engines' recalls, in order."""
    lines = [label, "| edit | " + " | ".join(f"{s} px" for s in sizes) + " |"]
    lines.append("|---|" + "---|" * len(sizes))
    for edit in EDITS:
        cells = []
        for side in sizes:
            values = [r.get(edit, {}).get(str(side)) for r in rows.values()]
            cells.append(" / ".join("-" if v is None else f"{v:.0%}" for v in values))
        lines.append(f"| {edit} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="32,64,128,512,1024,4000")
    parser.add_argument("--renders", type=int, default=24)
    parser.add_argument("--scale", default="10000,100000", help="image counts to time, or ''")
    parser.add_argument("--radius", type=int, default=DEFAULT_CENTRE_RADIUS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    started = time.perf_counter()
    images = sources(args.renders)
    entries, columns = hash_pool(images, sizes)
    hashed = time.perf_counter() - started
    engines = {
        "phash-centre": args.radius,
        "phash-centre-blocked": args.radius,
        "phash-centre-radius-only": args.radius,
        "phash-centre-blocked-former": args.radius,
        "pdq": DEFAULT_PDQ_RADIUS,
    }
    results = {}
    for name, radius in engines.items():
        found, seconds = engine_pairs(name, columns, radius)
        results[name] = {"radius": radius, "search_seconds": round(seconds, 3)}
        results[name].update(score(entries, found, sizes))

    print(
        f"{len(images)} distinct sources ({sum(k.startswith('photo-') for k in images)} photos "
        f"and quadrants, {args.renders} renders) x {len(sizes)} sizes x "
        f"{len(EDITS)} edits: {len(entries):,} images, hashed in {hashed:.0f} s"
    )
    label = (
        f"\nRecall (copies paired with their original): phash-centre r={args.radius} with "
        f"the layout check up to {args.radius + LAYOUT_EXTRA_BITS}: exact (up to "
        f"{EXACT_MAX_IMAGES:,} images) / blocked (above) / the exact one without the layout "
        f"check / the previous blocked search (five 24-bit keys, no layout check) / "
        f"PDQ r={DEFAULT_PDQ_RADIUS} (the default before those)"
    )
    print("\n".join(recall_table({k: r["recall"] for k, r in results.items()}, sizes, label)))
    goals = {}
    for name, r in results.items():
        goals[name] = {
            "recall_every_cell": r["worst_cell"] >= GOAL_RECALL,
            "false_pair_share": r["false_pair_share"] <= GOAL_FALSE_PAIR_SHARE,
        }
        print(
            f"{name} r={r['radius']}: worst cell {r['worst_cell']:.0%}, same-source pairs "
            f"{r['true_pairs_found']:,}, false pairs {r['false_pairs']} of "
            f"{r['distinct_pairs']:,} distinct pairs ({r['false_pair_share']:.4%}), search "
            f"{r['search_seconds']} s; goals (recall >= 95% every cell, <= 0.1% false "
            f"pairs): {goals[name]}"
        )

    scale = []
    shares = bit_shares(columns)
    copies = planted_copies(entries, columns, sizes)
    for n in [int(s) for s in args.scale.split(",") if s]:
        row = timing(n, shares, copies, args.radius)
        scale.append(row)
        label = (
            f"\n{n:,} images (synthetic codes, {row['planted']:,} real copies planted): "
            "planted copies found, " + " / ".join(row["engines"])
        )
        recalls = {k: e["recall"] for k, e in row["engines"].items()}
        print("\n".join(recall_table(recalls, sizes, label)))
        for name, e in row["engines"].items():
            print(
                f"{name}: {e['seconds']} s, planted found {e['planted_found']:,}/"
                f"{row['planted']:,}, worst cell {e['worst_cell']:.0%}, other pairs "
                f"{e['other_pairs']:,}, candidates {e['search']['candidates']:,}"
            )
        print(
            f"search {n:>9,} images: blocked "
            f"{row['engines']['phash-centre-blocked']['seconds']} s, former blocked "
            f"{row['engines']['phash-centre-blocked-former']['seconds']} s (ratio "
            f"{row['ratio_blocked_to_former']}), PDQ-15 {row['pdq15_seconds']} s (ratio "
            f"{row['ratio_blocked_to_pdq15']}); the default engine runs {row['default_mode']}"
        )
    record = {
        "bench": "neardup_engine",
        "sizes": sizes,
        "sources": len(images),
        "images": len(entries),
        "edits": list(EDITS),
        "engines": results,
        "goals": goals,
        "scale": scale,
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
