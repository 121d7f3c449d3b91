"""Prompts for the text-conditioned diffusion family: byte tokens and guidance (torch-free).

Shared by the torch and the ONNX sampling paths, so both tokenize and guide identically.

A prompt is its UTF-8 bytes, one token each, after a start token: no vocabulary file to
ship or to trust, every language and emoji representable, and the ONNX sampling path
(which has no torch) tokenizes exactly as training did. Prompts longer than the model's
``max_tokens`` are cut, as CLIP cuts at 77 tokens: a from-scratch encoder trained on short
captions has nothing to learn from the tail.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from generators.conditioning import Condition

PAD_TOKEN = 0
START_TOKEN = 1
BYTE_OFFSET = 2
VOCABULARY_SIZE = BYTE_OFFSET + 256


def normalise_prompt(prompt: str) -> str:
    """Lower case with single spaces: "Pixel  Art" and "pixel art" are one prompt, which a
    small encoder trained on a few captions could not otherwise learn."""
    return " ".join(prompt.split()).lower()


def tokenize(prompts: Sequence[str], max_tokens: int) -> np.ndarray:
    """(N, max_tokens) int64: start token, the normalised prompt's bytes, padding.

    The empty prompt (classifier-free guidance's unconditional input) is the start token
    alone, so every row attends to at least one token.
    """
    tokens = np.full((len(prompts), max_tokens), PAD_TOKEN, dtype=np.int64)
    for row, prompt in enumerate(prompts):
        encoded = normalise_prompt(prompt).encode("utf-8")[: max_tokens - 1]
        tokens[row, 0] = START_TOKEN
        tokens[row, 1 : 1 + len(encoded)] = np.frombuffer(encoded, dtype=np.uint8) + BYTE_OFFSET
    return tokens


def prompt_and_guidance(config: Any, condition: Condition | None) -> tuple[str, float]:
    """The prompt to sample (empty: the unconditional model) and the guidance scale (the
    request's, else the checkpoint's default)."""
    prompt = condition.prompt if condition is not None and condition.prompt else ""
    guidance = config.guidance
    if condition is not None and condition.guidance is not None:
        guidance = condition.guidance
    return prompt, float(guidance)


def needs_unconditional(prompt: str, guidance: float) -> bool:
    """Whether sampling must also evaluate the empty prompt (not at g = 1, not unprompted)."""
    return bool(prompt) and guidance != 1.0


def guide(conditional: Any, unconditional: Any, guidance: float) -> Any:
    """Classifier-free guidance on torch tensors or numpy arrays alike."""
    return unconditional + guidance * (conditional - unconditional)
