"""The DDPM noise schedule (Ho et al., 2020) and its ancestral sampler.

The schedule is held in float64 numpy and each sampler step reduces to a few scalar
coefficients times arrays, so the same code steps torch tensors (training, torch
sampling) and numpy arrays (the ONNX path, which has no torch). The model predicts the
noise epsilon, as in the paper.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from generators.noise import PerImageNoise

BetaSchedule = Literal["linear", "cosine"]
# An array of either backend: a torch.Tensor or a numpy.ndarray.
Array = Any
EpsilonFn = Callable[[Array, int], Array]


@dataclass(frozen=True)
class DDPMScheduleConfig:
    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    beta_schedule: BetaSchedule = "linear"
    clip_sample: bool = True


@dataclass
class DDPMStepOutput:
    prev_sample: Array
    pred_original_sample: Array


@dataclass
class DenoisingOutput:
    """Images in [-1, 1] (NCHW) and the number of network evaluations they cost."""

    images: Array
    network_evaluations: int


def _betas(config: DDPMScheduleConfig) -> np.ndarray:
    steps = config.num_train_timesteps
    if config.beta_schedule == "linear":
        return np.linspace(config.beta_start, config.beta_end, steps, dtype=np.float64)
    if config.beta_schedule == "cosine":  # Nichol & Dhariwal 2021, betas capped at 0.999

        def alpha_bar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        return np.array(
            [
                min(1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), 0.999)
                for i in range(steps)
            ],
            dtype=np.float64,
        )
    raise ValueError(f"unknown beta schedule {config.beta_schedule!r}")


def _gather(values: np.ndarray, timesteps: Array, like: Array) -> Array:
    """``values[timesteps]`` shaped (N, 1, 1, 1) in ``like``'s backend, dtype and device."""
    if isinstance(like, np.ndarray):
        return values[np.asarray(timesteps)].astype(like.dtype).reshape(-1, 1, 1, 1)
    import torch

    table = torch.as_tensor(values, dtype=torch.float32, device=like.device)
    return table[timesteps.to(like.device)].to(like.dtype).view(-1, 1, 1, 1)


class DDPMSchedule:
    """Betas and cumulative alphas, forward noising, and one ancestral step."""

    def __init__(self, config: DDPMScheduleConfig | None = None) -> None:
        self.config = config or DDPMScheduleConfig()
        self.betas = _betas(self.config)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = np.cumprod(self.alphas)
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)

    @property
    def num_train_timesteps(self) -> int:
        return self.config.num_train_timesteps

    def add_noise(self, original: Array, noise: Array, timesteps: Array) -> Array:
        """q(x_t | x_0): ``sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``."""
        return (
            _gather(self.sqrt_alphas_cumprod, timesteps, original) * original
            + _gather(self.sqrt_one_minus_alphas_cumprod, timesteps, original) * noise
        )

    def alpha_cumprod_at(self, timestep: int) -> float:
        """abar at ``timestep``; 1.0 before the first step (t = -1 means "clean")."""
        return 1.0 if timestep < 0 else float(self.alphas_cumprod[timestep])

    def predict_original(self, epsilon: Array, timestep: int, sample: Array) -> Array:
        alpha_bar = self.alpha_cumprod_at(timestep)
        original = (sample - math.sqrt(1.0 - alpha_bar) * epsilon) * (1.0 / math.sqrt(alpha_bar))
        return original.clip(-1.0, 1.0) if self.config.clip_sample else original

    def inference_timesteps(self, num_steps: int) -> list[int]:
        """Evenly spaced timesteps ending at T-1 ("trailing" spacing, Lin et al. 2023).

        Trailing spacing always starts from pure noise (t = T-1), which matters with few
        steps: "leading" spacing starts at T - T/N and leaves visible low-frequency noise.
        """
        total = self.num_train_timesteps
        if not 1 <= num_steps <= total:
            raise ValueError(f"sampling steps must be between 1 and {total}, got {num_steps}")
        steps = np.round(np.arange(total, 0, -total / num_steps)).astype(np.int64) - 1
        return [int(t) for t in steps]

    def step(
        self,
        epsilon: Array,
        timestep: int,
        sample: Array,
        noise: Array | None,
        prev_timestep: int | None = None,
    ) -> DDPMStepOutput:
        """One ancestral step x_t -> x_prev (posterior mean plus posterior-variance noise).

        With ``prev_timestep`` below ``timestep - 1`` this is the strided DDPM of Nichol &
        Dhariwal: the betas are recomputed for the jump so the chain stays consistent.
        """
        if prev_timestep is None:
            prev_timestep = timestep - 1
        alpha_bar = self.alpha_cumprod_at(timestep)
        alpha_bar_prev = self.alpha_cumprod_at(prev_timestep)
        beta = 1.0 - alpha_bar / alpha_bar_prev
        original = self.predict_original(epsilon, timestep, sample)
        original_coeff = math.sqrt(alpha_bar_prev) * beta / (1.0 - alpha_bar)
        sample_coeff = math.sqrt(1.0 - beta) * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
        prev = original_coeff * original + sample_coeff * sample
        if prev_timestep >= 0 and noise is not None:
            variance = max(beta * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar), 1e-20)
            prev = prev + math.sqrt(variance) * noise
        return DDPMStepOutput(prev_sample=prev, pred_original_sample=original)


class ReverseSampler:
    """A sampler over a trained schedule: its timesteps and one step x_t -> x_prev."""

    name: str
    timesteps: list[int]

    @property
    def stochastic(self) -> bool:
        """Whether a step adds fresh noise (and so draws from the image's noise stream)."""
        return True

    def reverse_step(
        self, epsilon: Array, timestep: int, prev_timestep: int, sample: Array, noise: Array | None
    ) -> Array:
        raise NotImplementedError

    def sample(
        self,
        epsilon_fn: EpsilonFn,
        noise: PerImageNoise,
        image_shape: tuple[int, int, int],
        to_backend: Callable[[np.ndarray], Array] = lambda array: array,
    ) -> DenoisingOutput:
        """The reverse-diffusion loop every sampler shares, from x_T drawn from ``noise``.

        Step noise is drawn only when a step uses it (``stochastic``, never at the last
        step), so a deterministic sampler consumes no random numbers after x_T and an
        image's pixels depend on its own seed alone.
        """
        sample = to_backend(noise.normal(image_shape))
        for index, timestep in enumerate(self.timesteps):
            last = index + 1 == len(self.timesteps)
            prev_timestep = -1 if last else self.timesteps[index + 1]
            epsilon = epsilon_fn(sample, timestep)
            step_noise = (
                to_backend(noise.normal(image_shape)) if self.stochastic and not last else None
            )
            sample = self.reverse_step(epsilon, timestep, prev_timestep, sample, step_noise)
        return DenoisingOutput(images=sample, network_evaluations=len(self.timesteps))


class DDPMSampler(ReverseSampler):
    """Ancestral sampling over ``num_steps`` (all T steps by default, as in the paper)."""

    name = "ddpm"

    def __init__(self, schedule: DDPMSchedule, num_steps: int | None = None) -> None:
        self.schedule = schedule
        self.num_steps = num_steps or schedule.num_train_timesteps
        self.timesteps = schedule.inference_timesteps(self.num_steps)

    def reverse_step(
        self, epsilon: Array, timestep: int, prev_timestep: int, sample: Array, noise: Array | None
    ) -> Array:
        return self.schedule.step(epsilon, timestep, sample, noise, prev_timestep).prev_sample
