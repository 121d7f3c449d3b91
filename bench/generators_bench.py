"""Generator benchmark: sampling speed (DDIM-50 vs DDPM-1000; the PixelCNN's fast loop vs
its naive loop), training steps/s per family, and style transfer's stylised images/s and
how far its outputs move towards the style.

text_diffusion's sampling is measured apart: DDIM-50 with a prompt and classifier-free
guidance, which evaluates the UNet on the prompted and the empty-prompt batch at once.

Both samplers run the same UNet (same weights, same images, same process), so their
ratio isolates the sampler: it should be close to 1000/50 = 20, and a ratio far below
that means per-step overhead outside the network dominates. The PixelCNN's two loops
likewise draw the same pixels from the same network (the bench checks it): the fast one
feeds only the receptive field's rows for each pixel, the naive one the full image, so
their ratio is what the cropping saves. Training throughput is measured per family after
warm-up steps (first-call allocation, oneDNN/cuDNN selection).

Prints a table on stderr and one JSON line on stdout::

    .venv/bin/python bench/generators_bench.py                  # small models, auto device
    .venv/bin/python bench/generators_bench.py --preset tiny --device cpu   # quick CPU run

The model weights are random: speed does not depend on what a model has learnt.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from collections.abc import Callable
from typing import Any


def _timed(function: Callable[[], Any], synchronize: Callable[[], None]) -> float:
    synchronize()
    started = time.perf_counter()
    function()
    synchronize()
    return time.perf_counter() - started


def bench_sampling(preset: str, size: int, images: int, device: Any) -> dict[str, Any]:
    import torch

    from generators.configs import DiffusionConfig, default_config
    from generators.ddpm import DDPMScheduleConfig
    from generators.families import build_model, get_family
    from generators.noise import PerImageNoise
    from generators.unet import parameter_count

    base = default_config("diffusion", size, preset)
    # Always the paper's T = 1000, whatever the preset trains with.
    config = dataclasses.replace(base, schedule=DDPMScheduleConfig(num_train_timesteps=1000))
    assert isinstance(config, DiffusionConfig)
    torch.manual_seed(0)
    model = build_model("diffusion", config).to(device).eval()
    family = get_family("diffusion")
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    seeds = list(range(images))

    def run(sampler: str, steps: int) -> None:
        family.sample(model, config, PerImageNoise(seeds), device, sampler, steps)

    run("ddim", 2)  # warm-up
    ddim_seconds = _timed(lambda: run("ddim", 50), synchronize)
    ddpm_seconds = _timed(lambda: run("ddpm", 1000), synchronize)
    return {
        "unet_parameters": parameter_count(model.unet),
        "images": images,
        "ddim50_images_per_s": images / ddim_seconds,
        "ddpm1000_images_per_s": images / ddpm_seconds,
        "ddim50_over_ddpm1000": ddpm_seconds / ddim_seconds,
    }


def bench_pixelcnn_sampling(preset: str, size: int, images: int, device: Any) -> dict[str, Any]:
    import numpy as np
    import torch

    from generators.configs import default_config
    from generators.families import build_model, sample_pixelcnn
    from generators.noise import PerImageNoise
    from generators.pixelcnn import parameter_total
    from generators.pixelcnn_sampling import receptive_field_rows

    config = default_config("pixelcnn", size, preset)
    torch.manual_seed(0)
    model = build_model("pixelcnn", config).to(device).eval()
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    seeds = list(range(images))
    drawn: dict[str, np.ndarray] = {}

    def run(loop: str) -> None:
        drawn[loop] = sample_pixelcnn(model, config, PerImageNoise(seeds), device, loop)

    with torch.no_grad():  # warm-up: one forward pass at each height the fast loop uses
        for height in range(1, size + 1):
            model(torch.zeros(images, config.channels, height, size, device=device))
    fast_seconds = _timed(lambda: run("fast"), synchronize)
    naive_seconds = _timed(lambda: run("naive"), synchronize)
    return {
        "parameters": parameter_total(model),
        "receptive_field_rows": receptive_field_rows(
            config.layers, config.kernel_size, config.first_kernel_size
        ),
        "images": images,
        "fast_images_per_s": images / fast_seconds,
        "naive_images_per_s": images / naive_seconds,
        "fast_over_naive": naive_seconds / fast_seconds,
        "identical_samples": bool(np.array_equal(drawn["fast"], drawn["naive"])),
    }


def bench_text_sampling(preset: str, size: int, images: int, device: Any) -> dict[str, Any]:
    """Guided DDIM-50 images/s of text_diffusion (its default guidance scale)."""
    import torch

    from generators.conditioning import Condition
    from generators.configs import default_config
    from generators.families import build_model, get_family
    from generators.noise import PerImageNoise
    from generators.unet import parameter_count

    config = default_config("text_diffusion", size, preset)
    torch.manual_seed(0)
    model = build_model("text_diffusion", config).to(device).eval()
    family = get_family("text_diffusion")
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    condition = Condition(prompt="pixel art of a knight")

    def run(steps: int) -> None:
        noise = PerImageNoise(list(range(images)))
        family.sample(model, config, noise, device, "ddim", steps, condition=condition)

    run(2)  # warm-up
    steps = min(50, config.schedule.num_train_timesteps)
    seconds = _timed(lambda: run(steps), synchronize)
    return {
        "denoiser_parameters": parameter_count(model.denoiser),
        "images": images,
        "guidance": config.guidance,
        f"guided_ddim{steps}_images_per_s": images / seconds,
    }


def bench_training(
    family_name: str, preset: str, size: int, batch: int, steps: int, device: Any
) -> float:
    import numpy as np
    import torch

    from generators.configs import default_config
    from generators.families import build_model, get_family
    from generators.train import _autocast_for

    config = default_config(family_name, size, preset)
    torch.manual_seed(0)
    model = build_model(family_name, config).to(device).train()
    family = get_family(family_name)
    optimizers = family.make_optimizers(model, config)
    images = torch.from_numpy(
        np.random.default_rng(0).uniform(-1, 1, (batch, 3, size, size)).astype(np.float32)
    ).to(device)
    autocast = _autocast_for(device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    labels = None
    if family.uses_labels:
        from generators.conditioning import TrainingLabels

        labels = TrainingLabels(
            class_ids=np.arange(batch) % 4, captions=[f"render kind {i % 4}" for i in range(batch)]
        )

    def step(index: int) -> None:
        generator = torch.Generator().manual_seed(index)
        family.train_step(model, optimizers, images, generator, autocast, labels)

    for index in range(2):  # warm-up
        step(index)
    seconds = _timed(lambda: [step(index) for index in range(steps)], synchronize)
    return steps / seconds


@dataclasses.dataclass
class StyleFigures:
    """Speed of the feed-forward style network and how far its outputs move to the style.

    ``*_style_loss`` is Gatys et al.'s style loss (Gram matrices of the seeded random
    feature network) of images against the style image, averaged over held-out crops of
    the built-in photos: the unstylised crops, the network's stylisations of them after
    ``train_steps`` steps, and Gatys optimisations from noise (start and end).
    """

    images_per_s: float
    network_images_per_s: float
    train_steps: int
    content_style_loss: float
    stylised_style_loss: float
    stylised_content_loss: float
    gatys_start_content_loss: float
    gatys_end_content_loss: float
    gatys_start_style_loss: float
    gatys_end_style_loss: float

    @property
    def stylised_over_content(self) -> float:
        return self.stylised_style_loss / self.content_style_loss


def bench_style(
    preset: str, size: int, images: int, batch: int, train_steps: int, device: Any
) -> StyleFigures:
    import numpy as np
    import torch

    from generators.configs import default_config
    from generators.data import ImageFolder
    from generators.families import build_model, get_family
    from generators.noise import PerImageNoise
    from generators.realphotos import builtin_photo_folder
    from generators.renders.painting import render_painting
    from generators.style import gatys_stylise
    from generators.style_inputs import builtin_content, square_pixels, to_unit
    from generators.train import _autocast_for

    config = default_config("style", size, preset)
    torch.manual_seed(0)
    model = build_model("style", config).to(device).train()
    painting = render_painting(np.random.default_rng(7), 256, 256)
    style = torch.from_numpy(
        to_unit(square_pixels(painting, config.style_size, "style", "painting"))
    )
    model.set_style(style)
    family = get_family("style")
    optimizers = family.make_optimizers(model, config)
    autocast = _autocast_for(device)
    with builtin_photo_folder() as photos:
        folder = ImageFolder.open(photos, size)
        folder.load_all()
    for step in range(train_steps):
        crops = torch.from_numpy(folder.batch(step, batch, seed=0).as_float()).to(device)
        family.train_step(model, optimizers, crops, torch.Generator().manual_seed(step), autocast)
    model.eval()
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    # Held out: the training batches use seed 0; these crops come from other draws.
    seeds = list(range(10_000, 10_000 + images))
    content = torch.from_numpy(builtin_content(seeds, size).images).to(device)
    with torch.no_grad():
        family.sample(model, config, PerImageNoise(seeds[:2]), device)  # warm-up
        sample_seconds = _timed(
            lambda: family.sample(model, config, PerImageNoise(seeds), device), synchronize
        )
        network_seconds = _timed(lambda: model.stylizer(content), synchronize)
        stylised = model.stylizer(content)
        grams = model.loss.style_targets(model.style_image[None])
        target = model.loss.content_target(content)
        unstylised_losses = model.loss(content, target, grams)
        stylised_losses = model.loss(stylised, target, grams)
    gatys = [
        gatys_stylise(content[i : i + 1], model.style_image[None], config, steps=200, seed=i)
        for i in range(min(4, images))
    ]
    return StyleFigures(
        images_per_s=images / sample_seconds,
        network_images_per_s=images / network_seconds,
        train_steps=train_steps,
        content_style_loss=float(unstylised_losses.style),
        stylised_style_loss=float(stylised_losses.style),
        stylised_content_loss=float(stylised_losses.content),
        gatys_start_content_loss=float(np.mean([float(g.start.content) for g in gatys])),
        gatys_end_content_loss=float(np.mean([float(g.end.content) for g in gatys])),
        gatys_start_style_loss=float(np.mean([float(g.start.style) for g in gatys])),
        gatys_end_style_loss=float(np.mean([float(g.end.style) for g in gatys])),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("small", "compact", "tiny"), default="small")
    parser.add_argument("--size", type=int, choices=(32, 64), default=32)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--images", type=int, default=8, help="images per sampling run")
    parser.add_argument(
        "--pixelcnn-images",
        type=int,
        default=4,
        help="images per PixelCNN sampling run (each loop runs one network pass per pixel)",
    )
    parser.add_argument("--batch", type=int, default=64, help="training batch size")
    parser.add_argument("--train-steps", type=int, default=10, help="timed steps per family")
    parser.add_argument(
        "--style-train-steps",
        type=int,
        default=200,
        help="steps the style network trains before its outputs' style loss is measured",
    )
    args = parser.parse_args(argv)

    import torch

    from generators.configs import FAMILIES
    from generators.training_utils import pick_device

    device = pick_device(args.device)
    sampling = bench_sampling(args.preset, args.size, args.images, device)
    pixelcnn = bench_pixelcnn_sampling(args.preset, args.size, args.pixelcnn_images, device)
    text_sampling = bench_text_sampling(args.preset, args.size, args.images, device)
    training = {
        family: bench_training(family, args.preset, args.size, args.batch, args.train_steps, device)
        for family in FAMILIES
    }
    style = bench_style(
        args.preset, args.size, args.images, args.batch, args.style_train_steps, device
    )
    slowest = min(training.values())
    result = {
        "bench": "generators",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "preset": args.preset,
        "size": args.size,
        "batch": args.batch,
        "sampling": sampling,
        "pixelcnn_sampling": pixelcnn,
        "style": {
            **dataclasses.asdict(style),
            "stylised_over_content": style.stylised_over_content,
        },
        "text_diffusion_sampling": text_sampling,
        "train_steps_per_s": training,
        "train_speed_vs_slowest": {name: value / slowest for name, value in training.items()},
    }
    err = sys.stderr
    print(f"device {result['device']}, preset {args.preset}, {args.size} px", file=err)
    print(
        f"UNet {sampling['unet_parameters'] / 1e6:.2f}M params, {args.images} images: "
        f"DDIM-50 {sampling['ddim50_images_per_s']:.3f} img/s, "
        f"DDPM-1000 {sampling['ddpm1000_images_per_s']:.4f} img/s, "
        f"ratio {sampling['ddim50_over_ddpm1000']:.1f}x (ideal 20x)",
        file=err,
    )
    print(
        f"PixelCNN {pixelcnn['parameters'] / 1e6:.2f}M params, {pixelcnn['images']} images: "
        f"fast loop {pixelcnn['fast_images_per_s']:.4f} img/s, naive loop "
        f"{pixelcnn['naive_images_per_s']:.4f} img/s, ratio {pixelcnn['fast_over_naive']:.1f}x "
        f"(receptive field {pixelcnn['receptive_field_rows']} rows; identical samples: "
        f"{pixelcnn['identical_samples']})",
        file=err,
    )
    print(
        f"style transfer: {style.images_per_s:.1f} stylised img/s "
        f"({style.network_images_per_s:.1f} img/s network only); style loss of "
        f"{args.images} held-out crops {style.content_style_loss:.4f} unstylised -> "
        f"{style.stylised_style_loss:.4f} stylised after {style.train_steps} steps "
        f"({style.stylised_over_content:.2f}x); Gatys from noise: content "
        f"{style.gatys_start_content_loss:.4f} -> {style.gatys_end_content_loss:.4f}, "
        f"style {style.gatys_start_style_loss:.4f} -> {style.gatys_end_style_loss:.4f}",
        file=err,
    )
    rate = next(value for key, value in text_sampling.items() if key.endswith("images_per_s"))
    print(
        f"text_diffusion {text_sampling['denoiser_parameters'] / 1e6:.2f}M params, guided "
        f"(g={text_sampling['guidance']:g}) DDIM-50 {rate:.3f} img/s",
        file=err,
    )
    for name, value in training.items():
        ratio = result["train_speed_vs_slowest"][name]
        print(
            f"train {name:<14} {value:8.2f} steps/s (batch {args.batch}), {ratio:.1f}x slowest",
            file=err,
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
