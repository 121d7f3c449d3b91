"""A tiny ResNet for the NPR residual, trained from scratch (Tan et al., CVPR 2024).

NPR shows that a shallow network on ``x - up(down(x))`` generalises across generators as
well as deep ImageNet backbones: the signal is local, so depth and pretraining buy little.
This one is small enough to train in seconds on a CPU (tests, smoke runs) and to serve at
thousands of 64 px tiles per second.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

DEFAULT_TRANSFORM = "npr"


class _Block(nn.Module):
    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.act = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(
                nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + self.shortcut(x))


class NPRNet(nn.Module):
    """Stem at full resolution (the residual is a per-pixel signal), then ``stages`` stages
    of ``blocks`` residual blocks; each stage after the first halves the resolution and
    doubles the width. The defaults are ``npr_tiny`` (77k parameters); ``npr_small`` adds a
    third stage (32-128 channels, 0.3M parameters) for about 1.6x the compute."""

    def __init__(
        self, width: int = 32, in_chans: int = 3, stages: int = 2, blocks: int = 1
    ) -> None:
        super().__init__()
        if stages < 1 or blocks < 1:
            raise ValueError("an NPR network needs at least one stage of one block")
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        channels = width
        for stage in range(stages):
            outputs = width * 2**stage
            for block in range(blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(_Block(channels, outputs, stride))
                channels = outputs
        self.stages = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return torch.flatten(self.pool(x), 1)


def build_backbone(width: int = 32, **kwargs: Any) -> tuple[nn.Module, int]:
    model = NPRNet(width=width, **kwargs)
    return model, model.num_features
