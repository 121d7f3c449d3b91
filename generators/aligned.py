"""Aligned fakes: generated images that share their content with a real photograph.

A detector trained on real photos against unrelated generator samples can separate the
classes by content ("looks like those photos") instead of by the generator's trace. Pairs
in which the fake *is* the real photo passed through a generator leave only the trace to
learn (Rajan et al., "Aligned datasets improve detection of latent diffusion-generated
images", ICLR 2025; B-Free, Guillaro et al., CVPR 2025; DRCT, ICML 2024). Three kinds,
all at the photo's native resolution:

* **VAE reconstruction**: the window cut into the VAE's tiles, each encoded to its mean
  latent and decoded, stitched back (the VAE has a dense bottleneck, so it works tile by
  tile; the tile grid is the one the detector scores on).
* **Partial re-noising** (SDEdit, Meng et al., ICLR 2022): the window noised to timestep
  ``strength * T`` and denoised by DDIM with the bundled UNet, which is fully
  convolutional and so runs on any size that its down-sampling divides.
* **Local inpainting**: an elliptical region of the window regenerated (new content that
  fits its surroundings, as an editor's generative fill makes), with the rest of the
  window passed lightly through the UNet too (:func:`diffusion_inpaint`).

The output is a data set in the detector's layout: ``OUT/<family>@aligned-<source>/1_fake``,
so leave-one-family-out holds these fakes out with their family and leave-sources-out
holds them out with the photos they were made from (``detectors.data``).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from provenance.errors import DataError
from provenance.files import find_image_files

ALIGNED_FAMILIES = ("vae", "diffusion")


@dataclass(frozen=True)
class AlignedConfig:
    windows_per_source: int = 200
    window_min: int = 64
    window_max: int = 160
    # Photos are shrunk by U[downscale_min, 1] before a window is cut, so the windows show
    # content at the scales the web serves it.
    downscale_min: float = 0.25
    strength_min: float = 0.2
    strength_max: float = 0.5
    denoise_steps: int = 10
    # Local inpainting: the region's share of the window, and how deep it is re-noised.
    inpaint: bool = True
    inpaint_area_min: float = 0.15
    inpaint_area_max: float = 0.4
    inpaint_strength_min: float = 0.6
    inpaint_strength_max: float = 0.9
    # Below this fraction of T the whole window is denoised freely.
    inpaint_finish: float = 0.15
    seed: int = 0


@dataclass
class AlignedSummary:
    folder: Path
    images: int
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"folder": str(self.folder), "images": self.images, "counts": self.counts}


def _to_tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)


def _to_pixels(images: torch.Tensor) -> np.ndarray:
    scaled = (images.clamp(-1.0, 1.0) + 1.0) * 127.5
    return scaled.round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _crop_to_multiple(pixels: np.ndarray, multiple: int) -> np.ndarray:
    height = pixels.shape[0] - pixels.shape[0] % multiple
    width = pixels.shape[1] - pixels.shape[1] % multiple
    if height < multiple or width < multiple:
        raise DataError(f"An image of {pixels.shape[1]}x{pixels.shape[0]} px is under {multiple}.")
    return pixels[:height, :width]


@torch.no_grad()
def vae_reconstruct(vae: torch.nn.Module, pixels: np.ndarray, tile: int) -> np.ndarray:
    """``pixels`` (uint8 HWC, sides cut to a multiple of ``tile``) through the VAE."""
    pixels = _crop_to_multiple(pixels, tile)
    rows, cols = pixels.shape[0] // tile, pixels.shape[1] // tile
    tiles = (
        pixels.reshape(rows, tile, cols, tile, 3)
        .transpose(0, 2, 1, 3, 4)
        .reshape(-1, tile, tile, 3)
    )
    batch = torch.stack([_to_tensor(t) for t in tiles])
    mean, _ = vae.encode(batch)
    decoded = _to_pixels(vae.decode(mean))
    return (
        decoded.reshape(rows, cols, tile, tile, 3)
        .transpose(0, 2, 1, 3, 4)
        .reshape(rows * tile, cols * tile, 3)
    )


def _unet_multiple(model: torch.nn.Module) -> int:
    levels = len(model.config.unet.width_multipliers)
    return 2 ** max(0, levels - 1)


@torch.no_grad()
def diffusion_renoise(
    model: torch.nn.Module, pixels: np.ndarray, strength: float, steps: int, seed: int
) -> np.ndarray:
    """SDEdit: noise ``pixels`` to ``strength * T`` and denoise with ``steps`` DDIM steps."""
    from generators.ddim import DDIMSampler

    if not 0.0 < strength <= 1.0:
        raise DataError(f"The re-noising strength must be in (0, 1], got {strength}.")
    pixels = _crop_to_multiple(pixels, _unet_multiple(model))
    schedule = model.schedule
    start = max(1, round(strength * (schedule.num_train_timesteps - 1)))
    timesteps = _timesteps(start, steps)
    sampler = DDIMSampler(schedule, num_steps=1)
    original = _to_tensor(pixels)[None]
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(original.shape, generator=generator)
    sample = schedule.add_noise(original, noise, torch.tensor([start]))
    unet = model.sampling_unet
    for index, timestep in enumerate(timesteps):
        previous = timesteps[index + 1] if index + 1 < len(timesteps) else -1
        epsilon = unet(sample, torch.tensor([timestep], dtype=torch.int64))
        sample = sampler.step(epsilon, timestep, previous, sample, None).prev_sample
    return _to_pixels(sample)[0]


def _timesteps(start: int, steps: int) -> list[int]:
    return sorted({int(t) for t in np.linspace(start, 0, max(1, steps) + 1)[:-1]})[::-1]


@torch.no_grad()
def diffusion_inpaint(
    model: torch.nn.Module,
    pixels: np.ndarray,
    mask: np.ndarray,
    strength: float,
    finish: float,
    steps: int,
    seed: int,
) -> np.ndarray:
    """Regenerate ``mask`` (HxW, True = new content) of ``pixels``; re-noise the rest lightly.

    RePaint's conditioning (Lugmayr et al., CVPR 2022) without its resampling loops: the
    window is noised to ``strength * T`` and denoised by DDIM; while the timestep is above
    ``finish * T``, the unmasked part is replaced after every step by the photo noised to
    that step, so the new content continues its surroundings. The last steps denoise the
    whole window freely, so that every pixel has passed through the UNet, as a latent
    decoder leaves its trace on all of a latent-diffusion inpainting (B-Free, CVPR 2025),
    and the unmasked part cannot teach a detector that real pixels are generated.
    """
    from generators.ddim import DDIMSampler

    if not 0.0 < finish < strength <= 1.0:
        raise DataError(f"Inpainting needs 0 < finish < strength <= 1, got {finish}, {strength}.")
    multiple = _unet_multiple(model)
    pixels = _crop_to_multiple(pixels, multiple)
    keep = torch.from_numpy(~mask[: pixels.shape[0], : pixels.shape[1]]).float()[None, None]
    schedule = model.schedule
    last = schedule.num_train_timesteps - 1
    start = max(1, round(strength * last))
    release = round(finish * last)
    sampler = DDIMSampler(schedule, num_steps=1)
    original = _to_tensor(pixels)[None]
    generator = torch.Generator().manual_seed(seed)
    sample = schedule.add_noise(
        original, torch.randn(original.shape, generator=generator), torch.tensor([start])
    )
    unet = model.sampling_unet
    timesteps = _timesteps(start, steps)
    for index, timestep in enumerate(timesteps):
        previous = timesteps[index + 1] if index + 1 < len(timesteps) else -1
        epsilon = unet(sample, torch.tensor([timestep], dtype=torch.int64))
        sample = sampler.step(epsilon, timestep, previous, sample, None).prev_sample
        if previous > release:
            noise = torch.randn(original.shape, generator=generator)
            known = schedule.add_noise(original, noise, torch.tensor([previous]))
            sample = keep * known + (1.0 - keep) * sample
    return _to_pixels(sample)[0]


def elliptical_mask(
    height: int, width: int, area: float, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, int]]:
    """An axis-aligned ellipse covering about ``area`` of the window, and its bounding box."""
    aspect = float(rng.uniform(0.6, 1.6))
    radius_y = min(height / 2, np.sqrt(area * height * width / np.pi / aspect))
    radius_x = min(width / 2, radius_y * aspect)
    centre_y = float(rng.uniform(radius_y, height - radius_y))
    centre_x = float(rng.uniform(radius_x, width - radius_x))
    rows, cols = np.ogrid[:height, :width]
    mask = ((rows + 0.5 - centre_y) / radius_y) ** 2 + ((cols + 0.5 - centre_x) / radius_x) ** 2
    box = {
        "top": int(centre_y - radius_y),
        "left": int(centre_x - radius_x),
        "height": int(2 * radius_y),
        "width": int(2 * radius_x),
    }
    return mask <= 1.0, box


def _windows(
    photos: list[Path], config: AlignedConfig, rng: np.random.Generator
) -> list[tuple[Path, np.ndarray]]:
    from PIL import Image

    from provenance.media import load_image

    windows: list[tuple[Path, np.ndarray]] = []
    decoded: dict[Path, Image.Image] = {}
    for _ in range(config.windows_per_source):
        path = photos[int(rng.integers(0, len(photos)))]
        if path not in decoded:
            decoded[path] = load_image(path, mode="RGB")
        image = decoded[path]
        factor = float(rng.uniform(config.downscale_min, 1.0))
        factor = max(factor, config.window_min / min(image.size))
        if factor < 1.0:
            size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
            image = image.resize(size, Image.Resampling.BICUBIC)
        pixels = np.asarray(image, dtype=np.uint8)
        side = int(rng.integers(config.window_min, config.window_max + 1))
        height = min(side, pixels.shape[0])
        width = min(int(side * rng.uniform(0.75, 1.33)), pixels.shape[1])
        top = int(rng.integers(0, pixels.shape[0] - height + 1))
        left = int(rng.integers(0, pixels.shape[1] - width + 1))
        windows.append((path, pixels[top : top + height, left : left + width]))
    return windows


def _inpainted(
    model: torch.nn.Module, window: np.ndarray, config: AlignedConfig, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, object]]:
    area = float(rng.uniform(config.inpaint_area_min, config.inpaint_area_max))
    mask, box = elliptical_mask(window.shape[0], window.shape[1], area, rng)
    strength = float(rng.uniform(config.inpaint_strength_min, config.inpaint_strength_max))
    seed = int(rng.integers(0, 2**31 - 1))
    image = diffusion_inpaint(
        model, window, mask, strength, config.inpaint_finish, config.denoise_steps, seed
    )
    extra: dict[str, object] = {
        "kind": "inpaint",
        "strength": round(strength, 4),
        "area": round(area, 4),
        "mask_box": box,
        "seed": seed,
    }
    return image, extra


def export_aligned(
    sources: dict[str, Path],
    out_dir: Path | str,
    *,
    vae_checkpoint: Path | None,
    diffusion_checkpoint: Path | None,
    config: AlignedConfig | None = None,
) -> AlignedSummary:
    """Aligned fakes of the photos in each ``{source name: folder}``, as PNG files.

    File ``k`` of a source depends only on (seed, source, k), so a run is reproducible and
    a source added later leaves the others' files unchanged.
    """
    import zlib

    from PIL import Image

    from generators.checkpoint import load_checkpoint

    config = config or AlignedConfig()
    if vae_checkpoint is None and diffusion_checkpoint is None:
        raise DataError("Pass a VAE checkpoint, a diffusion checkpoint or both.")
    vae = load_checkpoint(vae_checkpoint, "vae") if vae_checkpoint else None
    diffusion = load_checkpoint(diffusion_checkpoint, "diffusion") if diffusion_checkpoint else None
    out_dir = Path(out_dir)
    counts: Counter[str] = Counter()
    records: list[dict[str, object]] = []
    torch.manual_seed(config.seed)
    for source, folder in sorted(sources.items()):
        photos = find_image_files(folder)
        if not photos:
            raise DataError(f"The photo folder {folder} holds no images.")
        rng = np.random.default_rng([config.seed, zlib.crc32(source.encode())])
        for index, (path, window) in enumerate(_windows(photos, config, rng)):
            made: list[tuple[str, np.ndarray, dict[str, object]]] = []
            if vae is not None:
                tile = int(vae.info.config.image_size)
                if min(window.shape[:2]) >= tile:
                    image = vae_reconstruct(vae.model, window, tile)
                    made.append(("vae", image, {"kind": "reconstruction"}))
            if diffusion is not None:
                strength = float(rng.uniform(config.strength_min, config.strength_max))
                seed = int(rng.integers(0, 2**31 - 1))
                image = diffusion_renoise(
                    diffusion.model, window, strength, config.denoise_steps, seed
                )
                made.append(
                    (
                        "diffusion",
                        image,
                        {"kind": "renoise", "strength": round(strength, 4), "seed": seed},
                    )
                )
                if config.inpaint:
                    made.append(("diffusion", *_inpainted(diffusion.model, window, config, rng)))
            for family, image, extra in made:
                folder_out = out_dir / f"{family}@aligned-{source}" / "1_fake"
                folder_out.mkdir(parents=True, exist_ok=True)
                suffix = "_inpaint" if extra.get("kind") == "inpaint" else ""
                name = f"{source}_{index:05d}{suffix}.png"
                Image.fromarray(image).save(folder_out / name)
                counts[f"{family}@aligned-{source}"] += 1
                records.append(
                    {
                        "file": f"{folder_out.parent.name}/1_fake/{name}",
                        "family": family,
                        "source": source,
                        "photo": path.name,
                        "width": int(image.shape[1]),
                        "height": int(image.shape[0]),
                        **extra,
                    }
                )
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "aligned.jsonl").open("w") as handle:
        for record in records:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
    return AlignedSummary(out_dir, sum(counts.values()), dict(sorted(counts.items())))
