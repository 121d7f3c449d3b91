"""Max-fusion: several independently trained experts, one verdict, one checkpoint.

Each expert reads the image through its own input transform (say ``npr_raw``, whose
upsampling residual survives recompression, and ``chroma``, the fine colour detail every
bundled generator family overdoes, which generalises to families left out of training but
is erased by JPEG's colour subsampling). The fused binary logit is the larger of the
experts' *calibrated* logits: a generated image needs only one expert to notice it, and a
real photo must look real to all of them. Each expert's temperature is folded into its
binary head when the fusion is built, so the max compares log-odds on one scale; the
fusion is then calibrated as a whole (shift and temperature on the validation split,
threshold on held-out reals) like any single detector, and the shift is folded into every
expert's head (``max(a - s, b - s) = max(a, b) - s``).

The experts are trained apart rather than jointly through the max, so that each one is
exactly the detector whose figures ``bench/loo_fusion.py`` reports alone and fused; through
the max, only the expert that wins an image would get its gradient, a different training
problem this project has not measured.

Attribution is the experts' mean log-probability over ``[real, *families]`` (a normalised
geometric mean once the scorer applies its softmax).

The whole fusion is one ``nn.Module``, so the safetensors file, the ONNX graph, the torch
and onnxruntime scorers, calibration and evaluation treat it like any other detector.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from detectors.model import DetectorModel
from detectors.spec import FUSION_ARCH, DetectorSpec
from provenance.errors import ProvauditError

__all__ = ["FUSION_ARCH", "FusionError", "MaxFusion", "fuse", "fusion_spec"]


class FusionError(ProvauditError):
    code = "bad_fusion"


class MaxFusion(nn.Module):
    def __init__(self, spec: DetectorSpec, experts: list[DetectorModel]) -> None:
        super().__init__()
        self.spec = spec
        self.experts = nn.ModuleList(experts)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logit, attribution, _ = self.forward_features(x)
        return logit, attribution

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """As :meth:`forward`, plus the experts' features side by side."""
        logits, log_probs, features = [], [], []
        for expert in self.experts:
            logit, attribution, feature = expert.forward_features(x)
            logits.append(logit)
            log_probs.append(torch.log_softmax(attribution.float(), dim=1))
            features.append(feature)
        return (
            torch.stack(logits).amax(dim=0),
            torch.stack(log_probs).mean(dim=0),
            torch.cat(features, dim=1),
        )

    def shift_logit(self, shift: float) -> None:
        for expert in self.experts:
            expert.shift_logit(shift)


def fusion_spec(experts: list[DetectorSpec]) -> DetectorSpec:
    """The fused spec; ``arch_kwargs["experts"]`` rebuilds the network
    (``detectors.architectures.fusion_from_spec``)."""
    if len(experts) < 2:
        raise FusionError("A fusion needs at least two experts.")
    first = experts[0]
    for spec in experts[1:]:
        if spec.image_size != first.image_size or spec.families != first.families:
            raise FusionError(
                "The experts must share tile size and families to be fused; got "
                f"{first.image_size} px {first.families} and {spec.image_size} px "
                f"{spec.families}."
            )
    return DetectorSpec(
        arch=FUSION_ARCH,
        transform="+".join(spec.transform for spec in experts),
        image_size=first.image_size,
        families=list(first.families),
        arch_kwargs={
            "experts": [
                {"arch": s.arch, "transform": s.transform, "arch_kwargs": s.arch_kwargs}
                for s in experts
            ]
        },
    )


def fuse(experts: list[DetectorModel]) -> MaxFusion:
    """The uncalibrated fusion of calibrated experts (each temperature folded into its head)."""
    members = []
    for expert in experts:
        if expert.spec.arch == FUSION_ARCH:
            raise FusionError("An expert cannot itself be a fusion; fuse its experts instead.")
        member = expert.float().cpu().eval()
        with torch.no_grad():
            member.binary.weight /= member.spec.temperature
            member.binary.bias /= member.spec.temperature
        member.spec = replace(member.spec, temperature=1.0)
        members.append(member)
    return MaxFusion(fusion_spec([m.spec for m in members]), members)
