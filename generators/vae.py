"""A small convolutional VAE (Kingma & Welling, 2014).

No BatchNorm anywhere: a VAE sample must not depend on which other images share its
batch, and GroupNorm keeps training stable without that coupling. Its blurry samples are
the point for a detector data set: a third, visibly different kind of synthetic image
beside the GAN's checkerboard artefacts and the diffusion model's high-frequency noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from generators.configs import VAEConfig


@dataclass
class VAEOutput:
    reconstruction: torch.Tensor
    mean: torch.Tensor
    log_variance: torch.Tensor


@dataclass
class VAELoss:
    total: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


def _levels(image_size: int) -> int:
    levels = int(math.log2(image_size // 4))
    if 4 * 2**levels != image_size:
        raise ValueError(f"the VAE needs a power-of-two image size >= 8, got {image_size}")
    return levels


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(channels, 8), channels)


class VAE(nn.Module):
    """Encoder to (mean, log-variance) of a diagonal Gaussian; decoder back to [-1, 1]."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        levels = _levels(config.image_size)
        widths = [config.base_width * 2**i for i in range(levels)]

        encoder: list[nn.Module] = []
        in_width = config.channels
        for width in widths:
            encoder += [nn.Conv2d(in_width, width, 4, 2, 1), _norm(width), nn.SiLU()]
            in_width = width
        self.encoder = nn.Sequential(*encoder, nn.Flatten())
        flat = widths[-1] * 4 * 4
        self.to_mean = nn.Linear(flat, config.latent_dim)
        self.to_log_variance = nn.Linear(flat, config.latent_dim)

        self.from_latent = nn.Linear(config.latent_dim, flat)
        decoder: list[nn.Module] = [nn.Unflatten(1, (widths[-1], 4, 4))]
        for width in reversed(widths[:-1]):
            decoder += [nn.SiLU(), nn.ConvTranspose2d(in_width, width, 4, 2, 1), _norm(width)]
            in_width = width
        decoder += [
            nn.SiLU(),
            nn.ConvTranspose2d(in_width, config.base_width, 4, 2, 1),
            _norm(config.base_width),
            nn.SiLU(),
            nn.Conv2d(config.base_width, config.channels, 3, padding=1),
            nn.Tanh(),
        ]
        self.decoder = nn.Sequential(*decoder)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(images)
        return self.to_mean(hidden), self.to_log_variance(hidden).clamp(-30.0, 20.0)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.from_latent(latent))

    def forward(self, images: torch.Tensor, epsilon: torch.Tensor) -> VAEOutput:
        """Reparameterised pass; ``epsilon`` comes from the caller so runs are reproducible."""
        mean, log_variance = self.encode(images)
        latent = mean + torch.exp(0.5 * log_variance) * epsilon
        return VAEOutput(self.decode(latent), mean, log_variance)

    def loss(self, images: torch.Tensor, output: VAEOutput) -> VAELoss:
        """Negative ELBO per pixel: squared error per pixel + weighted KL per pixel.

        Normalising both terms by the pixel count keeps the loss near 1 at the start
        whatever the image size, so learning rates carry over between 32 and 64 px.
        """
        pixels = images[0].numel()
        reconstruction = F.mse_loss(output.reconstruction.float(), images.float(), reduction="sum")
        mean, log_variance = output.mean.float(), output.log_variance.float()  # bf16-safe
        kl = -0.5 * torch.sum(1 + log_variance - mean.pow(2) - log_variance.exp())
        batch = images.shape[0]
        reconstruction = reconstruction / (batch * pixels)
        kl = kl / (batch * pixels)
        return VAELoss(reconstruction + self.config.kl_weight * kl, reconstruction, kl)


class VAEDecoder(nn.Module):
    """latent -> image: the part of a VAE that sampling runs, as its own graph for ONNX."""

    def __init__(self, vae: VAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latent)
