"""Figures for the HTML report, returned as PNG data URIs (``provenance.reporting``).

Each figure is drawn from the report document only, never from per-image data, so what a
plot shows is what ``report.json`` holds.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING, Any

from provenance.reporting import new_figure, png_data_uri

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLOURS = ("#3b6ea5", "#d9822b", "#5a9e6f", "#b5485d", "#7d6aa8", "#8c7b5b")


def _encode(figure: Figure) -> str:
    return png_data_uri(figure, dpi=90)


def _short(label: str, limit: int = 18) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def shares_plot(title: str, rows: list[dict[str, Any]]) -> str:
    """Shares with their bootstrap intervals, the uniform share and any reference share."""
    rows = rows[:40]
    width = max(4.0, 0.45 * len(rows) + 1.5)
    figure = new_figure(width, 2.8, constrained=False)
    axis = figure.subplots()
    xs = range(len(rows))
    shares = [row["share"] for row in rows]
    errors = [
        [row["share"] - row["ci_low"] for row in rows],
        [row["ci_high"] - row["share"] for row in rows],
    ]
    axis.bar(xs, shares, color=COLOURS[0], yerr=errors, capsize=3, label="share (CI)")
    if rows:
        axis.axhline(1.0 / len(rows), color="#555", linestyle="--", linewidth=1, label="uniform")
    if any("reference_share" in row for row in rows):
        axis.scatter(
            xs, [row.get("reference_share", 0) for row in rows], color=COLOURS[1], marker="D",
            zorder=3, label="reference",
        )  # fmt: skip
    axis.set_xticks(list(xs), [_short(str(row["value"])) for row in rows], rotation=30, ha="right")
    axis.set_ylabel("share")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7, frameon=False)
    return _encode(figure)


def rates_plot(title: str, groups: list[dict[str, Any]]) -> str:
    """Selection, false-positive and true-positive rate per group, with intervals."""
    metrics = (
        ("selection_rate", "selection rate"),
        ("false_positive_rate", "FPR (real)"),
        ("true_positive_rate", "TPR (generated)"),
    )
    width = max(4.5, 1.1 * len(groups) + 1.5)
    figure = new_figure(width, 2.8, constrained=False)
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
        axis.bar(xs, values, width=step, color=COLOURS[k], yerr=[low, high], capsize=2, label=label)
    axis.set_xticks(range(len(groups)), [_short(str(g["group"])) for g in groups])
    axis.set_ylim(0, 1.05)
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7, frameon=False, ncol=3)
    return _encode(figure)


def histograms_plot(
    title: str, histograms: dict[str, dict[str, list[int]]], bins: list[float]
) -> str:
    """Per-group histograms of p(AI), real and generated images apart."""
    names = list(histograms)[:12]
    figure = new_figure(max(3.0, 2.6 * len(names)), 2.3, constrained=False)
    axes = figure.subplots(1, len(names), sharey=False, squeeze=False)
    centres = [(a + b) / 2 for a, b in pairwise(bins)]
    width = bins[1] - bins[0] if len(bins) > 1 else 0.05
    for axis, name in zip(axes[0], names, strict=True):
        axis.bar(
            centres,
            histograms[name]["real"],
            width=width,
            color=COLOURS[0],
            alpha=0.7,
            label="real",
        )
        axis.bar(
            centres, histograms[name]["generated"], width=width, color=COLOURS[1], alpha=0.6,
            label="generated",
        )  # fmt: skip
        axis.set_title(_short(name), fontsize=9)
        axis.set_xlabel("p(AI)", fontsize=8)
        axis.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7, frameon=False)
    figure.suptitle(title, fontsize=10, y=1.04)
    return _encode(figure)


def comparison_plot(title: str, result: dict[str, Any]) -> str:
    """A family's output shares next to the training shares."""
    values = result["values"][:30]
    outputs = (result.get("output_shares") or [0] * len(values))[: len(values)]
    training = (result.get("training_shares") or [0] * len(values))[: len(values)]
    figure = new_figure(max(3.5, 0.7 * len(values) + 1.5), 2.6, constrained=False)
    axis = figure.subplots()
    xs = range(len(values))
    axis.bar([x - 0.2 for x in xs], training, width=0.4, color=COLOURS[0], label="training (real)")
    axis.bar([x + 0.2 for x in xs], outputs, width=0.4, color=COLOURS[1], label="outputs")
    axis.set_xticks(list(xs), [_short(str(v)) for v in values], rotation=30, ha="right")
    axis.set_ylabel("share")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7, frameon=False)
    return _encode(figure)
