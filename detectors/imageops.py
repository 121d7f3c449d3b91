"""Pixel operations the web applies to images: re-encoding, resizing, blur, sharpening.

numpy + Pillow only, at the bottom of ``detectors``: training augmentation, evaluation
sweeps and the inference path's stability checks all use these same functions, so what a
detector was trained against is exactly what it is tested and checked with.
"""

from __future__ import annotations

import io
import zlib

import numpy as np

# How the web serves an image: a long edge in this range, then one of these qualities.
SERVED_LONG_EDGE = (512, 1024)
SERVED_QUALITY = (75, 90)
VARIANTS = ("as_sent", "web_jpeg", "web_webp")


def reencode(pixels: np.ndarray, fmt: str, quality: int | None = None) -> np.ndarray:
    """``pixels`` saved by Pillow as ``fmt`` (PNG, JPEG, WEBP) and decoded again."""
    from PIL import Image

    buffer = io.BytesIO()
    options = {} if quality is None else {"quality": int(quality)}
    Image.fromarray(pixels).save(buffer, fmt, **options)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.uint8)


def jpeg_roundtrip(pixels: np.ndarray, quality: int) -> np.ndarray:
    return reencode(pixels, "JPEG", quality)


def gaussian_blur(pixels: np.ndarray, sigma: float) -> np.ndarray:
    from PIL import Image, ImageFilter

    if sigma <= 0:
        return pixels
    blurred = Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(radius=float(sigma)))
    return np.asarray(blurred, dtype=np.uint8)


def sharpen(pixels: np.ndarray, radius: float, percent: int) -> np.ndarray:
    from PIL import Image, ImageFilter

    sharpened = Image.fromarray(pixels).filter(
        ImageFilter.UnsharpMask(radius=float(radius), percent=int(percent), threshold=2)
    )
    return np.asarray(sharpened, dtype=np.uint8)


def sensor_noise(pixels: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of ``sigma`` grey levels, drawn apart per channel (luma and chroma)."""
    noisy = pixels.astype(np.float32) + rng.normal(0.0, sigma, pixels.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def downscale(pixels: np.ndarray, factor: float) -> np.ndarray:
    from PIL import Image

    if factor >= 1.0:
        return pixels
    height, width = pixels.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BICUBIC))


def served_variants(pixels: np.ndarray, key: str) -> dict[str, np.ndarray]:
    """The image as sent and as the web serves it; the draws depend only on ``key``.

    Served means downscaled to a long edge of 512-1024 px (never enlarged), then JPEG
    with 4:2:0 chroma or WebP at quality 75-90.
    """
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    long_edge = int(rng.integers(SERVED_LONG_EDGE[0], SERVED_LONG_EDGE[1] + 1))
    factor = min(1.0, long_edge / max(pixels.shape[:2]))
    shrunk = downscale(pixels, factor)
    quality = int(rng.integers(SERVED_QUALITY[0], SERVED_QUALITY[1] + 1))
    return {
        "as_sent": pixels,
        "web_jpeg": reencode(shrunk, "JPEG", quality),
        "web_webp": reencode(shrunk, "WEBP", quality),
    }
