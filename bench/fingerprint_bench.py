"""Threshold lookups in a bank of random 256-bit (PDQ-sized) codes: numpy vs FAISS.

In one process, over the same codes and queries: numpy brute force (XOR + popcount over
every code, the baseline), FAISS ``IndexBinaryFlat`` radius search and FAISS
``IndexBinaryMultiHash`` (what ``provenance.hashindex`` uses for PDQ), both batched.
Each query is a stored code with 0-31 of its bits flipped, so every query has a true
neighbour at PDQ's match distance; recall is measured against the brute force's answer
(every code within the radius, not just the planted one). Also: FAISS ingestion rate, and
the registry's (SQLite + index sync) with ``--registry-rows``. Prints the ratios against
numpy and one JSON line.

    nice .venv/bin/python bench/fingerprint_bench.py [--n 1000000] [--queries 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def planted_queries(codes: np.ndarray, count: int, radius: int, rng: np.random.Generator):
    """Queries at a known distance 0..radius from a stored code, and those codes' positions."""
    positions = rng.choice(len(codes), size=count, replace=False)
    queries = codes[positions].copy()
    for row in range(count):
        flips = rng.choice(256, size=int(rng.integers(0, radius + 1)), replace=False)
        for bit in flips:
            queries[row, bit // 8] ^= np.uint8(1 << (bit % 8))
    return queries, positions


def recall(found: list[set[int]], truth: list[np.ndarray]) -> float:
    pairs = sum(len(t) for t in truth)
    hits = sum(len(f & set(t.tolist())) for f, t in zip(found, truth, strict=True))
    return hits / pairs if pairs else 1.0


def registry_ingestion(rows: int, rng: np.random.Generator) -> dict[str, float]:
    """Rows/s into the registry (SQLite WAL) and on into the index, bulk and one by one."""
    from provenance.hashquery import HashQuery
    from provenance.registry import Registry
    from provenance.store import FingerprintStore

    directory = Path(tempfile.mkdtemp(prefix="provaudit-bench-"))
    store = FingerprintStore(Registry(f"sqlite:///{directory / 'r.db'}"), directory / "index")
    bank = store.banks
    bank.create_bank("BENCH")
    store.open_indexes()
    values = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(rows)]
    start = time.perf_counter()
    bank.registry.add_content_many("BENCH", [{"pdq": value} for value in values])
    store.indexes.sync()
    bulk = time.perf_counter() - start
    singles = min(200, rows)
    start = time.perf_counter()
    for _ in range(singles):
        bank.add_hashes("BENCH", pdq=bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex())
    single = time.perf_counter() - start
    assert bank.lookup([HashQuery.from_hashes(pdq=values[-1])])[0]["BENCH"][0]["distance"] == 0
    start = time.perf_counter()
    store.indexes.save()
    saved = time.perf_counter() - start
    store.close(save=False)
    return {
        "registry_bulk_rows_per_s": round(rows / bulk, 1),
        "registry_single_adds_per_s": round(singles / single, 1),
        "index_save_s": round(saved, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="codes in the bank")
    parser.add_argument("--queries", type=int, default=2000, help="batched FAISS queries")
    parser.add_argument(
        "--numpy-queries", type=int, default=50, help="queries for the brute-force baseline"
    )
    parser.add_argument("--radius", type=int, default=31)
    parser.add_argument("--registry-rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import faiss

    from provenance.hashindex import BinaryHashIndex, brute_force_search

    rng = np.random.default_rng(args.seed)
    codes = rng.integers(0, 256, (args.n, 32), dtype=np.uint8)
    queries, planted = planted_queries(codes, args.queries, args.radius, rng)
    ids = np.arange(args.n, dtype=np.int64)

    indexes: dict[str, BinaryHashIndex] = {}
    ingest: dict[str, float] = {}
    for kind in ("flat", "multihash"):
        index = BinaryHashIndex(256, kind)  # type: ignore[arg-type]
        start = time.perf_counter()
        index.add(ids, codes)
        ingest[kind] = args.n / (time.perf_counter() - start)
        index.search(queries[:10], args.radius)  # warm-up
        indexes[kind] = index

    # Interleaved rounds, so that load from other processes hits every method alike: in
    # each round numpy answers its share of the brute-force queries and each FAISS index
    # its share of the batch; medians over rounds.
    per_round = {"numpy": [], "flat": [], "multihash": []}
    truth: list[np.ndarray] = []
    found: dict[str, list[set[int]]] = {"flat": [], "multihash": []}
    numpy_chunks = np.array_split(np.arange(args.numpy_queries), args.rounds)
    faiss_chunks = np.array_split(np.arange(args.queries), args.rounds)
    for numpy_rows, faiss_rows in zip(numpy_chunks, faiss_chunks, strict=True):
        start = time.perf_counter()
        truth += brute_force_search(codes, queries[numpy_rows], args.radius)
        per_round["numpy"].append((time.perf_counter() - start) / len(numpy_rows))
        for kind, index in indexes.items():
            start = time.perf_counter()
            hits = index.search(queries[faiss_rows], args.radius)
            per_round[kind].append((time.perf_counter() - start) / len(faiss_rows))
            found[kind] += [set(hit.ids.tolist()) for hit in hits]
    numpy_ms = statistics.median(per_round["numpy"]) * 1e3
    subset_size = sum(len(rows) for rows in numpy_chunks)

    results: dict[str, dict[str, float]] = {}
    for kind in ("flat", "multihash"):
        ms = statistics.median(per_round[kind]) * 1e3
        by_query = found[kind]
        results[kind] = {
            "ms_per_query": round(ms, 4),
            "queries_per_s": round(1e3 / ms, 1),
            "ratio_vs_numpy": round(numpy_ms / ms, 2),
            # found is in query order; numpy answered queries 0 .. subset_size - 1.
            "recall_vs_brute_force": recall(by_query[:subset_size], truth),
            "planted_found": sum(int(p) in f for p, f in zip(planted, by_query, strict=True))
            / len(queries),
            "ingest_codes_per_s": round(ingest[kind], 1),
        }
    del indexes

    registry = registry_ingestion(args.registry_rows, rng) if args.registry_rows else {}
    multihash = results["multihash"]
    result = {
        "bench": "fingerprint",
        "n": args.n,
        "queries": args.queries,
        "numpy_queries": subset_size,
        "rounds": args.rounds,
        "radius": args.radius,
        "numpy_ms_per_query": round(numpy_ms, 3),
        "flat": results["flat"],
        "multihash": multihash,
        **registry,
        "goal_met": multihash["ratio_vs_numpy"] >= 25
        and multihash["queries_per_s"] >= 700
        and multihash["recall_vs_brute_force"] == 1.0,
        "faiss": faiss.__version__,
        "faiss_threads": faiss.omp_get_max_threads(),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu",
    }
    print(f"{args.n:,} random 256-bit codes, radius {args.radius}, batches of {args.queries}")
    print(f"numpy brute force: {numpy_ms:.2f} ms/query ({subset_size} queries)")
    for kind in ("flat", "multihash"):
        entry = results[kind]
        print(
            f"faiss {kind:9s}: {entry['ms_per_query']:.3f} ms/query, "
            f"{entry['queries_per_s']:.0f} queries/s, {entry['ratio_vs_numpy']:.1f}x numpy, "
            f"recall {entry['recall_vs_brute_force']:.3f}, "
            f"ingest {entry['ingest_codes_per_s']:,.0f} codes/s"
        )
    if registry:
        print(
            f"registry: bulk {registry['registry_bulk_rows_per_s']:,.0f} rows/s, "
            f"one by one {registry['registry_single_adds_per_s']:,.0f} adds/s"
        )
    print("goal (>= 25x numpy, >= 700 queries/s, recall 1.0):", result["goal_met"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
