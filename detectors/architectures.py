"""The detector architectures, by name, and ``create_detector`` (timm-style factory).

The table is explicit rather than import-time decorators: listing the names
(``--help``, config validation) needs neither torch nor the backbone modules, and a
backbone module is imported only when a detector of that kind is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

from detectors.spec import FUSION_ARCH, DetectorSpec
from provenance.errors import ProvauditError

if TYPE_CHECKING:
    from detectors.fusion import MaxFusion
    from detectors.model import DetectorModel


class UnknownDetectorError(ProvauditError):
    code = "unknown_detector"


@dataclass(frozen=True)
class DetectorEntry:
    name: str
    module: str
    default_transform: str
    summary: str
    # Keyword defaults of this name over the module's ``build_backbone`` (one module can
    # serve several sizes of one family, as timm's resnet18/resnet34 do).
    defaults: tuple[tuple[str, Any], ...] = ()


_ARCHITECTURES: dict[str, DetectorEntry] = {
    entry.name: entry
    for entry in (
        DetectorEntry(
            "npr_tiny", "detectors.npr", "npr", "tiny ResNet on the NPR residual (fastest)"
        ),
        DetectorEntry(
            "npr_small",
            "detectors.npr",
            "npr",
            "3-stage ResNet (32-128 channels) on the NPR residual",
            defaults=(("stages", 3),),
        ),
        DetectorEntry(
            "resnet18", "detectors.resnet", "raw", "timm resnet18, 3x3 stride-1 stem, no max-pool"
        ),
        DetectorEntry(
            "convnext_atto", "detectors.convnext", "raw", "timm convnext_atto, 2x2 patch stem"
        ),
        DetectorEntry("efficientnet_b0", "detectors.efficientnet", "raw", "timm efficientnet_b0"),
    )
}


def list_detectors() -> list[str]:
    return list(_ARCHITECTURES)


def get_entry(name: str) -> DetectorEntry:
    try:
        return _ARCHITECTURES[name]
    except KeyError:
        raise UnknownDetectorError(
            f"There is no detector architecture named {name!r}; use one of "
            f"{', '.join(_ARCHITECTURES)}."
        ) from None


def create_detector(
    name: str,
    *,
    families: list[str] | tuple[str, ...] = (),
    transform: str | None = None,
    image_size: int = 64,
    **kwargs: Any,
) -> DetectorModel:
    """Build an untrained detector (never downloads: timm backbones use pretrained=False).

    ``None`` keyword values are dropped, so a CLI option left unset keeps the backbone's
    own default instead of overriding it with None.
    """
    from detectors.model import DetectorModel
    from detectors.transforms import TRANSFORMS, transform_channels

    entry = get_entry(name)
    chosen = transform or entry.default_transform
    if chosen not in TRANSFORMS:
        raise UnknownDetectorError(
            f"There is no input transform named {chosen!r}; use one of {', '.join(TRANSFORMS)}."
        )
    arch_kwargs = dict(entry.defaults)
    arch_kwargs.update({key: value for key, value in kwargs.items() if value is not None})
    if transform_channels(chosen) != 3:
        arch_kwargs["in_chans"] = transform_channels(chosen)
    spec = DetectorSpec(
        arch=name,
        transform=chosen,
        image_size=int(image_size),
        families=list(families),
        arch_kwargs=arch_kwargs,
    )
    backbone, num_features = import_module(entry.module).build_backbone(**arch_kwargs)
    return DetectorModel(spec, backbone, num_features)


def model_from_spec(spec: DetectorSpec) -> DetectorModel | MaxFusion:
    """The untrained network a checkpoint's spec describes (weights are loaded after)."""
    if spec.arch == FUSION_ARCH:
        return fusion_from_spec(spec)
    model = create_detector(
        spec.arch,
        families=spec.families,
        transform=spec.transform,
        image_size=spec.image_size,
        **spec.arch_kwargs,
    )
    model.spec = spec
    return model


def fusion_from_spec(spec: DetectorSpec) -> MaxFusion:
    """The untrained fused network a checkpoint's spec describes."""
    from detectors.fusion import FusionError, MaxFusion

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
