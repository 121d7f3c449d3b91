"""The evaluation report: ``report.html`` and PNG plots next to the evaluation JSON.

``provaudit detectors evaluate ... --report DIR`` writes into DIR:

* ``evaluation.json``: the same document ``--json`` prints; ``scores.csv``: p(AI) per image;
* ``roc.png``: ROC curves, all generated images and each family against the real ones,
  with the stored threshold's operating point marked;
* ``histograms.png``: p(AI) of real images against each family's, threshold marked;
* ``robustness.png`` (with ``--robustness``): AP, TPR and real accuracy at the stored
  threshold against JPEG quality, blur sigma and downscale factor;
* ``reliability.png``: reliability diagram of the uncalibrated network and of the
  calibrated p(AI) on the evaluated images, with their ECE;
* ``report.html``: the figures and the tables (values to 4 decimals), one self-contained
  folder to open or attach.

``provaudit detectors loo ... --report DIR`` writes ``loo.json``, ``loo.png`` and
``report.html`` with the leave-one-family-out matrix.

Figures and HTML go through ``provenance.reporting`` (matplotlib's object API, jinja2
templates in ``detectors/templates``), the toolkit the bias report uses too; matplotlib and
jinja2 come with the ``train`` extra and are imported only when a report is asked for.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from provenance.reporting import new_figure, render_template, save_png

TEMPLATES = Path(__file__).resolve().parent / "templates"

ROBUSTNESS_AXES = {
    "jpeg": ("JPEG quality", True),
    "blur": ("Gaussian blur sigma (px)", False),
    "downscale": ("downscale factor", True),
}


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _groups(scores: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, list[tuple[str, np.ndarray]]]:
    labels = np.asarray(scores["label"], dtype=np.int64)
    probs = np.asarray(scores["p_ai"], dtype=np.float64)
    names = np.array([name or "" for name in scores["family"]])
    families = sorted({str(n) for n, y in zip(names, labels, strict=True) if y == 1 and n})
    groups = [(family, (labels == 1) & (names == family)) for family in families]
    return labels, probs, groups


def plot_roc(scores: dict[str, Any], threshold: float, path: Path) -> Path:
    """ROC with a log FPR axis: a good detector's curves differ only below a few percent
    FPR, the region its operating point lives in; on a linear axis they all hug the
    corner. FPR 0 is drawn at half of one real image's share."""
    from detectors.metrics import roc_auc, roc_points

    labels, probs, groups = _groups(scores)
    real = labels == 0
    floor = 0.5 / max(1, int(real.sum()))
    fig = new_figure(5.5, 5.0)
    ax = fig.add_subplot()
    fpr, tpr = roc_points(labels, probs)
    overall = f"all generated (AUC {roc_auc(labels, probs):.4f})"
    ax.plot(np.maximum(fpr, floor), tpr, color="black", lw=2, label=overall)
    for family, mask in groups if len(groups) > 1 else []:
        subset = real | mask
        fpr_f, tpr_f = roc_points(labels[subset], probs[subset])
        auc = roc_auc(labels[subset], probs[subset])
        ax.plot(np.maximum(fpr_f, floor), tpr_f, lw=1.2, label=f"{family} (AUC {auc:.4f})")
    if real.any() and (~real).any():
        at_fpr = float(np.mean(probs[real] > threshold))
        at_tpr = float(np.mean(probs[~real] > threshold))
        ax.plot(
            [max(at_fpr, floor)], [at_tpr], "o", color="red", label=f"threshold {threshold:.4f}"
        )
    grid = np.logspace(np.log10(floor), 0, 50)
    ax.plot(grid, grid, ls=":", color="grey", lw=1)
    ax.axvline(0.01, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set(
        xlabel="false-positive rate on real images (log; dashed: 1%)", ylabel="true-positive rate"
    )
    ax.set(xlim=(floor, 1.0), ylim=(0.0, 1.01), title="ROC")
    ax.legend(loc="lower right", fontsize=8)
    save_png(fig, path)
    return path


def plot_histograms(scores: dict[str, Any], threshold: float, path: Path) -> Path:
    labels, probs, groups = _groups(scores)
    if not groups:
        groups = [("generated", labels == 1)]
    real = probs[labels == 0]
    fig = new_figure(6.0, 2.2 * len(groups) + 0.6)
    bins = np.linspace(0.0, 1.0, 41)
    for k, (family, mask) in enumerate(groups):
        ax = fig.add_subplot(len(groups), 1, k + 1)
        ax.hist(real, bins=bins, alpha=0.6, color="tab:blue", label=f"real ({len(real)})")
        ax.hist(
            probs[mask], bins=bins, alpha=0.6, color="tab:orange", label=f"{family} ({mask.sum()})"
        )
        ax.axvline(threshold, color="red", ls="--", lw=1.2, label=f"threshold {threshold:.4f}")
        ax.set_yscale("log")  # scores pile up near 0 and 1; the tails are what matters
        ax.set(xlim=(0, 1), ylabel="images")
        ax.legend(loc="upper center", fontsize=8)
        if k == len(groups) - 1:
            ax.set_xlabel("p(AI), calibrated")
    fig.suptitle("Score histograms")
    save_png(fig, path)
    return path


def plot_robustness(robustness: dict[str, Any], path: Path) -> Path:
    kinds = [kind for kind in ROBUSTNESS_AXES if kind in robustness]
    fig = new_figure(4.0 * len(kinds), 3.6)
    series = (
        ("ap", "AP", "black", "-"),
        ("fake_accuracy", "TPR at threshold", "tab:orange", "-"),
        ("real_accuracy", "real accuracy at threshold", "tab:blue", ":"),
    )
    for k, kind in enumerate(kinds):
        ax = fig.add_subplot(1, len(kinds), k + 1)
        points = sorted(robustness[kind].items(), key=lambda item: float(item[0]))
        x = [float(value) for value, _ in points]
        for key, name, color, style in series:
            y = [row.get(key) for _, row in points]
            if all(v is None for v in y):
                continue  # an evaluation from before this measure existed
            y = [np.nan if v is None else v for v in y]
            ax.plot(x, y, marker="o", color=color, ls=style, label=name)
        label, reverse = ROBUSTNESS_AXES[kind]
        ax.set(xlabel=label, ylim=(0.0, 1.02), title=kind)
        if reverse:  # stronger degradation to the right
            ax.invert_xaxis()
        if k == 0:
            ax.legend(loc="lower left", fontsize=8)
    save_png(fig, path)
    return path


def plot_reliability(calibration: dict[str, Any], path: Path) -> Path:
    fig = new_figure(8.0, 4.0)
    titles = {"before": "uncalibrated network", "after": "calibrated p(AI)"}
    for k, key in enumerate(("before", "after")):
        diagram = calibration["reliability"][key]
        edges = np.asarray(diagram["edges"])
        centres = (edges[:-1] + edges[1:]) / 2
        width = float(edges[1] - edges[0])
        frequency = np.array([np.nan if v is None else v for v in diagram["fraction_ai"]])
        confidence = np.array([np.nan if v is None else v for v in diagram["mean_p_ai"]])
        ax = fig.add_subplot(1, 2, k + 1)
        ax.bar(
            centres,
            np.nan_to_num(frequency),
            width=width * 0.95,
            color="tab:blue",
            alpha=0.7,
            label="fraction generated",
        )
        ax.plot(confidence, frequency, "o", color="black", ms=3, label="bin mean p(AI)")
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
        counts = diagram["count"]
        for centre, count in zip(centres, counts, strict=True):
            if count:
                ax.text(centre, 0.02, str(count), ha="center", fontsize=6, rotation=90)
        ece = diagram.get("ece")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="p(AI)", title=f"{titles[key]}: ECE {_fmt(ece)}")
        if k == 0:
            ax.set_ylabel("fraction generated")
            ax.legend(loc="upper left", fontsize=8)
    save_png(fig, path)
    return path


def _render(template: str, **context: Any) -> str:
    # Records of older runs lack some fields; a missing one renders empty.
    return render_template(TEMPLATES, template, strict=False, f=_fmt, **context)


def _write_scores(scores: dict[str, Any], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "family", "p_ai"])
        for row in zip(
            scores["path"], scores["label"], scores["family"], scores["p_ai"], strict=True
        ):
            path_, label, family, p_ai = row
            writer.writerow([path_, "fake" if label else "real", family or "", p_ai])
    return path


def write_evaluation_report(
    evaluation: dict[str, Any],
    out_dir: Path | str,
    *,
    scores: dict[str, Any] | None = None,
    checkpoint: str = "",
) -> dict[str, Any]:
    """Write the report folder; returns ``{"report": html path, "files": [...]}``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clean = evaluation["clean"]
    threshold = float(clean["threshold"])
    written: list[Path] = []
    images: list[dict[str, str]] = []
    document = {key: value for key, value in evaluation.items() if key != "scores"}
    (out / "evaluation.json").write_text(json.dumps(document, indent=2) + "\n")
    written.append(out / "evaluation.json")
    if scores is not None and len(scores.get("label", [])):
        written.append(_write_scores(scores, out / "scores.csv"))
        written.append(plot_roc(scores, threshold, out / "roc.png"))
        images.append(
            {
                "file": "roc.png",
                "title": "ROC curves",
                "caption": "All generated images, and each family, against the real images; "
                "the red dot is the stored threshold.",
            }
        )
        written.append(plot_histograms(scores, threshold, out / "histograms.png"))
        images.append(
            {
                "file": "histograms.png",
                "title": "Score histograms",
                "caption": "Calibrated p(AI) of real images against each family's (log "
                "counts); the dashed line is the stored threshold.",
            }
        )
    if evaluation.get("robustness"):
        written.append(plot_robustness(evaluation["robustness"], out / "robustness.png"))
        images.append(
            {
                "file": "robustness.png",
                "title": "Robustness",
                "caption": "AP, and TPR and real accuracy at the stored threshold, after "
                "JPEG re-encoding, Gaussian blur and downscaling of every evaluated image.",
            }
        )
    calibration = evaluation.get("calibration")
    if calibration and calibration.get("reliability"):
        written.append(plot_reliability(calibration, out / "reliability.png"))
        images.append(
            {
                "file": "reliability.png",
                "title": "Reliability",
                "caption": "Fraction of generated images per p(AI) bin (image counts at the "
                "bottom) for the network's own output and for the calibrated p(AI); a "
                "calibrated detector follows the diagonal.",
            }
        )
    robustness = [
        (kind, sorted(points.items(), key=lambda item: float(item[0]), reverse=True))
        for kind, points in (evaluation.get("robustness") or {}).items()
    ]
    html = _render(
        "evaluation.html.j2",
        arch=evaluation.get("checkpoint_arch", ""),
        backend=evaluation.get("backend", ""),
        split=evaluation.get("split", ""),
        checkpoint=checkpoint,
        clean=clean,
        families=sorted((clean.get("per_family") or {}).items()),
        calibration=calibration,
        images=images,
        robustness=robustness,
        format_check=evaluation.get("format_check"),
        has_scores=scores is not None,
    )
    (out / "report.html").write_text(html, encoding="utf-8")
    written.append(out / "report.html")
    return {"report": str(out / "report.html"), "files": [str(path) for path in written]}


def plot_loo(held_out: dict[str, Any], path: Path) -> Path:
    families = sorted(held_out)
    fig = new_figure(max(4.0, 1.6 * len(families) + 2), 3.6)
    ax = fig.add_subplot()
    x = np.arange(len(families))
    series = (("ap", "AP"), ("roc_auc", "ROC-AUC"), ("tpr_at_1pct_fpr", "TPR at 1% FPR"))
    width = 0.8 / len(series)
    for k, (key, name) in enumerate(series):
        values = [held_out[f].get(key) for f in families]
        values = [np.nan if v is None else v for v in values]
        ax.bar(x + (k - 1) * width, values, width=width, label=name)
    ax.set_xticks(x, families)
    ax.set(ylim=(0, 1.02), xlabel="family left out of training", title="Leave-one-family-out")
    ax.legend(fontsize=8, loc="upper right")
    save_png(fig, path)
    return path


def write_loo_report(result: dict[str, Any], out_dir: Path | str) -> dict[str, Any]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    held_out = result["held_out"]
    (out / "loo.json").write_text(json.dumps(result, indent=2) + "\n")
    written = [out / "loo.json", plot_loo(held_out, out / "loo.png")]
    html = _render("loo.html.j2", rows=sorted(held_out.items()))
    (out / "report.html").write_text(html, encoding="utf-8")
    written.append(out / "report.html")
    return {"report": str(out / "report.html"), "files": [str(path) for path in written]}
