"""Does the prompt steer text_diffusion? Accuracy of a classifier on prompted samples.

The bench makes its own captioned data set: code-drawn renders (``generators.renders``,
what ``provaudit generators export-renders`` writes) of a few kinds, each squashed to one
``--size`` px square and filed under its kind (``data/pixelart/0003.png``: caption
"pixelart", from the class folder). On it, it trains

1. a text_diffusion model (``generators.train``, the project's training loop), and
2. a small CNN classifier of the kinds, on the same real renders, checked on held-out
   renders;

then samples ``--per-class`` images for each kind, prompted with the kind's name, and
reports how often the classifier names the prompted kind: against chance (1/kinds) if
the prompt were ignored. Also the accuracy with guidance 1 (no classifier-free
guidance), to show what guidance adds. Prints a table on stderr and one JSON line::

    OMP_NUM_THREADS=1 .venv/bin/python bench/prompt_steering.py            # CPU minutes
    OMP_NUM_THREADS=1 .venv/bin/python bench/prompt_steering.py --steps 50 --preset tiny

The classifier is fit on real renders only, so it can only be right about a sample that
looks like the kind it was asked for. Chance is exactly 1/kinds whatever the classifier's
bias: were the prompt ignored, every kind's samples would be labelled alike, and the mean
over kinds of P(label = kind) is 1/kinds.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from torch import nn

DEFAULT_KINDS = ("gradient", "text", "pixelart", "texture")


@dataclass
class SteeringResult:
    bench: str
    kinds: list[str]
    chance: float
    accuracy: float
    accuracy_over_chance: float
    accuracy_unguided: float
    guidance: float
    per_kind_accuracy: dict[str, float]
    classifier_real_accuracy: float
    samples_per_kind: int
    train_steps: int
    preset: str
    size: int
    seed: int
    device: str
    torch: str
    python: str
    seconds: dict[str, float] = field(default_factory=dict)


def make_renders(
    out: Path, kinds: tuple[str, ...], per_kind: int, size: int, seed: int
) -> dict[str, list[np.ndarray]]:
    """``per_kind`` renders of each kind as ``size`` px squares, written as
    ``out/<kind>/NNNN.png`` (the class-folder captions the model trains on) by
    ``provaudit generators export-renders --square SIZE``."""
    from PIL import Image

    from generators.renders import export_renders

    export_renders(out, per_kind * len(kinds), seed=seed, kinds=kinds, square=size)
    return {
        kind: [
            np.asarray(Image.open(path).convert("RGB"))
            for path in sorted((out / kind).glob("*.png"))
        ]
        for kind in kinds
    }


def _to_unit(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float32) / 127.5 - 1.0).transpose(0, 3, 1, 2).copy()


def train_classifier(
    train_images: np.ndarray, train_labels: np.ndarray, classes: int, seed: int, epochs: int
) -> nn.Module:
    """A small CNN on [-1, 1] NCHW images, trained with flips; returns it in eval mode."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes),
    )  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    images = torch.from_numpy(_to_unit(train_images))
    labels = torch.from_numpy(train_labels)
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(images))
        for start in range(0, len(order), 32):
            batch = torch.from_numpy(order[start : start + 32])
            inputs = images[batch]
            flip = torch.from_numpy(rng.random(len(batch)) < 0.5)
            inputs = torch.where(flip[:, None, None, None], inputs.flip(-1), inputs)
            loss = nn.functional.cross_entropy(model(inputs), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def predict(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """Class index per image (float NCHW in [-1, 1])."""
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(np.asarray(images, np.float32))).argmax(1).numpy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default=",".join(DEFAULT_KINDS), help="render kinds")
    parser.add_argument("--renders-per-kind", type=int, default=120)
    parser.add_argument("--held-out", type=float, default=0.25, help="renders kept from training")
    parser.add_argument("--size", type=int, choices=(32, 64), default=32)
    parser.add_argument("--preset", choices=("tiny", "compact", "small"), default="compact")
    parser.add_argument(
        "--steps",
        type=int,
        default=1500,
        help="text_diffusion training steps (in all: a "
        "second run with more steps resumes the first's checkpoint)",
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--per-class", type=int, default=32, help="samples per prompted kind")
    parser.add_argument("--guidance", type=float, default=None, help="default: the model's")
    parser.add_argument("--sampling-steps", type=int, default=25)
    parser.add_argument("--classifier-epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--out", type=Path, default=Path("build/prompt_steering"))
    args = parser.parse_args(argv)
    kinds = tuple(kind.strip() for kind in args.kinds.split(",") if kind.strip())

    import torch

    from generators.checkpoint import load_checkpoint
    from generators.conditioning import Condition
    from generators.families import get_family
    from generators.noise import PerImageNoise, image_seeds
    from generators.train import train
    from generators.training_utils import pick_device

    device = pick_device(args.device)
    seconds: dict[str, float] = {}
    err = sys.stderr
    started = time.perf_counter()
    run_dir = args.out / f"seed{args.seed}"
    renders = make_renders(run_dir / "data", kinds, args.renders_per_kind, args.size, args.seed)
    seconds["renders"] = time.perf_counter() - started

    # The classifier: trained on the first renders of each kind, checked on the rest.
    keep = round(args.renders_per_kind * (1 - args.held_out))
    train_x = np.concatenate([np.stack(renders[kind][:keep]) for kind in kinds])
    train_y = np.concatenate([np.full(keep, i, np.int64) for i, _ in enumerate(kinds)])
    held_x = np.concatenate([np.stack(renders[kind][keep:]) for kind in kinds])
    held_y = np.concatenate(
        [np.full(len(renders[kind]) - keep, i, np.int64) for i, kind in enumerate(kinds)]
    )
    started = time.perf_counter()
    classifier = train_classifier(train_x, train_y, len(kinds), args.seed, args.classifier_epochs)
    real_accuracy = float((predict(classifier, _to_unit(held_x)) == held_y).mean())
    seconds["classifier"] = time.perf_counter() - started
    print(f"classifier: {real_accuracy:.3f} on {len(held_y)} held-out real renders", file=err)

    # The generator sees every render (its captions are the class folders' names).
    started = time.perf_counter()
    checkpoint = run_dir / "text_diffusion"
    resume = (checkpoint / "config.json").is_file()
    done = json.loads((checkpoint / "train_state.json").read_text())["step"] if resume else 0
    if done < args.steps:
        train(
            "text_diffusion", run_dir / "data", size=args.size, steps=args.steps,
            out=checkpoint, batch=args.batch, device=str(device), seed=args.seed,
            sample_every=0, resume=resume, checkpoint_every=100, preset=args.preset,
            progress=err.isatty(),
        )  # fmt: skip
    seconds["train_generator"] = time.perf_counter() - started

    started = time.perf_counter()
    loaded = load_checkpoint(checkpoint, device=device)
    family = get_family("text_diffusion")
    guidance = args.guidance if args.guidance is not None else loaded.config.guidance

    def accuracy_at(scale: float) -> dict[str, float]:
        per_kind = {}
        for index, kind in enumerate(kinds):
            noise = PerImageNoise(image_seeds(args.seed + 10_000 * index, args.per_class))
            images = family.sample(
                loaded.model, loaded.config, noise, device, "ddim", args.sampling_steps,
                condition=Condition(prompt=kind, guidance=scale),
            ).images  # fmt: skip
            per_kind[kind] = float((predict(classifier.cpu(), images) == index).mean())
        return per_kind

    guided = accuracy_at(guidance)
    unguided = accuracy_at(1.0)
    seconds["sample_and_classify"] = time.perf_counter() - started

    chance = 1.0 / len(kinds)
    accuracy = float(np.mean(list(guided.values())))
    result = SteeringResult(
        bench="prompt_steering",
        kinds=list(kinds),
        chance=chance,
        accuracy=accuracy,
        accuracy_over_chance=accuracy / chance,
        accuracy_unguided=float(np.mean(list(unguided.values()))),
        guidance=guidance,
        per_kind_accuracy=guided,
        classifier_real_accuracy=real_accuracy,
        samples_per_kind=args.per_class,
        train_steps=args.steps,
        preset=args.preset,
        size=args.size,
        seed=args.seed,
        device=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        torch=torch.__version__,
        python=platform.python_version(),
        seconds={name: round(value, 1) for name, value in seconds.items()},
    )
    for kind in kinds:
        print(
            f"prompt {kind!r:<12} classified as {kind!r}: {guided[kind]:.3f} "
            f"(guidance {guidance:g}), {unguided[kind]:.3f} (guidance 1)",
            file=err,
        )
    print(
        f"accuracy {accuracy:.3f} vs chance {chance:.3f}: {accuracy / chance:.2f}x "
        f"(guidance 1: {result.accuracy_unguided:.3f})",
        file=err,
    )
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
