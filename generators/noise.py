"""Random numbers for sampling, drawn in numpy, one generator per image.

Every latent and every sampler noise tensor comes from here rather than from
``torch.randn``, for two reasons: the torch and the ONNX (numpy-only) paths then see
exactly the same noise, so their images can be compared pixel for pixel; and image ``i``
of a run with seed ``s`` depends only on its own seed ``s + i``, so one image can be
regenerated alone (``generate --seed s+i -n 1``), whatever the batch it was born in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class PerImageNoise:
    """Standard normal (or uniform) draws for a batch, each row from its own seed's generator."""

    def __init__(self, seeds: Sequence[int]) -> None:
        self.seeds = [int(seed) for seed in seeds]
        self._generators = [np.random.default_rng(seed) for seed in self.seeds]

    def __len__(self) -> int:
        return len(self.seeds)

    def normal(self, shape: Sequence[int]) -> np.ndarray:
        """A float32 array of shape ``(len(self), *shape)``."""
        return np.stack(
            [rng.standard_normal(tuple(shape), dtype=np.float32) for rng in self._generators]
        )

    def uniform(self, shape: Sequence[int]) -> np.ndarray:
        """A float64 array of shape ``(len(self), *shape)`` in [0, 1)."""
        return np.stack([rng.random(tuple(shape)) for rng in self._generators])


def image_seeds(seed: int, count: int, start: int = 0) -> list[int]:
    """The seeds of images ``start .. start + count - 1`` of a run seeded with ``seed``."""
    return [seed + start + i for i in range(count)]
