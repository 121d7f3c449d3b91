"""``MODEL_CARD.md`` of a detector checkpoint, written from what its commands recorded.

Figures come from the checkpoint's ``config.json`` (architecture, calibration), the JSON
``detectors train --json`` printed, ``evaluation.json`` (``detectors evaluate --json``) and,
when present, ``leave-one-family-out.json`` (``detectors loo --json``),
``leave-sources-out.json`` (``detectors loso --json``: real photos from sources left out
of training) and ``human-made.json`` (``detectors unseen --json``: illustrations and
other human-made images). Each goal of the project is printed beside its measure with
"met" or "missed", so the card cannot claim more than the numbers do.

The plain-words limits are a template whose figures are filled in from the same records
(:func:`limit_figures`), so they cannot drift from the tables above them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detectors.spec import DEFAULT_MAX_TILES, FUSION_ARCH

CARD_FILE = "MODEL_CARD.md"
EVALUATION_FILE = "evaluation.json"
LOO_FILE = "leave-one-family-out.json"
LOSO_FILE = "leave-sources-out.json"
HUMAN_MADE_FILE = "human-made.json"
# The goals the card reports against (the moderation deployment's).
GOAL_LOO_AP = 0.95
GOAL_LOO_TPR = 0.80
GOAL_KNOWN_TPR = 0.90


@dataclass(frozen=True)
class DetectorCardInputs:
    checkpoint: Path
    train_command: str
    evaluate_command: str
    hardware: str
    train_log: Path | None = None
    loo_command: str | None = None
    trained_on: str = ""
    loso_command: str | None = None
    unseen_command: str | None = None


def _goal(value: float, goal: float, *, at_most: bool = False) -> str:
    met = value <= goal if at_most else value >= goal
    sign = "≤" if at_most else "≥"
    return f"{sign} {goal:g} ({'met' if met else '**missed**'})"


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _outcome_table(sources: dict[str, Any], goal: float, inconclusive_goal: float | None) -> list:
    header = "| source | images | called AI: as sent / web JPEG / web WebP | called AI | "
    header += "inconclusive | goal |"
    lines = [header, "|---|---|---|---|---|---|"]
    for name, result in sorted(sources.items()):
        overall, variants = result["overall"], result["variants"]
        met = overall["ai_rate"] is not None and overall["ai_rate"] <= goal
        if inconclusive_goal is not None:
            met = met and overall["inconclusive_rate"] <= inconclusive_goal
        per_variant = " / ".join(
            _pct(variants[key]["ai_rate"]) for key in ("as_sent", "web_jpeg", "web_webp")
        )
        lines.append(
            f"| {name} | {variants['as_sent']['images']} | {per_variant} | "
            f"{_pct(overall['ai_rate'])} | {_pct(overall['inconclusive_rate'])} | "
            f"{'met' if met else '**missed**'} |"
        )
    return lines


def limit_figures(directory: Path) -> dict[str, str]:
    """The figures the limits template quotes, formatted, from the checkpoint's records."""
    detector = json.loads((directory / "config.json").read_text())["detector"]
    evaluation = json.loads((directory / EVALUATION_FILE).read_text())
    clean = evaluation["clean"]
    figures: dict[str, str] = {
        "tile": str(detector["image_size"]),
        "families": ", ".join(detector["families"]),
        "family_count": str(len(detector["families"])),
        "tpr_at_threshold": _pct(clean["fake_accuracy"]),
        "max_tiles": str(DEFAULT_MAX_TILES),
    }
    weakest = min(clean["per_family"].items(), key=lambda item: item[1]["fake_accuracy"])
    figures["weakest_family"] = weakest[0]
    figures["weakest_family_tpr"] = _pct(weakest[1]["fake_accuracy"])
    robustness = evaluation.get("robustness", {})
    if robustness:
        figures["jpeg30_tpr"] = _pct(robustness["jpeg"]["30"]["fake_accuracy"])
        figures["jpeg75_tpr"] = _pct(robustness["jpeg"]["75"]["fake_accuracy"])
        figures["blur2_tpr"] = _pct(robustness["blur"]["2"]["fake_accuracy"])
    check = evaluation.get("format_check")
    if check:
        figures["format_shift"] = f"{max(check['mean_abs_shift'].values()):.3f}"
    abstention = evaluation.get("abstention")
    if abstention:
        fakes = {name: rates for name, rates in abstention.items() if name != "real"}
        images = sum(rates["images"] for rates in fakes.values())
        unsure = sum(rates["images"] * rates["inconclusive_rate"] for rates in fakes.values())
        worst = max(fakes.items(), key=lambda item: item[1]["inconclusive_rate"])
        figures["known_inconclusive"] = _pct(unsure / images if images else None)
        figures["known_inconclusive_family"] = worst[0]
        figures["known_inconclusive_family_rate"] = _pct(worst[1]["inconclusive_rate"])
    loo = _read(directory / LOO_FILE)
    if loo is not None:
        held_out = loo["held_out"]
        worst_ap = min(held_out.items(), key=lambda item: item[1]["ap"])
        worst_tpr = min(held_out.items(), key=lambda item: item[1]["fake_accuracy"])
        figures["loo_worst_family"], figures["loo_worst_ap"] = (
            worst_ap[0],
            f"{worst_ap[1]['ap']:.3f}",
        )
        figures["loo_worst_tpr_family"] = worst_tpr[0]
        figures["loo_worst_tpr"] = _pct(worst_tpr[1]["fake_accuracy"])
    loso = _read(directory / LOSO_FILE)
    if loso is not None:
        sources = loso["sources"]
        worst = max(sources.items(), key=lambda item: item[1]["overall"]["ai_rate"])
        unsure = max(sources.items(), key=lambda item: item[1]["overall"]["inconclusive_rate"])
        images = sum(r["overall"]["images"] for r in sources.values())
        called = sum(r["overall"]["ai"] for r in sources.values())
        figures.update(
            photo_sources=str(len(sources)),
            photo_folds=str(len(loso["folds"])),
            photo_worst_source=worst[0],
            photo_worst_ai=_pct(worst[1]["overall"]["ai_rate"]),
            photo_pooled_ai=_pct(called / images if images else None),
            photo_unsure_source=unsure[0],
            photo_worst_inconclusive=_pct(unsure[1]["overall"]["inconclusive_rate"]),
        )
    human = _read(directory / HUMAN_MADE_FILE)
    if human is not None:
        sources = human["sources"]
        worst = max(sources.items(), key=lambda item: item[1]["overall"]["ai_rate"])
        figures.update(
            art_sources=str(len(sources)),
            art_worst_source=worst[0],
            art_worst_ai=_pct(worst[1]["overall"]["ai_rate"]),
        )
    return figures


def render_limits(template: str, directory: Path) -> str:
    """``template`` with each ``{name}`` replaced by :func:`limit_figures`' value."""
    figures = limit_figures(directory)
    try:
        return template.format_map(figures)
    except KeyError as exc:
        raise ValueError(f"the limits quote {exc}, which no record of {directory} holds") from None


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
        f"| TPR at the shipped threshold | {clean['fake_accuracy']:.4f} | "
        f"{_goal(clean['fake_accuracy'], GOAL_KNOWN_TPR)} |",
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
    abstention = evaluation.get("abstention")
    if abstention:
        lines += [
            "",
            "With the stability checks `detect` and the service apply (held-out split; "
            "`--abstention`):",
            "",
            "| images | count | called AI | inconclusive | called real |",
            "|---|---|---|---|---|",
        ]
        for name, rates in abstention.items():
            lines.append(
                f"| {name} | {rates['images']} | {_pct(rates['ai_rate'])} | "
                f"{_pct(rates['inconclusive_rate'])} | {_pct(rates['real_rate'])} |"
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
        met = [name for name, figures in held_out.items() if figures["ap"] >= GOAL_LOO_AP]
        lines += [
            "",
            f"Leave-one-family-out (`{inputs.loo_command or 'provaudit detectors loo'}`, "
            f"`{LOO_FILE}`): a detector trained without one family, tested on it. Goal AP ≥ "
            f"{GOAL_LOO_AP:g}: met for {', '.join(met) if met else 'no family'}. TPR at "
            f"threshold: the share of the left-out family's images the fold's own calibrated "
            f"threshold calls AI (goal ≥ {GOAL_LOO_TPR:g}).",
            "",
            "| held-out family | AP | ROC-AUC | TPR at 1% FPR | TPR at threshold |",
            "|---|---|---|---|---|",
        ]
        for family, figures in sorted(held_out.items()):
            lines.append(
                f"| {family} | {figures['ap']:.3f} | {figures['roc_auc']:.3f} | "
                f"{figures['tpr_at_1pct_fpr']:.3f} | {figures['fake_accuracy']:.3f} "
                f"({'met' if figures['fake_accuracy'] >= GOAL_LOO_TPR else '**missed**'}) |"
            )
    loso = _read(directory / LOSO_FILE)
    if loso is not None:
        goals = loso["goals"]
        lines += [
            "",
            "## Real photos it never trained on",
            "",
            f"Leave-sources-out (`{inputs.loso_command or 'provaudit detectors loso'}`, "
            f"`{LOSO_FILE}`): the real-photo sources were dealt into {len(loso['folds'])} "
            "folds; each fold's sources (and the fakes aligned with them) were left out of "
            "training and calibration, and every one of their images was scored as sent and "
            "as the web serves it (downscaled to a long edge of 512-1024 px, then JPEG q75-90 "
            "4:2:0 or WebP), with the stability checks `detect` applies. Goal: at most "
            f"{_pct(goals['max_ai_rate'])} called AI and at most "
            f"{_pct(goals['max_inconclusive_rate'])} inconclusive for every source.",
            "",
            *_outcome_table(loso["sources"], goals["max_ai_rate"], goals["max_inconclusive_rate"]),
        ]
    human = _read(directory / HUMAN_MADE_FILE)
    if human is not None:
        goals = human["goals"]
        lines += [
            "",
            "## Human-made images it never trained on",
            "",
            f"`{inputs.unseen_command or 'provaudit detectors unseen'}` (`{HUMAN_MADE_FILE}`): "
            "illustrations, clipart and other images made by people or ordinary programs, no "
            f"generative model; goal: at most {_pct(goals['max_ai_rate'])} called AI.",
            "",
            *_outcome_table(human["sources"], goals["max_ai_rate"], None),
        ]
    if (directory / "report" / "report.html").is_file():
        lines += [
            "",
            "Plots (ROC, score histograms, robustness, reliability): `report/report.html`.",
        ]
    lines.append("")
    return "\n".join(lines)


def write_card(inputs: DetectorCardInputs, limits: str = "") -> Path:
    """Write the card; ``limits`` (a template of plain words on what it cannot see, see
    :func:`render_limits`) is appended with its figures filled in."""
    path = inputs.checkpoint / CARD_FILE
    text = render_card(inputs)
    if limits:
        filled = render_limits(limits.strip(), inputs.checkpoint)
        text += "\n## Limits, in plain words\n\n" + filled + "\n"
    path.write_text(text)
    return path
