"""Section 3: exact and near duplicates, cross-split leakage, and image-quality flags."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from provenance.fingerprint import PDQ_MIN_QUALITY
from service.bias.neardup import centre_pairs, near_image_pairs
from service.bias.options import ReportOptions


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass
class QualityResult:
    section: dict[str, Any]
    exact_groups: list[list[int]]
    """Image indices of each exact-duplicate group, the copy to keep first."""
    clusters: list[list[int]]
    """Image indices of each near-duplicate cluster, the copy to keep first."""
    leaks: list[tuple[int, int]]
    """(kept, leaked) image indices of each cross-split pair."""


def quality_section(
    table: dict[str, np.ndarray],
    keys: list[str],
    splits: list[str],
    split_order: list[str],
    options: ReportOptions,
    stage: Callable[[str], None] | None = None,
) -> QualityResult:
    """``stage("near_duplicate_search")`` is called once the search is done (for timing)."""
    ok = np.flatnonzero(table["ok"])
    area = (table["width"] * table["height"]).tolist()
    split_rank = {name: i for i, name in enumerate(split_order)}

    def rank(i: int) -> tuple[int, int, str]:
        # Which copy of a duplicate set to keep: earliest split, then largest, then by name.
        return (split_rank.get(splits[i], len(split_rank)), -area[i], keys[i])

    # Exact duplicates: identical decoded RGB pixels.
    by_digest: dict[str, list[int]] = defaultdict(list)
    for i in ok.tolist():
        by_digest[str(table["digest"][i])].append(i)
    exact_groups = sorted(
        (sorted(group, key=rank) for group in by_digest.values() if len(group) > 1),
        key=lambda group: keys[group[0]],
    )

    # Near duplicates: Hamming radius on the chosen hash, through the multi-index search.
    hash_name = options.near_dup_hash
    radius = options.radius
    if hash_name == "pdq":
        usable = [i for i in ok.tolist() if int(table["pdq_quality"][i]) >= PDQ_MIN_QUALITY]
        codes = [(str(table["pdq"][i]),) for i in usable]
    elif hash_name == "phash":
        usable = ok.tolist()
        codes = [(str(table["phash"][i]),) for i in usable]
    else:
        usable = ok.tolist()
        codes = [(str(table["phash"][i]), str(table["phash_centre"][i])) for i in usable]
    # Images with the same codes are one entry of the search, so K copies of one picture
    # cost one query and their K*(K-1)/2 pairs are counted, never listed.
    code_group: dict[tuple[str, ...], int] = {}
    holders: list[list[int]] = []  # the images holding each distinct code tuple
    for i, own in zip(usable, codes, strict=True):
        group = code_group.setdefault(own, len(holders))
        if group == len(holders):
            holders.append([])
        holders[group].append(i)
    distinct = [list(own) for own in code_group]
    if hash_name == "phash-centre":
        layouts = table["layout"][[group[0] for group in holders]]
        group_pairs, distances, search = centre_pairs(distinct, radius, layouts=layouts)
    else:
        group_pairs, distances, search = near_image_pairs(distinct, radius)
    search = {**search, "images": len(usable), "distinct_codes": len(holders)}
    if stage is not None:
        stage("near_duplicate_search")
    linked = [
        (int(g), int(h), int(d))
        for (g, h), d in zip(group_pairs.tolist(), distances.tolist(), strict=True)
    ]
    union = _UnionFind(len(keys))
    for group in [*exact_groups, *holders]:
        for other in group[1:]:
            union.union(group[0], other)
    for g, h, _ in linked:
        union.union(holders[g][0], holders[h][0])
    components: dict[int, list[int]] = defaultdict(list)
    for i in ok.tolist():
        components[union.find(i)].append(i)
    clusters = []
    digests = table["digest"]
    for members in components.values():
        if len(members) < 2 or len({str(digests[i]) for i in members}) < 2:
            continue  # singletons, and groups that are only exact copies (listed above)
        members = sorted(members, key=rank)
        clusters.append(members)
    clusters.sort(key=lambda members: keys[members[0]])
    widest: dict[int, int] = defaultdict(int)
    for g, _, d in linked:
        root = union.find(holders[g][0])
        widest[root] = max(widest[root], d)
    pairs_within_radius = sum(len(group) * (len(group) - 1) // 2 for group in holders) + sum(
        len(holders[g]) * len(holders[h]) for g, h, _ in linked
    )

    leaks = _leaks(exact_groups, holders, linked, splits, rank)
    leakage = []
    for kept, leaked, distance in leaks:
        exact = str(digests[kept]) == str(digests[leaked])
        leakage.append(
            {
                "a": keys[kept],
                "a_split": splits[kept],
                "b": keys[leaked],
                "b_split": splits[leaked],
                "kind": "exact" if exact else "near",
                "distance": distance,
            }
        )
    leakage.sort(key=lambda row: (row["a"], row["b"]))
    by_split_pair: dict[str, int] = defaultdict(int)
    for row in leakage:
        by_split_pair[f"{row['a_split']}/{row['b_split']}"] += 1

    flags = _flags(table, keys, options)
    low_quality = (
        sorted(keys[i] for i in ok.tolist() if int(table["pdq_quality"][i]) < PDQ_MIN_QUALITY)
        if hash_name == "pdq"
        else []
    )
    section = {
        "exact_duplicates": {
            "groups": [[keys[i] for i in group] for group in exact_groups],
            "group_count": len(exact_groups),
            "images_in_groups": sum(len(group) for group in exact_groups),
            "redundant_copies": sum(len(group) - 1 for group in exact_groups),
        },
        "near_duplicates": {
            "hash": hash_name,
            "radius": radius,
            "bits": options.hash_bits,
            "clusters": [
                {
                    "images": [keys[i] for i in members],
                    "max_distance": widest[union.find(members[0])],
                }
                for members in clusters
            ],
            "cluster_count": len(clusters),
            "images_in_clusters": sum(len(members) for members in clusters),
            "pairs_within_radius": pairs_within_radius,
            "not_matched_low_pdq_quality": low_quality,
            "search": search,
        },
        "leakage": {
            "pairs": leakage,
            "pair_count": len(leakage),
            "by_split_pair": dict(sorted(by_split_pair.items())),
            "images_involved": len({row["a"] for row in leakage} | {row["b"] for row in leakage}),
        },
        "flags": flags,
    }
    ordered_leaks = [(kept, leaked) for kept, leaked, _ in leaks]
    return QualityResult(section, exact_groups, clusters, ordered_leaks)


def _leaks(
    exact_groups: list[list[int]],
    holders: list[list[int]],
    linked: list[tuple[int, int, int]],
    splits: list[str],
    rank: Callable[[int], tuple[int, int, str]],
) -> list[tuple[int, int, int]]:
    """(kept, leaked, distance) once per leaked image: an image with an exact or near copy in
    another split that ranks before it (earlier split, then larger, then by name), beside the
    best-ranked such copy. Per copy set only its best image in each split is a candidate, so
    K copies across splits give at most K rows, not K*(K-1)/2 pairs."""

    def best_per_split(members: list[int]) -> dict[str, int]:
        best: dict[str, int] = {}
        for i in members:
            if splits[i] not in best or rank(i) < rank(best[splits[i]]):
                best[splits[i]] = i
        return best

    code_group = {i: g for g, group in enumerate(holders) for i in group}
    exact_group = {i: e for e, group in enumerate(exact_groups) for i in group}
    exact_best = [best_per_split(group) for group in exact_groups]
    holder_best = [best_per_split(group) for group in holders]
    neighbours: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for g, h, d in linked:
        neighbours[g].append((h, d))
        neighbours[h].append((g, d))
    rows = []
    for i in sorted({*code_group, *exact_group}):
        offers: list[tuple[int, int]] = []
        if i in exact_group:
            offers += [(kept, 0) for kept in exact_best[exact_group[i]].values()]
        if i in code_group:
            g = code_group[i]
            offers += [(kept, 0) for kept in holder_best[g].values()]
            for h, d in neighbours[g]:
                offers += [(kept, d) for kept in holder_best[h].values()]
        across = [(rank(kept), d, kept) for kept, d in offers if splits[kept] != splits[i]]
        if across:
            best_rank, distance, kept = min(across)
            if best_rank < rank(i):
                rows.append((kept, i, distance))
    return rows


def _flags(table: dict[str, np.ndarray], keys: list[str], options: ReportOptions) -> dict[str, Any]:
    ok = table["ok"]
    thresholds = options.quality
    tests = {
        "dark": table["brightness"] < thresholds.dark_below,
        "over_bright": table["brightness"] > thresholds.bright_above,
        "blurry": table["sharpness"] < thresholds.blurry_below,
        "low_information": table["entropy"] < thresholds.low_information_below,
    }
    out: dict[str, Any] = {}
    for name, hit in tests.items():
        chosen = np.flatnonzero(ok & np.nan_to_num(hit, nan=False).astype(bool))
        out[name] = {"count": len(chosen), "images": sorted(keys[i] for i in chosen.tolist())}
    out["thresholds"] = {
        "dark_mean_luma_below": thresholds.dark_below,
        "over_bright_mean_luma_above": thresholds.bright_above,
        "blurry_sharpness_below": thresholds.blurry_below,
        "low_information_entropy_bits_below": thresholds.low_information_below,
    }
    readable = int(ok.sum())
    for name in tests:
        out[name]["share"] = out[name]["count"] / readable if readable else 0.0
    return out
