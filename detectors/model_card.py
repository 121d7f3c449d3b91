"""``MODEL_CARD.md`` of a detector checkpoint, written from what its commands recorded.

Figures come from the checkpoint's ``config.json`` (architecture, calibration), the JSON
``detectors train --json`` printed, ``evaluation.json`` (``detectors evaluate --json``) and,
when present, ``leave-one-family-out.json`` (``detectors loo --json``). Each goal of the
project is printed beside its measure with "met" or "missed", so the card cannot claim more
than the numbers do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detectors.spec import FUSION_ARCH

CARD_FILE = "MODEL_CARD.md"
EVALUATION_FILE = "evaluation.json"
LOO_FILE = "leave-one-family-out.json"


@dataclass(frozen=True)
class DetectorCardInputs:
    checkpoint: Path
    train_command: str
    evaluate_command: str
    hardware: str
    train_log: Path | None = None
    loo_command: str | None = None
    trained_on: str = ""


def _goal(value: float, goal: float, *, at_most: bool = False) -> str:
    met = value <= goal if at_most else value >= goal
    sign = "≤" if at_most else "≥"
    return f"{sign} {goal:g} ({'met' if met else '**missed**'})"


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def render_card(inputs: DetectorCardInputs) -> str:
    directory = inputs.checkpoint
    detector = json.loads((directory / "config.json").read_text())["detector"]
    evaluation = json.loads((directory / EVALUATION_FILE).read_text())
    loo = _read(directory / LOO_FILE)
    train = _read(inputs.train_log) if inputs.train_log else None
    clean, calibration = evaluation["clean"], evaluation.get("calibration", {})
    families = ", ".join(detector["families"])
    experts = detector["training"].get("experts") if detector["arch"] == FUSION_ARCH else None
    if experts:
        names = " and ".join(
            f"`{member['arch']}` on the `{member['transform']}` input transform"
            for member in detector["arch_kwargs"]["experts"]
        )
        what = (
            f"- **What**: a max-fusion of {len(experts)} experts trained apart, {names}, "
            f"{detector['image_size']} px tiles: p(AI) comes from the larger of the experts' "
            "calibrated logits, calibrated again as a whole; attribution is their mean "
            f'log-probability over real, {families} ("unknown" below '
            f"{detector['attribution_threshold']} confidence)."
        )
    else:
        what = (
            f"- **What**: `{detector['arch']}` with the `{detector['transform']}` input "
            f"transform, {detector['image_size']} px tiles; a binary p(AI) head plus an "
            f'attribution head over real, {families} ("unknown" below '
            f"{detector['attribution_threshold']} confidence)."
        )
    lines = [f"# Model card: the default detector (`{directory}`)", "", what]
    if inputs.trained_on:
        lines.append(f"- **Trained on**: {inputs.trained_on}")
    lines.append(f"- **Command**: `{inputs.train_command}`")
    if experts:
        for expert in experts:
            run = expert["training"]
            stopped = " (stopped early on validation AP)" if run.get("stopped_early") else ""
            lines.append(
                f"  - expert `{expert['checkpoint']}`: {run['epochs_run']} epochs run{stopped}; "
                f"best validation AP {run['best_val_ap']:.4f}; temperature "
                f"{expert['temperature']:.3f}"
            )
        lines.append(f"  then `provaudit detectors export-onnx {directory}`.")
    elif train is not None:
        stopped = " (stopped early on validation AP)" if train.get("stopped_early") else ""
        lines.append(
            f"  ({train['epochs_run']} epochs run{stopped}; best validation AP "
            f"{train['best_val_ap']:.4f}), then `provaudit detectors export-onnx {directory}`."
        )
    lines.append(f"- **Hardware**: {inputs.hardware}.")
    method = detector.get("calibration", {}).get("method", "temperature")
    lines += [
        f"- **Calibration** ({method} scaling on the validation split): temperature "
        f"{detector['temperature']:.3f}; threshold {detector['threshold']:.4f} = the "
        f"{100 * (1 - detector['target_fpr']):g}th percentile of p(AI) on held-out real images "
        f"(target FPR {100 * detector['target_fpr']:g}%).",
        "",
        f"## Measured (`{inputs.evaluate_command}`, {evaluation.get('split', 'held-out')} split, "
        f"{evaluation.get('backend', 'onnxruntime')})",
        "",
        "| measure | value | goal |",
        "|---|---|---|",
        f"| in-family AP | {clean['ap']:.4f} | {_goal(clean['ap'], 0.99)} |",
        f"| ROC-AUC | {clean['roc_auc']:.4f} | |",
        f"| accuracy at threshold (real / fake) | {clean['accuracy']:.4f} "
        f"({clean['real_accuracy']:.4f} / {clean['fake_accuracy']:.4f}) | |",
        f"| TPR at 1% / 5% FPR | {clean['tpr_at_1pct_fpr']:.4f} / {clean['tpr_at_5pct_fpr']:.4f}"
        f" | {_goal(clean['tpr_at_1pct_fpr'], 0.9)} at 1% |",
    ]
    robustness = evaluation.get("robustness", {})
    if robustness:
        jpeg75 = robustness["jpeg"]["75"]["ap"]
        half = robustness["downscale"]["0.5"]["ap"]
        lines += [
            f"| AP after JPEG q75 | {jpeg75:.4f} | {_goal(jpeg75, 0.95)} |",
            f"| AP after 0.5× downscale | {half:.4f} | {_goal(half, 0.95)} |",
        ]
    if calibration:
        lines.append(
            f"| ECE before / after calibration | {calibration['ece_uncalibrated']:.3f} / "
            f"{calibration['ece']:.3f} | {_goal(calibration['ece'], 0.03, at_most=True)} |"
        )
    check = evaluation.get("format_check")
    if check:
        shifts = check["mean_abs_shift"]
        verdict = _goal(max(shifts.values()), check["tolerance"], at_most=True)
        lines.append(
            f"| format check: mean \\|Δp\\| PNG vs JPEG / WebP | {shifts['png_vs_jpeg']:.4f} / "
            f"{shifts['png_vs_webp']:.4f} | {verdict} |"
        )
    lines += ["", "Per family (held-out):", "", "| family | fakes | AP | fake accuracy |"]
    lines.append("|---|---|---|---|")
    for family, figures in sorted(clean["per_family"].items()):
        lines.append(
            f"| {family} | {figures['n_fake']} | {figures['ap']:.4f} | "
            f"{figures['fake_accuracy']:.4f} |"
        )
    if robustness:
        lines += ["", "Robustness (AP / accuracy at the stored threshold):", ""]
        lines += ["| perturbation | AP | accuracy |", "|---|---|---|"]
        for kind, levels in robustness.items():
            for level, figures in levels.items():
                lines.append(
                    f"| {kind} {level} | {figures['ap']:.4f} | {figures['accuracy']:.4f} |"
                )
    if loo is not None:
        held_out = loo["held_out"]
        met = [name for name, figures in held_out.items() if figures["ap"] >= 0.9]
        lines += [
            "",
            f"Leave-one-family-out (`{inputs.loo_command or 'provaudit detectors loo'}`, "
            f"`{LOO_FILE}`): a detector trained without one family, tested on it. Goal AP ≥ 0.9: "
            f"met for {', '.join(met) if met else 'no family'}.",
            "",
            "| held-out family | AP | ROC-AUC | TPR at 1% FPR |",
            "|---|---|---|---|",
        ]
        for family, figures in sorted(held_out.items()):
            lines.append(
                f"| {family} | {figures['ap']:.3f} | {figures['roc_auc']:.3f} | "
                f"{figures['tpr_at_1pct_fpr']:.3f} |"
            )
    if (directory / "report" / "report.html").is_file():
        lines += [
            "",
            "Plots (ROC, score histograms, robustness, reliability): `report/report.html`.",
        ]
    lines.append("")
    return "\n".join(lines)


def write_card(inputs: DetectorCardInputs, limits: str = "") -> Path:
    """Write the card; ``limits`` (plain words on what it cannot see) is appended as is."""
    path = inputs.checkpoint / CARD_FILE
    text = render_card(inputs)
    if limits:
        text += "\n## Limits, in plain words\n\n" + limits.strip() + "\n"
    path.write_text(text)
    return path
