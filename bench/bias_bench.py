"""Near-duplicate search cost of ``provaudit bias-report`` at 10k, 100k and 1M fingerprints.

The report finds near-duplicates with FAISS's ``IndexBinaryMultiHash`` (service/bias/
neardup.py, through provenance/hashindex.py), an exact range search in Hamming space, never
by comparing all pairs. This script times ``near_pairs`` -- the function the report calls,
hex parsing, duplicate collapsing, index building and the batched self-join included -- on
random 256-bit PDQ-sized codes with 0.5 % planted near-copies (0 to RADIUS bits flipped) at
each size. Baseline, in the same process at the smallest size: the all-pairs comparison the
index replaces (numpy XOR + popcount over every pair, in blocks), whose answer the search
must equal exactly there; every planted pair must be found at every size. Prints seconds,
the growth factor between sizes (linear = x10 per tenfold), the speed-up over all pairs,
and one JSON line.

Uniform random codes are the easy case for any hash index; real datasets' PDQ hashes are
correlated, and clusters of near-copies add the pairs they really contain.

    nice -n 5 .venv/bin/python bench/bias_bench.py [--sizes 10000 100000 1000000]
        [--radius 15] [--threads N] [--nhash 8]

``--nhash`` forces a table layout (8: 32-bit tables, 16: 16-bit tables) instead of the one
the report would choose for each size, to compare layouts.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.bias.neardup import default_threads, near_pairs
from service.bias.options import DEFAULT_PDQ_RADIUS


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


def all_pairs(hexes: list[str], radius: int) -> set[tuple[int, int]]:
    """Every pair within ``radius``, by comparing every code with every other (the baseline)."""
    codes = np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(len(hexes), -1)
    words = codes.view(np.uint64)
    n = len(codes)
    found: set[tuple[int, int]] = set()
    block = max(1, (1 << 22) // max(n, 1))
    for start in range(0, n, block):
        rows = np.arange(start, min(n, start + block))
        distance = np.bitwise_count(words[rows, None, :] ^ words[None, :, :]).sum(axis=2)
        qi, qj = np.nonzero(distance <= radius)
        found.update((a, b) for a, b in zip(rows[qi].tolist(), qj.tolist(), strict=True) if a < b)
    return found


def timed(function, *args, **kwargs):  # noqa: ANN001
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--radius", type=int, default=DEFAULT_PDQ_RADIUS)
    parser.add_argument("--bits", type=int, default=256)
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument(
        "--nhash",
        type=int,
        default=None,
        help="force this many tables (e.g. 8: 32-bit tables) instead of the report's choice",
    )
    args = parser.parse_args()

    near_pairs(["00" * (args.bits // 8)] * 3, args.radius)  # imports FAISS outside the timings
    seconds: dict[str, float] = {}
    details: dict[str, dict] = {}
    baseline: dict[str, float] = {}
    for size in sorted(args.sizes):
        hexes, planted = make_codes(size, args.bits, args.radius, seed=size)
        elapsed, (pairs, _, info) = timed(
            near_pairs, hexes, args.radius, threads=args.threads, nhash=args.nhash
        )
        found = {tuple(pair) for pair in pairs.tolist()}
        missed = len(planted - found)
        assert missed == 0, f"missed {missed} planted pairs at n={size}"
        seconds[str(size)] = round(elapsed, 3)
        plan = info["plan"]
        details[str(size)] = {"pairs": len(found), "candidates": info["candidates"], "plan": plan}
        print(
            f"n={size:>9,} FAISS: {elapsed:8.2f} s  {len(found):,} pairs, "
            f"{info['candidates']:,} shortlisted, {plan['nhash']} x {plan['b']}-bit tables, "
            f"{plan['nflip']} flip(s), {info['threads']} threads",
            flush=True,
        )
        if not baseline:
            baseline_seconds, truth = timed(all_pairs, hexes, args.radius)
            assert found == truth, "the FAISS search differs from the all-pairs answer"
            baseline = {"size": size, "seconds": round(baseline_seconds, 3)}
            print(
                f"n={size:>9,} all pairs (numpy baseline): {baseline_seconds:.2f} s, "
                f"{len(truth):,} pairs: the same pairs",
                flush=True,
            )

    sizes = [str(size) for size in sorted(args.sizes)]
    growth = [round(seconds[b] / seconds[a], 2) for a, b in itertools.pairwise(sizes)]
    speedup = round(baseline["seconds"] / seconds[str(baseline["size"])], 1)
    # All pairs grows with n^2: what it would cost at the largest size, from the baseline.
    largest = int(sizes[-1])
    projected = baseline["seconds"] * (largest / baseline["size"]) ** 2
    print(
        f"growth per 10x more fingerprints: {', '.join(f'x{g}' for g in growth)} "
        f"(linear = x10); {speedup}x faster than all pairs at n={baseline['size']:,}; all pairs "
        f"at n={largest:,} would take ~{projected:,.0f} s (n^2 from the baseline)"
    )
    print(
        json.dumps(
            {
                "bench": "bias_neardup",
                "engine": "faiss.IndexBinaryMultiHash",
                "radius": args.radius,
                "bits": args.bits,
                "threads": args.threads,
                "forced_nhash": args.nhash,
                "seconds": seconds,
                "growth_per_10x": growth,
                "baseline_all_pairs": baseline,
                "speedup_vs_all_pairs": speedup,
                "all_pairs_projected_seconds": {str(largest): round(projected)},
                "details": details,
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "cpu": platform.processor() or platform.machine(),
                "cores": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
