"""``provaudit detectors ...`` (train, evaluate, calibrate, export-onnx, loo) and
``provaudit detect``.

Importing this module is cheap (typer only): torch, timm and onnxruntime are imported
inside the commands, and ``detect`` never imports torch when the checkpoint has an ONNX
export. Results go to stdout (JSON with ``--json``), progress and warnings to stderr.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from detectors.spec import DEFAULT_MAX_TILES
from provenance.cli.exit_status import ExitStatus
from provenance.cli.options import JsonOption

app = typer.Typer(
    help="Train, evaluate, calibrate and export real-vs-generated image detectors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
detect_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

Real = Annotated[
    list[Path] | None, typer.Option("--real", help="Folder of real images (repeatable).")
]
Fake = Annotated[
    list[str] | None,
    typer.Option(
        "--fake", help="Folder of generated images, as FAMILY=DIR or DIR (family = folder name)."
    ),
]
Dataset = Annotated[
    list[Path] | None,
    typer.Option("--dataset", help="Data set laid out as DATASET/<family>/{0_real,1_fake}."),
]
Checkpoint = Annotated[Path, typer.Argument(help="Detector checkpoint folder.")]
Transforms = Annotated[
    list[str] | None,
    typer.Option(
        "--transform",
        help="Input transform: raw, npr, npr_raw, chroma or spectrum. Repeated: one expert "
        "per transform, trained apart, fused by the max of their calibrated logits.",
    ),
]


def _fail(exc: Exception) -> None:
    from provenance.cli.output import fail

    fail(str(exc), ExitStatus.ERROR)


def _load_data(
    real: list[Path] | None,
    fake: list[str] | None,
    dataset: list[Path] | None,
    image_size: int,
) -> Any:
    from detectors.data import scan
    from provenance.cli.output import warn

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = scan(real or [], fake or [], dataset or [], image_size=image_size)
    for warning in caught:
        warn(str(warning.message))
    shortcut = data.format_warning()
    if shortcut:
        warn(shortcut)
    return data


def _emit(payload: Any, as_json: bool) -> None:
    from provenance.cli.output import emit_json, stdout

    if as_json:
        emit_json(payload)
    else:
        import json

        stdout().print_json(json.dumps(payload, default=str))


def _train_config(output: Path, **options: Any) -> Any:
    from dataclasses import replace

    from detectors.augment import AugmentConfig
    from detectors.train import TrainConfig

    no_augment = options.pop("no_augment")
    preset = options.pop("augment", "default")
    same_codec = options.pop("same_codec")
    downscale_prob = options.pop("downscale_prob", None)
    if no_augment:
        augment = AugmentConfig.disabled()
    else:
        try:
            augment = replace(AugmentConfig.preset(preset), same_codec=same_codec)
        except ValueError as exc:
            from provenance.errors import DataError

            raise DataError(str(exc)) from None
        if downscale_prob is not None:
            augment = replace(augment, downscale_prob=downscale_prob)
    return TrainConfig(output=output, augment=augment, **options)


def _fold_options(
    transforms: list[str],
    arch: str,
    image_size: int,
    epochs: int,
    steps_per_epoch: int | None,
    batch_size: int,
) -> dict[str, Any]:
    """The training options each fold of ``loo`` and ``loso`` shares with ``train``."""
    return {
        "arch": arch,
        "transform": transforms[0] if len(transforms) == 1 else None,
        "image_size": image_size,
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "batch_size": batch_size,
    }


@app.command()
def train(
    output: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint folder to write.")],
    real: Real = None,
    fake: Fake = None,
    dataset: Dataset = None,
    arch: Annotated[str, typer.Option(help="Architecture (see `detectors list`).")] = "npr_tiny",
    transform: Transforms = None,
    image_size: Annotated[int, typer.Option(help="Tile size in pixels.")] = 64,
    epochs: int = 20,
    batch_size: int = 64,
    steps_per_epoch: int | None = None,
    lr: float = 1e-3,
    patience: Annotated[int, typer.Option(help="Epochs without val AP gain before stop.")] = 5,
    seed: int = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False,
    workers: int = 0,
    no_augment: Annotated[bool, typer.Option("--no-augment")] = False,
    augment: Annotated[
        str,
        typer.Option(
            help="Augmentation: default (CNNDetection's blur + JPEG), web (downscale to "
            "0.25x, sharpening, JPEG 4:2:0 q60-95 or WebP), camera (web after sensor noise "
            "and strong sharpening) or none."
        ),
    ] = "default",
    same_codec: Annotated[
        str, typer.Option(help="Re-encode real and fake alike: jpeg:Q, mixed or none.")
    ] = "mixed",
    downscale_prob: Annotated[
        float | None,
        typer.Option(help="Probability of a random downscale per view (default: the preset's)."),
    ] = None,
    target_fpr: Annotated[float, typer.Option(help="FPR on real images to set.")] = 0.01,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Train a detector; torchrun-aware (DDP). The result is calibrated when data allows.

    With several --transform options: one expert per transform in OUT/experts/, then
    their calibrated max-fusion in OUT (an expert already there from the same data and
    options is kept, so an interrupted run resumes).
    """
    from detectors.train import train as run_training
    from detectors.train import train_fused
    from provenance.errors import ProvauditError

    transforms = transform or []
    try:
        data = _load_data(real, fake, dataset, image_size)
        config = _train_config(
            output,
            arch=arch,
            transform=transforms[0] if len(transforms) == 1 else None,
            image_size=image_size,
            epochs=epochs,
            batch_size=batch_size,
            steps_per_epoch=steps_per_epoch,
            lr=lr,
            patience=patience,
            seed=seed,
            device=device,
            compile=compile,
            workers=workers,
            no_augment=no_augment,
            augment=augment,
            same_codec=same_codec,
            downscale_prob=downscale_prob,
            target_fpr=target_fpr,
        )
        if len(transforms) > 1:
            result = train_fused(data, config, transforms, quiet=quiet)
        else:
            result = run_training(data, config, quiet=quiet)
    except ProvauditError as exc:
        _fail(exc)
    if result.rank == 0:
        _emit(result.to_dict(), as_json)


@app.command()
def evaluate(
    checkpoint: Checkpoint,
    real: Real = None,
    fake: Fake = None,
    dataset: Dataset = None,
    split: Annotated[
        str, typer.Option(help="held-out (val+calib), all, train, val or calib.")
    ] = "held-out",
    robustness: Annotated[
        bool, typer.Option("--robustness", help="JPEG/blur/scale sweep.")
    ] = False,
    format_check: Annotated[
        bool, typer.Option("--format-check", help="Do scores follow the container?")
    ] = False,
    abstention: Annotated[
        bool,
        typer.Option(
            "--abstention", help="Share of ai / inconclusive / real with detect's checks."
        ),
    ] = False,
    backend: Annotated[str, typer.Option(help="auto, onnx or torch.")] = "auto",
    report_dir: Annotated[
        Path | None,
        typer.Option("--report", help="Also write report.html with plots into this folder."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """AP, ROC-AUC, accuracy at the calibrated threshold, ECE, per family; optional sweeps.

    With --report DIR: report.html, ROC curves, score histograms, robustness curves (with
    --robustness) and a reliability diagram as PNGs, evaluation.json and scores.csv.
    """
    from detectors.detect import open_scorer
    from detectors.evaluate import evaluate as run_evaluation
    from provenance.cli.output import log
    from provenance.errors import ProvauditError

    splits = {"held-out": ("val", "calib"), "all": ("train", "val", "calib")}.get(split, (split,))
    try:
        scorer = open_scorer(checkpoint, backend)
        data = _load_data(real, fake, dataset, scorer.spec.image_size)
        samples = data.split(*splits)
        if not samples:
            raise ValueError(f"the {split} split is empty")
        report = run_evaluation(
            scorer,
            data,
            samples,
            robustness=robustness,
            check_format=format_check,
            keep_scores=report_dir is not None,
            abstention=abstention,
        )
        report.split = split
        if report_dir is not None:
            from detectors.report import write_evaluation_report

            written = write_evaluation_report(
                report.to_dict(), report_dir, scores=report.scores, checkpoint=str(checkpoint)
            )
            log(f"report: {written['report']}")
    except (ProvauditError, ValueError) as exc:
        _fail(exc)
    _emit(report.to_dict(), as_json)


@app.command()
def calibrate(
    checkpoint: Checkpoint,
    real: Real = None,
    fake: Fake = None,
    dataset: Dataset = None,
    fpr: Annotated[float, typer.Option(help="False-positive rate on real images.")] = 0.01,
    as_json: JsonOption = False,
) -> None:
    """Temperature on the val split, threshold at FPR on held-out reals; stored in config."""
    from detectors.checkpoint import read_checkpoint
    from detectors.workflows import calibrate_checkpoint
    from provenance.errors import ProvauditError

    try:
        info = read_checkpoint(checkpoint)
        data = _load_data(real, fake, dataset, info.spec.image_size)
        report = calibrate_checkpoint(info.directory, data, fpr)
    except ProvauditError as exc:
        _fail(exc)
    _emit(report, as_json)


@app.command()
def fuse(
    experts: Annotated[list[Path], typer.Argument(help="Two or more expert checkpoints.")],
    output: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint folder to write.")],
    real: Real = None,
    fake: Fake = None,
    dataset: Dataset = None,
    target_fpr: Annotated[float, typer.Option(help="FPR on real images to set.")] = 0.01,
    as_json: JsonOption = False,
) -> None:
    """Fuse trained experts (max of calibrated logits) and calibrate on their own data."""
    from detectors.checkpoint import read_checkpoint
    from detectors.workflows import fuse_checkpoints
    from provenance.errors import ProvauditError

    try:
        image_size = read_checkpoint(experts[0]).spec.image_size
        data = _load_data(real, fake, dataset, image_size)
        result = fuse_checkpoints(experts, data, output, target_fpr=target_fpr)
    except ProvauditError as exc:
        _fail(exc)
    _emit(result, as_json)


@app.command("export-onnx")
def export_onnx(checkpoint: Checkpoint, as_json: JsonOption = False) -> None:
    """Write model.onnx next to the weights, checked against torch (torch-free detect)."""
    from detectors.onnx_export import export_onnx as run_export
    from provenance.errors import ProvauditError

    try:
        result = run_export(checkpoint)
    except ProvauditError as exc:
        _fail(exc)
    _emit(result, as_json)


@app.command()
def loo(
    output: Annotated[Path, typer.Option("--out", "-o", help="Folder for the checkpoints.")],
    real: Real = None,
    fake: Fake = None,
    dataset: Dataset = None,
    family: Annotated[
        list[str] | None,
        typer.Option("--family", help="A family to leave out; default: each in turn."),
    ] = None,
    arch: str = "npr_tiny",
    transform: Transforms = None,
    image_size: int = 64,
    epochs: int = 10,
    batch_size: int = 64,
    seed: int = 0,
    device: str = "auto",
    steps_per_epoch: int | None = None,
    augment: Annotated[str, typer.Option(help="As train's --augment.")] = "default",
    same_codec: Annotated[str, typer.Option(help="As train's --same-codec.")] = "mixed",
    report_dir: Annotated[
        Path | None,
        typer.Option("--report", help="Also write report.html with the matrix and a plot."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Leave-one-family-out: AP on each family when it was left out of training.

    Several --transform options: each fold trains the experts and scores their fusion.
    A fold whose checkpoints are already in OUT from the same data and options is only
    scored, so runs with different --family options can share the work.
    """
    from detectors.loo import leave_one_family_out
    from provenance.cli.output import log
    from provenance.errors import ProvauditError

    transforms = transform or []
    try:
        data = _load_data(real, fake, dataset, image_size)
        config = _train_config(
            output,
            **_fold_options(transforms, arch, image_size, epochs, steps_per_epoch, batch_size),
            seed=seed,
            device=device,
            no_augment=False,
            augment=augment,
            same_codec=same_codec,
        )
        result = leave_one_family_out(
            data,
            config,
            output,
            families=family,
            fuse_transforms=transforms if len(transforms) > 1 else None,
        )
        if report_dir is not None:
            from detectors.report import write_loo_report

            log(f"report: {write_loo_report(result.to_dict(), report_dir)['report']}")
    except ProvauditError as exc:
        _fail(exc)
    _emit(result.to_dict(), as_json)


@app.command()
def loso(
    output: Annotated[Path, typer.Option("--out", "-o", help="Folder for the checkpoints.")],
    real: Real = None,
    fake: Fake = None,
    dataset: Dataset = None,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="A real source (group) to leave out; default: all."),
    ] = None,
    folds: Annotated[int, typer.Option(help="Folds the sources are dealt into.")] = 3,
    fold: Annotated[
        list[int] | None,
        typer.Option("--fold", help="Run only this fold (0-based); default: every fold."),
    ] = None,
    arch: str = "npr_tiny",
    transform: Transforms = None,
    image_size: int = 64,
    epochs: int = 10,
    steps_per_epoch: int | None = None,
    batch_size: int = 64,
    seed: int = 0,
    device: str = "auto",
    augment: Annotated[str, typer.Option(help="As train's --augment.")] = "default",
    same_codec: Annotated[str, typer.Option(help="As train's --same-codec.")] = "mixed",
    checks: Annotated[
        bool, typer.Option(help="Score with the stability checks (abstention), as detect does.")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Leave-sources-out: how often real photos from a source never trained on are called AI.

    The real sources are dealt into folds; each fold's sources (and fakes aligned with
    them) are left out of training and calibration, then every one of their images is
    scored as sent and as the web serves it (downscaled to 512-1024 px, JPEG or WebP).
    """
    from detectors.wild import leave_sources_out
    from provenance.errors import ProvauditError

    transforms = transform or []
    try:
        data = _load_data(real, fake, dataset, image_size)
        config = _train_config(
            output,
            **_fold_options(transforms, arch, image_size, epochs, steps_per_epoch, batch_size),
            seed=seed,
            device=device,
            no_augment=False,
            augment=augment,
            same_codec=same_codec,
        )
        result = leave_sources_out(
            data,
            config,
            output,
            sources=source,
            folds=folds,
            only_folds=fold,
            fuse_transforms=transforms if len(transforms) > 1 else None,
            checks=checks,
        )
    except ProvauditError as exc:
        _fail(exc)
    _emit(result, as_json)


@app.command()
def unseen(
    checkpoint: Checkpoint,
    real: Annotated[
        list[Path],
        typer.Option("--real", help="Folder of real or human-made images, one source each."),
    ],
    limit: Annotated[int, typer.Option(help="Images per source, spread evenly (0: all).")] = 0,
    backend: Annotated[str, typer.Option(help="auto, onnx or torch.")] = "auto",
    checks: Annotated[
        bool, typer.Option(help="Score with the stability checks (abstention), as detect does.")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """How often images from sources the detector never trained on are called AI.

    Every image of each --real folder (photos, illustrations, screenshots: nothing
    generated) is scored as sent and as the web serves it (downscaled to 512-1024 px,
    JPEG or WebP); each outcome (ai, inconclusive, real) is counted per source.
    """
    from detectors.detect import open_scorer
    from detectors.wild import unseen_sources
    from provenance.errors import ProvauditError

    try:
        scorer = open_scorer(checkpoint, backend)
        result = unseen_sources(scorer, real, limit=limit, checks=checks)
    except ProvauditError as exc:
        _fail(exc)
    result["checkpoint"] = str(checkpoint)
    _emit(result, as_json)


@app.command("list")
def list_architectures(as_json: JsonOption = False) -> None:
    """The detector architectures and their default input transforms."""
    from detectors.architectures import get_entry, list_detectors

    entries = [get_entry(name) for name in list_detectors()]
    rows = [
        {"name": e.name, "transform": e.default_transform, "summary": e.summary} for e in entries
    ]
    _emit(rows, as_json)


@app.command("model-card")
def model_card(
    checkpoint: Checkpoint,
    train_command: Annotated[str, typer.Option(help="The train command, quoted on the card.")],
    evaluate_command: Annotated[str, typer.Option(help="The command behind evaluation.json.")],
    hardware: Annotated[str, typer.Option(help="Where it trained.")],
    train_log: Annotated[
        Path | None, typer.Option(help="The JSON `detectors train --json` printed.")
    ] = None,
    loo_command: Annotated[
        str | None, typer.Option(help="The command behind leave-one-family-out.json.")
    ] = None,
    trained_on: Annotated[str, typer.Option(help="What it was trained on, in words.")] = "",
    limits: Annotated[
        Path | None,
        typer.Option(help="Markdown template of its limits; {name} fields come from records."),
    ] = None,
    loso_command: Annotated[
        str | None, typer.Option(help="The command behind leave-sources-out.json.")
    ] = None,
    unseen_command: Annotated[
        str | None, typer.Option(help="The command behind human-made.json.")
    ] = None,
) -> None:
    """Write MODEL_CARD.md from config.json, evaluation.json and the train / loo / loso /
    unseen records."""
    from detectors.model_card import DetectorCardInputs, write_card
    from provenance.errors import ProvauditError

    inputs = DetectorCardInputs(
        checkpoint,
        train_command,
        evaluate_command,
        hardware,
        train_log,
        loo_command,
        trained_on,
        loso_command,
        unseen_command,
    )
    try:
        path = write_card(inputs, limits.read_text() if limits else "")
    except (OSError, KeyError, ValueError) as exc:
        _fail(ProvauditError(f"Cannot write the model card for {checkpoint}: {exc}"))
    _emit({"model_card": str(path)}, True)


@detect_app.command()
def detect(
    paths: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.")],
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            "-c",
            envvar="PROVAUDIT_DETECTOR",
            help="Detector checkpoint folder (default: the bundled default detector).",
        ),
    ] = None,
    as_json: JsonOption = False,
    backend: Annotated[str, typer.Option(help="auto (ONNX if exported), onnx or torch.")] = "auto",
    batch_size: Annotated[int, typer.Option(help="Tiles per inference batch.")] = 256,
    max_tiles: Annotated[
        int, typer.Option(help="Most tiles scored per image (the threshold is set at the default).")
    ] = DEFAULT_MAX_TILES,
    checks: Annotated[
        bool,
        typer.Option(
            help="Re-score each image after JPEG q90 and a 0.75x downscale; a verdict that "
            "flips is reported as inconclusive."
        ),
    ] = True,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr.")] = True,
) -> None:
    """Score images for AI generation: p(AI), verdict at the calibrated threshold, family.

    The verdict is ai, real or inconclusive (with its reason). Folders are walked
    recursively; files in them that are not images are skipped and counted. A file that
    cannot be read is reported on its own line and the run goes on; the exit status is 1
    if any file failed.
    """
    from detectors.checkpoint import BUNDLED_DETECTOR
    from detectors.detect import detect_files, expand_inputs, open_scorer
    from provenance.cli.output import emit_json, error, log, stdout
    from provenance.errors import ProvauditError

    try:
        scorer = open_scorer(
            checkpoint or BUNDLED_DETECTOR, backend, batch_size=batch_size, max_tiles=max_tiles
        )
    except ProvauditError as exc:
        _fail(exc)
    entries = expand_inputs(paths)
    failed = skipped = 0
    with _progress_bar(len(entries), enabled=progress and len(entries) > 1) as advance:
        for result in detect_files(scorer, entries, checks=checks):
            advance()
            if result.get("skipped"):
                skipped += 1
                continue
            if result["error"] is not None:
                failed += 1
            if result["error"] is not None:  # on stderr with --json too, as verify and hash do
                error(result["error"]["message"])
            if as_json:
                emit_json(result)
            elif result["error"] is None:
                stdout().print(_detect_line(result))
    if skipped:
        log(f"skipped {skipped} file(s) that are not images")
    if failed:
        raise typer.Exit(int(ExitStatus.ERROR))


def _detect_line(result: dict[str, Any]) -> str:
    from rich.markup import escape

    line = f"{escape(result['path'])}  p_ai={result['p_ai']:.4f}  {result['label']}"
    if result["label"] == "ai":
        line += f"  ({result['attribution']['label']})"
    if result.get("reason"):
        line += f"  ({escape(result['reason'])})"
    return line


@contextmanager
def _progress_bar(total: int, *, enabled: bool) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr over ``total`` files; yields the function that advances it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from provenance.cli.output import stderr

    with Progress(
        *Progress.get_default_columns()[:1],
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr(),
        disable=not enabled,
        transient=True,
    ) as bar:
        task = bar.add_task("scoring", total=total)
        yield lambda: bar.advance(task)


if __name__ == "__main__":
    app()
