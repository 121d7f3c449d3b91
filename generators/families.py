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

from generators.conditioning import Condition, TrainingLabels, class_index
from generators.configs import (
    FAMILIES,
    ConfigError,
    DCGANConfig,
    DiffusionConfig,
    ModelConfig,
    PixelCNNConfig,
    StyleTransferConfig,
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

    def bits_per_dim(
        self, model: nn.Module, config: Any, images: np.ndarray, device: torch.device
    ) -> float | None:
        """The exact negative log2-likelihood per sub-pixel of ``images`` (float NCHW in
        [-1, 1] on the 256 levels), for families that have one; None for the others."""
        return None

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
    uses_labels = True

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
        class_ids = None
        if model.config.class_names:
            if labels is None or labels.class_ids is None:
                raise ConfigError(
                    "A class-conditional GAN trains on class subfolders; none were read."
                )
            class_ids = torch.as_tensor(labels.class_ids, dtype=torch.int64).to(images.device)
        real = torch.ones(batch, device=images.device)
        fake_target = torch.zeros(batch, device=images.device)
        with autocast():
            fakes = model.generator(latent, class_ids)
            loss_d = F.binary_cross_entropy_with_logits(
                model.discriminator(images, class_ids).float(), real
            ) + F.binary_cross_entropy_with_logits(
                model.discriminator(fakes.detach(), class_ids).float(), fake_target
            )
        optimizers["discriminator"].zero_grad(set_to_none=True)
        loss_d.backward()
        optimizers["discriminator"].step()
        with autocast():
            loss_g = F.binary_cross_entropy_with_logits(
                model.discriminator(fakes, class_ids).float(), real
            )
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
        class_ids = None
        index = class_index(config, condition)
        if index is not None:
            class_ids = torch.full((len(noise),), index, dtype=torch.int64, device=device)
        return SampleOutput(_to_numpy(model.generator(latent, class_ids)), None, None)


def noise_prediction_step(
    model: nn.Module,
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    generator: torch.Generator,
    autocast: Autocast,
    condition: Callable[[], tuple[torch.Tensor, ...]] | None = None,
) -> float:
    """One update of Ho et al.'s epsilon-prediction loss at uniform random timesteps, for
    every diffusion family: ``network(noisy, timesteps, *condition())``, gradients clipped
    to ``model.config.grad_clip``, then the weight average moved.

    ``condition`` draws its own random numbers after the timesteps and the noise: that
    order is part of what makes a resumed run identical to an uninterrupted one."""
    schedule = model.schedule
    batch = images.shape[0]
    timesteps = torch.randint(0, schedule.num_train_timesteps, (batch,), generator=generator)
    timesteps = timesteps.to(images.device)
    noise = _randn(tuple(images.shape), generator, images.device)
    extra = condition() if condition is not None else ()
    noisy = schedule.add_noise(images, noise, timesteps)
    with autocast():
        predicted = network(noisy, timesteps, *extra)
    loss = F.mse_loss(predicted.float(), noise)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if model.config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(network.parameters(), model.config.grad_clip)
    optimizer.step()
    model.update_ema()
    return loss.item()


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
        loss = noise_prediction_step(
            model, model.unet, optimizers["unet"], images, generator, autocast
        )
        return {"loss": loss}

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


class PixelCNNFamily(GeneratorFamily):
    name = "pixelcnn"
    config_type = PixelCNNConfig
    main_loss = "bits_per_dim"
    sampling_module_name = "network"

    def build(self, config: PixelCNNConfig) -> nn.Module:
        return PixelCNNModel(config)

    def make_optimizers(self, model: nn.Module, config: PixelCNNConfig) -> Optimizers:
        return {"pixelcnn": torch.optim.Adam(model.parameters(), lr=config.learning_rate)}

    def train_step(
        self,
        model: nn.Module,
        optimizers: Optimizers,
        images: torch.Tensor,
        generator: torch.Generator,
        autocast: Autocast,
        labels: TrainingLabels | None = None,
    ) -> dict[str, float]:
        """Maximum likelihood: the exact negative log-likelihood, in bits per sub-pixel.

        Nothing here is random (no dropout, no noise), so ``generator`` goes unused.
        """
        from generators.pixelcnn import bits_per_dim

        with autocast():
            raw = model.network(images)
        loss = bits_per_dim(images, raw, model.config.mixture_components)
        optimizer = optimizers["pixelcnn"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if model.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), model.config.grad_clip)
        optimizer.step()
        return {"bits_per_dim": loss.item()}

    @torch.no_grad()
    def sample(
        self,
        model: nn.Module,
        config: PixelCNNConfig,
        noise: PerImageNoise,
        device: torch.device,
        sampler: str = "ddim",
        sampling_steps: int | None = None,
        eta: float = 0.0,
        condition: Condition | None = None,
    ) -> SampleOutput:
        return SampleOutput(sample_pixelcnn(model, config, noise, device), None, None)

    @torch.no_grad()
    def bits_per_dim(
        self,
        model: nn.Module,
        config: PixelCNNConfig,
        images: np.ndarray,
        device: torch.device,
        batch: int = 64,
    ) -> float:
        from generators.pixelcnn import mixture_nll

        total = 0.0
        for start in range(0, len(images), batch):
            chunk = torch.from_numpy(np.ascontiguousarray(images[start : start + batch]))
            chunk = chunk.to(device)
            nats = mixture_nll(chunk, model.network(chunk), config.mixture_components)
            total += float(nats.double().sum())
        return total / (images[0].size * len(images) * np.log(2.0))


def sample_pixelcnn(
    model: nn.Module,
    config: PixelCNNConfig,
    noise: PerImageNoise,
    device: torch.device,
    loop: str = "fast",
) -> np.ndarray:
    """Float32 NCHW samples in [-1, 1]; ``loop`` "naive" re-reads the full image per pixel."""
    from generators.pixelcnn_sampling import receptive_field_rows, sample_autoregressive

    network = model.network

    def parameters_of(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return _to_numpy(network(torch.from_numpy(images).to(device)))

    return sample_autoregressive(
        parameters_of,
        noise,
        config.channels,
        config.image_size,
        config.mixture_components,
        receptive_field_rows(config.layers, config.kernel_size, config.first_kernel_size),
        loop,  # type: ignore[arg-type]
    )


class PixelCNNModel(nn.Module):
    """The network under the name the checkpoint, the export and the model card use."""

    def __init__(self, config: PixelCNNConfig) -> None:
        from generators.pixelcnn import PixelCNN

        super().__init__()
        self.config = config
        self.network = PixelCNN(config)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)


class StyleFamily(GeneratorFamily):
    """Feed-forward style transfer (:mod:`generators.style`): content crop in, stylised out.

    Training stylises the batch's crops against the checkpoint's one style image;
    sampling stylises the ``condition``'s content image, or per-seed crops of the
    built-in photos (:mod:`generators.style_inputs`), so ``noise`` gives only the seeds.
    """

    name = "style"
    config_type = StyleTransferConfig
    main_loss = "loss"
    sampling_module_name = "stylizer"

    def build(self, config: StyleTransferConfig) -> nn.Module:
        from generators.style import StyleTransferModel

        return StyleTransferModel(config)

    def make_optimizers(self, model: nn.Module, config: StyleTransferConfig) -> Optimizers:
        return {"stylizer": torch.optim.Adam(model.stylizer.parameters(), lr=config.learning_rate)}

    def train_step(
        self,
        model: nn.Module,
        optimizers: Optimizers,
        images: torch.Tensor,
        generator: torch.Generator,
        autocast: Autocast,
        labels: TrainingLabels | None = None,
    ) -> dict[str, float]:
        with autocast():
            stylised = model.stylizer(images)
        losses = model.losses(images, stylised)
        optimizer = optimizers["stylizer"]
        optimizer.zero_grad(set_to_none=True)
        losses.total.backward()
        optimizer.step()
        return {
            "loss": losses.total.item(),
            "content": losses.content.item(),
            "style": losses.style.item(),
            "tv": losses.tv.item(),
        }

    @torch.no_grad()
    def sample(
        self,
        model: nn.Module,
        config: StyleTransferConfig,
        noise: PerImageNoise,
        device: torch.device,
        sampler: str = "ddim",
        sampling_steps: int | None = None,
        eta: float = 0.0,
        condition: Condition | None = None,
    ) -> SampleOutput:
        from generators.style_inputs import check_style_request, content_batch

        check_style_request(config, condition)
        content = content_batch(noise.seeds, config.image_size, condition)
        stylised = model.stylizer(torch.from_numpy(content.images).to(device))
        return SampleOutput(_to_numpy(stylised), None, None)


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
        batch = images.shape[0]
        captions = [""] * batch
        if labels is not None and labels.captions is not None:
            captions = list(labels.captions)

        def condition() -> tuple[torch.Tensor]:
            dropped = torch.rand((batch,), generator=generator) < config.caption_dropout
            prompts = [
                "" if drop else caption
                for drop, caption in zip(dropped.tolist(), captions, strict=True)
            ]
            tokens = tokenize(prompts, config.text.max_tokens)
            return (torch.from_numpy(tokens).to(images.device),)

        loss = noise_prediction_step(
            model,
            model.denoiser,
            optimizers["denoiser"],
            images,
            generator,
            autocast,
            condition,
        )
        return {"loss": loss}

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
    for family in (
        GANFamily(),
        DiffusionFamily(),
        VAEFamily(),
        PixelCNNFamily(),
        StyleFamily(),
        TextDiffusionFamily(),
    )
}
assert tuple(_FAMILIES) == FAMILIES


def get_family(name: str) -> GeneratorFamily:
    return _FAMILIES[check_family(name)]


def build_model(family: str, config: ModelConfig) -> nn.Module:
    """A freshly initialised model of ``family`` (seed torch first for reproducibility)."""
    spec = get_family(family)
    spec.check_config(config)
    return spec.build(config)
