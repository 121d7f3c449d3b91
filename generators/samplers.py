"""Choosing a diffusion sampler by name: shared by the torch and the ONNX sampling paths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from generators.configs import ConfigError
from generators.ddim import DDIMSampler
from generators.ddpm import DDPMSampler, DDPMSchedule

SamplerName = Literal["ddim", "ddpm"]
SAMPLERS: tuple[SamplerName, ...] = ("ddim", "ddpm")


@dataclass
class SampleOutput:
    """Images as float32 NCHW numpy in [-1, 1], and how they were sampled.

    ``sampler`` and ``steps`` are None for single-pass families (GAN, VAE). Shared by
    the torch and the ONNX paths, so it must not need torch.
    """

    images: np.ndarray
    sampler: str | None
    steps: int | None


def make_sampler(
    schedule: DDPMSchedule, name: str, num_steps: int | None, eta: float = 0.0
) -> DDIMSampler | DDPMSampler:
    """``ddim`` with ``num_steps`` (50 if None) or ``ddpm`` (all T steps if None)."""
    total = schedule.num_train_timesteps
    if num_steps is not None and not 1 <= num_steps <= total:
        raise ConfigError(
            f"--sampling-steps must be between 1 and {total} (the model's training "
            f"timesteps), got {num_steps}."
        )
    if name == "ddim":
        return DDIMSampler(schedule, num_steps or min(50, total), eta)
    if name == "ddpm":
        return DDPMSampler(schedule, num_steps)
    raise ConfigError(f"Unknown sampler {name!r}; use one of {', '.join(SAMPLERS)}.")
