"""Near-duplicate search cost of ``provaudit bias-report`` at 10k, 100k and 1M fingerprints.

The report finds near-duplicates with multi-index hashing (service/bias/neardup.py: the
numpy self-join by default, FAISS's ``IndexBinaryMultiHash`` with ``--near-dup-index
faiss``; both are timed when faiss is installed), never by comparing all pairs. This
script times ``near_pairs`` -- the function
the report calls, hex parsing and duplicate collapsing included -- on random 256-bit
PDQ-sized codes with 0.5 % planted near-copies (0 to RADIUS bits flipped) at each size,
and in the same process the all-pairs comparison it replaces (numpy XOR + popcount) at
the smallest size, where it is still affordable. It checks that the search returns exactly
the all-pairs answer there and every planted pair at every size, then prints seconds,
the growth factor between sizes (linear = 10x per step) and the speed-up over all pairs,
and one JSON line.

Uniform random codes are the easy case for any hash index; real datasets' PDQ hashes are
correlated, and clusters of near-copies add the pairs they really contain.

    .venv/bin/python bench/bias_bench.py [--sizes 10000 100000 1000000] [--radius 31]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

from service.bias.neardup import (
    brute_force_pairs,
    faiss_available,
    near_pairs,
)


def make_codes(n: int, bits: int, radius: int, seed: int) -> tuple[list[str], set[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, size=(n, bits // 8), dtype=np.uint8)
    planted: set[tuple[int, int]] = set()
    count = max(1, n // 200)
    sources = rng.choice(n // 2, size=count, replace=False)
    targets = n // 2 + rng.choice(n - n // 2, size=count, replace=False)
    for a, b in zip(sources.tolist(), targets.tolist(), strict=True):
        flipped = np.unpackbits(codes[a])
        flipped[rng.choice(bits, size=int(rng.integers(0, radius + 1)), replace=False)] ^= 1
        codes[b] = np.packbits(flipped)
        planted.add((a, b))
    hexes = codes.tobytes().hex()
    width = bits // 4
    return [hexes[i * width : (i + 1) * width] for i in range(n)], planted


def timed(function, *args):  # noqa: ANN001
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--radius", type=int, default=31)
    parser.add_argument("--bits", type=int, default=256)
    parser.add_argument("--backends", nargs="+", default=None)
    args = parser.parse_args()
    backends = args.backends or (["faiss", "numpy"] if faiss_available() else ["numpy"])

    results: dict[str, dict[str, float]] = {backend: {} for backend in backends}
    details: dict[str, dict] = {}
    baseline_seconds = None
    for size in sorted(args.sizes):
        hexes, planted = make_codes(size, args.bits, args.radius, seed=size)
        for backend in backends:
            seconds, (pairs, _, info) = timed(near_pairs, hexes, args.radius, backend)
            found = {tuple(pair) for pair in pairs.tolist()}
            missed = len(planted - found)
            assert missed == 0, f"{backend} missed {missed} planted pairs at n={size}"
            results[backend][str(size)] = round(seconds, 3)
            details[f"{backend}/{size}"] = {
                "pairs": len(found),
                "candidates": info["candidates"],
                "plan": info["plan"],
            }
            print(
                f"n={size:>9,} {backend:>5}: {seconds:8.2f} s  {len(found):,} pairs, "
                f"{info['candidates']:,} candidates, plan {info['plan']['nhash']}x"
                f"{info['plan']['b']} bits, {info['plan']['nflip']} flip(s)",
                flush=True,
            )
        if baseline_seconds is None:
            baseline_seconds, truth = timed(brute_force_pairs, hexes, args.radius)
            for backend in backends:
                assert details[f"{backend}/{size}"]["pairs"] == len(truth)
            print(
                f"n={size:>9,} all-pairs baseline: {baseline_seconds:.2f} s, {len(truth):,} pairs"
            )
            baseline_size = size

    sizes = [str(size) for size in sorted(args.sizes)]
    growth = {
        backend: [
            round(results[backend][b] / results[backend][a], 2)
            for a, b in itertools.pairwise(sizes)
        ]
        for backend in backends
    }
    speedup = {
        backend: round(baseline_seconds / results[backend][str(baseline_size)], 1)
        for backend in backends
    }
    for backend in backends:
        steps = ", ".join(f"x{g}" for g in growth[backend])
        print(
            f"{backend}: growth per 10x more fingerprints {steps} (linear = x10); "
            f"{speedup[backend]}x faster than all pairs at n={baseline_size:,}"
        )
    print(
        json.dumps(
            {
                "bench": "bias_neardup",
                "radius": args.radius,
                "bits": args.bits,
                "seconds": results,
                "growth_per_10x": growth,
                "baseline_all_pairs_seconds": {str(baseline_size): round(baseline_seconds, 3)},
                "speedup_vs_all_pairs": speedup,
                "details": details,
                "cpu": platform.processor() or platform.machine(),
                "cores": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
