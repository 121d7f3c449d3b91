"""``provaudit bias-report DATASET --out DIR``: the dataset bias report as HTML + JSON.

Importing this module costs typer only; the engine, fairlearn, scikit-learn, scipy,
matplotlib and jinja2 load when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provenance.cli.exit_status import ExitStatus
from provenance.cli.options import JsonOption

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def bias_report(
    dataset: Annotated[
        Path,
        typer.Argument(
            help="Folder of images (searched recursively), or a .parquet list of paths."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for report.html, report.json, images.csv.")
    ],
    attributes: Annotated[
        Path | None,
        typer.Option(
            "--attributes",
            "-a",
            help="CSV (header row) or JSONL sidecar: path + attribute columns.",
        ),
    ] = None,
    attribute: Annotated[
        list[str] | None,
        typer.Option("--attribute", help="Only these sidecar columns are attributes (repeatable)."),
    ] = None,
    folder_attributes: Annotated[
        str | None,
        typer.Option(
            help="Names for folder levels, e.g. 'region,age' for DATASET/<region>/<age>/x.jpg."
        ),
    ] = None,
    detector: Annotated[
        Path | None,
        typer.Option(
            "--detector", "-d", help="Detector checkpoint with its ONNX export (section 4)."
        ),
    ] = None,
    split: Annotated[
        list[str] | None,
        typer.Option("--split", help="NAME=DIR: a split to check for leakage (repeatable)."),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option(help="JSON {attribute: {value: share}} to compare shares against."),
    ] = None,
    near_dup_hash: Annotated[
        str,
        typer.Option(
            help="phash-centre (pHash of the whole image and of its central 95 %, 64 bits "
            "each), pdq (256 bits) or phash (64 bits)."
        ),
    ] = "phash-centre",
    near_dup_threshold: Annotated[
        int | None,
        typer.Option(
            help="Largest Hamming distance that is a near-duplicate. Default: phash-centre 11, "
            "pdq 15, phash 3; pdq 31 finds more resized copies at a cost growing with n^2."
        ),
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for every interval.")] = 200,
    confidence: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
    min_group_size: Annotated[
        int, typer.Option(help="Groups smaller than this get a small-n warning.")
    ] = 30,
    training_split: Annotated[
        str | None, typer.Option(help="Compare generators with the real images of this split only.")
    ] = None,
    engine: Annotated[
        str, typer.Option(help="local, or ray (Ray Data; RAY_ADDRESS joins a cluster).")
    ] = "local",
    workers: Annotated[int, typer.Option(help="Ray: parallel map tasks (0 = Ray's choice).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of every resample and split.")] = 0,
    consent_bank: Annotated[
        list[str] | None,
        typer.Option(
            help="Hash bank (provaudit bank) of images whose subjects or owners withdrew "
            "consent; matches are listed in section 7 (repeatable).",
        ),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            help="Registry of the consent banks (default: PROVAUDIT_DATABASE_URL, else the "
            "SQLite file in your data directory).",
            show_default=False,
        ),
    ] = None,
    scrub_out: Annotated[
        Path | None,
        typer.Option(
            help="Also write copies of every readable image without personal metadata here "
            "(as provaudit scrub does; the originals are only read).",
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Dataset bias report: composition, duplicates and leakage, detector fairness, generator bias.

    Writes OUT/report.html (self-contained), OUT/report.json (every number in the HTML) and
    OUT/images.csv (per image: flags, duplicate groups, drop reasons, weights).
    """
    from provenance.cli.output import emit_json, fail, log, stdout
    from provenance.errors import ProvauditError
    from service.bias.options import ReportOptions, parse_split

    try:
        options = ReportOptions(
            dataset=dataset,
            attributes_file=attributes,
            attribute_columns=list(attribute) if attribute else None,
            folder_attributes=[
                n.strip() for n in (folder_attributes or "").split(",") if n.strip()
            ],
            splits=[parse_split(text) for text in split or []],
            detector=detector,
            reference_file=reference,
            near_dup_hash=near_dup_hash,  # type: ignore[arg-type]
            near_dup_radius=near_dup_threshold,
            bootstrap=bootstrap,
            confidence=confidence,
            min_group_size=min_group_size,
            seed=seed,
            engine=engine,  # type: ignore[arg-type]
            workers=workers,
            training_split=training_split,
            exclude=[out, *([scrub_out] if scrub_out else [])],
            consent_banks=list(consent_bank or []),
            registry=registry,
            scrub_out=scrub_out,
        )
        if scrub_out is not None and scrub_out.exists() and not scrub_out.is_dir():
            fail(f"--scrub-out {scrub_out} is a file; pass a folder.", ExitStatus.USAGE)
        if scrub_out is not None and scrub_out.resolve() == dataset.resolve():
            fail("--scrub-out must not be the dataset folder itself.", ExitStatus.USAGE)
        if out.exists() and not out.is_dir():
            fail(f"--out {out} is a file; pass a folder.", ExitStatus.USAGE)
        report, data, table = _run(options, progress and not as_json)
        from service.bias.report import write_report

        written = write_report(report, out, data, table)
    except ProvauditError as exc:
        fail(str(exc), ExitStatus.ERROR)
    except OSError as exc:
        fail(f"Cannot write the report to {out} ({exc.strerror or exc}).", ExitStatus.ERROR)
    summary = {
        "html": str(written["html"]),
        "json": str(written["json"]),
        "csv": str(written["csv"]),
        "images": report["datasheet"]["image_files"],
        "unreadable": report["datasheet"]["unreadable_images"],
        "findings": report["findings"],
        "seconds": report["meta"]["seconds"]["total"],
    }
    if as_json:
        emit_json(summary)
        return
    from rich.markup import escape

    for line in report["findings"]:
        log(f"- {escape(line)}")
    stdout().print(f"{escape(summary['html'])}\n{escape(summary['json'])}")


def _run(options: object, show_progress: bool) -> tuple:
    from service.bias.report import build_report

    if not show_progress:
        return build_report(options)  # type: ignore[arg-type]
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from provenance.cli.output import log, stderr

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr(),
        transient=True,
    ) as bar:
        task = bar.add_task("decode, fingerprint, score", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return build_report(options, progress=advance, log=log)  # type: ignore[arg-type]
