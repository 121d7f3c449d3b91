"""Detector throughput: CPU inference (onnxruntime vs eager) and GPU training (bf16 vs fp32).

Inference: both sides score the same 64 px tiles, batch 256, fp32, in the same process, with
calls interleaved so machine noise hits both alike. Prints images/s for each, the ratio
onnxruntime / eager, and one JSON line.

Training, when a CUDA device is present (or ``--train-device`` names one): optimiser steps
of ``detectors.train.training_step`` on random tiles, eager fp32 against bf16 autocast +
channels_last, and against bf16 + channels_last + ``torch.compile`` (``--no-compile`` to
skip it), in interleaved rounds after each variant's warm-up. Prints images/s, the ratios
against eager fp32, the device name, and a second JSON line. Without a GPU it says it was
skipped (``--train-device cpu`` runs it on the CPU, which says little about GPUs).

    .venv/bin/python bench/detector_bench.py [--arch npr_tiny] [--transform npr_raw chroma]

The defaults are the shipped detector's: npr_tiny experts on ``npr_raw`` and ``chroma``,
max-fused (one transform: a single detector). Experts train apart, so the training half
times one expert, the first transform's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", default="npr_tiny")
    parser.add_argument("--transform", nargs="+", default=["npr_raw", "chroma"])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--train-device", default=None, help="default: cuda when present")
    parser.add_argument("--train-batch", type=int, default=256)
    parser.add_argument("--train-steps", type=int, default=20, help="steps per round")
    parser.add_argument("--train-rounds", type=int, default=5)
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()
    inference_bench(args)
    training_bench(args)


def inference_bench(args: argparse.Namespace) -> None:
    import torch

    from detectors.architectures import create_detector
    from detectors.detect import open_scorer
    from detectors.fusion import fuse
    from detectors.loading import save_checkpoint
    from detectors.onnx_export import export_onnx

    torch.manual_seed(0)
    experts = [
        create_detector(args.arch, families=["gan"], transform=name, image_size=args.size)
        for name in args.transform
    ]
    model = (fuse(experts) if len(experts) > 1 else experts[0]).eval()
    tiles = np.random.default_rng(0).uniform(-1, 1, (args.batch, 3, args.size, args.size))
    tiles = tiles.astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        save_checkpoint(folder, model)
        export_onnx(folder)
        onnx = open_scorer(folder, backend="onnx")
        batch = torch.from_numpy(tiles)

        def eager() -> None:
            with torch.inference_mode():
                model(batch)

        def ort() -> None:
            onnx.forward(tiles)

        for _ in range(2):
            eager()
            ort()
        times: dict[str, list[float]] = {"onnxruntime": [], "eager": []}
        for _ in range(args.repeats):
            for name, call in (("onnxruntime", ort), ("eager", eager)):
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
    rates = {name: args.batch / statistics.median(values) for name, values in times.items()}
    ratio = rates["onnxruntime"] / rates["eager"]
    for name, rate in rates.items():
        print(f"{name:12s} {rate:10.1f} images/s")
    print(f"ratio onnxruntime/eager: {ratio:.2f}x")
    print(
        json.dumps(
            {
                "bench": "detector_cpu_inference",
                "arch": args.arch,
                "transform": model.spec.transform,
                "size": args.size,
                "batch": args.batch,
                "images_per_s": {k: round(v, 1) for k, v in rates.items()},
                "ratio_onnx_over_eager": round(ratio, 3),
                "torch_threads": torch.get_num_threads(),
                "cpus": os.cpu_count(),
                "machine": platform.machine(),
            }
        )
    )


def training_bench(args: argparse.Namespace) -> None:
    import torch

    from detectors.architectures import create_detector
    from detectors.train import training_step

    name = args.train_device or ("cuda" if torch.cuda.is_available() else None)
    if name is None:
        print("training bench skipped: no CUDA device (pass --train-device cpu to force it)")
        print(json.dumps({"bench": "detector_training", "skipped": "no CUDA device"}))
        return
    device = torch.device(name)
    rng = np.random.default_rng(1)
    shape = (args.train_batch, 3, args.size, args.size)
    images = torch.from_numpy(rng.uniform(-1, 1, shape).astype(np.float32)).to(device)
    labels = torch.from_numpy(rng.integers(0, 2, args.train_batch)).to(device)
    classes = labels.clone()

    def variant(bf16: bool, channels_last: bool, compiled: bool) -> Any:
        torch.manual_seed(0)
        model = create_detector(
            args.arch, families=["gan"], transform=args.transform[0], image_size=args.size
        ).to(device)
        batch = images
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            batch = images.contiguous(memory_format=torch.channels_last)
        network = torch.compile(model) if compiled else model
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

        def run(steps: int) -> None:
            for _ in range(steps):
                training_step(
                    network,
                    optimizer,
                    batch,
                    labels,
                    classes,
                    attribution_weight=0.5,
                    bf16=bf16,
                )
            if device.type == "cuda":
                torch.cuda.synchronize(device)

        return run

    variants = {
        "eager_fp32": variant(False, False, False),
        "bf16_channels_last": variant(True, True, False),
    }
    if not args.no_compile:
        variants["bf16_channels_last_compile"] = variant(True, True, True)
    for run in variants.values():
        run(max(3, args.train_steps // 2))  # warm-up: cuDNN autotuning, compilation
    times: dict[str, list[float]] = {key: [] for key in variants}
    for _ in range(args.train_rounds):
        for key, run in variants.items():
            start = time.perf_counter()
            run(args.train_steps)
            times[key].append(time.perf_counter() - start)
    rates = {
        key: args.train_steps * args.train_batch / statistics.median(values)
        for key, values in times.items()
    }
    ratios = {key: rate / rates["eager_fp32"] for key, rate in rates.items()}
    device_name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({platform.machine()})"
    )
    print(f"training on {device_name} ({args.size} px, batch {args.train_batch}):")
    for key, rate in rates.items():
        print(f"{key:28s} {rate:10.1f} images/s  {ratios[key]:.2f}x eager fp32")
    print(
        json.dumps(
            {
                "bench": "detector_training",
                "arch": args.arch,
                "transform": args.transform[0],
                "size": args.size,
                "batch": args.train_batch,
                "device": device_name,
                "images_per_s": {k: round(v, 1) for k, v in rates.items()},
                "ratio_over_eager_fp32": {k: round(v, 3) for k, v in ratios.items()},
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
