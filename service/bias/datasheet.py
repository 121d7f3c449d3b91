"""Section 1: what the dataset is -- counts, formats, sizes, provenance declarations, problems."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from service.bias.dataset import Dataset

TOP_RESOLUTIONS = 10


def _stats(values: np.ndarray) -> dict[str, float] | None:
    if not len(values):
        return None
    return {
        "min": float(values.min()),
        "median": float(np.median(values)),
        "mean": float(values.mean()),
        "max": float(values.max()),
    }


def datasheet_section(
    dataset: Dataset,
    table: dict[str, np.ndarray],
    labels: list[str | None],
    families: list[str | None],
) -> dict[str, Any]:
    ok = table["ok"]
    keys = [entry.key for entry in dataset.entries]
    readable = np.flatnonzero(ok)
    unreadable = [
        {"image": keys[i], "reason": str(table["error"][i])} for i in np.flatnonzero(~ok).tolist()
    ]
    sizes = Counter(f"{table['width'][i]}x{table['height'][i]}" for i in readable.tolist())
    states = Counter(str(table["c2pa_state"][i]) for i in readable.tolist())
    c2pa_ai = table["c2pa_ai"] & ok
    iptc_ai = table["iptc_ai"] & ok
    declared_families = Counter(
        str(table["declared_family"][i]) for i in readable.tolist() if table["declared_family"][i]
    )
    splits = Counter(entry.split for entry in dataset.entries)
    label_counts = Counter(labels[i] or "unknown" for i in readable.tolist())
    family_counts = Counter(
        families[i] or "(unknown family)" for i in readable.tolist() if labels[i] == "generated"
    )
    # "unreadable": the pixels decoded but the manifest store did not; listed in by_state.
    with_manifest = sum(states.get(state, 0) for state in ("trusted", "valid", "invalid"))
    return {
        "dataset": str(dataset.root),
        "files": len(dataset.entries) + len(dataset.metadata_files),
        "image_files": len(dataset.entries),
        "readable_images": len(readable),
        "unreadable_images": len(unreadable),
        "unreadable": unreadable,
        "metadata_files": dataset.metadata_files,
        "splits": {name: splits.get(name, 0) for name in dataset.split_names},
        "labels": dict(sorted(label_counts.items())),
        "generator_families": dict(sorted(family_counts.items())),
        "formats": dict(Counter(str(table["format"][i]) for i in readable.tolist()).most_common()),
        "colour_modes": dict(
            Counter(str(table["mode"][i]) for i in readable.tolist()).most_common()
        ),
        "resolutions": {
            "distinct": len(sizes),
            "most_common": [
                {"size": size, "images": count}
                for size, count in sizes.most_common(TOP_RESOLUTIONS)
            ],
            "width": _stats(table["width"][readable]),
            "height": _stats(table["height"][readable]),
            "megapixels": _stats(table["width"][readable] * table["height"][readable] / 1e6),
        },
        "bytes": {
            "total": int(table["bytes"][readable].sum()),
            **(_stats(table["bytes"][readable]) or {}),
        },
        "content_credentials": {
            "with_manifest": with_manifest,
            "by_state": dict(sorted(states.items())),
            "declare_ai_c2pa": int(c2pa_ai.sum()),
            "declare_ai_iptc": int(iptc_ai.sum()),
            "declare_ai_any": int((c2pa_ai | iptc_ai).sum()),
            "declared_generator_families": dict(sorted(declared_families.items())),
            "note": (
                "Verified without trust anchors: an intact manifest reads 'valid' (signer not "
                "checked against a trust list). AI declarations count only from intact "
                "manifests; IPTC fields are unsigned and counted apart."
            ),
        },
        "attributes": {
            "names": dataset.attribute_names,
            "sources": dataset.attribute_sources,
            "file": dataset.sidecar,
            "file_rows": dataset.sidecar_rows,
            "images_without_row": dataset.images_without_sidecar_row if dataset.sidecar else None,
            "rows_naming_missing_images": [p.to_dict() for p in dataset.sidecar_missing_images],
        },
        "labels_file_rows_naming_missing_images": [
            p.to_dict() for p in dataset.labels_missing_images
        ],
    }
