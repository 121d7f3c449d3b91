"""Input transforms: what the backbone looks at instead of (or as) the pixels.

Each transform is an ``nn.Module`` inside the detector, so it is saved with the weights'
configuration, exported into the ONNX graph, and the torch-free inference path never has to
reimplement it. Inputs are float NCHW in [-1, 1].

* ``raw``: the pixels.
* ``npr``: neighbouring-pixel relationships (Tan et al., CVPR 2024): ``x - up(down(x))``
  with nearest-neighbour resampling by 2. Generators upsample in their last layers, which
  leaves correlated 2x2 neighbourhoods; the residual keeps exactly that and drops content.
* ``npr_raw``: the pixels and the NPR residual side by side (6 channels). The residual
  carries the upsampling trace; the pixels carry what the residual throws away (colour
  statistics, texture, smoothness), which small generators also get wrong. It survives
  recompression; the shipped detector fuses it with ``chroma`` (``detectors.fusion``).
* ``chroma``: the NPR residual of the chroma (each channel minus the luminance), so only
  fine colour detail. Cameras demosaic and codecs subsample colour, so real photos carry
  little of it; generators paint R, G and B at full resolution and all three of ours
  carry 2.5-5.8x as much (``bench/family_cues.py``). It is the one trace here that every
  family shares, so a detector on it recognises a family it was never trained on far
  better than one on pixels (leave-one-family-out in the README); but lossy JPEG and WebP
  subsample colour too, erasing it, so alone it fails after recompression.
* ``spectrum``: log-magnitude of the 2-D DFT per channel. Periodic upsampling artifacts
  are peaks in the spectrum (Durall et al., Frank et al.). The DFT is two matrix products
  with fixed cos/sin matrices, which exports to plain ONNX MatMul (no DFT operator needed);
  the matrices are rebuilt from the image size, never stored in the checkpoint.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

TRANSFORMS = ("raw", "npr", "npr_raw", "chroma", "spectrum")


def transform_channels(name: str) -> int:
    """Channels the backbone receives from transform ``name`` (the image has 3)."""
    return 6 if name == "npr_raw" else 3


class RawPixels(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class NPRResidual(nn.Module):
    """x - nearest_up(nearest_down(x)); inputs need even height and width (tiles are)."""

    def __init__(self, scale: float = 4.0) -> None:
        super().__init__()
        # The residual is small next to pixel values; scaling keeps the first layer's
        # activations in the range the default initialisation expects.
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        down = x[:, :, ::2, ::2]
        up = F.interpolate(down, scale_factor=2.0, mode="nearest")
        return (x - up) * self.scale


class ChromaResidual(nn.Module):
    """The NPR residual of the chroma (each channel minus the BT.601 luminance)."""

    def __init__(self) -> None:
        super().__init__()
        self.residual = NPRResidual()
        self.register_buffer(
            "luma", torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chroma = x - (x * self.luma).sum(dim=1, keepdim=True)
        return self.residual(chroma)


class NPRAndPixels(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.residual = NPRResidual()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.residual(x)], dim=1)


class LogSpectrum(nn.Module):
    """log(|DFT2(x)| + eps) per channel, for square ``size``x``size`` inputs."""

    def __init__(self, size: int, eps: float = 1e-3) -> None:
        super().__init__()
        index = torch.arange(size, dtype=torch.float64)
        angle = 2.0 * math.pi * torch.outer(index, index) / size
        # Orthonormal scaling keeps the log-magnitude in a small range for any size.
        norm = 1.0 / math.sqrt(size)
        self.register_buffer("cos", (torch.cos(angle) * norm).float(), persistent=False)
        self.register_buffer("sin", (torch.sin(angle) * norm).float(), persistent=False)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        # W = C - iS is symmetric, so DFT2(x) = W x W = (CxC - SxS) - i(CxS + SxC).
        xc = torch.matmul(x, self.cos)
        xs = torch.matmul(x, self.sin)
        real = torch.matmul(self.cos, xc) - torch.matmul(self.sin, xs)
        imag = torch.matmul(self.cos, xs) + torch.matmul(self.sin, xc)
        magnitude = torch.sqrt(real * real + imag * imag + self.eps * self.eps)
        return torch.log(magnitude)


def build_transform(name: str, image_size: int) -> nn.Module:
    if name == "raw":
        return RawPixels()
    if name == "npr":
        return NPRResidual()
    if name == "npr_raw":
        return NPRAndPixels()
    if name == "chroma":
        return ChromaResidual()
    if name == "spectrum":
        return LogSpectrum(image_size)
    raise ValueError(f"unknown input transform {name!r}; use one of {', '.join(TRANSFORMS)}")
