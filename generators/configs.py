"""Model configurations: plain dataclasses that round-trip through ``config.json``.

They live apart from the networks so that reading a checkpoint's configuration (to check
its family, to sample through ONNX) never needs torch. Training hyperparameters that a
resumed run must keep (learning rates, loss weights) are part of the configuration, not
of the command line, so a resume cannot silently change them.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, Union

from generators.ddpm import DDPMScheduleConfig
from provenance.errors import ProvauditError

Family = Literal["gan", "diffusion", "vae", "pixelcnn", "style", "text_diffusion"]
FAMILIES: tuple[Family, ...] = (
    "gan",
    "diffusion",
    "vae",
    "pixelcnn",
    "style",
    "text_diffusion",
)
# Families whose sampling walks a noise schedule (--sampler and --sampling-steps apply).
STEPPED_FAMILIES: frozenset[str] = frozenset({"diffusion", "text_diffusion"})
# Families that train against one style image (``train --style``) kept in the checkpoint.
STYLE_IMAGE_FAMILIES: frozenset[str] = frozenset({"style"})
# "small" is the real model; "tiny" is for tests and smoke runs on a laptop CPU.
Preset = Literal["small", "compact", "tiny"]
# small: the reference sizes; compact: a UNet a quarter of small's cost, what a 2-core CPU
# can train in minutes (the shipped diffusion checkpoint); tiny: smoke tests.
PRESETS: tuple[Preset, ...] = ("small", "compact", "tiny")


class ConfigError(ProvauditError):
    code = "bad_config"


@dataclass(frozen=True)
class DCGANConfig:
    """DCGAN as in pytorch/examples, sized by ``image_size`` (4 px doubled per layer)."""

    image_size: int = 32
    channels: int = 3
    latent_dim: int = 100
    generator_width: int = 64
    discriminator_width: int = 64
    learning_rate: float = 2e-4
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999
    # Class-conditional (Mirza & Osindero 2014) when not empty: the class subfolder names
    # of the training data, in the order of their ids.
    class_names: tuple[str, ...] = ()

    @property
    def conditioning(self) -> tuple[str, ...]:
        return ("class",) if self.class_names else ()


@dataclass(frozen=True)
class UNetConfig:
    """A DDPM UNet (Ho et al.): residual blocks, time embedding, attention at low res."""

    image_size: int = 32
    channels: int = 3
    base_width: int = 64
    width_multipliers: tuple[int, ...] = (1, 2, 2)
    blocks_per_level: int = 1
    # Levels (0 = full resolution) whose blocks also get self-attention.
    attention_levels: tuple[int, ...] = (2,)
    attention_heads: int = 4
    norm_groups: int = 8
    dropout: float = 0.0


@dataclass(frozen=True)
class DiffusionConfig:
    unet: UNetConfig = field(default_factory=UNetConfig)
    schedule: DDPMScheduleConfig = field(default_factory=DDPMScheduleConfig)
    learning_rate: float = 2e-4
    grad_clip: float = 1.0
    # Decay of the exponential moving average of the UNet's weights that sampling uses
    # (0: no average, sample the raw weights). DDPM samples from such an average; early in
    # training the raw weights' samples swing in colour and noise level from step to step.
    ema_decay: float = 0.0

    @property
    def image_size(self) -> int:
        return self.unet.image_size

    @property
    def channels(self) -> int:
        return self.unet.channels


@dataclass(frozen=True)
class VAEConfig:
    """A convolutional VAE with a Gaussian decoder (MSE) and a standard-normal prior."""

    image_size: int = 32
    channels: int = 3
    latent_dim: int = 128
    base_width: int = 32
    # Weight of the KL term against the squared error (a beta-VAE's beta). With pixels in
    # [-1, 1], beta = 1 is a decoder noise of sigma = 0.7, which collapses the posterior;
    # 0.1 keeps samples recognisable.
    kl_weight: float = 0.1
    learning_rate: float = 1e-3


@dataclass(frozen=True)
class TextEncoderConfig:
    """A small transformer over a prompt's UTF-8 bytes, trained from scratch with the UNet."""

    # Tokens per prompt including the start token; longer prompts are cut.
    max_tokens: int = 64
    width: int = 128
    layers: int = 2
    heads: int = 4


@dataclass(frozen=True)
class TextDiffusionConfig:
    """A text-conditioned DDPM: the UNet cross-attends to a byte-level text encoder."""

    unet: UNetConfig = field(default_factory=UNetConfig)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    schedule: DDPMScheduleConfig = field(default_factory=DDPMScheduleConfig)
    learning_rate: float = 2e-4
    grad_clip: float = 1.0
    ema_decay: float = 0.0
    # Classifier-free guidance (Ho & Salimans, 2022): the fraction of training captions
    # replaced by the empty prompt, so one network also learns the unconditional model.
    caption_dropout: float = 0.1
    # The guidance scale sampling uses when a request names none (1: no guidance).
    guidance: float = 3.0

    @property
    def image_size(self) -> int:
        return self.unet.image_size

    @property
    def channels(self) -> int:
        return self.unet.channels

    @property
    def conditioning(self) -> tuple[str, ...]:
        return ("prompt",)

    @property
    def required_conditioning(self) -> tuple[str, ...]:
        # The unconditional model it also learns is guidance's baseline, not a product.
        return ("prompt",)


@dataclass(frozen=True)
class PixelCNNConfig:
    """A gated PixelCNN (van den Oord et al.) with PixelCNN++'s discretised logistic mixture."""

    image_size: int = 32
    channels: int = 3
    hidden_width: int = 64
    layers: int = 12
    kernel_size: int = 3
    # The first layer's kernel: a wide first receptive field, as in the gated PixelCNN.
    first_kernel_size: int = 7
    # Width of the 1x1 layers between the horizontal stack and the mixture parameters.
    output_width: int = 128
    mixture_components: int = 10
    learning_rate: float = 1e-3
    grad_clip: float = 1.0


@dataclass(frozen=True)
class StyleTransferConfig:
    """Feed-forward style transfer (Johnson et al.) trained with Gatys et al.'s losses.

    The losses are measured on a random, untrained CNN (Ustyuzhaninov et al.) rebuilt
    from ``feature_seed``: nothing is downloaded, and the same seed gives the same loss on
    every machine. ``style_sha256`` and ``style_file`` name the one style image the
    checkpoint was trained against (its original bytes sit beside the weights as
    ``style_file``; its pixels are a buffer in the weights); both are empty until
    ``train --style`` sets them.
    """

    image_size: int = 32
    channels: int = 3
    # Channels of the stylisation network at full, half and quarter resolution.
    widths: tuple[int, int, int] = (32, 64, 128)
    residual_blocks: int = 5
    # Add the network's output to the content image instead of drawing the image anew:
    # with the few thousand steps a CPU affords, a network without it loses the content.
    content_skip: bool = True
    # alpha, beta, gamma of the total loss: content, style (Gram) and total variation.
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 1e-3
    # Side of the style image the Gram matrices are taken from: larger than the content
    # crops, so that they see whole brush strokes and the painting's palette, not one patch.
    style_size: int = 96
    feature_seed: int = 20170424
    # Channels of the random feature network, one stage per scale (each halves the size).
    feature_widths: tuple[int, ...] = (64, 128, 256)
    # The stage whose features the content loss compares (0: full resolution).
    content_layer: int = 1
    learning_rate: float = 1e-3
    style_sha256: str = ""
    style_file: str = ""

    @property
    def conditioning(self) -> tuple[str, ...]:
        return ("content", "style")

    def check_condition(self, condition: Any) -> None:
        """Refuse a style other than the checkpoint's and images too small, before loading."""
        from generators.style_inputs import check_style_request

        check_style_request(self, condition)


ModelConfig = Union[  # noqa: UP007 - runtime alias
    DCGANConfig,
    DiffusionConfig,
    VAEConfig,
    PixelCNNConfig,
    StyleTransferConfig,
    TextDiffusionConfig,
]

CONFIG_TYPES: dict[str, type] = {
    "gan": DCGANConfig,
    "diffusion": DiffusionConfig,
    "vae": VAEConfig,
    "pixelcnn": PixelCNNConfig,
    "style": StyleTransferConfig,
    "text_diffusion": TextDiffusionConfig,
}


def default_config(family: str, image_size: int, preset: str = "small") -> ModelConfig:
    """The configuration ``train`` uses for ``family`` at ``image_size``."""
    check_family(family)
    if preset not in PRESETS:
        raise ConfigError(f"Unknown preset {preset!r}; use one of {', '.join(PRESETS)}.")
    tiny = preset == "tiny"
    if family == "gan":
        width = 8 if tiny else 64
        return DCGANConfig(
            image_size=image_size,
            latent_dim=16 if tiny else 100,
            generator_width=width,
            discriminator_width=width,
        )
    if family == "diffusion":
        if tiny:
            unet = UNetConfig(
                image_size=image_size,
                base_width=16,
                width_multipliers=(1, 2),
                blocks_per_level=1,
                attention_levels=(),  # the middle block still attends
                attention_heads=2,
                norm_groups=4,
            )
            # Fewer train timesteps keep DDPM-T sampling cheap in tests.
            return DiffusionConfig(
                unet=unet,
                schedule=DDPMScheduleConfig(num_train_timesteps=100, beta_end=0.2),
                learning_rate=1e-3,
                # Short, so the tests' few steps move the average visibly.
                ema_decay=0.9,
            )
        multipliers = (1, 2, 2) if image_size <= 32 else (1, 2, 2, 2)
        return DiffusionConfig(
            unet=UNetConfig(
                image_size=image_size,
                base_width=32 if preset == "compact" else 64,
                width_multipliers=multipliers,
                attention_levels=(len(multipliers) - 1,),
            ),
            ema_decay=0.999,
        )
    if family == "text_diffusion":
        return _text_diffusion_config(image_size, preset)
    if family == "style":
        if tiny:
            return StyleTransferConfig(
                image_size=image_size,
                style_size=image_size,
                widths=(4, 8, 16),
                residual_blocks=1,
                feature_widths=(16, 32, 64),
                learning_rate=1e-2,
            )
        if preset == "compact":
            return StyleTransferConfig(
                image_size=image_size,
                style_size=3 * image_size,
                widths=(16, 32, 64),
                residual_blocks=3,
            )
        return StyleTransferConfig(image_size=image_size, style_size=3 * image_size)
    if family == "pixelcnn":
        if tiny:
            return PixelCNNConfig(
                image_size=image_size,
                hidden_width=16,
                layers=2,
                first_kernel_size=5,
                output_width=32,
                mixture_components=3,
                learning_rate=3e-3,
            )
        compact = preset == "compact"
        return PixelCNNConfig(
            image_size=image_size,
            hidden_width=32 if compact else 64,
            layers=6 if compact else 12,
            output_width=64 if compact else 128,
            mixture_components=5 if compact else 10,
        )
    return VAEConfig(
        image_size=image_size,
        latent_dim=16 if tiny else 128,
        base_width=8 if tiny else 32,
        learning_rate=2e-3 if tiny else 1e-3,
    )


def _text_diffusion_config(image_size: int, preset: str) -> TextDiffusionConfig:
    """The unconditional diffusion presets' UNets (cross-attention wherever they have
    self-attention, and in the middle block) with an encoder sized to match."""
    unconditional = default_config("diffusion", image_size, preset)
    assert isinstance(unconditional, DiffusionConfig)
    if preset == "tiny":
        return TextDiffusionConfig(
            unet=unconditional.unet,
            text=TextEncoderConfig(max_tokens=32, width=32, layers=1, heads=2),
            schedule=unconditional.schedule,
            learning_rate=unconditional.learning_rate,
            ema_decay=unconditional.ema_decay,
            caption_dropout=0.2,
        )
    width = 64 if preset == "compact" else 128
    return TextDiffusionConfig(
        unet=unconditional.unet,
        text=TextEncoderConfig(width=width, heads=4),
        schedule=unconditional.schedule,
        learning_rate=unconditional.learning_rate,
        ema_decay=unconditional.ema_decay,
    )


def check_family(family: str) -> str:
    if family not in CONFIG_TYPES:
        raise ConfigError(f"Unknown generator family {family!r}; use one of {', '.join(FAMILIES)}.")
    return family


def config_to_dict(config: ModelConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


_Config = TypeVar("_Config")


def config_from_dict(config_type: type[_Config], data: dict[str, Any]) -> _Config:
    """Rebuild a (possibly nested) config dataclass from JSON data, strictly.

    Unknown keys are refused rather than dropped: they mean the checkpoint was written by
    a newer provaudit whose model this version would build differently.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"The {config_type.__name__} in config.json is not a JSON object.")
    hints = typing.get_type_hints(config_type)
    names = {item.name for item in dataclasses.fields(config_type)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"config.json has settings this provaudit does not know ({', '.join(unknown)}); "
            "it was probably written by a newer version."
        )
    values = {name: _coerce(hints[name], value) for name, value in data.items()}
    return config_type(**values)


def _coerce(hint: Any, value: Any) -> Any:
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return config_from_dict(hint, value)
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    if origin in (Union, types.UnionType):
        return value
    return value
