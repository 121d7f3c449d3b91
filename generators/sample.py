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

import datetime as dt
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from generators.checkpoint import (
    CheckpointError,
    CheckpointInfo,
    atomic_write,
    read_checkpoint_info,
)
from generators.data import DataError, ImageFolder, check_crop_size, unit_to_uint8
from generators.noise import PerImageNoise, image_seeds
from provenance.errors import InputError, ProvauditError

if TYPE_CHECKING:
    from provenance.hashbank import HashBank
    from provenance.signing import ProvenanceSigner

LABELS_FILE = "labels.jsonl"
FAKE_SUBDIR = "1_fake"
REAL_FAMILY = "real"
REAL_SUBDIR = "0_real"
Backend = Literal["auto", "torch", "onnx"]
MODEL_NAMES = {"gan": "provaudit-dcgan", "diffusion": "provaudit-ddpm-unet", "vae": "provaudit-vae"}


@dataclass(frozen=True)
class LabelRecord:
    """One line of ``labels.jsonl``; real and fake images share the schema.

    ``checkpoint_sha256``, ``sampler`` and ``steps`` are null where they do not apply
    (real crops; single-pass GAN and VAE sampling). For a real crop ``seed`` is the
    export seed and ``source`` the photo it was cut from.
    """

    path: str
    family: str
    label: Literal["fake", "real"]
    checkpoint_sha256: str | None
    seed: int
    sampler: str | None
    steps: int | None
    image_sha256: str
    created: str
    signed: bool
    size: int
    source: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=False)


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


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def encode_png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def read_labels(dataset_dir: Path | str) -> list[dict[str, Any]]:
    path = Path(dataset_dir) / LABELS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def merge_labels(dataset_dir: Path, records: Iterable[LabelRecord]) -> None:
    """Add records to ``labels.jsonl``, replacing any earlier record of the same path.

    Re-running an export overwrites its files, so their old records must go too, or the
    labels would describe digests of files that no longer exist.
    """
    new = list(records)
    rewritten = {record.path for record in new}
    kept = [row for row in read_labels(dataset_dir) if row.get("path") not in rewritten]
    lines = [json.dumps(row) for row in kept] + [record.to_json() for record in new]
    atomic_write(dataset_dir / LABELS_FILE, ("\n".join(lines) + "\n").encode())


@dataclass
class _Signing:
    """The signer of one run, and the registry it records into (closed together)."""

    signer: ProvenanceSigner
    identity_created: bool
    recorder: HashBank | None = None

    def close(self) -> None:
        try:
            self.signer.close()
        finally:
            if self.recorder is not None:
                self.recorder.close()


def _make_signer(record: bool = True, registry: str | None = None) -> _Signing:
    """The default identity's signer; with ``record``, every signature is recorded in the
    registry (as ``provaudit sign`` does), so stripped copies can be traced back."""
    from provenance.keys import default_identity
    from provenance.signing import ProvenanceSigner

    identity, created = default_identity()
    recorder = None
    if record:
        from provenance.hashbank import HashBank

        recorder = HashBank.open(registry)
    try:
        return _Signing(ProvenanceSigner(identity, recorder=recorder), created, recorder)
    except BaseException:
        if recorder is not None:
            recorder.close()
        raise


# --- generated images --------------------------------------------------------------------


SampleFn = Callable[[PerImageNoise], tuple[np.ndarray, "str | None", "int | None"]]


def _torch_available() -> bool:
    from importlib.util import find_spec

    return find_spec("torch") is not None and find_spec("safetensors") is not None


def _choose_backend(info: CheckpointInfo, backend: str) -> str:
    if backend not in ("auto", "torch", "onnx"):
        raise ProvauditError(f"Unknown backend {backend!r}; use auto, torch or onnx.")
    if backend == "auto":
        if _torch_available():
            return "torch"
        if info.onnx:
            return "onnx"
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
    info: CheckpointInfo,
    backend: str,
    sampler: str,
    sampling_steps: int | None,
    eta: float,
    device: str,
) -> SampleFn:
    if backend == "onnx":
        from generators.onnx_sampling import OnnxGenerator

        onnx_generator = OnnxGenerator.open(info)

        def sample_onnx(noise: PerImageNoise) -> tuple[np.ndarray, str | None, int | None]:
            output = onnx_generator.sample(noise, sampler, sampling_steps, eta)
            return output.images, output.sampler, output.steps

        return sample_onnx

    from generators.checkpoint import load_checkpoint
    from generators.families import get_family
    from generators.train import resolve_device

    torch_device = resolve_device(device)
    loaded = load_checkpoint(info.directory, info.family, device=torch_device)
    spec = get_family(info.family)

    def sample_torch(noise: PerImageNoise) -> tuple[np.ndarray, str | None, int | None]:
        output = spec.sample(
            loaded.model, loaded.config, noise, torch_device, sampler, sampling_steps, eta
        )
        return output.images, output.sampler, output.steps

    return sample_torch


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
    progress: Callable[[int], None] | None = None,
) -> DatasetWriteResult:
    """Sample ``n`` images into ``DATASET/<family>/1_fake`` and record them in the labels.

    Image ``i`` is drawn from seed ``seed + i`` alone, so any image can be regenerated
    by itself; ``family`` (optional) refuses a checkpoint of another family. With
    ``sign`` and ``record``, each signature (manifest and fingerprints) is also recorded
    in the registry at ``registry`` (default: the one ``provaudit sign`` uses).
    """
    started = time.perf_counter()
    if n < 1 or batch < 1:
        raise ProvauditError("-n and --batch must be at least 1.")
    info = read_checkpoint_info(checkpoint_dir, family)
    chosen_backend = _choose_backend(info, backend)
    if info.family != "diffusion":
        sampling_steps = None  # single pass: nothing to step
    sample = _sample_function(info, chosen_backend, sampler, sampling_steps, eta, device)
    signing = _make_signer(record, registry) if sign else None
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
                    data = _sign_generated(
                        signer, data, name, info, image_seed, used_sampler, used_steps
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
                        created=_now(),
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


def _sign_generated(
    signer: ProvenanceSigner,
    png: bytes,
    title: str,
    info: CheckpointInfo,
    seed: int,
    sampler: str | None,
    steps: int | None,
) -> bytes:
    from provenance.signing import GeneratorInfo, SignRequest

    request = SignRequest(
        title=title,
        ai_generated=True,
        generator=GeneratorInfo(
            family=info.family,
            model=MODEL_NAMES.get(info.family),
            checkpoint_sha256=info.weights_sha256,
            seed=seed,
            sampler=sampler,
            steps=steps,
        ),
    )
    return signer.sign(png, request).data


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
    signing = _make_signer(record, registry) if sign else None
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
                data = _sign_real(signer, data, name, sources[source], source.name)
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
                    created=_now(),
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


def _sign_real(
    signer: ProvenanceSigner, png: bytes, title: str, parent: bytes, parent_title: str
) -> bytes:
    from provenance.signing import Parent, SignRequest

    try:
        request = SignRequest(
            title=title,
            parent=Parent(data=parent, title=parent_title),
            edit_actions=("c2pa.cropped",),
        )
        return signer.sign(png, request).data
    except InputError:
        # A source whose own C2PA data c2pa cannot read: sign the crop without the parent
        # ingredient rather than lose it (the manifest then records the crop as opened).
        return signer.sign(png, SignRequest(title=title)).data
