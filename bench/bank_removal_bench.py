"""Removing bank content: a tombstone in the index (what ``HashBank.remove`` does) against
rebuilding the multi-hash index without the removed code (the baseline), and what reading
each match's metadata back from the registry adds to a lookup.

In one process, over a bank of random 256-bit (PDQ-sized) codes:

* removal: ``BinaryHashIndex.remove`` of one id (searches leave it out at once) against
  ``compact`` (a rebuild of the FAISS multi-hash index, which cannot delete in place);
* lookup: ``HashBank.lookup`` of stored codes (every query matches; metadata read back from
  a SQLite registry) against the index search alone (``IndexCache.search``), the baseline.

Prints the ratios and one JSON line.

    nice .venv/bin/python bench/bank_removal_bench.py [--n 200000] [--registry-rows 20000]
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


def removal(n: int, rounds: int, rng: np.random.Generator) -> dict[str, float]:
    from provenance.hashindex import BinaryHashIndex

    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    index = BinaryHashIndex(256, "multihash")
    index.add(np.arange(1, n + 1, dtype=np.int64), codes)
    tombstone, rebuild = [], []
    for row in rng.choice(n, size=rounds, replace=False):
        start = time.perf_counter()
        index.remove([int(row) + 1])
        tombstone.append(time.perf_counter() - start)
        assert int(row) + 1 not in index.search(codes[row : row + 1], 31)[0].ids
        start = time.perf_counter()
        index.compact()
        rebuild.append(time.perf_counter() - start)
    tombstone_ms = statistics.median(tombstone) * 1e3
    rebuild_ms = statistics.median(rebuild) * 1e3
    return {
        "remove_ms": round(tombstone_ms, 3),
        "rebuild_ms": round(rebuild_ms, 1),
        "remove_ratio_vs_rebuild": round(rebuild_ms / tombstone_ms, 1),
    }


def lookups(rows: int, queries: int, rounds: int, rng: np.random.Generator) -> dict[str, float]:
    from provenance.hashquery import HashQuery
    from provenance.registry import Registry
    from provenance.store import FingerprintStore

    with tempfile.TemporaryDirectory() as folder:
        store = FingerprintStore(Registry(f"sqlite:///{folder}/bench.db"), Path(folder) / "i")
        store.banks.create_bank("BENCH")
        values = [bytes(code).hex() for code in rng.integers(0, 256, (rows, 32), dtype=np.uint8)]
        store.registry.add_content_many(
            "BENCH", [{"pdq": v, "metadata": {"case": i}} for i, v in enumerate(values)]
        )
        store.open_indexes()
        picked = rng.choice(rows, size=queries, replace=False)
        asked = [HashQuery.from_hashes(pdq=values[i]) for i in picked]
        store.banks.lookup(asked[:5])  # warm-up
        full, bare = [], []
        for chunk in np.array_split(np.arange(queries), rounds):
            batch = [asked[i] for i in chunk]
            start = time.perf_counter()
            found = store.banks.lookup(batch)
            full.append((time.perf_counter() - start) / len(batch))
            assert all(result["BENCH"][0]["metadata"] is not None for result in found)
            start = time.perf_counter()
            store.indexes.search("content", "pdq", batch, 31)
            store.indexes.search("content", "phash", batch, 10)
            bare.append((time.perf_counter() - start) / len(batch))
        store.close(save=False)
    full_ms, bare_ms = statistics.median(full) * 1e3, statistics.median(bare) * 1e3
    return {
        "lookup_ms_per_query": round(full_ms, 4),
        "index_search_ms_per_query": round(bare_ms, 4),
        "lookup_ratio_vs_index_search": round(full_ms / bare_ms, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="codes in the index")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--registry-rows", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=500, help="lookups, in batches of one round")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import faiss

    rng = np.random.default_rng(args.seed)
    removed = removal(args.n, args.rounds, rng)
    looked = lookups(args.registry_rows, args.queries, args.rounds, rng)
    result = {
        "bench": "bank_removal",
        "n": args.n,
        "registry_rows": args.registry_rows,
        "queries": args.queries,
        "rounds": args.rounds,
        **removed,
        **looked,
        "faiss": faiss.__version__,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu",
    }
    print(
        f"remove one of {args.n:,} codes: {removed['remove_ms']:.3f} ms, against a rebuild "
        f"{removed['rebuild_ms']:.0f} ms ({removed['remove_ratio_vs_rebuild']:.0f}x faster)"
    )
    print(
        f"lookup with metadata over {args.registry_rows:,} rows: "
        f"{looked['lookup_ms_per_query']:.3f} ms/query, index search alone "
        f"{looked['index_search_ms_per_query']:.3f} ms/query "
        f"({looked['lookup_ratio_vs_index_search']:.2f}x)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
