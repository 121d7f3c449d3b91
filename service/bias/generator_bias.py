"""Section 5: does each generator family reproduce the attribute mix it was trained on?

For every family and attribute, the distribution of the family's outputs is compared with
that of the real images (the data generators here are trained on; ``training_split``
narrows it to one split): total-variation distance and a chi-square test of homogeneity
on the 2 x k table of counts (scipy's ``chi2_contingency``).

Generated images rarely carry attribute labels. Those without one get a value from a small
attribute classifier (scikit-learn logistic regression on 8x8 colour layout, channel
means/stds and edge energy) trained on the labelled real images; the report says which
counts were assigned this way and shows the classifier's accuracy on real images it did
not see (a 25 % stratified hold-out), next to the majority-class baseline.
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import numpy as np

from service.bias.options import ReportOptions

MIN_CLASSIFIER_IMAGES = 10
HOLDOUT = 0.25
# A classifier no better than guessing would invent a skew: its values are used only when
# its hold-out balanced accuracy beats chance (1 / number of values) by this much.
MIN_MARGIN_OVER_CHANCE = 0.2
# The classifier trains on at most this many real images (a seeded sample of them): its
# hold-out accuracy no longer moves, and the driver keeps feature vectors for these only.
MAX_TRAINING_IMAGES = 20_000


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    return float(0.5 * np.abs(p - q).sum())


def compare(family_counts: np.ndarray, training_counts: np.ndarray) -> dict[str, Any]:
    from scipy.stats import chi2_contingency

    p = family_counts / family_counts.sum() if family_counts.sum() else family_counts * 0.0
    q = training_counts / training_counts.sum() if training_counts.sum() else training_counts * 0.0
    table = np.vstack([family_counts, training_counts])
    table = table[:, table.sum(axis=0) > 0]
    out: dict[str, Any] = {"total_variation": total_variation(p, q)}
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        out.update(chi2=None, dof=None, p_value=None, chi2_reliable=False)
        return out
    result = chi2_contingency(table, correction=False)
    out.update(
        chi2=float(result.statistic),
        dof=int(result.dof),
        p_value=float(result.pvalue),
        # Cochran's rule: the chi-square approximation needs expected counts of 5 or more.
        chi2_reliable=bool((result.expected_freq >= 5).all()),
    )
    return out


def train_attribute_classifier(
    features: np.ndarray, values: list[str], seed: int
) -> tuple[Any, dict[str, Any]]:
    """A held-out-evaluated classifier, or ``(None, reason)`` when the data cannot support one."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    counts = Counter(values)
    classes = sorted(counts)
    info: dict[str, Any] = {
        "model": "StandardScaler + LogisticRegression on 8x8 RGB layout, channel "
        "mean/std, edge energy",
        "classes": classes,
        "images": len(values),
    }
    if len(classes) < 2 or len(values) < MIN_CLASSIFIER_IMAGES or min(counts.values()) < 2:
        info["trained"] = False
        info["reason"] = (
            f"needs at least {MIN_CLASSIFIER_IMAGES} labelled real images and 2 of each of at "
            f"least 2 values; has {len(values)} images, counts {dict(sorted(counts.items()))}"
        )
        return None, info
    y = np.array(values, dtype=object)
    x_train, x_test, y_train, y_test = train_test_split(
        features, y, test_size=HOLDOUT, stratify=y, random_state=seed
    )
    if len(set(y_test)) < 2:
        info["trained"] = False
        info["reason"] = "the hold-out split lacks a value"
        return None, info
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x_train, y_train)
    predicted = model.predict(x_test)
    majority = Counter(y_train).most_common(1)[0][0]
    balanced = float(balanced_accuracy_score(y_test, predicted))
    chance = 1.0 / len(classes)
    info.update(
        trained=True,
        chance_accuracy=chance,
        usable=balanced - chance >= MIN_MARGIN_OVER_CHANCE,
        train_images=len(y_train),
        heldout_images=len(y_test),
        heldout_accuracy=float(accuracy_score(y_test, predicted)),
        heldout_balanced_accuracy=balanced,
        majority_baseline_accuracy=float(np.mean(y_test == majority)),
        confusion_matrix={
            "labels": classes,
            "rows_true_columns_predicted": confusion_matrix(
                y_test, predicted, labels=classes
            ).tolist(),
        },
    )
    if not info["usable"]:
        info["reason"] = (
            f"hold-out balanced accuracy {balanced:.2f} is within {MIN_MARGIN_OVER_CHANCE} of "
            f"chance ({chance:.2f}): too weak to assign values, so they are left unassigned"
        )
        return None, info
    return model, info


def _source(labelled: bool, classified: bool) -> str:
    if labelled and classified:
        return "labels and classifier"
    if classified:
        return "classifier"
    return "labels" if labelled else "none"


def images_needing_features(
    labels: list[str | None], attributes: list[dict[str, str]], seed: int = 0
) -> np.ndarray:
    """Which images' feature vectors the attribute classifier may read: for each attribute
    some generated image lacks, the real images that have it (to train on; a seeded sample
    of ``MAX_TRAINING_IMAGES`` where there are more) and the generated images that lack it
    (to assign). Known before any image is read."""
    names = {name for values in attributes for name in values}
    missing = {
        name
        for name in names
        for label, values in zip(labels, attributes, strict=True)
        if label == "generated" and values.get(name) is None
    }
    keep = np.array(
        [
            bool(missing)
            and (
                (label == "real" and any(values.get(n) is not None for n in missing))
                or (label == "generated" and any(values.get(n) is None for n in missing))
            )
            for label, values in zip(labels, attributes, strict=True)
        ],
        dtype=bool,
    )
    real = np.flatnonzero(keep & np.array([label == "real" for label in labels], dtype=bool))
    if len(real) > MAX_TRAINING_IMAGES:
        chosen = np.random.default_rng(seed).choice(real, MAX_TRAINING_IMAGES, replace=False)
        keep[np.setdiff1d(real, chosen)] = False
    return keep


def feature_rows(table: dict[str, np.ndarray], images: list[int]) -> np.ndarray:
    """The feature vectors of ``images`` (image indices) from the thinned column."""
    row_of = np.full(len(table["ok"]), -1, np.int64)
    row_of[table["features_index"]] = np.arange(len(table["features_index"]))
    rows = row_of[np.asarray(images, dtype=np.int64)]
    if (rows < 0).any():
        raise AssertionError("a feature vector the classifier needs was not kept")
    return table["features"][rows]


def generator_section(
    table: dict[str, np.ndarray],
    labels: list[str | None],
    families: list[str | None],
    splits: list[str],
    attributes: dict[str, list[str | None]],
    options: ReportOptions,
) -> dict[str, Any]:
    ok = table["ok"]
    generated = [i for i in np.flatnonzero(ok).tolist() if labels[i] == "generated"]
    reference = [
        i
        for i in np.flatnonzero(ok).tolist()
        if labels[i] == "real"
        and (options.training_split is None or splits[i] == options.training_split)
    ]
    section: dict[str, Any] = {
        "reference": {
            "description": "real images"
            + (f" of split {options.training_split!r}" if options.training_split else ""),
            "n": len(reference),
        },
        "classifiers": {},
        "families": {},
    }
    if not generated:
        section["note"] = "No generated images (labels.jsonl, 1_fake folders or a label column)."
        return section
    if not attributes:
        section["note"] = "No attributes to compare (pass --attributes or --folder-attributes)."
    by_family: dict[str, list[int]] = {}
    for i in generated:
        by_family.setdefault(families[i] or "(unknown family)", []).append(i)
    models: dict[str, Any] = {}
    has_features = np.zeros(len(ok), bool)
    has_features[table["features_index"]] = True
    real_all = [i for i in np.flatnonzero(ok).tolist() if labels[i] == "real"]
    for name, values in attributes.items():
        if any(values[i] is None for i in generated):
            # Only the real images whose features were kept: all of them, or the sample
            # images_needing_features drew where there are more than MAX_TRAINING_IMAGES.
            labelled = [i for i in real_all if values[i] is not None and has_features[i]]
            model, info = train_attribute_classifier(
                feature_rows(table, labelled), [values[i] for i in labelled], options.seed
            )
            models[name] = model
            section["classifiers"][name] = info
    for family, members in sorted(by_family.items()):
        entry: dict[str, Any] = {"n": len(members), "attributes": {}}
        for name, values in attributes.items():
            given = [values[i] for i in members if values[i] is not None]
            unlabelled = [i for i in members if values[i] is None]
            assigned: list[str] = []
            model = models.get(name)
            if unlabelled and model is not None:
                assigned = [str(v) for v in model.predict(feature_rows(table, unlabelled))]
            training = [values[i] for i in reference if values[i] is not None]
            outputs = given + assigned
            categories = sorted(set(training) | set(outputs))
            fam_counts = np.array([outputs.count(c) for c in categories], dtype=np.float64)
            ref_counts = np.array([training.count(c) for c in categories], dtype=np.float64)
            result: dict[str, Any] = {
                "labelled": len(given),
                "classified": len(assigned),
                "unassigned": len(unlabelled) - len(assigned),
                "source": _source(bool(given), bool(assigned)),
                "values": categories,
                "output_counts": fam_counts.astype(int).tolist(),
                "training_counts": ref_counts.astype(int).tolist(),
                "output_shares": (fam_counts / fam_counts.sum()).tolist()
                if fam_counts.sum()
                else None,
                "training_shares": (ref_counts / ref_counts.sum()).tolist()
                if ref_counts.sum()
                else None,
            }
            if fam_counts.sum() and ref_counts.sum():
                result.update(compare(fam_counts, ref_counts))
                gap = fam_counts / fam_counts.sum() - ref_counts / ref_counts.sum()
                result["most_over_represented"] = categories[int(np.argmax(gap))]
                result["over_representation"] = float(gap.max())
            else:
                result["note"] = (
                    "no attribute values for this family's outputs"
                    if not fam_counts.sum()
                    else "no labelled real images to compare with"
                )
            entry["attributes"][name] = result
        section["families"][family] = entry
    return section
