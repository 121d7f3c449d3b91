"""The AI-origin signal: an exported detector on onnxruntime (no torch in the service)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from detectors.inference import ImageTooSmallError, Scorer, open_scorer
from service.metrics import DETECTOR_BATCH, DETECTOR_LATENCY

# Where `provaudit pipeline` puts the shipped default detector.
BUNDLED_DETECTOR = Path(__file__).resolve().parents[1] / "detectors" / "weights" / "default"


class DetectorSignal:
    """Scores one decoded image; a detector checkpoint with its ONNX export, loaded once."""

    def __init__(self, checkpoint: Path) -> None:
        self.scorer: Scorer = open_scorer(checkpoint, backend="onnx")
        self.model_id = f"{self.scorer.spec.arch}/{self.scorer.spec.transform}@{checkpoint.name}"
        self.threshold = self.scorer.spec.threshold
        # onnxruntime sessions are thread-safe, but one batch at a time keeps 2 cores busy
        # without oversubscribing them.
        self._lock = threading.Lock()

    def score(self, image: Any) -> dict[str, Any] | None:
        pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
        start = time.perf_counter()
        try:
            with self._lock:
                scores = self.scorer.score_pixels([pixels])
        except ImageTooSmallError:
            return None
        DETECTOR_LATENCY.observe(time.perf_counter() - start)
        DETECTOR_BATCH.observe(1)
        verdict = self.scorer.verdict(
            float(scores.logits[0]), scores.attribution[0], int(scores.tiles[0])
        )
        return {**verdict, "model_id": self.model_id}


def load_detector(path: Path | None) -> DetectorSignal | None:
    """The configured detector, else the bundled one when it ships; None when neither."""
    if path is not None:
        return DetectorSignal(path)
    if (BUNDLED_DETECTOR / "config.json").is_file():
        return DetectorSignal(BUNDLED_DETECTOR)
    return None
