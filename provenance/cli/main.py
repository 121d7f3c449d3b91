"""Root of the ``provaudit`` CLI.

Subcommands are contributed by each package through the ``provaudit.commands`` entry
point group (see pyproject.toml). Only the command being run is imported (all of them
for ``--help``), so ``provaudit verify`` never imports torch, the detectors or the
service; command modules keep their heavy imports inside the command functions.
"""

from __future__ import annotations

import copy
import os
import sys
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import Annotated

import click
import typer
from typer.core import TyperArgument, TyperOption

from provenance import __version__
from provenance.cli.exit_status import ExitStatus

COMMAND_GROUP = "provaudit.commands"
HELP_OPTION_NAMES = ["-h", "--help"]


@lru_cache(maxsize=1)
def _registered_commands() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=COMMAND_GROUP)}


def _mount(root: typer.Typer, name: str, contributed: typer.Typer) -> None:
    """A one-command app becomes ``provaudit NAME``; a larger one a group ``provaudit NAME ...``."""
    commands = contributed.registered_commands
    if (
        len(commands) == 1
        and contributed.registered_callback is None
        and not (contributed.registered_groups)
    ):
        command = copy.copy(commands[0])
        command.name = name
        root.registered_commands.append(command)
    else:
        root.add_typer(contributed, name=name)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"provaudit {__version__}")
        raise typer.Exit()


def build_app(argv: list[str]) -> typer.Typer:
    """The root app with only the command being run loaded (all of them for --help)."""
    root = typer.Typer(
        name="provaudit",
        help=(
            "Content provenance and deepfake audit: sign and verify C2PA Content "
            "Credentials, fingerprint images, detect AI-generated images."
        ),
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
        context_settings={"help_option_names": HELP_OPTION_NAMES},
    )

    @root.callback()
    def _root(
        version: Annotated[
            bool,
            typer.Option(
                "--version", callback=_version_callback, is_eager=True, help="Show the version."
            ),
        ] = False,
    ) -> None:
        """Content provenance and deepfake audit toolkit."""

    registry = _registered_commands()
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    names = [first] if first in registry else sorted(registry)
    for name in names:
        _mount(root, name, registry[name].load())
    return root


def _one_value_label(param: TyperOption | TyperArgument) -> str:
    from pathlib import Path
    from typing import get_args

    (element,) = get_args(param.type_descriptor.annotation) or (str,)
    label = "path" if element is Path else getattr(element, "__name__", str(element))
    return f"<{label}>"


class _RepeatedArgument(TyperArgument):
    """A positional argument taking several values, shown with the type of one
    (``files... <path>``); typer would show ``<list[Path]>``."""

    def display_type_rich(self, ctx: click.Context) -> str | None:
        return _one_value_label(self)


def _plain_option_types(command: click.Command, help_names: list[str]) -> None:
    """Help without type noise: a flag shows no ``<bool>``, a repeatable option or argument
    the type of one value (``<path>``, not ``<list[Path]>``; its help says it repeats)."""
    # click builds -h/--help on demand and caches it; build it now to reach it.
    context = click.Context(command, info_name=command.name, help_option_names=help_names)
    help_option = command.get_help_option(context)
    for param in [*command.params, *([help_option] if help_option else [])]:
        if isinstance(param, TyperArgument) and param.type_descriptor.is_list:
            param.__class__ = _RepeatedArgument
        if not isinstance(param, TyperOption) or param.metavar is not None:
            continue
        if param.is_flag:
            param.metavar = ""
        elif param.multiple and not param.type_descriptor.is_choice:
            param.metavar = _one_value_label(param)
    for sub in getattr(command, "commands", {}).values():
        _plain_option_types(sub, help_names)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``provaudit`` script: never shows a traceback unless asked."""
    args = sys.argv[1:] if argv is None else argv
    try:
        command = typer.main.get_command(build_app(args))
        _plain_option_types(command, HELP_OPTION_NAMES)
        command.main(args=args, prog_name="provaudit", standalone_mode=True)
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
