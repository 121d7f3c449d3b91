"""The AI-origin signal: an exported detector on onnxruntime (no torch in the service)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detectors.checkpoint import BUNDLED_DETECTOR
from detectors.detect import open_scorer
from detectors.inference import Scorer
from detectors.regions import image_tiles_of, stability_tile_sets
from detectors.tiles import min_side
from service.batching import MicroBatcher
from service.metrics import DETECTOR_BATCH, DETECTOR_LATENCY


def _record_batch(size: int, seconds: float) -> None:
    DETECTOR_BATCH.observe(size)
    DETECTOR_LATENCY.observe(seconds)


class DetectorSignal:
    """Scores decoded images with an exported detector, loaded once, micro-batched."""

    def __init__(self, checkpoint: Path, *, max_batch: int = 32, max_wait_s: float = 0.004) -> None:
        self.scorer: Scorer = open_scorer(checkpoint, backend="onnx")
        self.model_id = f"{self.scorer.spec.arch}/{self.scorer.spec.transform}@{checkpoint.name}"
        self.threshold = self.scorer.spec.threshold
        self.batcher = MicroBatcher(
            self.scorer, max_batch=max_batch, max_wait_s=max_wait_s, on_batch=_record_batch
        )

    def score(self, image: Any, timeout_s: float = 30.0) -> dict[str, Any] | None:
        """The detector's verdict, or None for an image too small to judge.

        The image's tiles and its stability variants' tiles (computed region by region,
        ``detectors.regions``: a large upload is never copied whole) go through the
        micro-batcher together; a verdict that a variant flips comes back
        ``inconclusive`` with its reason.
        """
        spec = self.scorer.spec
        if min(image.size) < min_side(spec.image_size):
            return None
        tiles = image_tiles_of(image, spec.image_size, self.scorer.max_tiles)
        original = self.batcher.submit(tiles)
        checks = [
            (name, self.batcher.submit(variant))
            for name, variant in stability_tile_sets(image, spec.image_size, self.scorer.max_tiles)
        ]
        score = original.result(timeout=timeout_s)
        variants = [(name, future.result(timeout=timeout_s).logit) for name, future in checks]
        return {**self.scorer.verdict(score, variants), "model_id": self.model_id}

    def close(self) -> None:
        self.batcher.close()


def load_detector(path: Path | None) -> DetectorSignal | None:
    """The configured detector, else the bundled one when it ships; None when neither."""
    if path is not None:
        return DetectorSignal(path)
    if (BUNDLED_DETECTOR / "config.json").is_file():
        return DetectorSignal(BUNDLED_DETECTOR)
    return None
