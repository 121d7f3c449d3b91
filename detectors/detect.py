"""Opening a checkpoint's scorer, and ``provaudit detect``'s walk over files and folders.

``provaudit detect`` and the service need only this module, :mod:`detectors.inference`,
numpy, Pillow and onnxruntime; torch is imported only as a fallback for a checkpoint that
was never exported (``backend="torch"``, or ``"auto"`` without ``model.onnx``).
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detectors.checkpoint import read_checkpoint, verified_onnx_path
from detectors.inference import DEFAULT_BATCH_SIZE, BackendError, OnnxScorer, Scorer
from detectors.spec import DEFAULT_MAX_TILES
from detectors.tiles import pad_to_tile
from provenance.errors import ProvauditError


def open_scorer(
    checkpoint: Path | str,
    backend: str = "auto",
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_tiles: int = DEFAULT_MAX_TILES,
    device: str = "cpu",
    threads: int = 0,
) -> Scorer:
    """The scorer for a checkpoint: onnxruntime when exported (and ``backend`` allows)."""
    info = read_checkpoint(checkpoint)
    if backend not in ("auto", "onnx", "torch"):
        raise BackendError(f"Unknown backend {backend!r}; use auto, onnx or torch.")
    if backend in ("auto", "onnx"):
        onnx_path = verified_onnx_path(info, required=backend == "onnx")
        if onnx_path is not None:
            return OnnxScorer(
                info.spec, onnx_path, threads=threads, batch_size=batch_size, max_tiles=max_tiles
            )
    try:
        from detectors.loading import load_checkpoint
        from detectors.model import TorchScorer
    except ImportError:
        raise BackendError(
            f"{info.directory} has no ONNX export and torch is not installed; run "
            "`provaudit detectors export-onnx` where torch is, or install provaudit[train]."
        ) from None
    model = load_checkpoint(info.directory, device=device)
    return TorchScorer(model, device=device, batch_size=batch_size, max_tiles=max_tiles)


@dataclass(frozen=True)
class InputFile:
    """One input of ``detect``: ``problem`` says why it has no ``path``."""

    display: str
    path: Path | None
    problem: str | None = None
    # Found by walking a folder rather than named: a non-image there is skipped, not an error.
    from_folder: bool = False


def expand_inputs(items: Iterable[str | Path]) -> list[InputFile]:
    """Files, folders (recursively, hidden entries skipped) and glob patterns."""
    found: list[InputFile] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            files = sorted(
                candidate
                for candidate in path.rglob("*")
                if candidate.is_file()
                and not any(part.startswith(".") for part in candidate.relative_to(path).parts)
            )
            found.extend(InputFile(str(file), file, from_folder=True) for file in files)
        elif path.exists():
            found.append(InputFile(str(path), path))
        elif glob.has_magic(str(item)):
            matches = sorted(glob.glob(str(item), recursive=True))
            if not matches:
                found.append(InputFile(str(item), None, f"No file matches {item}."))
            found.extend(
                InputFile(match, Path(match), from_folder=True)
                for match in matches
                if Path(match).is_file()
            )
        else:
            found.append(InputFile(str(item), None, f"{item} does not exist."))
    return found


def _error(display: str, exc: ProvauditError | str) -> dict[str, Any]:
    code = getattr(exc, "code", "bad_input")
    return {"path": display, "error": {"code": code, "message": str(exc)}}


def detect_files(
    scorer: Scorer, entries: list[InputFile], chunk: int = 64, *, checks: bool = True
) -> Iterator[dict[str, Any]]:
    """One result per input (from :func:`expand_inputs`), in order; never raises.

    A bad file yields an error entry. A file that is not an image, met while walking a
    folder or a glob (``labels.jsonl`` beside a data set's images), yields
    ``{"path": ..., "skipped": reason, "error": None}`` instead.
    """
    from provenance.errors import UnsupportedFormatError
    from provenance.media import load_image

    for start in range(0, len(entries), chunk):
        results: list[dict[str, Any] | None] = []
        decoded: list[np.ndarray] = []
        names: list[str] = []
        slots: list[int] = []
        for entry in entries[start : start + chunk]:
            if entry.path is None:
                results.append(_error(entry.display, entry.problem or "missing"))
                continue
            try:
                pixels = np.asarray(load_image(entry.path, mode="RGB"), dtype=np.uint8)
                pad_to_tile(pixels, scorer.spec.image_size, entry.display)
            except UnsupportedFormatError as exc:
                if entry.from_folder:
                    results.append({"path": entry.display, "skipped": str(exc), "error": None})
                else:
                    results.append(_error(entry.display, exc))
                continue
            except ProvauditError as exc:
                results.append(_error(entry.display, exc))
                continue
            slots.append(len(results))
            results.append(None)
            decoded.append(pixels)
            names.append(entry.display)
        if decoded:
            verdicts = scorer.assess(decoded, names, checks=checks)
            for k, slot in enumerate(slots):
                results[slot] = {"path": names[k], **verdicts[k], "error": None}
        yield from (result for result in results if result is not None)
