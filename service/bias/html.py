"""Rendering ``report.html``: one self-contained file (inline CSS, plots as PNG data URIs,
thumbnails of the images the report names as WebP/JPEG data URIs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provenance.reporting import render_template
from service.bias import plots

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Long lists (duplicates, unreadable files, leaks) show this many rows; report.json has all.
LIST_LIMIT = 200
# Groups (clusters, pairs) and flagged images shown with pictures; the rest are named only.
PICTURED_GROUPS = 60
PICTURED_PER_GROUP = 8
PICTURED_PER_FLAG = 16


def pictured_keys(report: dict[str, Any]) -> list[str]:
    """The images the page shows, most important first (the thumbnail budget is spent in
    this order): leakage pairs, near-duplicate clusters, exact-duplicate groups, quality
    flags, then detector errors."""
    quality = report["quality"]
    keys: list[str] = []
    for pair in quality["leakage"]["pairs"][:PICTURED_GROUPS]:
        keys += [pair["a"], pair["b"]]
    for cluster in quality["near_duplicates"]["clusters"][:PICTURED_GROUPS]:
        keys += cluster["images"][:PICTURED_PER_GROUP]
    for group in quality["exact_duplicates"]["groups"][:PICTURED_GROUPS]:
        keys += group[:PICTURED_PER_GROUP]
    for name in FLAGS:
        keys += quality["flags"][name]["images"][:PICTURED_PER_FLAG]
    detector = report.get("detector") or {}
    for entry in (detector.get("by_attribute") or {}).values():
        for group in entry["groups"]:
            errors = group.get("errors") or {}
            for end in ("most_confident", "least_confident", "false_positive_examples"):
                keys += [row["image"] for row in errors.get(end, [])]
    for finding in report.get("findings_detail") or []:
        keys += finding["images"]
    return list(dict.fromkeys(keys))


FLAGS = ("dark", "over_bright", "blurry", "low_information")


def _pct(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{100 * float(value):.{digits}f}%"


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return (
        f"{float(value):.{digits}g}" if abs(float(value)) < 1e-3 else f"{float(value):.{digits}f}"
    )


def _ci(pair: Any, percent: bool = True) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return "–"
    show = _pct if percent else _num
    return f"[{show(pair[0])}, {show(pair[1])}]"


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "representation": {},
        "detector": {},
        "histograms": {},
        "generator": {},
    }
    for name, entry in report["representation"]["attributes"].items():
        if entry["rows"]:
            figures["representation"][name] = plots.shares_plot(
                f"{name}: share of images (n = {entry['n']:,})", entry["rows"], xlabel=name
            )
    detector = report.get("detector") or {}
    for name, entry in (detector.get("by_attribute") or {}).items():
        figures["detector"][name] = plots.rates_plot(
            f"detector rates by {name}", entry["groups"], xlabel=name
        )
        figures["histograms"][name] = plots.histograms_plot(
            f"p(AI) by {name}", entry["score_histograms"], detector["histogram_bins"]
        )
    if detector.get("by_family"):
        figures["detector"]["(family)"] = plots.rates_plot(
            "detector rates by family", detector["by_family"], xlabel="generator family"
        )
    for family, entry in (report["generator_bias"].get("families") or {}).items():
        for name, result in entry["attributes"].items():
            if result.get("output_shares") and result.get("training_shares"):
                figures["generator"][(family, name)] = plots.comparison_plot(
                    f"{family}: {name}", result, xlabel=name
                )
    return figures


def render_html(report: dict[str, Any], thumbnails: Any = None) -> str:
    """``thumbnails``: a :class:`~service.bias.thumbs.Thumbnails` (None: names only)."""
    return render_template(
        TEMPLATES,
        "report.html.j2",
        filters={"pct": _pct, "num": _num, "ci": _ci},
        r=report,
        d=report["definitions"],
        fig=_figures(report),
        limit=LIST_LIMIT,
        thumbs=thumbnails.uris if thumbnails is not None else {},
        thumbs_left_out=thumbnails.left_out if thumbnails is not None else 0,
        thumbs_bytes=thumbnails.encoded_bytes if thumbnails is not None else 0,
        pictured_groups=PICTURED_GROUPS,
        per_group=PICTURED_PER_GROUP,
        per_flag=PICTURED_PER_FLAG,
    )
