"""Section 4: how a detector treats each group -- the metrics are fairlearn's, not re-implemented.

The positive class is "generated" (the detector flags an image as AI). Over the images
with a known real/generated label and a detector score: per group, fairlearn's
``selection_rate`` (share flagged AI), ``false_positive_rate`` (real images flagged) and
``true_positive_rate`` (generated images caught) in a ``MetricFrame``;
``demographic_parity_difference`` / ``_ratio`` and ``equalized_odds_difference``, each fed
one row per (group, label, verdict) cell weighted by its count (:func:`compress`). Their
percentile-bootstrap intervals are drawn from counts (:class:`RateFrame`): resampling
images only moves the counts of each (group, label, verdict) cell, so a resample is one
multinomial draw, and a million images cost what a hundred do.

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


class RateFrame:
    """fairlearn's ``MetricFrame`` point estimates, with percentile-bootstrap intervals
    drawn from counts.

    Every metric here is a function of how many images of each group fall in each of the
    four (label, verdict) cells, so resampling the n images with replacement is a draw of
    those cell counts from the multinomial with the observed shares: what fairlearn's own
    ``n_boot`` does row by row (a pandas frame per resample, whose cost grows with n),
    drawn directly. The resamples are read as fairlearn reads its own: a rate a resample
    leaves without images of its class is 0 (scikit-learn's normalised confusion
    matrix), a group the resample lost is left out (``nanquantile``), and differences and
    ratios are taken between the groups a resample has. Exposes the parts of
    ``MetricFrame`` the report reads.
    """

    def __init__(
        self,
        y: np.ndarray,
        p: np.ndarray,
        groups: np.ndarray,
        options: ReportOptions,
        labelled: bool = True,
    ) -> None:
        import pandas as pd
        from fairlearn.metrics import (
            MetricFrame,
            false_positive_rate,
            selection_rate,
            true_positive_rate,
        )

        metrics: dict[str, Any] = {"selection_rate": selection_rate}
        if labelled:
            metrics |= {
                "false_positive_rate": false_positive_rate,
                "true_positive_rate": true_positive_rate,
            }
        cy, cp, cg, weights = compress(y, p, groups)
        frame = MetricFrame(
            metrics=metrics,
            y_true=cy,
            y_pred=cp,
            sensitive_features=cg,
            sample_params={name: {"sample_weight": weights} for name in metrics},
        )
        self.by_group, self.overall = frame.by_group, frame.overall
        names = list(self.by_group.columns)
        index = self.by_group.index
        alpha = (1.0 - options.confidence) / 2.0
        quantiles = [alpha, 1.0 - alpha]
        draws = _cell_draws(y, p, index.get_indexer(groups), len(index), options, options.seed)
        by_group = _rates(draws)
        overall = _rates(draws.sum(axis=1))
        self.by_group_ci = [
            pd.DataFrame({m: np.nanquantile(by_group[m], q, axis=0) for m in names}, index=index)
            for q in quantiles
        ]
        self.overall_ci = [
            pd.Series({m: np.quantile(overall[m], q) for m in names}) for q in quantiles
        ]
        with np.errstate(invalid="ignore", divide="ignore"):
            high = {m: np.nanmax(by_group[m], axis=1) for m in names}
            low = {m: np.nanmin(by_group[m], axis=1) for m in names}
            differences = {m: high[m] - low[m] for m in names}
            ratios = {m: low[m] / high[m] for m in names}
        self._difference_ci = [
            pd.Series({m: np.quantile(differences[m], q) for m in names}) for q in quantiles
        ]
        self._ratio_ci = [
            pd.Series({m: np.quantile(ratios[m], q) for m in names}) for q in quantiles
        ]

    def difference_ci(self) -> list[Any]:
        return self._difference_ci

    def ratio_ci(self) -> list[Any]:
        return self._ratio_ci


def compress(
    y: np.ndarray, p: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[Any], np.ndarray]:
    """One row per (group, label, verdict) cell that holds images, weighted by how many:
    every metric here reads only those counts, and fairlearn computes them per row."""
    values, index = np.unique(np.asarray(groups), return_inverse=True)
    cells = np.bincount(index.ravel() * 4 + y * 2 + p, minlength=len(values) * 4)
    held = np.flatnonzero(cells)
    # A list: fairlearn squeezes a one-element array of groups to a scalar, and refuses it.
    return (
        (held // 2) % 2,
        held % 2,
        values[held // 4].tolist(),
        cells[held].astype(np.float64),
    )


def _cell_draws(
    y: np.ndarray,
    p: np.ndarray,
    group_index: np.ndarray,
    n_groups: int,
    options: ReportOptions,
    seed: int,
) -> np.ndarray:
    """Bootstrap resamples as counts: shape (resamples, groups, label, verdict)."""
    cells = np.bincount(group_index * 4 + y * 2 + p, minlength=n_groups * 4)
    n = int(cells.sum())
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, cells / n, size=options.bootstrap)
    return draws.reshape(options.bootstrap, n_groups, 2, 2)


def _rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Selection, false-positive and true-positive rates from (..., label, verdict) counts;
    NaN where there are no images at all."""
    n = counts.sum(axis=(-1, -2))
    negatives = counts[..., 0, :].sum(axis=-1)
    positives = counts[..., 1, :].sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "selection_rate": (counts[..., 0, 1] + counts[..., 1, 1]) / n,
            "false_positive_rate": np.where(negatives > 0, counts[..., 0, 1] / negatives, 0.0),
            "true_positive_rate": np.where(positives > 0, counts[..., 1, 1] / positives, 0.0),
        }
    return {name: np.where(n > 0, values, np.nan) for name, values in out.items()}


def equalized_odds_from_counts(counts: np.ndarray) -> np.ndarray:
    """fairlearn's ``equalized_odds_difference`` ("worst_case": the larger of the
    between-group differences of the true- and false-positive rates) from
    (..., groups, label, verdict) counts."""
    rates = _rates(counts)
    tpr, fpr = rates["true_positive_rate"], rates["false_positive_rate"]
    return np.maximum(
        np.nanmax(tpr, axis=-1) - np.nanmin(tpr, axis=-1),
        np.nanmax(fpr, axis=-1) - np.nanmin(fpr, axis=-1),
    )


def _frame(
    y: np.ndarray,
    p: np.ndarray,
    groups: np.ndarray,
    options: ReportOptions,
    labelled: bool = True,
) -> RateFrame:
    return RateFrame(y, p, groups, options, labelled)


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
    """Equalized-odds difference (the larger of the between-group differences of the
    true- and false-positive rates, fairlearn's "worst_case") over resamples drawn as
    counts, as :class:`RateFrame` draws them."""
    values, index = np.unique(groups, return_inverse=True)
    draws = _cell_draws(y, p, index.ravel(), len(values), options, options.seed + 1)
    negatives = draws[..., 0, :].sum(axis=-1)
    positives = draws[..., 1, :].sum(axis=-1)
    # A resample that loses every real or every generated image of a group has no
    # defined rate there; such resamples are skipped, not scored as zero.
    complete = (negatives > 0).all(axis=1) & (positives > 0).all(axis=1)
    if int(complete.sum()) < max(10, options.bootstrap // 2):
        return None
    eod = equalized_odds_from_counts(draws[complete])
    alpha = (1.0 - options.confidence) / 2.0
    return [float(np.quantile(eod, alpha)), float(np.quantile(eod, 1.0 - alpha))]


def _disparities(
    frame: Any, y: np.ndarray, p: np.ndarray, groups: np.ndarray, options: ReportOptions
) -> dict[str, Any]:
    from fairlearn.metrics import (
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
    )

    cy, cp, cg, weights = compress(y, p, groups)
    low_diff, high_diff = frame.difference_ci()
    low_ratio, high_ratio = frame.ratio_ci()
    out: dict[str, Any] = {
        "demographic_parity_difference": _num(
            demographic_parity_difference(cy, cp, sensitive_features=cg, sample_weight=weights)
        ),
        "demographic_parity_difference_ci": [
            _num(low_diff["selection_rate"]),
            _num(high_diff["selection_rate"]),
        ],
        "demographic_parity_ratio": _num(
            demographic_parity_ratio(cy, cp, sensitive_features=cg, sample_weight=weights)
        ),
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
        ey, ep, eg, eweights = compress(y[mask], p[mask], groups[mask])
        out["equalized_odds_difference"] = _num(
            equalized_odds_difference(ey, ep, sensitive_features=eg, sample_weight=eweights)
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

    _, cp, cg, weights = compress(p, p, groups)
    low_diff, high_diff = frame.difference_ci()
    low_ratio, high_ratio = frame.ratio_ci()
    return {
        "demographic_parity_difference": _num(
            demographic_parity_difference(cp, cp, sensitive_features=cg, sample_weight=weights)
        ),
        "demographic_parity_difference_ci": [
            _num(low_diff["selection_rate"]),
            _num(high_diff["selection_rate"]),
        ],
        "demographic_parity_ratio": _num(
            demographic_parity_ratio(cp, cp, sensitive_features=cg, sample_weight=weights)
        ),
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
