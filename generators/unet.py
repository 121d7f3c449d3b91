"""A small DDPM UNet (Ho et al., 2020) that predicts the noise in x_t.

The default 32 px configuration has about 6M parameters: enough to learn small photo
crops, small enough to train on one GPU in minutes. Attention is written out with
matmul and softmax rather than ``scaled_dot_product_attention`` so that the ONNX export
is plain opset operations every runtime has.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from generators.configs import UNetConfig


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

    def __init__(self, blocks: list[ResidualBlock], attentions: list[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attentions = nn.ModuleList(attentions)


class UNet(nn.Module):
    """(x_t, t) -> predicted noise, same shape as x_t."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
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

        def attention_or_identity(level: int, channels: int) -> nn.Module:
            if level in config.attention_levels:
                return SelfAttention(channels, heads, groups)
            return nn.Identity()

        skip_widths = [base]
        width = base
        self.down_levels = nn.ModuleList()
        self.downsamplers = nn.ModuleList()
        for level, multiplier in enumerate(config.width_multipliers):
            out_width = base * multiplier
            blocks, attentions = [], []
            for _ in range(config.blocks_per_level):
                blocks.append(ResidualBlock(width, out_width, time_width, groups, dropout))
                attentions.append(attention_or_identity(level, out_width))
                width = out_width
                skip_widths.append(width)
            self.down_levels.append(Level(blocks, attentions))
            if level < levels - 1:
                self.downsamplers.append(Downsample(width))
                skip_widths.append(width)
            else:
                self.downsamplers.append(nn.Identity())

        self.mid_block1 = ResidualBlock(width, width, time_width, groups, dropout)
        self.mid_attention = SelfAttention(width, heads, groups)
        self.mid_block2 = ResidualBlock(width, width, time_width, groups, dropout)

        self.up_levels = nn.ModuleList()
        self.upsamplers = nn.ModuleList()
        for level, multiplier in reversed(list(enumerate(config.width_multipliers))):
            out_width = base * multiplier
            blocks, attentions = [], []
            for _ in range(config.blocks_per_level + 1):
                blocks.append(
                    ResidualBlock(width + skip_widths.pop(), out_width, time_width, groups, dropout)
                )
                attentions.append(attention_or_identity(level, out_width))
                width = out_width
            self.up_levels.append(Level(blocks, attentions))
            self.upsamplers.append(Upsample(width) if level > 0 else nn.Identity())

        self.norm_out = _norm(width, groups)
        self.conv_out = nn.Conv2d(width, config.channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, sample: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """The noise prediction as a plain tensor, which keeps ONNX export and
        ``torch.compile`` simple."""
        time = self.time_mlp(timestep_embedding(timesteps, self.config.base_width))
        hidden = self.conv_in(sample)
        skips = [hidden]
        for level, downsample in zip(self.down_levels, self.downsamplers, strict=True):
            for block, attention in zip(level.blocks, level.attentions, strict=True):
                hidden = attention(block(hidden, time))
                skips.append(hidden)
            if not isinstance(downsample, nn.Identity):
                hidden = downsample(hidden)
                skips.append(hidden)
        hidden = self.mid_block2(self.mid_attention(self.mid_block1(hidden, time)), time)
        for level, upsample in zip(self.up_levels, self.upsamplers, strict=True):
            for block, attention in zip(level.blocks, level.attentions, strict=True):
                hidden = attention(block(torch.cat([hidden, skips.pop()], dim=1), time))
            hidden = upsample(hidden)
        return self.conv_out(F.silu(self.norm_out(hidden)))


def parameter_count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())
