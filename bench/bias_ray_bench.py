"""End-to-end ``provaudit bias-report`` speed: the local engine against Ray Data, same run.

Writes N synthetic photos-like images (smooth colour fields with texture, ``--size`` px,
JPEG q90, two attribute folders, one exact and one near copy per hundred images) and
builds the whole report twice in this process: ``--engine local`` (one process: one
core) as the baseline, then ``--engine ray`` on a local Ray with ``--cpus`` CPUs (the
per-image stage as ``map_batches``; the aggregation on the driver over the per-image
columns, never the pixels). Both reports must be equal (the ``meta`` block aside). Prints
images/s, images/s per core, the Ray/local ratio, the per-image stage and aggregation
seconds of each, the driver's per-image column bytes (what the aggregation holds per
image), a linear extrapolation to 1M images, and one JSON line.

The extrapolation is arithmetic on the measured rates, not a measurement: it assumes the
per-image stage stays linear (it is a pure map) and that the aggregation's near-duplicate
search stays linear at the default radius (see bench/bias_bench.py for its own growth).

With ``--parquet`` the dataset is a Parquet list of the image paths (``images.parquet``:
``path``, ``group``, ``split``; 10 % of the images in split ``test``), as a million-image
dataset would be given; ``--workdir DIR`` keeps the images there (and reuses them when the
listing holds as many). ``--aggregation-1m SECONDS`` (the 1M aggregation time measured by
``bench/bias_scale_bench.py``) adds the composed 1M figure: the measured per-image rate
times 1M plus that measured aggregation, labelled as such. ``--baseline-files K`` (with
``--parquet``) runs the local baseline and the equality check on K images spread over the
listing, then the whole dataset on Ray alone: a real 1M-image run, with its baseline in the
same process, without also paying for a 1M-image local run.

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python bench/bias_ray_bench.py [--images 1000]
        [--size 256] [--cpus 2] [--batch-size 32] [--parquet] [--workdir DIR]
        [--aggregation-1m SECONDS] [--baseline-files K]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.bias.options import ReportOptions
from service.bias.report import build_report


def make_images(root: Path, n: int, size: int, seed: int = 0, start: int = 0) -> None:
    """Images ``start`` .. ``n - 1``; each one's pixels depend only on ``seed`` and its number."""
    from PIL import Image

    for k in range(start, n):
        rng = np.random.default_rng((seed, k))
        group = "a" if k % 3 else "b"
        folder = root / f"group={group}"
        folder.mkdir(parents=True, exist_ok=True)
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        field = np.asarray(
            Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC), np.float32
        )
        field += rng.normal(0, 12, field.shape).astype(np.float32)
        pixels = np.clip(field, 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels)
        image.save(folder / f"{k:07d}.jpg", "JPEG", quality=90)
        if k % 100 == 1:
            image.save(folder / f"{k:07d}_copy.png")
            image.resize((size * 9 // 10, size * 9 // 10)).save(
                folder / f"{k:07d}_near.jpg", "JPEG", quality=80
            )


def make_images_in_parallel(root: Path, n: int, size: int, processes: int) -> None:
    """``make_images`` in ``processes`` processes: a million files take minutes, not hours."""
    from concurrent.futures import ProcessPoolExecutor

    chunk = 10_000
    with ProcessPoolExecutor(max_workers=processes) as pool:
        jobs = [
            pool.submit(make_images, root, min(start + chunk, n), size, 0, start)
            for start in range(0, n, chunk)
        ]
        for job in jobs:
            job.result()


def write_listing(root: Path) -> Path:
    """``images.parquet`` beside the images: path (relative), group, split."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for k, path in enumerate(sorted(root.rglob("*.*"))):
        if path.suffix not in (".jpg", ".png"):
            continue
        relative = path.relative_to(root).as_posix()
        rows.append(
            {
                "path": relative,
                "group": relative.split("/")[0].removeprefix("group="),
                "split": "test" if k % 10 == 9 else "dataset",
            }
        )
    listing = root / "images.parquet"
    pq.write_table(pa.Table.from_pylist(rows), listing)
    return listing


def sample_listing(listing: Path, rows: int) -> Path:
    """``rows`` rows spread evenly over a Parquet listing, beside it (the same images)."""
    import pyarrow.parquet as pq

    table = pq.read_table(listing)
    sample = listing.with_name(f"images-sample-{rows}.parquet")
    pq.write_table(table.take(np.linspace(0, table.num_rows - 1, rows).astype(np.int64)), sample)
    return sample


def prepare(root: Path, n: int, size: int, parquet: bool, processes: int) -> tuple[Path, int]:
    """The dataset argument and its image count; images already there are reused."""
    listing = root / "images.parquet"
    if parquet and listing.exists():
        import pyarrow.parquet as pq

        rows = pq.read_metadata(listing).num_rows
        if rows == n + 2 * len(range(1, n, 100)):
            return listing, rows
    make_images_in_parallel(root, n, size, processes)
    files = sum(1 for p in root.rglob("*.*") if p.suffix in (".jpg", ".png"))
    return (write_listing(root) if parquet else root), files


def column_bytes(table: dict[str, np.ndarray]) -> int:
    total = 0
    for values in table.values():
        if values.dtype == object:
            total += values.nbytes + sum(sys.getsizeof(v) for v in values.tolist())
        else:
            total += values.nbytes
    return total


def run(options: ReportOptions, ray_init: dict | None = None) -> tuple[dict, float, dict]:
    started = time.perf_counter()
    report, _, table = build_report(options, ray_init=ray_init)
    return report, time.perf_counter() - started, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--parquet", action="store_true")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--aggregation-1m", type=float)
    parser.add_argument("--baseline-files", type=int)
    args = parser.parse_args()
    if args.baseline_files and not args.parquet:
        parser.error("--baseline-files needs --parquet (the baseline reads a sample listing).")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.workdir or Path(tmp) / "data"
        made = time.perf_counter()
        dataset, files = prepare(root, args.images, args.size, args.parquet, args.cpus)
        made = time.perf_counter() - made
        baseline, baseline_files = dataset, files
        if args.baseline_files and args.baseline_files < files:
            baseline, baseline_files = (
                sample_listing(dataset, args.baseline_files),
                args.baseline_files,
            )
        common = {"bootstrap": 50, "batch_size": args.batch_size}
        local, local_s, table = run(ReportOptions(dataset=baseline, **common))

        import ray
        import ray.data

        address = os.environ.pop("RAY_ADDRESS", None)
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            # Ray's first map starts its workers: a warm-up on a few images is not timed.
            warm = Path(tmp) / "warm"
            make_images(warm, 8, 32, seed=1)
            run(ReportOptions(dataset=warm, engine="ray", workers=args.cpus, batch_size=4))
            ray_options = {"engine": "ray", "workers": args.cpus, **common}
            same_files, same_s = baseline_files, None
            remote, ray_s, _ = run(ReportOptions(dataset=baseline, **ray_options))
            if baseline is not dataset:
                # The equality check ran on the sample; now the whole dataset, on Ray only.
                same, same_s = remote, ray_s
                remote, ray_s, _ = run(ReportOptions(dataset=dataset, **ray_options))
            else:
                same = remote
        finally:
            ray.shutdown()
            if address is not None:
                os.environ["RAY_ADDRESS"] = address
    equal = {k: v for k, v in local.items() if k != "meta"} == {
        k: v for k, v in same.items() if k != "meta"
    }
    per_image = column_bytes(table) / baseline_files
    local_rate, ray_rate = baseline_files / local_s, files / ray_s
    local_core, ray_core = local_rate, ray_rate / args.cpus
    seconds = {"local": local["meta"]["seconds"], "ray": remote["meta"]["seconds"]}
    counts = {"local": baseline_files, "ray": files}
    print(
        f"{files} files ({args.size} px JPEG/PNG, written in {made:.0f} s), {args.cpus} Ray "
        f"CPUs, {os.cpu_count()} cores on this machine "
        f"({platform.processor() or platform.machine()})"
    )
    for name, total, rate, core in (
        ("local", local_s, local_rate, local_core),
        ("ray", ray_s, ray_rate, ray_core),
    ):
        stage = seconds[name]["per_image_stage"]
        print(
            f"  {name:5s} {counts[name]:8d} files {total:8.1f} s total ({stage:.1f} s per-image "
            f"stage, {total - stage:.1f} s aggregation): {rate:6.1f} images/s, {core:6.1f} per core"
        )
    ratio = ray_rate / local_rate
    checked = f"on the {same_files} sampled files" if same_s is not None else ""
    print(
        f"  ray / local: x{ratio:.2f} images/s, x{ray_core / local_core:.2f} per core; "
        f"reports equal{' ' + checked if checked else ''}: {equal}"
    )
    print(
        f"  driver columns: {per_image:.0f} bytes per image "
        f"(extrapolated: {per_image * 1e6 / 2**30:.2f} GiB for 1M images)"
    )
    # The per-image stage (listing, decode, hashes, checks) per core, apart from the
    # aggregation that follows it on the driver.
    stage_core = {
        name: counts[name]
        / seconds[name]["per_image_stage"]
        / (1 if name == "local" else args.cpus)
        for name in ("local", "ray")
    }
    aggregation = {name: round(seconds[name]["total"] - seconds[name]["per_image_stage"], 2)
                   for name in ("local", "ray")}  # fmt: skip
    print(
        f"  per-image stage: {stage_core['local']:.1f} images/s per core (local), "
        f"{stage_core['ray']:.1f} (ray); aggregation {aggregation['local']:.1f} s (local), "
        f"{aggregation['ray']:.1f} s (ray)"
    )
    hours = 1e6 / ray_rate / 3600
    if files < 1_000_000:
        print(
            f"  extrapolated (not measured): 1M images in {hours:.1f} h on {args.cpus} CPUs "
            f"at this rate; {1e6 / ray_core / 3600 / 64:.2f} h on 64"
        )
    composed = None
    if args.aggregation_1m is not None:
        map_s = 1e6 / (stage_core["ray"] * args.cpus)
        composed = {
            "per_image_stage_s": round(map_s, 1),
            "aggregation_s": args.aggregation_1m,
            "total_h": round((map_s + args.aggregation_1m) / 3600, 2),
            "total_h_on_64_cpus": round((map_s * args.cpus / 64 + args.aggregation_1m) / 3600, 2),
        }
        print(
            f"  1M images, composed (measured per-image rate x 1M + measured 1M aggregation, "
            f"not a 1M run): {map_s:.0f} s + {args.aggregation_1m:.0f} s = "
            f"{composed['total_h']:.2f} h on {args.cpus} CPUs; "
            f"{composed['total_h_on_64_cpus']:.2f} h with 64 Ray CPUs"
        )
    print(json.dumps({
        "bench": "bias_ray", "files": files, "baseline_files": baseline_files,
        "size": args.size, "cpus": args.cpus, "parquet": args.parquet,
        "write_s": round(made, 1), "local_s": round(local_s, 2), "ray_s": round(ray_s, 2),
        "ray_sample_s": None if same_s is None else round(same_s, 2),
        "local_images_per_s": round(local_rate, 2), "ray_images_per_s": round(ray_rate, 2),
        "local_images_per_s_per_core": round(local_core, 2),
        "ray_images_per_s_per_core": round(ray_core, 2),
        "per_image_stage_images_per_s_per_core": {
            k: round(v, 2) for k, v in stage_core.items()
        },
        "aggregation_s": aggregation,
        "ratio_ray_over_local": round(ratio, 3), "reports_equal": equal,
        "driver_bytes_per_image": round(per_image), "seconds": seconds,
        "extrapolated_1m_hours_at_cpus": round(hours, 2), "composed_1m": composed,
    }))  # fmt: skip
    if not equal:
        sys.exit(1)


if __name__ == "__main__":
    main()
