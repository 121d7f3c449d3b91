"""Writing detector data sets: generated images signed at birth, and matching real crops.

The layout is the one CNNDetection and GenImage use, so their loaders read it as is::

    DATASET/<family>/1_fake/*.png      from generate()
    DATASET/real/0_real/*.png          from export_real()
    DATASET/labels.jsonl               one record per image, both kinds, same schema

Every generated image is C2PA-signed before it is first written (declared
``trainedAlgorithmicMedia``, with the ``org.provaudit.generator`` assertion naming the
family, checkpoint sha256, seed, sampler and steps), so no unsigned copy ever exists on
disk. Real crops go through the same writer: same size, PNG, and signed as a crop of
their source photo (a ``parentOf`` ingredient), which declares no AI. ``image_sha256`` in
the labels is the digest of the final file, so a label can be checked against its file.
Every signature is also recorded in the registry (unless ``record=False``), as
``provaudit sign`` does, so a stripped copy of any image can be traced back to it.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from generators.checkpoint import GeneratorCheckpoint, read_checkpoint_info
from generators.conditioning import (
    Condition,
    ConditionImage,
    check_condition,
    with_model_defaults,
)
from generators.configs import STYLE_IMAGE_FAMILIES
from generators.data import ImageFolder, check_crop_size, unit_to_uint8
from generators.layout import (
    FAKE_SUBDIR,
    LABELS_FILE,
    REAL_FAMILY,
    REAL_SUBDIR,
    LabelRecord,
    merge_labels,
    utc_timestamp,
)
from generators.noise import PerImageNoise, image_seeds
from generators.signing import open_signing, sign_generated, sign_real_crop
from provenance.errors import CheckpointError, DataError, ProvauditError
from provenance.files import atomic_write

if TYPE_CHECKING:
    pass

Backend = Literal["auto", "torch", "onnx"]


@dataclass
class DatasetWriteResult:
    dataset_dir: Path
    family: str
    records: list[LabelRecord] = field(default_factory=list)
    seconds: float = 0.0
    identity_created: bool = False
    backend: str | None = None

    @property
    def images_per_second(self) -> float:
        return len(self.records) / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "dataset": str(self.dataset_dir),
            "family": self.family,
            "images": len(self.records),
            "labels": str(self.dataset_dir / LABELS_FILE),
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 2),
            "backend": self.backend,
            "signed": all(record.signed for record in self.records),
        }


def encode_png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


# --- generated images --------------------------------------------------------------------


SampleFn = Callable[[PerImageNoise], tuple[np.ndarray, "str | None", "int | None"]]


def _torch_available() -> bool:
    from importlib.util import find_spec

    return find_spec("torch") is not None and find_spec("safetensors") is not None


def _choose_backend(info: GeneratorCheckpoint, backend: str, device: str = "auto") -> str:
    """``auto`` prefers the ONNX export, as ``detect`` does (the serving weight has no torch),
    unless a torch device other than the CPU is asked for."""
    if backend not in ("auto", "torch", "onnx"):
        raise ProvauditError(f"Unknown backend {backend!r}; use auto, torch or onnx.")
    if backend == "auto":
        wants_accelerator = device not in ("auto", "cpu")
        if info.onnx and not (wants_accelerator and _torch_available()):
            return "onnx"
        if _torch_available():
            return "torch"
        raise ProvauditError(
            "Generating needs torch (pip install 'provaudit[train]') or an ONNX export of "
            f"the checkpoint (provaudit generators export-onnx {info.directory})."
        )
    if backend == "torch" and not _torch_available():
        raise ProvauditError("The torch backend needs torch: pip install 'provaudit[train]'.")
    if backend == "onnx" and not info.onnx:
        raise CheckpointError(
            f"{info.directory} has no ONNX export; run "
            f"`provaudit generators export-onnx {info.directory}` first."
        )
    return backend


def _sample_function(
    info: GeneratorCheckpoint,
    backend: str,
    sampler: str,
    sampling_steps: int | None,
    eta: float,
    device: str,
    condition: Condition | None = None,
) -> SampleFn:
    if backend == "onnx":
        from generators.onnx_sampling import OnnxGenerator

        onnx_generator = OnnxGenerator.open(info)

        def sample_onnx(noise: PerImageNoise) -> tuple[np.ndarray, str | None, int | None]:
            output = onnx_generator.sample(noise, sampler, sampling_steps, eta, condition)
            return output.images, output.sampler, output.steps

        return sample_onnx

    from generators.checkpoint import load_checkpoint
    from generators.families import get_family
    from generators.training_utils import pick_device

    torch_device = pick_device(device)
    loaded = load_checkpoint(info.directory, info.family, device=torch_device)
    spec = get_family(info.family)

    def sample_torch(noise: PerImageNoise) -> tuple[np.ndarray, str | None, int | None]:
        output = spec.sample(
            loaded.model,
            loaded.config,
            noise,
            torch_device,
            sampler,
            sampling_steps,
            eta,
            condition=condition,
        )
        return output.images, output.sampler, output.steps

    return sample_torch


def composition_ingredients(
    info: GeneratorCheckpoint, condition: Condition | None
) -> Callable[[int], tuple[ConditionImage, ...]] | None:
    """Image seed -> the images each output is composed from (style transfer's content
    and style), signed as its ingredients; None for families that compose nothing."""
    if info.family not in STYLE_IMAGE_FAMILIES:
        return None
    from generators.style_inputs import ingredients_function

    return ingredients_function(info.directory, info.config, condition)


def uses_sampling_steps(family: str) -> bool:
    """Whether a family samples by steps (diffusion's sampler and step count apply)."""
    from generators.configs import STEPPED_FAMILIES

    return family in STEPPED_FAMILIES


def fake_file_name(sha256: str, seed: int, sampler: str | None, steps: int | None) -> str:
    """Unique per (checkpoint, sampler, steps, seed), so runs can share a data set."""
    how = f"_{sampler}{steps}" if sampler else ""
    return f"{sha256[:12]}{how}_seed{seed}.png"


def generate(
    checkpoint_dir: Path | str,
    n: int,
    out_dataset_dir: Path | str,
    sampler: str = "ddim",
    sampling_steps: int | None = 50,
    seed: int = 0,
    sign: bool = True,
    *,
    family: str | None = None,
    batch: int = 64,
    device: str = "auto",
    backend: Backend | str = "auto",
    eta: float = 0.0,
    record: bool = True,
    registry: str | None = None,
    watermark: bool = True,
    condition: Condition | None = None,
    progress: Callable[[int], None] | None = None,
) -> DatasetWriteResult:
    """Sample ``n`` images into ``DATASET/<family>/1_fake`` and record them in the labels.

    Image ``i`` is drawn from seed ``seed + i`` alone, so any image can be regenerated
    by itself; ``family`` (optional) refuses a checkpoint of another family. With
    ``sign`` and ``record``, each signature (manifest and fingerprints) is also recorded
    in the registry at ``registry`` (default: the one ``provaudit sign`` uses).
    ``condition`` (a prompt, a class, content and style images) is checked against what
    the checkpoint accepts before anything is loaded, and recorded in every manifest.
    """
    started = time.perf_counter()
    if n < 1 or batch < 1:
        raise ProvauditError("-n and --batch must be at least 1.")
    info = read_checkpoint_info(checkpoint_dir, family)
    check_condition(info.family, info.config, condition)
    condition = with_model_defaults(info.config, condition)
    chosen_backend = _choose_backend(info, backend, device)
    if not uses_sampling_steps(info.family):
        sampling_steps = None  # single pass: nothing to step
    sample = _sample_function(info, chosen_backend, sampler, sampling_steps, eta, device, condition)
    ingredients = composition_ingredients(info, condition) if sign else None
    signing = open_signing(record, registry) if sign else None
    signer = signing.signer if signing is not None else None
    dataset_dir = Path(out_dataset_dir)
    image_dir = dataset_dir / info.family / FAKE_SUBDIR
    image_dir.mkdir(parents=True, exist_ok=True)
    size = info.config.image_size

    records: list[LabelRecord] = []
    try:
        for start in range(0, n, batch):
            seeds = image_seeds(seed, min(batch, n - start), start)
            images, used_sampler, used_steps = sample(PerImageNoise(seeds))
            for image_seed, pixels in zip(seeds, unit_to_uint8(images), strict=True):
                name = fake_file_name(info.weights_sha256, image_seed, used_sampler, used_steps)
                data = encode_png(pixels)
                if signer is not None:
                    data = sign_generated(
                        signer,
                        data,
                        name,
                        info,
                        image_seed,
                        used_sampler,
                        used_steps,
                        watermark=watermark,
                        condition=condition,
                        components=ingredients(image_seed) if ingredients else (),
                    )
                path = image_dir / name
                atomic_write(path, data)
                records.append(
                    LabelRecord(
                        path=path.relative_to(dataset_dir).as_posix(),
                        family=info.family,
                        label="fake",
                        checkpoint_sha256=info.weights_sha256,
                        seed=image_seed,
                        sampler=used_sampler,
                        steps=used_steps,
                        image_sha256=hashlib.sha256(data).hexdigest(),
                        created=utc_timestamp(),
                        signed=signer is not None,
                        size=size,
                    )
                )
            if progress is not None:
                progress(len(seeds))
    finally:
        if records:
            merge_labels(dataset_dir, records)
        if signing is not None:
            signing.close()
    return DatasetWriteResult(
        dataset_dir=dataset_dir,
        family=info.family,
        records=records,
        seconds=time.perf_counter() - started,
        identity_created=signing is not None and signing.identity_created,
        backend=chosen_backend,
    )


# --- real images -------------------------------------------------------------------------


def _crops_from(
    data_dir: Path | None, n: int, size: int, seed: int
) -> Iterator[tuple[np.ndarray, Path]]:
    """(crop, source file) pairs; from the built-in photos when there is no folder."""
    if data_dir is not None:
        yield from ImageFolder.open(data_dir, size).crops(n, seed)
        return
    from generators.realphotos import builtin_photo_folder

    with builtin_photo_folder() as photos_dir:
        yield from ImageFolder.open(photos_dir, size).crops(n, seed)


def export_real(
    data_dir: Path | str | None,
    n: int,
    out_dataset_dir: Path | str,
    size: int = 32,
    seed: int = 0,
    sign: bool = True,
    *,
    record: bool = True,
    registry: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> DatasetWriteResult:
    """``n`` real ``size`` px crops into ``DATASET/real/0_real`` (None: built-in photos).

    Crops are spread evenly over the source images so every photo is represented; each
    is signed as a crop of its source (``c2pa.cropped`` on a parent ingredient) and, with
    ``record``, recorded in the registry as ``generate`` does.
    """
    started = time.perf_counter()
    check_crop_size(size)
    if n < 1:
        raise DataError("-n must be at least 1.")
    dataset_dir = Path(out_dataset_dir)
    image_dir = dataset_dir / REAL_FAMILY / REAL_SUBDIR
    signing = open_signing(record, registry) if sign else None
    signer = signing.signer if signing is not None else None
    records: list[LabelRecord] = []
    sources: dict[Path, bytes] = {}
    try:
        for index, (crop, source) in enumerate(
            _crops_from(Path(data_dir) if data_dir is not None else None, n, size, seed)
        ):
            image_dir.mkdir(parents=True, exist_ok=True)
            name = f"s{seed}_{index:05d}_{source.stem}.png"
            data = encode_png(crop)
            if signer is not None:
                if source not in sources:
                    sources[source] = source.read_bytes()
                data = sign_real_crop(signer, data, name, sources[source], source.name)
            path = image_dir / name
            atomic_write(path, data)
            origin = "builtin:" + source.stem if data_dir is None else str(source)
            records.append(
                LabelRecord(
                    path=path.relative_to(dataset_dir).as_posix(),
                    family=REAL_FAMILY,
                    label="real",
                    checkpoint_sha256=None,
                    seed=seed,
                    sampler=None,
                    steps=None,
                    image_sha256=hashlib.sha256(data).hexdigest(),
                    created=utc_timestamp(),
                    signed=signer is not None,
                    size=size,
                    source=origin,
                )
            )
            if progress is not None:
                progress(1)
    finally:
        if records:
            merge_labels(dataset_dir, records)
        if signing is not None:
            signing.close()
    return DatasetWriteResult(
        dataset_dir=dataset_dir,
        family=REAL_FAMILY,
        records=records,
        seconds=time.perf_counter() - started,
        identity_created=signing is not None and signing.identity_created,
    )
