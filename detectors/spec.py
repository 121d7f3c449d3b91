"""What a detector checkpoint is, as plain data: read by the torch-free inference path too.

Everything that changes how pixels become a score lives here (architecture, input
transform, tile size) next to what turns a score into a verdict (temperature, threshold,
attribution threshold), so that ``config.json`` alone says how a checkpoint must be used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

REAL_CLASS = "real"
UNKNOWN_FAMILY = "unknown"
# The attribution head names a family only when its softmax probability reaches this; below
# it the answer is "unknown" (an AI image from no family seen in training, or a confused one).
DEFAULT_ATTRIBUTION_THRESHOLD = 0.5
DEFAULT_TARGET_FPR = 0.01
# Most tiles scored per image, spread evenly over it; the threshold is set at this tiling.
DEFAULT_MAX_TILES = 64
# The architecture name of a max-fusion of experts (``detectors.fusion``).
FUSION_ARCH = "max_fusion"


@dataclass
class DetectorSpec:
    """Architecture and decision rule of one detector (the body of ``config.json``)."""

    arch: str
    transform: str
    image_size: int
    families: list[str]
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    temperature: float = 1.0
    # p_ai > threshold means "ai". 0.5 until calibrated on held-out real images.
    threshold: float = 0.5
    attribution_threshold: float = DEFAULT_ATTRIBUTION_THRESHOLD
    target_fpr: float | None = None
    calibration: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    # The training data's feature distribution (``detectors.ood``): empty when not fitted.
    ood: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        """Attribution classes: index 0 is real, then the known families in order."""
        return [REAL_CLASS, *self.families]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorSpec:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        spec = cls(**known)
        spec.families = [str(name) for name in spec.families]
        spec.image_size = int(spec.image_size)
        spec.temperature = float(spec.temperature)
        spec.threshold = float(spec.threshold)
        spec.attribution_threshold = float(spec.attribution_threshold)
        return spec
