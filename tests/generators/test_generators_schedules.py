"""DDPM schedule and DDIM/DDPM samplers, checked against their defining equations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from generators.ddim import DDIMSampler
from generators.ddpm import DDPMSampler, DDPMSchedule, DDPMScheduleConfig
from generators.noise import PerImageNoise
from generators.samplers import make_sampler


def test_linear_schedule_matches_ho_et_al() -> None:
    schedule = DDPMSchedule()
    assert schedule.betas[0] == pytest.approx(1e-4) and schedule.betas[-1] == pytest.approx(0.02)
    assert np.all(np.diff(schedule.alphas_cumprod) < 0)
    assert schedule.alphas_cumprod[-1] < 1e-4  # x_T is (almost) pure noise
    np.testing.assert_allclose(schedule.alphas_cumprod, np.cumprod(1 - schedule.betas))


def test_cosine_schedule_is_bounded() -> None:
    schedule = DDPMSchedule(DDPMScheduleConfig(beta_schedule="cosine"))
    assert np.all(schedule.betas <= 0.999) and np.all(schedule.betas > 0)


def test_add_noise_is_the_closed_form_forward_process() -> None:
    schedule = DDPMSchedule()
    rng = np.random.default_rng(0)
    original = rng.uniform(-1, 1, (3, 3, 8, 8)).astype(np.float32)
    noise = rng.standard_normal(original.shape).astype(np.float32)
    timesteps = np.array([0, 500, 999])
    noisy = schedule.add_noise(original, noise, timesteps)
    for row, t in enumerate(timesteps):
        abar = schedule.alphas_cumprod[t]
        expected = math.sqrt(abar) * original[row] + math.sqrt(1 - abar) * noise[row]
        np.testing.assert_allclose(noisy[row], expected, rtol=1e-5, atol=1e-6)


def test_trailing_timesteps_start_from_pure_noise() -> None:
    schedule = DDPMSchedule()
    assert schedule.inference_timesteps(50)[0] == 999
    assert schedule.inference_timesteps(1000) == list(range(999, -1, -1))
    steps = schedule.inference_timesteps(10)
    assert steps == sorted(steps, reverse=True) and len(set(steps)) == 10


@pytest.mark.parametrize("sampler_name", ["ddim", "ddpm"])
def test_an_oracle_denoiser_recovers_the_data_point(sampler_name: str) -> None:
    """With the exact noise prediction for a single data point x0, both samplers
    must land on x0: the sampler algebra, independent of any network."""
    schedule = DDPMSchedule(DDPMScheduleConfig(num_train_timesteps=200, clip_sample=False))
    target = np.random.default_rng(1).uniform(-0.9, 0.9, (1, 3, 4, 4)).astype(np.float64)

    def oracle(sample: np.ndarray, timestep: int) -> np.ndarray:
        abar = schedule.alphas_cumprod[timestep]
        return (sample - math.sqrt(abar) * target) / math.sqrt(1 - abar)

    sampler = make_sampler(schedule, sampler_name, 20 if sampler_name == "ddim" else None)
    result = sampler.sample(oracle, PerImageNoise([0]), (3, 4, 4))
    np.testing.assert_allclose(result.images, target, atol=1e-6)
    assert result.network_evaluations == (20 if sampler_name == "ddim" else 200)


def test_ddim_with_eta_zero_uses_no_noise_after_the_start() -> None:
    schedule = DDPMSchedule(DDPMScheduleConfig(num_train_timesteps=100))
    calls: list[int] = []

    class CountingNoise(PerImageNoise):
        def normal(self, shape):  # type: ignore[no-untyped-def]
            calls.append(1)
            return super().normal(shape)

    DDIMSampler(schedule, 10, eta=0.0).sample(
        lambda x, t: np.zeros_like(x), CountingNoise([0]), (1, 2, 2)
    )
    assert len(calls) == 1
    calls.clear()
    DDIMSampler(schedule, 10, eta=1.0).sample(
        lambda x, t: np.zeros_like(x), CountingNoise([0]), (1, 2, 2)
    )
    assert len(calls) == 10  # x_T plus one draw per step but the last


def test_torch_and_numpy_steps_agree() -> None:
    torch = pytest.importorskip("torch")
    schedule = DDPMSchedule()
    rng = np.random.default_rng(2)
    sample, epsilon, noise = (rng.standard_normal((2, 3, 4, 4)).astype(np.float32) for _ in "abc")
    ddim = DDIMSampler(schedule, 10, eta=0.5)
    as_numpy = ddim.step(epsilon, 899, 799, sample, noise).prev_sample
    as_torch = ddim.step(
        *(torch.from_numpy(a) for a in (epsilon,)),
        899,
        799,
        torch.from_numpy(sample),
        torch.from_numpy(noise),
    ).prev_sample
    np.testing.assert_allclose(as_torch.numpy(), as_numpy, rtol=1e-6, atol=1e-6)
    ddpm = DDPMSampler(schedule)
    step_numpy = ddpm.schedule.step(epsilon, 500, sample, noise).prev_sample
    step_torch = ddpm.schedule.step(
        torch.from_numpy(epsilon), 500, torch.from_numpy(sample), torch.from_numpy(noise)
    ).prev_sample
    np.testing.assert_allclose(step_torch.numpy(), step_numpy, rtol=1e-6, atol=1e-6)


def test_sampling_steps_out_of_range_are_refused() -> None:
    from generators.configs import ConfigError

    schedule = DDPMSchedule(DDPMScheduleConfig(num_train_timesteps=100))
    with pytest.raises(ConfigError, match="between 1 and 100"):
        make_sampler(schedule, "ddim", 500)
    with pytest.raises(ConfigError, match="Unknown sampler"):
        make_sampler(schedule, "euler", 10)


def test_per_image_noise_does_not_depend_on_the_batch() -> None:
    alone = PerImageNoise([7]).normal((3, 2, 2))
    in_batch = PerImageNoise([5, 6, 7]).normal((3, 2, 2))
    np.testing.assert_array_equal(alone[0], in_batch[2])
