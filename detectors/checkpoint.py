"""Detector checkpoints: ``config.json`` + ``model.safetensors`` (+ ``model.onnx``).

::

    CKPT/config.json        format, DetectorSpec (architecture, transform, tile size,
                            families, temperature, threshold...), sha256 of every weight file
    CKPT/model.safetensors  the weights; the only weights format accepted
    CKPT/model.onnx         optional export for torch-free inference

Pickle files are refused outright (unpickling runs arbitrary code). Every weight file's
sha256 is recorded in ``config.json`` and checked on load, so a modified or swapped
``model.safetensors`` or ``model.onnx`` is refused rather than silently scoring images.
Calibration rewrites ``config.json`` only; the weights (and their digest) do not change.

This module is the file format and needs neither torch nor safetensors: the ONNX
inference path reads checkpoints with it. Writing and loading the torch model is
``detectors.loading``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detectors.spec import DetectorSpec
from provenance.errors import CheckpointError
from provenance.files import atomic_write, read_checkpoint_document, sha256_file

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
ONNX_FILE = "model.onnx"
FORMAT_NAME = "provaudit-detector"
FORMAT_VERSION = 1
# The default detector shipped inside the package: what `detect` and the service use when
# no checkpoint is given.
BUNDLED_DETECTOR = Path(__file__).resolve().parent / "weights" / "default"


@dataclass
class DetectorCheckpoint:
    directory: Path
    spec: DetectorSpec
    document: dict[str, Any]

    @property
    def weights_path(self) -> Path:
        return self.directory / WEIGHTS_FILE

    @property
    def weights_sha256(self) -> str:
        return str(self.document["weights"]["sha256"])


def read_checkpoint(path: Path | str) -> DetectorCheckpoint:
    """Check a checkpoint folder's shape and read its spec (no torch, no weights read)."""
    path, config_path, document = read_checkpoint_document(
        path,
        kind="detector",
        format_name=FORMAT_NAME,
        format_version=FORMAT_VERSION,
        written_by="provaudit detectors train",
        error=CheckpointError,
        also_accepted=(ONNX_FILE,),
    )
    try:
        spec = DetectorSpec.from_dict(document["detector"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_path} has an invalid detector section ({exc}).") from None
    sha = document.get("weights", {}).get("sha256")
    if not isinstance(sha, str) or len(sha) != 64:
        raise CheckpointError(f"{config_path} does not record the sha256 of its weights.")
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"The checkpoint {path} has no {WEIGHTS_FILE}.")
    return DetectorCheckpoint(path, spec, document)


def verified_onnx_path(info: DetectorCheckpoint, required: bool = False) -> Path | None:
    """``model.onnx`` if it exists and is the export of these exact weights."""
    onnx = info.document.get("onnx")
    path = info.directory / ONNX_FILE
    if not onnx or not path.is_file():
        if required:
            raise CheckpointError(
                f"{info.directory} has no ONNX export; run `provaudit detectors export-onnx "
                f"{info.directory}` first."
            )
        return None
    if onnx.get("weights_sha256") != info.weights_sha256:
        raise CheckpointError(
            f"{path} was exported from other weights than {WEIGHTS_FILE}; export it again."
        )
    if sha256_file(path) != onnx.get("sha256"):
        raise CheckpointError(
            f"{path} does not match the sha256 recorded in {CONFIG_FILE}; the file was "
            "modified or replaced, so it is not used."
        )
    return path


def config_document(spec: DetectorSpec, weights_sha: str, onnx: dict[str, Any] | None) -> bytes:
    document: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "detector": spec.to_dict(),
        "weights": {"file": WEIGHTS_FILE, "sha256": weights_sha},
    }
    if onnx:
        document["onnx"] = onnx
    return (json.dumps(document, indent=2, sort_keys=False) + "\n").encode()


def record_onnx(info: DetectorCheckpoint, onnx: dict[str, Any]) -> None:
    info.document["onnx"] = onnx
    document = config_document(info.spec, info.weights_sha256, onnx)
    atomic_write(info.directory / CONFIG_FILE, document)
