"""The numpy/ONNX scorers: tiles in, calibrated verdicts with their reasons out.

This is the serving path: numpy, Pillow and onnxruntime, never torch (the torch scorer,
``detectors.model.TorchScorer``, subclasses :class:`Scorer`).

Tiling policy (images of any size): a detector looks for pixel-level traces, which any
resize destroys or invents, so images are never resized. An image is cut into
tiles at native resolution (``detectors.tiles``). The image's logits are the mean of its
tiles' logits (averaging log-odds rather than taking the max keeps the false-positive
rate of large real photos near the calibrated one).

Abstention: a moderation tool's worst error is calling a real photo AI, and a score is
worth acting on only where it is stable. :meth:`Scorer.assess` therefore also scores each
image after the small re-encodes the web applies routinely (JPEG q90 with 4:2:0 chroma,
and a 0.75x downscale for images large enough to stay several tiles wide) and answers
``inconclusive``, with its reason, when any of them flips the verdict (an "ai" one that
a re-encode sends below even odds, a "real" one that a re-encode sends above the
threshold), when an "ai"
verdict rests on a minority of the image's tiles (a few tiles pulling the mean up), or
when an "ai" verdict comes from an image whose features are far from the training data's
(``detectors.ood``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detectors.spec import DEFAULT_MAX_TILES, REAL_CLASS, UNKNOWN_FAMILY, DetectorSpec
from detectors.tiles import EVEN_ODDS, cut_tiles, mean_rows, normalise_tiles, sigmoid, softmax
from provenance.errors import ProvauditError

DEFAULT_BATCH_SIZE = 256
STABILITY_JPEG_QUALITY = 90
STABILITY_DOWNSCALE = 0.75
# The downscale check needs an image that stays this many tiles across once shrunk; a
# smaller one would be judged on padding.
STABILITY_DOWNSCALE_MIN_TILES = 4
# An "ai" verdict needs at least this share of the scored tiles above the threshold.
MIN_AI_TILE_SHARE = 0.5
# Below this many tiles, the tile share says nothing.
MIN_TILES_FOR_SHARE = 4
INCONCLUSIVE = "inconclusive"


class BackendError(ProvauditError):
    code = "backend_unavailable"


@dataclass(frozen=True)
class ImageScore:
    """One image's raw outputs: what a verdict is made from."""

    logit: float
    attribution: np.ndarray
    tiles: int
    ai_tile_share: float | None = None
    ood_distance: float | None = None


@dataclass
class Scores:
    """Per-image raw outputs (tile-averaged, before temperature)."""

    logits: np.ndarray
    attribution: np.ndarray
    tiles: np.ndarray
    # Per image, the share of its tiles whose own score is above the threshold.
    ai_tile_share: np.ndarray | None = None
    # Per image, its distance from the training data (``detectors.ood``), when fitted.
    ood_distance: np.ndarray | None = None

    def image(self, index: int) -> ImageScore:
        return ImageScore(
            float(self.logits[index]),
            self.attribution[index],
            int(self.tiles[index]),
            None if self.ai_tile_share is None else float(self.ai_tile_share[index]),
            None if self.ood_distance is None else float(self.ood_distance[index]),
        )


@dataclass(frozen=True)
class Decision:
    label: str  # "ai", "real" or "inconclusive"
    reason: str | None = None


def stability_variants(pixels: np.ndarray, image_size: int) -> list[tuple[str, np.ndarray]]:
    """The small re-encodes an image is checked under: (name, pixels)."""
    from detectors.imageops import downscale, jpeg_roundtrip

    variants = [(f"JPEG q{STABILITY_JPEG_QUALITY}", jpeg_roundtrip(pixels, STABILITY_JPEG_QUALITY))]
    shrunk_side = min(pixels.shape[:2]) * STABILITY_DOWNSCALE
    if shrunk_side >= STABILITY_DOWNSCALE_MIN_TILES * image_size:
        variants.append(
            (f"a {STABILITY_DOWNSCALE}x downscale", downscale(pixels, STABILITY_DOWNSCALE))
        )
    return variants


def decide(
    p_ai: float,
    threshold: float,
    variants: list[tuple[str, float]] | tuple[()] = (),
    ai_tile_share: float | None = None,
    tiles: int = 1,
    ood: tuple[float, float] | None = None,
) -> Decision:
    """The verdict, or ``inconclusive`` with the reason a moderator can read.

    ``ood`` is (distance, threshold) from ``detectors.ood``: an "ai" verdict on an image
    unlike the training data is an extrapolation, so it is not given. A "real" verdict
    there stands (it accuses no one); the distance is reported with it.
    """
    called_ai = p_ai > threshold
    # An "ai" verdict is withdrawn when a re-encode makes the image more likely real than
    # generated (or drops it below a threshold that sits under even odds); a "real" one
    # when a re-encode would accuse. A re-encode that only lowers a confident score into
    # the band between even odds and a strict threshold contradicts nothing.
    withdraw_below = min(threshold, EVEN_ODDS)
    for name, p_variant in variants:
        flipped = p_variant <= withdraw_below if called_ai else p_variant > threshold
        if flipped:
            return Decision(
                INCONCLUSIVE,
                f"the verdict flips under a small re-encode: p(AI) {p_ai:.3f} as sent, "
                f"{p_variant:.3f} after {name} (threshold {threshold:.3f})",
            )
    if (
        called_ai
        and ai_tile_share is not None
        and tiles >= MIN_TILES_FOR_SHARE
        and ai_tile_share < MIN_AI_TILE_SHARE
    ):
        return Decision(
            INCONCLUSIVE,
            f"only {ai_tile_share:.0%} of the {tiles} tiles scored look generated; the "
            "image's score rests on a few of them",
        )
    if called_ai and ood is not None and ood[0] > ood[1]:
        return Decision(
            INCONCLUSIVE,
            f"the image is unlike the detector's training data (feature distance "
            f"{ood[0]:.2f} > {ood[1]:.2f}), so its score is an extrapolation",
        )
    return Decision("ai" if called_ai else "real")


class Scorer:
    """Tiling, batching and aggregation; subclasses only run a batch of tiles."""

    backend = "none"

    def __init__(
        self,
        spec: DetectorSpec,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_tiles: int = DEFAULT_MAX_TILES,
    ) -> None:
        self.spec = spec
        self.batch_size = batch_size
        self.max_tiles = max_tiles

    def forward(self, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def forward_features(
        self, tiles: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """As :meth:`forward`, plus the tiles' features where the model exposes them."""
        logit, attribution = self.forward(tiles)
        return logit, attribution, None

    def _forward_tiles(
        self, tile_sets: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Per tile of all tile sets, batched: (owner index, logit, attribution, features)."""
        counts = np.array([len(tiles) for tiles in tile_sets], dtype=np.int64)
        tiles = normalise_tiles(np.concatenate(tile_sets))
        logits, attribution, features = [], [], []
        for start in range(0, len(tiles), self.batch_size):
            logit, attr, feature = self.forward_features(tiles[start : start + self.batch_size])
            logits.append(logit.reshape(-1))
            attribution.append(attr.reshape(len(logits[-1]), -1))
            if feature is not None:
                features.append(feature.reshape(len(logits[-1]), -1))
        owner = np.repeat(np.arange(len(tile_sets)), counts)
        tile_features = np.concatenate(features) if features else None
        return owner, np.concatenate(logits), np.concatenate(attribution), tile_features

    def cut(self, images: list[np.ndarray], names: list[str] | None = None) -> list[np.ndarray]:
        """The uint8 tiles each decoded uint8 HWC image is judged by."""
        size = self.spec.image_size
        return [
            cut_tiles(image, size, self.max_tiles, names[i] if names else "image")
            for i, image in enumerate(images)
        ]

    def score_pixels(self, images: list[np.ndarray], names: list[str] | None = None) -> Scores:
        """Raw scores of decoded uint8 HWC images (tiles of all images batched together)."""
        return self.score_tiles(self.cut(images, names))

    def score_tiles(self, tile_sets: list[np.ndarray]) -> Scores:
        """Raw scores of images given as their uint8 (T, size, size, 3) tiles."""
        classes = len(self.spec.classes)
        if not tile_sets:
            empty = np.zeros(0, np.int64)
            return Scores(np.zeros(0, np.float32), np.zeros((0, classes), np.float32), empty)
        owner, tile_logits, tile_attr, tile_features = self._forward_tiles(tile_sets)
        counts = np.bincount(owner)
        mean_logit = np.bincount(owner, weights=tile_logits) / counts
        mean_attr = mean_rows(tile_attr, owner)
        above = self.probabilities(tile_logits) > self.spec.threshold
        share = np.bincount(owner, weights=above.astype(np.float64)) / counts
        distance = None
        if tile_features is not None and self.spec.ood:
            from detectors.ood import ood_distance

            distance = ood_distance(self.spec.ood, mean_rows(tile_features, owner))
        return Scores(
            mean_logit.astype(np.float32), mean_attr.astype(np.float32), counts, share, distance
        )

    def image_features(self, images: list[np.ndarray]) -> np.ndarray:
        """Per image, the mean of its tiles' features (what ``detectors.ood`` measures)."""
        owner, _, _, tile_features = self._forward_tiles(self.cut(images))
        if tile_features is None:
            raise BackendError("This model does not expose its features.")
        return mean_rows(tile_features, owner)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated p(AI): temperature-scaled sigmoid of the raw logit."""
        return sigmoid(np.asarray(logits, dtype=np.float64) / self.spec.temperature)

    def verdict(
        self, score: ImageScore, variants: list[tuple[str, float]] | tuple[()] = ()
    ) -> dict[str, Any]:
        """The verdict dict of one image; ``variants`` are (name, raw logit) of its checks."""
        p_ai = float(self.probabilities(np.array([score.logit]))[0])
        threshold = self.spec.threshold
        variant_p = [
            (name, float(self.probabilities(np.array([value]))[0])) for name, value in variants
        ]
        ood_threshold = self.spec.ood.get("threshold") if self.spec.ood else None
        ood = (
            (score.ood_distance, float(ood_threshold))
            if score.ood_distance is not None and ood_threshold is not None
            else None
        )
        decision = decide(p_ai, threshold, variant_p, score.ai_tile_share, score.tiles, ood)
        shown = "ai" if p_ai > threshold else "real"
        share = score.ai_tile_share
        return {
            "p_ai": round(p_ai, 6),
            "label": decision.label,
            "reason": decision.reason,
            "threshold": round(threshold, 6),
            "attribution": attribute(self.spec, score.attribution, shown),
            "tiles": score.tiles,
            "checks": {
                "ai_tile_share": None if share is None else round(share, 4),
                "variants": [{"name": name, "p_ai": round(p, 6)} for name, p in variant_p],
                "ood_distance": None if ood is None else round(ood[0], 4),
                "ood_threshold": None if ood is None else round(ood[1], 4),
            },
        }

    def assess(
        self, images: list[np.ndarray], names: list[str] | None = None, *, checks: bool = True
    ) -> list[dict[str, Any]]:
        """Verdicts of decoded images, each checked under :func:`stability_variants`.

        Originals and variants are scored in one batch; ``checks=False`` scores the
        originals alone (the tile-share rule still applies).
        """
        names = names or [f"image {k}" for k in range(len(images))]
        batch, owners, labels = list(images), list(range(len(images))), list(names)
        variant_names: list[str] = []
        if checks:
            for index, pixels in enumerate(images):
                for name, variant in stability_variants(pixels, self.spec.image_size):
                    batch.append(variant)
                    owners.append(index)
                    labels.append(names[index])
                    variant_names.append(name)
        scores = self.score_pixels(batch, labels)
        per_image: list[list[tuple[str, float]]] = [[] for _ in images]
        for position in range(len(images), len(batch)):
            per_image[owners[position]].append(
                (variant_names[position - len(images)], float(scores.logits[position]))
            )
        return [self.verdict(scores.image(k), per_image[k]) for k in range(len(images))]


def attribute(spec: DetectorSpec, logits: np.ndarray, label: str) -> dict[str, Any]:
    """Which generator family made an image judged "ai".

    For a "real" verdict the attribution is "real". For an "ai" verdict (and an
    inconclusive one whose score is above the threshold) it is the known
    family with the highest probability in the attribution head's softmax over
    ``[real, *families]``, provided that probability reaches ``attribution_threshold``
    (default 0.5); otherwise "unknown": a generator not seen in training, or one the head
    cannot tell apart. ``probs`` always carries the whole softmax.
    """
    probs = softmax(np.asarray(logits, dtype=np.float64))
    if label == "real":
        name, confidence = REAL_CLASS, float(probs[0])
    elif len(probs) > 1:
        top = 1 + int(np.argmax(probs[1:]))
        confidence = float(probs[top])
        confident = confidence >= spec.attribution_threshold
        name = spec.classes[top] if confident else UNKNOWN_FAMILY
    else:
        name, confidence = UNKNOWN_FAMILY, 0.0
    return {
        "label": name,
        "confidence": round(confidence, 6),
        "probs": {cls: round(float(p), 6) for cls, p in zip(spec.classes, probs, strict=True)},
    }


class OnnxScorer(Scorer):
    backend = "onnxruntime"

    def __init__(
        self, spec: DetectorSpec, onnx_path: Path | bytes, threads: int = 0, **kw: int
    ) -> None:
        """``onnx_path`` is the exported graph's file, or the graph itself (an export held
        in memory, as calibration scores a model it is still changing)."""
        super().__init__(spec, **kw)
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendError(
                "onnxruntime is not installed; install provaudit with its serving "
                "dependencies or pass --backend torch."
            ) from None
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            onnx_path if isinstance(onnx_path, bytes) else str(onnx_path),
            options,
            providers=["CPUExecutionProvider"],
        )
        self.input_name = self.session.get_inputs()[0].name
        # Exports since the feature-distance check have a third output, the features.
        self.has_features = len(self.session.get_outputs()) >= 3

    def forward(self, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logit, attribution, _ = self.forward_features(tiles)
        return logit, attribution

    def forward_features(
        self, tiles: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        outputs = self.session.run(None, {self.input_name: tiles})
        features = np.asarray(outputs[2]) if self.has_features else None
        return np.asarray(outputs[0]), np.asarray(outputs[1]), features
