"""Building the whole report, and writing ``report.json``, ``report.html`` and ``images.csv``.

The HTML is rendered from the JSON document alone (plus plots drawn from it), so every
number on the page is in ``report.json``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from provenance import __version__
from service.bias.dataset import Dataset, scan_dataset
from service.bias.datasheet import datasheet_section
from service.bias.definitions import SKIN_TONE_NOTE, definitions
from service.bias.engine import Progress, run_map
from service.bias.fairness import detector_section
from service.bias.generator_bias import generator_section, images_needing_features
from service.bias.mitigation import mitigation_section
from service.bias.options import BiasReportError, ReportOptions
from service.bias.privacy import (
    check_consent_banks,
    largest_face_share,
    metadata_kinds,
    privacy_findings,
    privacy_section,
)
from service.bias.quality import quality_section
from service.bias.representation import read_reference, representation_section

REPORT_JSON, REPORT_HTML, IMAGES_CSV = "report.json", "report.html", "images.csv"
SCHEMA = "provaudit-bias-report/1"
Log = Callable[[str], None]
FLAG_NAMES = ("dark", "over_bright", "blurry", "low_information")
Stage = Callable[[str], None]


def _detector_info(path: Path | None) -> dict[str, Any] | None:
    """Check the checkpoint before any image is read; what the report says about it."""
    if path is None:
        return None
    from detectors.checkpoint import read_checkpoint, verified_onnx_path

    info = read_checkpoint(path)
    verified_onnx_path(info, required=True)
    spec = info.spec
    return {
        "checkpoint": str(info.directory),
        "arch": spec.arch,
        "transform": spec.transform,
        "image_size": spec.image_size,
        "families": spec.families,
        "threshold": spec.threshold,
        "temperature": spec.temperature,
        "backend": "onnxruntime",
    }


@dataclass
class Finding:
    """One headline fact, readable on its own: its sentence (with its number and, where it
    has one, its interval), where in the page it is shown and which images show it."""

    sentence: str
    section: str
    anchor: str
    images: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pct_ci(value: float, ci: list[float | None] | None, level: str) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return f"{value:.1%}"
    return f"{value:.1%} ({level} CI {ci[0]:.1%}–{ci[1]:.1%})"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _findings(report: dict[str, Any]) -> list[Finding]:
    """The headline facts, each traceable to a number elsewhere in the report."""
    out: list[Finding] = []
    level = f"{report['meta']['options'].get('confidence', 0.95):.0%}"
    sheet = report["datasheet"]
    if sheet["unreadable_images"]:
        n = sheet["unreadable_images"]
        out.append(
            Finding(
                f"{_plural(n, 'image file')} of {sheet['image_files']:,} could not be read and "
                "are left out of every other measure; the list with the reason for each is in "
                "section 1.",
                "datasheet",
                "unreadable",
            )
        )
    for k, (name, entry) in enumerate(report["representation"]["attributes"].items(), 1):
        for row in entry["rows"]:
            if row["ratio_to_uniform"] is not None and row["ratio_to_uniform"] < 0.5:
                out.append(
                    Finding(
                        f"{name}={row['value']} is under-represented: {row['n']:,} of "
                        f"{entry['n']:,} images have it, a share of "
                        f"{_pct_ci(row['share'], [row['ci_low'], row['ci_high']], level)}, "
                        f"{row['ratio_to_uniform']:.2f}x the share each of "
                        f"the {len(entry['rows'])} values would have if they were equal"
                        + ("; few images, so the interval is wide." if row["small_n"] else "."),
                        "representation",
                        f"attribute-{k}",
                    )
                )
    quality = report["quality"]
    exact = quality["exact_duplicates"]
    if exact["group_count"]:
        out.append(
            Finding(
                f"{_plural(exact['group_count'], 'group')} of identical images (same decoded "
                f"pixels, in any file format) hold {exact['images_in_groups']:,} images; "
                f"{_plural(exact['redundant_copies'], 'copy', 'copies')} can be dropped.",
                "quality",
                "exact-1",
                exact["groups"][0][:6],
            )
        )
    near = quality["near_duplicates"]
    if near["cluster_count"]:
        out.append(
            Finding(
                f"{_plural(near['cluster_count'], 'cluster')} of near-duplicates (edited copies "
                f"of one picture: {near['hash'].upper()} hashes within {near['radius']} bits) "
                f"hold {near['images_in_clusters']:,} images; one per cluster is worth keeping.",
                "quality",
                "near-1",
                near["clusters"][0]["images"][:6],
            )
        )
    leakage = quality["leakage"]
    if leakage["pair_count"]:
        pairs = ", ".join(
            f"{v:,} between {k.split('/')[0]} and {k.split('/')[1]}"
            for k, v in leakage["by_split_pair"].items()
        )
        first = leakage["pairs"][0]
        out.append(
            Finding(
                f"{_plural(leakage['pair_count'], 'image')} in one split "
                f"{'is a copy' if leakage['pair_count'] == 1 else 'are copies'} of an image in "
                f"another ({pairs}): a model evaluated on such a split is tested on pictures it "
                "was trained on.",
                "quality",
                "leak-1",
                [first["a"], first["b"]],
            )
        )
    thresholds = quality["flags"]["thresholds"]
    meaning = {
        "dark": f"mean brightness (luma) below {thresholds['dark_mean_luma_below']:g} of white",
        "over_bright": f"mean brightness above {thresholds['over_bright_mean_luma_above']:g}",
        "blurry": f"sharpness (Laplacian variance) below {thresholds['blurry_sharpness_below']:g}",
        "low_information": "luma entropy below "
        f"{thresholds['low_information_entropy_bits_below']:g} bits, a flat or nearly flat image",
    }
    for flag in ("dark", "over_bright", "blurry", "low_information"):
        entry = quality["flags"][flag]
        if entry["count"]:
            out.append(
                Finding(
                    f"{_plural(entry['count'], 'image')} ({entry['share']:.1%} of the readable "
                    f"ones) {'is' if entry['count'] == 1 else 'are'} flagged "
                    f"{flag.replace('_', ' ')} ({meaning[flag]}).",
                    "quality",
                    f"flag-{flag}",
                    entry["images"][:6],
                )
            )
    detector = report.get("detector") or {}
    for k, (name, entry) in enumerate((detector.get("by_attribute") or {}).items(), 1):
        groups = entry["groups"]
        if detector.get("labelled", True):
            ratio = entry.get("false_positive_rate_max_over_min")
            if ratio is None or ratio < 1.25:
                continue
            rates = [g for g in groups if g["false_positive_rate"] is not None]
            worst = max(rates, key=lambda g: g["false_positive_rate"])
            best = min(rates, key=lambda g: g["false_positive_rate"])
            j = groups.index(worst) + 1
            errors = worst.get("errors") or {}
            high_text = _pct_ci(
                worst["false_positive_rate"], worst["false_positive_rate_ci"], level
            )
            low_text = _pct_ci(best["false_positive_rate"], best["false_positive_rate_ci"], level)
            out.append(
                Finding(
                    f"The detector calls real images of {name}={worst['group']} AI at "
                    f"{high_text} vs {low_text}"
                    f" for {name}={best['group']}: {ratio:.1f}x the false-positive rate.",
                    "detector",
                    f"errors-{k}-{j}",
                    [row["image"] for row in errors.get("false_positive_examples", [])],
                )
            )
            continue
        ratio = entry.get("demographic_parity_ratio")
        diff_ci = entry.get("demographic_parity_difference_ci") or [None, None]
        if ratio is None:
            continue
        if ratio >= 0.8 and not (diff_ci[0] is not None and diff_ci[0] > 0):
            continue
        rated = [g for g in groups if g["selection_rate"] is not None]
        high = max(rated, key=lambda g: g["selection_rate"])
        low = min(rated, key=lambda g: g["selection_rate"])
        ratio_ci = entry.get("demographic_parity_ratio_ci") or [None, None]
        ratio_text = (
            f"{ratio:.2f} ({ratio_ci[0]:.2f}–{ratio_ci[1]:.2f})"
            if ratio_ci[0] is not None and ratio_ci[1] is not None
            else f"{ratio:.2f}"
        )
        out.append(
            Finding(
                f"Without ground-truth labels, the detector calls "
                f"{_pct_ci(high['selection_rate'], high['selection_rate_ci'], level)} of "
                f"{name}={high['group']} images AI vs "
                f"{_pct_ci(low['selection_rate'], low['selection_rate_ci'], level)} of "
                f"{name}={low['group']} images: demographic parity difference "
                f"{entry['demographic_parity_difference']:.2f}"
                + (
                    f" ({diff_ci[0]:.2f}–{diff_ci[1]:.2f})"
                    if diff_ci[0] is not None and diff_ci[1] is not None
                    else ""
                )
                + f", ratio {ratio_text} ({level} CIs; a ratio below 0.8 fails the four-fifths "
                "rule). Whether this is bias or a real difference in how many images are AI "
                "needs labels to tell.",
                "detector",
                "detector",
            )
        )
    for family, entry in (report["generator_bias"].get("families") or {}).items():
        for name, result in entry["attributes"].items():
            p_value = result.get("p_value")
            if p_value is not None and p_value < 0.05 and result["total_variation"] >= 0.1:
                out.append(
                    Finding(
                        f"Generator {family} over-produces {name}="
                        f"{result['most_over_represented']}: "
                        f"+{result['over_representation']:.0%} points over its share of the "
                        f"training images (total variation distance "
                        f"{result['total_variation']:.2f}, chi-square p={p_value:.2g})"
                        + (
                            ", with values assigned by the attribute classifier."
                            if result["classified"]
                            else "."
                        ),
                        "generators",
                        "generators",
                    )
                )
    return out


def build_report(
    options: ReportOptions,
    progress: Progress | None = None,
    log: Log | None = None,
    ray_init: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], Dataset, dict[str, np.ndarray]]:
    """The report document, the dataset it covers and the per-image columns."""
    started = time.perf_counter()
    say = log or (lambda _message: None)
    options.validate()
    dataset = scan_dataset(options)
    reference = read_reference(options.reference_file, dataset.attribute_names)
    detector = _detector_info(options.detector)
    check_consent_banks(options.consent_banks, options.registry)
    if options.training_split and options.training_split not in dataset.split_names:
        raise BiasReportError(
            f"--training-split {options.training_split!r} is not a split of this dataset "
            f"(splits: {', '.join(dataset.split_names)})."
        )
    say(f"{len(dataset.entries)} image files in {len(dataset.split_names)} split(s)")
    keep_features = images_needing_features(
        [entry.label for entry in dataset.entries],
        [entry.attributes for entry in dataset.entries],
        options.seed,
    )
    table = run_map(
        [str(entry.path) for entry in dataset.entries],
        keep_features=keep_features,
        engine=options.engine,
        detector=str(options.detector) if options.detector else None,
        batch_size=options.batch_size,
        workers=options.workers,
        progress=progress,
        ray_init=ray_init,
    )
    mapped = time.perf_counter()
    report = aggregate_report(
        options, dataset, table, detector=detector, reference=reference, log=say
    )
    report["meta"]["seconds"] = {
        "per_image_stage": round(mapped - started, 3),
        "total": round(time.perf_counter() - started, 3),
    }
    return report, dataset, table


def aggregate_report(
    options: ReportOptions,
    dataset: Dataset,
    table: dict[str, np.ndarray],
    *,
    detector: dict[str, Any] | None = None,
    reference: dict[str, dict[str, float]] | None = None,
    log: Log | None = None,
    stage: Stage | None = None,
) -> dict[str, Any]:
    """The report document from the per-image columns alone (in ``dataset.entries``
    order): the same code after either engine. ``stage(name)`` is called as each part is
    done (the scale bench times them)."""
    say = log or (lambda _message: None)
    done = stage or (lambda _name: None)
    reference = reference or {}
    entries = dataset.entries
    keys = [entry.key for entry in entries]
    labels = [entry.label for entry in entries]
    families = [entry.family for entry in entries]
    splits = [entry.split for entry in entries]
    ok = table["ok"].tolist()
    # Unreadable images are counted in the datasheet and nowhere else.
    attributes = {
        name: [entry.attributes.get(name) if ok[i] else None for i, entry in enumerate(entries)]
        for name in dataset.attribute_names
    }
    done("columns")
    say("aggregating: representation, duplicates, leakage, quality")
    representation = representation_section(
        {
            name: [values[i] for i in range(len(entries)) if ok[i]]
            for name, values in attributes.items()
        },
        options,
        reference,
    )
    done("representation")
    quality = quality_section(table, keys, splits, dataset.split_names, options, done)
    done("quality")
    detector_part = None
    if detector is not None:
        say("detector metrics with fairlearn")
        detector_part = detector_section(
            table, labels, families, attributes, detector, options, keys
        )
    done("detector")
    say("generator output bias")
    generator = generator_section(table, labels, families, splits, attributes, options)
    done("generator")
    mitigation = mitigation_section(
        representation, quality.exact_groups, quality.clusters, quality.leaks, keys
    )
    done("mitigation")
    datasheet = datasheet_section(dataset, table, labels, families)
    done("datasheet")
    privacy = privacy_section(
        table,
        keys,
        options.consent_banks,
        options.registry,
        [entry.path for entry in entries],
        options.scrub_out,
    )
    done("privacy")
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "meta": {
            "provaudit": __version__,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "dataset": str(dataset.root),
            "options": options.to_dict(),
            "engine": options.engine,
            "seconds": {"per_image_stage": None, "total": None},
            "skin_tone": SKIN_TONE_NOTE,
        },
        "definitions": definitions(options),
        "datasheet": datasheet,
        "representation": representation,
        "quality": quality.section,
        "detector": detector_part,
        "generator_bias": generator,
        "mitigation": mitigation,
        "privacy": privacy,
    }
    findings = _findings(report) + [
        Finding(sentence, "privacy", "privacy") for sentence in privacy_findings(report["privacy"])
    ]
    report["findings"] = [finding.sentence for finding in findings]
    report["findings_detail"] = [finding.to_dict() for finding in findings]
    done("findings")
    report = _clean(report)
    done("json_safe")
    return report


def _clean(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN/inf to null."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_images_csv(
    path: Path, report: dict[str, Any], dataset: Dataset, table: dict[str, np.ndarray]
) -> None:
    """One row per image: what the report found about it, for filtering and reweighting.

    Built column by column (a million rows), then written row by row."""
    names = dataset.attribute_names
    entries = dataset.entries
    n = len(entries)
    keys = [entry.key for entry in entries]
    position = {key: i for i, key in enumerate(keys)}
    quality = report["quality"]

    def cells(pairs: Any) -> list[Any]:
        """A column blank but where ``pairs`` (key, value) put a value."""
        column: list[Any] = [""] * n
        for key, value in pairs:
            column[position[key]] = value
        return column

    def flag(images: list[str]) -> list[int]:
        column = [0] * n
        for key in images:
            column[position[key]] = 1
        return column

    ok = table["ok"].tolist()
    weights = report["mitigation"]["reweighting"]
    uniform = {name: weights.get(name, {}).get("uniform", {}) for name in names}
    attributes = {name: [entry.attributes.get(name) for entry in entries] for name in names}
    consent: dict[str, list[dict[str, Any]]] = {}
    for match in report["privacy"]["consent"]["matches"]:
        consent.setdefault(match["image"], []).append(match)
    widths, heights = table["width"].tolist(), table["height"].tolist()
    faces = table["faces"].tolist()
    face_sizes = table["face_sizes"].tolist()
    fields = [str(value) for value in table["personal_metadata"].tolist()]
    do_not_train = table["do_not_train"].tolist()
    signers = table["training_signer"].tolist()
    # A list, not a dict: an attribute may share its name with a column.
    columns: list[tuple[str, list[Any]]] = [
        ("image", keys),
        ("split", [entry.split for entry in entries]),
        ("label", [entry.label or "" for entry in entries]),
        ("family", [entry.family or "" for entry in entries]),
        *[(name, [v if v is not None else "" for v in attributes[name]]) for name in names],
        ("readable", [int(v) for v in ok]),
        ("error", table["error"].tolist()),
        ("format", table["format"].tolist()),
        ("width", [w or "" for w in widths]),
        ("height", [h or "" for h in heights]),
        ("c2pa_state", table["c2pa_state"].tolist()),
        ("declares_ai", (table["c2pa_ai"] | table["iptc_ai"]).astype(np.int64).tolist()),
        *[(name, flag(quality["flags"][name]["images"])) for name in FLAG_NAMES],
        (
            "exact_group",
            cells(
                (key, i)
                for i, group in enumerate(quality["exact_duplicates"]["groups"])
                for key in group
            ),
        ),
        (
            "near_cluster",
            cells(
                (key, i)
                for i, cluster in enumerate(quality["near_duplicates"]["clusters"])
                for key in cluster["images"]
            ),
        ),
        ("drop", cells((row["image"], row["reason"]) for row in report["mitigation"]["drops"])),
        ("p_ai", [round(p, 6) if p == p else "" for p in table["p_ai"].tolist()]),
        ("flagged_ai", [v if v >= 0 else "" for v in table["ai_label"].tolist()]),
        *[
            (
                f"weight_{name}",
                [_weight(uniform[name], v, ok[i]) for i, v in enumerate(attributes[name])],
            )
            for name in names
        ],
        # Section 7 per image; blank where not checked (unreadable, or no OpenCV).
        ("faces", [f if ok[i] and f >= 0 else "" for i, f in enumerate(faces)]),
        (
            "largest_face_share",
            [
                _share(largest_face_share(sizes, widths[i], heights[i])) if sizes else ""
                for i, sizes in enumerate(face_sizes)
            ],
        ),
        ("personal_metadata", [";".join(metadata_kinds(f)) if f else "" for f in fields]),
        ("personal_metadata_fields", fields),
        (
            "consent_bank",
            cells((key, ";".join(m["bank"] for m in found)) for key, found in consent.items()),
        ),
        (
            "consent_bank_item",
            cells(
                (key, ";".join(str(m["bank_content_id"]) for m in found))
                for key, found in consent.items()
            ),
        ),
        ("do_not_train", [int(v) for v in do_not_train]),
        ("training_signer", [str(x) if do_not_train[i] else "" for i, x in enumerate(signers)]),
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([name for name, _ in columns])
        writer.writerows(zip(*(column for _, column in columns), strict=True))


def _share(value: float | None) -> Any:
    return "" if value is None else round(value, 6)


def _weight(weights: dict[str, float | None], value: str | None, ok: bool) -> Any:
    if not ok or value is None or weights.get(value) is None:
        return ""
    return round(float(weights[value]), 6)  # type: ignore[arg-type]


def write_report(
    report: dict[str, Any],
    out_dir: Path,
    dataset: Dataset | None = None,
    table: dict[str, np.ndarray] | None = None,
) -> dict[str, Path]:
    """``report.json``, ``report.html`` (self-contained) and, with the table, ``images.csv``."""
    from service.bias.html import pictured_keys, render_html
    from service.bias.thumbs import make_thumbnails

    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"json": out_dir / REPORT_JSON, "html": out_dir / REPORT_HTML}
    written["json"].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", "utf-8")
    thumbnails = None
    if dataset is not None:
        # Only the images the page shows are read again, from where the dataset lies.
        paths = {entry.key: entry.path for entry in dataset.entries}
        thumbnails = make_thumbnails(pictured_keys(report), paths)
    written["html"].write_text(render_html(report, thumbnails), "utf-8")
    if dataset is not None and table is not None:
        written["csv"] = out_dir / IMAGES_CSV
        write_images_csv(written["csv"], report, dataset, table)
    return written
