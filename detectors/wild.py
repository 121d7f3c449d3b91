"""How a detector fares outside the lab: images from sources it never trained on, served
the way the web serves them.

A figure measured on the training distribution says little about false accusations: a
detector of real photos from six pictures learns "looks like those six pictures". Here
each image is scored as it arrived and as the web would serve it (:func:`served_variants`:
downscaled to a long edge of 512-1024 px, then JPEG q75-90 with 4:2:0 chroma or WebP), and
every outcome counts: called AI, inconclusive (the detector abstains, see
``detectors.inference.decide``) or real.

:func:`leave_sources_out` is the honest version for the real class: the real-photo
sources are split into folds, and each fold's sources (with the fakes aligned with them)
are left out of training *and* calibration, then scored.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from detectors.imageops import VARIANTS, served_variants
from detectors.inference import INCONCLUSIVE, Scorer

# The goals a moderation deployment holds the default detector to.
MAX_AI_ON_REAL_PHOTOS = 0.02
MAX_INCONCLUSIVE_ON_REAL_PHOTOS = 0.15
MAX_AI_ON_HUMAN_MADE = 0.05


@dataclass
class Outcomes:
    """How often each verdict was given, over ``images`` images."""

    images: int = 0
    ai: int = 0
    inconclusive: int = 0
    real: int = 0
    # The few images called AI, for a reader to look at.
    called_ai: list[str] = field(default_factory=list)

    def add(self, label: str, name: str) -> None:
        self.images += 1
        if label == "ai":
            self.ai += 1
            if len(self.called_ai) < 10:
                self.called_ai.append(name)
        elif label == INCONCLUSIVE:
            self.inconclusive += 1
        else:
            self.real += 1

    @classmethod
    def merged(cls, outcomes: list[Outcomes]) -> Outcomes:
        total = cls()
        for outcome in outcomes:
            total.images += outcome.images
            total.ai += outcome.ai
            total.inconclusive += outcome.inconclusive
            total.real += outcome.real
            total.called_ai.extend(outcome.called_ai[: 10 - len(total.called_ai)])
        return total

    @property
    def ai_rate(self) -> float:
        return self.ai / self.images if self.images else float("nan")

    @property
    def inconclusive_rate(self) -> float:
        return self.inconclusive / self.images if self.images else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "ai_rate": round(self.ai_rate, 4) if self.images else None,
            "inconclusive_rate": round(self.inconclusive_rate, 4) if self.images else None,
        }


@dataclass
class SourceResult:
    source: str
    checkpoint: str
    variants: dict[str, Outcomes]

    @property
    def overall(self) -> Outcomes:
        return Outcomes.merged(list(self.variants.values()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "checkpoint": self.checkpoint,
            "overall": self.overall.to_dict(),
            "variants": {name: value.to_dict() for name, value in self.variants.items()},
        }


def score_source(
    scorer: Scorer,
    source: str,
    images: list[tuple[str, np.ndarray]],
    *,
    checkpoint: str = "",
    checks: bool = True,
    chunk: int = 16,
) -> SourceResult:
    """Outcomes of ``images`` (name, pixels) as sent and as served, with abstention."""
    variants = {name: Outcomes() for name in VARIANTS}
    for start in range(0, len(images), chunk):
        batch: list[np.ndarray] = []
        owners: list[tuple[str, str]] = []
        for name, pixels in images[start : start + chunk]:
            for variant, served in served_variants(pixels, f"{source}/{name}").items():
                batch.append(served)
                owners.append((variant, name))
        for (variant, name), verdict in zip(
            owners, scorer.assess(batch, [n for _, n in owners], checks=checks), strict=True
        ):
            variants[variant].add(verdict["label"], name)
    return SourceResult(source, checkpoint, variants)


def unseen_sources(
    scorer: Scorer, folders: list[Path], *, limit: int = 0, checks: bool = True
) -> dict[str, Any]:
    """Outcomes per folder (one source each, named after it) of images never trained on."""
    from provenance.errors import DataError, InputError
    from provenance.files import find_image_files
    from provenance.media import load_image

    results: dict[str, Any] = {}
    for folder in folders:
        paths = find_image_files(Path(folder))
        if not paths:
            raise DataError(f"The image folder {folder} holds no images.")
        if limit and len(paths) > limit:
            picks = np.unique(np.linspace(0, len(paths) - 1, limit).round().astype(int))
            paths = [paths[i] for i in picks]
        images = []
        for path in paths:
            try:
                pixels = np.asarray(load_image(path, mode="RGB"), dtype=np.uint8)
            except InputError:
                continue
            if min(pixels.shape[:2]) >= scorer.spec.image_size:
                images.append((path.name, pixels))
        source = Path(folder).resolve().name
        results[source] = score_source(scorer, source, images, checks=checks).to_dict()
    worst = max(
        (r["overall"]["ai_rate"] for r in results.values() if r["overall"]["images"]), default=None
    )
    return {
        "sources": results,
        "goals": {
            "max_ai_rate": MAX_AI_ON_HUMAN_MADE,
            "worst_ai_rate": worst,
            "met": worst is not None and worst <= MAX_AI_ON_HUMAN_MADE,
        },
    }


def source_folds(sources: list[str], folds: int) -> list[list[str]]:
    """``sources`` dealt round-robin into ``folds`` folds (fewer when there are fewer)."""
    count = max(1, min(folds, len(sources)))
    return [sorted(sources)[k::count] for k in range(count)]


def leave_sources_out(
    data: Any,
    config: Any,
    out_dir: Path | str,
    *,
    sources: list[str] | None = None,
    folds: int = 3,
    only_folds: list[int] | None = None,
    fuse_transforms: list[str] | None = None,
    checks: bool = True,
    quiet: bool = True,
) -> dict[str, Any]:
    """Train with each fold of real sources left out, then score those sources' images.

    ``sources`` default to every group of real images. A fold's checkpoint is kept under
    ``OUT/without-<fold>`` and reused when it records the same data and configuration, so
    an interrupted run resumes. ``only_folds`` (0-based) runs some folds, the others
    untouched; their sources are then absent from the record.
    """
    from detectors.onnx_export import checkpoint_scorer
    from detectors.train import train, train_fused, trained_already
    from provenance.errors import DataError

    real_groups = data.groups(label=0)
    sources = sources or real_groups
    unknown = sorted(set(sources) - set(real_groups))
    if unknown:
        raise DataError(f"No real images come from {', '.join(unknown)}.")
    if len(real_groups) - len(sources) < 1 and folds < 2:
        raise DataError("Leaving sources out needs other real sources to train on.")
    dealt = source_folds(sources, folds)
    outside = sorted(set(only_folds or []) - set(range(len(dealt))))
    if outside:
        raise DataError(f"No fold {outside[0]}: the sources were dealt into {len(dealt)} fold(s).")
    out_dir = Path(out_dir)
    results: dict[str, Any] = {}
    fold_records: list[dict[str, Any]] = []
    for index, held_out in enumerate(dealt):
        if only_folds and index not in only_folds:
            continue
        subset = data.without_groups(held_out)
        if not subset.groups(label=0):
            raise DataError(f"Leaving out {', '.join(held_out)} leaves no real images to train on.")
        checkpoint = out_dir / f"without-fold{index}"
        fold_config = replace(config, output=checkpoint)
        if fuse_transforms:
            train_fused(subset, fold_config, fuse_transforms, quiet=quiet)
        elif not trained_already(checkpoint, subset, fold_config):
            train(subset, fold_config, quiet=quiet)
        scorer = checkpoint_scorer(checkpoint)
        fold_records.append(
            {
                "checkpoint": str(checkpoint),
                "held_out": held_out,
                "threshold": round(scorer.spec.threshold, 6),
            }
        )
        for source in held_out:
            images = [
                (sample.path.name, data.pixels(sample))
                for sample in data.samples
                if sample.label == 0 and sample.group == source
            ]
            result = score_source(scorer, source, images, checkpoint=str(checkpoint), checks=checks)
            results[source] = result.to_dict()
    worst_ai = max((r["overall"]["ai_rate"] for r in results.values()), default=None)
    worst_inconclusive = max(
        (r["overall"]["inconclusive_rate"] for r in results.values()), default=None
    )
    return {
        "folds": fold_records,
        "sources": results,
        "counts": dict(Counter(s.group for s in data.samples if s.label == 0)),
        "goals": {
            "max_ai_rate": MAX_AI_ON_REAL_PHOTOS,
            "max_inconclusive_rate": MAX_INCONCLUSIVE_ON_REAL_PHOTOS,
            "worst_ai_rate": worst_ai,
            "worst_inconclusive_rate": worst_inconclusive,
            "met": worst_ai is not None
            and worst_ai <= MAX_AI_ON_REAL_PHOTOS
            and worst_inconclusive is not None
            and worst_inconclusive <= MAX_INCONCLUSIVE_ON_REAL_PHOTOS,
        },
    }
