"""Options every command group shares, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", help="Print JSON on stdout instead of text (one line per file or result)."
    ),
]
