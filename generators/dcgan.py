"""DCGAN (Radford et al., 2016) as in pytorch/examples, for 32 and 64 px images.

With ``class_names`` in its configuration it is a conditional GAN (Mirza & Osindero,
2014): the generator's latent is joined by a learned embedding of the class, and the
discriminator sees the class as one-hot planes beside the image's channels. An
unconditional configuration builds exactly the modules it always had, so its checkpoints
load unchanged.

Two deliberate departures from the example: the discriminator returns logits and the
loss is ``BCEWithLogits``, because ``BCELoss`` after a sigmoid is unsafe under bf16
autocast (torch refuses it); and the layer count follows the image size (4 px doubled per
layer) instead of being fixed at 64 px.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from generators.configs import DCGANConfig


def _layers_for(image_size: int) -> int:
    layers = int(math.log2(image_size // 4))
    if 4 * 2**layers != image_size:
        raise ValueError(f"DCGAN needs a power-of-two image size >= 8, got {image_size}")
    return layers


def init_dcgan_weights(module: nn.Module) -> None:
    """N(0, 0.02) convolutions and N(1, 0.02) BatchNorm scales, as in the DCGAN paper."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """z (N, latent, 1, 1) [+ class ids (N,)] -> image (N, C, S, S) in [-1, 1]."""

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        layers = _layers_for(config.image_size)
        width = config.generator_width * 2 ** (layers - 1)
        classes = len(config.class_names)
        self.class_embedding = nn.Embedding(classes, config.latent_dim) if classes else None
        inputs = config.latent_dim * (2 if classes else 1)
        blocks: list[nn.Module] = [
            nn.ConvTranspose2d(inputs, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(layers - 1):
            blocks += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        blocks += [nn.ConvTranspose2d(width, config.channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*blocks)

    def forward(self, latent: torch.Tensor, class_ids: torch.Tensor | None = None) -> torch.Tensor:
        if self.class_embedding is not None:
            if class_ids is None:
                raise ValueError("A class-conditional generator needs class ids.")
            embedded = self.class_embedding(class_ids)[:, :, None, None]
            latent = torch.cat([latent, embedded.to(latent.dtype)], dim=1)
        return self.net(latent)


class DCGANDiscriminator(nn.Module):
    """image (N, C, S, S) [+ class ids (N,)] -> one real/fake logit per image (N,)."""

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        layers = _layers_for(config.image_size)
        width = config.discriminator_width
        self.classes = len(config.class_names)
        blocks: list[nn.Module] = [
            nn.Conv2d(config.channels + self.classes, width, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for _ in range(layers - 1):
            blocks += [
                nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width * 2),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width *= 2
        blocks.append(nn.Conv2d(width, 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*blocks)

    def forward(self, images: torch.Tensor, class_ids: torch.Tensor | None = None) -> torch.Tensor:
        if self.classes:
            if class_ids is None:
                raise ValueError("A class-conditional discriminator needs class ids.")
            planes = F.one_hot(class_ids, self.classes).to(images.dtype)[:, :, None, None]
            images = torch.cat([images, planes.expand(-1, -1, *images.shape[2:])], dim=1)
        return self.net(images).flatten()


class DCGAN(nn.Module):
    """Both halves in one module, so one safetensors file holds the whole training state."""

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = DCGANGenerator(config)
        self.discriminator = DCGANDiscriminator(config)
        self.apply(init_dcgan_weights)

    def forward(self, latent: torch.Tensor, class_ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.generator(latent, class_ids)
