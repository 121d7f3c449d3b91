"""The report toolkit the detector report and the dataset bias report share.

Figures are matplotlib ``Figure`` objects on the Agg canvas, built through the object API:
pyplot's global figure state is never touched, so reports can be drawn in the service's
worker threads at the same time. HTML comes from jinja2 templates kept as files beside
the code that fills them, autoescaped.

matplotlib and jinja2 are optional (the ``train`` and ``bias`` extras) and imported only
when a report is drawn, so this module costs the light install nothing.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.errors import ProvauditError

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class ReportError(ProvauditError):
    code = "report_unavailable"


def new_figure(width: float, height: float, *, dpi: int = 100, constrained: bool = True) -> Figure:
    """A figure of ``width`` x ``height`` inches that belongs to no global state."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ReportError(
            "Reports need matplotlib; install provaudit[train] or provaudit[bias]."
        ) from None
    return Figure(figsize=(width, height), dpi=dpi, layout="constrained" if constrained else None)


def png_bytes(figure: Figure, *, dpi: float | None = None, tight: bool = False) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(
        buffer, format="png", dpi=dpi or "figure", bbox_inches="tight" if tight else None
    )
    return buffer.getvalue()


def save_png(figure: Figure, path: Path) -> Path:
    path.write_bytes(png_bytes(figure))
    return path


def png_data_uri(figure: Figure, *, dpi: float = 90) -> str:
    """The figure as a ``data:`` URI, for a report that must be one self-contained file."""
    data = png_bytes(figure, dpi=dpi, tight=True)
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def render_template(
    folder: Path,
    name: str,
    *,
    filters: dict[str, Callable[..., str]] | None = None,
    strict: bool = True,
    **context: Any,
) -> str:
    """Render ``folder/name``. ``strict``: an undefined name is an error rather than a blank
    (``strict=False`` renders records that lack optional fields)."""
    try:
        from jinja2 import (
            ChainableUndefined,
            Environment,
            FileSystemLoader,
            StrictUndefined,
            select_autoescape,
        )
    except ImportError:
        raise ReportError(
            "Reports need jinja2; install provaudit[train] or provaudit[bias]."
        ) from None
    environment = Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined if strict else ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(filters or {})
    return environment.get_template(name).render(**context)
