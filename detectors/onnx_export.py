"""ONNX export of a detector checkpoint, checked against torch before it is recorded.

The graph holds the input transform, backbone and both heads (and, as a third output, the
pooled features the feature-distance check of ``detectors.ood`` reads), with a dynamic batch axis
and fixed ``image_size`` x ``image_size`` tiles (inference tiles images, so the tile size
never changes). Temperature and threshold stay in ``config.json``, so calibrating again
does not require a new export. The legacy TorchScript exporter is used because the
torch.export-based one needs onnxscript, which is not a dependency.

After export, onnxruntime and torch score the same random tiles; the export is recorded in
``config.json`` (with its sha256 and the weights' sha256) only if every calibrated p(AI)
agrees within :data:`TOLERANCE`.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from provenance.errors import ProvauditError

# Max |p_ai(onnxruntime) - p_ai(torch)| accepted; fp32 on both sides typically gives ~1e-6.
TOLERANCE = 1e-4
OPSET = 17


class ExportError(ProvauditError):
    code = "export_failed"


def _with_features(model: Any) -> Any:
    """The model with ``forward_features`` as its forward: three graph outputs."""
    import torch

    class WithFeatures(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            return self.model.forward_features(x)

    return WithFeatures().eval()


def _onnx_bytes(model: Any, opset: int = OPSET) -> bytes:
    """``model`` (a float, eval-mode detector or fusion on the CPU) as an ONNX graph."""
    import torch

    size = model.spec.image_size
    example = torch.zeros(1, 3, size, size)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _with_features(model),
            (example,),
            buffer,
            dynamo=False,
            input_names=["image"],
            output_names=["logit", "attribution", "features"],
            dynamic_axes={
                "image": {0: "batch"},
                "logit": {0: "batch"},
                "attribution": {0: "batch"},
                "features": {0: "batch"},
            },
            opset_version=opset,
        )
    return buffer.getvalue()


def _disagreement(model: Any, scorer: Any, check_batch: int) -> tuple[float, float]:
    """Max |p_ai| and max |attribution logit| differences between ``model`` and ``scorer``
    (its ONNX export) on the same random tiles."""
    import torch

    from detectors.tiles import sigmoid

    size = model.spec.image_size
    generator = torch.Generator().manual_seed(0)
    tiles = torch.rand(check_batch, 3, size, size, generator=generator) * 2 - 1
    with torch.no_grad():
        torch_logit, torch_attr = model(tiles)
    onnx_logit, onnx_attr = scorer.forward(tiles.numpy())
    temperature = model.spec.temperature
    p_diff = float(
        np.max(
            np.abs(sigmoid(onnx_logit / temperature) - sigmoid(torch_logit.numpy() / temperature))
        )
    )
    return p_diff, float(np.max(np.abs(onnx_attr - torch_attr.numpy())))


def onnx_scorer(model: Any, *, check_batch: int = 8, **scorer_options: int) -> Any:
    """An onnxruntime scorer of ``model`` exported in memory: calibration, validation and
    the leave-out evaluations score with the runtime that serves the model (on a CPU it is
    also several times faster than torch), on as many threads as torch uses here.

    Raises :class:`ExportError` when the export does not score like the model.
    """
    import torch

    from detectors.inference import OnnxScorer

    was_training = model.training
    model.eval()
    try:
        scorer = OnnxScorer(
            model.spec, _onnx_bytes(model), threads=torch.get_num_threads(), **scorer_options
        )
        p_diff, _ = _disagreement(model, scorer, check_batch)
    finally:
        model.train(was_training)
    if not p_diff <= TOLERANCE:
        raise ExportError(
            f"The in-memory ONNX export scores differently from torch (max p_ai difference "
            f"{p_diff:.2e} > {TOLERANCE:.0e})."
        )
    return scorer


def checkpoint_scorer(checkpoint: Path | str, **scorer_options: int) -> Any:
    """:func:`onnx_scorer` of a saved checkpoint, exported or not."""
    from detectors.loading import load_checkpoint

    return onnx_scorer(load_checkpoint(checkpoint).float().eval(), **scorer_options)


def export_onnx(checkpoint: Path | str, opset: int = OPSET, check_batch: int = 8) -> dict[str, Any]:
    from detectors.checkpoint import ONNX_FILE, read_checkpoint, record_onnx, sha256_file
    from detectors.inference import OnnxScorer
    from detectors.loading import load_checkpoint

    info = read_checkpoint(checkpoint)
    model = load_checkpoint(info.directory).float().eval()
    data = _onnx_bytes(model, opset)
    target = info.directory / ONNX_FILE
    temporary = target.with_name(f".{ONNX_FILE}.partial")
    temporary.write_bytes(data)
    p_diff, attr_diff = _disagreement(model, OnnxScorer(info.spec, temporary), check_batch)
    if not p_diff <= TOLERANCE:
        temporary.unlink()
        raise ExportError(
            f"The ONNX export of {info.directory} scores differently from torch (max p_ai "
            f"difference {p_diff:.2e} > {TOLERANCE:.0e}); it was not saved."
        )
    temporary.replace(target)
    record = {
        "file": ONNX_FILE,
        "sha256": hashlib.sha256(data).hexdigest(),
        "weights_sha256": info.weights_sha256,
        "opset": opset,
        "max_abs_p_ai_diff": p_diff,
        "max_abs_attribution_logit_diff": attr_diff,
        "tolerance": TOLERANCE,
    }
    assert sha256_file(target) == record["sha256"]
    record_onnx(info, record)
    return {"onnx": str(target), **record}
