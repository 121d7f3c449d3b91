"""A small DDPM UNet (Ho et al., 2020) that predicts the noise in x_t.

The default 32 px configuration has about 6M parameters: enough to learn small photo
crops, small enough to train on one GPU in minutes. Attention is written out with
matmul and softmax rather than ``scaled_dot_product_attention`` so that the ONNX export
is plain opset operations every runtime has.

With ``context_width > 0`` the UNet is text-conditioned (:mod:`generators.text`): the
pooled text embedding is added to the time embedding, which every residual block projects
into its channels, and the token embeddings are attended to by cross-attention after each
self-attention (Rombach et al., 2022). With the default 0 none of those modules exist, so
the unconditional UNet's weights and outputs are unchanged.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from generators.configs import UNetConfig


class TextContext(NamedTuple):
    """What the UNet is conditioned on: token embeddings (N, L, W), an additive attention
    bias that hides padding (N, 1, 1, L), and the pooled embedding (N, W)."""

    tokens: torch.Tensor
    padding_bias: torch.Tensor
    pooled: torch.Tensor


def timestep_embedding(timesteps: torch.Tensor, width: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (Transformer positions), (N,) -> (N, width)."""
    half = width // 2
    frequencies = torch.exp(
        -math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half
    )
    angles = timesteps.float()[:, None] * frequencies[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    groups = math.gcd(channels, groups)
    return nn.GroupNorm(groups, channels)


class ResidualBlock(nn.Module):
    def __init__(
        self, in_channels: int, out_channels: int, time_width: int, groups: int, dropout: float
    ) -> None:
        super().__init__()
        self.norm1 = _norm(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time_projection = nn.Linear(time_width, out_channels)
        self.norm2 = _norm(out_channels, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        # Zero-initialised last conv: each block starts as the identity, which keeps
        # early training stable without warm-up.
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = (
            nn.Conv2d(in_channels, out_channels, 1)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        hidden = self.conv1(F.silu(self.norm1(x)))
        hidden = hidden + self.time_projection(F.silu(time))[:, :, None, None]
        hidden = self.conv2(self.dropout(F.silu(self.norm2(hidden))))
        return self.skip(x) + hidden


class SelfAttention(nn.Module):
    def __init__(self, channels: int, heads: int, groups: int) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"{channels} channels do not split into {heads} attention heads")
        self.heads = heads
        self.norm = _norm(channels, groups)
        self.qkv = nn.Conv2d(channels, channels * 3, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        head_width = channels // self.heads
        qkv = self.qkv(self.norm(x)).reshape(batch, 3, self.heads, head_width, height * width)
        query, key, value = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        weights = torch.softmax(
            torch.matmul(query.transpose(-1, -2), key) * head_width**-0.5, dim=-1
        )
        attended = torch.matmul(value, weights.transpose(-1, -2))
        return x + self.out(attended.reshape(batch, channels, height, width))


class CrossAttention(nn.Module):
    """Pixels (queries) attend to the prompt's token embeddings (keys and values)."""

    def __init__(self, channels: int, context_width: int, heads: int, groups: int) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"{channels} channels do not split into {heads} attention heads")
        self.heads = heads
        self.norm = _norm(channels, groups)
        self.query = nn.Conv2d(channels, channels, 1)
        self.key = nn.Linear(context_width, channels)
        self.value = nn.Linear(context_width, channels)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, context: TextContext) -> torch.Tensor:
        batch, channels, height, width = x.shape
        head_width = channels // self.heads
        query = self.query(self.norm(x)).reshape(batch, self.heads, head_width, height * width)
        length = context.tokens.shape[1]

        def heads_of(projected: torch.Tensor) -> torch.Tensor:  # (N, L, C) -> (N, H, d, L)
            return projected.reshape(batch, length, self.heads, head_width).permute(0, 2, 3, 1)

        key, value = heads_of(self.key(context.tokens)), heads_of(self.value(context.tokens))
        scores = torch.matmul(query.transpose(-1, -2), key) * head_width**-0.5
        weights = torch.softmax(scores + context.padding_bias, dim=-1)
        attended = torch.matmul(value, weights.transpose(-1, -2))
        return x + self.out(attended.reshape(batch, channels, height, width))


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Level(nn.Module):
    """The residual (and attention) blocks of one resolution, on one side of the UNet."""

    def __init__(
        self,
        blocks: list[ResidualBlock],
        attentions: list[nn.Module],
        cross_attentions: list[nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attentions = nn.ModuleList(attentions)
        if cross_attentions is not None:
            self.cross_attentions = nn.ModuleList(cross_attentions)

    def attend(self, index: int, hidden: torch.Tensor, context: TextContext | None) -> torch.Tensor:
        hidden = self.attentions[index](hidden)
        if context is not None:
            cross = self.cross_attentions[index]
            if not isinstance(cross, nn.Identity):
                hidden = cross(hidden, context)
        return hidden


class UNet(nn.Module):
    """(x_t, t[, text context]) -> predicted noise, same shape as x_t."""

    def __init__(self, config: UNetConfig, context_width: int = 0) -> None:
        super().__init__()
        self.config = config
        self.context_width = context_width
        base = config.base_width
        time_width = base * 4
        groups, heads, dropout = config.norm_groups, config.attention_heads, config.dropout
        levels = len(config.width_multipliers)
        if config.image_size % 2 ** (levels - 1):
            raise ValueError(f"image size {config.image_size} does not halve {levels - 1} times")

        self.time_mlp = nn.Sequential(
            nn.Linear(base, time_width), nn.SiLU(), nn.Linear(time_width, time_width)
        )
        self.conv_in = nn.Conv2d(config.channels, base, 3, padding=1)

        if context_width:
            self.context_projection = nn.Linear(context_width, time_width)

        def attention_or_identity(level: int, channels: int) -> nn.Module:
            if level in config.attention_levels:
                return SelfAttention(channels, heads, groups)
            return nn.Identity()

        def cross_attention_or_identity(level: int, channels: int) -> nn.Module:
            if level in config.attention_levels:
                return CrossAttention(channels, context_width, heads, groups)
            return nn.Identity()

        # Modules are created block by block in one fixed order: a seeded unconditional
        # UNet must draw its initial weights exactly as it always has.
        def add_block(
            level: int, in_width: int, out_width: int, into: tuple[list[nn.Module], ...]
        ) -> None:
            blocks, attentions, crosses = into
            blocks.append(ResidualBlock(in_width, out_width, time_width, groups, dropout))
            attentions.append(attention_or_identity(level, out_width))
            if context_width:
                crosses.append(cross_attention_or_identity(level, out_width))

        def level_of(into: tuple[list[nn.Module], ...]) -> Level:
            blocks, attentions, crosses = into
            return Level(blocks, attentions, crosses if context_width else None)  # type: ignore[arg-type]

        skip_widths = [base]
        width = base
        self.down_levels = nn.ModuleList()
        self.downsamplers = nn.ModuleList()
        for level, multiplier in enumerate(config.width_multipliers):
            out_width = base * multiplier
            parts: tuple[list[nn.Module], ...] = ([], [], [])
            for _ in range(config.blocks_per_level):
                add_block(level, width, out_width, parts)
                width = out_width
                skip_widths.append(width)
            self.down_levels.append(level_of(parts))
            if level < levels - 1:
                self.downsamplers.append(Downsample(width))
                skip_widths.append(width)
            else:
                self.downsamplers.append(nn.Identity())

        self.mid_block1 = ResidualBlock(width, width, time_width, groups, dropout)
        self.mid_attention = SelfAttention(width, heads, groups)
        if context_width:
            self.mid_cross_attention = CrossAttention(width, context_width, heads, groups)
        self.mid_block2 = ResidualBlock(width, width, time_width, groups, dropout)

        self.up_levels = nn.ModuleList()
        self.upsamplers = nn.ModuleList()
        for level, multiplier in reversed(list(enumerate(config.width_multipliers))):
            out_width = base * multiplier
            parts = ([], [], [])
            for _ in range(config.blocks_per_level + 1):
                add_block(level, width + skip_widths.pop(), out_width, parts)
                width = out_width
            self.up_levels.append(level_of(parts))
            self.upsamplers.append(Upsample(width) if level > 0 else nn.Identity())

        self.norm_out = _norm(width, groups)
        self.conv_out = nn.Conv2d(width, config.channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(
        self, sample: torch.Tensor, timesteps: torch.Tensor, context: TextContext | None = None
    ) -> torch.Tensor:
        """The noise prediction as a plain tensor, which keeps ONNX export and
        ``torch.compile`` simple. ``context`` only for a UNet built with a context width."""
        if context is not None and not self.context_width:
            raise ValueError("this UNet was built without text conditioning")
        time = self.time_mlp(timestep_embedding(timesteps, self.config.base_width))
        if context is not None:
            time = time + self.context_projection(context.pooled)
        hidden = self.conv_in(sample)
        skips = [hidden]
        for level, downsample in zip(self.down_levels, self.downsamplers, strict=True):
            for index, block in enumerate(level.blocks):
                hidden = level.attend(index, block(hidden, time), context)
                skips.append(hidden)
            if not isinstance(downsample, nn.Identity):
                hidden = downsample(hidden)
                skips.append(hidden)
        hidden = self.mid_attention(self.mid_block1(hidden, time))
        if context is not None:
            hidden = self.mid_cross_attention(hidden, context)
        hidden = self.mid_block2(hidden, time)
        for level, upsample in zip(self.up_levels, self.upsamplers, strict=True):
            for index, block in enumerate(level.blocks):
                hidden = level.attend(
                    index, block(torch.cat([hidden, skips.pop()], dim=1), time), context
                )
            hidden = upsample(hidden)
        return self.conv_out(F.silu(self.norm_out(hidden)))


def parameter_count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())
