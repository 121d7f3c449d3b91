"""What the invisible watermark (``provenance.watermark``) survives, beside PDQ on the same
edited images.

Images: the built-in real photos of ``generators.realphotos`` (scikit-image and
scikit-learn must be installed) and one human-made render of each kind of
``generators.renders`` (seed 0), each cut to a centred square and resized (Lanczos) to each
``--sizes`` side: square like the bundled generators' 32 and 64 px output. Each image is
marked with ``--payloads`` random 32-bit payloads at the default strength. For each size
and edit (none, JPEG q90/q75/q50, a 0.5x resize read at the smaller size, a centred crop of
10 % of the width and height (5 % off each edge, as in bench/fingerprint_robustness.py), the
same 10 % cut from the left and top edges, brightness +10 % and -10 %):

* bit accuracy: share of the 32 payload bits decoded right (before the CRC check; from the
  crop the reader found, else from the whole frame);
* recovery: share of marked copies whose ``read`` returns exactly their payload;
  wrong reads: ``read`` returned another payload (the CRC let an error through);
* false reads: ``read`` of the same edit of the *unmarked* image returns anything;
* PSNR of the marked image against the original (RGB, 0-255);
* baseline, in the same run and on the same edited marked copies: PDQ recovery, the share
  whose PDQ hash lies within 31 bits of the marked original's with quality >= 50 on both
  (what a hash bank lookup needs); the ratio is watermark recovery / PDQ recovery.

Read times are medians per call (one thread: set OPENBLAS_NUM_THREADS=1 on a shared
machine, where OpenBLAS threads spin against other jobs). Prints a line per row, a
Markdown table and one JSON line.

    OPENBLAS_NUM_THREADS=1 nice .venv/bin/python bench/watermark_bench.py \
        [--sizes 32 64 128 256 512] [--payloads 3]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.fingerprint_robustness import builtin_photo_bytes, crop_edit  # noqa: E402

Edit = Callable[[Image.Image], Image.Image]


def jpeg_edit(quality: int) -> Edit:
    def edit(image: Image.Image) -> Image.Image:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")

    return edit


def corner_crop(share: float) -> Edit:
    """Cut ``share`` of the width from the left edge and of the height from the top."""

    def edit(image: Image.Image) -> Image.Image:
        w, h = image.size
        return image.crop((round(w * share), round(h * share), w, h))

    return edit


EDITS: dict[str, Edit] = {
    "none": lambda im: im,
    "JPEG q90": jpeg_edit(90),
    "JPEG q75": jpeg_edit(75),
    "JPEG q50": jpeg_edit(50),
    "resize 0.5x": lambda im: im.resize(
        (max(1, im.width // 2), max(1, im.height // 2)), Image.Resampling.LANCZOS
    ),
    "crop 10% centred": crop_edit(0.10),
    "crop 10% top-left": corner_crop(0.10),
    "brightness +10%": lambda im: ImageEnhance.Brightness(im).enhance(1.1),
    "brightness -10%": lambda im: ImageEnhance.Brightness(im).enhance(0.9),
}


def square(image: Image.Image, side: int) -> Image.Image:
    w, h = image.size
    edge = min(w, h)
    box = ((w - edge) // 2, (h - edge) // 2, (w - edge) // 2 + edge, (h - edge) // 2 + edge)
    return image.crop(box).resize((side, side), Image.Resampling.LANCZOS)


def source_images() -> dict[str, Image.Image]:
    images = {
        f"photo/{name}": Image.open(io.BytesIO(data)).convert("RGB")
        for name, data in builtin_photo_bytes().items()
    }
    from generators.renders import RENDERERS

    for index, (kind, renderer) in enumerate(RENDERERS.items()):
        try:
            pixels = renderer(np.random.default_rng([0, index]), 512, 512)
        except Exception as error:  # matplotlib missing for charts, fonts...
            print(f"render {kind} skipped: {error}", file=sys.stderr)
            continue
        images[f"render/{kind}"] = Image.fromarray(pixels).convert("RGB")
    return images


def psnr(a: Image.Image, b: Image.Image) -> float:
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    mse = float(np.mean(diff**2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def payload_bits(value: int) -> np.ndarray:
    return np.array([(value >> (31 - i)) & 1 for i in range(32)])


def decoded_bits(image: Image.Image, found: object) -> np.ndarray | None:
    """The 32 payload bits the decoder settles on before the CRC: from the frame the reader
    recovered, else from the whole frame, else from the best crop hypothesis."""
    from provenance import watermark as wm

    if found is not None:
        return payload_bits(found.payload)
    if image.width < wm.MIN_SIDE or image.height < wm.MIN_SIDE:
        return None
    luma = wm._work_luma(image)
    spans = [((0.0, 1.0), (0.0, 1.0)), *wm._search_crops(luma)[:1]]
    best, best_score = None, -1.0
    for y_span, x_span in spans:
        soft, _, _ = wm._soft_bits(luma, y_span, x_span)
        score = float(np.abs(soft).sum())
        if score > best_score:
            best, best_score = wm._viterbi(soft)[:32], score
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    parser.add_argument("--payloads", type=int, default=3, help="random payloads per image")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from provenance import watermark as wm
    from provenance.errors import ImageTooSmallError
    from provenance.fingerprint import (
        PDQ_MATCH_DISTANCE,
        PDQ_MIN_QUALITY,
        hamming_distance,
        pdq_hash,
    )

    sources = source_images()
    rng = np.random.default_rng(args.seed)
    print(
        f"{len(sources)} images ({', '.join(sources)}), {args.payloads} payloads each; "
        f"MIN_SIDE {wm.MIN_SIDE}, default strength {wm.DEFAULT_STRENGTH}"
    )
    results: dict[str, dict] = {}
    started = time.perf_counter()
    for size in args.sizes:
        images = {name: square(image, size) for name, image in sources.items()}
        counts = {
            edit: {"n": 0, "bits": 0.0, "bits_n": 0, "ok": 0, "wrong": 0, "pdq": 0, "false": 0}
            for edit in EDITS
        }
        psnrs: list[float] = []
        embed_ms: list[float] = []
        read_marked_ms: list[float] = []
        read_unmarked_ms: list[float] = []
        refused = 0
        for image in images.values():
            for edit_name, edit in EDITS.items():
                t0 = time.perf_counter()
                if wm.read(edit(image)) is not None:
                    counts[edit_name]["false"] += 1
                read_unmarked_ms.append(1000 * (time.perf_counter() - t0))
            for _ in range(args.payloads):
                payload = int(rng.integers(0, 2**32))
                t0 = time.perf_counter()
                try:
                    marked = wm.embed(image, payload)
                except ImageTooSmallError:
                    refused += 1
                    continue
                embed_ms.append(1000 * (time.perf_counter() - t0))
                psnrs.append(psnr(image, marked))
                marked_pdq, marked_quality = pdq_hash(marked)
                for edit_name, edit in EDITS.items():
                    edited = edit(marked)
                    t0 = time.perf_counter()
                    found = wm.read(edited)
                    read_marked_ms.append(1000 * (time.perf_counter() - t0))
                    row = counts[edit_name]
                    row["n"] += 1
                    row["ok"] += found is not None and found.payload == payload
                    row["wrong"] += found is not None and found.payload != payload
                    bits = decoded_bits(edited, found)
                    if bits is not None:
                        row["bits"] += float(np.mean(bits == payload_bits(payload)))
                        row["bits_n"] += 1
                    edited_pdq, edited_quality = pdq_hash(edited)
                    row["pdq"] += (
                        min(marked_quality, edited_quality) >= PDQ_MIN_QUALITY
                        and hamming_distance(marked_pdq, edited_pdq) <= PDQ_MATCH_DISTANCE
                    )
        size_rows: dict[str, dict[str, float | int | None]] = {}
        unmarked_reads = len(images)
        for edit_name, row in counts.items():
            n = row["n"]
            recovery = row["ok"] / n if n else 0.0
            pdq = row["pdq"] / n if n else 0.0
            size_rows[edit_name] = {
                "marked": n,
                "bit_accuracy": round(row["bits"] / row["bits_n"], 4) if row["bits_n"] else None,
                "recovery": round(recovery, 4),
                "wrong_reads": int(row["wrong"]),
                "false_reads": int(row["false"]),
                "unmarked_reads": unmarked_reads,
                "pdq_recovery": round(pdq, 4),
                "ratio_vs_pdq": round(recovery / pdq, 3) if pdq else None,
            }
            ratio = f"{recovery / pdq:.2f}x PDQ" if pdq else "PDQ recovers none"
            bits = size_rows[edit_name]["bit_accuracy"]
            print(
                f"{size:>4} px  {edit_name:<18} watermark {recovery:6.1%} "
                f"(bits {bits if bits is not None else '-'}, wrong {row['wrong']}, "
                f"false {row['false']}/{unmarked_reads})  PDQ {pdq:6.1%}  {ratio}",
                flush=True,
            )
        summary = {
            "psnr_min": round(min(psnrs), 2) if psnrs else None,
            "psnr_median": round(statistics.median(psnrs), 2) if psnrs else None,
            "refused": refused,
            "embed_ms_median": round(statistics.median(embed_ms), 1) if embed_ms else None,
            "read_marked_ms_median": round(statistics.median(read_marked_ms), 1)
            if read_marked_ms
            else None,
            "read_unmarked_ms_median": round(statistics.median(read_unmarked_ms), 1),
        }
        print(
            f"{size:>4} px  PSNR median {summary['psnr_median']} dB (min {summary['psnr_min']}), "
            f"{refused} refused; embed {summary['embed_ms_median']} ms, read marked "
            f"{summary['read_marked_ms_median']} ms, "
            f"unmarked {summary['read_unmarked_ms_median']} ms",
            flush=True,
        )
        results[str(size)] = {"edits": size_rows, "summary": summary}

    print()
    print("Payload recovery, watermark / PDQ (<= 31 bits), per square side:")
    print()
    print("| edit | " + " | ".join(f"{size} px" for size in args.sizes) + " |")
    print("|---|" + "---|" * len(args.sizes))
    for edit_name in EDITS:
        cells = []
        for size in args.sizes:
            row = results[str(size)]["edits"][edit_name]
            cells.append(f"{row['recovery']:.0%} / {row['pdq_recovery']:.0%}")
        print(f"| {edit_name} | " + " | ".join(cells) + " |")
    psnr_cells = [
        f"{results[str(s)]['summary']['psnr_median']} ({results[str(s)]['summary']['psnr_min']})"
        for s in args.sizes
    ]
    print("| PSNR median (min), dB | " + " | ".join(psnr_cells) + " |")
    print(
        json.dumps(
            {
                "bench": "watermark",
                "images": list(sources),
                "payloads_per_image": args.payloads,
                "min_side": wm.MIN_SIDE,
                "strength": wm.DEFAULT_STRENGTH,
                "seconds": round(time.perf_counter() - started, 1),
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
