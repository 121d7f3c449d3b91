"""timm ConvNeXt-atto with a small patchify stem.

The default 4x4 patch stem sees a 64 px tile as 16x16 tokens and mixes every 4x4 block
at once; a 2x2 patch keeps twice the resolution for the high-frequency traces.
"""

from __future__ import annotations

from typing import Any

from torch import nn

DEFAULT_TRANSFORM = "raw"


def build_backbone(patch_size: int = 2, **kwargs: Any) -> tuple[nn.Module, int]:
    import timm

    model = timm.create_model(
        "convnext_atto", pretrained=False, num_classes=0, patch_size=patch_size, **kwargs
    )
    return model, int(model.num_features)
