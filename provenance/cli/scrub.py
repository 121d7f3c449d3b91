"""``provaudit scrub PATH... --out DIR``: copies of images without personal metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provenance.cli.options import JsonOption

app = typer.Typer(help="Write copies of images without personal metadata.")


@app.command()
def scrub(
    paths: Annotated[
        list[Path], typer.Argument(help="Image files or folders (searched recursively).")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the copies (the originals stay).")
    ],
    json_output: JsonOption = False,
) -> None:
    """Copy images to OUT without EXIF/XMP/IPTC personal metadata.

    Removed: GPS position, camera and lens serial numbers (and the maker note), owner,
    artist, creator and copyright names, IPTC location and contact fields, people shown.
    Kept byte for byte: the compressed pixels, the orientation, the colour profile and the
    other XMP properties. A copy that had to change loses its C2PA manifest (its hard
    binding could not hold); a file without personal metadata is copied as is. A folder
    keeps its layout under OUT. The originals are only read.
    """
    from provenance.cli.exit_status import ExitStatus
    from provenance.cli.output import emit_json, error, fail, stdout
    from provenance.errors import ProvauditError
    from provenance.files import atomic_write, find_image_files
    from provenance.personaldata import scrub_bytes

    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file; pass a folder.", ExitStatus.USAGE)
    jobs: list[tuple[Path, Path]] = []
    for path in paths:
        if path.is_dir():
            jobs += [(file, out / file.relative_to(path)) for file in find_image_files(path)]
        elif path.is_file():
            jobs.append((path, out / path.name))
        else:
            fail(f"{path} does not exist.", ExitStatus.USAGE)
    sources = {source.resolve() for source, _ in jobs}
    destinations: dict[Path, Path] = {}
    for source, destination in jobs:
        resolved = destination.resolve()
        if resolved in sources:
            fail(
                f"{destination} is one of the originals; pick an --out folder that holds none.",
                ExitStatus.USAGE,
            )
        if resolved in destinations:
            fail(
                f"{source} and {destinations[resolved]} would both be copied to {destination}.",
                ExitStatus.USAGE,
            )
        destinations[resolved] = source
    failed = False
    for source, destination in jobs:
        try:
            result = scrub_bytes(source.read_bytes(), str(source))
            destination.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(destination, result.data)
        except ProvauditError as exc:
            failed = True
            error(str(exc))
            if json_output:
                emit_json({"input": str(source), "error": {"code": exc.code, "message": str(exc)}})
            continue
        except OSError as exc:
            failed = True
            error(f"{source}: {exc.strerror or exc}.")
            continue
        removed = [f.name for f in result.removed]
        if json_output:
            emit_json(
                {
                    "input": str(source),
                    "output": str(destination),
                    "removed": removed,
                    "dropped_c2pa": result.dropped_c2pa,
                }
            )
            continue
        what = f"removed {', '.join(removed)}" if removed else "no personal metadata, copied as is"
        if result.dropped_c2pa:
            what += "; its C2PA manifest was dropped"
        stdout().print(f"{source} -> {destination}: {what}", soft_wrap=True, markup=False)
    raise typer.Exit(int(ExitStatus.ERROR if failed else ExitStatus.SUCCESS))
