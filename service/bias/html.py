"""Rendering ``report.html``: one self-contained file (inline CSS, plots as PNG data URIs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provenance.reporting import render_template
from service.bias import plots

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Long lists (duplicates, unreadable files, leaks) show this many rows; report.json has all.
LIST_LIMIT = 200


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
                f"{name}: share of images", entry["rows"]
            )
    detector = report.get("detector") or {}
    for name, entry in (detector.get("by_attribute") or {}).items():
        figures["detector"][name] = plots.rates_plot(f"detector rates by {name}", entry["groups"])
        figures["histograms"][name] = plots.histograms_plot(
            f"p(AI) by {name}", entry["score_histograms"], detector["histogram_bins"]
        )
    if detector.get("by_family"):
        figures["detector"]["(family)"] = plots.rates_plot(
            "detector rates by family", detector["by_family"]
        )
    for family, entry in (report["generator_bias"].get("families") or {}).items():
        for name, result in entry["attributes"].items():
            if result.get("output_shares") and result.get("training_shares"):
                figures["generator"][(family, name)] = plots.comparison_plot(
                    f"{family}: {name}", result
                )
    return figures


def render_html(report: dict[str, Any]) -> str:
    return render_template(
        TEMPLATES,
        "report.html.j2",
        filters={"pct": _pct, "num": _num, "ci": _ci},
        r=report,
        d=report["definitions"],
        fig=_figures(report),
        limit=LIST_LIMIT,
    )
