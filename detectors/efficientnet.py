"""timm EfficientNet-B0: the usual accuracy-per-FLOP baseline for larger tiles."""

from __future__ import annotations

from typing import Any

from torch import nn

DEFAULT_TRANSFORM = "raw"


def build_backbone(**kwargs: Any) -> tuple[nn.Module, int]:
    import timm

    model = timm.create_model("efficientnet_b0", pretrained=False, num_classes=0, **kwargs)
    return model, int(model.num_features)
