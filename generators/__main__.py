"""``python -m generators``: the generator commands without the root CLI.

The same ``generators`` group and ``generate`` command that ``provaudit`` loads through
its entry points, for environments where provaudit is not (re)installed yet.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from generators.cli import app, generate_app
from provenance.cli.exit_status import ExitStatus

_APPS = {"generate": generate_app, "generators": app}


class _GeneratorCommands(TyperGroup):
    """The two generator entries of provaudit's root group, built the way it builds them."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(_APPS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in _APPS:
            return None
        command = typer.main.get_command(_APPS[cmd_name])
        command.name = cmd_name
        return command


def main(argv: list[str] | None = None) -> None:
    root = _GeneratorCommands(
        name="python -m generators",
        context_settings={"help_option_names": ["-h", "--help"]},
        no_args_is_help=True,
    )
    try:
        root.main(args=argv, prog_name="python -m generators", standalone_mode=True)
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)
    except Exception as exc:  # a bug: one line unless PROVAUDIT_DEBUG asks for the traceback
        if os.environ.get("PROVAUDIT_DEBUG"):
            raise
        from provenance.cli.output import error

        error(f"{type(exc).__name__}: {exc} (set PROVAUDIT_DEBUG=1 for the traceback)")
        sys.exit(int(ExitStatus.ERROR))


if __name__ == "__main__":
    main()
