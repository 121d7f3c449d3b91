"""timm ResNet-18 for small inputs: a 3x3 stride-1 stem and no max-pool.

The ImageNet stem (7x7 stride 2 + max-pool) divides resolution by 4 before the first block,
which on 32-64 px tiles throws away the very pixel-level traces a detector needs.
"""

from __future__ import annotations

from typing import Any

from torch import nn

DEFAULT_TRANSFORM = "raw"


def build_backbone(**kwargs: Any) -> tuple[nn.Module, int]:
    import timm

    model = timm.create_model("resnet18", pretrained=False, num_classes=0, **kwargs)
    width = model.conv1.out_channels
    model.conv1 = nn.Conv2d(model.conv1.in_channels, width, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model, int(model.num_features)
