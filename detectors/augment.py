"""Training augmentation from the literature, and the codec equaliser.

Following CNNDetection (Wang et al., CVPR 2020): Gaussian blur with sigma ~ U[0, 3] and JPEG
re-encoding with quality ~ U[30, 100], each with probability 0.5, then a random crop and a
horizontal flip. Deliberately absent: RandomResizedCrop (resampling erases and invents the
upsampling traces we detect), colour jitter and mixup (they change pixel statistics the
detector relies on without modelling any real-world degradation).

Format-bias control: real photos usually arrive as JPEG and generated images as PNG, so a
detector can learn "has JPEG history" instead of "is generated". Both classes are decoded
by the same reader and then pass through the *same* re-encode (``same_codec``, default
JPEG at quality 96) before augmentation, so the container and codec history carry no
label information; ``evaluate`` checks the result (scores must not move with the format).
Everything here is numpy + Pillow, so DataLoader workers never need torch ops.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from detectors.inference import pad_to_tile


@dataclass(frozen=True)
class AugmentConfig:
    blur_prob: float = 0.5
    blur_sigma_max: float = 3.0
    jpeg_prob: float = 0.5
    jpeg_quality_min: int = 30
    jpeg_quality_max: int = 100
    flip: bool = True
    # "jpeg:Q" re-encodes every training image (real and fake alike); "none" does not.
    same_codec: str = "jpeg:96"

    @classmethod
    def disabled(cls) -> AugmentConfig:
        return cls(blur_prob=0.0, jpeg_prob=0.0, flip=False, same_codec="none")


def jpeg_roundtrip(pixels: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.uint8)


def gaussian_blur(pixels: np.ndarray, sigma: float) -> np.ndarray:
    from PIL import Image, ImageFilter

    if sigma <= 0:
        return pixels
    blurred = Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(radius=float(sigma)))
    return np.asarray(blurred, dtype=np.uint8)


def downscale(pixels: np.ndarray, factor: float) -> np.ndarray:
    from PIL import Image

    if factor >= 1.0:
        return pixels
    height, width = pixels.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BICUBIC))


def equalize_codec(pixels: np.ndarray, same_codec: str) -> np.ndarray:
    if same_codec in ("", "none", "png"):  # PNG is lossless: decoding already equalised it
        return pixels
    kind, _, quality = same_codec.partition(":")
    if kind != "jpeg":
        raise ValueError(f"unknown codec {same_codec!r}; use jpeg:QUALITY or none")
    return jpeg_roundtrip(pixels, int(quality or 96))


def random_crop(pixels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    pixels = pad_to_tile(pixels, size)
    height, width = pixels.shape[:2]
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    return pixels[top : top + size, left : left + size]


def augment(
    pixels: np.ndarray, size: int, rng: np.random.Generator, config: AugmentConfig
) -> np.ndarray:
    """One training view (uint8 HWC, ``size`` x ``size``) of a decoded image."""
    # Work on a window a little larger than the crop: blur and JPEG cost scale with area,
    # and the margin keeps the final crop's offset against the 8x8 JPEG grid random.
    height, width = pixels.shape[:2]
    if min(height, width) > size:
        window = random_crop(pixels, min(size + 8, height, width), rng)
    else:
        window = pad_to_tile(pixels, size)
    window = equalize_codec(np.ascontiguousarray(window), config.same_codec)
    if config.blur_prob > 0 and rng.random() < config.blur_prob:
        window = gaussian_blur(window, float(rng.uniform(0.0, config.blur_sigma_max)))
    if config.jpeg_prob > 0 and rng.random() < config.jpeg_prob:
        quality = int(rng.integers(config.jpeg_quality_min, config.jpeg_quality_max + 1))
        window = jpeg_roundtrip(window, quality)
    crop = random_crop(window, size, rng)
    if config.flip and rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)
