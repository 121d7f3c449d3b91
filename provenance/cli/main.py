"""Root of the ``provaudit`` CLI.

Subcommands are contributed by each package through the ``provaudit.commands`` entry
point group (see pyproject.toml) and imported only when they are run or listed, so
``provaudit verify`` never imports torch, the detectors or the service.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points

import click
import typer
from typer.core import TyperGroup

from provenance import __version__
from provenance.cli.exit_status import ExitStatus

COMMAND_GROUP = "provaudit.commands"


@lru_cache(maxsize=1)
def _registered_commands() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=COMMAND_GROUP)}


class LazyCommandGroup(TyperGroup):
    """A click group whose commands are typer apps loaded from entry points on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_registered_commands())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry_point = _registered_commands().get(cmd_name)
        if entry_point is None:
            return None
        command = typer.main.get_command(entry_point.load())
        command.name = cmd_name
        return command


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"provaudit {__version__}")
        ctx.exit()


def build_cli() -> click.Group:
    return LazyCommandGroup(
        name="provaudit",
        help=(
            "Content provenance and deepfake audit: sign and verify C2PA Content "
            "Credentials, fingerprint images, detect AI-generated images."
        ),
        rich_markup_mode="rich",
        params=[
            click.Option(
                ["--version"],
                is_flag=True,
                expose_value=False,
                is_eager=True,
                callback=_print_version,
                help="Show the version and exit.",
            )
        ],
        context_settings={"help_option_names": ["-h", "--help"]},
        no_args_is_help=True,
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``provaudit`` script: never shows a traceback unless asked."""
    cli = build_cli()
    try:
        cli.main(args=argv, prog_name="provaudit", standalone_mode=True)
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)
    except Exception as exc:  # a bug: still one line, with the traceback on request
        if os.environ.get("PROVAUDIT_DEBUG"):
            raise
        from provenance.cli.output import error

        error(f"{type(exc).__name__}: {exc} (set PROVAUDIT_DEBUG=1 for the traceback)")
        sys.exit(int(ExitStatus.ERROR))


if __name__ == "__main__":
    main()
