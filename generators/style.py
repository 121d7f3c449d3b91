"""Neural style transfer without pretrained weights.

Two ways to paint a photo's content in a painting's style, both judged by the losses of
Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks"
(CVPR 2016): a content loss on deep features, a style loss on the Gram matrices of
several layers' features, and a total-variation smoothness term,
``alpha * content + beta * style + gamma * tv``.

* :func:`gatys_stylise` is the original method: optimise the pixels of one image.
* :class:`StylisationNetwork` is the feed-forward network of Johnson, Alahi & Fei-Fei,
  "Perceptual Losses for Real-Time Style Transfer and Super-Resolution" (ECCV 2016),
  with instance normalisation (Ulyanov et al., 2016): trained with the same losses on
  many content crops against one style image, it stylises in one forward pass and
  exports to ONNX.

The losses need a feature network, and no pretrained VGG can be downloaded. Ustyuzhaninov
et al., "What does it take to generate natural textures?" (ICLR 2017), showed that the
Gram matrices of a random, untrained multi-scale CNN already capture texture well
enough for Gatys-style synthesis. :class:`RandomFeatureNetwork` is such a network, drawn
from ``config.feature_seed`` alone; its weights are not part of any checkpoint, since
the seed rebuilds them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from generators.configs import StyleTransferConfig


class RandomFeatureNetwork(nn.Module):
    """A fixed random CNN: one 3x3 conv + ReLU stage per scale, each after a 2x average pool.

    Weights are He-scaled normal draws from a generator seeded with ``seed`` (biases a
    small positive constant, so that few units are dead). They are non-persistent
    buffers: moved with the model, never saved, never trained.
    """

    def __init__(self, widths: tuple[int, ...], seed: int, channels: int = 3) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        in_width = channels
        self.stages = len(widths)
        for index, width in enumerate(widths):
            fan_in = in_width * 9
            weight = torch.randn(width, in_width, 3, 3, generator=generator) * (2.0 / fan_in) ** 0.5
            self.register_buffer(f"weight{index}", weight, persistent=False)
            self.register_buffer(f"bias{index}", torch.full((width,), 0.1), persistent=False)
            in_width = width

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        features = []
        hidden = images
        for index in range(self.stages):
            if index > 0:
                hidden = F.avg_pool2d(hidden, 2)
            weight = getattr(self, f"weight{index}")
            bias = getattr(self, f"bias{index}")
            hidden = F.relu(F.conv2d(hidden, weight, bias, padding=1))
            features.append(hidden)
        return features


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C), averaged over positions, in float32."""
    batch, channels, height, width = features.shape
    flat = features.float().reshape(batch, channels, height * width)
    return flat @ flat.transpose(1, 2) / (height * width)


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels."""
    images = images.float()
    vertical = (images[:, :, 1:, :] - images[:, :, :-1, :]).pow(2).mean()
    horizontal = (images[:, :, :, 1:] - images[:, :, :, :-1]).pow(2).mean()
    return vertical + horizontal


@dataclass
class StyleLosses:
    total: torch.Tensor
    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor


class StyleLoss(nn.Module):
    """Gatys et al.'s loss on the random feature network of ``config``."""

    def __init__(self, config: StyleTransferConfig) -> None:
        super().__init__()
        self.config = config
        self.features = RandomFeatureNetwork(config.feature_widths, config.feature_seed)
        if not 0 <= config.content_layer < len(config.feature_widths):
            raise ValueError(
                f"content_layer {config.content_layer} is not a stage of the feature network"
            )

    def style_targets(self, style: torch.Tensor) -> list[torch.Tensor]:
        """Gram matrices of a (1, C, H, W) style image, one per stage."""
        with torch.no_grad():
            return [gram_matrix(f) for f in self.features(style.float())]

    def content_target(self, content: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.features(content.float())[self.config.content_layer]

    def forward(
        self,
        images: torch.Tensor,
        content_features: torch.Tensor,
        style_grams: list[torch.Tensor],
    ) -> StyleLosses:
        features = self.features(images.float())
        content = F.mse_loss(features[self.config.content_layer], content_features)
        style = torch.stack(
            [
                F.mse_loss(gram_matrix(f), target.expand(f.shape[0], -1, -1))
                for f, target in zip(features, style_grams, strict=True)
            ]
        ).mean()
        tv = total_variation(images)
        config = self.config
        total = (
            config.content_weight * content + config.style_weight * style + config.tv_weight * tv
        )
        return StyleLosses(total, content, style, tv)


# --- (a) Gatys et al.: optimise the pixels -----------------------------------------------


@dataclass
class GatysResult:
    """The optimised image (1, 3, H, W) in [-1, 1] and its losses before and after."""

    image: torch.Tensor
    start: StyleLosses
    end: StyleLosses
    steps: int


def gatys_stylise(
    content: torch.Tensor,
    style: torch.Tensor,
    config: StyleTransferConfig,
    steps: int = 200,
    learning_rate: float = 0.02,
    seed: int = 0,
) -> GatysResult:
    """Optimise an image from white noise (as Gatys et al.) to match ``content``'s
    features and ``style``'s Gram matrices; both are (1, 3, H, W) in [-1, 1].

    """
    loss = StyleLoss(config).to(content.device)
    content_features = loss.content_target(content)
    style_grams = loss.style_targets(style)
    generator = torch.Generator().manual_seed(seed)
    start = torch.rand(content.shape, generator=generator) * 2 - 1
    pixels = start.to(content.device).requires_grad_(True)
    optimizer = torch.optim.Adam([pixels], lr=learning_rate)

    def measure() -> StyleLosses:
        return loss(pixels, content_features, style_grams)

    with torch.no_grad():
        before = measure()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        measure().total.backward()
        optimizer.step()
        with torch.no_grad():
            # Projected onto the valid pixel range: a tanh reparameterisation instead
            # stalls on dark and bright content, where its gradient vanishes.
            pixels.clamp_(-1.0, 1.0)
    with torch.no_grad():
        after = measure()
    return GatysResult(pixels.detach(), before, after, steps)


# --- (b) Johnson et al.: a feed-forward stylisation network ------------------------------


def _conv(in_width: int, out_width: int, kernel: int, stride: int = 1) -> nn.Sequential:
    # Reflection padding, as Johnson et al.'s follow-ups: zero padding darkens the borders.
    return nn.Sequential(
        nn.ReflectionPad2d(kernel // 2), nn.Conv2d(in_width, out_width, kernel, stride)
    )


def _norm(width: int) -> nn.InstanceNorm2d:
    # Instance norm: an image's stylisation must not depend on its batch-mates.
    return nn.InstanceNorm2d(width, affine=True)


class _Residual(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(width, width, 3), _norm(width), nn.ReLU(), _conv(width, width, 3), _norm(width)
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.body(hidden)


class _Upsample(nn.Module):
    """Nearest upsampling then a conv: no transposed-conv checkerboards."""

    def __init__(self, in_width: int, out_width: int) -> None:
        super().__init__()
        self.conv = _conv(in_width, out_width, 3)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(hidden, scale_factor=2.0, mode="nearest"))


# Content pixels are clamped inside (-1, 1) before atanh, which is infinite at +-1.
_SKIP_LIMIT = 0.995


class StylisationNetwork(nn.Module):
    """Johnson et al.'s image transformation network: content (N, 3, H, W) -> stylised.

    Two stride-2 downsamplings, residual blocks, two upsamplings; fully convolutional
    (any H, W divisible by 4), output through tanh in [-1, 1]. With
    ``config.content_skip`` (a departure from the paper) the network's output is added to
    the content image, in atanh space, and starts at zero.
    """

    def __init__(self, config: StyleTransferConfig) -> None:
        super().__init__()
        full, half, quarter = config.widths
        channels = config.channels
        self.layers = nn.Sequential(
            _conv(channels, full, 9),
            _norm(full),
            nn.ReLU(),
            _conv(full, half, 3, 2),
            _norm(half),
            nn.ReLU(),
            _conv(half, quarter, 3, 2),
            _norm(quarter),
            nn.ReLU(),
            *[_Residual(quarter) for _ in range(config.residual_blocks)],
            _Upsample(quarter, half),
            _norm(half),
            nn.ReLU(),
            _Upsample(half, full),
            _norm(full),
            nn.ReLU(),
            _conv(full, channels, 9),
        )
        self.content_skip = config.content_skip
        if self.content_skip:
            # Starts as the identity: the network then learns what to add to the photo,
            # instead of first having to learn to reproduce it.
            last = self.layers[-1][1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        change = self.layers(content)
        if not self.content_skip:
            return torch.tanh(change)
        # In atanh space, so that the sum still lands in (-1, 1) through tanh; atanh
        # spelled out, since the ONNX exporter has no aten::atanh.
        pixels = content.clamp(-_SKIP_LIMIT, _SKIP_LIMIT)
        return torch.tanh(0.5 * torch.log((1 + pixels) / (1 - pixels)) + change)


class StyleTransferModel(nn.Module):
    """The stylisation network, the style image it is trained against, and its loss.

    ``style_image`` (3, S, S) in [-1, 1] is a buffer, so the checkpoint's weights carry
    the exact pixels the network learnt: the "checkpoint's own style".
    """

    def __init__(self, config: StyleTransferConfig) -> None:
        super().__init__()
        self.config = config
        self.stylizer = StylisationNetwork(config)
        size = config.style_size
        self.register_buffer("style_image", torch.zeros(config.channels, size, size))
        self.loss = StyleLoss(config)

    def set_style(self, style: torch.Tensor) -> None:
        """Set the style image, (3, S, S) in [-1, 1]."""
        with torch.no_grad():
            self.style_image.copy_(style.to(self.style_image))

    def losses(self, content: torch.Tensor, stylised: torch.Tensor) -> StyleLosses:
        style_grams = self.loss.style_targets(self.style_image[None])
        return self.loss(stylised, self.loss.content_target(content), style_grams)

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        return self.stylizer(content)


def parameter_count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())
