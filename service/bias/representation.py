"""Section 2: who is in the data -- counts and shares per attribute value and per pair.

Shares carry percentile-bootstrap confidence intervals: resampling the n images with
replacement and recounting is, for a categorical attribute, a draw from the multinomial
with the observed shares, which is what :func:`bootstrap_shares` draws directly.
"""

from __future__ import annotations

import json
from collections import Counter
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from service.bias.options import BiasReportError, ReportOptions

MISSING = "(missing)"


def bootstrap_shares(
    counts: np.ndarray, n_boot: int, confidence: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-bootstrap lower and upper bounds of each share."""
    n = int(counts.sum())
    if n == 0:
        zeros = np.zeros(len(counts))
        return zeros, zeros
    draws = rng.multinomial(n, counts / n, size=n_boot) / n
    alpha = (1.0 - confidence) / 2.0
    return np.quantile(draws, alpha, axis=0), np.quantile(draws, 1.0 - alpha, axis=0)


def read_reference(path: Path | None, attributes: list[str]) -> dict[str, dict[str, float]]:
    """``{attribute: {value: share}}`` from JSON, normalised to sum to 1 per attribute."""
    if path is None:
        return {}
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BiasReportError(f"The reference distribution file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BiasReportError(
            f"The reference distribution {path} is not readable JSON ({exc})."
        ) from None
    if not isinstance(document, dict):
        raise BiasReportError(f"{path} must hold a JSON object {{attribute: {{value: share}}}}.")
    reference: dict[str, dict[str, float]] = {}
    for attribute, shares in document.items():
        if attribute not in attributes:
            raise BiasReportError(
                f"{path} names the attribute {attribute!r}, which the dataset does not have "
                f"(attributes: {', '.join(attributes) or 'none'})."
            )
        if not isinstance(shares, dict) or not shares:
            raise BiasReportError(f"{path}: {attribute!r} must map values to shares.")
        try:
            values = {str(k): float(v) for k, v in shares.items()}
        except (TypeError, ValueError):
            raise BiasReportError(f"{path}: the shares of {attribute!r} must be numbers.") from None
        total = sum(values.values())
        if total <= 0 or any(v < 0 for v in values.values()):
            raise BiasReportError(f"{path}: the shares of {attribute!r} must be >= 0, not all 0.")
        reference[attribute] = {k: v / total for k, v in values.items()}
    return reference


def _rows(
    labels: list[str],
    counts: np.ndarray,
    options: ReportOptions,
    rng: np.random.Generator,
    reference: dict[str, float] | None,
) -> list[dict[str, Any]]:
    n = int(counts.sum())
    low, high = bootstrap_shares(counts, options.bootstrap, options.confidence, rng)
    k = len(labels)
    rows = []
    for i, label in enumerate(labels):
        share = counts[i] / n if n else 0.0
        row: dict[str, Any] = {
            "value": label,
            "n": int(counts[i]),
            "share": float(share),
            "ci_low": float(low[i]),
            "ci_high": float(high[i]),
            "ratio_to_uniform": float(share * k) if k else None,
            "small_n": bool(counts[i] < options.min_group_size),
        }
        if reference is not None:
            expected = reference.get(label, 0.0)
            row["reference_share"] = expected
            row["ratio_to_reference"] = float(share / expected) if expected > 0 else None
        rows.append(row)
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    present = [row["n"] for row in rows]
    largest, smallest = max(present, default=0), min(present, default=0)
    return {
        "values": len(rows),
        "largest_group": max(rows, key=lambda row: row["n"])["value"] if rows else None,
        "smallest_group": min(rows, key=lambda row: row["n"])["value"] if rows else None,
        "imbalance_ratio": (largest / smallest) if smallest else None,
        "small_groups": [row["value"] for row in rows if row["small_n"]],
    }


def representation_section(
    attributes: dict[str, list[str | None]],
    options: ReportOptions,
    reference: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """Per attribute and per pair of attributes, over the readable images."""
    rng = np.random.default_rng(options.seed)
    per_attribute: dict[str, Any] = {}
    for name, values in attributes.items():
        known = [value for value in values if value is not None]
        counter = Counter(known)
        # Values named only in the reference still get a row: a group with no images at all.
        labels = sorted(set(counter) | set(reference.get(name, {})))
        counts = np.array([counter.get(label, 0) for label in labels], dtype=np.int64)
        rows = _rows(labels, counts, options, rng, reference.get(name))
        per_attribute[name] = {
            "n": len(known),
            "missing": len(values) - len(known),
            "rows": rows,
            **_summary(rows),
        }
    intersections = []
    for first, second in combinations(sorted(attributes), 2):
        pairs = [
            (a, b)
            for a, b in zip(attributes[first], attributes[second], strict=True)
            if a is not None and b is not None
        ]
        counter = Counter(pairs)
        first_values = sorted({a for a, _ in pairs})
        second_values = sorted({b for _, b in pairs})
        # Every combination, including the empty ones: an absent intersection is a finding.
        cells = [(a, b) for a in first_values for b in second_values]
        counts = np.array([counter.get(cell, 0) for cell in cells], dtype=np.int64)
        rows = _rows([f"{a} × {b}" for a, b in cells], counts, options, rng, None)
        for row, (a, b) in zip(rows, cells, strict=True):
            row["values"] = {first: a, second: b}
            del row["ratio_to_uniform"]
            row["ratio_to_uniform"] = float(row["share"] * len(cells)) if cells else None
        intersections.append(
            {
                "attributes": [first, second],
                "n": len(pairs),
                "rows": rows,
                "empty_cells": [row["value"] for row in rows if row["n"] == 0],
                **_summary(rows),
            }
        )
    return {
        "attributes": per_attribute,
        "intersections": intersections,
        "min_group_size": options.min_group_size,
        "confidence": options.confidence,
        "bootstrap": options.bootstrap,
        "reference": reference or None,
    }
