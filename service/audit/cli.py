"""``provaudit audit PATH...``: ``/v1/audit`` over files, folders and globs.

Importing this module costs typer only; the pipeline (c2pa, onnxruntime, the registry)
loads when the command runs, Ray only with ``--engine ray``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from provenance.cli.exit_status import ExitStatus
from provenance.cli.options import JsonOption

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from rich.progress import Progress

    from service.audit.batch import FileAudit, Inputs, Tally
    from service.config import Settings

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

VERDICT_STATUS = {
    "likely_real": ExitStatus.SUCCESS,
    "inconclusive": ExitStatus.INCONCLUSIVE,
    "likely_ai": ExitStatus.LIKELY_AI,
    "declared_ai": ExitStatus.DECLARED_AI,
    "declared_ai_recovered": ExitStatus.DECLARED_AI,
}

_VERDICT_STYLE = {
    "declared_ai": "bold magenta",
    "declared_ai_recovered": "bold magenta",
    "likely_ai": "bold red",
    "likely_real": "bold green",
    "inconclusive": "bold yellow",
}


def verdict_status(verdict: str | None) -> ExitStatus:
    """The exit status of one file's verdict (None: it could not be audited).

    A verdict this table does not name yet counts as a declaration if it is a kind of
    ``declared_ai``, else as inconclusive: never as success.
    """
    if verdict is None:
        return ExitStatus.ERROR
    if verdict in VERDICT_STATUS:
        return VERDICT_STATUS[verdict]
    if verdict.startswith("declared_ai"):
        return ExitStatus.DECLARED_AI
    return ExitStatus.INCONCLUSIVE


@app.command()
def audit(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Image files, folders (searched recursively), quoted glob patterns, or "
            "Parquet files listing paths (a 'path' column).",
            show_default=False,
        ),
    ],
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            help="Local engine: threads auditing at once (they share one detector, which "
            "scores their images in batches). Ray engine: map tasks at once.",
        ),
    ] = 8,
    engine: Annotated[
        str,
        typer.Option(
            help="local (this process) or ray (a Ray Data map; RAY_ADDRESS joins a cluster)."
        ),
    ] = "local",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the results here instead of stdout: .jsonl (JSON lines) or .parquet.",
        ),
    ] = None,
    detector: Annotated[
        Path | None,
        typer.Option(
            help="Detector checkpoint with its ONNX export (default: PROVAUDIT_DETECTOR, "
            "else the bundled one).",
            show_default=False,
        ),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            help="Registry URL for manifest recovery and hash banks (default: the "
            "service's database, PROVAUDIT_DATABASE_URL or the SQLite file in your data "
            "directory).",
            show_default=False,
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Audit images as POST /v1/audit does: provenance, matches, AI-origin score, verdict.

    The pipeline, trust anchors, registry and detector are the service's, from the same
    PROVAUDIT_* settings as `provaudit serve`; each file's JSON is the endpoint's, with
    "path" in place of "audit_id" and "created" (nothing is recorded). A file that cannot
    be audited gets one line on stderr (and a JSON line with "error" under --json) and the
    others go on.

    Exit status, the worst over all files: 0 every file likely_real, 6 inconclusive,
    7 likely_ai, 8 declared_ai, 1 a file could not be audited (missing, unreadable,
    not an image), 2 a usage error.
    """
    from provenance.cli.output import fail
    from provenance.errors import ProvauditError
    from service.audit.batch import expand_inputs

    if engine not in ("local", "ray"):
        fail(f"Unknown engine {engine!r}; use local or ray.", ExitStatus.USAGE)
    if out is not None and out.suffix.lower() not in (".jsonl", ".parquet"):
        fail(f"--out {out}: name a .jsonl or a .parquet file.", ExitStatus.USAGE)
    settings = _settings(detector, registry)
    try:
        inputs = expand_inputs(str(path) for path in paths)
        tally = _run(inputs, settings, engine, workers, out, progress, as_json)
    except ProvauditError as exc:
        fail(str(exc), ExitStatus.ERROR)
    except OSError as exc:
        fail(f"Cannot write {out} ({exc.strerror or exc}).", ExitStatus.ERROR)
    _summarise(tally, as_json or out is not None)
    raise typer.Exit(int(_exit_status(tally)))


def _settings(detector: Path | None, registry: str | None) -> Settings:
    from service.config import Settings

    overrides: dict[str, object] = {}
    if detector is not None:
        overrides["detector"] = detector
    if registry is not None:
        overrides["database_url"] = registry
    return Settings(**overrides)  # type: ignore[arg-type]


def _exit_status(tally: Tally) -> ExitStatus:
    from provenance.cli.exit_status import worst

    statuses = [verdict_status(verdict) for verdict in tally.verdicts]
    if tally.errors:
        statuses.append(ExitStatus.ERROR)
    return worst(statuses)


def _run(
    inputs: Inputs,
    settings: Settings,
    engine: str,
    workers: int,
    out: Path | None,
    show_progress: bool,
    as_json: bool,
) -> Tally:
    from provenance.cli.output import error
    from service.audit.batch import FileAudit, Tally
    from service.audit.sinks import open_sink

    tally = Tally(skipped=inputs.skipped)
    with open_sink(out) as sink, _progress(show_progress, len(inputs.files)) as advance:

        def report(result: FileAudit) -> None:
            tally.add(result)
            if result.error is not None:
                error(result.error.message)
            if sink is not None:
                sink.write(result)
            elif as_json:
                sys.stdout.write(result.to_json() + "\n")
                sys.stdout.flush()
            elif result.error is None:
                _print_line(result)

        for problem in inputs.errors:  # patterns that matched nothing
            report(FileAudit(problem.path, error=problem))
        if inputs.files:
            for result in _results(inputs.files, settings, engine, workers):
                report(result)
                advance()
    return tally


def _results(
    files: list[str], settings: Settings, engine: str, workers: int
) -> Iterator[FileAudit]:
    if engine == "ray":
        from service.audit.ray_engine import audit_ray

        yield from audit_ray(files, settings, workers=workers)
        return
    from service.audit.batch import audit_local
    from service.audit.setup import close_pipeline, open_pipeline

    pipeline = open_pipeline(settings)
    try:
        yield from audit_local(pipeline, files, workers)
    finally:
        # The command only reads the registry: its indexes are the service's to save.
        close_pipeline(pipeline, save=False)


class _progress:
    """A transient rich progress bar on stderr; a callable that advances it by one."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.total = total
        self.bar: Progress | None = None

    def __enter__(self) -> Callable[[], None]:
        if not self.enabled:
            return lambda: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from provenance.cli.output import stderr

        self.bar = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=stderr(),
            transient=True,
            # Result lines on a terminal are printed above the bar, not through it.
            redirect_stdout=sys.stdout.isatty(),
            redirect_stderr=True,
        )
        self.bar.start()
        task = self.bar.add_task("audit", total=self.total)
        bar = self.bar
        return lambda: bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _print_line(result: FileAudit) -> None:
    from rich.markup import escape

    from provenance.cli.output import stdout

    verdict = str(result.verdict)
    style = _VERDICT_STYLE.get(verdict, "bold")
    stdout().print(
        f"{escape(result.path)}: [{style}]{verdict}[/] (provenance {result.state})", markup=True
    )


_STATES = ("trusted", "valid", "invalid", "absent", "error")
_VERDICTS = ("likely_real", "inconclusive", "likely_ai", "declared_ai")


def _order(known: tuple[str, ...], name: str) -> tuple[int, str]:
    return (known.index(name) if name in known else len(known), name)


def _summarise(tally: Tally, to_stderr: bool) -> None:
    """The closing table: files by provenance state and by verdict."""
    from rich.table import Table

    from provenance.cli.output import stderr, stdout

    table = Table(title="provaudit audit", show_edge=False, title_justify="left")
    table.add_column("provenance")
    table.add_column("files", justify="right")
    table.add_column("verdict")
    table.add_column("files", justify="right")
    states = sorted(tally.states.items(), key=lambda item: _order(_STATES, item[0]))
    verdicts = sorted(tally.verdicts.items(), key=lambda item: _order(_VERDICTS, item[0]))
    for index in range(max(len(states), len(verdicts))):
        state = states[index] if index < len(states) else ("", "")
        verdict = verdicts[index] if index < len(verdicts) else ("", "")
        table.add_row(state[0], str(state[1]), verdict[0], str(verdict[1]))
    table.add_section()
    total = tally.audited + tally.errors
    table.add_row("total", str(total), "audited", str(tally.audited))
    console = stderr() if to_stderr else stdout()
    console.print(table)
    notes = []
    if tally.errors:
        notes.append(f"{tally.errors} could not be audited (see the errors above)")
    if tally.skipped:
        one = tally.skipped == 1
        notes.append(
            f"{tally.skipped} file{'' if one else 's'} in the folders "
            + ("is not an image and was skipped" if one else "are not images and were skipped")
        )
    if notes:
        console.print("; ".join(notes) + ".")
