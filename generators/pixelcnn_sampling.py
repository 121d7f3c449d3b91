"""Pixel-by-pixel sampling from a discretised logistic mixture, in numpy: no torch.

The PixelCNN's network (torch, or its ONNX export) maps an image to the mixture
parameters of every pixel given the pixels before it (raster order). Everything after
that, choosing a mixture component and drawing the channel values, happens here, with
uniforms drawn up front from the per-image numpy generators (:class:`PerImageNoise`): the
torch and the ONNX path then draw the same pixels from the same parameters, and differ
only where float rounding inside the network moves a draw across a quantisation or
component boundary.

The parameter layout is PixelCNN++'s (Salimans et al., 2017) generalised to ``C``
channels: for each of ``K`` components a mixture logit, ``C`` means, ``C`` log-scales and
``C(C-1)/2`` coefficients (tanh-squashed) with which channel ``i``'s mean moves linearly
with the already-drawn channels ``j < i`` of the same pixel. Draws are quantised to the
256 levels of an 8-bit image before they condition anything, as in training, where the
network only ever sees quantised pixels.

Two loops, same draws. ``naive`` feeds the full image for every pixel, the textbook
loop, kept to measure the saving and to test it. ``fast`` feeds only the rows that can
matter: the network is causal (a pixel's parameters depend on the rows above and the
pixels to its left only, and every convolution pads at the top, never below), so rows
``0..r`` alone give row ``r`` the same parameters as the full image; and its receptive
field reaches a fixed number of rows up (:func:`receptive_field_rows`), so the rows
``r - R .. r`` are enough, and the cost of a row stops growing with ``r`` once
``r > R``. The zero padding above such a window changes the rows near its top, never
row ``r``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from generators.noise import PerImageNoise

# Bounds of the uniforms: log(u) and log(1 - u) stay finite, as in PixelCNN++'s sampler.
UNIFORM_EPSILON = 1e-5
LOG_SCALE_MIN = -7.0
LEVELS = 256
SamplingLoop = Literal["fast", "naive"]
SAMPLING_LOOPS: tuple[SamplingLoop, ...] = ("fast", "naive")
# images (B, C, h, W) in [-1, 1] -> mixture parameters (B, P, h, W)
ParameterFunction = Callable[[np.ndarray], np.ndarray]


def coefficient_count(channels: int) -> int:
    return channels * (channels - 1) // 2


def parameter_count(channels: int, components: int) -> int:
    """Per pixel: a logit, C means, C log-scales and C(C-1)/2 coefficients per component."""
    return components * (1 + 2 * channels + coefficient_count(channels))


@dataclass
class MixtureParameters:
    """One pixel position of a batch, split: logits (B, K), means and log-scales (B, K, C),
    coefficients (B, K, C(C-1)/2) already squashed into (-1, 1)."""

    logits: np.ndarray
    means: np.ndarray
    log_scales: np.ndarray
    coefficients: np.ndarray

    @classmethod
    def split(cls, raw: np.ndarray, channels: int, components: int) -> MixtureParameters:
        """``raw`` (B, P): the network's output at one pixel, in the network's layout."""
        batch = raw.shape[0]
        raw = raw.astype(np.float64)
        k, c = components, channels
        logits = raw[:, :k]
        rest = raw[:, k:].reshape(batch, 2 * c + coefficient_count(c), k).transpose(0, 2, 1)
        return cls(
            logits=logits,
            means=rest[:, :, :c],
            log_scales=np.maximum(rest[:, :, c : 2 * c], LOG_SCALE_MIN),
            coefficients=np.tanh(rest[:, :, 2 * c :]),
        )


def receptive_field_rows(layers: int, kernel_size: int, first_kernel_size: int) -> int:
    """How many rows above a pixel its parameters can depend on (see generators.pixelcnn):
    the first layer reaches ``first_kernel_size // 2`` rows up, each gated layer's vertical
    convolution ``kernel_size // 2`` more."""
    return first_kernel_size // 2 + layers * (kernel_size // 2)


def quantise(values: np.ndarray) -> np.ndarray:
    """Continuous draws to the nearest of the 256 levels in [-1, 1]."""
    levels = np.clip(np.rint((values + 1.0) * (LEVELS - 1) / 2.0), 0, LEVELS - 1)
    return levels * (2.0 / (LEVELS - 1)) - 1.0


def draw_pixel(
    parameters: MixtureParameters, component_uniforms: np.ndarray, value_uniforms: np.ndarray
) -> np.ndarray:
    """One pixel per image, (B, C) quantised values in [-1, 1].

    The component by the Gumbel-max trick on ``component_uniforms`` (B, K); each channel
    by inverting the logistic CDF at ``value_uniforms`` (B, C), channel by channel, since
    a channel's mean depends on the channels drawn before it.
    """
    gumbel = -np.log(-np.log(component_uniforms))
    chosen = np.argmax(parameters.logits + gumbel, axis=1)
    rows = np.arange(len(chosen))
    means = parameters.means[rows, chosen]
    scales = np.exp(parameters.log_scales[rows, chosen])
    coefficients = parameters.coefficients[rows, chosen]
    channels = means.shape[1]
    pixel = np.zeros_like(means)
    logistic = np.log(value_uniforms) - np.log1p(-value_uniforms)
    index = 0
    for channel in range(channels):
        mean = means[:, channel].copy()
        for earlier in range(channel):
            mean += coefficients[:, index] * pixel[:, earlier]
            index += 1
        pixel[:, channel] = quantise(mean + scales[:, channel] * logistic[:, channel])
    return pixel


def _uniforms(noise: PerImageNoise, shape: tuple[int, ...]) -> np.ndarray:
    return np.clip(noise.uniform(shape), UNIFORM_EPSILON, 1.0 - UNIFORM_EPSILON)


def sample_autoregressive(
    parameters_of: ParameterFunction,
    noise: PerImageNoise,
    channels: int,
    image_size: int,
    components: int,
    context_rows: int,
    loop: SamplingLoop = "fast",
) -> np.ndarray:
    """Float32 NCHW images in [-1, 1], drawn pixel by pixel in raster order.

    ``context_rows`` is the network's :func:`receptive_field_rows`, what ``fast`` feeds
    above the current row. Every image's uniforms are drawn before the loop (the
    components' first, then the values'), so both loops, and both backends, consume the
    same numbers.
    """
    if loop not in SAMPLING_LOOPS:
        raise ValueError(f"unknown sampling loop {loop!r}")
    size = image_size
    component_uniforms = _uniforms(noise, (size, size, components))
    value_uniforms = _uniforms(noise, (size, size, channels))
    images = np.zeros((len(noise), channels, size, size), dtype=np.float32)
    for row in range(size):
        top = max(0, row - context_rows) if loop == "fast" else 0
        bottom = row + 1 if loop == "fast" else size
        for column in range(size):
            raw = parameters_of(images[:, :, top:bottom])[:, :, row - top, column]
            parameters = MixtureParameters.split(raw, channels, components)
            images[:, :, row, column] = draw_pixel(
                parameters,
                component_uniforms[:, row, column],
                value_uniforms[:, row, column],
            )
    return images
