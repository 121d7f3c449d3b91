"""``provaudit trust``: the anchors ``verify`` checks signers against."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provenance.cli.options import JsonOption

app = typer.Typer(no_args_is_help=True)


@app.callback()
def trust() -> None:
    """Show and extend the trust anchors: the shipped C2PA trust list and your own."""


@app.command("list")
def list_anchors(
    tsa: Annotated[
        bool, typer.Option("--tsa", help="The time-stamping authorities' list instead.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Every anchor: the C2PA trust list's (its snapshot date and digest first), then yours."""
    from provenance.cli.output import emit_json, stdout
    from provenance.trustlist import bundled_trust_list, user_anchors

    listed = bundled_trust_list("c2pa-tsa" if tsa else "c2pa")
    anchors = list(listed.anchors) + ([] if tsa else user_anchors())
    if json_output:
        emit_json(
            {
                "trust_list": listed.info.to_dict(),
                "anchors": [anchor.summary() for anchor in anchors],
            }
        )
        return
    from rich.markup import escape

    out = stdout()
    info = listed.info
    out.print(
        f"{escape(info.name)}: {info.anchors} anchors, issued {info.issued}, "
        f"sha256 {info.sha256[:16]}..."
    )
    for anchor in anchors:
        out.print(
            f"  {anchor.sha256[:16]}  {anchor.source:5}  {escape(anchor.name)}"
            f"  (until {anchor.not_after[:10]})"
        )


@app.command("show")
def show(
    anchor: Annotated[str, typer.Argument(help="A fingerprint prefix or a word of the name.")],
    json_output: JsonOption = False,
) -> None:
    """One anchor in full, with its PEM."""
    from provenance.cli.exit_status import ExitStatus
    from provenance.cli.output import emit_json, fail, stdout
    from provenance.errors import ProvauditError
    from provenance.trustlist import all_anchors, bundled_trust_list, find_anchor

    candidates = all_anchors("c2pa") + list(bundled_trust_list("c2pa-tsa").anchors)
    try:
        found = find_anchor(anchor, candidates)
    except ProvauditError as exc:
        fail(str(exc), ExitStatus.ERROR)
    if json_output:
        emit_json({**found.summary(), "pem": found.pem})
        return
    out = stdout()
    for key, value in found.summary().items():
        out.print(f"{key}: {value}", highlight=False)
    out.print(found.pem, end="", highlight=False)


@app.command("add")
def add(
    pem: Annotated[Path, typer.Argument(help="PEM file of one or more CA certificates.")],
    json_output: JsonOption = False,
) -> None:
    """Trust these certificates from now on, in `verify` and the service, beside the list."""
    from provenance.cli.exit_status import ExitStatus
    from provenance.cli.output import emit_json, fail, stdout
    from provenance.errors import ProvauditError
    from provenance.trustlist import add_user_anchors, user_trust_dir

    try:
        added = add_user_anchors(pem.read_bytes(), str(pem))
    except OSError as exc:
        fail(f"Cannot read {pem} ({exc.strerror or exc}).", ExitStatus.ERROR)
    except ProvauditError as exc:
        fail(str(exc), ExitStatus.ERROR)
    if json_output:
        emit_json({"added": [anchor.summary() for anchor in added]})
        return
    for anchor in added:
        stdout().print(f"Trusting {anchor.name} ({anchor.sha256[:16]}...) in {user_trust_dir()}")
