"""Training a detector: AdamW + cosine, EMA weights, early stopping on validation AP.

Device is chosen automatically (CUDA: bf16 autocast, channels_last, optional
``torch.compile``). Under ``torchrun`` the run is data-parallel (DDP; NCCL on GPUs, gloo
on CPU): every rank draws the same class-balanced epoch order and takes its own shard.
All ranks validate, but rank 0's decision to stop is broadcast, because BatchNorm running
statistics are per rank and the ranks' APs can differ in the last digit. Rank 0 writes the
checkpoint, calibrated at the end (temperature and logit shift on the validation split,
the shift folded into the binary head; threshold on the held-out real images of the
calibration split) so it is usable as soon as it exists.

The EMA weights are the ones validated and saved: on small, noisy detector data sets
they are consistently better than the raw weights and make early stopping less jumpy.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from detectors.augment import AugmentConfig
from detectors.data import DetectorData, TrainingViews, balanced_indices
from detectors.spec import DEFAULT_TARGET_FPR
from generators.training_utils import pick_device, update_ema
from provenance.errors import DataError


@dataclass
class TrainConfig:
    output: Path
    arch: str = "npr_tiny"
    transform: str | None = None
    image_size: int = 64
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 20
    steps_per_epoch: int | None = None
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    ema_decay: float = 0.999
    patience: int = 5
    seed: int = 0
    device: str = "auto"
    compile: bool = False
    workers: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    attribution_weight: float = 0.5
    target_fpr: float = DEFAULT_TARGET_FPR
    calibrate: bool = True
    val_max_tiles: int = 4


def _init_distributed(device: torch.device) -> tuple[int, int, bool]:
    """(rank, world size, whether we initialised the process group ourselves)."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, False
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), False
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size(), True


def _cosine(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def training_step(
    network: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    classes: torch.Tensor,
    *,
    attribution_weight: float,
    bf16: bool,
) -> torch.Tensor:
    """One optimiser step on a batch already on the device; returns the loss.

    Shared with ``bench/detector_bench.py`` so the bench times what training runs.
    """
    with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
        logit, attribution = network(images)
    loss = F.binary_cross_entropy_with_logits(logit.float(), labels.float())
    loss = loss + attribution_weight * F.cross_entropy(attribution.float(), classes)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def recorded_config(config: TrainConfig) -> dict[str, Any]:
    """The training configuration as config.json records it (everything but the path)."""
    import json

    config_dict = {
        **{k: v for k, v in asdict(config).items() if k not in ("output", "augment")},
        "augment": asdict(config.augment),
    }
    return json.loads(json.dumps(config_dict, default=str))


def _progress(quiet: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from provenance.cli.output import stderr

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=stderr(),
        disable=quiet,
        transient=False,
    )


@dataclass(frozen=True)
class TrainResult:
    """What one training run produced (``to_dict`` is what ``detectors train --json`` prints)."""

    checkpoint: str
    rank: int
    world_size: int
    best_val_ap: float | None
    epochs_run: int
    stopped_early: bool
    calibration: dict[str, Any] | None
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ExpertResult:
    """One expert of a fused run: trained now (``run``) or kept from an earlier run."""

    checkpoint: str
    transform: str
    reused: bool
    run: TrainResult | None = None

    def to_dict(self) -> dict[str, Any]:
        trained = self.run.to_dict() if self.run else {}
        return {**trained, "checkpoint": self.checkpoint, "transform": self.transform,
                "reused": self.reused}  # fmt: skip


@dataclass(frozen=True)
class FusedTrainResult:
    checkpoint: str
    rank: int
    experts: list[ExpertResult]
    calibration: dict[str, Any] | None = None
    fusion_reused: bool = False

    def to_dict(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "checkpoint": self.checkpoint,
            "rank": self.rank,
            "experts": [expert.to_dict() for expert in self.experts],
            "fusion_reused": self.fusion_reused,
        }
        if self.calibration is not None:
            summary["calibration"] = self.calibration
        return summary


def train(data: DetectorData, config: TrainConfig, *, quiet: bool = False) -> TrainResult:
    """Train, early-stop, calibrate and save; returns what the run produced."""
    import torch.distributed as dist

    from detectors.architectures import create_detector
    from detectors.loading import save_checkpoint
    from detectors.metrics import average_precision
    from detectors.model import TorchScorer
    from detectors.onnx_export import onnx_scorer
    from detectors.tiles import sigmoid
    from detectors.workflows import calibrate_model

    device = pick_device(config.device)
    rank, world, owns_group = _init_distributed(device)
    train_samples = data.split("train")
    val_samples = data.split("val")
    calib_samples = data.split("calib")
    calib_real = [s for s in calib_samples if s.label == 0]
    if not train_samples:
        raise DataError("The training split is empty; pass more images.")
    torch.manual_seed(config.seed)
    model = create_detector(
        config.arch,
        families=data.families,
        transform=config.transform,
        image_size=config.image_size,
        **config.arch_kwargs,
    ).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(model).eval()
    for parameter in ema.parameters():
        parameter.requires_grad_(False)
    network: torch.nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        network = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if config.compile:
        network = torch.compile(network)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    steps = config.steps_per_epoch or max(1, len(train_samples) // (config.batch_size * world))
    total = steps * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: _cosine(step, total, max(1, int(config.warmup_fraction * total))),
    )
    val_images = [data.pixels(s) for s in val_samples]
    val_labels = np.array([s.label for s in val_samples])
    can_validate = bool(len(val_labels)) and 0 < val_labels.sum() < len(val_labels)
    use_autocast = device.type == "cuda"
    best_ap, best_state, bad_epochs, step = -1.0, None, 0, 0
    history: list[dict[str, float]] = []
    stopped_early = False
    with _progress(quiet or rank != 0) as progress:
        task = progress.add_task("training", total=total, status="")
        for epoch in range(config.epochs):
            order = balanced_indices(
                data, train_samples, steps * config.batch_size * world, config.seed, epoch
            )
            views = TrainingViews(
                data,
                train_samples,
                config.image_size,
                config.augment,
                order[rank::world],
                seed=config.seed * 1000 + rank,
                epoch=epoch,
            )
            loader = torch.utils.data.DataLoader(
                views,
                batch_size=config.batch_size,
                shuffle=False,
                drop_last=True,
                num_workers=config.workers,
                pin_memory=device.type == "cuda",
            )
            network.train()
            losses = []
            for images, labels, classes in loader:
                images = images.to(device, non_blocking=True)
                if device.type == "cuda":
                    images = images.contiguous(memory_format=torch.channels_last)
                loss = training_step(
                    network,
                    optimizer,
                    images,
                    labels.to(device),
                    classes.to(device),
                    attribution_weight=config.attribution_weight,
                    bf16=use_autocast,
                )
                scheduler.step()
                update_ema(ema, model, config.ema_decay, step)
                step += 1
                losses.append(loss.item())
                progress.update(task, advance=1, status=f"loss {losses[-1]:.3f}")
            record = {"epoch": epoch, "loss": float(np.mean(losses)) if losses else float("nan")}
            if can_validate:
                scorer = (
                    onnx_scorer(ema, max_tiles=config.val_max_tiles)
                    if device.type == "cpu"
                    else TorchScorer(ema, device, max_tiles=config.val_max_tiles)
                )
                logits = scorer.score_pixels(val_images).logits
                ap = average_precision(val_labels, sigmoid(logits))
                record["val_ap"] = ap
                if ap > best_ap + 1e-6:
                    best_ap, bad_epochs = ap, 0
                    best_state = {k: v.detach().cpu().clone() for k, v in ema.state_dict().items()}
                else:
                    bad_epochs += 1
                progress.update(task, status=f"loss {record['loss']:.3f} val AP {ap:.3f}")
            history.append(record)
            stop = torch.tensor([int(can_validate and bad_epochs >= config.patience)])
            if world > 1:
                dist.broadcast(stop, 0)
            if int(stop.item()):
                stopped_early = epoch + 1 < config.epochs
                break
    if best_state is not None:
        ema.load_state_dict(best_state)
    ema = ema.float().to(memory_format=torch.contiguous_format).cpu().eval()
    spec = ema.spec
    spec.target_fpr = None
    calibration: dict[str, Any] | None = None
    if config.calibrate and can_validate and calib_real:
        # Fitted on the EMA weights as saved, so calibration describes the shipped model.
        calibration = calibrate_model(ema, data, config.target_fpr, config.val_max_tiles)
    summary = data.summary()
    spec.training = {
        "data_digest": data.digest,
        "data": {key: summary[key] for key in ("images", "counts", "formats")},
        "config": recorded_config(config),
        "best_val_ap": best_ap if best_ap >= 0 else None,
        "epochs_run": len(history),
        "stopped_early": stopped_early,
        "world_size": world,
        "device": str(device),
        "torch": torch.__version__,
        "history": history,
    }
    if rank == 0:
        save_checkpoint(config.output, ema)
    if world > 1:
        dist.barrier()
        if owns_group:
            dist.destroy_process_group()
    return TrainResult(
        checkpoint=str(config.output),
        rank=rank,
        world_size=world,
        best_val_ap=spec.training["best_val_ap"],
        epochs_run=len(history),
        stopped_early=stopped_early,
        calibration=calibration,
        data=summary,
    )


def trained_already(checkpoint: Path, data: DetectorData, config: TrainConfig) -> bool:
    """Whether ``checkpoint`` is this very training run's result (same data, same config)."""
    from detectors.checkpoint import read_checkpoint
    from provenance.errors import CheckpointError

    try:
        training = read_checkpoint(checkpoint).spec.training
    except CheckpointError:
        return False
    return training.get("data_digest") == data.digest and training.get("config") == recorded_config(
        config
    )


def fused_already(checkpoint: Path, data: DetectorData, experts: list[ExpertResult]) -> bool:
    """Whether ``checkpoint`` already fuses exactly these experts, calibrated on ``data``.

    Only when every expert was kept: a retrained expert has new weights, so its fusion and
    calibration must be made again.
    """
    from detectors.checkpoint import read_checkpoint
    from provenance.errors import CheckpointError

    if not experts or not all(expert.reused for expert in experts):
        return False
    try:
        training = read_checkpoint(checkpoint).spec.training
        current = [read_checkpoint(expert.checkpoint).weights_sha256 for expert in experts]
    except CheckpointError:
        return False
    fused = training.get("experts") or []
    return training.get("data_digest") == data.digest and [
        (entry.get("transform"), entry.get("weights_sha256")) for entry in fused
    ] == [(expert.transform, digest) for expert, digest in zip(experts, current, strict=True)]


def train_fused(
    data: DetectorData, config: TrainConfig, transforms: list[str], *, quiet: bool = False
) -> FusedTrainResult:
    """Train one expert per input transform, then fuse them (``detectors.fusion``).

    Experts go to ``OUTPUT/experts/<transform>`` and the calibrated fusion to ``OUTPUT``.
    An expert whose checkpoint there already records the same data digest and training
    configuration is kept rather than trained again, so an interrupted run resumes where
    it stopped (training on CPU is deterministic for a given seed, so the result is the
    same either way); when every expert is kept and ``OUTPUT`` already fuses them, the
    fusion and its calibration are kept too.
    """
    import torch.distributed as dist

    from detectors.checkpoint import read_checkpoint
    from detectors.workflows import EXPERTS_FOLDER, fuse_checkpoints

    if len(set(transforms)) != len(transforms):
        raise DataError(f"Each expert needs its own input transform; got {transforms}.")
    # One process group for all experts (under torchrun), so ``train`` neither creates
    # nor destroys one per expert.
    rank, world, owns_group = _init_distributed(pick_device(config.device))
    experts: list[ExpertResult] = []
    calibration: dict[str, Any] | None = None
    try:
        for transform in transforms:
            target = Path(config.output) / EXPERTS_FOLDER / transform
            expert_config = replace(config, output=target, transform=transform)
            if trained_already(target, data, expert_config):
                experts.append(ExpertResult(str(target), transform, reused=True))
                continue
            run = train(data, expert_config, quiet=quiet)
            experts.append(ExpertResult(str(target), transform, reused=False, run=run))
        fusion_reused = fused_already(Path(config.output), data, experts)
        if rank == 0 and fusion_reused:
            calibration = read_checkpoint(config.output).spec.training.get("calibration")
        elif rank == 0:
            fused = fuse_checkpoints(
                [Path(expert.checkpoint) for expert in experts],
                data,
                Path(config.output),
                target_fpr=config.target_fpr,
                max_tiles=config.val_max_tiles,
            )
            calibration = fused["calibration"]
        if world > 1:
            dist.barrier()
    finally:
        if owns_group:
            dist.destroy_process_group()
    return FusedTrainResult(str(config.output), rank, experts, calibration, fusion_reused)
