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
from pathlib import Path
from typing import Any

import torch
from torch import nn

from detectors.model import DetectorModel
from detectors.spec import DEFAULT_TARGET_FPR, FUSION_ARCH, DetectorSpec
from provenance.errors import ProvauditError

__all__ = ["EXPERTS_FOLDER", "FUSION_ARCH", "FusionError", "MaxFusion", "fuse_checkpoints"]
EXPERTS_FOLDER = "experts"


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
    """The fused spec; ``arch_kwargs["experts"]`` rebuilds the network (see ``from_spec``)."""
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


def from_spec(spec: DetectorSpec) -> MaxFusion:
    """The untrained fused network a checkpoint's spec describes."""
    from detectors.registry import create_detector

    try:
        members = spec.arch_kwargs["experts"]
        experts = [
            create_detector(
                member["arch"],
                families=spec.families,
                transform=member["transform"],
                image_size=spec.image_size,
                **member["arch_kwargs"],
            )
            for member in members
        ]
    except (KeyError, TypeError) as exc:
        raise FusionError(f"The fusion's expert list is malformed ({exc}).") from None
    return MaxFusion(spec, experts)


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


def fuse_checkpoints(
    experts: list[Path],
    data: Any,
    output: Path,
    *,
    target_fpr: float = DEFAULT_TARGET_FPR,
    max_tiles: int = 4,
) -> dict[str, Any]:
    """Fuse expert checkpoints, calibrate the fusion on ``data`` and save it to ``output``.

    ``data`` must be the data set the experts trained on: its validation and calibration
    splits are the images none of them saw, which is what calibration needs.
    """
    from detectors.calibrate import calibrate_model
    from detectors.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint

    infos = [read_checkpoint(path) for path in experts]
    for info in infos:
        digest = info.spec.training.get("data_digest")
        if digest != data.digest:
            raise FusionError(
                f"The expert {info.directory} was trained on other images (data digest "
                f"{str(digest)[:12]}) than these ({data.digest[:12]}); fusing needs the same "
                "data set, so that calibration uses only images no expert trained on."
            )
    model = fuse([load_checkpoint(info.directory) for info in infos])
    calibration = calibrate_model(model, data, target_fpr, max_tiles)
    output = Path(output)
    model.spec.training = {
        "data_digest": data.digest,
        "fusion": "max of the experts' calibrated logits",
        "experts": [
            {
                "checkpoint": _relative(info.directory, output),
                "weights_sha256": info.weights_sha256,
                "transform": info.spec.transform,
                "temperature": info.spec.temperature,
                "training": info.spec.training,
            }
            for info in infos
        ],
    }
    save_checkpoint(output, model)
    return {"checkpoint": str(output), "calibration": calibration}


def _relative(path: Path, start: Path) -> str:
    path, start = Path(path).resolve(), Path(start).resolve()
    return str(path.relative_to(start)) if path.is_relative_to(start) else str(path)
