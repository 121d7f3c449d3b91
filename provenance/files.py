"""File helpers every layer shares: image discovery, digests, atomic writes, and the one safe
reader of checkpoint folders (``config.json`` + ``model.safetensors``, pickles refused).

They sit in the bottom package so that ``generators`` and ``detectors`` use the same
rules without one importing the other for them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from provenance.errors import CheckpointError, ProvauditError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
PICKLE_SUFFIXES = frozenset({".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle"})
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default container
_PICKLE_PROTOCOL_OPCODE = 0x80


def find_image_files(root: Path) -> list[Path]:
    """Image files under ``root`` by suffix, recursively, in a stable (sorted) order.

    Hidden files and folders are left out: they are editor and OS debris (``.DS_Store``,
    ``._IMG_0001.jpg`` AppleDouble files), never training data.
    """
    return sorted(
        path
        for path in root.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def looks_like_pickle(path: Path) -> bool:
    """A torch.save / pickle file, by name or by its first bytes."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return False
    return head == _ZIP_MAGIC or (len(head) >= 2 and head[0] == _PICKLE_PROTOCOL_OPCODE)


def atomic_write(path: Path, data: bytes) -> None:
    """Write beside, then rename: a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def read_checkpoint_document(
    path: Path | str,
    *,
    kind: str,
    format_name: str,
    format_version: int,
    written_by: str,
    error: type[ProvauditError] = CheckpointError,
    also_accepted: tuple[str, ...] = (),
) -> tuple[Path, Path, dict[str, Any]]:
    """The folder, config path and parsed config of a ``kind`` checkpoint (generator, detector).

    Shared by every checkpoint format of the project: a path to one of its files means its
    folder, a pickle (by name or first bytes, also inside the folder) is refused because
    loading it could run code, and the config must name ``format_name`` at ``format_version``.
    """
    path = Path(path)
    if not path.exists():
        raise error(
            f"The {kind} checkpoint {path} does not exist; pass the folder that "
            f"`{written_by}` wrote (it holds {CONFIG_FILE} and {WEIGHTS_FILE})."
        )

    def pickle_refusal(pickled: Path) -> ProvauditError:
        return error(
            f"{pickled} is a pickle file; provaudit loads only safetensors {kind} checkpoints "
            f"(a folder with {CONFIG_FILE} and {WEIGHTS_FILE}) because loading a pickle can "
            "run arbitrary code."
        )

    if path.is_file():
        if path.name in (CONFIG_FILE, WEIGHTS_FILE, *also_accepted):
            path = path.parent
        elif looks_like_pickle(path):
            raise pickle_refusal(path)
        else:
            raise error(
                f"{path} is a file; pass the checkpoint folder that holds {CONFIG_FILE} "
                f"and {WEIGHTS_FILE}."
            )
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        pickles = sorted(p for p in path.iterdir() if p.is_file() and looks_like_pickle(p))
        if pickles:
            raise pickle_refusal(pickles[0])
        raise error(f"{path} is not a {kind} checkpoint: it has no {CONFIG_FILE}.")
    try:
        document = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{config_path} is not valid JSON ({exc}).") from None
    if not isinstance(document, dict) or document.get("format") != format_name:
        raise error(f"{config_path} is not a provaudit {kind} configuration.")
    if document.get("format_version") != format_version:
        raise error(
            f"{config_path} has format version {document.get('format_version')}; this "
            f"provaudit reads version {format_version}."
        )
    return path, config_path, document
