"""Exact Hamming-radius search over binary hashes (PDQ 256 bits, pHash 64 bits) with FAISS.

Threshold matching needs every stored hash within distance *r* of a query, not "probably
the nearest few": approximate graphs (HNSW) miss most true neighbours at PDQ's radius
(see bench/fingerprint_bench.py). Two exact structures are used:

* ``IndexBinaryFlat``: compares the query with every code (SIMD popcount); exact, simple,
  good for small banks and for the 64-bit pHash.
* ``IndexBinaryMultiHash`` (multi-index hashing, Norouzi et al.): the 256 bits are cut
  into ``nhash`` disjoint chunks of ``bits / nhash`` bits, each chunk a hash table. If two
  codes differ in at most *r* bits, by pigeonhole some chunk differs in at most
  ``r // nhash`` bits, so probing every chunk value within ``nflip = r // nhash`` flips
  finds all of them: exact, while touching only a few thousand candidates of a million.
  The chunks must cover all the bits for this to hold, which ``__init__`` checks.

FAISS numbers codes by insertion order; ``ids`` (registry row ids) and ``groups`` (bank
ids) are kept beside in numpy arrays of the same order, and saved with the index.

Removal (``remove``) marks positions dead: a search leaves them out at once, and the dead
positions are saved with the ids. A multi-hash index cannot delete in place, so the codes
are dropped for good by a rebuild (``compact``), which ``save`` makes once a quarter of the
stored codes are dead: each rebuild of *n* codes follows at least *n*/4 removals.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

IndexKind = Literal["flat", "multihash"]
COMPACT_WHEN_DEAD = 4
"""``save`` rebuilds without the removed codes once they are 1/4 of those stored."""
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class RangeHits:
    """The stored entries within the radius of one query: parallel arrays."""

    ids: np.ndarray  # int64 registry ids
    groups: np.ndarray  # int32 bank ids (0 where there are none)
    distances: np.ndarray  # int32 Hamming distances


class _GrowingArray:
    """An append-only numpy array with amortised doubling (adds one hash at a time)."""

    def __init__(self, dtype: Any, data: np.ndarray | None = None) -> None:
        import numpy as np

        self._data = np.zeros(64, dtype=dtype) if data is None else np.array(data, dtype=dtype)
        self._size = 0 if data is None else len(data)

    def extend(self, values: np.ndarray) -> None:
        import numpy as np

        needed = self._size + len(values)
        if needed > len(self._data):
            grown = np.zeros(max(needed, 2 * len(self._data)), dtype=self._data.dtype)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : needed] = values
        self._size = needed

    @property
    def values(self) -> np.ndarray:
        return self._data[: self._size]


class BinaryHashIndex:
    """Codes of ``bits`` bits, each with a registry id and a group; exact radius search.

    Not thread-safe for writes: callers (``provenance.hashbank``) hold a lock around
    ``add`` and ``search`` (a multi-hash search sets ``nflip`` on the shared index).
    """

    def __init__(self, bits: int, kind: IndexKind = "multihash", nhash: int = 16) -> None:
        import faiss

        if bits % 8:
            raise ValueError("bits must be a multiple of 8")
        self.bits = bits
        self.kind = kind
        self.nhash = nhash
        if kind == "multihash":
            if bits % nhash or (bits // nhash) > 64:
                raise ValueError("the hash chunks must cover all the bits, 64 bits at most each")
            self._index = faiss.IndexBinaryMultiHash(bits, nhash, bits // nhash)
        elif kind == "flat":
            self._index = faiss.IndexBinaryFlat(bits)
        else:
            raise ValueError(f"unknown index kind {kind!r}")
        self._ids = _GrowingArray("int64")
        self._groups = _GrowingArray("int32")
        import numpy as np

        # Sorted positions of removed codes, left out of searches until ``compact``.
        self._dead = np.zeros(0, dtype=np.int64)
        # The highest registry id this index has considered (added, or skipped as not
        # indexable): the next sync reads the rows above it.
        self.max_id = 0

    @property
    def ntotal(self) -> int:
        """The codes a search can find (removed ones not counted)."""
        return int(self._index.ntotal) - len(self._dead)

    def remove(self, row_ids: list[int]) -> int:
        """Leave the codes of ``row_ids`` out of every search from now on; how many."""
        import numpy as np

        positions = np.flatnonzero(np.isin(self._ids.values, np.asarray(row_ids, np.int64)))
        positions = np.setdiff1d(positions, self._dead)
        if len(positions):
            self._dead = np.union1d(self._dead, positions)
        return len(positions)

    def compact(self) -> None:
        """Drop removed codes from the FAISS index and the id arrays (a rebuild)."""
        import numpy as np

        if not len(self._dead):
            return
        keep = np.ones(int(self._index.ntotal), dtype=bool)
        keep[self._dead] = False
        codes = self._raw_codes()[keep]
        ids, groups = self._ids.values[keep], self._groups.values[keep]
        fresh = BinaryHashIndex(self.bits, self.kind, self.nhash)
        if len(codes):
            fresh._index.add(_padded(codes))
        self._index = fresh._index
        self._ids = _GrowingArray("int64", ids)
        self._groups = _GrowingArray("int32", groups)
        self._dead = np.zeros(0, dtype=np.int64)

    @property
    def code_bytes(self) -> int:
        return self.bits // 8

    def add(self, ids: np.ndarray, codes: np.ndarray, groups: np.ndarray | None = None) -> None:
        """Append codes (uint8, ``(n, bits/8)``) with their registry ids and groups."""
        import numpy as np

        codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, self.code_bytes)
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        groups = (
            np.zeros(len(ids), dtype=np.int32)
            if groups is None
            else np.asarray(groups, dtype=np.int32).reshape(-1)
        )
        if not len(ids) == len(codes) == len(groups):
            raise ValueError("ids, codes and groups must have the same length")
        if not len(ids):
            return
        self._index.add(_padded(codes))
        self._ids.extend(ids)
        self._groups.extend(groups)
        self.max_id = max(self.max_id, int(ids.max()))

    def advance(self, row_id: int) -> None:
        """Record that the registry rows up to ``row_id`` have been considered."""
        self.max_id = max(self.max_id, int(row_id))

    def search(self, queries: np.ndarray, radius: int) -> list[RangeHits]:
        """Every stored code within Hamming distance ``radius`` (inclusive) of each query.

        Exact for both kinds: a multi-hash index probes ``radius // nhash`` bit flips per
        chunk, which the pigeonhole argument in the module docstring makes sufficient.
        """
        import numpy as np

        queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, self.code_bytes)
        if radius < 0 or not len(queries):
            return [_empty_hits() for _ in range(len(queries))]
        if self.ntotal == 0:
            return [_empty_hits() for _ in range(len(queries))]
        if self.kind == "multihash":
            self._index.nflip = radius // self.nhash
        # FAISS keeps distances strictly below the radius it is given.
        lims, distances, positions = self._index.range_search(_padded(queries), radius + 1)
        ids, groups = self._ids.values, self._groups.values
        hits = []
        for row in range(len(queries)):
            found = positions[lims[row] : lims[row + 1]]
            found_distances = distances[lims[row] : lims[row + 1]]
            if len(self._dead) and len(found):
                alive = ~np.isin(found, self._dead)
                found, found_distances = found[alive], found_distances[alive]
            hits.append(
                RangeHits(
                    ids=ids[found],
                    groups=groups[found],
                    distances=found_distances.astype(np.int32),
                )
            )
        return hits

    def codes(self) -> np.ndarray:
        """The searchable codes in insertion order (for checks and brute-force comparisons)."""
        import numpy as np

        codes = self._raw_codes()
        return np.delete(codes, self._dead, axis=0) if len(self._dead) else codes

    def _raw_codes(self) -> np.ndarray:
        """Every code FAISS holds, removed ones included, in position order."""
        import faiss
        import numpy as np

        if self.kind == "multihash":
            storage = faiss.downcast_IndexBinary(self._index.storage)
        else:
            storage = self._index
        return faiss.vector_to_array(storage.xb).reshape(-1, self.code_bytes).astype(np.uint8)

    @property
    def ids(self) -> np.ndarray:
        """Registry ids of the searchable codes, in insertion order."""
        import numpy as np

        values = self._ids.values
        return np.delete(values, self._dead) if len(self._dead) else values

    # --- persistence ------------------------------------------------------------------

    def save(self, path: Path, meta: dict[str, Any] | None = None) -> None:
        """Write ``path`` (FAISS index), ``path.ids.npz`` and ``path.json`` atomically.

        The JSON is written last and names the count of the other two, so a crash halfway
        leaves files that ``load`` recognises as inconsistent (and rebuilds from the
        registry) rather than a silently short index.
        """
        import faiss
        import numpy as np

        if len(self._dead) * COMPACT_WHEN_DEAD >= int(self._index.ntotal):
            self.compact()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        faiss.write_index_binary(self._index, str(partial))
        os.replace(partial, path)
        arrays = path.with_name(path.name + ".ids.partial.npz")
        np.savez(arrays, ids=self._ids.values, groups=self._groups.values, dead=self._dead)
        os.replace(arrays, _ids_path(path))
        info = {
            "format": _FORMAT_VERSION,
            "bits": self.bits,
            "kind": self.kind,
            "nhash": self.nhash,
            # Stored codes, removed ones included: what FAISS and the id arrays hold.
            "ntotal": int(self._index.ntotal),
            "removed": len(self._dead),
            "max_id": self.max_id,
            **(meta or {}),
        }
        meta_partial = path.with_name(path.name + ".json.partial")
        meta_partial.write_text(json.dumps(info))
        os.replace(meta_partial, _meta_path(path))

    @classmethod
    def load(cls, path: Path) -> tuple[BinaryHashIndex, dict[str, Any]] | None:
        """The saved index and its metadata, or None when missing, partial or unreadable."""
        import faiss
        import numpy as np

        try:
            info = json.loads(_meta_path(path).read_text())
            if info.get("format") != _FORMAT_VERSION:
                return None
            index = cls(int(info["bits"]), info["kind"], int(info["nhash"]))
            index._index = faiss.read_index_binary(str(path))
            with np.load(_ids_path(path)) as arrays:
                ids, groups = arrays["ids"], arrays["groups"]
                # Files saved before removals existed hold no dead positions.
                dead = arrays["dead"] if "dead" in arrays.files else np.zeros(0, np.int64)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError):
            return None
        if not index.ntotal == len(ids) == len(groups) == int(info["ntotal"]):
            return None
        dead = np.unique(np.asarray(dead, dtype=np.int64))
        if len(dead) != int(info.get("removed", 0)) or (
            len(dead) and not 0 <= dead[0] <= dead[-1] < len(ids)
        ):
            return None
        if index.kind == "multihash" and not isinstance(index._index, faiss.IndexBinaryMultiHash):
            return None
        index._ids = _GrowingArray("int64", ids)
        index._groups = _GrowingArray("int32", groups)
        index._dead = dead
        index.max_id = int(info["max_id"])
        if not index._finds_its_own_codes():
            index._rebuild_from_storage()
        return index, info

    def _finds_its_own_codes(self, sample: int = 64) -> bool:
        """Whether a sample of stored codes is found again at distance 0.

        FAISS 1.15 writes a multi-hash index of exactly one code with zero-bit ids and
        reads back empty hash tables; this catches that and any like it after a load.
        """
        import numpy as np

        live = np.setdiff1d(np.arange(int(self._index.ntotal)), self._dead)
        if not len(live):
            return True
        positions = live[
            np.unique(np.linspace(0, len(live) - 1, min(sample, len(live))).astype(int))
        ]
        hits = self.search(self._raw_codes()[positions], 0)
        ids = self._ids.values[positions]
        return all(int(ids[i]) in hit.ids for i, hit in enumerate(hits))

    def _rebuild_from_storage(self) -> None:
        codes = self._raw_codes()
        fresh = BinaryHashIndex(self.bits, self.kind, self.nhash)
        fresh._index.add(codes)
        self._index = fresh._index


def _padded(codes: np.ndarray) -> np.ndarray:
    """A copy of ``codes`` in a buffer one row longer: FAISS's multi-hash reads each table's
    bits as a 64-bit word, which runs up to 7 bytes past the end of the last code."""
    import numpy as np

    buffer = np.zeros((len(codes) + 1, codes.shape[1]), dtype=np.uint8)
    buffer[:-1] = codes
    return buffer[:-1]


def _ids_path(path: Path) -> Path:
    return path.with_name(path.name + ".ids.npz")


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _empty_hits() -> RangeHits:
    import numpy as np

    return RangeHits(
        ids=np.zeros(0, np.int64), groups=np.zeros(0, np.int32), distances=np.zeros(0, np.int32)
    )


def hex_to_codes(hex_values: list[str], bits: int) -> np.ndarray:
    """``(n, bits/8)`` uint8 codes from hex strings (already validated)."""
    import numpy as np

    if not hex_values:
        return np.zeros((0, bits // 8), dtype=np.uint8)
    return np.frombuffer(bytes.fromhex("".join(hex_values)), dtype=np.uint8).reshape(-1, bits // 8)


def brute_force_search(codes: np.ndarray, queries: np.ndarray, radius: int) -> list[np.ndarray]:
    """Positions of the codes within ``radius`` of each query, by numpy popcount.

    The reference the tests and the benchmark hold FAISS to.
    """
    import numpy as np

    width = codes.shape[1]
    if width % 8 == 0:
        packed, packed_queries = codes.view(np.uint64), queries.view(np.uint64)
    else:
        packed, packed_queries = codes, queries
    results = []
    for query in packed_queries:
        results.append(np.flatnonzero(_popcount_rows(packed ^ query) <= radius))
    return results


def _popcount_rows(xored: np.ndarray) -> np.ndarray:
    import numpy as np

    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(xored).sum(axis=1, dtype=np.int32)
    as_bytes = xored.view(np.uint8).reshape(len(xored), -1)
    return np.unpackbits(as_bytes, axis=1).sum(axis=1, dtype=np.int32)
