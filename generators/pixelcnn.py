"""A gated PixelCNN with a discretised logistic mixture output: an exact-likelihood generator.

The network is the gated PixelCNN of van den Oord et al., "Conditional Image Generation
with PixelCNN Decoders" (NeurIPS 2016): a vertical stack that sees every row above the
current pixel and a horizontal stack that sees the pixels to its left in the current row,
gated by ``tanh(a) * sigmoid(b)``, the vertical stack feeding the horizontal one at every
layer, so the receptive field has no blind spot. Causality comes from padding and
shifting, not from masked kernels (PixelCNN++'s ``down_shifted`` / ``down_right_shifted``
formulation): every convolution pads above and to the left only.

The output is PixelCNN++'s (Salimans et al., "PixelCNN++: Improving the PixelCNN with
Discretized Logistic Mixture Likelihood and Other Modifications", ICLR 2017): per pixel a
mixture of ``K`` discretised logistics over the 256 levels, with channel-wise linear
coefficients so that R, G and B of one pixel are modelled jointly and drawn in one
forward pass. Its negative log-likelihood, in bits per sub-pixel, is both the training
loss and the evaluation's exact likelihood. Sampling runs in numpy
(:mod:`generators.pixelcnn_sampling`), shared with the ONNX path.

A third kind of synthetic image for a detector data set: autoregressive samples have
neither the GAN's upsampling artefacts nor the diffusion model's residual noise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from generators.configs import PixelCNNConfig
from generators.pixelcnn_sampling import (
    LEVELS,
    LOG_SCALE_MIN,
    coefficient_count,
    parameter_count,
)

# Below this probability mass a bin's log-probability comes from the density at its
# centre (PixelCNN++): the difference of two nearly equal sigmoids has no precision left.
_MIN_BIN_MASS = 1e-5


def _down_shift(tensor: torch.Tensor) -> torch.Tensor:
    """Row i gets row i - 1 (zeros in row 0): what was "up to row i" becomes "above row i"."""
    return F.pad(tensor, (0, 0, 1, 0))[:, :, :-1]


def _right_shift(tensor: torch.Tensor) -> torch.Tensor:
    return F.pad(tensor, (1, 0, 0, 0))[:, :, :, :-1]


class VerticalConv(nn.Module):
    """Output row i sees input rows i - height + 1 .. i, columns j - width//2 .. j + width//2.

    Padded above, never below: the output of rows 0..r does not depend on any row after
    r, so an image cropped to its first r + 1 rows gives the same rows 0..r.
    """

    def __init__(self, in_width: int, out_width: int, height: int, width: int) -> None:
        super().__init__()
        self.padding = (width // 2, width // 2, height - 1, 0)
        self.conv = nn.Conv2d(in_width, out_width, (height, width))

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(tensor, self.padding))


class HorizontalConv(nn.Module):
    """Output (i, j) sees input row i, columns j - width + 1 .. j."""

    def __init__(self, in_width: int, out_width: int, width: int) -> None:
        super().__init__()
        self.padding = (width - 1, 0, 0, 0)
        self.conv = nn.Conv2d(in_width, out_width, (1, width))

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(tensor, self.padding))


def _gate(tensor: torch.Tensor) -> torch.Tensor:
    content, gate = tensor.chunk(2, dim=1)
    return torch.tanh(content) * torch.sigmoid(gate)


class GatedLayer(nn.Module):
    """One gated layer of both stacks.

    Invariant: the vertical input at row i holds information from rows above i only, the
    horizontal input at (i, j) from rows above i and pixels (i, < j) only; the layer keeps
    it, so the vertical pre-activation at (i, j) can feed the horizontal one unshifted.
    """

    def __init__(self, width: int, kernel_size: int) -> None:
        super().__init__()
        half = kernel_size // 2
        self.vertical = VerticalConv(width, 2 * width, half + 1, kernel_size)
        self.vertical_to_horizontal = nn.Conv2d(2 * width, 2 * width, 1)
        self.horizontal = HorizontalConv(width, 2 * width, half + 1)
        self.horizontal_out = nn.Conv2d(width, width, 1)

    def forward(
        self, vertical: torch.Tensor, horizontal: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        vertical_pre = self.vertical(vertical)
        horizontal_pre = self.horizontal(horizontal) + self.vertical_to_horizontal(vertical_pre)
        horizontal = horizontal + self.horizontal_out(_gate(horizontal_pre))
        return _gate(vertical_pre), horizontal


class PixelCNN(nn.Module):
    """Images (B, C, H, W) in [-1, 1] -> mixture parameters (B, P, H, W) of every pixel.

    The parameters at (i, j) depend only on the pixels before (i, j) in raster order.
    """

    def __init__(self, config: PixelCNNConfig) -> None:
        super().__init__()
        if config.kernel_size % 2 != 1 or config.first_kernel_size % 2 != 1:
            raise ValueError("the PixelCNN's kernel sizes must be odd")
        self.config = config
        channels, width = config.channels, config.hidden_width
        first = config.first_kernel_size
        # Mask "A" of the first layer: the pixel itself is never seen, by the down and
        # right shifts of these two convolutions.
        self.input_vertical = VerticalConv(channels, width, first // 2, first)
        self.input_horizontal = HorizontalConv(channels, width, first // 2)
        self.layers = nn.ModuleList(
            GatedLayer(width, config.kernel_size) for _ in range(config.layers)
        )
        self.head = nn.Sequential(
            nn.ELU(),
            nn.Conv2d(width, config.output_width, 1),
            nn.ELU(),
            nn.Conv2d(
                config.output_width,
                parameter_count(channels, config.mixture_components),
                1,
            ),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        vertical = _down_shift(self.input_vertical(images))
        horizontal = vertical + _right_shift(self.input_horizontal(images))
        for layer in self.layers:
            vertical, horizontal = layer(vertical, horizontal)
        return self.head(horizontal)


def mixture_nll(images: torch.Tensor, raw: torch.Tensor, components: int) -> torch.Tensor:
    """Negative log-likelihood in nats of each image (B,) under the discretised mixture.

    ``images`` must lie on the 256 levels of [-1, 1] (as 8-bit data does); ``raw`` is the
    network's output in the layout of :class:`generators.pixelcnn_sampling.MixtureParameters`.
    Computed in float32 whatever the autocast dtype of the network.
    """
    images, raw = images.float(), raw.float()
    batch, channels, height, width = images.shape
    k = components
    logits = raw[:, :k]
    rest = raw[:, k:].reshape(batch, 2 * channels + coefficient_count(channels), k, height, width)
    means = rest[:, :channels]
    log_scales = rest[:, channels : 2 * channels].clamp(min=LOG_SCALE_MIN)
    coefficients = torch.tanh(rest[:, 2 * channels :])
    pixels = images.unsqueeze(2)  # (B, C, 1, H, W) against (B, C, K, H, W)

    adjusted = []
    index = 0
    for channel in range(channels):
        mean = means[:, channel]
        for earlier in range(channel):
            mean = mean + coefficients[:, index] * pixels[:, earlier]
            index += 1
        adjusted.append(mean)
    centred = pixels - torch.stack(adjusted, dim=1)
    inverse_scale = torch.exp(-log_scales)
    half_bin = 1.0 / (LEVELS - 1)
    upper = inverse_scale * (centred + half_bin)
    lower = inverse_scale * (centred - half_bin)
    log_cdf_upper = upper - F.softplus(upper)  # the lowest level takes the whole left tail
    log_survival_lower = -F.softplus(lower)  # the highest level takes the right tail
    mass = torch.sigmoid(upper) - torch.sigmoid(lower)
    middle = inverse_scale * centred
    log_density_centre = middle - log_scales - 2.0 * F.softplus(middle)
    log_mass = torch.where(
        mass > _MIN_BIN_MASS,
        torch.log(mass.clamp(min=1e-12)),
        log_density_centre - math.log((LEVELS - 1) / 2.0),
    )
    log_probs = torch.where(
        pixels < -0.999,
        log_cdf_upper,
        torch.where(pixels > 0.999, log_survival_lower, log_mass),
    )
    joint = log_probs.sum(dim=1) + F.log_softmax(logits, dim=1)  # (B, K, H, W)
    return -torch.logsumexp(joint, dim=1).sum(dim=(1, 2))


def bits_per_dim(images: torch.Tensor, raw: torch.Tensor, components: int) -> torch.Tensor:
    """Mean negative log2-likelihood per sub-pixel of the batch (a scalar)."""
    dims = images[0].numel()
    return mixture_nll(images, raw, components).mean() / (dims * math.log(2.0))


def parameter_total(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())
