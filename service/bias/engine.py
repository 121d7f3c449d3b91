"""Running the per-image stage: here, in batches, or as a Ray Data map.

``--engine ray`` (the optional ``ray`` extra) hands the same
:class:`~service.bias.images.BatchAnalyser` to ``Dataset.map_batches``: each Ray worker
builds one analyser (verifier, onnxruntime session) and maps batches of paths to columns.
It joins the cluster named by ``RAY_ADDRESS`` when set, else starts Ray on this machine.
The aggregation that follows is the same code for both engines.

What reaches the driver is each image's columns, batch by batch, never its pixels. The
largest column, the attribute classifier's feature vector, is kept only for the images
``keep_features`` names (those the classifier trains on or assigns values to; usually
none): ``features`` then holds those rows only, and ``features_index`` their image indices.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from service.bias.images import BatchAnalyser, to_columns
from service.bias.options import BiasReportError

Progress = Callable[[int, int], None]


def concat(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not parts:
        columns = to_columns([])
        columns["features_index"] = np.zeros(0, np.int64)
        return columns
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _thin(
    part: dict[str, np.ndarray], index: np.ndarray, keep: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Drop the feature rows no aggregate reads, before the batch is kept."""
    chosen = np.ones(len(index), bool) if keep is None else keep[index]
    part["features"] = part["features"][chosen]
    part["features_index"] = index[chosen].astype(np.int64)
    return part


def run_local(
    paths: Sequence[str],
    detector: str | None,
    batch_size: int,
    progress: Progress | None = None,
    keep_features: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    analyser = BatchAnalyser(detector)
    parts = []
    for start in range(0, len(paths), batch_size):
        chunk = list(paths[start : start + batch_size])
        part = analyser({"path": np.array(chunk, dtype=object)})
        parts.append(_thin(part, np.arange(start, start + len(chunk)), keep_features))
        if progress is not None:
            progress(min(start + batch_size, len(paths)), len(paths))
    return concat(parts)


def run_ray(
    paths: Sequence[str],
    detector: str | None,
    batch_size: int,
    workers: int = 0,
    progress: Progress | None = None,
    init_kwargs: dict[str, Any] | None = None,
    keep_features: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    try:
        import ray
        import ray.data
    except ImportError:
        raise BiasReportError(
            "--engine ray needs Ray Data: pip install 'provaudit[ray]' (or 'ray[data]')."
        ) from None
    if not ray.is_initialized():
        # No network at run time: a Ray started here sends no usage statistics (older Ray
        # versions do by default); a user's explicit setting wins.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(**({"log_to_driver": False, "include_dashboard": False} | (init_kwargs or {})))
    items = [{"index": i, "path": str(path)} for i, path in enumerate(paths)]
    dataset = ray.data.from_items(items)
    mapped = dataset.map_batches(
        BatchAnalyser,
        fn_constructor_kwargs={"detector": detector},
        batch_size=batch_size,
        batch_format="numpy",
        concurrency=workers or None,
    )
    parts = []
    done = 0
    for batch in mapped.iter_batches(batch_size=None, batch_format="numpy"):
        part = _from_ray(batch)
        parts.append(_thin(part, part["index"].astype(np.int64), keep_features))
        done += len(batch["index"])
        if progress is not None:
            progress(done, len(paths))
    columns = concat(parts)
    # Ray does not keep the input order; the aggregation expects it.
    order = np.argsort(columns.pop("index"), kind="stable")
    features_order = np.argsort(columns["features_index"], kind="stable")
    return {
        name: values[features_order if name.startswith("features") else order]
        for name, values in columns.items()
    }


def _from_ray(batch: dict[str, Any]) -> dict[str, np.ndarray]:
    """Ray hands strings back as numpy unicode or object arrays: make them object arrays."""
    out: dict[str, np.ndarray] = {}
    for name, values in batch.items():
        array = np.asarray(values)
        if array.dtype.kind in ("U", "S"):
            array = array.astype(object)
        elif name == "features" and array.dtype == object:
            array = np.stack(list(array)).astype(np.float32)
        elif name == "layout" and array.dtype == object:
            array = np.stack(list(array)).astype(np.uint8)
        out[name] = array
    return out


def run_map(
    paths: Sequence[str],
    *,
    engine: str = "local",
    detector: str | None = None,
    batch_size: int = 32,
    workers: int = 0,
    progress: Progress | None = None,
    ray_init: dict[str, Any] | None = None,
    keep_features: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The per-image columns, in ``paths`` order; ``keep_features`` (None: all) says whose
    feature vectors to keep."""
    if engine == "ray":
        return run_ray(paths, detector, batch_size, workers, progress, ray_init, keep_features)
    return run_local(paths, detector, batch_size, progress, keep_features)
