"""``provaudit hash``: PDQ and pHash fingerprints of image files.

Only typer is imported at module level: the root CLI imports this module to list or
run it, and numpy, Pillow, pdqhash and imagehash are paid for only when files are
actually hashed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from provenance.cli.exit_status import ExitStatus
from provenance.cli.options import JsonOption

if TYPE_CHECKING:
    from provenance.fingerprint import Fingerprints

app = typer.Typer(
    name="hash",
    help="Perceptual fingerprints (PDQ and pHash) of image files.",
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


_HELP = (
    "PDQ hash, PDQ quality and pHash of each FILE.\n\n"
    "PDQ hashes match when at most 31 of their 256 bits differ; a PDQ quality below 50 "
    "means the image has too little detail for its hash to be trusted. A file that "
    "cannot be read gets one line on stderr (and an error object with --json), the "
    "others are still hashed, and the exit code is then 1."
)


@app.command(name="hash", help=_HELP)
def hash_files(
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE",
            help="Image files (JPEG, PNG, WebP, GIF, TIFF...).",
            show_default=False,
        ),
    ],
    json_output: JsonOption = False,
) -> None:
    """Hash every file and carry on past the bad ones: a batch is never lost to one file."""
    from provenance.cli.output import emit_json, error
    from provenance.fingerprint import PDQ_MIN_QUALITY

    failed = False
    for path in files:
        result = _fingerprint(path)
        if isinstance(result, dict):
            failed = True
            error(result["error"]["message"])
            if json_output:
                emit_json(result)
        elif json_output:
            emit_json({"path": str(path), **result.to_dict()})
        else:
            note = "" if result.pdq_quality >= PDQ_MIN_QUALITY else "  (low quality)"
            sys.stdout.write(
                f"{path}  pdq={result.pdq}  quality={result.pdq_quality}"
                f"  phash={result.phash}{note}\n"
            )
            sys.stdout.flush()

    raise typer.Exit(int(ExitStatus.ERROR if failed else ExitStatus.SUCCESS))


def _fingerprint(path: Path) -> Fingerprints | dict[str, Any]:
    """The file's fingerprints, or the error object reported for it.

    Anything but a ``ProvauditError`` is a bug or an odd decoder failure; it is still
    turned into one line for that file so that a batch is never lost to one image
    (``PROVAUDIT_DEBUG=1`` lets it through with its traceback).
    """
    from provenance.errors import ProvauditError
    from provenance.fingerprint import fingerprint_file

    try:
        return fingerprint_file(path)
    except ProvauditError as exc:
        code, message = exc.code, str(exc)
    except Exception as exc:
        if os.environ.get("PROVAUDIT_DEBUG"):
            raise
        code, message = "error", f"{path} could not be hashed ({type(exc).__name__}: {exc})."
    return {"path": str(path), "error": {"code": code, "message": message}}
