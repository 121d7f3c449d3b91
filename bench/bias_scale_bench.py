"""The bias report's aggregation at 10k / 100k / 1M images: time per stage and driver memory.

Everything after the per-image map (``service.bias.report.aggregate_report`` and the
writers) runs on the driver over the per-image columns. This bench skips the map: it
builds columns shaped exactly like ``run_map``'s output (every column, same dtypes, object
arrays of str) for N synthetic images and a matching ``Dataset``, then times each stage
of the aggregation, ``report.json``, ``report.html`` and ``images.csv`` (libraries are
imported before the clock starts), with the driver's peak RSS during each stage (sampled
every 5 ms from /proc). Each size runs in a fresh child process, so its peak RSS is its
own.

The synthetic images: two splits (``dataset``, 20 % ``test``), two attributes with
unequal groups (``region``: 6 values, ``age``: 4; 3 % missing), 70 % real / 30 %
generated in three families, detector scores and verdicts (``--no-detector`` to leave
them out), 0.5 % unreadable, 1 % exact copies (same digest and hashes) and 1 % near copies
(pHashes with 1-6 bits flipped) of random images, whose splits fall where they may (so
some leak), quality statistics that flag a few percent, faces in 5 %, personal metadata
in 2 %, a signed "do not train" in 0.1 %. pHash bits are drawn uniformly (the most
spread codes can be; even so, among a million random codes some unrelated ones fall
within the radius, and are clustered as real images' would be).

Prints a table (seconds per stage per size, peak RSS), the ratio of time per image at the
largest size to the smallest (1.0: linear) and one JSON line.

``--blank K`` makes K of the images one picture (a placeholder saved K times, as scraped
data often holds): every two of them are an exact pair, and a near pair too.
``--compare-bootstrap N`` instead times the detector's intervals on N images both ways,
fairlearn's row bootstrap (the former code) as the baseline against the count draws.

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python bench/bias_scale_bench.py
        [--sizes 10000,100000,1000000] [--bootstrap 200] [--no-detector] [--blank K]
        [--compare-bootstrap N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REGIONS = ["north", "south", "east", "west", "centre", "islands"]
REGION_SHARES = [0.35, 0.25, 0.18, 0.12, 0.07, 0.03]
AGES = ["child", "young", "adult", "senior"]
AGE_SHARES = [0.1, 0.3, 0.45, 0.15]
FAMILIES = ["diffusion", "gan", "pixelcnn"]
PERSONAL = "EXIF GPS position; EXIF Artist"


class PeakRss:
    """The largest resident set size seen since the last ``reset``, sampled in a thread."""

    def __init__(self, every: float = 0.005) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.peak = 0
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self) -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self.page

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self.now())

    def reset(self) -> int:
        """The peak since the last reset (in bytes); starts a new window."""
        peak = max(self.peak, self.now())
        self.peak = self.now()
        return peak

    def stop(self) -> None:
        self._stop.set()


def _hex(bits: np.ndarray) -> list[str]:
    return [row.tobytes().hex() for row in np.packbits(bits, axis=1)]


def synthetic(
    n: int, seed: int = 0, detector: bool = True, blank: int = 0
) -> tuple[Any, dict[str, np.ndarray]]:
    """A ``Dataset`` of ``n`` entries and its per-image columns, as ``run_map`` returns them."""
    from service.bias.dataset import Dataset, ImageEntry
    from service.bias.images import FEATURE_LENGTH

    rng = np.random.default_rng([seed, n])
    test = rng.random(n) < 0.2
    splits = np.where(test, "test", "dataset")
    keys = [
        f"test:img/{i:07d}.jpg" if t else f"img/{i:07d}.jpg" for i, t in enumerate(test.tolist())
    ]
    region = rng.choice(len(REGIONS), n, p=REGION_SHARES)
    age = rng.choice(len(AGES), n, p=AGE_SHARES)
    region_missing = rng.random(n) < 0.03
    age_missing = rng.random(n) < 0.03
    generated = rng.random(n) < 0.3
    family = rng.integers(0, len(FAMILIES), n)
    entries = []
    for i in range(n):
        attributes = {}
        if not region_missing[i]:
            attributes["region"] = REGIONS[region[i]]
        if not age_missing[i]:
            attributes["age"] = AGES[age[i]]
        entries.append(
            ImageEntry(
                key=keys[i],
                path=Path("/nonexistent") / keys[i].replace(":", "/"),
                split=str(splits[i]),
                attributes=attributes,
                label="generated" if generated[i] else "real",
                family=FAMILIES[family[i]] if generated[i] else None,
                label_source="labels.jsonl",
            )
        )
    dataset = Dataset(
        root=Path("/nonexistent"),
        entries=entries,
        attribute_names=["region", "age"],
        attribute_sources={"region": "folder", "age": "folder"},
        split_names=["dataset", "test"],
    )

    ok = rng.random(n) >= 0.005
    whole = rng.integers(0, 2, (n, 64), dtype=np.uint8)
    centre = whole.copy()
    centre[np.arange(n)[:, None], rng.integers(0, 64, (n, 6))] ^= 1
    pdq = rng.integers(0, 2, (n, 256), dtype=np.uint8)
    digest = rng.integers(0, 2, (n, 128), dtype=np.uint8)
    planted = max(1, n // 100)
    chosen = rng.choice(n, 3 * planted, replace=False)
    sources, exact, near = chosen[:planted], chosen[planted : 2 * planted], chosen[2 * planted :]
    for copies in (exact, near):
        whole[copies], centre[copies] = whole[sources], centre[sources]
        pdq[copies], digest[copies] = pdq[sources], digest[sources]
    digest[near] = rng.integers(0, 2, (planted, 128), dtype=np.uint8)
    # Coarse layouts: independent per image (they seldom agree), a copy's its source's.
    layout = rng.integers(0, 256, (n, 64), dtype=np.uint8)
    layout[exact], layout[near] = layout[sources], layout[sources]
    if blank:
        # One picture (a placeholder, a blank frame) saved ``blank`` times, in both splits.
        same = rng.choice(n, blank, replace=False)
        for codes in (whole, centre, pdq, digest, layout):
            codes[same] = codes[same[0]]
    for codes in (whole, centre):
        flips = rng.integers(0, 64, (planted, 6))
        count = rng.integers(1, 7, planted)
        for k in range(6):
            on = count > k
            codes[near[on], flips[on, k]] ^= 1
    width = rng.choice([256, 512, 640, 1024], n).astype(np.int64)
    height = (width * rng.choice([0.75, 1.0, 1.5], n)).astype(np.int64)
    label_truth = generated.astype(np.int64)
    p_ai = np.clip(rng.normal(0.3 + 0.4 * label_truth + 0.05 * (region == 5), 0.2), 0, 1)
    faces = np.where(rng.random(n) < 0.05, rng.integers(1, 4, n), 0)
    face_sizes = [
        ",".join(str(s) for s in sorted(rng.integers(20, 200, f).tolist(), reverse=True))
        for f in faces.tolist()
    ]
    personal = np.where(rng.random(n) < 0.02, PERSONAL, "")
    do_not_train = rng.random(n) < 0.001
    table: dict[str, np.ndarray] = {
        "path": np.array([str(entry.path) for entry in entries], dtype=object),
        "ok": ok,
        "error": np.where(ok, "", "x.jpg cannot be decoded (OSError: truncated).").astype(object),
        "format": np.where(ok, "jpeg", "").astype(object),
        "width": np.where(ok, width, 0),
        "height": np.where(ok, height, 0),
        "mode": np.where(ok, "RGB", "").astype(object),
        "bytes": rng.integers(5_000, 500_000, n).astype(np.int64),
        "digest": np.array(_hex(digest), dtype=object),
        "pdq": np.array(_hex(pdq), dtype=object),
        "pdq_quality": np.full(n, 100, np.int64),
        "phash": np.array(_hex(whole), dtype=object),
        "phash_centre": np.array(_hex(centre), dtype=object),
        "brightness": rng.beta(5, 5, n),
        "sharpness": rng.lognormal(6.5, 1.0, n),
        "entropy": rng.normal(7.0, 0.8, n).clip(0, 8),
        "c2pa_state": np.where(rng.random(n) < 0.02, "valid", "absent").astype(object),
        "c2pa_ai": np.zeros(n, bool),
        "iptc_ai": rng.random(n) < 0.01,
        "declared_family": np.full(n, "", dtype=object),
        "features": np.zeros((0, FEATURE_LENGTH), np.float32),
        "layout": np.where(ok[:, None], layout, 0).astype(np.uint8),
        "p_ai": p_ai if detector else np.full(n, np.nan),
        "ai_label": (p_ai > 0.5).astype(np.int64) if detector else np.full(n, -1, np.int64),
        "score_error": np.full(n, "", dtype=object),
        "faces": faces.astype(np.int64),
        "face_sizes": np.array(face_sizes, dtype=object),
        "personal_metadata": personal.astype(object),
        "do_not_train": do_not_train,
        "training_signer": np.where(do_not_train, "Example Photo Agency", "").astype(object),
        "training_uses": np.where(do_not_train, "ai training notAllowed", "").astype(object),
        "features_index": np.zeros(0, np.int64),
    }
    # As run_map keeps them: feature vectors only for the images the classifier reads.
    from service.bias.generator_bias import images_needing_features

    keep = np.flatnonzero(
        images_needing_features(
            [entry.label for entry in entries], [entry.attributes for entry in entries], 0
        )
    )
    table["features_index"] = keep.astype(np.int64)
    telling = np.stack([region, age], 1)[keep].astype(np.float32) / 8.0
    table["features"] = np.concatenate(
        [telling, rng.random((len(keep), FEATURE_LENGTH - 2), dtype=np.float32)], axis=1
    )
    # Unreadable images carry run_map's empty row.
    for name in ("brightness", "sharpness", "entropy", "p_ai"):
        table[name][~ok] = np.nan
    table["ai_label"][~ok] = -1
    for name in ("digest", "pdq", "phash", "phash_centre", "face_sizes", "personal_metadata"):
        table[name][~ok] = ""
    table["faces"][~ok] = -1
    return dataset, table


DETECTOR = {
    "checkpoint": "/nonexistent/detector",
    "arch": "synthetic",
    "transform": "none",
    "image_size": 64,
    "families": FAMILIES,
    "threshold": 0.5,
    "temperature": 1.0,
    "backend": "onnxruntime",
}


def one(n: int, bootstrap: int, detector: bool, blank: int = 0) -> dict[str, Any]:
    """Time every stage for ``n`` images in this process."""
    # Imported before the clock starts: a second's import is not a cost that grows with n.
    import fairlearn.metrics  # noqa: F401
    import matplotlib.pyplot  # noqa: F401
    import scipy.stats  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    from service.bias.html import pictured_keys, render_html
    from service.bias.options import ReportOptions
    from service.bias.report import aggregate_report, write_images_csv
    from service.bias.thumbs import make_thumbnails

    rss = PeakRss()
    start = time.perf_counter()
    dataset, table = synthetic(n, detector=detector, blank=blank)
    seconds: dict[str, float] = {"synthetic_columns": time.perf_counter() - start}
    peaks: dict[str, int] = {"synthetic_columns": rss.reset()}
    last = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        seconds[name] = seconds.get(name, 0.0) + now - last
        peaks[name] = max(peaks.get(name, 0), rss.reset())
        last = now

    with tempfile.TemporaryDirectory() as tmp:
        options = ReportOptions(dataset=Path(tmp), bootstrap=bootstrap)
        report = aggregate_report(
            options, dataset, table, detector=DETECTOR if detector else None, stage=stage
        )
        stage("json_safe")
        text = json.dumps(report, indent=1, ensure_ascii=False)
        (Path(tmp) / "report.json").write_text(text, "utf-8")
        stage("report_json")
        paths = {entry.key: entry.path for entry in dataset.entries}
        thumbnails = make_thumbnails(pictured_keys(report), paths)
        (Path(tmp) / "report.html").write_text(render_html(report, thumbnails), "utf-8")
        stage("report_html")
        write_images_csv(Path(tmp) / "images.csv", report, dataset, table)
        stage("images_csv")
        sizes = {name: (Path(tmp) / name).stat().st_size for name in os.listdir(tmp)}
    rss.stop()
    aggregation = sum(v for k, v in seconds.items() if k != "synthetic_columns")
    quality = report["quality"]
    return {
        "images": n,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "aggregation_s": round(aggregation, 3),
        "peak_rss_mib": {k: round(v / 2**20, 1) for k, v in peaks.items()},
        "peak_rss_mib_max": round(max(peaks.values()) / 2**20, 1),
        "file_bytes": sizes,
        "exact_groups": quality["exact_duplicates"]["group_count"],
        "near_clusters": quality["near_duplicates"]["cluster_count"],
        "leak_pairs": quality["leakage"]["pair_count"],
        "search": quality["near_duplicates"]["search"].get("mode"),
    }


def compare_bootstrap(n: int, bootstrap: int) -> dict[str, Any]:
    """The detector intervals both ways on the same ``n`` images: fairlearn's row bootstrap
    (``MetricFrame(n_boot=...)``, the former code, the baseline) and :class:`RateFrame`'s
    multinomial draws of the cell counts; seconds, their ratio and the largest gap
    between the two sets of interval bounds (both are Monte Carlo: they agree to within
    resampling noise, not exactly)."""
    from fairlearn.metrics import (
        MetricFrame,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    from service.bias.fairness import RateFrame
    from service.bias.options import ReportOptions

    rng = np.random.default_rng(1)
    groups = np.array(REGIONS, dtype=object)[rng.choice(len(REGIONS), n, p=REGION_SHARES)]
    y = (rng.random(n) < 0.3).astype(np.int64)
    p = (rng.random(n) < 0.2 + 0.5 * y + 0.1 * (groups == "islands")).astype(np.int64)
    options = ReportOptions(dataset=Path("."), bootstrap=bootstrap)
    alpha = (1.0 - options.confidence) / 2.0
    start = time.perf_counter()
    rows = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "false_positive_rate": false_positive_rate,
            "true_positive_rate": true_positive_rate,
        },
        y_true=y,
        y_pred=p,
        sensitive_features=groups,
        n_boot=bootstrap,
        ci_quantiles=[alpha, 1.0 - alpha],
        random_state=options.seed,
    )
    rows_s = time.perf_counter() - start
    start = time.perf_counter()
    counts = RateFrame(y, p, groups, options)
    counts_s = time.perf_counter() - start
    gap = max(
        float(np.nanmax(np.abs(a.to_numpy() - b.to_numpy())))
        for a, b in zip(rows.by_group_ci, counts.by_group_ci, strict=True)
    )
    return {
        "images": n,
        "bootstrap": bootstrap,
        "fairlearn_rows_s": round(rows_s, 3),
        "counts_s": round(counts_s, 4),
        "ratio": round(rows_s / counts_s, 1),
        "largest_interval_gap": round(gap, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--no-detector", action="store_true")
    parser.add_argument(
        "--blank", type=int, default=0, metavar="K", help="K images share one picture"
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--compare-bootstrap",
        type=int,
        metavar="N",
        help="only time the detector intervals on N images: fairlearn's row bootstrap "
        "(the baseline) against the count draws",
    )
    args = parser.parse_args()
    if args.compare_bootstrap:
        result = compare_bootstrap(args.compare_bootstrap, args.bootstrap)
        print(
            f"{result['images']:,} images, {result['bootstrap']} resamples: fairlearn row "
            f"bootstrap {result['fairlearn_rows_s']:.2f} s, count draws "
            f"{result['counts_s']:.4f} s: x{result['ratio']:.0f}; largest gap between their "
            f"interval bounds {result['largest_interval_gap']:.3f}"
        )
        print(json.dumps({"bench": "bias_scale_bootstrap", **result}))
        return
    if args.one:
        print(json.dumps(one(args.one, args.bootstrap, not args.no_detector, args.blank)))
        return
    results = []
    for n in [int(s) for s in args.sizes.split(",") if s]:
        command = [sys.executable, __file__, "--one", str(n), "--bootstrap", str(args.bootstrap)]
        if args.no_detector:
            command.append("--no-detector")
        command += ["--blank", str(args.blank)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"{n} images failed:\n{done.stderr}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"  {n:,} images: {results[-1]['aggregation_s']:.1f} s", file=sys.stderr)
    stages = [k for k in results[0]["seconds"] if k != "synthetic_columns"]
    print(f"{'stage':24s}" + "".join(f"{r['images']:>14,}" for r in results))
    for name in stages:
        cells = "".join(f"{r['seconds'].get(name, 0.0):>12.2f} s" for r in results)
        print(f"{name:24s}{cells}")
    print(f"{'aggregation':24s}" + "".join(f"{r['aggregation_s']:>12.2f} s" for r in results))
    print(f"{'peak RSS':24s}" + "".join(f"{r['peak_rss_mib_max']:>10.0f} MiB" for r in results))
    first, last = results[0], results[-1]
    per_image = [r["aggregation_s"] / r["images"] for r in (first, last)]
    ratio = per_image[1] / per_image[0]
    print(
        f"time per image at {last['images']:,} / at {first['images']:,}: x{ratio:.2f} "
        "(1.0: linear); "
        f"{per_image[1] * 1e6:.1f} us per image at {last['images']:,}"
    )
    print(json.dumps({
        "bench": "bias_scale", "bootstrap": args.bootstrap, "detector": not args.no_detector,
        "blank": args.blank,
        "ratio_time_per_image_largest_over_smallest": round(ratio, 3), "results": results,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
