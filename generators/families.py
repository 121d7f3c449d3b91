"""The registry of generator families: how each is built, trained one step, and sampled.

The training loop, checkpoints and ``generate`` are written once against
:class:`GeneratorFamily`; a family is the only place that knows its losses and its
sampling procedure. Every random number a step uses comes from the ``torch.Generator``
it is handed, which the loop seeds from ``(seed, step)``: that is what makes a resumed
run identical to an uninterrupted one.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from generators.conditioning import Condition, TrainingLabels
from generators.configs import (
    FAMILIES,
    ConfigError,
    DCGANConfig,
    DiffusionConfig,
    ModelConfig,
    TextDiffusionConfig,
    VAEConfig,
    check_family,
)
from generators.ddpm import DDPMSchedule
from generators.noise import PerImageNoise
from generators.samplers import SampleOutput, make_sampler
from generators.training_utils import update_ema

Autocast = Callable[[], AbstractContextManager[Any]]
Optimizers = dict[str, torch.optim.Optimizer]


class GeneratorFamily(ABC):
    name: str
    config_type: type
    # The loss the progress bar shows and that must fall during training.
    main_loss: str
    # Module whose weights the samples depend on (the GAN's discriminator is not one).
    sampling_module_name: str

    @abstractmethod
    def build(self, config: Any) -> nn.Module: ...

    @abstractmethod
    def make_optimizers(self, model: nn.Module, config: Any) -> Optimizers: ...

    @abstractmethod
    def train_step(
        self,
        model: nn.Module,
        optimizers: Optimizers,
        images: torch.Tensor,
        generator: torch.Generator,
        autocast: Autocast,
        labels: TrainingLabels | None = None,
    ) -> dict[str, float]: ...

    @abstractmethod
    def sample(
        self,
        model: nn.Module,
        config: Any,
        noise: PerImageNoise,
        device: torch.device,
        sampler: str = "ddim",
        sampling_steps: int | None = None,
        eta: float = 0.0,
        condition: Condition | None = None,
    ) -> SampleOutput: ...

    # Whether train_step wants the batch's class ids and captions (TrainingLabels).
    uses_labels: bool = False

    def check_config(self, config: ModelConfig) -> None:
        if not isinstance(config, self.config_type):
            raise ConfigError(
                f"A {self.name} model needs a {self.config_type.__name__}, "
                f"not a {type(config).__name__}."
            )


def _randn(
    shape: tuple[int, ...], generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    # Drawn on the CPU generator and moved: the same numbers on CPU and CUDA.
    return torch.randn(shape, generator=generator).to(device)


def _to_numpy(images: torch.Tensor) -> np.ndarray:
    return images.detach().float().cpu().numpy()


class GANFamily(GeneratorFamily):
    name = "gan"
    config_type = DCGANConfig
    main_loss = "loss_d"
    sampling_module_name = "generator"

    def build(self, config: DCGANConfig) -> nn.Module:
        from generators.dcgan import DCGAN

        return DCGAN(config)

    def make_optimizers(self, model: nn.Module, config: DCGANConfig) -> Optimizers:
        betas = (config.adam_beta1, config.adam_beta2)
        return {
            "discriminator": torch.optim.Adam(
                model.discriminator.parameters(), lr=config.learning_rate, betas=betas
            ),
            "generator": torch.optim.Adam(
                model.generator.parameters(), lr=config.learning_rate, betas=betas
            ),
        }

    def train_step(
        self,
        model: nn.Module,
        optimizers: Optimizers,
        images: torch.Tensor,
        generator: torch.Generator,
        autocast: Autocast,
        labels: TrainingLabels | None = None,
    ) -> dict[str, float]:
        """One discriminator and one generator update (non-saturating loss)."""
        batch = images.shape[0]
        latent = _randn((batch, model.config.latent_dim, 1, 1), generator, images.device)
        real = torch.ones(batch, device=images.device)
        fake_target = torch.zeros(batch, device=images.device)
        with autocast():
            fakes = model.generator(latent)
            loss_d = F.binary_cross_entropy_with_logits(
                model.discriminator(images).float(), real
            ) + F.binary_cross_entropy_with_logits(
                model.discriminator(fakes.detach()).float(), fake_target
            )
        optimizers["discriminator"].zero_grad(set_to_none=True)
        loss_d.backward()
        optimizers["discriminator"].step()
        with autocast():
            loss_g = F.binary_cross_entropy_with_logits(model.discriminator(fakes).float(), real)
        optimizers["generator"].zero_grad(set_to_none=True)
        loss_g.backward()
        optimizers["generator"].step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    @torch.no_grad()
    def sample(
        self,
        model: nn.Module,
        config: DCGANConfig,
        noise: PerImageNoise,
        device: torch.device,
        sampler: str = "ddim",
        sampling_steps: int | None = None,
        eta: float = 0.0,
        condition: Condition | None = None,
    ) -> SampleOutput:
        latent = torch.from_numpy(noise.normal((config.latent_dim, 1, 1))).to(device)
        return SampleOutput(_to_numpy(model.generator(latent)), None, None)


class DiffusionFamily(GeneratorFamily):
    name = "diffusion"
    config_type = DiffusionConfig
    main_loss = "loss"
    sampling_module_name = "unet"

    def build(self, config: DiffusionConfig) -> nn.Module:
        return DiffusionModel(config)

    def make_optimizers(self, model: nn.Module, config: DiffusionConfig) -> Optimizers:
        return {"unet": torch.optim.Adam(model.unet.parameters(), lr=config.learning_rate)}

    def train_step(
        self,
        model: nn.Module,
        optimizers: Optimizers,
        images: torch.Tensor,
        generator: torch.Generator,
        autocast: Autocast,
        labels: TrainingLabels | None = None,
    ) -> dict[str, float]:
        """The simple epsilon-prediction loss of Ho et al. at a uniform random timestep."""
        schedule = model.schedule
        batch = images.shape[0]
        timesteps = torch.randint(0, schedule.num_train_timesteps, (batch,), generator=generator)
        timesteps = timesteps.to(images.device)
        noise = _randn(tuple(images.shape), generator, images.device)
        noisy = schedule.add_noise(images, noise, timesteps)
        with autocast():
            predicted = model.unet(noisy, timesteps)
        loss = F.mse_loss(predicted.float(), noise)
        optimizer = optimizers["unet"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if model.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.unet.parameters(), model.config.grad_clip)
        optimizer.step()
        model.update_ema()
        return {"loss": loss.item()}

    @torch.no_grad()
    def sample(
        self,
        model: nn.Module,
        config: DiffusionConfig,
        noise: PerImageNoise,
        device: torch.device,
        sampler: str = "ddim",
        sampling_steps: int | None = None,
        eta: float = 0.0,
        condition: Condition | None = None,
    ) -> SampleOutput:
        chosen = make_sampler(model.schedule, sampler, sampling_steps, eta)
        batch = len(noise)

        def epsilon(sample: torch.Tensor, timestep: int) -> torch.Tensor:
            timesteps = torch.full((batch,), timestep, dtype=torch.int64, device=device)
            return model.sampling_unet(sample, timesteps)

        shape = (config.channels, config.image_size, config.image_size)
        result = chosen.sample(
            epsilon, noise, shape, to_backend=lambda array: torch.from_numpy(array).to(device)
        )
        return SampleOutput(_to_numpy(result.images), chosen.name, chosen.num_steps)


class DiffusionModel(nn.Module):
    """The UNet plus its (parameter-free) schedule, so one object carries both.

    With ``config.ema_decay > 0`` it also holds ``ema_unet``, the moving average of the
    trained UNet's weights, which is what sampling and the ONNX export use. Both sit in
    ``model.safetensors`` so that a resumed run continues the same average.
    """

    def __init__(self, config: DiffusionConfig) -> None:
        from generators.unet import UNet

        super().__init__()
        self.config = config
        self.schedule = DDPMSchedule(config.schedule)
        self.unet = UNet(config.unet)
        self.ema_unet: nn.Module | None = None
        if config.ema_decay > 0:
            self.ema_unet = copy.deepcopy(self.unet).requires_grad_(False)
            self.register_buffer("ema_updates", torch.zeros((), dtype=torch.int64))

    @property
    def sampling_unet(self) -> nn.Module:
        return self.ema_unet if self.ema_unet is not None else self.unet

    @torch.no_grad()
    def update_ema(self) -> None:
        if self.ema_unet is None:
            return
        update_ema(self.ema_unet, self.unet, self.config.ema_decay, int(self.ema_updates))
        self.ema_updates += 1

    def forward(self, sample: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        return self.sampling_unet(sample, timesteps)


class VAEFamily(GeneratorFamily):
    name = "vae"
    config_type = VAEConfig
    main_loss = "loss"
    sampling_module_name = "decoder"

    def build(self, config: VAEConfig) -> nn.Module:
        from generators.vae import VAE

        return VAE(config)

    def make_optimizers(self, model: nn.Module, config: VAEConfig) -> Optimizers:
        return {"vae": torch.optim.Adam(model.parameters(), lr=config.learning_rate)}

    def train_step(
        self,
        model: nn.Module,
        optimizers: Optimizers,
        images: torch.Tensor,
        generator: torch.Generator,
        autocast: Autocast,
        labels: TrainingLabels | None = None,
    ) -> dict[str, float]:
        epsilon = _randn((images.shape[0], model.config.latent_dim), generator, images.device)
        with autocast():
            output = model(images, epsilon)
        loss = model.loss(images, output)
        optimizer = optimizers["vae"]
        optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        optimizer.step()
        return {
            "loss": loss.total.item(),
            "reconstruction": loss.reconstruction.item(),
            "kl": loss.kl.item(),
        }

    @torch.no_grad()
    def sample(
        self,
        model: nn.Module,
        config: VAEConfig,
        noise: PerImageNoise,
        device: torch.device,
        sampler: str = "ddim",
        sampling_steps: int | None = None,
        eta: float = 0.0,
        condition: Condition | None = None,
    ) -> SampleOutput:
        latent = torch.from_numpy(noise.normal((config.latent_dim,))).to(device)
        return SampleOutput(_to_numpy(model.decode(latent)), None, None)


class TextDiffusionFamily(GeneratorFamily):
    """Text-conditioned DDPM with classifier-free guidance (:mod:`generators.text`)."""

    name = "text_diffusion"
    config_type = TextDiffusionConfig
    main_loss = "loss"
    sampling_module_name = "denoiser"
    uses_labels = True

    def build(self, config: TextDiffusionConfig) -> nn.Module:
        from generators.text import TextDiffusionModel

        return TextDiffusionModel(config)

    def make_optimizers(self, model: nn.Module, config: TextDiffusionConfig) -> Optimizers:
        parameters = model.denoiser.parameters()
        return {"denoiser": torch.optim.Adam(parameters, lr=config.learning_rate)}

    def train_step(
        self,
        model: nn.Module,
        optimizers: Optimizers,
        images: torch.Tensor,
        generator: torch.Generator,
        autocast: Autocast,
        labels: TrainingLabels | None = None,
    ) -> dict[str, float]:
        """Ho et al.'s noise-prediction loss given each crop's caption, a random fraction
        of them replaced by the empty prompt (the unconditional model guidance needs).

        Without captions (a folder with neither caption files nor class folders) every
        prompt is empty and the model learns unconditional diffusion."""
        from generators.text_prompts import tokenize

        config: TextDiffusionConfig = model.config
        schedule = model.schedule
        batch = images.shape[0]
        timesteps = torch.randint(0, schedule.num_train_timesteps, (batch,), generator=generator)
        timesteps = timesteps.to(images.device)
        noise = _randn(tuple(images.shape), generator, images.device)
        dropped = torch.rand((batch,), generator=generator) < config.caption_dropout
        captions = [""] * batch
        if labels is not None and labels.captions is not None:
            captions = list(labels.captions)
        prompts = [
            "" if drop else caption
            for drop, caption in zip(dropped.tolist(), captions, strict=True)
        ]
        tokens = torch.from_numpy(tokenize(prompts, config.text.max_tokens)).to(images.device)
        noisy = schedule.add_noise(images, noise, timesteps)
        with autocast():
            predicted = model.denoiser(noisy, timesteps, tokens)
        loss = F.mse_loss(predicted.float(), noise)
        optimizer = optimizers["denoiser"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.denoiser.parameters(), config.grad_clip)
        optimizer.step()
        model.update_ema()
        return {"loss": loss.item()}

    @torch.no_grad()
    def sample(
        self,
        model: nn.Module,
        config: TextDiffusionConfig,
        noise: PerImageNoise,
        device: torch.device,
        sampler: str = "ddim",
        sampling_steps: int | None = None,
        eta: float = 0.0,
        condition: Condition | None = None,
    ) -> SampleOutput:
        """Guided by ``condition.prompt`` at ``condition.guidance`` (default: the config's);
        with no prompt, the unconditional model (what training's progress grids show)."""
        from generators.text_prompts import (
            guide,
            needs_unconditional,
            prompt_and_guidance,
            tokenize,
        )

        prompt, guidance = prompt_and_guidance(config, condition)
        chosen = make_sampler(model.schedule, sampler, sampling_steps, eta)
        batch = len(noise)
        guided = needs_unconditional(prompt, guidance)
        prompts = [prompt] * batch + ([""] * batch if guided else [])
        tokens = torch.from_numpy(tokenize(prompts, config.text.max_tokens)).to(device)
        denoiser = model.sampling_denoiser
        # The prompt does not change between steps: encode it once.
        context = denoiser.text_encoder(tokens)

        def epsilon(sample: torch.Tensor, timestep: int) -> torch.Tensor:
            inputs = torch.cat([sample, sample]) if guided else sample
            timesteps = torch.full((inputs.shape[0],), timestep, dtype=torch.int64, device=device)
            predicted = denoiser.unet(inputs, timesteps, context)
            if not guided:
                return predicted
            return guide(predicted[:batch], predicted[batch:], guidance)

        shape = (config.channels, config.image_size, config.image_size)
        result = chosen.sample(
            epsilon, noise, shape, to_backend=lambda array: torch.from_numpy(array).to(device)
        )
        return SampleOutput(_to_numpy(result.images), chosen.name, chosen.num_steps)


_FAMILIES: dict[str, GeneratorFamily] = {
    family.name: family
    for family in (GANFamily(), DiffusionFamily(), VAEFamily(), TextDiffusionFamily())
}
assert tuple(_FAMILIES) == FAMILIES


def get_family(name: str) -> GeneratorFamily:
    return _FAMILIES[check_family(name)]


def build_model(family: str, config: ModelConfig) -> nn.Module:
    """A freshly initialised model of ``family`` (seed torch first for reproducibility)."""
    spec = get_family(family)
    spec.check_config(config)
    return spec.build(config)
