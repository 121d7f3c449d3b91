"""The per-image stage: everything a report needs from one file, computed once.

It is a pure map from a batch of paths to a batch of columns (numpy arrays), so the same
code runs in this process or as a Ray Data ``map_batches`` step; every aggregate is then
computed from these columns alone.

Per image: format, size, colour mode, bytes; a digest of the decoded RGB pixels (exact
duplicates survive re-encoding, which file hashes do not); PDQ, pHash and the pHash of the
central 95 %; the quality statistics behind the dark / over-bright / blurry /
low-information flags; the C2PA state and AI declaration (and IPTC's, which nothing binds
to the pixels); small colour/texture features for the attribute classifier; and, with a
detector, its calibrated p(AI) and verdict from the onnxruntime path (no torch).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from provenance.errors import ProvauditError
from service.bias.privacy import (
    PRIVACY_BOOL_COLUMNS,
    PRIVACY_DEFAULTS,
    PRIVACY_STRING_COLUMNS,
    FaceFinder,
    image_privacy,
    training_privacy,
)

# Quality statistics are computed on a copy whose longest side is at most this, so a 50 Mpx
# photo costs what a 512 px one does (and blur is judged at a common scale).
QUALITY_MAX_SIDE = 512
FEATURE_GRID = 8
FEATURE_LENGTH = FEATURE_GRID * FEATURE_GRID * 3 + 7
# The near-duplicate check's layout: 8x8 luma means, one byte each.
LAYOUT_GRID = 8
STRING_COLUMNS = (
    "path",
    "error",
    "format",
    "mode",
    "digest",
    "pdq",
    "phash",
    "phash_centre",
    "c2pa_state",
    "declared_family",
    "score_error",
    *PRIVACY_STRING_COLUMNS,
)


def luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma in [0, 1] of an HxWx3 uint8 image."""
    pixels = rgb.astype(np.float32) / 255.0
    return pixels[..., 0] * 0.299 + pixels[..., 1] * 0.587 + pixels[..., 2] * 0.114


def quality_stats(rgb: np.ndarray) -> tuple[float, float, float]:
    """Mean luma, sharpness and luma entropy (the definitions the report shows)."""
    y = luma(rgb)
    brightness = float(y.mean())
    levels = np.clip(np.rint(y * 255.0), 0, 255).astype(np.int64)
    histogram = np.bincount(levels.ravel(), minlength=256).astype(np.float64)
    p = histogram[histogram > 0] / histogram.sum()
    entropy = float(-(p * np.log2(p)).sum())
    # Contrast-stretched first, so a dark but sharp photo is not called blurry: the
    # 1st-99th percentile span becomes 0-255, then the 4-neighbour Laplacian's variance.
    low, high = np.percentile(y * 255.0, [1, 99])
    if high - low < 1.0 or min(y.shape) < 3:
        return brightness, 0.0, entropy
    g = np.clip((y * 255.0 - low) / (high - low), 0.0, 1.0) * 255.0
    laplacian = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4.0 * g[1:-1, 1:-1]
    return brightness, float(laplacian.var()), entropy


def features(image: Any) -> np.ndarray:
    """Colour layout (8x8 RGB means) + channel means/stds + edge energy, in [0, ~1]."""
    from PIL import Image

    small = np.asarray(image.resize((FEATURE_GRID, FEATURE_GRID), Image.Resampling.BOX))
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    y = luma(np.asarray(image))
    edges = 0.0
    if min(y.shape) > 1:
        edges = float(np.abs(np.diff(y, axis=0)).mean() + np.abs(np.diff(y, axis=1)).mean())
    return np.concatenate(
        [
            small.astype(np.float32).ravel() / 255.0,
            pixels.reshape(-1, 3).mean(0),
            pixels.reshape(-1, 3).std(0),
            [edges],
        ]
    ).astype(np.float32)


def layout(image: Any) -> np.ndarray:
    """The picture's coarse layout: luma means over an 8x8 grid, 0-255 (the near-duplicate
    search's second opinion on codes that moved a few bits past its radius)."""
    from PIL import Image

    grid = image.convert("L").resize((LAYOUT_GRID, LAYOUT_GRID), Image.Resampling.BOX)
    return np.asarray(grid, dtype=np.uint8).ravel()


def pixel_digest(rgb: np.ndarray) -> str:
    """Digest of the decoded RGB pixels and their shape (128 bits of SHA-256)."""
    digest = hashlib.sha256(f"{rgb.shape[1]}x{rgb.shape[0]}:".encode())
    digest.update(np.ascontiguousarray(rgb).tobytes())
    return digest.hexdigest()[:32]


def _empty_row(path: str) -> dict[str, Any]:
    return {
        "path": path,
        "ok": False,
        "error": "",
        "format": "",
        "width": 0,
        "height": 0,
        "mode": "",
        "bytes": 0,
        "digest": "",
        "pdq": "",
        "pdq_quality": -1,
        "phash": "",
        "phash_centre": "",
        "brightness": np.nan,
        "sharpness": np.nan,
        "entropy": np.nan,
        "c2pa_state": "",
        "c2pa_ai": False,
        "iptc_ai": False,
        "declared_family": "",
        "features": np.zeros(FEATURE_LENGTH, np.float32),
        "layout": np.zeros(LAYOUT_GRID * LAYOUT_GRID, np.uint8),
        "p_ai": np.nan,
        "ai_label": -1,
        "score_error": "",
        **PRIVACY_DEFAULTS,
    }


class BatchAnalyser:
    """Callable over ``{"path": [...]}`` batches; holds the verifier and detector once.

    A class (not a function) so Ray builds one per worker: the onnxruntime session and the
    c2pa context are not picklable and are costly to create per batch.
    """

    def __init__(self, detector: str | None = None, verify: bool = True) -> None:
        self.verifier = None
        if verify:
            from provenance.verify import ProvenanceVerifier

            self.verifier = ProvenanceVerifier()
        self.scorer = None
        if detector:
            from detectors.detect import open_scorer

            self.scorer = open_scorer(detector, backend="onnx")
        self.faces = FaceFinder()

    def analyse(self, path: str) -> tuple[dict[str, Any], np.ndarray | None]:
        """One file's row, and its decoded pixels for the detector (None if unreadable)."""
        import io
        import warnings

        from PIL import Image

        from provenance.fingerprint import fingerprint, phash_centre
        from provenance.media import decode_image, read_media

        row = _empty_row(path)
        try:
            media = read_media(path)
            row["format"], row["bytes"] = media.format, len(media.data)
            if not media.is_image:
                raise ProvauditError(
                    f"{Path(path).name} is a {media.format.upper()}, not an image."
                )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(io.BytesIO(media.data)) as header:
                    row["mode"] = header.mode
            image = decode_image(media.data, Path(path).name, mode="RGB")
        except ProvauditError as exc:
            row["error"] = str(exc)
            return row, None
        except Exception as exc:  # a decoder bug on a hostile file is still just unreadable
            row["error"] = f"{Path(path).name} cannot be decoded ({type(exc).__name__}: {exc})."
            return row, None
        rgb = np.asarray(image, dtype=np.uint8)
        row["ok"] = True
        row["width"], row["height"] = image.size
        row["digest"] = pixel_digest(rgb)
        prints = fingerprint(image)
        row["pdq"], row["pdq_quality"], row["phash"] = prints.pdq, prints.pdq_quality, prints.phash
        row["phash_centre"] = phash_centre(image)
        small = image
        if max(image.size) > QUALITY_MAX_SIDE:
            small = image.copy()
            small.thumbnail((QUALITY_MAX_SIDE, QUALITY_MAX_SIDE), Image.Resampling.BOX)
        small_rgb = np.asarray(small, dtype=np.uint8)
        row["brightness"], row["sharpness"], row["entropy"] = quality_stats(small_rgb)
        row["features"] = features(small)
        row["layout"] = layout(small)
        row.update(image_privacy(media.data, small_rgb, max(image.size), self.faces))
        if self.verifier is not None:
            self._provenance(media, row)
        return row, rgb

    def _provenance(self, media: Any, row: dict[str, Any]) -> None:
        try:
            report = self.verifier.verify(media)  # type: ignore[union-attr]
        except ProvauditError:
            # The pixels decoded but the manifest store did not: counted apart from "absent".
            row["c2pa_state"] = "unreadable"
            return
        row["c2pa_state"] = report.state
        row["c2pa_ai"] = bool(report.ai_declared) and report.state in ("trusted", "valid")
        row["iptc_ai"] = bool(report.iptc is not None and report.iptc.ai_declared)
        if report.generator and report.generator.get("family"):
            row["declared_family"] = str(report.generator["family"])
        row.update(training_privacy(report))

    def _score(self, rows: list[dict[str, Any]], pixels: list[np.ndarray | None]) -> None:
        from detectors.tiles import min_side

        scorer = self.scorer
        assert scorer is not None
        smallest = min_side(scorer.spec.image_size)
        ready = []
        for i, image in enumerate(pixels):
            if image is None:
                continue
            if min(image.shape[:2]) < smallest:
                rows[i]["score_error"] = (
                    f"too small for the detector (needs {smallest} px on each side)"
                )
                continue
            ready.append(i)
        if not ready:
            return
        scores = scorer.score_pixels([pixels[i] for i in ready])  # type: ignore[misc]
        probabilities = scorer.probabilities(scores.logits)
        for k, i in enumerate(ready):
            rows[i]["p_ai"] = float(probabilities[k])
            rows[i]["ai_label"] = int(probabilities[k] > scorer.spec.threshold)

    def __call__(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        paths = [str(path) for path in batch["path"]]
        rows, pixels = [], []
        for path in paths:
            row, rgb = self.analyse(path)
            rows.append(row)
            pixels.append(rgb)
        if self.scorer is not None:
            self._score(rows, pixels)
        columns = to_columns(rows)
        if "index" in batch:
            columns["index"] = np.asarray(batch["index"], dtype=np.int64)
        return columns


def to_columns(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    columns: dict[str, np.ndarray] = {}
    if not rows:
        columns = to_columns([_empty_row("")])
        return {name: values[:0] for name, values in columns.items()}
    for name in rows[0]:
        values = [row[name] for row in rows]
        if name == "features":
            columns[name] = np.stack(values).astype(np.float32)
        elif name == "layout":
            columns[name] = np.stack(values).astype(np.uint8)
        elif name in STRING_COLUMNS:
            columns[name] = np.array(values, dtype=object)
        elif name in ("ok", "c2pa_ai", "iptc_ai", *PRIVACY_BOOL_COLUMNS):
            columns[name] = np.array(values, dtype=bool)
        elif name in ("brightness", "sharpness", "entropy", "p_ai"):
            columns[name] = np.array(values, dtype=np.float64)
        else:
            columns[name] = np.array(values, dtype=np.int64)
    return columns
