"""CPU inference throughput of a detector: onnxruntime (the serving path) vs eager timm.

Both sides score the same 64 px tiles, batch 256, fp32, in the same process, with calls
interleaved so machine noise hits both alike. Prints images/s for each, the ratio
onnxruntime / eager, and one JSON line.

    .venv/bin/python bench/detector_bench.py [--arch npr_tiny] [--transform npr_raw] [--repeats 10]

The defaults are the shipped detector's architecture and input transform.
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", default="npr_tiny")
    parser.add_argument("--transform", default="npr_raw")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    import torch

    from detectors.checkpoint import save_checkpoint
    from detectors.inference import open_scorer
    from detectors.onnx_export import export_onnx
    from detectors.registry import create_detector

    torch.manual_seed(0)
    model = create_detector(
        args.arch, families=["gan"], transform=args.transform, image_size=args.size
    ).eval()
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


if __name__ == "__main__":
    main()
