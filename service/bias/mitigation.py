"""Section 6: what to change -- reweighting factors per group, and which copies to drop.

Reweighting: an image of group g gets weight ``target_share(g) * N / n(g)``, so every group
carries its target share of the total weight N (uniform: ``1 / k``; with a reference
distribution: its share). A group with no images cannot be reweighted into existence;
it is listed under ``collect_more``.

Dropping: in every exact-duplicate group and near-duplicate cluster one copy is kept and
the others are listed; for cross-split leakage the copy in the later split (in the order
DATASET, then ``--split`` as given) is the one to drop, so a test split loses the image
rather than the training split.
"""

from __future__ import annotations

from typing import Any


def _weights(
    rows: list[dict[str, Any]], target: dict[str, float] | None
) -> tuple[dict[str, float | None], list[str]]:
    total = sum(row["n"] for row in rows)
    k = len(rows)
    weights: dict[str, float | None] = {}
    collect_more: list[str] = []
    for row in rows:
        share = (target or {}).get(row["value"], 0.0) if target is not None else 1.0 / k
        if row["n"] == 0:
            weights[row["value"]] = None
            if share > 0:
                collect_more.append(row["value"])
        else:
            weights[row["value"]] = share * total / row["n"]
    return weights, collect_more


def mitigation_section(
    representation: dict[str, Any],
    exact_groups: list[list[int]],
    clusters: list[list[int]],
    leaks: list[tuple[int, int]],
    keys: list[str],
) -> dict[str, Any]:
    reweighting: dict[str, Any] = {}
    reference = representation.get("reference") or {}
    for name, entry in representation["attributes"].items():
        uniform, collect_uniform = _weights(entry["rows"], None)
        block: dict[str, Any] = {"uniform": uniform, "collect_more": collect_uniform}
        if name in reference:
            matched, collect_ref = _weights(entry["rows"], reference[name])
            block["reference"] = matched
            block["collect_more_for_reference"] = collect_ref
        reweighting[name] = block
    intersections = {}
    for entry in representation["intersections"]:
        weights, collect = _weights(entry["rows"], None)
        intersections[" × ".join(entry["attributes"])] = {
            "uniform": weights,
            "collect_more": collect,
        }

    drops: dict[str, str] = {}
    for group in exact_groups:
        for index in group[1:]:
            drops.setdefault(keys[index], f"exact copy of {keys[group[0]]}")
    for members in clusters:
        for index in members[1:]:
            drops.setdefault(keys[index], f"near-duplicate of {keys[members[0]]}")
    leak_drops: dict[str, str] = {}
    for kept, leaked in leaks:
        leak_drops.setdefault(keys[leaked], f"leaks {keys[kept]} across splits")
    return {
        "reweighting": reweighting,
        "intersection_reweighting": intersections,
        "drop_duplicates": [{"image": k, "reason": v} for k, v in sorted(drops.items())],
        "drop_for_leakage": [{"image": k, "reason": v} for k, v in sorted(leak_drops.items())],
        # One row per image: a copy that is both a duplicate and a leak is listed once,
        # with both reasons.
        "drops": [
            {
                "image": k,
                "reason": "; ".join(
                    dict.fromkeys(r for r in (leak_drops.get(k), drops.get(k)) if r)
                ),
            }
            for k in sorted(set(drops) | set(leak_drops))
        ],
        "drop_count": len(set(drops) | set(leak_drops)),
    }
