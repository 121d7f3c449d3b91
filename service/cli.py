"""``provaudit serve``: the moderation service on the embedded default (SQLite, one process)."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Run the moderation service.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Start the API (OpenAPI docs at /docs). Settings come from PROVAUDIT_* variables."""
    import uvicorn

    from service.http import uvicorn_options
    from service.main import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level=log_level, **uvicorn_options())
