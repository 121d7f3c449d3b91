"""Near-duplicate search in Hamming space without comparing all pairs.

Multi-index hashing (Norouzi, Punjani and Fleet, TPAMI 2014; what FAISS's
``IndexBinaryMultiHash`` implements): the ``bits``-bit code is cut into ``nhash``
disjoint substrings of ``b`` bits, each indexed in a table. Two codes within Hamming
distance ``r`` differ in at most ``nflip`` bits in at least one substring whenever
``nhash * (nflip + 1) > r`` (pigeonhole), so looking up every substring with up to
``nflip`` bits flipped finds **every** pair within ``r`` -- an exact search, not an
approximate one -- and only those candidates are compared bit by bit.

:func:`plan_search` picks ``b`` (and so ``nhash`` and ``nflip``) to minimise the expected
number of lookups plus candidates for ``n`` codes, which keeps the cost close to linear in
``n`` for the radii people use. Two backends share the plan and give identical pairs: a
vectorised numpy self-join (the default: one direct-address table per substring, built and
dropped in turn, each pair probed from one side only) and FAISS's ``IndexBinaryMultiHash``
range search (``backend="faiss"``), which bench/bias_bench.py measured 4-5x slower for
this all-against-all use on a 2-core CPU (it answers one query at a time through a hash
set). Identical codes are collapsed first, so a thousand copies of one image cost one
lookup, not a million pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np

# Queries per block in the numpy backend: bounds the memory of one block's candidate arrays.
_BLOCK_CANDIDATES = 1 << 18
_VERIFY_COST = 2.0
_TABLE_COST = 0.5


@dataclass(frozen=True)
class SearchPlan:
    bits: int
    radius: int
    nhash: int
    b: int
    nflip: int

    @property
    def exact(self) -> bool:
        return self.nhash * (self.nflip + 1) > self.radius

    @property
    def lookups_per_code(self) -> int:
        return self.nhash * sum(math.comb(self.b, k) for k in range(self.nflip + 1))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "exact": self.exact, "lookups_per_code": self.lookups_per_code}


def plan_search(bits: int, radius: int, n: int, max_b: int = 24) -> SearchPlan:
    """The cheapest exact plan for ``n`` codes under a uniform-code cost model.

    Relative costs were measured with the numpy backend: a candidate check costs about two
    table lookups, a table slot about half of one; codes probe with a non-zero flip mask
    from one side of each pair only, so those lookups count half.
    """
    best: tuple[float, SearchPlan] | None = None
    for b in range(8, min(max_b, bits) + 1):
        nhash = bits // b
        nflip = max(0, math.ceil((radius + 1) / nhash) - 1)
        if nflip > 3:  # too many flip patterns per lookup: not worth it at this width
            continue
        plan = SearchPlan(bits, radius, nhash, b, nflip)
        lookups = nhash * (1 + (plan.lookups_per_code / nhash - 1) / 2)
        n = max(n, 1)
        # Lookups and candidate checks per code, plus building one table per substring.
        cost = n * lookups * (1.0 + _VERIFY_COST * n / 2.0**b) + _TABLE_COST * nhash * 2.0**b
        if best is None or cost < best[0]:
            best = (cost, plan)
    if best is None:
        raise ValueError(f"No exact multi-index plan for radius {radius} on {bits} bits.")
    return best[1]


def hex_codes(values: Sequence[str]) -> np.ndarray:
    """Hex strings of one length -> (n, bytes) uint8."""
    if not len(values):
        return np.zeros((0, 0), np.uint8)
    return np.frombuffer(bytes.fromhex("".join(values)), dtype=np.uint8).reshape(len(values), -1)


def _words(codes: np.ndarray) -> np.ndarray:
    padded = codes
    if codes.shape[1] % 8:
        padded = np.pad(codes, ((0, 0), (0, 8 - codes.shape[1] % 8)))
    # Native byte order: popcount of an XOR does not care, and numpy is fast only on native.
    return np.ascontiguousarray(padded).view(np.uint64)


def hamming(words: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Hamming distances of the code pairs (i[k], j[k]); words are (n, w) uint64."""
    a = np.take(words, i, axis=0)
    np.bitwise_xor(a, np.take(words, j, axis=0), out=a)
    counts = np.bitwise_count(a)
    # Column sums one at a time: several times faster than .sum(axis=1) on narrow rows.
    total = counts[:, 0].astype(np.int64)
    for column in range(1, counts.shape[1]):
        total += counts[:, column]
    return total


def _substring(bits: np.ndarray, start: int, width: int) -> np.ndarray:
    weights = (1 << np.arange(width - 1, -1, -1, dtype=np.int64)).astype(np.int64)
    return bits[:, start : start + width].astype(np.int64) @ weights


def _flip_masks(width: int, nflip: int) -> np.ndarray:
    masks = [0]
    for k in range(1, nflip + 1):
        masks.extend(sum(1 << i for i in combo) for combo in combinations(range(width), k))
    return np.array(masks, dtype=np.int64)


def _expand(
    queries: np.ndarray,
    probe: np.ndarray,
    counts: np.ndarray,
    starts: np.ndarray,
    order: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Every (query, member) pair of the buckets each query probes."""
    hits = counts[probe]
    total = int(hits.sum())
    if not total:
        empty = np.zeros(0, np.int64)
        return empty, empty
    ends = np.cumsum(hits)
    offsets = np.arange(total) - np.repeat(ends - hits, hits)
    return np.repeat(queries, hits), order[np.repeat(starts[probe], hits) + offsets]


def _pairs_numpy(codes: np.ndarray, plan: SearchPlan) -> tuple[np.ndarray, int]:
    """The self-join, one (substring, flip mask) at a time.

    For a mask m != 0, a pair whose substrings differ by exactly m is found from the one of
    its two codes whose substring has m's lowest set bit clear, so only those codes probe:
    each pair is generated once and half the lookups are saved.
    """
    n = len(codes)
    words = _words(codes)
    bits = np.unpackbits(codes, axis=1)
    masks = _flip_masks(plan.b, plan.nflip)
    found: list[np.ndarray] = []
    candidates = 0
    everyone = np.arange(n, dtype=np.int64)
    for h in range(plan.nhash):
        keys = _substring(bits, h * plan.b, plan.b)
        counts = np.bincount(keys, minlength=1 << plan.b)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        order = np.argsort(keys, kind="stable")
        for mask in masks.tolist():
            low_bit = mask & -mask
            queries = everyone if mask == 0 else np.flatnonzero((keys & low_bit) == 0)
            for block in range(0, len(queries), _BLOCK_CANDIDATES):
                chosen = queries[block : block + _BLOCK_CANDIDATES]
                query, other = _expand(chosen, keys[chosen] ^ mask, counts, starts, order)
                candidates += len(query)
                if mask == 0:
                    keep = other > query  # equal substrings: each pair seen from both sides
                    query, other = query[keep], other[keep]
                if not len(query):
                    continue
                close = hamming(words, query, other) <= plan.radius
                low = np.minimum(query[close], other[close])
                high = np.maximum(query[close], other[close])
                found.append(low * n + high)
    if not found:
        return np.zeros(0, np.int64), candidates
    return np.unique(np.concatenate(found)), candidates


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _pairs_faiss(codes: np.ndarray, plan: SearchPlan) -> tuple[np.ndarray, int]:
    import faiss

    n = len(codes)
    # FAISS reads each substring as a 64-bit word at its byte offset: 8 zero bytes of padding
    # keep the last reads inside the array, and add nothing to any distance.
    padded = np.ascontiguousarray(np.pad(codes, ((0, 0), (0, 8))))
    index = faiss.IndexBinaryMultiHash(padded.shape[1] * 8, plan.nhash, plan.b)
    index.nflip = plan.nflip
    index.add(padded)
    # FAISS's range search keeps distances strictly below the radius it is given.
    lims, _distances, ids = index.range_search(padded, plan.radius + 1)
    query = np.repeat(np.arange(n, dtype=np.int64), np.diff(lims).astype(np.int64))
    other = ids.astype(np.int64)
    keep = other > query
    return np.unique(query[keep] * n + other[keep]), len(ids)


def near_pairs(
    hexes: Sequence[str], radius: int, backend: str = "numpy"
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Every pair ``(i, j)``, ``i < j``, of hashes within ``radius`` bits, and its distance.

    Identical hashes are collapsed before the search and expanded after it, so the pairs
    include all identical ones.
    """
    n = len(hexes)
    info: dict[str, Any] = {"codes": n}
    if n < 2:
        info.update(backend="none", unique_codes=n, candidates=0)
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int64), info
    unique, inverse = np.unique(np.asarray(hexes, dtype=object).astype(str), return_inverse=True)
    codes = hex_codes(list(unique))
    m = len(codes)
    bits = codes.shape[1] * 8
    plan = plan_search(bits, radius, m, max_b=20 if backend == "faiss" else 24)
    info.update(backend=backend, unique_codes=m, plan=plan.to_dict())
    if m < 2:
        keys, candidates = np.zeros(0, np.int64), 0
    elif backend == "faiss":
        keys, candidates = _pairs_faiss(codes, plan)
    elif backend == "numpy":
        keys, candidates = _pairs_numpy(codes, plan)
    else:
        raise ValueError(f"Unknown near-duplicate backend {backend!r}.")
    info["candidates"] = candidates
    words = _words(codes)
    ui, uj = keys // m, keys % m
    distances = hamming(words, ui, uj) if len(keys) else np.zeros(0, np.int64)
    # Expand unique codes back to images: members of each code, all pairs across two codes
    # at distance <= radius, and all pairs inside one code (distance 0).
    members: list[list[int]] = [[] for _ in range(m)]
    for image, code in enumerate(inverse.ravel()):
        members[code].append(image)
    pairs: list[tuple[int, int]] = []
    dist: list[int] = []
    for group in members:
        for a, b in combinations(group, 2):
            pairs.append((a, b))
            dist.append(0)
    for a_code, b_code, d in zip(ui.tolist(), uj.tolist(), distances.tolist(), strict=True):
        for a in members[a_code]:
            for b in members[b_code]:
                pairs.append((min(a, b), max(a, b)))
                dist.append(int(d))
    if not pairs:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int64), info
    return np.array(pairs, dtype=np.int64), np.array(dist, dtype=np.int64), info


def brute_force_pairs(hexes: Sequence[str], radius: int) -> set[tuple[int, int]]:
    """All pairs within ``radius`` by comparing every pair (tests and the benchmark's baseline)."""
    codes = hex_codes(list(hexes))
    words = _words(codes)
    n = len(codes)
    found: set[tuple[int, int]] = set()
    block = max(1, (1 << 22) // max(n, 1))
    for start in range(0, n, block):
        rows = np.arange(start, min(n, start + block))
        d = np.bitwise_count(words[rows, None, :] ^ words[None, :, :]).sum(axis=2)
        qi, qj = np.nonzero(d <= radius)
        for a, b in zip((rows[qi]).tolist(), qj.tolist(), strict=True):
            if a < b:
                found.add((a, b))
    return found
