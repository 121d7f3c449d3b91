"""``provaudit keys``: development signing identities."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provenance.cli.options import JsonOption

app = typer.Typer(no_args_is_help=True)


@app.callback()
def keys() -> None:
    """Manage signing identities."""


@app.command("init")
def init(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Where to write the identity (default: your data directory)."),
    ] = None,
    alg: Annotated[
        str, typer.Option(help="Signing algorithm: es256, es384, es512, ps256 or ed25519.")
    ] = "es256",
    force: Annotated[bool, typer.Option(help="Replace an existing identity.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Create a development root CA and a C2PA signing certificate under it.

    The private keys are written with mode 0600. This identity is for development: it is
    trusted only where its root-ca.pem is given as a trust anchor.
    """
    from provenance.cli.exit_status import ExitStatus
    from provenance.cli.output import emit_json, fail, log, stdout
    from provenance.errors import ProvauditError
    from provenance.keys import DEV_IDENTITY_NOTICE, create_dev_identity, default_identity_dir

    target = directory or default_identity_dir()
    try:
        files = create_dev_identity(target, alg=alg.lower(), overwrite=force)
    except ProvauditError as exc:
        fail(str(exc), ExitStatus.ERROR)
    except OSError as exc:
        fail(f"Cannot write the identity to {target} ({exc.strerror or exc}).", ExitStatus.ERROR)
    result = {
        "directory": str(files.directory),
        "root_certificate": str(files.root_cert),
        "signing_certificate": str(files.signer_cert),
        "private_key": str(files.signer_key),
        "algorithm": alg.lower(),
        "development": True,
    }
    log(f"[yellow]{DEV_IDENTITY_NOTICE}[/]")
    if json_output:
        emit_json(result)
    else:
        out = stdout()
        out.print(f"Development signing identity written to {files.directory}")
        out.print(f"  trust anchor (root CA): {files.root_cert}")
        out.print(f"  signing certificate:    {files.signer_cert}")
        out.print(f"  private key (0600):     {files.signer_key}")
