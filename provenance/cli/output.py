"""Where output goes: results to stdout, logs and progress to stderr."""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from rich.console import Console

    from provenance.cli.exit_status import ExitStatus


@lru_cache(maxsize=1)
def stdout() -> Console:
    from rich.console import Console

    return Console(soft_wrap=True, highlight=False, emoji=False)


@lru_cache(maxsize=1)
def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)


def emit_json(payload: Any) -> None:
    """One JSON document (or JSON line) on stdout, flushed so pipes see it at once."""
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def log(message: str) -> None:
    stderr().print(message)


def warn(message: str) -> None:
    stderr().print(f"[yellow]warning:[/] {message}", markup=True)


def error(message: str) -> None:
    """One readable line on stderr; never a traceback."""
    from rich.markup import escape

    stderr().print(f"[bold red]error:[/] {escape(message)}", markup=True)


def fail(message: str, status: ExitStatus) -> NoReturn:
    import typer

    error(message)
    raise typer.Exit(int(status))
