"""Leave-one-family-out: the honest figure for "a generator family we have not seen".

Each fold trains without one family's images and is tested on the real images and that
family's fakes it never saw; in-family AP is always near 1 and says little.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from detectors.data import DetectorData
from detectors.evaluate import metrics, score_samples
from detectors.onnx_export import checkpoint_scorer
from detectors.train import TrainConfig, train, train_fused, trained_already
from provenance.errors import DataError


@dataclass(frozen=True)
class LeaveOneOutResult:
    """Per left-out family, the fold's metrics on it; ``to_dict`` is
    ``leave-one-family-out.json``'s layout."""

    held_out: dict[str, dict[str, Any]]
    families: list[str]
    fusion: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"held_out": self.held_out, "families": self.families}
        if self.fusion is not None:
            record["fusion"] = self.fusion
        return record


def leave_one_family_out(
    data: DetectorData,
    config: TrainConfig,
    out_dir: Path | str,
    *,
    families: list[str] | None = None,
    fuse_transforms: list[str] | None = None,
    quiet: bool = True,
) -> LeaveOneOutResult:
    """For each family: train without its images, test on reals + that family's fakes.

    The held-out family's AP is the honest number for "a generator we have not seen";
    in-distribution AP is always near 1 and says little. With ``fuse_transforms`` each
    fold trains one expert per transform and scores their fusion, as ``train`` does.
    ``families`` (default: all) are the ones left out, one fold each.
    """
    if len(data.families) < 2:
        raise DataError("Leave-one-family-out needs generated images from at least 2 families.")
    unknown = sorted(set(families or []) - set(data.families))
    if unknown:
        raise DataError(
            f"No generated images of {', '.join(unknown)}; families: {', '.join(data.families)}."
        )
    out_dir = Path(out_dir)
    results: dict[str, Any] = {}
    for family in families or data.families:
        kept = [s for s in data.samples if s.label == 0 or s.family != family]
        subset = replace(data, samples=kept, families=[f for f in data.families if f != family])
        checkpoint = out_dir / f"without-{family}"
        fold_config = replace(config, output=checkpoint)
        if fuse_transforms:
            train_fused(subset, fold_config, fuse_transforms, quiet=quiet)
        elif not trained_already(checkpoint, subset, fold_config):
            train(subset, fold_config, quiet=quiet)
        scorer = checkpoint_scorer(checkpoint)
        test = [
            s for s in data.samples if s.split != "train" and (s.label == 0 or s.family == family)
        ]
        labels = np.array([s.label for s in test])
        probs = score_samples(scorer, data, test)
        results[family] = metrics(labels, probs, scorer.spec.threshold)
    fusion = {"transforms": list(fuse_transforms)} if fuse_transforms else None
    return LeaveOneOutResult(results, list(data.families), fusion)
