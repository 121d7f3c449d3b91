"""Saving a torch detector as a checkpoint and loading one back (training install).

The weights are written before ``config.json``, whose presence marks a complete folder, and
checked against the sha256 it records before they are loaded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from detectors.architectures import model_from_spec
from detectors.checkpoint import (
    CONFIG_FILE,
    FORMAT_NAME,
    ONNX_FILE,
    WEIGHTS_FILE,
    config_document,
    read_checkpoint,
)
from detectors.fusion import MaxFusion
from detectors.model import DetectorModel
from provenance.errors import CheckpointError
from provenance.files import atomic_write


def save_checkpoint(directory: Path | str, model: DetectorModel | MaxFusion) -> Path:
    """Write weights then config (config last: a folder with a config is complete)."""
    from safetensors.torch import save

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {
        name: tensor.detach().to("cpu").contiguous() for name, tensor in model.state_dict().items()
    }
    data = save(state, metadata={"format": FORMAT_NAME})
    atomic_write(directory / WEIGHTS_FILE, data)
    stale_onnx = directory / ONNX_FILE
    if stale_onnx.exists():
        stale_onnx.unlink()
    weights_sha = hashlib.sha256(data).hexdigest()
    atomic_write(directory / CONFIG_FILE, config_document(model.spec, weights_sha, None))
    return directory


def load_checkpoint(path: Path | str, device: str = "cpu") -> DetectorModel | MaxFusion:
    """The model with its weights, after the weights' sha256 is checked against config."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    info = read_checkpoint(path)
    data = info.weights_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != info.weights_sha256:
        raise CheckpointError(
            f"{info.weights_path} does not match the sha256 recorded in {CONFIG_FILE}; the "
            "weights were modified or replaced, so they are not loaded."
        )
    try:
        state = load(data)
    except (SafetensorError, ValueError, OSError) as exc:
        raise CheckpointError(f"{info.weights_path} is not a safetensors file ({exc}).") from None
    model = model_from_spec(info.spec)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(
            f"{info.weights_path} does not fit the {info.spec.arch} architecture in "
            f"{CONFIG_FILE} ({first})."
        ) from None
    model.eval()
    return model.to(device)
