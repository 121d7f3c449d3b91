"""What every torch training loop of provaudit shares: where it runs, and its weight average.

Both the generators' and the detectors' training use these, so ``--device`` and the
moving average of the weights behave the same way in each (torch install only).
"""

from __future__ import annotations

import os

import torch
from torch import nn

from provenance.errors import ProvauditError


class DeviceError(ProvauditError):
    code = "bad_device"


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: this process's GPU when there is one (``LOCAL_RANK`` under torchrun), else
    the CPU; ``cpu``, ``cuda`` or ``cuda:N`` as asked, refused where it does not exist."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise DeviceError(f"Unknown device {name!r}; use auto, cpu or cuda.") from None
    if device.type not in ("cpu", "cuda"):
        raise DeviceError(f"Unknown device {name!r}; use auto, cpu or cuda.")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA is not available on this machine; use --device cpu or auto.")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


def ema_decay(decay: float, updates: int) -> float:
    """The decay of the ``updates``-th update (0 for the first), warmed up as TensorFlow's
    ExponentialMovingAverage does: early on the average follows the weights closely instead
    of remembering the random initialisation for ~1/(1-decay) steps."""
    return min(decay, (1 + updates) / (10 + updates))


@torch.no_grad()
def update_ema(average: nn.Module, model: nn.Module, decay: float, updates: int) -> None:
    """One step of the moving average of ``model``'s weights into ``average`` (buffers,
    such as batch-norm statistics, are copied)."""
    weight = 1.0 - ema_decay(decay, updates)
    for target, source in zip(average.parameters(), model.parameters(), strict=True):
        target.lerp_(source.detach(), weight)
    for target, source in zip(average.buffers(), model.buffers(), strict=True):
        target.copy_(source)
