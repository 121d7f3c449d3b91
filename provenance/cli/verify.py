"""``provaudit verify``: check the Content Credentials of files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from provenance.cli.options import JsonOption

if TYPE_CHECKING:
    from rich.tree import Tree

    from provenance.recovery import ManifestMatch
    from provenance.store import FingerprintStore
    from provenance.verify import ManifestNode, ProvenanceReport

app = typer.Typer(help="Verify C2PA manifests.")

_STATE_STYLE = {
    "trusted": "bold green",
    "valid": "bold yellow",
    "absent": "bold blue",
    "invalid": "bold red",
}


@app.command()
def verify(
    files: Annotated[list[Path], typer.Argument(help="Files to verify.")],
    trust: Annotated[
        list[Path] | None,
        typer.Option(help="PEM file of trust anchors (root certificates); repeatable."),
    ] = None,
    trust_dev: Annotated[
        bool, typer.Option("--trust-dev", help="Also trust your development identity's root.")
    ] = False,
    trust_list: Annotated[
        str,
        typer.Option(
            "--trust-list",
            help="Trust list checked besides --trust: c2pa (the shipped C2PA trust list, and "
            "anchors added with `provaudit trust add`) or none.",
        ),
    ] = "c2pa",
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Count problems of ingredients (an edited file's sources) in the exit status.",
        ),
    ] = False,
    json_output: JsonOption = False,
    crjson: Annotated[
        bool,
        typer.Option("--crjson", help="Include the manifest store in crJSON form (JSON only)."),
    ] = False,
    tree: Annotated[bool, typer.Option("--tree", help="Show the ingredient tree.")] = False,
    detailed: Annotated[
        bool, typer.Option("--detailed", help="Include c2pa's detailed report (JSON only).")
    ] = False,
    certs: Annotated[
        bool, typer.Option("--certs", help="Show the signing identity of every manifest.")
    ] = False,
    thumbnails: Annotated[
        Path | None, typer.Option(help="Write the manifests' thumbnails into this directory.")
    ] = None,
    recover: Annotated[
        bool,
        typer.Option(
            "--recover",
            help="For a file without an intact manifest, look its fingerprints up among the "
            "manifests provaudit signed (soft-binding recovery).",
        ),
    ] = False,
    registry: Annotated[
        str | None,
        typer.Option(
            help="Registry URL for --recover (default: PROVAUDIT_DATABASE_URL, else the "
            "SQLite file in your data directory).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Report each file's provenance state: trusted, valid (untrusted signer), invalid or absent.

    Exit status: 0 all trusted, 3 valid but untrusted, 4 no manifest, 5 invalid (with
    --strict also a file whose ingredients have problems), 1 error (the worst over all
    files). --recover does not change the state: a stripped file still has no manifest;
    what it matches is reported beside.
    """
    from provenance.cli.exit_status import ExitStatus, worst
    from provenance.cli.output import emit_json, error, fail
    from provenance.errors import ProvauditError
    from provenance.keys import ROOT_FILE, default_identity_dir
    from provenance.verify import ProvenanceVerifier

    anchors = list(trust or [])
    if trust_dev:
        dev_root = default_identity_dir() / ROOT_FILE
        if not dev_root.is_file():
            fail(
                f"No development identity at {dev_root.parent}; run `provaudit keys init`.",
                ExitStatus.ERROR,
            )
        anchors.append(dev_root)
    try:
        verifier = ProvenanceVerifier.with_trust_list(trust_list, anchors)
    except ProvauditError as exc:
        fail(str(exc), ExitStatus.USAGE)

    recoverer = _recoverer(registry) if recover else None
    statuses: list[ExitStatus] = []
    for path in files:
        try:
            report = verifier.verify_file(
                path,
                detailed=detailed,
                certificates=certs,
                thumbnails_dir=thumbnails,
                crjson=crjson,
            )
        except ProvauditError as exc:
            error(str(exc))
            statuses.append(ExitStatus.ERROR)
            if json_output:
                emit_json(
                    {
                        "path": str(path),
                        "state": "error",
                        "error": {"code": exc.code, "message": str(exc)},
                    }
                )
            continue
        status = _exit_status(report.state)
        if strict and report.ingredient_problems:
            status = worst([status, ExitStatus.INVALID])
        statuses.append(status)
        recovered = None
        if recover and report.state in ("absent", "invalid"):
            recovered = _recover(recoverer, path)
        if json_output:
            data = report.to_dict()
            if recover:
                data["recovered"] = [match.to_dict() for match in recovered or []]
            emit_json(data)
        else:
            _print_report(report, tree=tree, certs=certs)
            if recoverer is not None and report.state in ("absent", "invalid"):
                _print_recovered(recovered or [])
    if recoverer is not None:
        recoverer.close()
    raise typer.Exit(int(worst(statuses)))


def _recoverer(registry: str | None) -> FingerprintStore | None:
    """The registry to recover from; None (with a warning) when there is none yet."""
    from provenance.cli.output import warn
    from provenance.errors import ProvauditError
    from provenance.locations import default_registry_url
    from provenance.store import FingerprintStore

    url = registry or default_registry_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        warn(f"No registry at {url.removeprefix('sqlite:///')}: nothing signed here to recover.")
        return None
    try:
        return FingerprintStore.open(url)
    except ProvauditError as exc:
        warn(f"{exc} --recover is skipped.")
        return None


def _recover(recoverer: FingerprintStore | None, path: Path) -> list[ManifestMatch]:
    from provenance.cli.output import warn
    from provenance.errors import ProvauditError
    from provenance.media import load_image

    if recoverer is None:
        return []
    try:
        return recoverer.manifests.recover_image(load_image(path))
    except ProvauditError as exc:
        warn(f"{path}: cannot be fingerprinted for recovery ({exc})")
        return []


def _print_recovered(matches: list[ManifestMatch]) -> None:
    from rich.markup import escape

    from provenance.cli.output import stdout

    out = stdout()
    if not matches:
        out.print("  recovery: no manifest in the registry matches this image")
    for match in matches:
        out.print(f"  [cyan]recovered[/]: {escape(match.reason())}")
        declared = "yes" if match.manifest.ai_declared else "no"
        out.print(f"    that manifest declares AI generation: {declared}")


def _exit_status(state: str) -> int:
    from provenance.cli.exit_status import ExitStatus

    return {
        "trusted": ExitStatus.SUCCESS,
        "valid": ExitStatus.UNTRUSTED,
        "absent": ExitStatus.ABSENT,
        "invalid": ExitStatus.INVALID,
    }[state]


def _print_report(report: ProvenanceReport, *, tree: bool, certs: bool) -> None:
    from rich.markup import escape

    from provenance.cli.output import stdout

    out = stdout()
    state = report.state
    out.print(f"{escape(report.path)}: [{_STATE_STYLE[state]}]{state.upper()}[/]")
    if state == "absent":
        out.print("  no C2PA manifest: no provenance signal (this does not mean authentic)")
    if report.signer:
        signer = report.signer
        when = f", signed {signer.signing_time}" if signer.signing_time else ""
        out.print(
            f"  signer: {escape(signer.common_name or '?')} "
            f"(issuer {escape(signer.issuer or '?')}, {signer.algorithm}{when})"
        )
        if signer.development:
            out.print(
                "  [yellow]development signer[/]: a provaudit development identity, for "
                "testing; not an identity anyone vouches for"
            )
    if report.credential_expired:
        out.print(
            "  intact, but the signer's certificate has expired and no time-stamp proves the "
            "signature was made while it was valid (not tampered with, not vouched for)"
        )
    elif state == "valid":
        out.print("  intact, but the signer is not among the trust anchors (use --trust)")
    if report.claim_generator:
        out.print(f"  claim generator: {escape(report.claim_generator)}")
    if report.active_manifest:
        types = ", ".join(t.rsplit("/", 1)[-1] for t in report.digital_source_types) or "none"
        declaration = report.ai_declaration
        if declaration is None or declaration.where == "active":
            declared = "yes" if declaration else "no"
            out.print(f"  declares AI generation: {declared} (digital source types: {types})")
        else:
            out.print(
                f"  declares AI generation: yes, up its chain: {escape(declaration.sentence())}"
            )
    if report.generator:
        fields = ", ".join(f"{k}={v}" for k, v in report.generator.items())
        out.print(f"  generator: {escape(fields)}")
    if report.training_mining:
        out.print(f"  training and data mining: {escape(report.training_mining.sentence())}")
    if report.iptc:
        verdict = "declares AI" if report.iptc.ai_declared else "no AI declaration"
        out.print(
            f"  IPTC XMP DigitalSourceType: {escape(report.iptc.digital_source_type)} "
            f"({verdict}; a weaker signal, not bound to the pixels)"
        )
    if report.asset_signals:
        by_manifest: dict[str, list[str]] = {}
        for signal in report.asset_signals:
            by_manifest.setdefault(signal["manifest"], []).append(signal["text"])
        for manifest, texts in by_manifest.items():
            whose = "this manifest" if manifest == report.active_manifest else manifest
            out.print(f"  asset signals ({escape(whose)}): {escape('; '.join(texts))}")
    for entry in report.failures:
        out.print(f"  [red]failure[/]: {entry.code} - {escape(entry.explanation or '')}")
    for entry in report.warnings:
        out.print(f"  [yellow]warning[/]: {entry.code} - {escape(entry.explanation or '')}")
    for problem in report.ingredient_problems:
        out.print(
            f"  [red]ingredient problem[/]: {escape(problem.ingredient)}: {problem.code}"
            f" - {escape(problem.explanation or '')}"
        )
    if certs and report.certificates:
        for cert in report.certificates:
            fields = ", ".join(f"{k}={v}" for k, v in cert.items() if k != "manifest")
            out.print(f"  certificate of {escape(cert['manifest'])}: {escape(fields)}")
    if tree and report.active_manifest:
        out.print(_tree(report), soft_wrap=False, overflow="fold")


def _tree(report: ProvenanceReport) -> Tree:
    from rich.markup import escape
    from rich.tree import Tree

    root = Tree(f"{escape(report.title or report.path)} [dim]({report.active_manifest})[/]")

    def add(parent: Tree, nodes: list[ManifestNode]) -> None:
        for node in nodes:
            label = f"{escape(node.title or '?')} [dim]{node.relationship or ''}[/]"
            if node.signer:
                label += f" signed by {escape(node.signer.common_name or '?')}"
            if node.ai_declared:
                label += " [magenta]AI[/]"
            if node.problems:
                label += f" [red]{', '.join(node.problems)}[/]"
            add(parent.add(label), node.ingredients)

    add(root, report.ingredients)
    return root
