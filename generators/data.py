"""Image folders as training data: the one reader the generators and the detectors share.

Any folder tree of JPEG, PNG and WebP files is a data set. Every file is decoded once when
the folder is opened, through :mod:`provenance.media` (bomb guard, truncation checks), so
that a broken file is found before the first training step rather than at step 40 000;
broken files are skipped and named in one warning, while an image too small for the crop
is an error, because silently dropping it would change the data set the user asked for.

Batches are a pure function of ``(seed, step)``: the training loop can resume at any step
and see exactly the batches an uninterrupted run would have seen, without saving any
random-number-generator state. Nothing here imports torch; a torch ``DataLoader`` can
still use :class:`CropDataset` (it collates the numpy arrays into tensors).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from provenance.errors import DataError, ImageTooSmallError, InputError
from provenance.files import IMAGE_SUFFIXES, find_image_files

if TYPE_CHECKING:
    from generators.conditioning import TrainingLabels

SUPPORTED_SIZES = (32, 64)
# Decoded images above this many bytes are re-decoded on use instead of kept in memory.
DEFAULT_CACHE_BYTES = 1 << 30
_NAMED_IN_WARNING = 10


class SkippedFilesWarning(UserWarning):
    """Some files of a data folder could not be decoded and were left out."""


@dataclass(frozen=True)
class SkippedFile:
    path: Path
    reason: str


@dataclass(frozen=True)
class ImageBatch:
    """Crops as uint8 NHWC (what PIL and PNG writers want) with their class ids."""

    images: np.ndarray
    labels: np.ndarray
    paths: tuple[Path, ...]

    def as_float(self) -> np.ndarray:
        """Float32 NCHW in [-1, 1]: the range every network here is trained on."""
        return uint8_to_unit(self.images)


def uint8_to_unit(images: np.ndarray) -> np.ndarray:
    """uint8 NHWC -> float32 NCHW in [-1, 1]."""
    return (images.astype(np.float32) / 127.5 - 1.0).transpose(0, 3, 1, 2).copy()


def unit_to_uint8(images: np.ndarray) -> np.ndarray:
    """Float NCHW in [-1, 1] -> uint8 NHWC, rounding rather than truncating."""
    scaled = (np.clip(np.asarray(images, dtype=np.float32), -1.0, 1.0) + 1.0) * 127.5
    return np.rint(scaled).astype(np.uint8).transpose(0, 2, 3, 1).copy()


def check_crop_size(size: int) -> int:
    if size not in SUPPORTED_SIZES:
        raise DataError(
            f"A training size of {size} px is not supported; use one of "
            f"{', '.join(map(str, SUPPORTED_SIZES))}."
        )
    return size


def _decode(path: Path) -> np.ndarray:
    from provenance.media import load_image

    return np.asarray(load_image(path, mode="RGB"), dtype=np.uint8)


@dataclass
class ImageFolder:
    """Every decodable image under ``root``, with class labels from the first subfolder.

    ``labels=True`` makes ``root/<class>/.../image.png`` class ``<class>``; classes are
    numbered in sorted order, so the mapping is the same on every machine.
    """

    root: Path
    size: int
    paths: list[Path]
    shapes: list[tuple[int, int]]
    label_ids: np.ndarray
    class_names: list[str]
    skipped: list[SkippedFile] = field(default_factory=list)
    _cache: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    # Read on first use: only a text-conditioned model needs them, and a stray caption
    # file that cannot be read must not stop a GAN from training on the same folder.
    _captions: list[str] | None = field(default=None, repr=False)

    @classmethod
    def open(
        cls,
        root: Path | str,
        size: int,
        *,
        labels: bool = False,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> ImageFolder:
        root = Path(root)
        check_crop_size(size)
        if not root.exists():
            raise DataError(f"The data folder {root} does not exist.")
        if not root.is_dir():
            raise DataError(f"{root} is a file; pass a folder of images.")
        candidates = find_image_files(root)
        if not candidates:
            raise DataError(
                f"The data folder {root} holds no images "
                f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))} files in all subfolders)."
            )
        paths: list[Path] = []
        shapes: list[tuple[int, int]] = []
        skipped: list[SkippedFile] = []
        cache: dict[int, np.ndarray] = {}
        cached_bytes = 0
        for path in candidates:
            try:
                pixels = _decode(path)
            except InputError as exc:
                skipped.append(SkippedFile(path, str(exc)))
                continue
            height, width = pixels.shape[:2]
            if height < size or width < size:
                raise ImageTooSmallError(
                    f"{path} is {width}x{height} px, smaller than the {size} px training crop; "
                    "pass a smaller --size or remove the file."
                )
            if cached_bytes + pixels.nbytes <= cache_bytes:
                cache[len(paths)] = pixels
                cached_bytes += pixels.nbytes
            paths.append(path)
            shapes.append((height, width))
        if not paths:
            raise DataError(
                f"None of the {len(candidates)} image files in {root} can be decoded; "
                f"the first says: {skipped[0].reason}"
            )
        if skipped:
            _warn_skipped(root, skipped)
        class_names, label_ids = _class_labels(root, paths) if labels else ([], None)
        if label_ids is None:
            label_ids = np.zeros(len(paths), dtype=np.int64)
        return cls(root, size, paths, shapes, label_ids, class_names, skipped, cache)

    def __len__(self) -> int:
        return len(self.paths)

    def load_all(self) -> None:
        """Keep every image decoded in memory (needed before the files go away)."""
        for index in range(len(self)):
            self._cache.setdefault(index, _decode(self.paths[index]))

    def pixels(self, index: int) -> np.ndarray:
        """The whole decoded image (HWC uint8)."""
        cached = self._cache.get(index)
        return cached if cached is not None else _decode(self.paths[index])

    def crop(self, index: int, rng: np.random.Generator, *, flip: bool = False) -> np.ndarray:
        """One random ``size``x``size`` crop of image ``index`` (optionally mirrored)."""
        height, width = self.shapes[index]
        top = int(rng.integers(0, height - self.size + 1))
        left = int(rng.integers(0, width - self.size + 1))
        patch = self.pixels(index)[top : top + self.size, left : left + self.size]
        if flip and rng.random() < 0.5:
            patch = patch[:, ::-1]
        return np.ascontiguousarray(patch)

    def batch(self, step: int, batch_size: int, seed: int, *, flip: bool = True) -> ImageBatch:
        """The batch for training step ``step``: depends on nothing but its arguments."""
        rng = np.random.default_rng([seed, step])
        indices = rng.integers(0, len(self), size=batch_size)
        images = np.stack([self.crop(int(i), rng, flip=flip) for i in indices])
        return ImageBatch(images, self.label_ids[indices], tuple(self.paths[i] for i in indices))

    def captions(self) -> list[str]:
        """One caption per image, in ``paths`` order (see :func:`image_caption`)."""
        if self._captions is None:
            self._captions = [image_caption(self.root, path) for path in self.paths]
        return self._captions

    def training_labels(self, batch: ImageBatch) -> TrainingLabels:
        """What a conditional model learns beside ``batch``: its class ids (with class
        subfolders) and its captions (``image.txt`` beside ``image.png``)."""
        from generators.conditioning import TrainingLabels

        by_path = dict(zip(self.paths, self.captions(), strict=True))
        return TrainingLabels(
            class_ids=batch.labels if self.class_names else None,
            captions=[by_path[path] for path in batch.paths],
        )

    def crops(self, n: int, seed: int) -> Iterator[tuple[np.ndarray, Path]]:
        """``n`` crops spread evenly over the images (image i gets crops i, i+N, ...).

        This is what data-set export uses: every source photo is represented, as opposed
        to :meth:`batch`, which samples with replacement for training.
        """
        rng = np.random.default_rng([seed, 0x5EED])
        order = rng.permutation(len(self))
        for k in range(n):
            index = int(order[k % len(self)])
            yield self.crop(index, rng), self.paths[index]


@dataclass
class CropDataset:
    """Map-style data set of random crops for torch ``DataLoader`` users (the detectors).

    Item ``i`` of epoch ``e`` is a crop of image ``i`` drawn from ``rng([seed, e, i])``,
    so results do not depend on worker count or order; call :meth:`set_epoch` between
    epochs to get new crops.
    """

    folder: ImageFolder
    seed: int = 0
    flip: bool = True
    epoch: int = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        crop = self.folder.crop(index, rng, flip=self.flip)
        image = (crop.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1).copy()
        return image, int(self.folder.label_ids[index])


def image_caption(root: Path, path: Path) -> str:
    """The caption of one image: the text of ``image.txt`` beside ``image.png`` (the layout
    diffusion fine-tuning tools read), else its class folder's name with underscores and
    dashes as spaces (``root/pixel_art/a.png``: "pixel art"), else "" (no caption)."""
    caption_file = path.with_suffix(".txt")
    if caption_file.is_file():
        try:
            text = caption_file.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"The caption file {caption_file} is not UTF-8 text (byte {exc.start} "
                "cannot be decoded); save it as UTF-8."
            ) from None
        except OSError as exc:
            raise DataError(
                f"Cannot read the caption file {caption_file}: {exc.strerror}."
            ) from None
        caption = " ".join(text.split())
        if caption:
            return caption
    parts = path.relative_to(root).parts
    if len(parts) < 2:
        return ""
    return " ".join(parts[0].replace("_", " ").replace("-", " ").split())


def _class_labels(root: Path, paths: list[Path]) -> tuple[list[str], np.ndarray]:
    loose = [path for path in paths if path.parent == root]
    if loose:
        others = f" (and {len(loose) - 1} more)" if len(loose) > 1 else ""
        raise DataError(
            f"With class labels every image must sit in a class subfolder of {root}, but "
            f"{loose[0].name}{others} sits directly in it."
        )
    names = [path.relative_to(root).parts[0] for path in paths]
    class_names = sorted(set(names))
    index = {name: i for i, name in enumerate(class_names)}
    return class_names, np.array([index[name] for name in names], dtype=np.int64)


def _warn_skipped(root: Path, skipped: list[SkippedFile]) -> None:
    named = ", ".join(str(item.path.relative_to(root)) for item in skipped[:_NAMED_IN_WARNING])
    more = len(skipped) - _NAMED_IN_WARNING
    tail = f" and {more} more" if more > 0 else ""
    warnings.warn(
        f"Skipped {len(skipped)} file(s) in {root} that cannot be decoded: {named}{tail}.",
        SkippedFilesWarning,
        stacklevel=3,
    )
