"""Text-conditioned diffusion: a byte-level text encoder trained from scratch with a DDPM
UNet that cross-attends to it, sampled with classifier-free guidance.

The design is latent diffusion's text-to-image model (Rombach et al., "High-Resolution
Image Synthesis with Latent Diffusion Models", CVPR 2022) at pixel level and toy scale:
the prompt's token embeddings are the keys and values of cross-attention layers inside
the UNet, and their pooled embedding shifts the time embedding as Imagen's does (Saharia
et al., 2022). The encoder reads UTF-8 bytes (:mod:`generators.text_prompts`), as ByT5
does (Xue et al., 2022), so nothing pretrained or downloaded is needed. Guidance is
classifier-free (Ho & Salimans, "Classifier-Free Diffusion Guidance", 2022): captions are
dropped to the empty prompt during training, and sampling extrapolates from the
unconditional noise prediction towards the conditional one,
``eps = eps_uncond + g * (eps_cond - eps_uncond)``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from generators.configs import TextDiffusionConfig, TextEncoderConfig
from generators.ddpm import DDPMSchedule
from generators.text_prompts import PAD_TOKEN, VOCABULARY_SIZE
from generators.training_utils import update_ema
from generators.unet import TextContext, UNet

# Added to attention scores at padding positions: finite, so bf16 and every ONNX runtime
# handle it, and large enough that softmax gives padding no weight.
PADDING_BIAS = -1e4


class TransformerBlock(nn.Module):
    """Pre-norm self-attention and MLP, written with matmul and softmax for plain ONNX."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"a text width of {width} does not split into {heads} heads")
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, width * 3)
        self.out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, width * 4), nn.GELU(), nn.Linear(width * 4, width)
        )

    def forward(self, x: torch.Tensor, padding_bias: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        head_width = width // self.heads
        qkv = self.qkv(self.norm1(x)).reshape(batch, length, 3, self.heads, head_width)
        query, key, value = (qkv[:, :, i].transpose(1, 2) for i in range(3))  # (N, H, L, d)
        scores = torch.matmul(query, key.transpose(-1, -2)) * head_width**-0.5
        weights = torch.softmax(scores + padding_bias, dim=-1)
        attended = torch.matmul(weights, value).transpose(1, 2).reshape(batch, length, width)
        x = x + self.out(attended)
        return x + self.mlp(self.norm2(x))


class TextEncoder(nn.Module):
    """Token ids (N, L) -> the UNet's :class:`~generators.unet.TextContext`."""

    def __init__(self, config: TextEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(VOCABULARY_SIZE, config.width)
        self.position_embedding = nn.Parameter(torch.randn(config.max_tokens, config.width) * 0.02)
        self.blocks = nn.ModuleList(
            TransformerBlock(config.width, config.heads) for _ in range(config.layers)
        )
        self.norm_out = nn.LayerNorm(config.width)

    def forward(self, tokens: torch.Tensor) -> TextContext:
        present = (tokens != PAD_TOKEN).to(self.position_embedding.dtype)  # (N, L)
        padding_bias = ((1.0 - present) * PADDING_BIAS)[:, None, None, :]
        hidden = self.token_embedding(tokens) + self.position_embedding[None, : tokens.shape[1]]
        for block in self.blocks:
            hidden = block(hidden, padding_bias)
        hidden = self.norm_out(hidden)
        # The start token is always present, so no row divides by zero.
        pooled = (hidden * present[..., None]).sum(1) / present.sum(1, keepdim=True)
        return TextContext(hidden, padding_bias, pooled)


class TextConditionedUNet(nn.Module):
    """(x_t, t, token ids) -> predicted noise: the network the ONNX export runs."""

    def __init__(self, config: TextDiffusionConfig) -> None:
        super().__init__()
        self.text_encoder = TextEncoder(config.text)
        self.unet = UNet(config.unet, context_width=config.text.width)

    def forward(
        self, sample: torch.Tensor, timesteps: torch.Tensor, tokens: torch.Tensor
    ) -> torch.Tensor:
        return self.unet(sample, timesteps, self.text_encoder(tokens))


class TextDiffusionModel(nn.Module):
    """The text encoder and UNet, the schedule, and (``ema_decay > 0``) their moving
    average, which sampling and the ONNX export use."""

    def __init__(self, config: TextDiffusionConfig) -> None:
        super().__init__()
        self.config = config
        self.schedule = DDPMSchedule(config.schedule)
        self.denoiser = TextConditionedUNet(config)
        self.ema_denoiser: TextConditionedUNet | None = None
        if config.ema_decay > 0:
            self.ema_denoiser = copy.deepcopy(self.denoiser).requires_grad_(False)
            self.register_buffer("ema_updates", torch.zeros((), dtype=torch.int64))

    @property
    def sampling_denoiser(self) -> TextConditionedUNet:
        return self.ema_denoiser if self.ema_denoiser is not None else self.denoiser

    @torch.no_grad()
    def update_ema(self) -> None:
        if self.ema_denoiser is None:
            return
        update_ema(self.ema_denoiser, self.denoiser, self.config.ema_decay, int(self.ema_updates))
        self.ema_updates += 1

    def forward(
        self, sample: torch.Tensor, timesteps: torch.Tensor, tokens: torch.Tensor
    ) -> torch.Tensor:
        return self.sampling_denoiser(sample, timesteps, tokens)
