"""``MODEL_CARD.md`` of a generator checkpoint, written from what the run recorded.

Every figure on the card is read from a file the project's own commands wrote: the
checkpoint's ``config.json`` (architecture, steps, batch, seed, device), the JSON line
``generators train --json`` printed (wall time) and ``evaluation.json`` (``generators
evaluate``). Only what the numbers cannot say (the hardware, what the samples look like)
is passed in as text, so a retrained model cannot keep a stale card by accident.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators.checkpoint import CONFIG_FILE, read_checkpoint_info
from generators.configs import (
    DCGANConfig,
    DiffusionConfig,
    ModelConfig,
    PixelCNNConfig,
    StyleTransferConfig,
    TextDiffusionConfig,
    VAEConfig,
)
from generators.train import SAMPLES_DIR

CARD_FILE = "MODEL_CARD.md"
EVALUATION_FILE = "evaluation.json"
BUILTIN_PHOTOS = (
    "the built-in real photos (`generators/realphotos.py`: scikit-image's astronaut, coffee, "
    "chelsea, rocket; scikit-learn's china and flower), random {size} px crops"
)


@dataclass(frozen=True)
class CardInputs:
    checkpoint: Path
    command: str
    hardware: str
    appearance: str
    train_log: Path | None = None
    evaluate_command: str | None = None


def describe_architecture(config: ModelConfig, parameters: int | None) -> str:
    count = f"; {parameters / 1e6:.1f}M parameters" if parameters else ""
    size = config.image_size
    if isinstance(config, DCGANConfig):
        what = f"DCGAN (pytorch/examples layout, latent {config.latent_dim})"
    elif isinstance(config, DiffusionConfig):
        unet = config.unet
        multipliers = "-".join(str(m) for m in unet.width_multipliers)
        attention = ", ".join(f"{size >> level}×{size >> level}" for level in unet.attention_levels)
        schedule = config.schedule
        average = (
            f", sampled from an EMA of the weights (decay {config.ema_decay})"
            if config.ema_decay
            else ""
        )
        what = (
            f"DDPM UNet (base width {unet.base_width}, multipliers {multipliers}, attention at "
            f"{attention or 'the middle block only'}), {schedule.beta_schedule} schedule "
            f"T={schedule.num_train_timesteps}{average}, DDIM sampling"
        )
    elif isinstance(config, TextDiffusionConfig):
        unet, text = config.unet, config.text
        multipliers = "-".join(str(m) for m in unet.width_multipliers)
        what = (
            f"text-conditioned DDPM UNet (base width {unet.base_width}, multipliers "
            f"{multipliers}, cross-attention to a {text.layers}-layer byte-level text "
            f"transformer of width {text.width}, {text.max_tokens} tokens), classifier-free "
            f"guidance {config.guidance} (captions dropped {config.caption_dropout:.0%}), "
            f"T={config.schedule.num_train_timesteps}, DDIM sampling"
        )
    elif isinstance(config, VAEConfig):
        what = (
            f"convolutional VAE (GroupNorm, latent {config.latent_dim}, "
            f"KL weight {config.kl_weight})"
        )
    elif isinstance(config, PixelCNNConfig):
        what = (
            f"gated PixelCNN ({config.layers} gated layers, width {config.hidden_width}, "
            f"no blind spot) with a {config.mixture_components}-component discretised "
            "logistic mixture (PixelCNN++), sampled pixel by pixel"
        )
    elif isinstance(config, StyleTransferConfig):
        widths = "-".join(str(w) for w in config.widths)
        skip = ", added to the content image" if config.content_skip else ""
        what = (
            f"feed-forward style transfer (Johnson et al. network, widths {widths}, "
            f"{config.residual_blocks} residual blocks, instance norm{skip}) trained with "
            f"Gatys et al.'s losses (content {config.content_weight}, style "
            f"{config.style_weight}, TV {config.tv_weight}) on a random CNN seeded "
            f"{config.feature_seed}, against its style image `{config.style_file}` "
            f"(sha256 {config.style_sha256[:12]}...)"
        )
    else:  # pragma: no cover - the families are closed
        raise TypeError(type(config).__name__)
    return f"{what}{count}, {size}×{size} RGB"


def sampling_parameters(checkpoint: Path) -> int | None:
    """Parameters of the network that samples (the generator, UNet or decoder); needs torch."""
    try:
        from generators.checkpoint import load_checkpoint
        from generators.families import get_family
    except ImportError:
        return None
    loaded = load_checkpoint(checkpoint)
    model = loaded.model
    if loaded.family == "diffusion":
        module = model.sampling_unet
    elif loaded.family == "text_diffusion":
        module = model.sampling_denoiser
    else:
        module = getattr(model, get_family(loaded.family).sampling_module_name)
    return sum(parameter.numel() for parameter in module.parameters())


def describe_folder(folder: Path) -> str:
    """A training folder in words: its images, and its class folders (the captions a
    prompted model reads, or a conditional GAN's classes) with their sizes."""
    from provenance.files import find_image_files

    if not folder.is_dir():
        return f"`{folder}`"
    images = find_image_files(folder)
    classes: dict[str, int] = {}
    for path in images:
        parts = path.relative_to(folder).parts
        if len(parts) > 1:
            classes[parts[0]] = classes.get(parts[0], 0) + 1
    described = f"`{folder}`, {len(images)} images"
    if classes:
        listed = ", ".join(f"{name} ({count})" for name, count in sorted(classes.items()))
        described += f" in class folders named after their caption or class: {listed}"
    if (folder / "renders.jsonl").is_file():
        described += (
            "; code-drawn renders (`provaudit generators export-renders`, no photograph and no "
            "generative model)"
        )
    return described


def render_card(inputs: CardInputs) -> str:
    directory = inputs.checkpoint
    info = read_checkpoint_info(directory)
    document = json.loads((directory / CONFIG_FILE).read_text())
    training: dict[str, Any] = document.get("training", {})
    evaluation = json.loads((directory / EVALUATION_FILE).read_text())
    seconds = None
    resumed_from = 0
    if inputs.train_log is not None:
        record = json.loads(inputs.train_log.read_text().strip().splitlines()[-1])
        seconds = float(record["seconds"])
        resumed_from = int(record.get("resumed_from") or 0)
    grids = sorted((directory / SAMPLES_DIR).glob("step_*.png"))
    size = info.config.image_size
    data = training.get("data_dir", "builtin")
    trained_on = (
        BUILTIN_PHOTOS.format(size=size) if data == "builtin" else describe_folder(Path(data))
    )
    trained_what = "six photos" if data == "builtin" else "a small folder"
    steps, batch = training.get("steps"), training.get("batch")
    wall = f"{seconds:.0f} s ({seconds / 60:.0f} min)" if seconds is not None else "not recorded"
    if seconds is not None and resumed_from:
        wall += f" for steps {resumed_from + 1}-{steps} (the run resumed at step {resumed_from})"
    lines = [
        f"# Model card: shipped `{info.family}` generator",
        "",
        f"- **What**: {describe_architecture(info.config, sampling_parameters(directory))}.",
        f"- **Trained on**: {trained_on}.",
        f"- **Command** (part of `make models`): `{inputs.command}`",
        f"- **Steps / batch**: {steps} steps at batch {batch}, seed {training.get('seed')}, "
        f"on {str(training.get('device', '?')).upper()}.",
        f"- **Hardware and wall time**: {inputs.hardware}; {wall}.",
        "- **Weights**: `model.safetensors` (sha256 in `config.json`), `model.onnx` for "
        "torch-free sampling (`provaudit generate` and the service use it when torch is absent).",
    ]
    if grids:
        lines.append(f"- **Sample grid**: `{SAMPLES_DIR}/{grids[-1].name}`. {inputs.appearance}")
    evaluate_command = inputs.evaluate_command or (
        f"provaudit generators evaluate {directory} --builtin -n {evaluation['fake_images']}"
    )
    lines += [
        "",
        f"## Measured (`{evaluate_command}`)",
        "",
        f"Features: a fixed random-initialised CNN, {evaluation['features']}; "
        f"{evaluation['fake_images']} samples against "
        f"{evaluation['real_images']} real crops; for comparing our own checkpoints, not "
        "comparable to published FID/KID.",
        "",
        "| KID | precision | recall | density | coverage |",
        "|---|---|---|---|---|",
        f"| {evaluation['kid']:.4f} ± {evaluation['kid_std']:.4f} | {evaluation['precision']:.3f}"
        f" | {evaluation['recall']:.3f} | {evaluation['density']:.3f}"
        f" | {evaluation['coverage']:.3f} |",
        "",
    ]
    if evaluation.get("bits_per_dim") is not None:
        lines += [
            f"Exact negative log-likelihood of the {evaluation['real_images']} real crops: "
            f"{evaluation['bits_per_dim']:.3f} bits per sub-pixel (8 is a uniform guess).",
            "",
        ]
    lines += [
        f"(`{EVALUATION_FILE}` holds the same figures.)",
        "",
        "## Limits",
        "",
        f"A demo-sized generator trained on {trained_what}: it exists so that the detectors have "
        "labelled synthetic data and the service can generate signed images with no download. "
        "It is not a model of any real generator (Stable Diffusion, Midjourney, ...). Train "
        "longer, or on your own folders (`--data DIR`), for real work: `--resume` continues "
        "this run.",
        "",
    ]
    return "\n".join(lines)


def write_card(inputs: CardInputs) -> Path:
    path = inputs.checkpoint / CARD_FILE
    path.write_text(render_card(inputs))
    return path
