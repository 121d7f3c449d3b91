"""Near-duplicate search in Hamming space on FAISS, without comparing all pairs.

Multi-index hashing (Norouzi, Punjani and Fleet, TPAMI 2014), as FAISS's
``IndexBinaryMultiHash`` implements it, through the project's wrapper
:class:`provenance.hashindex.BinaryHashIndex` (the one the hash banks use): the code is cut
into ``nhash`` disjoint chunks of ``b = bits / nhash`` bits, each a hash table. Two codes
within Hamming distance ``r`` differ in at most ``nflip`` bits in at least one chunk
whenever ``nhash * (nflip + 1) > r`` (pigeonhole); the wrapper probes every chunk with up
to ``nflip = r // nhash`` bits flipped, so the search finds **every** pair within ``r`` --
exact, not approximate -- and compares only the shortlisted candidates bit by bit.

The self-join adds every distinct code to one index and range-searches it with all of them,
in batches of queries that FAISS spreads over every core (OpenMP). :func:`plan_search` picks
the chunk width: wide chunks (32 bits) cost many probes per query when ``nflip`` > 0 but
shortlist almost nothing, so their cost stays linear in ``n``; narrow ones (16 bits) probe
little but shortlist about ``probes * n / 2**16`` codes per query, which grows with ``n``.
Identical codes are collapsed first, so a thousand copies of one image cost one query.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from itertools import combinations, pairwise
from typing import Any, Literal

import numpy as np

# Queries per FAISS call: large enough for OpenMP to share them out, small enough that one
# batch's result lists stay a few MB.
QUERY_BATCH = 16_384
# Relative costs, in table probes, measured on this project's 2-core CPU with FAISS 1.15
# (10^5 and 10^6 random codes at radius 15): a shortlisted candidate (hash-set insert and a
# 256-bit popcount) costs about 2.5 probes; adding a code to a table about 3, plus 7 when it
# opens a new slot (a vector of ids per distinct chunk value).
_CANDIDATE_COST = 2.5
_APPEND_COST = 3.0
_SLOT_COST = 7.0
# The widest chunk used: 32-bit tables hold one slot per distinct chunk value, so wider ones
# would only add memory.
_MAX_CHUNK_BITS = 32


@dataclass(frozen=True)
class SearchPlan:
    bits: int
    radius: int
    nhash: int
    b: int
    nflip: int

    @property
    def exact(self) -> bool:
        return self.nhash * self.b == self.bits and self.nhash * (self.nflip + 1) > self.radius

    @property
    def probes_per_query(self) -> int:
        return self.nhash * sum(math.comb(self.b, k) for k in range(self.nflip + 1))

    def expected_candidates(self, n: int) -> float:
        """Shortlist insertions per query for uniform codes: every probed bucket's members,
        and the query itself once per table."""
        return self.probes_per_query * n / 2.0**self.b + self.nhash

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "exact": self.exact,
            "probes_per_query": self.probes_per_query,
            "engine": "faiss.IndexBinaryMultiHash",
        }


def plan_search(bits: int, radius: int, n: int) -> SearchPlan:
    """The cheapest exact FAISS multi-hash layout for a self-join of ``n`` codes.

    Chunks must cover every bit (``BinaryHashIndex`` demands it) and the wrapper probes
    ``radius // nhash`` flips, the fewest the pigeonhole argument allows.
    """
    if radius < 0:
        raise ValueError("The radius must be at least 0.")
    n = max(n, 1)
    best: tuple[float, SearchPlan] | None = None
    for b in (8, 16, 32):
        if b > min(bits, _MAX_CHUNK_BITS) or bits % b:
            continue
        nhash = bits // b
        plan = SearchPlan(bits, radius, nhash, b, radius // nhash)
        cost = n * (plan.probes_per_query + _CANDIDATE_COST * plan.expected_candidates(n))
        cost += nhash * (_APPEND_COST * n + _SLOT_COST * min(n, 2**b))
        if best is None or cost < best[0]:
            best = (cost, plan)
    if best is None:
        raise ValueError(f"No multi-hash layout for {bits}-bit codes.")
    return best[1]


def default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _self_join(
    codes: np.ndarray, plan: SearchPlan, threads: int, batch: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Every pair ``i < j`` of distinct codes within the radius, its distance, and FAISS's
    shortlist count."""
    import faiss

    from provenance.hashindex import BinaryHashIndex

    m = len(codes)
    index = BinaryHashIndex(plan.bits, "multihash", plan.nhash)
    index.add(np.arange(m, dtype=np.int64), codes)
    stats = faiss.cvar.indexBinaryHash_stats
    shortlisted_before = int(stats.ndis)
    firsts: list[np.ndarray] = []
    others: list[np.ndarray] = []
    distances: list[np.ndarray] = []
    previous_threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        for start in range(0, m, batch):
            stop = min(m, start + batch)
            hits = index.search(codes[start:stop], plan.radius)
            counts = np.fromiter((len(h.ids) for h in hits), np.int64, len(hits))
            if not counts.sum():
                continue
            query = np.repeat(np.arange(start, stop, dtype=np.int64), counts)
            other = np.concatenate([h.ids for h in hits])
            distance = np.concatenate([h.distances for h in hits]).astype(np.int64)
            keep = other > query  # each pair is found from both ends, and each code finds itself
            firsts.append(query[keep])
            others.append(other[keep])
            distances.append(distance[keep])
    finally:
        faiss.omp_set_num_threads(previous_threads)
    # FAISS's own count, process-wide: exact unless another search runs at the same time.
    shortlisted = int(stats.ndis) - shortlisted_before
    if not firsts:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty, shortlisted
    return np.concatenate(firsts), np.concatenate(others), np.concatenate(distances), shortlisted


def near_pairs(
    hexes: Sequence[str],
    radius: int,
    *,
    threads: int | None = None,
    batch: int = QUERY_BATCH,
    nhash: int | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Every pair ``(i, j)``, ``i < j``, of hashes within ``radius`` bits, and its distance.

    Hashes are hex strings of one length. Identical hashes are collapsed before the search
    and expanded after it, so the pairs include all identical ones (distance 0). ``nhash``
    forces a table layout (bits / nhash bits per table) instead of :func:`plan_search`'s
    choice, for measurements; the search stays exact either way.
    """
    n = len(hexes)
    info: dict[str, Any] = {"codes": n}
    if n < 2:
        info.update(unique_codes=n, candidates=0)
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int64), info
    unique, inverse = np.unique(np.asarray(hexes, dtype=object).astype(str), return_inverse=True)
    from provenance.hashindex import hex_to_codes

    bits = len(unique[0]) * 4
    codes = hex_to_codes(list(unique), bits)
    m = len(codes)
    if nhash is None:
        plan = plan_search(bits, radius, m)
    else:
        if bits % nhash:
            raise ValueError(f"{nhash} tables do not split {bits} bits evenly.")
        plan = SearchPlan(bits, radius, nhash, bits // nhash, radius // nhash)
    threads = threads or default_threads()
    info.update(unique_codes=m, plan=plan.to_dict(), threads=threads)
    if m < 2:
        ui = uj = distances = np.zeros(0, np.int64)
        shortlisted = 0
    else:
        ui, uj, distances, shortlisted = _self_join(codes, plan, threads, batch)
    info["candidates"] = shortlisted
    # Expand unique codes back to images: all pairs inside one code (distance 0), and all
    # pairs across two codes within the radius.
    members: list[list[int]] = [[] for _ in range(m)]
    for image, code in enumerate(inverse.ravel().tolist()):
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


def near_image_pairs(
    codes: Sequence[Sequence[str]],
    radius: int,
    *,
    threads: int | None = None,
    batch: int = QUERY_BATCH,
    nhash: int | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Every pair of images ``(i, j)``, ``i < j``, with any of their codes within ``radius``,
    and the smallest such distance.

    ``codes[i]`` holds image ``i``'s hashes (hex, all of one length), e.g. its whole-image
    and centre pHash: the codes of all images go through one :func:`near_pairs` self-join,
    and pairs between two codes of one image are dropped.
    """
    owner = np.fromiter(
        (image for image, own in enumerate(codes) for _ in own), np.int64, sum(map(len, codes))
    )
    flat = [code for own in codes for code in own]
    pairs, distances, info = near_pairs(flat, radius, threads=threads, batch=batch, nhash=nhash)
    info["images"] = len(codes)
    if not len(pairs):
        return pairs, distances, info
    a, b = owner[pairs[:, 0]], owner[pairs[:, 1]]
    keep = a != b
    first, second = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    distances = distances[keep]
    # One row per image pair, at its smallest distance: sort by distance, keep first seen.
    order = np.lexsort((distances, second, first))
    first, second, distances = first[order], second[order], distances[order]
    new = np.ones(len(first), bool)
    new[1:] = (first[1:] != first[:-1]) | (second[1:] != second[:-1])
    return np.stack([first[new], second[new]], axis=1), distances[new], info


# Bits of imagehash's pHash are row-major over the 8x8 lowest DCT frequencies, first bit
# first; bit 0 is the DC term, which is always set. Low frequencies are the last to flip
# under re-encoding, resizing or trimming.
AC_BITS = tuple(sorted(range(1, 64), key=lambda bit: (bit // 8 + bit % 8, bit // 8)))
# The former blocking key: the 20 lowest frequencies (row + column < 6), with up to two
# flipped bits. It misses copies whose few changed bits fall on it (small images mostly).
KEY_POSITIONS = tuple(
    8 * row + col for row in range(6) for col in range(6) if (row or col) and row + col < 6
)
KEY_FLIPS = 2
# Up to this many images the default engine runs the exact multi-hash self-join; above it
# the blocked search. The exact one's cost grows with n squared at the layout check's
# 14-bit reach (bench/neardup_engine.py times both at 10,000 images).
EXACT_MAX_IMAGES = 5_000
# Candidate pairs verified per numpy step: bounds memory to a few hundred MB.
VERIFY_CHUNK = 4_000_000
# Longest key of a direct-address table: 2**24 int32 slots are 64 MB.
MAX_TABLE_BITS = 24


@dataclass(frozen=True)
class BlockingTable:
    """One blocking key: ``positions`` (pHash bits, 0 first) and the flips it is probed with."""

    positions: tuple[int, ...]
    flips: int


@dataclass(frozen=True)
class Blocking:
    """How :func:`blocked_image_pairs` shortlists candidates: the union over ``tables``,
    their keys joined by ``join`` ("table": numpy over a direct-address table; "faiss":
    FAISS ``IndexBinaryHash``, the former search's)."""

    tables: tuple[BlockingTable, ...]
    join: Literal["table", "faiss"]
    name: str


def dealt_tables(count: int, bits: int, flips: int) -> tuple[BlockingTable, ...]:
    """``count`` keys of ``bits`` bits: the AC bits from low to high frequency, written out
    repeatedly, dealt to the tables in turn, so every table holds low and high frequencies
    alike and most bits sit in more than one table."""
    sequence = AC_BITS * (count * bits // len(AC_BITS) + 1)
    tables = tuple(BlockingTable(tuple(sequence[t::count][:bits]), flips) for t in range(count))
    if any(len(set(table.positions)) != bits for table in tables):
        raise ValueError(f"{count} tables of {bits} bits repeat a bit in one table.")
    return tables


# Five 22-bit keys probed with two flips: a copy is missed only when every key holds three or
# more of its changed bits, and each key shortlists about 254 * n / 2**22 codes per code.
# Keys of 24 bits shortlist a quarter as many but miss the copies of small images that sit
# a few bits past the radius, which the layout check keeps; bench/neardup_engine.py
# compares the union with the exact search per edit and size, and times both at scale.
DEFAULT_BLOCKING = Blocking(dealt_tables(5, 22, 2), "table", "5 keys of 22 pHash bits, 2 flips")
# The previous default's keys, for the bench.
WIDE_KEY_BLOCKING = Blocking(dealt_tables(5, 24, 2), "table", "5 keys of 24 pHash bits, 2 flips")
FORMER_BLOCKING = Blocking(
    (BlockingTable(KEY_POSITIONS, KEY_FLIPS),), "faiss", "20-bit pHash key, 2 flips (FAISS)"
)


@dataclass(frozen=True)
class BlockedSearch:
    """What :func:`blocked_image_pairs` did, for the report's ``search`` block."""

    codes: int
    tables: int
    key_pairs: int
    candidates: int
    pairs: int
    engine: str


_BYTE_BITS = np.array([bin(value).count("1") for value in range(256)], np.int64)


def _popcount(values: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (numpy 2's ``bitwise_count``; a byte table on numpy 1)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values)
    return _BYTE_BITS[values.view(np.uint8).reshape(-1, 8)].sum(1)


def _codes_u64(hexes: Sequence[str]) -> np.ndarray:
    return np.array([int(h, 16) for h in hexes], dtype=np.uint64)


def _keys(codes: np.ndarray, positions: Sequence[int]) -> np.ndarray:
    """The key bits of each 64-bit pHash as a uint32 (bit 0 of the pHash is its MSB)."""
    key = np.zeros(len(codes), np.uint32)
    for position in positions:
        key = (key << np.uint32(1)) | ((codes >> np.uint64(63 - position)) & np.uint64(1)).astype(
            np.uint32
        )
    return key


def _faiss_key_pairs(
    unique: np.ndarray, bits: int, flips: int, threads: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every pair of distinct keys within ``flips`` bits, and each key with itself, from a
    FAISS ``IndexBinaryHash`` range search (keys left-aligned in whole bytes)."""
    import faiss

    key_bits = 8 * ((bits + 7) // 8)
    aligned = unique << np.uint32(key_bits - bits)
    key_bytes = aligned.astype(">u4").view(np.uint8).reshape(-1, 4)[:, 4 - key_bits // 8 :]
    key_bytes = key_bytes.copy()
    index = faiss.IndexBinaryHash(key_bits, key_bits)
    index.add(key_bytes)
    index.nflip = flips
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        lims, _, found = index.range_search(key_bytes, flips + 1)
    finally:
        faiss.omp_set_num_threads(previous)
    query = np.repeat(np.arange(len(unique)), np.diff(lims.astype(np.int64)))
    keep = found >= query  # each key pair once, and each key with itself
    yield query[keep], found[keep].astype(np.int64)


def _table_key_pairs(
    unique: np.ndarray, bits: int, flips: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The same pairs by probing direct-address tables with every key XOR every flip mask,
    one vectorised lookup per mask: a presence table (one byte per key value, small enough
    to stay in cache) answers every probe, a rank table only the hits."""
    ranks = np.arange(len(unique), dtype=np.int64)
    yield ranks, ranks
    present = np.zeros(1 << bits, bool)
    present[unique] = True
    slots = np.zeros(1 << bits, np.int32)
    slots[unique] = ranks
    pending: list[tuple[np.ndarray, np.ndarray]] = []
    size = 0
    for top in range(bits):
        # Each pair of keys once: probed from the key whose bit under the mask's highest
        # bit is clear.
        low = np.flatnonzero(((unique >> np.uint32(top)) & np.uint32(1)) == 0)
        base = unique[low]
        for k in range(flips):
            for flipped in combinations(range(top), k):
                probe = base ^ np.uint32(sum(1 << bit for bit in (top, *flipped)))
                hit = np.flatnonzero(present[probe])
                pending.append((low[hit], slots[probe[hit]].astype(np.int64)))
                size += len(hit)
                if size >= VERIFY_CHUNK:
                    yield (
                        np.concatenate([p[0] for p in pending]),
                        np.concatenate([p[1] for p in pending]),
                    )
                    pending, size = [], 0
    if pending:
        yield np.concatenate([p[0] for p in pending]), np.concatenate([p[1] for p in pending])


def _table_pairs(
    full: np.ndarray, owner: np.ndarray, table: BlockingTable, radius: int, join: str, threads: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Image pairs (first < second) with two codes within ``radius`` among the candidates of
    one table, their distances, and the key pairs and candidates it took."""
    bits = len(table.positions)
    keys = _keys(full, table.positions)
    order = np.argsort(keys, kind="stable")
    unique, starts, counts = np.unique(keys[order], return_index=True, return_counts=True)
    if join == "faiss":
        key_pairs = _faiss_key_pairs(unique, bits, table.flips, threads)
    else:
        key_pairs = _table_key_pairs(unique, bits, table.flips)
    firsts: list[np.ndarray] = []
    seconds: list[np.ndarray] = []
    dists: list[np.ndarray] = []
    candidates = joined = 0

    def emit(a: np.ndarray, b: np.ndarray, d: np.ndarray) -> None:
        """Keep the close code pairs ``a``-``b`` (distance ``d``) as image pairs."""
        # Two codes of one image are no pair; few candidates are close, so owners are
        # looked up for those alone.
        close = d <= radius
        first, second, d = owner[a[close]], owner[b[close]], d[close].astype(np.int64)
        other = first != second
        firsts.append(np.minimum(first[other], second[other]))
        seconds.append(np.maximum(first[other], second[other]))
        dists.append(d[other])

    first_code = order[starts]
    first_full = full[first_code]
    shared_key = counts > 1
    for ka_all, kb_all in key_pairs:
        joined += len(ka_all)
        # Most keys hold one code: a pair of two such keys is one candidate, compared
        # through the keys' first codes without expanding; such a key with itself is none.
        shared = shared_key[ka_all] | shared_key[kb_all]
        single = np.flatnonzero(~shared & (ka_all != kb_all))
        candidates += len(single)
        ka, kb = ka_all[single], kb_all[single]
        emit(first_code[ka], first_code[kb], _popcount(first_full[ka] ^ first_full[kb]))
        ka_rest, kb_rest = ka_all[shared], kb_all[shared]
        sizes = counts[ka_rest] * counts[kb_rest]
        bounds = np.searchsorted(np.cumsum(sizes), np.arange(0, sizes.sum(), VERIFY_CHUNK), "right")
        for lo, hi in pairwise([*bounds.tolist(), len(ka_rest)]):
            a_keys, b_keys, n = ka_rest[lo:hi], kb_rest[lo:hi], sizes[lo:hi]
            if not n.sum():
                continue
            # Every code of one key against every code of the other: the pair's rank-th
            # combination, row-major.
            pair = np.repeat(np.arange(len(n)), n)
            rank = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
            width = counts[b_keys][pair]
            a = order[starts[a_keys][pair] + rank // width]
            b = order[starts[b_keys][pair] + rank % width]
            keep = (a_keys[pair] != b_keys[pair]) | (a < b)
            a, b = a[keep], b[keep]
            candidates += len(a)
            emit(a, b, _popcount(full[a] ^ full[b]))
    empty = np.zeros(0, np.int64)
    return (
        np.concatenate([empty, *firsts]),
        np.concatenate([empty, *seconds]),
        np.concatenate([empty, *dists]),
        joined,
        candidates,
    )


def blocked_image_pairs(
    codes: Sequence[Sequence[str]],
    radius: int,
    *,
    threads: int | None = None,
    blocking: Blocking = DEFAULT_BLOCKING,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Image pairs with any two of their 64-bit pHashes within ``radius``, and the smallest
    such distance, found through blocking keys: candidates share one table's key up to its
    flips (a self-join over the distinct keys), then every candidate's full codes are
    compared. Not exact: a copy whose changed bits reach past the flips in every table is
    missed; bench/neardup_engine.py measures how often per edit and size. Tables of the
    "table" join run in ``threads`` threads (numpy releases the GIL in its loops).
    """
    for table in blocking.tables:
        if blocking.join == "table" and len(table.positions) > MAX_TABLE_BITS:
            raise ValueError(f"A direct-address key has at most {MAX_TABLE_BITS} bits.")
    owner = np.fromiter(
        (image for image, own in enumerate(codes) for _ in own), np.int64, sum(map(len, codes))
    )
    full = _codes_u64([code for own in codes for code in own])
    threads = threads or default_threads()

    def run(table: BlockingTable) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
        return _table_pairs(full, owner, table, radius, blocking.join, threads)

    workers = 1 if blocking.join == "faiss" else min(threads, len(blocking.tables))
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(run, blocking.tables))
    else:
        results = [run(table) for table in blocking.tables]
    first = np.concatenate([r[0] for r in results])
    second = np.concatenate([r[1] for r in results])
    dist = np.concatenate([r[2] for r in results])
    # One row per image pair (tables overlap), at its smallest distance.
    ordering = np.lexsort((dist, second, first))
    first, second, dist = first[ordering], second[ordering], dist[ordering]
    new = np.ones(len(first), bool)
    new[1:] = (first[1:] != first[:-1]) | (second[1:] != second[:-1])
    pairs = np.stack([first[new], second[new]], axis=1)
    info = BlockedSearch(
        codes=len(full),
        tables=len(blocking.tables),
        key_pairs=sum(r[3] for r in results),
        candidates=sum(r[4] for r in results),
        pairs=len(pairs),
        engine=f"{blocking.name} + 64-bit check",
    )
    return pairs, dist[new], {"images": len(codes), **asdict(info)}


# pHash moves a few bits past the radius on small images after JPEG q50 or a 0.9x resize,
# where distinct pictures already sit (bench/neardup_engine.py): a pair up to this many
# bits past the radius counts only when the two pictures' coarse layouts agree.
LAYOUT_EXTRA_BITS = 3
LAYOUT_MIN_CORRELATION = 0.9
# Pairs whose layouts are compared per numpy step.
LAYOUT_CHUNK = 1_000_000

PairSearch = Callable[[Sequence[Sequence[str]], int], tuple[np.ndarray, np.ndarray, dict[str, Any]]]


def alike_layouts(layouts: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Whether each pair's layouts (rows of ``layouts``, e.g. 8x8 luma means) correlate at
    ``LAYOUT_MIN_CORRELATION`` or more (Pearson); a flat layout agrees with nothing."""
    alike = np.zeros(len(first), bool)
    for start in range(0, len(first), LAYOUT_CHUNK):
        a = layouts[first[start : start + LAYOUT_CHUNK]].astype(np.float32)
        b = layouts[second[start : start + LAYOUT_CHUNK]].astype(np.float32)
        a -= a.mean(1, keepdims=True)
        b -= b.mean(1, keepdims=True)
        product = (a * b).sum(1)
        scale = np.sqrt((a * a).sum(1) * (b * b).sum(1))
        alike[start : start + LAYOUT_CHUNK] = (scale > 0) & (
            product >= LAYOUT_MIN_CORRELATION * scale
        )
    return alike


def layout_checked_pairs(
    search: PairSearch, codes: Sequence[Sequence[str]], radius: int, layouts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``search``'s pairs within ``radius``, and those up to ``LAYOUT_EXTRA_BITS`` further
    whose layouts (one row per image of ``codes``) agree."""
    pairs, distances, info = search(codes, radius + LAYOUT_EXTRA_BITS)
    beyond = np.flatnonzero(distances > radius)
    keep = distances <= radius
    keep[beyond] = alike_layouts(layouts, pairs[beyond, 0], pairs[beyond, 1])
    info["layout_checked"] = len(beyond)
    info["layout_kept"] = int(keep[beyond].sum())
    return pairs[keep], distances[keep], info


def centre_pairs(
    codes: Sequence[Sequence[str]],
    radius: int,
    *,
    layouts: np.ndarray | None = None,
    exact_max: int = EXACT_MAX_IMAGES,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The default engine's pairs: exact up to ``exact_max`` images, blocked above; with
    ``layouts``, also the pairs a few bits past the radius whose layouts agree."""
    exact = len(codes) <= exact_max
    search: PairSearch = near_image_pairs if exact else blocked_image_pairs
    if layouts is None:
        pairs, distances, info = search(codes, radius)
    else:
        pairs, distances, info = layout_checked_pairs(search, codes, radius, layouts)
    info["mode"] = "exact" if exact else "blocked"
    return pairs, distances, info
