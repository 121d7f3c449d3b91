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


def _text_lines(payload: Any, indent: str = "") -> list[str]:
    if isinstance(payload, dict):
        lines: list[str] = []
        width = max((len(str(key)) for key in payload), default=0)
        for key, value in payload.items():
            if isinstance(value, dict) and value:
                lines.append(f"{indent}{key}:")
                lines.extend(_text_lines(value, indent + "  "))
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                lines.append(f"{indent}{key}:")
                for item in value:
                    lines.extend(_text_lines(item, indent + "  "))
                    lines.append("")
            else:
                shown = ", ".join(map(str, value)) if isinstance(value, list) else value
                lines.append(f"{indent}{str(key).ljust(width)}  {'-' if shown is None else shown}")
        return lines
    return [f"{indent}{payload}"]


def emit(payload: Any, as_json: bool) -> None:
    """A command's result: JSON with ``--json``, else the same fields as aligned text."""
    if as_json:
        emit_json(payload)
        return
    sys.stdout.write("\n".join(_text_lines(payload)).rstrip() + "\n")
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
