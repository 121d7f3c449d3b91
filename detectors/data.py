"""Detector training data: real and fake image folders in any mix, split and balanced.

Sources, combinable and repeatable:

* ``real`` folders: every image is a real photo;
* ``fake`` folders: every image is generated, by the family given as ``family=DIR``
  (default: the folder's name);
* generator data sets: ``DATASET/<family>/0_real`` and ``DATASET/<family>/1_fake`` (what
  ``provaudit generators`` writes, and the CNNDetection layout), or ``DATASET/0_real`` +
  ``DATASET/1_fake`` with the data set's name as the family. Labels come from this layout;
  ``labels.jsonl`` is not needed. A folder named ``<family>@<group>`` (``vae@aligned-x``)
  holds that family's images from one source group, and ``real@<group>`` (with a
  ``0_real`` inside) one source of real images.

Every sample belongs to a **group**: where it came from (a real-photo source, a render
kind, the fakes aligned with one source's photos). Leave-sources-out evaluation holds
groups out of training and calibration (:func:`without_groups`); a group named
``aligned-<source>`` is held out with ``<source>``, since its fakes share that source's
content.

Files are found with :func:`generators.data.find_image_files` (same suffixes, same hidden
file rules as the generators) and decoded once through :mod:`provenance.media`; broken
files are skipped and named in one warning. The train / val / calib split is a function of
each file's content hash, so it is the same on every machine and run, and an image that
appears twice (say under two families' ``0_real``) can never sit on both sides of it.
Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.augment import AugmentConfig, augment
from detectors.spec import REAL_CLASS, UNKNOWN_FAMILY
from detectors.tiles import min_side
from generators.layout import FAKE_SUBDIR, REAL_SUBDIR
from provenance.errors import DataError, InputError
from provenance.files import find_image_files

SPLITS = ("train", "val", "calib")
# Decoded pixels kept in memory: a corpus of large photos decoded again for every training
# view would make the JPEG decoder the bottleneck.
DEFAULT_CACHE_BYTES = 6 << 30


class SkippedFilesWarning(UserWarning):
    """Some files of the detector data could not be used and were left out."""


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int  # 0 real, 1 generated
    family: str | None
    sha256: str
    format: str
    split: str
    group: str = ""


@dataclass
class DetectorData:
    samples: list[Sample]
    families: list[str]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    _cache: dict[Path, np.ndarray] = field(default_factory=dict, repr=False)

    def split(self, *names: str) -> list[Sample]:
        return [sample for sample in self.samples if sample.split in names]

    def pixels(self, sample: Sample) -> np.ndarray:
        cached = self._cache.get(sample.path)
        return cached if cached is not None else _decode(sample.path)

    def groups(self, label: int | None = None) -> list[str]:
        """The source groups, sorted (of one class when ``label`` is given)."""
        return sorted({s.group for s in self.samples if label is None or s.label == label})

    def without_groups(self, groups: list[str] | tuple[str, ...]) -> DetectorData:
        """The data set with ``groups`` and the fakes aligned with them left out entirely."""
        from dataclasses import replace

        dropped = held_out_groups(groups)
        kept = [s for s in self.samples if s.group not in dropped]
        families = sorted({str(s.family) for s in kept if s.label == 1})
        return replace(self, samples=kept, families=families)

    def class_id(self, sample: Sample) -> int:
        return 0 if sample.label == 0 else 1 + self.families.index(str(sample.family))

    @property
    def digest(self) -> str:
        """sha256 over (content sha256, label, family) of every sample, order-independent."""
        lines = sorted(f"{s.sha256} {s.label} {s.family or ''}" for s in self.samples)
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    def summary(self) -> dict[str, Any]:
        counts: dict[str, dict[str, int]] = {}
        for sample in self.samples:
            key = REAL_CLASS if sample.label == 0 else str(sample.family)
            counts.setdefault(key, Counter())[sample.split] += 1
        return {
            "images": len(self.samples),
            "families": self.families,
            "counts": {key: dict(value) for key, value in counts.items()},
            "formats": self.format_table(),
            "skipped": len(self.skipped),
            "digest": self.digest,
        }

    def format_table(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {"real": Counter(), "fake": Counter()}
        for sample in self.samples:
            table["fake" if sample.label else "real"][sample.format] += 1
        return {key: dict(value) for key, value in table.items()}

    def format_warning(self) -> str | None:
        """A sentence when the container format alone would separate the classes."""
        table = self.format_table()
        real, fake = set(table["real"]), set(table["fake"])
        if real and fake and not (real & fake):
            return (
                f"real images are all {'/'.join(sorted(real))} and generated ones all "
                f"{'/'.join(sorted(fake))}: the format is a shortcut; training re-encodes "
                "both classes the same way, and `evaluate --format-check` measures what is left."
            )
        return None


def split_of(sha256: str, val_fraction: float, calib_fraction: float) -> str:
    position = int(sha256[:12], 16) / float(1 << 48)
    if position < val_fraction:
        return "val"
    if position < val_fraction + calib_fraction:
        return "calib"
    return "train"


def _decode(path: Path) -> np.ndarray:
    from provenance.media import decode_image, read_media

    media = read_media(path)
    return np.asarray(decode_image(media.data, media.name, "RGB"), dtype=np.uint8)


def parse_fake(value: str) -> tuple[str | None, Path]:
    """``family=DIR`` or ``DIR``."""
    name, sep, rest = value.partition("=")
    if sep and name and "/" not in name and "\\" not in name:
        return name, Path(rest)
    return None, Path(value)


Source = tuple[int, str | None, Path, str]
ALIGNED_PREFIX = "aligned-"


def split_group_name(name: str) -> tuple[str, str]:
    """``family@group`` -> (family, group); a plain name is its own family and group."""
    family, sep, group = name.partition("@")
    return (family, group) if sep and family and group else (name, name)


def held_out_groups(groups: list[str] | tuple[str, ...]) -> set[str]:
    """The groups leaving ``groups`` out removes: each one and the fakes aligned with it."""
    return {name for group in groups for name in (group, f"{ALIGNED_PREFIX}{group}")}


def dataset_sources(root: Path) -> list[Source]:
    """(label, family, folder, group) of a generator / CNNDetection data set."""
    if not root.is_dir():
        raise DataError(f"The data set {root} is not a folder.")
    sources: list[Source] = []
    for folder in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        if folder.name.startswith("."):
            continue
        family, group = split_group_name(root.name if folder == root else folder.name)
        if (folder / REAL_SUBDIR).is_dir():
            # A real folder beside a family's fakes (what `generators` writes) is the real
            # half of that family's data set; its group is still "real" photos.
            real_group = group if family == REAL_CLASS or group != family else REAL_CLASS
            sources.append((0, None, folder / REAL_SUBDIR, real_group))
        if (folder / FAKE_SUBDIR).is_dir():
            sources.append((1, family, folder / FAKE_SUBDIR, group))
    if not sources:
        raise DataError(
            f"{root} has no 0_real or 1_fake folders; a data set is laid out as "
            "DATASET/<family>/0_real and DATASET/<family>/1_fake (pass plain folders with "
            "--real and --fake instead)."
        )
    return sources


def scan(
    real: list[Path] | tuple[Path, ...] = (),
    fake: list[str] | tuple[str, ...] = (),
    datasets: list[Path] | tuple[Path, ...] = (),
    *,
    image_size: int = 64,
    val_fraction: float = 0.15,
    calib_fraction: float = 0.15,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
) -> DetectorData:
    sources: list[Source] = [(0, None, Path(p), Path(p).resolve().name) for p in real]
    for value in fake:
        family, folder = parse_fake(str(value))
        name = family or Path(folder).resolve().name
        sources.append((1, name, folder, name))
    for root in datasets:
        sources.extend(dataset_sources(Path(root)))
    if not sources:
        raise DataError("No data given; pass --real and --fake folders or a --dataset.")
    samples: list[Sample] = []
    skipped: list[tuple[Path, str]] = []
    cache: dict[Path, np.ndarray] = {}
    cached_bytes = 0
    seen: set[tuple[Path, int, str | None]] = set()
    for label, family, folder, group in sources:
        if family in (REAL_CLASS, UNKNOWN_FAMILY):
            raise DataError(f"{family!r} cannot name a generator family; rename {folder}.")
        if not folder.is_dir():
            raise DataError(f"The image folder {folder} does not exist.")
        files = find_image_files(folder)
        if not files:
            raise DataError(f"The image folder {folder} holds no images.")
        for path in files:
            key = (path.resolve(), label, family)
            if key in seen:
                continue
            seen.add(key)
            try:
                from provenance.media import decode_image, read_media

                media = read_media(path)
                pixels = np.asarray(decode_image(media.data, media.name, "RGB"), dtype=np.uint8)
            except InputError as exc:
                skipped.append((path, str(exc)))
                continue
            if min(pixels.shape[:2]) < min_side(image_size):
                skipped.append((path, f"smaller than {min_side(image_size)} px"))
                continue
            if cached_bytes + pixels.nbytes <= cache_bytes:
                cache[path] = pixels
                cached_bytes += pixels.nbytes
            sha = hashlib.sha256(media.data).hexdigest()
            samples.append(
                Sample(
                    path,
                    label,
                    family,
                    sha,
                    media.format,
                    split_of(sha, val_fraction, calib_fraction),
                    group,
                )
            )
    if skipped:
        names = ", ".join(str(path) for path, _ in skipped[:10])
        warnings.warn(
            f"Skipped {len(skipped)} file(s) that cannot be used: {names}.",
            SkippedFilesWarning,
            stacklevel=2,
        )
    families = sorted({str(s.family) for s in samples if s.label == 1})
    return DetectorData(samples, families, skipped, cache)


def balanced_indices(
    data: DetectorData, samples: list[Sample], count: int, seed: int, epoch: int
) -> np.ndarray:
    """``count`` sample indices drawn with replacement, half real and half generated.

    The generated half is split equally over the families, so a family with ten times
    more images does not become ten times more of what "generated" means. The real half is
    split over the real sources (groups) in proportion to the square root of their sizes:
    one large source cannot become what "real" means, and a source of five photos is not
    repeated as often as one of five hundred.
    """
    labels = np.array([s.label for s in samples])
    if not (labels == 0).any() or not (labels == 1).any():
        raise DataError("Training needs both real and generated images in the training split.")
    families: dict[str, list[int]] = {}
    sources: dict[str, list[int]] = {}
    for index, sample in enumerate(samples):
        if sample.label == 0:
            sources.setdefault(sample.group, []).append(index)
        else:
            families.setdefault(str(sample.family), []).append(index)
    weights = np.zeros(len(samples))
    for members in families.values():
        weights[members] = 0.5 / len(families) / len(members)
    roots = {name: np.sqrt(len(members)) for name, members in sources.items()}
    for name, members in sources.items():
        weights[members] = 0.5 * roots[name] / sum(roots.values()) / len(members)
    rng = np.random.default_rng([seed, epoch, 0xBA1])
    return rng.choice(len(samples), size=count, replace=True, p=weights / weights.sum())


@dataclass
class TrainingViews:
    """Map-style data set of one epoch's augmented views, in the order to train on.

    Item ``k`` is a view of ``samples[order[k]]`` drawn from ``rng([seed, epoch, k])``: a
    pure function of its arguments, so DataLoader worker count never changes a run.
    """

    data: DetectorData
    samples: list[Sample]
    image_size: int
    augment: AugmentConfig
    order: np.ndarray
    seed: int = 0
    epoch: int = 0

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, position: int) -> tuple[np.ndarray, int, int]:
        sample = self.samples[int(self.order[position])]
        rng = np.random.default_rng([self.seed, self.epoch, position])
        view = augment(self.data.pixels(sample), self.image_size, rng, self.augment)
        image = (view.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1).copy()
        return image, sample.label, self.data.class_id(sample)
