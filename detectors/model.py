"""The detector network (input transform, backbone, two heads) and its torch scorer.

One forward pass gives both answers the CLI reports: a binary real-vs-AI logit, and
attribution logits over ``[real, *families]``. Two heads on shared features rather than
one softmax, because the binary question must stay answerable for families never seen in
training, where the attribution head is expected to be unsure ("unknown").
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from detectors.inference import Scorer
from detectors.spec import DetectorSpec
from detectors.transforms import build_transform


class DetectorModel(nn.Module):
    def __init__(self, spec: DetectorSpec, backbone: nn.Module, num_features: int) -> None:
        super().__init__()
        self.spec = spec
        self.transform = build_transform(spec.transform, spec.image_size)
        self.backbone = backbone
        self.binary = nn.Linear(num_features, 1)
        self.attribution = nn.Linear(num_features, len(spec.classes))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: float NCHW in [-1, 1] -> (logit (N,), attribution logits (N, 1 + families))."""
        logit, attribution, _ = self.forward_features(x)
        return logit, attribution

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """As :meth:`forward`, plus the pooled backbone features both heads read."""
        features = self.backbone(self.transform(x))
        return self.binary(features).squeeze(1), self.attribution(features), features

    def shift_logit(self, shift: float) -> None:
        """Binary logits become ``z - shift`` (calibration folds its shift in here)."""
        with torch.no_grad():
            self.binary.bias -= float(shift)


class TorchScorer(Scorer):
    """Scores tiles with the torch model (training validation, evaluation, no-ONNX fallback)."""

    backend = "torch"

    def __init__(self, model: DetectorModel, device: torch.device | str = "cpu", **kw: int) -> None:
        super().__init__(model.spec, **kw)
        self.model = model
        self.device = torch.device(device)

    def forward(self, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logit, attribution, _ = self.forward_features(tiles)
        return logit, attribution

    @torch.no_grad()
    def forward_features(self, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        was_training = self.model.training
        self.model.eval()
        try:
            batch = torch.from_numpy(tiles).to(self.device)
            if self.device.type == "cuda":
                batch = batch.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    outputs = self.model.forward_features(batch)
            else:
                outputs = self.model.forward_features(batch)
            logit, attribution, features = (value.float().cpu().numpy() for value in outputs)
            return logit, attribution, features
        finally:
            self.model.train(was_training)
