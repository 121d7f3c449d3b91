"""``provaudit sign``: attach a C2PA manifest to an image."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from provenance.cli.options import JsonOption

if TYPE_CHECKING:
    from provenance.trainingmining import TrainingMining

app = typer.Typer(help="Sign an image with a C2PA manifest.")


@app.command()
def sign(
    source: Annotated[Path, typer.Argument(help="Image to sign (JPEG, PNG, WebP, ...).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the signed file.")],
    ai_generated: Annotated[
        bool,
        typer.Option(
            "--ai-generated",
            help="Declare the image AI-generated (digitalSourceType trainedAlgorithmicMedia).",
        ),
    ] = False,
    source_type: Annotated[
        str | None,
        typer.Option(help="IPTC digital source type term or URI, e.g. digitalCapture."),
    ] = None,
    title: Annotated[str | None, typer.Option(help="Title recorded in the manifest.")] = None,
    family: Annotated[str | None, typer.Option(help="Generator family, e.g. gan.")] = None,
    model: Annotated[str | None, typer.Option(help="Generator model name.")] = None,
    checkpoint_sha256: Annotated[str | None, typer.Option(help="Checkpoint digest.")] = None,
    seed: Annotated[int | None, typer.Option(help="Generation seed.")] = None,
    sampler: Annotated[str | None, typer.Option(help="Sampler, e.g. ddim.")] = None,
    steps: Annotated[int | None, typer.Option(help="Sampling steps.")] = None,
    parent: Annotated[
        Path | None, typer.Option(help="The asset this one was edited from (an ingredient).")
    ] = None,
    action: Annotated[
        list[str] | None,
        typer.Option(help="Edit action(s) recorded after c2pa.opened (with --parent)."),
    ] = None,
    trust: Annotated[
        list[Path] | None,
        typer.Option(
            help="PEM file of trust anchors the --parent is validated against (repeatable); "
            "your signing identity's root is always one of them."
        ),
    ] = None,
    manifest: Annotated[
        Path | None, typer.Option(help="A full c2pa manifest definition (JSON) to use as is.")
    ] = None,
    thumbnails: Annotated[
        str, typer.Option(help="Thumbnail in the manifest: off, small (256 px) or default.")
    ] = "off",
    cert: Annotated[
        Path | None, typer.Option(help="PEM certificate chain, leaf first (with --key).")
    ] = None,
    key: Annotated[Path | None, typer.Option(help="PEM private key (with --cert).")] = None,
    alg: Annotated[str | None, typer.Option(help="es256, es384, es512, ps256, ed25519.")] = None,
    tsa_url: Annotated[str | None, typer.Option(help="RFC 3161 timestamp authority URL.")] = None,
    record: Annotated[
        bool,
        typer.Option(
            help="Record the manifest and the image's fingerprints in the registry, so that "
            "stripped copies can be traced back (provaudit verify --recover).",
        ),
    ] = True,
    registry: Annotated[
        str | None,
        typer.Option(
            help="Registry URL (default: PROVAUDIT_DATABASE_URL, else the SQLite file in "
            "your data directory).",
            show_default=False,
        ),
    ] = None,
    training_mining: Annotated[
        str | None,
        typer.Option(
            help="May the image be used to train AI or be mined: allowed, notAllowed or "
            "constrained, for all four uses (cawg.training-mining); the options below "
            "override one use each.",
            rich_help_panel="Training and data mining",
        ),
    ] = None,
    ai_training: Annotated[
        str | None,
        typer.Option(
            help="AI training: allowed, notAllowed or constrained.",
            rich_help_panel="Training and data mining",
        ),
    ] = None,
    ai_generative_training: Annotated[
        str | None,
        typer.Option(
            help="Generative-AI training: allowed, notAllowed or constrained.",
            rich_help_panel="Training and data mining",
        ),
    ] = None,
    ai_inference: Annotated[
        str | None,
        typer.Option(
            help="Use as AI input (inference): allowed, notAllowed or constrained.",
            rich_help_panel="Training and data mining",
        ),
    ] = None,
    data_mining: Annotated[
        str | None,
        typer.Option(
            help="Data mining: allowed, notAllowed or constrained.",
            rich_help_panel="Training and data mining",
        ),
    ] = None,
    constraint_info: Annotated[
        str | None,
        typer.Option(
            help="For constrained uses: a URL or a sentence saying how to ask.",
            rich_help_panel="Training and data mining",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("-f", "--force", help="Overwrite OUTPUT if it exists.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Sign SOURCE into OUTPUT.

    OUTPUT keeps SOURCE's format, so its extension must name that format; an existing
    OUTPUT is only replaced with -f/--force. Without --cert/--key, the development
    identity in your data directory is used (created on first use).
    """
    from provenance.cli.exit_status import ExitStatus
    from provenance.cli.output import emit_json, fail, log, stdout
    from provenance.errors import ProvauditError
    from provenance.keys import (
        DEV_IDENTITY_NOTICE,
        default_identity,
        default_identity_dir,
        load_identity,
    )
    from provenance.media import read_media
    from provenance.signing import (
        GeneratorInfo,
        Parent,
        ProvenanceSigner,
        SignRequest,
        check_output_path,
        load_manifest_definition,
        sign_file,
        source_type_uri,
    )
    from provenance.verify import read_trust_anchors

    if thumbnails not in ("off", "small", "default"):
        fail("--thumbnails must be off, small or default.", ExitStatus.USAGE)
    if (cert is None) != (key is None):
        fail("--cert and --key go together.", ExitStatus.USAGE)
    if source_type is not None:
        try:
            source_type_uri(source_type)
        except ProvauditError as exc:
            fail(f"--source-type: {exc}", ExitStatus.ERROR)
    try:
        statement = _training_mining(
            training_mining,
            ai_training,
            ai_generative_training,
            ai_inference,
            data_mining,
            constraint_info,
        )
    except ProvauditError as exc:
        fail(str(exc), ExitStatus.USAGE)
    try:
        media = read_media(source)  # bad input is reported before any key is made
        check_output_path(output, media.format, source_name=str(source), force=force)
        if cert is not None and key is not None:
            identity = load_identity(cert, key, alg=alg, tsa_url=tsa_url)
        else:
            identity, created = default_identity(tsa_url=tsa_url)
            if created:
                log(
                    f"Created a development signing identity in {default_identity_dir()}. "
                    f"{DEV_IDENTITY_NOTICE}"
                )
        generator_fields = (family, model, checkpoint_sha256, seed, sampler, steps)
        generator = (
            GeneratorInfo(
                family=family,
                model=model,
                checkpoint_sha256=checkpoint_sha256,
                seed=seed,
                sampler=sampler,
                steps=steps,
            )
            if any(value is not None for value in generator_fields)
            else None
        )
        parent_asset = None
        if parent is not None:
            parent_asset = Parent(data=read_media(parent).data, title=parent.name)
        request = SignRequest(
            title=title,
            ai_generated=ai_generated,
            source_type=source_type,
            generator=generator,
            parent=parent_asset,
            edit_actions=tuple(action) if action else ("c2pa.edited",),
            manifest_definition=load_manifest_definition(manifest) if manifest else None,
            thumbnails=thumbnails,  # type: ignore[arg-type]
            training_mining=statement,
        )
        store = None
        if record:
            from provenance.store import FingerprintStore

            store = FingerprintStore.open(registry)
        try:
            signer = ProvenanceSigner(
                identity,
                recorder=store.manifests if store else None,
                trust_anchors_pem=read_trust_anchors(trust or [], also=identity.root_pem),
            )
            signed = sign_file(media, output, signer, request, force=force)
        finally:
            if store is not None:
                store.close()
    except ProvauditError as exc:
        fail(str(exc), ExitStatus.ERROR)
    except OSError as exc:
        fail(f"Cannot write {output} ({exc.strerror or exc}).", ExitStatus.ERROR)

    result = {
        "input": str(source),
        "output": str(output),
        "format": signed.format,
        "bytes": len(signed.data),
        "manifest_bytes": len(signed.manifest_bytes),
        "ai_generated": ai_generated,
        "signer": identity.source,
        "development_identity": identity.is_development,
    }
    if request.training_mining is not None:
        result["training_mining"] = request.training_mining.uses()
    if json_output:
        emit_json(result)
    else:
        stdout().print(f"Signed {source} -> {output} ({len(signed.data):,} bytes)")


def _training_mining(
    every: str | None,
    ai_training: str | None,
    ai_generative_training: str | None,
    ai_inference: str | None,
    data_mining: str | None,
    constraint_info: str | None,
) -> TrainingMining | None:
    """The statement the options make, or None when none was given."""
    from provenance.trainingmining import TrainingMining, check_use

    given = {
        "ai_training": ai_training,
        "ai_generative_training": ai_generative_training,
        "ai_inference": ai_inference,
        "data_mining": data_mining,
    }
    if every is None and all(value is None for value in given.values()):
        if constraint_info is not None:
            from provenance.errors import InputError

            raise InputError("--constraint-info goes with a constrained use.")
        return None
    base = check_use(every, "--training-mining") if every is not None else None
    uses = {entry: (value if value is not None else base) for entry, value in given.items()}
    return TrainingMining(**uses, constraint_info=constraint_info)  # type: ignore[arg-type]
