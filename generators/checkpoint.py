"""Generator checkpoints: ``config.json`` + ``model.safetensors``, and nothing that unpickles.

A checkpoint folder is what ``train`` writes and what ``generate`` reads::

    CKPT/config.json          family, model configuration, sha256 of the weights
    CKPT/model.safetensors    the weights (the only weights format accepted)
    CKPT/optimizer.safetensors, CKPT/train_state.json   only needed to resume training

The weights' sha256 is recorded in ``config.json`` and checked on every load: it is the
``checkpoint_sha256`` written into every generated image's C2PA manifest and labels, so
it must name exactly the weights that made the image. Pickle files (``.pt``, ``.pth``,
``.ckpt``, ``.bin``, ``.pkl``) are refused outright, since unpickling runs arbitrary code.

Reading the configuration (:func:`read_checkpoint_info`) needs no torch; loading the
model does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generators.configs import (
    CONFIG_TYPES,
    ConfigError,
    ModelConfig,
    config_from_dict,
    config_to_dict,
)
from provenance.errors import CheckpointError
from provenance.files import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    atomic_write,
    read_checkpoint_document,
    sha256_file,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

OPTIMIZER_FILE = "optimizer.safetensors"
TRAIN_STATE_FILE = "train_state.json"
FORMAT_NAME = "provaudit-generator"
FORMAT_VERSION = 1
_METADATA_KEY = "provaudit"


@dataclass(frozen=True)
class GeneratorCheckpoint:
    """What ``config.json`` says about a checkpoint (read without torch)."""

    directory: Path
    family: str
    config: ModelConfig
    weights_sha256: str
    training: dict[str, Any] = field(default_factory=dict)
    onnx: dict[str, Any] | None = None

    @property
    def weights_path(self) -> Path:
        return self.directory / WEIGHTS_FILE


@dataclass
class LoadedCheckpoint:
    info: GeneratorCheckpoint
    model: nn.Module

    @property
    def family(self) -> str:
        return self.info.family

    @property
    def config(self) -> ModelConfig:
        return self.info.config

    @property
    def sha256(self) -> str:
        return self.info.weights_sha256


def read_checkpoint_info(
    path: Path | str, expected_family: str | None = None
) -> GeneratorCheckpoint:
    """Check a checkpoint folder and read its configuration, refusing with one sentence."""
    path, config_path, document = read_checkpoint_document(
        path,
        kind="generator",
        format_name=FORMAT_NAME,
        format_version=FORMAT_VERSION,
        written_by="provaudit generators train",
    )
    family = document.get("family")
    if family not in CONFIG_TYPES:
        raise CheckpointError(f"{config_path} names an unknown generator family {family!r}.")
    if expected_family is not None and family != expected_family:
        raise CheckpointError(
            f"{path} holds a {family} checkpoint, not a {expected_family} one; "
            f"pass --family {family} or another checkpoint."
        )
    try:
        config = config_from_dict(CONFIG_TYPES[family], document.get("config", {}))
    except (ConfigError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_path}: {exc}") from None
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"The checkpoint {path} has no {WEIGHTS_FILE}.")
    sha = document.get("weights", {}).get("sha256")
    if not isinstance(sha, str) or len(sha) != 64:
        raise CheckpointError(f"{config_path} does not record the sha256 of its weights.")
    return GeneratorCheckpoint(
        directory=path,
        family=family,
        config=config,
        weights_sha256=sha,
        training=document.get("training", {}),
        onnx=document.get("onnx"),
    )


def load_checkpoint(
    path: Path | str,
    expected_family: str | None = None,
    device: str | torch.device = "cpu",
) -> LoadedCheckpoint:
    """The model of a checkpoint in eval mode, after checking its weights' sha256."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from generators.families import build_model

    info = read_checkpoint_info(path, expected_family)
    actual = sha256_file(info.weights_path)
    if actual != info.weights_sha256:
        raise CheckpointError(
            f"{info.weights_path} does not match the sha256 recorded in {CONFIG_FILE} "
            "(the weights were modified or corrupted)."
        )
    try:
        state = load_file(str(info.weights_path), device=str(device))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{info.weights_path} is not a safetensors file ({exc}).") from None
    model = build_model(info.family, info.config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise CheckpointError(
            f"The weights in {info.weights_path} do not fit its {CONFIG_FILE} ({first_line})."
        ) from None
    model.to(device).eval()
    return LoadedCheckpoint(info=info, model=model)


def save_checkpoint(
    directory: Path | str,
    family: str,
    config: ModelConfig,
    model: nn.Module,
    training: dict[str, Any] | None = None,
) -> str:
    """Write weights then configuration (each atomically); returns the weights' sha256.

    The weights go first: a crash in between leaves the old ``config.json``, whose sha256
    then no longer matches, so a half-written checkpoint is refused instead of trusted.
    """
    from safetensors.torch import save

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {
        name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()
    }
    data = save(state, metadata=_single_key_metadata({"format": FORMAT_NAME, "family": family}))
    atomic_write(directory / WEIGHTS_FILE, data)
    sha = hashlib.sha256(data).hexdigest()
    existing_onnx = _existing_onnx(directory)
    document: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "family": family,
        "config": config_to_dict(config),
        "weights": {"file": WEIGHTS_FILE, "sha256": sha},
        "training": training or {},
        "saved": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if existing_onnx and existing_onnx.get("weights_sha256") == sha:
        document["onnx"] = existing_onnx
    write_config_document(directory, document)
    return sha


def _single_key_metadata(values: dict[str, Any]) -> dict[str, str]:
    """safetensors metadata as ONE key holding sorted JSON.

    safetensors keeps metadata in a hash map whose order changes from process to
    process, so two keys make identical weights serialise to different bytes, and the
    weights' sha256 (the checkpoint's identity in every manifest) would depend on luck.
    """
    return {_METADATA_KEY: json.dumps(values, sort_keys=True)}


def write_config_document(directory: Path, document: dict[str, Any]) -> None:
    atomic_write(directory / CONFIG_FILE, (json.dumps(document, indent=2) + "\n").encode())


def read_config_document(directory: Path) -> dict[str, Any]:
    return json.loads((Path(directory) / CONFIG_FILE).read_text())


def _existing_onnx(directory: Path) -> dict[str, Any] | None:
    try:
        return read_config_document(directory).get("onnx")
    except (OSError, ValueError):
        return None


# --- optimizer state ---------------------------------------------------------------------


def save_optimizers(path: Path, optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """Optimizer state as safetensors: tensors by name, hyperparameters as JSON metadata."""
    import torch
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    groups: dict[str, Any] = {}
    for name, optimizer in optimizers.items():
        state_dict = optimizer.state_dict()
        groups[name] = state_dict["param_groups"]
        for index, values in state_dict["state"].items():
            for key, value in values.items():
                label = f"{name}.{index}.{key}"
                if isinstance(value, torch.Tensor):
                    tensors[label] = value.detach().cpu().contiguous()
                else:
                    scalars[label] = value
    metadata = _single_key_metadata({"param_groups": groups, "scalars": scalars})
    atomic_write(path, save(tensors, metadata=metadata))


def load_optimizers(path: Path, optimizers: dict[str, torch.optim.Optimizer]) -> None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path} is not a safetensors optimizer state ({exc}).") from None
    document = json.loads(metadata.get(_METADATA_KEY, "{}"))
    groups, scalars = document.get("param_groups", {}), document.get("scalars", {})
    for name, optimizer in optimizers.items():
        if name not in groups:
            raise CheckpointError(f"{path} has no state for the {name} optimizer.")
        state: dict[int, dict[str, Any]] = {}
        for label, value in [*tensors.items(), *scalars.items()]:
            owner, index, key = label.split(".", 2)
            if owner == name:
                state.setdefault(int(index), {})[key] = value
        optimizer.load_state_dict({"state": state, "param_groups": groups[name]})
