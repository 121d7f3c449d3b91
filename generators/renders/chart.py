"""Human-made renders, matplotlib charts: bars, lines, scatter, pie, histograms."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

import numpy as np

from generators.renders.drawing import (
    _MONTHS,
    DEJAVU_LICENCE,
    _fit,
    _pick,
    _record_font,
    _title,
    _words,
)
from provenance.errors import DataError

_CHART_STYLES = (
    "default",
    "classic",
    "ggplot",
    "bmh",
    "fivethirtyeight",
    "seaborn-v0_8-whitegrid",
    "seaborn-v0_8-darkgrid",
    "seaborn-v0_8-pastel",
    "seaborn-v0_8-muted",
    "dark_background",
    "grayscale",
    "Solarize_Light2",
    "tableau-colorblind10",
)
_CHART_DPIS = (48, 64, 72, 80, 96, 100, 120)
MATPLOTLIB_MISSING = (
    "The chart kind needs matplotlib, which is not installed: pip install 'provaudit[train]'."
)


def matplotlib_available() -> bool:
    return find_spec("matplotlib") is not None


def _categories(rng: np.random.Generator, count: int) -> list[str]:
    kind = _pick(rng, ("months", "quarters", "years", "words"))
    if kind == "months":
        start = int(rng.integers(0, 12))
        return [_MONTHS[(start + i) % 12] for i in range(count)]
    if kind == "quarters":
        year = int(rng.integers(15, 26))
        return [f"Q{i % 4 + 1} {year + i // 4}" for i in range(count)]
    if kind == "years":
        start = int(rng.integers(1990, 2020))
        return [str(start + i) for i in range(count)]
    return [word.capitalize() for word in _words(rng, count)]


def _chart_bars(rng: np.random.Generator, axes: Any) -> float:
    count = int(rng.integers(3, 9))
    labels = _categories(rng, count)
    series = int(rng.integers(1, 4))
    values = rng.gamma(2.5, 10.0, (series, count)) * 10.0 ** int(rng.integers(0, 3))
    horizontal = rng.random() < 0.3
    stacked = series > 1 and rng.random() < 0.4
    positions = np.arange(count)
    thickness = 0.8 if stacked or series == 1 else 0.8 / series
    base = np.zeros(count)
    names = [word.capitalize() for word in _words(rng, series)]
    for index in range(series):
        offset = 0.0 if stacked or series == 1 else (index - (series - 1) / 2) * thickness
        if horizontal:
            bars = axes.barh(
                positions + offset, values[index], thickness, left=base, label=names[index]
            )
        else:
            bars = axes.bar(
                positions + offset, values[index], thickness, bottom=base, label=names[index]
            )
        if stacked:
            base = base + values[index]
        if series == 1 and rng.random() < 0.4:
            axes.bar_label(bars, fmt="%.0f", fontsize="small")
    if horizontal:
        axes.set_yticks(positions, labels)
    else:
        axes.set_xticks(positions, labels, rotation=int(_pick(rng, (0, 0, 30, 45))))
    if series > 1:
        axes.legend(fontsize="small")
    axes.set_ylabel("" if horizontal else _words(rng, 1)[0].capitalize())
    return 7.0 if horizontal else 5.0


def _chart_lines(rng: np.random.Generator, axes: Any) -> float:
    count = int(rng.integers(8, 60))
    x = np.arange(count) + (int(rng.integers(1990, 2015)) if rng.random() < 0.5 else 0)
    series = int(rng.integers(1, 5))
    area = rng.random() < 0.25
    marker = _pick(rng, (None, None, "o", "s", "^", "."))
    for name in _words(rng, series):
        shape = _pick(rng, ("walk", "trend", "season"))
        if shape == "walk":
            y = 50 + np.cumsum(rng.normal(0, 3, count))
        elif shape == "trend":
            y = rng.uniform(5, 20) * np.exp(np.linspace(0, rng.uniform(0.3, 2.0), count))
            y = y + rng.normal(0, y.std() * 0.1 + 0.1, count)
        else:
            phase = rng.uniform(0, 2 * math.pi)
            y = 40 + 15 * np.sin(np.linspace(0, rng.uniform(2, 12), count) + phase)
            y = y + rng.normal(0, 2, count)
        axes.plot(x, y, marker=marker, label=name.capitalize(), markersize=4)
        if area:
            axes.fill_between(x, y, y.min() - abs(y.min()) * 0.1, alpha=0.25)
    if series > 1 or rng.random() < 0.3:
        axes.legend(fontsize="small", loc=_pick(rng, ("best", "upper left", "lower right")))
    axes.set_xlabel(_words(rng, 1)[0].capitalize())
    axes.set_ylabel(_words(rng, 1)[0].capitalize())
    return 5.5


def _chart_scatter(rng: np.random.Generator, axes: Any) -> float:
    clusters = int(rng.integers(1, 5))
    for name in _words(rng, clusters):
        count = int(rng.integers(20, 200))
        centre = rng.normal(0, 3, 2)
        spread = rng.uniform(0.3, 1.5, 2)
        correlation = rng.uniform(-0.9, 0.9)
        points = rng.normal(0, 1, (count, 2))
        points[:, 1] = correlation * points[:, 0] + math.sqrt(1 - correlation**2) * points[:, 1]
        points = centre + points * spread
        sizes = rng.uniform(5, 60, count) if rng.random() < 0.3 else 14
        axes.scatter(points[:, 0], points[:, 1], s=sizes, alpha=rng.uniform(0.4, 1.0), label=name)
    if clusters > 1:
        axes.legend(fontsize="small")
    axes.set_xlabel(_words(rng, 1)[0].capitalize())
    axes.set_ylabel(_words(rng, 1)[0].capitalize())
    return 5.5


def _chart_pie(rng: np.random.Generator, axes: Any) -> float:
    count = int(rng.integers(3, 8))
    shares = rng.dirichlet(np.full(count, rng.uniform(0.8, 4.0)))
    labels = [word.capitalize() for word in _words(rng, count)]
    wedge = {"width": rng.uniform(0.3, 0.6)} if rng.random() < 0.35 else None
    explode = [0.08 if i == 0 and rng.random() < 0.3 else 0.0 for i in range(count)]
    axes.pie(
        shares,
        labels=labels if rng.random() < 0.7 else None,
        autopct="%1.0f%%" if rng.random() < 0.5 else None,
        startangle=float(rng.uniform(0, 360)),
        wedgeprops=wedge,
        explode=explode,
        textprops={"fontsize": "small"},
    )
    axes.set_aspect("equal")
    return 1.2


def _chart_histogram(rng: np.random.Generator, axes: Any) -> float:
    overlays = int(rng.integers(1, 3))
    bins = int(rng.integers(8, 40))
    for name in _words(rng, overlays):
        count = int(rng.integers(200, 2000))
        shape = _pick(rng, ("normal", "lognormal", "bimodal"))
        if shape == "normal":
            data = rng.normal(rng.uniform(-5, 5), rng.uniform(0.5, 3), count)
        elif shape == "lognormal":
            data = rng.lognormal(rng.uniform(0, 2), rng.uniform(0.2, 0.7), count)
        else:
            data = np.concatenate(
                [rng.normal(-2, 1, count // 2), rng.normal(rng.uniform(1, 4), 1, count // 2)]
            )
        axes.hist(
            data,
            bins=bins,
            alpha=0.6 if overlays > 1 else 1.0,
            label=name.capitalize(),
            edgecolor="white" if rng.random() < 0.5 else None,
            density=overlays > 1,
        )
        if rng.random() < 0.3:
            axes.axvline(float(np.mean(data)), color="black", linestyle="--", linewidth=1)
    if overlays > 1:
        axes.legend(fontsize="small")
    axes.set_xlabel(_words(rng, 1)[0].capitalize())
    axes.set_ylabel(_pick(rng, ("Count", "Frequency", "Density")))
    return 5.5


_CHART_PLOTS: dict[str, Callable[[np.random.Generator, Any], float]] = {
    "bar": _chart_bars,
    "line": _chart_lines,
    "scatter": _chart_scatter,
    "pie": _chart_pie,
    "histogram": _chart_histogram,
}


def render_chart(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A matplotlib chart (bar, line, scatter, pie, histogram) in a random built-in style."""
    try:
        from matplotlib import font_manager, rc_context, style
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise DataError(MATPLOTLIB_MISSING) from exc

    style_name = _pick(rng, _CHART_STYLES)
    if style_name != "default" and style_name not in style.available:
        style_name = "default"
    dpi = float(_pick(rng, _CHART_DPIS))
    font_px = float(np.clip(min(width, height) / rng.uniform(22, 36), 6, 15))
    plot_name = _pick(rng, tuple(_CHART_PLOTS))
    settings = {
        "font.family": "DejaVu Sans",
        "font.size": font_px * 72 / dpi,
        "axes.titlesize": "large",
        "axes.labelsize": "medium",
        "lines.linewidth": rng.uniform(1.0, 2.5) * 72 / dpi,
        "axes.grid": bool(rng.random() < 0.5) or None,
    }
    settings = {key: value for key, value in settings.items() if value is not None}
    with style.context(["default", style_name]), rc_context(settings):
        figure = Figure(figsize=((width + 0.5) / dpi, (height + 0.5) / dpi), dpi=dpi)
        canvas = FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        left = _CHART_PLOTS[plot_name](rng, axes)
        title_lines = 0
        if rng.random() < 0.8:
            # Titles are 1.2 font heights tall and their characters about 0.6 wide.
            per_line = max(10, int(width / (font_px * 1.2 * 0.62)))
            title = textwrap.wrap(_title(rng, 2, 5), per_line)[:2]
            axes.set_title("\n".join(title))
            title_lines = len(title)
        if plot_name != "pie" and rng.random() < 0.4:
            axes.spines[["top", "right"]].set_visible(False)
        figure.subplots_adjust(
            left=min(0.4, font_px * left / width),
            right=1 - min(0.2, font_px * 1.2 / width),
            bottom=min(0.35, font_px * 3.6 / height),
            top=1 - min(0.35, font_px * (1.0 + 1.5 * title_lines) / height),
        )
        canvas.draw()
        pixels = np.asarray(canvas.buffer_rgba())[..., :3]
        _record_font(font_manager.findfont("DejaVu Sans"), DEJAVU_LICENCE)
    return _fit(pixels, width, height)
