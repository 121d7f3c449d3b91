"""Figures for the HTML report, returned as PNG data URIs (``provenance.reporting``).

Each figure is drawn from the report document only, never from per-image data, so what a
plot shows is what ``report.json`` holds. Figures are at least ``MIN_WIDTH`` inches wide at
``DPI`` (over 600 pixels), with both axes labelled and the count or rate printed on each bar,
so they read at their natural size on the page.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING, Any

from provenance.reporting import new_figure, png_data_uri

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLOURS = ("#3b6ea5", "#d9822b", "#5a9e6f", "#b5485d", "#7d6aa8", "#8c7b5b")
DPI = 100
MIN_WIDTH = 7.2
HEIGHT = 3.6


def _encode(figure: Figure) -> str:
    return png_data_uri(figure, dpi=DPI)


def _width(slots: int, per_slot: float) -> float:
    return max(MIN_WIDTH, per_slot * slots + 1.5)


def _short(label: str, limit: int = 18) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def shares_plot(title: str, rows: list[dict[str, Any]], xlabel: str = "value") -> str:
    """Shares with their bootstrap intervals, the uniform share and any reference share."""
    rows = rows[:40]
    figure = new_figure(_width(len(rows), 0.6), HEIGHT, constrained=False)
    axis = figure.subplots()
    xs = range(len(rows))
    shares = [row["share"] for row in rows]
    errors = [
        [max(0.0, row["share"] - row["ci_low"]) for row in rows],
        [max(0.0, row["ci_high"] - row["share"]) for row in rows],
    ]
    bars = axis.bar(xs, shares, color=COLOURS[0], yerr=errors, capsize=3, label="share (CI)")
    axis.bar_label(bars, [f"n={row['n']:,}" for row in rows], fontsize=8, padding=2)
    axis.set_ylim(0, min(1.0, max(row["ci_high"] for row in rows) * 1.25 + 0.02) if rows else 1)
    if rows:
        axis.axhline(1.0 / len(rows), color="#555", linestyle="--", linewidth=1, label="uniform")
    if any("reference_share" in row for row in rows):
        axis.scatter(
            xs, [row.get("reference_share", 0) for row in rows], color=COLOURS[1], marker="D",
            zorder=3, label="reference",
        )  # fmt: skip
    axis.set_xticks(list(xs), [_short(str(row["value"])) for row in rows], rotation=30, ha="right")
    axis.set_xlabel(xlabel)
    axis.set_ylabel("share of images")
    axis.set_title(title, fontsize=11)
    axis.legend(fontsize=8, frameon=False)
    return _encode(figure)


def rates_plot(title: str, groups: list[dict[str, Any]], xlabel: str = "group") -> str:
    """Selection, false-positive and true-positive rate per group, with intervals."""
    metrics = (
        ("selection_rate", "selection rate"),
        ("false_positive_rate", "FPR (real)"),
        ("true_positive_rate", "TPR (generated)"),
    )
    figure = new_figure(_width(len(groups), 1.3), HEIGHT, constrained=False)
    axis = figure.subplots()
    step = 0.8 / len(metrics)
    for k, (metric, label) in enumerate(metrics):
        xs, values, low, high = [], [], [], []
        for i, group in enumerate(groups):
            if group.get(metric) is None:
                continue
            ci = group.get(f"{metric}_ci") or [group[metric], group[metric]]
            xs.append(i - 0.4 + step * (k + 0.5))
            values.append(group[metric])
            low.append(max(0.0, group[metric] - (ci[0] if ci[0] is not None else group[metric])))
            high.append(max(0.0, (ci[1] if ci[1] is not None else group[metric]) - group[metric]))
        if not values:
            continue
        bars = axis.bar(
            xs, values, width=step, color=COLOURS[k], yerr=[low, high], capsize=2, label=label
        )
        axis.bar_label(bars, [f"{v:.0%}" for v in values], fontsize=7, padding=1)
    axis.set_xticks(
        range(len(groups)), [f"{_short(str(g['group']))}\n(n={g['n']:,})" for g in groups]
    )
    axis.set_ylim(0, 1.15)
    axis.set_xlabel(xlabel)
    axis.set_ylabel("rate")
    axis.set_title(title, fontsize=11)
    axis.legend(fontsize=8, frameon=False, ncol=3, loc="upper left")
    return _encode(figure)


def histograms_plot(
    title: str, histograms: dict[str, dict[str, list[int]]], bins: list[float]
) -> str:
    """Per-group histograms of p(AI), real and generated images apart."""
    names = list(histograms)[:12]
    columns = min(3, max(1, len(names)))
    rows = -(-len(names) // columns)
    figure = new_figure(MIN_WIDTH, 2.6 * rows + 0.4, constrained=True)
    axes = figure.subplots(rows, columns, sharey=False, squeeze=False)
    centres = [(a + b) / 2 for a, b in pairwise(bins)]
    width = bins[1] - bins[0] if len(bins) > 1 else 0.05
    for k, axis in enumerate(axes.ravel()):
        if k >= len(names):
            axis.set_visible(False)
            continue
        name = names[k]
        for j, (kind, counts) in enumerate(histograms[name].items()):
            axis.bar(
                centres, counts, width=width, color=COLOURS[j], alpha=0.7,
                label=f"{kind} ({sum(counts):,})",
            )  # fmt: skip
        axis.set_title(_short(name), fontsize=10)
        axis.set_xlabel("p(AI)", fontsize=9)
        axis.set_ylabel("images", fontsize=9)
        axis.tick_params(labelsize=8)
        axis.legend(fontsize=7, frameon=False)
    figure.suptitle(title, fontsize=11)
    return _encode(figure)


def comparison_plot(title: str, result: dict[str, Any], xlabel: str = "value") -> str:
    """A family's output shares next to the training shares."""
    values = result["values"][:30]
    outputs = (result.get("output_shares") or [0] * len(values))[: len(values)]
    training = (result.get("training_shares") or [0] * len(values))[: len(values)]
    figure = new_figure(_width(len(values), 0.9), HEIGHT, constrained=False)
    axis = figure.subplots()
    xs = range(len(values))
    left = axis.bar(
        [x - 0.2 for x in xs], training, width=0.4, color=COLOURS[0], label="training (real)"
    )
    right = axis.bar([x + 0.2 for x in xs], outputs, width=0.4, color=COLOURS[1], label="outputs")
    for bars, counts in (
        (left, result.get("training_counts") or []),
        (right, result.get("output_counts") or []),
    ):
        if len(counts) >= len(values):
            axis.bar_label(bars, [f"{c:,}" for c in counts[: len(values)]], fontsize=7, padding=1)
    axis.set_xticks(list(xs), [_short(str(v)) for v in values], rotation=30, ha="right")
    axis.set_xlabel(xlabel)
    axis.set_ylabel("share of images")
    axis.set_title(title, fontsize=11)
    axis.legend(fontsize=8, frameon=False)
    return _encode(figure)
