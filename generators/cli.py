"""``provaudit generators ...`` and ``provaudit generate``.

Only typer and the standard library are imported here: the root CLI imports this module
to list its commands, and torch (seconds to import) is paid for only by a command that
trains or samples. Every expected failure (a bad folder, a missing or foreign checkpoint,
a pickle file) is one ``error:`` line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from provenance.cli.exit_status import ExitStatus
from provenance.cli.options import JsonOption

if TYPE_CHECKING:
    from generators.conditioning import Condition

_CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="generators",
    help=(
        "Train small image generators (DCGAN, DDPM, VAE, PixelCNN, style transfer) and write "
        "signed real/fake "
        "data sets for detector training."
    ),
    add_completion=False,
    rich_markup_mode="rich",
    context_settings=_CONTEXT,
    no_args_is_help=True,
)

generate_app = typer.Typer(
    name="generate",
    help="Generate C2PA-signed images from a generator checkpoint.",
    add_completion=False,
    rich_markup_mode="rich",
    context_settings=_CONTEXT,
)


class FamilyChoice(str, Enum):
    gan = "gan"
    diffusion = "diffusion"
    vae = "vae"
    pixelcnn = "pixelcnn"
    style = "style"
    text_diffusion = "text_diffusion"


class SamplerChoice(str, Enum):
    ddim = "ddim"
    ddpm = "ddpm"


class DeviceChoice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class BackendChoice(str, Enum):
    auto = "auto"
    torch = "torch"
    onnx = "onnx"


class PresetChoice(str, Enum):
    small = "small"
    compact = "compact"
    tiny = "tiny"


_GENERATORS_DIR = Path(__file__).resolve().parent

# As `provaudit sign`: what is signed is recorded, so stripped copies can be traced back.
RecordOption = Annotated[
    bool,
    typer.Option(
        help="Record each signed image's manifest and fingerprints in the registry, so "
        "that stripped copies can be traced back (provaudit verify --recover).",
    ),
]
RegistryOption = Annotated[
    str | None,
    typer.Option(
        help="Registry URL (default: PROVAUDIT_DATABASE_URL, else the SQLite file in "
        "your data directory).",
        show_default=False,
    ),
]


@contextmanager
def _reported() -> Iterator[None]:
    """Turn provaudit errors into one stderr line and our warnings into ``warning:`` lines.

    Warnings raised from this package (skipped files, missing photo packages) are shown
    through the CLI's stderr console; third-party warnings keep Python's default path.
    """
    from provenance.cli.output import fail, warn
    from provenance.errors import ProvauditError

    with warnings.catch_warnings():
        original = warnings.showwarning

        def show(message: Any, category: type[Warning], filename: str, *args: Any) -> None:
            from generators.data import SkippedFilesWarning

            ours = Path(filename).resolve().is_relative_to(_GENERATORS_DIR)
            if ours or issubclass(category, SkippedFilesWarning):
                warn(str(message))
            else:
                original(message, category, filename, *args)

        warnings.showwarning = show
        try:
            yield
        except ProvauditError as exc:
            fail(str(exc), ExitStatus.ERROR)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.split(".")[0] in ("torch", "safetensors", "onnxruntime"):
                extra = "onnx" if exc.name.startswith("onnx") else "train"
                fail(
                    f"This command needs {exc.name}, which is not installed: "
                    f"pip install 'provaudit[{extra}]'.",
                    ExitStatus.ERROR,
                )
            raise


def _identity_notice(created: bool) -> None:
    if created:
        from provenance.cli.output import warn
        from provenance.keys import DEV_IDENTITY_NOTICE, default_identity_dir

        warn(
            f"Created a development signing identity in {default_identity_dir()}. "
            + DEV_IDENTITY_NOTICE
        )


@contextmanager
def _count_progress(label: str, total: int) -> Iterator[Any]:
    """A rich progress bar on stderr, advanced by the number of images written.

    The bar starts with the first image, not before: input errors found while opening
    the checkpoint or the folder then stay a single ``error:`` line.
    """
    from provenance.cli.output import stderr

    state: dict[str, Any] = {}

    def advance(count: int) -> None:
        if not state:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            progress = Progress(
                f"[bold]{label}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=stderr(),
            )
            progress.start()
            state["progress"] = progress
            state["task"] = progress.add_task(label, total=total)
        state["progress"].update(state["task"], advance=count)

    try:
        yield advance
    finally:
        if state:
            state["progress"].stop()


@app.command("train")
def train_command(
    family: Annotated[FamilyChoice, typer.Argument(help="Which generator to train.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Checkpoint folder to write (or resume).")
    ],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Folder of training images (JPEG/PNG/WebP, searched recursively).",
        ),
    ] = None,
    builtin: Annotated[
        bool, typer.Option("--builtin", help="Train on the built-in real photos instead.")
    ] = False,
    size: Annotated[int, typer.Option(help="Training crop size in pixels (32 or 64).")] = 32,
    steps: Annotated[int, typer.Option(help="Total training steps (also when resuming).")] = 1000,
    batch: Annotated[int, typer.Option(help="Images per training step.")] = 64,
    device: Annotated[DeviceChoice, typer.Option(help="Where to train.")] = DeviceChoice.auto,
    resume: Annotated[
        bool, typer.Option(help="Continue the run saved in --out (same --seed/--size/--batch).")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, batches and noise.")] = 0,
    sample_every: Annotated[
        int, typer.Option(help="Write a sample grid PNG every this many steps (0: never).")
    ] = 500,
    checkpoint_every: Annotated[
        int, typer.Option(help="Also save the checkpoint every this many steps (0: at end).")
    ] = 0,
    preset: Annotated[
        PresetChoice, typer.Option(help="Model size: small, compact (CPU-sized) or tiny (tests).")
    ] = PresetChoice.small,
    style: Annotated[
        Path | None,
        typer.Option(
            "--style",
            help="The style image a style-transfer model learns to apply (style family "
            "only; kept in the checkpoint).",
            show_default=False,
        ),
    ] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    class_conditional: Annotated[
        bool,
        typer.Option(
            "--class-conditional",
            help="gan: learn the class subfolders of --data as conditions "
            "(then generate --class NAME).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Train a generator on random crops; writes config.json + model.safetensors to --out.

    Prints the checkpoint's sha256 and final losses (one JSON line with --json).
    """
    from provenance.cli.output import emit, fail

    if (data is None) == (not builtin):
        fail("Pass exactly one of --data DIR or --builtin.", ExitStatus.USAGE)
    with _reported():
        from generators.train import train

        result = train(
            family.value,
            data,
            size=size,
            steps=steps,
            out=out,
            batch=batch,
            device=device.value,
            resume=resume,
            seed=seed,
            sample_every=sample_every,
            preset=preset.value,
            checkpoint_every=checkpoint_every,
            progress=not no_progress,
            class_conditional=class_conditional,
            style=style,
        )
    emit(
        {
            "checkpoint": str(result.out_dir),
            "family": result.family,
            "steps": result.steps,
            "resumed_from": result.resumed_from,
            "weights_sha256": result.weights_sha256,
            "final_losses": result.losses[-1] if result.losses else None,
            "sample_grids": [str(path) for path in result.sample_grids],
            "seconds": round(result.seconds, 2),
        },
        as_json,
    )


@app.command("export-real")
def export_real_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Data set folder (DATASET).")],
    n: Annotated[int, typer.Option("-n", help="Number of crops to write.")] = 1000,
    data: Annotated[
        Path | None, typer.Option("--data", help="Folder of real images to crop.")
    ] = None,
    builtin: Annotated[
        bool, typer.Option("--builtin", help="Crop the built-in real photos instead.")
    ] = False,
    size: Annotated[int, typer.Option(help="Crop size in pixels (32 or 64).")] = 32,
    seed: Annotated[int, typer.Option(help="Seed of the crop positions.")] = 0,
    sign: Annotated[bool, typer.Option(help="C2PA-sign every crop.")] = True,
    record: RecordOption = True,
    registry: RegistryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write real crops to DATASET/real/0_real/*.png and record them in labels.jsonl.

    Each signed crop is also recorded in the registry, as `provaudit sign` does
    (--no-record, or --no-sign, records nothing).
    """
    from provenance.cli.output import emit, fail

    if (data is None) == (not builtin):
        fail("Pass exactly one of --data DIR or --builtin.", ExitStatus.USAGE)
    with _reported(), _count_progress("real crops", n) as progress:
        from generators.sample import export_real

        result = export_real(
            data,
            n,
            out,
            size=size,
            seed=seed,
            sign=sign,
            record=record,
            registry=registry,
            progress=progress,
        )
    _identity_notice(result.identity_created)
    emit(result.summary(), as_json)


@app.command("export-photos")
def export_photos_command(
    out: Annotated[Path, typer.Argument(help="Folder to write the crops to.")],
    n: Annotated[int, typer.Option("-n", help="Number of crops.")] = 256,
    size: Annotated[int, typer.Option(help="Crop size in pixels (32 or 64).")] = 32,
    seed: Annotated[int, typer.Option(help="Seed of the crop positions.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Crop the built-in real photos into a plain image folder (with ATTRIBUTION.txt)."""
    from provenance.cli.output import emit

    with _reported():
        from generators.realphotos import export_crops

        paths = export_crops(out, size=size, n=n, seed=seed)
    emit({"folder": str(out), "images": len(paths)}, as_json)


@app.command("export-aligned")
def export_aligned_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Data set folder (DATASET).")],
    photos: Annotated[
        list[Path],
        typer.Option("--photos", help="Folder of real photos, one source each (repeatable)."),
    ],
    vae: Annotated[Path | None, typer.Option(help="VAE checkpoint to reconstruct with.")] = None,
    diffusion: Annotated[
        Path | None, typer.Option(help="Diffusion checkpoint to re-noise with.")
    ] = None,
    per_source: Annotated[int, typer.Option(help="Windows cut from each source.")] = 200,
    window_min: Annotated[int, typer.Option(help="Smallest window side in pixels.")] = 64,
    window_max: Annotated[int, typer.Option(help="Largest window side in pixels.")] = 160,
    denoise_steps: Annotated[int, typer.Option(help="DDIM steps after re-noising.")] = 10,
    inpaint: Annotated[
        bool, typer.Option(help="Also regenerate a region of each window (diffusion).")
    ] = True,
    seed: Annotated[int, typer.Option(help="Seed of windows, strengths and noise.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Fakes aligned with real photos: VAE reconstructions, re-noising and inpainting.

    Writes DATASET/<family>@aligned-<source>/1_fake/*.png (the source is each --photos
    folder's name) and aligned.jsonl; each fake shares its content with a real photo, so a
    detector cannot tell the classes apart by what they show.
    """
    from provenance.cli.output import emit_json, stdout

    with _reported():
        from generators.aligned import AlignedConfig, export_aligned

        config = AlignedConfig(
            windows_per_source=per_source,
            window_min=window_min,
            window_max=window_max,
            denoise_steps=denoise_steps,
            inpaint=inpaint,
            seed=seed,
        )
        summary = export_aligned(
            {folder.resolve().name: folder for folder in photos},
            out,
            vae_checkpoint=vae,
            diffusion_checkpoint=diffusion,
            config=config,
        )
    if as_json:
        emit_json(summary.to_dict())
        return
    for name, count in summary.counts.items():
        stdout().print(f"{name}: {count}")
    stdout().print(f"{summary.images} aligned fakes in {summary.folder}")


@app.command("export-renders")
def export_renders_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the renders to.")],
    n: Annotated[int, typer.Option("-n", help="Number of images (even over kinds).")] = 1000,
    seed: Annotated[int, typer.Option(help="Image k is drawn from (seed, k).")] = 0,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="Render kind (repeatable; default: all): gradient, vector, text, document, "
            "chart, ui, texture, pixelart, diagram, painting.",
        ),
    ] = None,
    square: Annotated[
        int | None,
        typer.Option(
            help="Squash each render to a SQUARE px square, written as <kind>/<index>.png: "
            "class folders that `generators train text_diffusion --data` reads as captions."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Human-made negatives: illustrations, charts, screenshots, documents... drawn by code.

    No photograph and no generative model: for a detector's real class, so that smooth and
    colourful does not mean AI. Writes <kind>_<index>.<png|jpg|webp>, renders.jsonl and
    ATTRIBUTION.txt (the fonts used, with their licences).
    """
    from provenance.cli.output import emit_json, stdout

    with _reported(), _count_progress("renders", n) as progress:
        from generators.renders import export_renders

        summary = export_renders(out, n, seed=seed, kinds=kind, progress=progress, square=square)
    if as_json:
        emit_json(summary.to_dict())
        return
    for name, count in summary.counts.items():
        stdout().print(f"{name}: {count}")
    stdout().print(
        f"{summary.images} renders in {summary.folder} "
        f"({summary.images / max(summary.seconds, 1e-9):.1f} images/s)"
    )


@app.command("export-corpus")
def export_corpus_command(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Corpus folder to write.")] = None,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="Only this source (repeatable; see --list)."),
    ] = None,
    max_per_source: Annotated[
        int | None, typer.Option(help="At most this many images from each source.")
    ] = None,
    cache: Annotated[
        Path, typer.Option(help="Where downloaded and unpacked packages are kept.")
    ] = Path("build/deb-cache"),
    json_output: JsonOption = False,
    list_sources: Annotated[
        bool, typer.Option("--list", help="List the sources and exit (downloads nothing).")
    ] = False,
) -> None:
    """Build the real-photo corpus from Debian packages (apt-get download, dpkg -x).

    Writes OUT/<photo|artwork>/<source>/ with the images' original bytes and an
    ATTRIBUTION.txt (package, version, licence, copyright file), and OUT/corpus.jsonl.
    """
    from provenance.cli.output import emit_json, fail, log

    if list_sources:
        _list_corpus_sources(json_output)
        return
    if out is None:
        fail("Pass --out DIR (or --list).", ExitStatus.USAGE)

    def report(summary: Any) -> None:
        if not json_output:
            log(f"{summary.name}: {len(summary.images)} images from {summary.package}")

    with _reported():
        from generators.corpus import build_corpus

        result = build_corpus(
            out, source or None, cache_dir=cache, max_per_source=max_per_source, progress=report
        )
    if json_output:
        emit_json(result.to_dict())
        return
    rows = [
        [s.name, s.kind, str(len(s.images)), s.package, s.version, s.licence]
        for s in result.sources
    ]
    _print_rows(["source", "kind", "images", "package", "version", "licence"], rows)
    totals = result.to_dict()
    typer.echo(
        f"{totals['images']} images ({totals['photos']} photos, {totals['artwork']} artwork) "
        f"in {result.out_dir}; list: {result.manifest}"
    )


def _print_rows(header: list[str], rows: list[list[str]]) -> None:
    """A plain aligned table: it survives pipes and narrow terminals without truncation."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        typer.echo("  ".join([*cells, row[-1]]).rstrip())


def _list_corpus_sources(json_output: bool) -> None:
    from generators.corpus import CORPUS_SOURCES, EXCLUDED_PACKAGES, EXCLUDED_REASON
    from provenance.cli.output import emit_json

    if json_output:
        emit_json(
            {
                "sources": [
                    {
                        "name": source.name,
                        "kind": source.kind,
                        "package": source.package,
                        "licence": source.licence,
                        "note": source.note,
                    }
                    for source in CORPUS_SOURCES
                ],
                "excluded_packages": list(EXCLUDED_PACKAGES),
                "excluded_reason": EXCLUDED_REASON,
            }
        )
        return
    rows = [
        [source.name, source.kind, source.package or "(Python wheels)", source.licence]
        for source in CORPUS_SOURCES
    ]
    _print_rows(["source", "kind", "package", "licence"], rows)
    typer.echo(f"Never used: {', '.join(EXCLUDED_PACKAGES)} ({EXCLUDED_REASON}).")


@app.command("export-onnx")
def export_onnx_command(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint folder to export.")],
    opset: Annotated[int, typer.Option(help="ONNX opset version.")] = 17,
    as_json: JsonOption = False,
) -> None:
    """Export the sampling network to CKPT/model.onnx so `generate` runs without torch."""
    from provenance.cli.output import emit

    with _reported():
        from generators.onnx_export import export_onnx

        result = export_onnx(checkpoint, opset=opset)
    emit(result, as_json)


@app.command("evaluate")
def evaluate_command(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint folder to evaluate.")],
    data: Annotated[
        Path | None, typer.Option("--data", help="Folder of real reference images.")
    ] = None,
    builtin: Annotated[
        bool, typer.Option("--builtin", help="Compare with the built-in real photos.")
    ] = False,
    n: Annotated[int, typer.Option("-n", help="Images per side.")] = 500,
    sampler: Annotated[SamplerChoice, typer.Option(help="Diffusion sampler.")] = (
        SamplerChoice.ddim
    ),
    sampling_steps: Annotated[int, typer.Option(help="Diffusion sampling steps.")] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the samples and crops.")] = 0,
    device: Annotated[DeviceChoice, typer.Option(help="Where to sample.")] = DeviceChoice.auto,
    as_json: JsonOption = False,
) -> None:
    """KID and precision/recall/density/coverage of samples against real crops.

    Features come from a fixed, randomly initialised CNN (no downloaded weights), so the
    numbers compare checkpoints with each other, not with published FID/KID values.
    """
    from provenance.cli.output import emit, fail

    if (data is None) == (not builtin):
        fail("Pass exactly one of --data DIR or --builtin.", ExitStatus.USAGE)
    with _reported():
        from generators.evaluate import evaluate

        report = evaluate(
            checkpoint,
            data,
            n=n,
            sampler=sampler.value,
            sampling_steps=sampling_steps,
            seed=seed,
            device=device.value,
        )
    emit(report.to_dict(), as_json)


@app.command("model-card")
def model_card_command(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint folder (with evaluation.json).")],
    command: Annotated[str, typer.Option(help="The training command, quoted on the card.")],
    hardware: Annotated[str, typer.Option(help="Where it trained, e.g. '2-core x86-64 CPU'.")],
    appearance: Annotated[
        str, typer.Option(help="What the sample grid looks like, in a sentence.")
    ] = "",
    train_log: Annotated[
        Path | None, typer.Option(help="The JSON line `generators train` printed (wall time).")
    ] = None,
    evaluate_command: Annotated[
        str | None, typer.Option(help="The evaluate command behind evaluation.json.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write MODEL_CARD.md from the checkpoint's config, its evaluation and its train log."""
    from provenance.cli.output import emit

    with _reported():
        from generators.model_card import CardInputs, write_card

        path = write_card(
            CardInputs(checkpoint, command, hardware, appearance, train_log, evaluate_command)
        )
    emit({"model_card": str(path)}, as_json)


def _condition(
    prompt: str | None,
    class_name: str | None,
    guidance: float | None,
    content: Path | None,
    style: Path | None,
) -> Condition | None:
    """The generate options as one Condition (None when nothing is asked for)."""
    from generators.conditioning import Condition, ConditionImage
    from provenance.errors import InputError

    if all(value is None for value in (prompt, class_name, guidance, content, style)):
        return None

    def image(path: Path | None, what: str) -> ConditionImage | None:
        if path is None:
            return None
        try:
            return ConditionImage(path.read_bytes(), path.name)
        except OSError as exc:
            raise InputError(f"Cannot read the {what} image {path}: {exc.strerror}.") from None

    return Condition(
        prompt=prompt,
        class_name=class_name,
        guidance=guidance,
        content=image(content, "content"),
        style=image(style, "style"),
    )


@generate_app.command("generate")
def generate_command(
    checkpoint: Annotated[
        Path, typer.Option("--checkpoint", "-c", help="Checkpoint folder (from `train`).")
    ],
    n: Annotated[int, typer.Option("-n", help="Number of images.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Data set folder (DATASET).")],
    sampler: Annotated[
        SamplerChoice, typer.Option(help="Diffusion sampler (ignored by the other families).")
    ] = SamplerChoice.ddim,
    sampling_steps: Annotated[
        int,
        typer.Option(
            help="Diffusion sampling steps; with ddpm, fewer than the model's T (1000) "
            "is strided DDPM (ignored by the other families)."
        ),
    ] = 50,
    seed: Annotated[int, typer.Option(help="Image i is drawn from seed + i.")] = 0,
    sign: Annotated[bool, typer.Option(help="C2PA-sign every image (AI generated).")] = True,
    family: Annotated[
        FamilyChoice | None,
        typer.Option(help="Refuse a checkpoint of any other family."),
    ] = None,
    eta: Annotated[float, typer.Option(help="DDIM eta (0: deterministic).")] = 0.0,
    batch: Annotated[int, typer.Option(help="Images sampled at once.")] = 64,
    device: Annotated[DeviceChoice, typer.Option(help="Where to sample.")] = DeviceChoice.auto,
    backend: Annotated[
        BackendChoice,
        typer.Option(
            help="auto: the ONNX export when there is one (no torch), else torch; or torch, onnx."
        ),
    ] = BackendChoice.auto,
    record: RecordOption = True,
    registry: RegistryOption = None,
    watermark: Annotated[
        bool,
        typer.Option(
            help="Mark every signed image with an invisible watermark naming its manifest. "
            "--no-watermark for detector training data: real photos carry no such mark, so "
            "a detector must not learn it as the sign of a fake."
        ),
    ] = True,
    prompt: Annotated[
        str | None,
        typer.Option(help="Describe the image (a text-conditioned checkpoint only)."),
    ] = None,
    class_name: Annotated[
        str | None,
        typer.Option("--class", help="Generate this class (a class-conditional checkpoint)."),
    ] = None,
    guidance: Annotated[
        float | None,
        typer.Option(
            help="Classifier-free guidance scale of conditional diffusion (1: none; "
            "default: the checkpoint's).",
            show_default=False,
        ),
    ] = None,
    content: Annotated[
        Path | None,
        typer.Option(help="Style transfer: the photo whose content is kept.", show_default=False),
    ] = None,
    style: Annotated[
        Path | None,
        typer.Option(help="Style transfer: the image whose style is applied.", show_default=False),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write N images to DATASET/<family>/1_fake/*.png and record them in labels.jsonl.

    Every image is C2PA-signed at birth as AI generated, with the checkpoint sha256,
    seed, sampler and steps in its manifest, unless --no-sign, and carries an invisible
    watermark naming that manifest, unless --no-watermark; each signature is recorded in
    the registry, as `provaudit sign` does, unless --no-record.
    """
    from provenance.cli.output import emit

    with _reported(), _count_progress("generating", n) as progress:
        from generators.sample import generate

        condition = _condition(prompt, class_name, guidance, content, style)
        result = generate(
            checkpoint,
            n,
            out,
            sampler=sampler.value,
            sampling_steps=sampling_steps,
            seed=seed,
            sign=sign,
            family=family.value if family else None,
            batch=batch,
            device=device.value,
            backend=backend.value,
            eta=eta,
            record=record,
            registry=registry,
            watermark=watermark,
            condition=condition,
            progress=progress,
        )
    _identity_notice(result.identity_created)
    emit(result.summary(), as_json)
