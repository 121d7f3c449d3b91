"""Training augmentation from the literature, and the codec equaliser.

Following CNNDetection (Wang et al., CVPR 2020): Gaussian blur with sigma ~ U[0, 3] and JPEG
re-encoding with quality ~ U[30, 100], each with probability 0.5, then a random crop and a
horizontal flip. Deliberately absent: RandomResizedCrop (resampling erases and invents the
upsampling traces we detect), colour jitter and mixup (they change pixel statistics the
detector relies on without modelling any real-world degradation).

One addition, motivated by later detector work that tests detectors on the resizing and
compression images meet on social networks (e.g. Corvi et al., ICASSP 2023): with
``downscale_prob`` (default 0.5) the window is shrunk by a factor ~ U[0.5, 1] (bicubic)
and the crop is taken from the smaller image, reflection-padded to the tile when it has
become smaller than one; that is what inference does with a shrunken upload, since it
never resizes. Unlike RandomResizedCrop this only *downscales* (no upsampling, which
would paint the very interpolation traces the detector looks for) and keeps the aspect
ratio. Measured on the first ``make models`` data set (32 px tiles, 12 epochs, seeds 0
and 1): AP after a 0.5x downscale 0.925 / 0.935 without it, 0.969 / 0.981 with it; clean
AP >= 0.9994 either way, TPR at 1% FPR 0.998 / 0.995 without, 0.977 / 0.987 with.

Format-bias control: real photos usually arrive as JPEG and generated images as PNG, so a
detector can learn "has JPEG history" instead of "is generated". Both classes are decoded
by the same reader and then pass through the *same* codec draw (``same_codec``, default
``mixed``: PNG as decoded, JPEG or WebP at quality U[90, 100], one in three each) before
augmentation, so the container and codec history carry no label information, and a
high-quality re-encode is something every training image may have had. ``evaluate``
checks the result (scores must not move with the format; the model card reports it). An
earlier default re-encoded everything as JPEG 96, which made lossless PNG the one input
never seen in training.

The ``web`` preset (``AugmentConfig.web()``, ``train --augment web``) models what the web
does to an image before a moderator sees it, for both classes alike: a downscale by
U[0.25, 1], mild sharpening, then a lossy re-encode (JPEG q60-95 with 4:2:0 chroma, or
WebP), mostly without the strong blur of CNNDetection's recipe. A detector that never saw
these chains learns "has been through a web pipeline" as "real", since its real photos
had and its generated images had not.

The ``camera`` preset adds what a phone camera does before the web does anything: sensor
noise (independent per channel, so chroma noise too) and the strong unsharp masking phone
pipelines apply (up to 300%), for both classes, on the hypothesis that such residue in a
real photo reads as a generator's. On a leave-sources-out fold it called more of the
held-out photos AI than ``web``, not fewer (docs/detectors.md has the run), so the
default detector is not trained with it.

Everything here is numpy + Pillow, so DataLoader workers never need torch ops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from detectors.imageops import (
    downscale,
    gaussian_blur,
    jpeg_roundtrip,
    reencode,
    sensor_noise,
    sharpen,
)
from detectors.tiles import min_side, pad_to_tile

__all__ = [
    "AUGMENT_PRESETS",
    "AugmentConfig",
    "augment",
    "downscale",
    "equalize_codec",
    "gaussian_blur",
    "jpeg_roundtrip",
    "random_crop",
    "reencode",
    "sensor_noise",
    "sharpen",
]


@dataclass(frozen=True)
class AugmentConfig:
    blur_prob: float = 0.5
    blur_sigma_max: float = 3.0
    jpeg_prob: float = 0.5
    jpeg_quality_min: int = 30
    jpeg_quality_max: int = 100
    flip: bool = True
    downscale_prob: float = 0.5
    downscale_min: float = 0.5
    # "jpeg:Q" re-encodes every training image (real and fake alike), "mixed" draws PNG,
    # JPEG or WebP per image from one distribution for both classes; "none" does neither.
    same_codec: str = "mixed"
    sharpen_prob: float = 0.0
    sharpen_percent_max: int = 150
    noise_prob: float = 0.0
    noise_sigma_max: float = 0.0
    # Of the lossy re-encodes (jpeg_prob), the share written as WebP rather than JPEG.
    webp_share: float = 0.0

    @classmethod
    def disabled(cls) -> AugmentConfig:
        return cls(blur_prob=0.0, jpeg_prob=0.0, flip=False, downscale_prob=0.0, same_codec="none")

    @classmethod
    def web(cls) -> AugmentConfig:
        """The chains images meet on the web: downscale, sharpen, JPEG 4:2:0 or WebP."""
        return cls(
            blur_prob=0.1,
            blur_sigma_max=1.0,
            jpeg_prob=0.7,
            jpeg_quality_min=60,
            jpeg_quality_max=95,
            downscale_prob=0.6,
            downscale_min=0.25,
            sharpen_prob=0.2,
            webp_share=0.3,
        )

    @classmethod
    def camera(cls) -> AugmentConfig:
        """``web`` after a phone camera: sensor noise and strong sharpening first."""
        return replace(
            cls.web(),
            sharpen_prob=0.35,
            sharpen_percent_max=300,
            noise_prob=0.25,
            noise_sigma_max=4.0,
        )

    @classmethod
    def preset(cls, name: str) -> AugmentConfig:
        presets = {"default": cls, "web": cls.web, "camera": cls.camera, "none": cls.disabled}
        if name not in presets:
            raise ValueError(f"unknown augmentation {name!r}; use {', '.join(presets)}")
        return presets[name]()


AUGMENT_PRESETS = ("default", "web", "camera", "none")


def equalize_codec(
    pixels: np.ndarray, same_codec: str, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Pass ``pixels`` through the codec every training image goes through.

    ``jpeg:Q``: JPEG at quality Q. ``mixed``: one of PNG (as decoded), JPEG or WebP at a
    quality ~ U[90, 100], drawn per image from the same distribution for both classes, so
    the detector learns that a high-quality re-encode is no evidence either way. ``none``:
    as decoded.
    """
    if same_codec in ("", "none", "png"):  # PNG is lossless: decoding already equalised it
        return pixels
    if same_codec == "mixed":
        rng = rng or np.random.default_rng()
        choice = int(rng.integers(0, 3))
        quality = int(rng.integers(90, 101))
        if choice == 1:
            return jpeg_roundtrip(pixels, quality)
        if choice == 2:
            return reencode(pixels, "WEBP", quality)
        return pixels
    kind, _, quality_text = same_codec.partition(":")
    if kind != "jpeg":
        raise ValueError(f"unknown codec {same_codec!r}; use jpeg:QUALITY, mixed or none")
    return jpeg_roundtrip(pixels, int(quality_text or 96))


def random_crop(pixels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    pixels = pad_to_tile(pixels, size)
    height, width = pixels.shape[:2]
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    return pixels[top : top + size, left : left + size]


def augment(
    pixels: np.ndarray, size: int, rng: np.random.Generator, config: AugmentConfig
) -> np.ndarray:
    """One training view (uint8 HWC, ``size`` x ``size``) of a decoded image.

    Order: codec equaliser (the file as it arrived), downscale, blur, JPEG (a shrunken
    copy is usually re-encoded afterwards), then crop and flip.
    """
    factor = 1.0
    if config.downscale_prob > 0 and rng.random() < config.downscale_prob:
        factor = float(rng.uniform(config.downscale_min, 1.0))
    # Work on a window a little larger than the crop: blur and JPEG cost scale with area,
    # and the margin keeps the final crop's offset against the 8x8 JPEG grid random. A
    # window to be downscaled is taken larger so that it still covers the crop after.
    height, width = pixels.shape[:2]
    if min(height, width) > size:
        span = math.ceil((size + 8) / factor)
        window = random_crop(pixels, min(span, height, width), rng)
    else:
        window = pad_to_tile(pixels, size)
    window = equalize_codec(np.ascontiguousarray(window), config.same_codec, rng)
    if factor < 1.0:
        # Never below what inference accepts (half a tile), whatever downscale_min says.
        factor = max(factor, min_side(size) / min(window.shape[:2]))
        window = downscale(window, factor)
    if config.noise_prob > 0 and rng.random() < config.noise_prob:
        window = sensor_noise(window, float(rng.uniform(0.5, config.noise_sigma_max)), rng)
    if config.blur_prob > 0 and rng.random() < config.blur_prob:
        window = gaussian_blur(window, float(rng.uniform(0.0, config.blur_sigma_max)))
    if config.sharpen_prob > 0 and rng.random() < config.sharpen_prob:
        percent = int(rng.integers(40, config.sharpen_percent_max + 1))
        window = sharpen(window, float(rng.uniform(0.5, 2.0)), percent)
    if config.jpeg_prob > 0 and rng.random() < config.jpeg_prob:
        quality = int(rng.integers(config.jpeg_quality_min, config.jpeg_quality_max + 1))
        if config.webp_share > 0 and rng.random() < config.webp_share:
            window = reencode(window, "WEBP", quality)
        else:
            window = jpeg_roundtrip(window, quality)
    crop = random_crop(window, size, rng)
    if config.flip and rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)
