"""Section 4: how a detector treats each group -- computed with fairlearn, not re-implemented.

The positive class is "generated" (the detector flags an image as AI). Over the images
with a known real/generated label and a detector score: per group, fairlearn's
``selection_rate`` (share flagged AI), ``false_positive_rate`` (real images flagged) and
``true_positive_rate`` (generated images caught) in a ``MetricFrame`` with its bootstrap
confidence intervals; ``demographic_parity_difference`` / ``_ratio`` with the frame's
``difference_ci`` / ``ratio_ci``; ``equalized_odds_difference`` with a percentile bootstrap
over the same kind of resamples (fairlearn's function on each resample, as multinomial
sample weights, since a frame keeps no per-resample maximum of two differences).

Without ground truth (a detector run over images with no real/generated label) the rates
that need labels are undefined, but the selection rate and demographic parity need only
the verdicts: per group the share called AI with its bootstrap interval, and the parity
difference and ratio with theirs, over every scored image.

With labels, each group also lists its detector errors (real images called AI, generated
images called real): the most confident (p(AI) farthest from the threshold) and the least
confident (nearest to it), so a reader sees what the detector gets wrong in each group.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from service.bias.options import ReportOptions

HISTOGRAM_BINS = 20
METRICS = ("selection_rate", "false_positive_rate", "true_positive_rate")
# Errors shown per group and end (most confident, least confident).
ERRORS_SHOWN = 4


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(number) else number


def _frame(
    y: np.ndarray,
    p: np.ndarray,
    groups: np.ndarray,
    options: ReportOptions,
    labelled: bool = True,
) -> Any:
    from fairlearn.metrics import (
        MetricFrame,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    alpha = (1.0 - options.confidence) / 2.0
    metrics: dict[str, Any] = {"selection_rate": selection_rate}
    if labelled:
        metrics |= {
            "false_positive_rate": false_positive_rate,
            "true_positive_rate": true_positive_rate,
        }
    return MetricFrame(
        metrics=metrics,
        y_true=y,
        y_pred=p,
        sensitive_features=groups,
        n_boot=options.bootstrap,
        ci_quantiles=[alpha, 1.0 - alpha],
        random_state=options.seed,
    )


def _group_rows(
    frame: Any, y: np.ndarray, groups: np.ndarray, options: ReportOptions
) -> list[dict[str, Any]]:
    by_group, (low, high) = frame.by_group, frame.by_group_ci
    rows = []
    for value in by_group.index:
        mask = groups == value
        n_real = int((mask & (y == 0)).sum())
        n_generated = int((mask & (y == 1)).sum())
        defined = {
            "selection_rate": True,
            "false_positive_rate": n_real > 0,
            "true_positive_rate": n_generated > 0,
        }
        row: dict[str, Any] = {
            "group": str(value),
            "n": int(mask.sum()),
            "n_real": n_real,
            "n_generated": n_generated,
            "small_n": any(0 < count < options.min_group_size for count in (n_real, n_generated)),
        }
        for metric in METRICS:
            ok = defined[metric]
            row[metric] = _num(by_group.loc[value, metric]) if ok else None
            row[f"{metric}_ci"] = (
                [_num(low.loc[value, metric]), _num(high.loc[value, metric])] if ok else None
            )
        rows.append(row)
    return rows


def _overall(frame: Any, y: np.ndarray, options: ReportOptions) -> dict[str, Any]:
    """Rates over every image in scope, from any frame's ``overall`` and ``overall_ci``."""
    low, high = frame.overall_ci
    n_real, n_generated = int((y == 0).sum()), int((y == 1).sum())
    defined = {
        "selection_rate": True,
        "false_positive_rate": n_real > 0,
        "true_positive_rate": n_generated > 0,
    }
    row: dict[str, Any] = {
        "n": len(y),
        "n_real": n_real,
        "n_generated": n_generated,
        "small_n": any(0 < count < options.min_group_size for count in (n_real, n_generated)),
    }
    for metric in METRICS:
        ok = defined[metric]
        row[metric] = _num(frame.overall[metric]) if ok else None
        row[f"{metric}_ci"] = [_num(low[metric]), _num(high[metric])] if ok else None
    return row


def _eod_bootstrap(
    y: np.ndarray, p: np.ndarray, groups: np.ndarray, options: ReportOptions
) -> list[float] | None:
    from fairlearn.metrics import equalized_odds_difference

    rng = np.random.default_rng(options.seed + 1)
    n = len(y)
    values = []
    for _ in range(options.bootstrap):
        weights = rng.multinomial(n, np.full(n, 1.0 / n)).astype(np.float64)
        kept = weights > 0
        # A resample that loses every real or every generated image of a group has no
        # defined rate there; such resamples are skipped, not scored as zero.
        complete = all(
            (kept & (groups == g) & (y == label)).any()
            for g in np.unique(groups)
            for label in (0, 1)
        )
        if not complete:
            continue
        values.append(
            equalized_odds_difference(
                y[kept], p[kept], sensitive_features=groups[kept], sample_weight=weights[kept]
            )
        )
    if len(values) < max(10, options.bootstrap // 2):
        return None
    alpha = (1.0 - options.confidence) / 2.0
    return [float(np.quantile(values, alpha)), float(np.quantile(values, 1.0 - alpha))]


def _disparities(
    frame: Any, y: np.ndarray, p: np.ndarray, groups: np.ndarray, options: ReportOptions
) -> dict[str, Any]:
    from fairlearn.metrics import (
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
    )

    low_diff, high_diff = frame.difference_ci()
    low_ratio, high_ratio = frame.ratio_ci()
    out: dict[str, Any] = {
        "demographic_parity_difference": _num(
            demographic_parity_difference(y, p, sensitive_features=groups)
        ),
        "demographic_parity_difference_ci": [
            _num(low_diff["selection_rate"]),
            _num(high_diff["selection_rate"]),
        ],
        "demographic_parity_ratio": _num(demographic_parity_ratio(y, p, sensitive_features=groups)),
        "demographic_parity_ratio_ci": [
            _num(low_ratio["selection_rate"]),
            _num(high_ratio["selection_rate"]),
        ],
    }
    # Equalized odds needs both rates in every group compared: groups lacking real or
    # generated images are left out of it, and named.
    complete = [
        g
        for g in np.unique(groups)
        if ((groups == g) & (y == 0)).any() and ((groups == g) & (y == 1)).any()
    ]
    left_out = sorted(str(g) for g in np.unique(groups) if g not in complete)
    out["equalized_odds_groups_left_out"] = left_out
    if len(complete) >= 2:
        mask = np.isin(groups, complete)
        out["equalized_odds_difference"] = _num(
            equalized_odds_difference(y[mask], p[mask], sensitive_features=groups[mask])
        )
        out["equalized_odds_difference_ci"] = _eod_bootstrap(
            y[mask], p[mask], groups[mask], options
        )
    else:
        out["equalized_odds_difference"] = None
        out["equalized_odds_difference_ci"] = None
    # AIF360-style ratio of the false-positive rates: smallest over largest.
    fpr = [
        float(frame.by_group.loc[g, "false_positive_rate"])
        for g in frame.by_group.index
        if ((groups == g) & (y == 0)).any()
    ]
    out["false_positive_rate_ratio"] = (min(fpr) / max(fpr)) if fpr and max(fpr) > 0 else None
    out["false_positive_rate_max_over_min"] = (
        (max(fpr) / min(fpr)) if fpr and min(fpr) > 0 else None
    )
    return out


def _histograms(
    scores: np.ndarray, y: np.ndarray, groups: np.ndarray
) -> dict[str, dict[str, list[int]]]:
    edges = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)
    out: dict[str, dict[str, list[int]]] = {}
    for g in sorted(np.unique(groups).tolist()):
        mask = groups == g
        out[str(g)] = {
            "real": np.histogram(scores[mask & (y == 0)], edges)[0].tolist(),
            "generated": np.histogram(scores[mask & (y == 1)], edges)[0].tolist(),
        }
    return out


def _errors(
    keys: list[str],
    index: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    scores: np.ndarray,
    threshold: float,
) -> dict[str, Any]:
    """One group's errors: how many, and the most and least confident of them."""
    wrong = np.flatnonzero(y != p)
    order = np.array(
        sorted(wrong.tolist(), key=lambda i: (-abs(scores[i] - threshold), keys[index[i]])),
        dtype=np.int64,
    )

    def rows(chosen: np.ndarray) -> list[dict[str, Any]]:
        return [
            {
                "image": keys[index[i]],
                "label": "generated" if y[i] == 1 else "real",
                "called": "AI" if p[i] == 1 else "real",
                "what": "real, called AI" if y[i] == 0 else "generated, called real",
                "p_ai": round(float(scores[i]), 4),
            }
            for i in chosen.tolist()
        ]

    shown = min(ERRORS_SHOWN, len(order))
    # The least confident are taken from what the most confident did not show already.
    least = order[shown:][::-1][: min(ERRORS_SHOWN, max(0, len(order) - shown))]
    return {
        "count": len(wrong),
        "false_positives": int(((y == 0) & (p == 1)).sum()),
        "false_negatives": int(((y == 1) & (p == 0)).sum()),
        "most_confident": rows(order[:shown]),
        "false_positive_examples": rows(np.array([i for i in order if y[i] == 0][:ERRORS_SHOWN])),
        "least_confident": rows(least),
    }


def _selection_rows(frame: Any, groups: np.ndarray, options: ReportOptions) -> list[dict[str, Any]]:
    by_group, (low, high) = frame.by_group, frame.by_group_ci
    rows = []
    for value in by_group.index:
        n = int((groups == value).sum())
        rows.append(
            {
                "group": str(value),
                "n": n,
                "n_real": None,
                "n_generated": None,
                "small_n": 0 < n < options.min_group_size,
                "selection_rate": _num(by_group.loc[value, "selection_rate"]),
                "selection_rate_ci": [
                    _num(low.loc[value, "selection_rate"]),
                    _num(high.loc[value, "selection_rate"]),
                ],
                "false_positive_rate": None,
                "false_positive_rate_ci": None,
                "true_positive_rate": None,
                "true_positive_rate_ci": None,
            }
        )
    return rows


def _parity(frame: Any, p: np.ndarray, groups: np.ndarray) -> dict[str, Any]:
    """Demographic parity from verdicts alone (fairlearn ignores ``y_true`` for it)."""
    from fairlearn.metrics import demographic_parity_difference, demographic_parity_ratio

    low_diff, high_diff = frame.difference_ci()
    low_ratio, high_ratio = frame.ratio_ci()
    return {
        "demographic_parity_difference": _num(
            demographic_parity_difference(p, p, sensitive_features=groups)
        ),
        "demographic_parity_difference_ci": [
            _num(low_diff["selection_rate"]),
            _num(high_diff["selection_rate"]),
        ],
        "demographic_parity_ratio": _num(demographic_parity_ratio(p, p, sensitive_features=groups)),
        "demographic_parity_ratio_ci": [
            _num(low_ratio["selection_rate"]),
            _num(high_ratio["selection_rate"]),
        ],
    }


def _without_labels(
    section: dict[str, Any],
    table: dict[str, np.ndarray],
    attributes: dict[str, list[str | None]],
    options: ReportOptions,
) -> dict[str, Any]:
    scope = np.flatnonzero(table["ok"] & (table["ai_label"] >= 0))
    section["labelled"] = False
    if len(scope) == 0:
        section["note"] = "The detector scored no image, so no rate can be computed."
        return section
    section["images_in_scope"] = len(scope)
    section["note"] = (
        f"No scored image has a real/generated label, so the rates that need ground truth "
        f"(false-positive and true-positive rates, equalized odds) are not shown. Selection "
        f"rate (the share the detector calls AI) and demographic parity need only its "
        f"verdicts: they are computed over all {len(scope):,} scored images."
    )
    p = table["ai_label"][scope].astype(np.int64)
    everyone = np.full(len(scope), "all", dtype=object)
    overall = _frame(p, p, everyone, options, labelled=False)
    row = _selection_rows(overall, everyone, options)[0]
    row.pop("group")
    section["overall"] = row
    for name, values in attributes.items():
        chosen = np.array([values[i] is not None for i in scope])
        if not chosen.any():
            continue
        groups = np.array([values[i] for i in scope[chosen]], dtype=object)
        pp = p[chosen]
        frame = _frame(pp, pp, groups, options, labelled=False)
        entry: dict[str, Any] = {
            "n": int(chosen.sum()),
            "images_without_value": int((~chosen).sum()),
            "groups": _selection_rows(frame, groups, options),
            "score_histograms": {
                str(g): {
                    "all": np.histogram(
                        table["p_ai"][scope[chosen]][groups == g],
                        np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1),
                    )[0].tolist()
                }
                for g in sorted(np.unique(groups).tolist())
            },
        }
        if len(np.unique(groups)) >= 2:
            entry.update(_parity(frame, pp, groups))
        section["by_attribute"][name] = entry
    return section


def detector_section(
    table: dict[str, np.ndarray],
    labels: list[str | None],
    families: list[str | None],
    attributes: dict[str, list[str | None]],
    detector_info: dict[str, Any],
    options: ReportOptions,
    keys: list[str] | None = None,
) -> dict[str, Any]:
    scored = table["ai_label"] >= 0
    known = np.array([label in ("real", "generated") for label in labels], dtype=bool)
    scope = np.flatnonzero(table["ok"] & scored & known)
    y_all = np.array([1 if label == "generated" else 0 for label in labels], dtype=np.int64)
    p_all = table["ai_label"].astype(np.int64)
    keys = keys if keys is not None else [str(path) for path in table["path"]]
    section: dict[str, Any] = {
        "detector": detector_info,
        "labelled": True,
        "images_scored": int((table["ok"] & scored).sum()),
        "images_in_scope": len(scope),
        "images_not_scored": int((table["ok"] & ~scored).sum()),
        "images_without_label": int((table["ok"] & scored & ~known).sum()),
        "positive_class": "generated (flagged AI)",
        "histogram_bins": np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1).round(4).tolist(),
        "by_attribute": {},
        "by_family": None,
        "overall": None,
    }
    if len(scope) == 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _without_labels(section, table, attributes, options)
    y, p = y_all[scope], p_all[scope]
    threshold = float(detector_info.get("threshold", 0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fam = np.array(
            ["real" if labels[i] == "real" else (families[i] or "(unknown family)") for i in scope],
            dtype=object,
        )
        family_frame = _frame(y, p, fam, options)
        section["by_family"] = _group_rows(family_frame, y, fam, options)
        section["overall"] = _overall(family_frame, y, options)
        for name, values in attributes.items():
            chosen = np.array([values[i] is not None for i in scope])
            if not chosen.any():
                continue
            groups = np.array([values[i] for i in scope[chosen]], dtype=object)
            yy, pp = y[chosen], p[chosen]
            frame = _frame(yy, pp, groups, options)
            rows = _group_rows(frame, yy, groups, options)
            scores = table["p_ai"][scope[chosen]]
            for row in rows:
                mask = groups == row["group"]
                row["errors"] = _errors(
                    keys, scope[chosen][mask], yy[mask], pp[mask], scores[mask], threshold
                )
            entry: dict[str, Any] = {
                "n": int(chosen.sum()),
                "images_without_value": int((~chosen).sum()),
                "groups": rows,
                "score_histograms": _histograms(scores, yy, groups),
            }
            if len(np.unique(groups)) >= 2:
                entry.update(_disparities(frame, yy, pp, groups, options))
            section["by_attribute"][name] = entry
    return section
