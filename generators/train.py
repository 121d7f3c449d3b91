"""The training loop shared by every generator family.

Reproducibility is by construction rather than by saving random-number-generator state:
the batch of step ``k`` is drawn from ``rng([seed, k])`` (see :mod:`generators.data`) and
every random number the step itself needs comes from a ``torch.Generator`` seeded from
``(seed, k)``. A run resumed at step ``k`` therefore continues exactly as if it had never
stopped (on the same device and library versions), and the resume test checks it
bit for bit. Sampling the progress grids uses numpy generators only, and the models in
eval mode, so looking at samples never changes the training trajectory.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from generators.checkpoint import (
    CONFIG_FILE,
    OPTIMIZER_FILE,
    TRAIN_STATE_FILE,
    load_checkpoint,
    load_optimizers,
    read_checkpoint_info,
    save_checkpoint,
    save_optimizers,
)
from generators.conditioning import Condition
from generators.configs import (
    CONFIG_TYPES,
    STEPPED_FAMILIES,
    STYLE_IMAGE_FAMILIES,
    ModelConfig,
    check_family,
    default_config,
)
from generators.data import ImageFolder, check_crop_size, unit_to_uint8
from generators.noise import PerImageNoise, image_seeds
from provenance.errors import ProvauditError

if TYPE_CHECKING:
    import torch

    from generators.conditioning import ConditionImage

Device = Literal["auto", "cpu", "cuda"]
LOSS_LOG_FILE = "losses.jsonl"
SAMPLES_DIR = "samples"
GRID_SIDE = 4
# Progress grids use this many DDIM steps: enough to judge a diffusion model by eye.
GRID_SAMPLING_STEPS = 25


class TrainingError(ProvauditError):
    code = "training_failed"


@dataclass
class TrainResult:
    out_dir: Path
    family: str
    steps: int
    weights_sha256: str
    losses: list[dict[str, float]] = field(default_factory=list)
    sample_grids: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int = 0


def step_seed(seed: int, step: int) -> int:
    """The torch seed of one training step: independent of every other step's."""
    return int(np.random.SeedSequence([seed, step, 1]).generate_state(1, dtype=np.uint64)[0])


def _autocast_for(device: torch.device) -> Callable[[], AbstractContextManager[Any]]:
    import torch

    if device.type == "cuda":
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext


def save_grid(images: np.ndarray, path: Path, columns: int = GRID_SIDE) -> Path:
    """Float NCHW images in [-1, 1] as one PNG grid with 2 px gutters."""
    from PIL import Image

    tiles = unit_to_uint8(images)
    count, height, width, channels = tiles.shape
    rows = -(-count // columns)
    gutter = 2
    canvas = np.full(
        (rows * (height + gutter) + gutter, columns * (width + gutter) + gutter, channels),
        255,
        dtype=np.uint8,
    )
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        top = gutter + row * (height + gutter)
        left = gutter + column * (width + gutter)
        canvas[top : top + height, left : left + width] = tile
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(canvas).save(path)
    return path


def _read_train_state(out: Path) -> dict[str, Any]:
    path = out / TRAIN_STATE_FILE
    if not (out / CONFIG_FILE).is_file() or not path.is_file():
        raise TrainingError(f"{out} holds no training run to resume; drop --resume to start one.")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TrainingError(f"{path} cannot be read ({exc}).") from None


def _check_same_run(state: dict[str, Any], **settings: Any) -> None:
    for name, value in settings.items():
        if state.get(name) != value:
            option = name.replace("_", "-")
            raise TrainingError(
                f"The run being resumed was started with --{option} {state.get(name)}; "
                f"resume with the same value (got {value}) or start a new --out."
            )


def train(
    family: str,
    data_dir: Path | str | None,
    size: int = 32,
    steps: int = 1000,
    out: Path | str = "runs/generator",
    batch: int = 64,
    device: Device | str = "auto",
    resume: bool = False,
    seed: int = 0,
    sample_every: int = 500,
    *,
    preset: str = "small",
    config: ModelConfig | None = None,
    checkpoint_every: int = 0,
    progress: bool = True,
    class_conditional: bool = False,
    style: Path | str | None = None,
) -> TrainResult:
    """Train ``family`` on crops of the images in ``data_dir``; ``steps`` is the total.

    ``data_dir=None`` trains on the built-in real photos (:mod:`generators.realphotos`).

    The checkpoint in ``out`` is written at the end, every ``checkpoint_every`` steps
    (0: only at the end) and on Ctrl-C, so an interrupted run can be resumed with
    ``resume=True`` and the same ``seed``, ``size`` and ``batch``.

    ``class_conditional`` learns the class subfolders of ``data_dir`` as conditions
    (``generate --class NAME``); only families whose configuration has ``class_names``.
    ``style`` is the one style image a style-transfer family trains against (required
    for a new run; when resuming, optional and refused unless it is the same image).
    """
    started = time.perf_counter()
    check_family(family)
    check_crop_size(size)
    if steps < 1 or batch < 1:
        raise TrainingError("--steps and --batch must be at least 1.")
    out = Path(out)
    # Everything the user can get wrong is checked before torch is imported (seconds):
    # a wrong folder or checkpoint should fail at once.
    if resume:
        state = _read_train_state(out)
        _check_same_run(state, seed=seed, size=size, batch=batch)
        saved = read_checkpoint_info(out, expected_family=family)
        class_conditional = bool(getattr(saved.config, "class_names", ()))
    elif (out / CONFIG_FILE).exists():
        raise TrainingError(
            f"{out} already holds a checkpoint; pass --resume to continue it or choose "
            "another --out."
        )
    if class_conditional:
        if "class_names" not in {item.name for item in dataclasses.fields(CONFIG_TYPES[family])}:
            raise TrainingError(f"The {family} family cannot be trained class-conditional.")
        if data_dir is None:
            raise TrainingError(
                "Class-conditional training learns the class subfolders of --data DIR; "
                "the built-in photos have none."
            )
    planned = (
        read_checkpoint_info(out, expected_family=family).config
        if resume
        else config or default_config(family, size, preset)
    )
    style_image = _read_style_image(family, style, getattr(planned, "style_size", size), resume)
    if resume and style_image is not None:
        recorded = planned
        if style_image.sha256 != getattr(recorded, "style_sha256", None):
            raise TrainingError(
                f"The run being resumed was trained against another style image "
                f"({getattr(recorded, 'style_file', '')}); resume with that one or without "
                "--style."
            )
    if data_dir is None:
        from generators.realphotos import builtin_photo_folder

        with builtin_photo_folder() as photos_dir:
            folder = ImageFolder.open(photos_dir, size)
            folder.load_all()
    else:
        folder = ImageFolder.open(data_dir, size, labels=class_conditional)
        if class_conditional and len(folder.class_names) < 2:
            raise TrainingError(
                f"Class-conditional training needs at least two class subfolders in "
                f"{data_dir}; found {len(folder.class_names)}."
            )

    import torch

    from generators.families import build_model, get_family
    from generators.training_utils import pick_device

    torch_device = pick_device(device)
    spec = get_family(family)
    if spec.uses_labels:
        # Unreadable captions fail now, in one line, rather than at the first step.
        folder.training_labels(folder.batch(0, 1, seed))
    start_step = 0
    history: list[dict[str, float]] = []
    if resume:
        loaded = load_checkpoint(out, expected_family=family, device=torch_device)
        model, model_config = loaded.model, loaded.config
        optimizers = spec.make_optimizers(model, model_config)
        if (out / OPTIMIZER_FILE).is_file():
            load_optimizers(out / OPTIMIZER_FILE, optimizers)
        start_step = int(state["step"])
        history = _read_losses(out, start_step)
    else:
        model_config = config or default_config(family, size, preset)
        if class_conditional:
            model_config = dataclasses.replace(model_config, class_names=tuple(folder.class_names))
        if model_config.image_size != size:
            raise TrainingError(
                f"The model configuration is for {model_config.image_size} px but --size is {size}."
            )
        if style_image is not None:
            model_config = _with_style(model_config, style_image)
        torch.manual_seed(seed)
        model = build_model(family, model_config).to(torch_device)
        if style_image is not None:
            _attach_style(model, model_config, style_image, out)
        optimizers = spec.make_optimizers(model, model_config)

    out.mkdir(parents=True, exist_ok=True)
    model.train()
    autocast = _autocast_for(torch_device)
    grids: list[Path] = []
    step = start_step

    def save(current_step: int) -> str:
        sha = save_checkpoint(
            out,
            family,
            model_config,
            model,
            training={
                "steps": current_step,
                "image_size": size,
                "batch": batch,
                "seed": seed,
                "data_dir": "builtin" if data_dir is None else str(data_dir),
                "device": torch_device.type,
                **_style_record(model_config),
            },
        )
        save_optimizers(out / OPTIMIZER_FILE, optimizers)
        state = {"step": current_step, "seed": seed, "size": size, "batch": batch}
        (out / TRAIN_STATE_FILE).write_text(json.dumps({**state, "family": family}) + "\n")
        _write_losses(out, history)
        return sha

    def sample_grid(current_step: int) -> None:
        model.eval()
        sampling_steps = None
        if family in STEPPED_FAMILIES:
            sampling_steps = min(GRID_SAMPLING_STEPS, model.schedule.num_train_timesteps)
        class_names = getattr(model_config, "class_names", ())
        conditions = [Condition(class_name=name) for name in class_names]
        if "prompt" in getattr(model_config, "conditioning", ()):
            conditions = [Condition(prompt=text) for text in sorted(set(folder.captions()) - {""})]
        if conditions:
            # One row per class or caption (cycling when there are fewer than rows).
            rows = []
            for row in range(GRID_SIDE):
                noise = PerImageNoise(image_seeds(seed, GRID_SIDE, row * GRID_SIDE))
                rows.append(
                    spec.sample(
                        model,
                        model_config,
                        noise,
                        torch_device,
                        "ddim",
                        sampling_steps=sampling_steps,
                        condition=conditions[row % len(conditions)],
                    )
                )
            images = np.concatenate([output.images for output in rows])
        else:
            noise = PerImageNoise(image_seeds(seed, GRID_SIDE * GRID_SIDE))
            images = spec.sample(
                model, model_config, noise, torch_device, "ddim", sampling_steps=sampling_steps
            ).images
        grids.append(save_grid(images, out / SAMPLES_DIR / f"step_{current_step:06d}.png"))
        model.train()

    with _TrainingProgress(progress, steps, start_step, family) as advance:
        try:
            for step in range(start_step, steps):
                crops = folder.batch(step, batch, seed)
                images = torch.from_numpy(crops.as_float())
                generator = torch.Generator().manual_seed(step_seed(seed, step))
                labels = folder.training_labels(crops) if spec.uses_labels else None
                losses = spec.train_step(
                    model, optimizers, images.to(torch_device), generator, autocast, labels
                )
                if not all(np.isfinite(value) for value in losses.values()):
                    raise TrainingError(
                        f"The {family} loss became {losses} at step {step + 1}; lower the "
                        "learning rate or check the data."
                    )
                history.append({"step": step + 1, **losses})
                advance(losses[spec.main_loss])
                done = step + 1
                if sample_every and (done % sample_every == 0 or done == steps):
                    sample_grid(done)
                if checkpoint_every and done % checkpoint_every == 0 and done != steps:
                    save(done)
            step = steps
        except KeyboardInterrupt:
            save(step)
            raise
    sha = save(steps)
    return TrainResult(
        out_dir=out,
        family=family,
        steps=steps,
        weights_sha256=sha,
        losses=history,
        sample_grids=grids,
        seconds=time.perf_counter() - started,
        resumed_from=start_step,
    )


def _read_style_image(
    family: str, style: Path | str | None, size: int, resume: bool
) -> ConditionImage | None:
    """The --style image of a style-transfer run, checked before torch is imported."""
    from generators.conditioning import ConditionImage
    from generators.style_inputs import condition_pixels

    if family not in STYLE_IMAGE_FAMILIES:
        if style is not None:
            raise TrainingError(f"--style is for the style family only, not {family}.")
        return None
    if style is None:
        if resume:
            return None
        raise TrainingError(
            f"The {family} family trains against one style image: pass --style IMAGE "
            "(a painting, JPEG/PNG/WebP, at least as large as --size)."
        )
    path = Path(style)
    try:
        image = ConditionImage(path.read_bytes(), path.name)
    except OSError as exc:
        raise TrainingError(f"Cannot read the style image {path}: {exc.strerror}.") from None
    condition_pixels(image, size, "style")
    return image


def _style_record(config: Any) -> dict[str, str]:
    if not getattr(config, "style_sha256", ""):
        return {}
    return {"style_sha256": config.style_sha256, "style_file": config.style_file}


def _with_style(config: ModelConfig, style_image: ConditionImage) -> ModelConfig:
    import dataclasses

    suffix = Path(style_image.title).suffix.lower() or ".png"
    return dataclasses.replace(config, style_sha256=style_image.sha256, style_file=f"style{suffix}")


def _attach_style(model: Any, config: Any, style_image: ConditionImage, out: Path) -> None:
    """The style's pixels into the weights, and its original file beside them (what
    each stylised image's manifest names as its style ingredient)."""
    import torch

    from generators.style_inputs import condition_pixels, to_unit

    pixels = condition_pixels(style_image, config.style_size, "style")
    model.set_style(torch.from_numpy(to_unit(pixels)))
    out.mkdir(parents=True, exist_ok=True)
    (out / config.style_file).write_bytes(style_image.data)


def _read_losses(out: Path, before_step: int) -> list[dict[str, float]]:
    path = out / LOSS_LOG_FILE
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row for row in rows if row["step"] <= before_step]


def _write_losses(out: Path, history: list[dict[str, float]]) -> None:
    text = "".join(json.dumps(row) + "\n" for row in history)
    temporary = out / f".{LOSS_LOG_FILE}.partial"
    temporary.write_text(text)
    temporary.replace(out / LOSS_LOG_FILE)


class _TrainingProgress:
    """A rich progress bar on stderr with the running loss; a no-op when disabled."""

    def __init__(self, enabled: bool, total: int, completed: int, family: str) -> None:
        self.enabled = enabled
        self.total = total
        self.completed = completed
        self.family = family
        self._progress: Any = None

    def __enter__(self) -> Callable[[float], None]:
        if not self.enabled:
            return lambda loss: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from provenance.cli.output import stderr

        self._progress = Progress(
            TextColumn(f"training {self.family}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=stderr(),
        )
        self._progress.__enter__()
        task = self._progress.add_task(
            "train", total=self.total, completed=self.completed, loss="-"
        )
        smoothed: list[float] = []

        def advance(loss: float) -> None:
            # An exponential moving average: the raw per-batch loss is too noisy to read.
            smoothed.append(loss if not smoothed else 0.9 * smoothed[-1] + 0.1 * loss)
            self._progress.update(task, advance=1, loss=f"{smoothed[-1]:.4f}")

        return advance

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc_info)
