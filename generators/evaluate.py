"""Sample quality without downloaded weights: KID and precision/recall/density/coverage.

FID and KID are normally computed on Inception features, which would mean downloading
weights at run time. Here the features come from a fixed, randomly initialised CNN whose
weights are drawn from ``numpy.random.default_rng(0)``: identical on every machine and
torch version, and known to rank generators sensibly (Naeem et al., 2020, use random
embeddings for exactly this reason). The numbers compare checkpoints with each other on
the same reference data; they are not comparable with published Inception-based values.

* KID (Binkowski et al., 2018): unbiased MMD^2 with the cubic polynomial kernel, averaged
  over random subsets; about 0 when both sets come from the same distribution.
* Precision, recall, density, coverage (Naeem et al., 2020): k-nearest-neighbour
  manifolds of real and fake features; precision/density measure fidelity,
  recall/coverage diversity.
* For families with an exact likelihood (the PixelCNN), the negative log-likelihood of
  the same real crops in bits per sub-pixel: no features involved, comparable with any
  other model of the same crops.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from generators.configs import STEPPED_FAMILIES
from generators.data import ImageFolder, uint8_to_unit
from generators.noise import PerImageNoise, image_seeds

FEATURE_WIDTHS = (32, 64, 128, 256)
NEAREST_NEIGHBOURS = 5
KID_SUBSETS = 50
KID_SUBSET_SIZE = 100


@dataclass
class EvaluationReport:
    kid: float
    kid_std: float
    precision: float
    recall: float
    density: float
    coverage: float
    real_images: int
    fake_images: int
    feature_dim: int
    nearest_neighbours: int = NEAREST_NEIGHBOURS
    features: str = "random-cnn-v1 (numpy seed 0)"
    # Exact negative log2-likelihood per sub-pixel of the real crops; None for families
    # without a tractable likelihood.
    bits_per_dim: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RandomFeatures:
    """A 4-layer ReLU CNN with He-normal random weights, global average + max pooling.

    Stride-2 convolutions keep 32 and 64 px inputs cheap; concatenating average and max
    pooling keeps both texture statistics and peak responses, which makes the features
    sensitive to the artefacts that separate generators.
    """

    def __init__(self, channels: int = 3, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.weights: list[np.ndarray] = []
        in_width = channels
        for width in FEATURE_WIDTHS:
            fan_in = in_width * 9
            self.weights.append(
                (rng.standard_normal((width, in_width, 3, 3)) * np.sqrt(2.0 / fan_in)).astype(
                    np.float32
                )
            )
            in_width = width

    @property
    def dim(self) -> int:
        return 2 * FEATURE_WIDTHS[-1]

    def __call__(self, images: np.ndarray, batch: int = 256) -> np.ndarray:
        """Float NCHW images in [-1, 1] -> (N, dim) float64 features."""
        import torch
        import torch.nn.functional as F

        weights = [torch.from_numpy(w) for w in self.weights]
        chunks = []
        with torch.no_grad():
            for start in range(0, len(images), batch):
                hidden = torch.from_numpy(np.ascontiguousarray(images[start : start + batch]))
                for index, weight in enumerate(weights):
                    hidden = F.relu(
                        F.conv2d(hidden, weight, stride=1 if index == 0 else 2, padding=1)
                    )
                pooled = torch.cat([hidden.mean(dim=(2, 3)), hidden.amax(dim=(2, 3))], dim=1)
                chunks.append(pooled.double().numpy())
        return np.concatenate(chunks)


def kernel_inception_distance(
    real: np.ndarray,
    fake: np.ndarray,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> tuple[float, float]:
    """Mean and standard deviation of the unbiased MMD^2 over random subsets."""
    rng = np.random.default_rng(seed)
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError("KID needs at least 2 images on each side")
    dim = real.shape[1]
    estimates = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), size, replace=False)]
        y = fake[rng.choice(len(fake), size, replace=False)]
        k_xx = (x @ x.T / dim + 1) ** 3
        k_yy = (y @ y.T / dim + 1) ** 3
        k_xy = (x @ y.T / dim + 1) ** 3
        off_diagonal = size * (size - 1)
        estimates.append(
            (k_xx.sum() - np.trace(k_xx)) / off_diagonal
            + (k_yy.sum() - np.trace(k_yy)) / off_diagonal
            - 2 * k_xy.mean()
        )
    return float(np.mean(estimates)), float(np.std(estimates))


def _pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    squared = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def _kth_neighbour_radii(features: np.ndarray, k: int) -> np.ndarray:
    distances = _pairwise_distances(features, features)
    # Index k, not k-1: the nearest "neighbour" at index 0 is the point itself.
    return np.partition(distances, k, axis=1)[:, k]


def precision_recall_density_coverage(
    real: np.ndarray, fake: np.ndarray, k: int = NEAREST_NEIGHBOURS
) -> dict[str, float]:
    """The four k-NN manifold metrics of Naeem et al. (2020)."""
    real_radii = _kth_neighbour_radii(real, k)
    fake_radii = _kth_neighbour_radii(fake, k)
    real_to_fake = _pairwise_distances(real, fake)
    inside_real = real_to_fake <= real_radii[:, None]  # fake j inside real i's ball
    inside_fake = real_to_fake <= fake_radii[None, :]  # real i inside fake j's ball
    return {
        "precision": float(inside_real.any(axis=0).mean()),
        "recall": float(inside_fake.any(axis=1).mean()),
        "density": float(inside_real.sum(axis=0).mean() / k),
        "coverage": float((real_to_fake.min(axis=1) <= real_radii).mean()),
    }


def compare_images(real: np.ndarray, fake: np.ndarray, seed: int = 0) -> EvaluationReport:
    """Metrics between two sets of float NCHW images in [-1, 1]."""
    extractor = RandomFeatures(channels=real.shape[1])
    real_features, fake_features = extractor(real), extractor(fake)
    kid, kid_std = kernel_inception_distance(real_features, fake_features, seed=seed)
    manifold = precision_recall_density_coverage(real_features, fake_features)
    return EvaluationReport(
        kid=kid,
        kid_std=kid_std,
        real_images=len(real),
        fake_images=len(fake),
        feature_dim=extractor.dim,
        **manifold,
    )


def evaluate(
    checkpoint_dir: Path | str,
    data_dir: Path | str | None,
    n: int = 500,
    sampler: str = "ddim",
    sampling_steps: int | None = 50,
    seed: int = 0,
    device: str = "auto",
    batch: int = 128,
) -> EvaluationReport:
    """Compare ``n`` samples of a checkpoint with ``n`` real crops of the same size.

    ``data_dir=None`` uses the built-in real photos.
    """
    from generators.checkpoint import load_checkpoint
    from generators.families import get_family
    from generators.training_utils import pick_device

    torch_device = pick_device(device)
    loaded = load_checkpoint(checkpoint_dir, device=torch_device)
    size = loaded.config.image_size
    if loaded.family not in STEPPED_FAMILIES:
        sampling_steps = None
    real = _real_crops(data_dir, n, size, seed)
    spec = get_family(loaded.family)
    fakes = []
    for start in range(0, n, batch):
        noise = PerImageNoise(image_seeds(seed, min(batch, n - start), start))
        output = spec.sample(
            loaded.model, loaded.config, noise, torch_device, sampler, sampling_steps
        )
        fakes.append(output.images)
    report = compare_images(real, np.concatenate(fakes), seed=seed)
    report.bits_per_dim = spec.bits_per_dim(loaded.model, loaded.config, real, torch_device)
    return report


def _real_crops(data_dir: Path | str | None, n: int, size: int, seed: int) -> np.ndarray:
    if data_dir is not None:
        crops = [crop for crop, _ in ImageFolder.open(data_dir, size).crops(n, seed)]
    else:
        from generators.realphotos import builtin_photo_folder

        with builtin_photo_folder() as photos_dir:
            crops = [crop for crop, _ in ImageFolder.open(photos_dir, size).crops(n, seed)]
    return uint8_to_unit(np.stack(crops))
