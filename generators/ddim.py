"""The DDIM sampler (Song et al., 2021) over a trained DDPM schedule.

DDIM reuses the DDPM network and schedule unchanged and takes N << T steps;
``eta`` interpolates between the deterministic sampler (0) and DDPM-like ancestral noise
(1). Like :mod:`generators.ddpm` it steps torch tensors and numpy arrays alike, which is
what lets the ONNX path sample without torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from generators.ddpm import Array, DDPMSchedule, ReverseSampler


@dataclass
class DDIMStepOutput:
    prev_sample: Array
    pred_original_sample: Array


class DDIMSampler(ReverseSampler):
    """``num_steps`` DDIM steps with stochasticity ``eta`` (0 = deterministic)."""

    name = "ddim"

    def __init__(self, schedule: DDPMSchedule, num_steps: int = 50, eta: float = 0.0) -> None:
        if eta < 0:
            raise ValueError(f"eta must be non-negative, got {eta}")
        self.schedule = schedule
        self.num_steps = num_steps
        self.eta = eta
        self.timesteps = schedule.inference_timesteps(num_steps)

    def step(
        self,
        epsilon: Array,
        timestep: int,
        prev_timestep: int,
        sample: Array,
        noise: Array | None,
    ) -> DDIMStepOutput:
        """x_t -> x_prev by equation 12 of the DDIM paper.

        When x_0 is clipped, epsilon is re-derived from the clipped x_0 (as diffusers
        does) so that the direction term points at the image actually predicted.
        """
        schedule = self.schedule
        alpha_bar = schedule.alpha_cumprod_at(timestep)
        alpha_bar_prev = schedule.alpha_cumprod_at(prev_timestep)
        original = schedule.predict_original(epsilon, timestep, sample)
        if schedule.config.clip_sample:
            epsilon = (sample - math.sqrt(alpha_bar) * original) * (
                1.0 / math.sqrt(1.0 - alpha_bar)
            )
        variance = (1.0 - alpha_bar_prev) / (1.0 - alpha_bar) * (1.0 - alpha_bar / alpha_bar_prev)
        sigma = self.eta * math.sqrt(max(variance, 0.0))
        direction = math.sqrt(max(1.0 - alpha_bar_prev - sigma**2, 0.0))
        prev = math.sqrt(alpha_bar_prev) * original + direction * epsilon
        if sigma > 0 and noise is not None:
            prev = prev + sigma * noise
        return DDIMStepOutput(prev_sample=prev, pred_original_sample=original)

    @property
    def stochastic(self) -> bool:
        return self.eta > 0

    def reverse_step(
        self, epsilon: Array, timestep: int, prev_timestep: int, sample: Array, noise: Array | None
    ) -> Array:
        return self.step(epsilon, timestep, prev_timestep, sample, noise).prev_sample
