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
from pathlib import Path
from typing import Any

import numpy as np

from provenance import __version__
from service.bias.dataset import Dataset, scan_dataset
from service.bias.datasheet import datasheet_section
from service.bias.definitions import SKIN_TONE_NOTE, definitions
from service.bias.engine import Progress, run_map
from service.bias.fairness import detector_section
from service.bias.generator_bias import generator_section
from service.bias.mitigation import mitigation_section
from service.bias.options import BiasReportError, ReportOptions
from service.bias.privacy import check_consent_banks, privacy_findings, privacy_section
from service.bias.quality import quality_section
from service.bias.representation import read_reference, representation_section

REPORT_JSON, REPORT_HTML, IMAGES_CSV = "report.json", "report.html", "images.csv"
SCHEMA = "provaudit-bias-report/1"
Log = Callable[[str], None]


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


def _findings(report: dict[str, Any]) -> list[str]:
    """The headline facts, each traceable to a number elsewhere in the report."""
    out: list[str] = []
    sheet = report["datasheet"]
    if sheet["unreadable_images"]:
        out.append(f"{sheet['unreadable_images']} image file(s) could not be read (listed in 1).")
    for name, entry in report["representation"]["attributes"].items():
        for row in entry["rows"]:
            if row["ratio_to_uniform"] is not None and row["ratio_to_uniform"] < 0.5:
                out.append(
                    f"{name}={row['value']} is under-represented: {row['n']} images, "
                    f"{row['share']:.1%} of {entry['n']} ({row['ratio_to_uniform']:.2f}x a "
                    "uniform share)" + ("; small n" if row["small_n"] else "") + "."
                )
    quality = report["quality"]
    if quality["exact_duplicates"]["group_count"]:
        q = quality["exact_duplicates"]
        out.append(
            f"{q['group_count']} exact-duplicate group(s), "
            f"{q['redundant_copies']} redundant copies."
        )
    if quality["near_duplicates"]["cluster_count"]:
        q = quality["near_duplicates"]
        out.append(
            f"{q['cluster_count']} near-duplicate cluster(s) "
            f"({q['hash']} within {q['radius']} bits)."
        )
    if quality["leakage"]["pair_count"]:
        out.append(
            f"{quality['leakage']['pair_count']} duplicate pair(s) leak across splits "
            f"({', '.join(f'{k}: {v}' for k, v in quality['leakage']['by_split_pair'].items())})."
        )
    for flag in ("dark", "over_bright", "blurry", "low_information"):
        if quality["flags"][flag]["count"]:
            out.append(
                f"{quality['flags'][flag]['count']} image(s) flagged {flag.replace('_', ' ')}."
            )
    detector = report.get("detector") or {}
    for name, entry in (detector.get("by_attribute") or {}).items():
        ratio = entry.get("false_positive_rate_max_over_min")
        if ratio is not None and ratio >= 1.25:
            rates = [g for g in entry["groups"] if g["false_positive_rate"] is not None]
            worst = max(rates, key=lambda g: g["false_positive_rate"])
            best = min(rates, key=lambda g: g["false_positive_rate"])
            out.append(
                f"The detector flags real images of {name}={worst['group']} at "
                f"{worst['false_positive_rate']:.1%} vs {best['false_positive_rate']:.1%} for "
                f"{name}={best['group']} ({ratio:.1f}x)."
            )
    for family, entry in (report["generator_bias"].get("families") or {}).items():
        for name, result in entry["attributes"].items():
            p_value = result.get("p_value")
            if p_value is not None and p_value < 0.05 and result["total_variation"] >= 0.1:
                out.append(
                    f"Generator {family} over-produces {name}={result['most_over_represented']} "
                    f"(+{result['over_representation']:.0%} points; TV distance "
                    f"{result['total_variation']:.2f}, chi-square p={p_value:.2g})"
                    + (" per the attribute classifier." if result["classified"] else ".")
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
    table = run_map(
        [str(entry.path) for entry in dataset.entries],
        engine=options.engine,
        detector=str(options.detector) if options.detector else None,
        batch_size=options.batch_size,
        workers=options.workers,
        progress=progress,
        ray_init=ray_init,
    )
    mapped = time.perf_counter()
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
    say("aggregating: representation, duplicates, leakage, quality")
    representation = representation_section(
        {
            name: [values[i] for i in range(len(entries)) if ok[i]]
            for name, values in attributes.items()
        },
        options,
        reference,
    )
    quality = quality_section(table, keys, splits, dataset.split_names, options)
    detector_part = None
    if detector is not None:
        say("detector metrics with fairlearn")
        detector_part = detector_section(table, labels, families, attributes, detector, options)
    say("generator output bias")
    generator = generator_section(table, labels, families, splits, attributes, options)
    mitigation = mitigation_section(
        representation, quality.exact_groups, quality.clusters, quality.leaks, keys
    )
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "meta": {
            "provaudit": __version__,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "dataset": str(dataset.root),
            "options": options.to_dict(),
            "engine": options.engine,
            "seconds": {
                "per_image_stage": round(mapped - started, 3),
                "total": None,
            },
            "skin_tone": SKIN_TONE_NOTE,
        },
        "definitions": definitions(options),
        "datasheet": datasheet_section(dataset, table, labels, families),
        "representation": representation,
        "quality": quality.section,
        "detector": detector_part,
        "generator_bias": generator,
        "mitigation": mitigation,
        "privacy": privacy_section(
            table,
            keys,
            options.consent_banks,
            options.registry,
            [entry.path for entry in entries],
            options.scrub_out,
        ),
    }
    report["findings"] = _findings(report) + privacy_findings(report["privacy"])
    report["meta"]["seconds"]["total"] = round(time.perf_counter() - started, 3)
    return _clean(report), dataset, table


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
    """One row per image: what the report found about it, for filtering and reweighting."""
    names = dataset.attribute_names
    flags = report["quality"]["flags"]
    flagged = {
        name: set(flags[name]["images"])
        for name in ("dark", "over_bright", "blurry", "low_information")
    }
    exact = {
        key: i
        for i, group in enumerate(report["quality"]["exact_duplicates"]["groups"])
        for key in group
    }
    near = {
        key: i
        for i, cluster in enumerate(report["quality"]["near_duplicates"]["clusters"])
        for key in cluster["images"]
    }
    drops = {row["image"]: row["reason"] for row in report["mitigation"]["drops"]}
    weights = report["mitigation"]["reweighting"]
    uniform = {name: weights.get(name, {}).get("uniform", {}) for name in names}
    header = [
        "image", "split", "label", "family", *names, "readable", "error", "format", "width",
        "height", "c2pa_state", "declares_ai", "dark", "over_bright", "blurry",
        "low_information", "exact_group", "near_cluster", "drop", "p_ai", "flagged_ai",
        *[f"weight_{name}" for name in names],
    ]  # fmt: skip
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i, entry in enumerate(dataset.entries):
            ok = bool(table["ok"][i])
            p_ai = float(table["p_ai"][i])
            row = [
                entry.key, entry.split, entry.label or "", entry.family or "",
                *[entry.attributes.get(name, "") for name in names],
                int(ok), table["error"][i], table["format"][i],
                int(table["width"][i]) or "", int(table["height"][i]) or "",
                table["c2pa_state"][i], int(bool(table["c2pa_ai"][i] or table["iptc_ai"][i])),
                *[int(entry.key in flagged[flag]) for flag in flagged],
                exact.get(entry.key, ""), near.get(entry.key, ""), drops.get(entry.key, ""),
                "" if math.isnan(p_ai) else round(p_ai, 6),
                "" if table["ai_label"][i] < 0 else int(table["ai_label"][i]),
                *[_weight(uniform[name], entry.attributes.get(name), ok) for name in names],
            ]  # fmt: skip
            writer.writerow(row)


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
    from service.bias.html import render_html

    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"json": out_dir / REPORT_JSON, "html": out_dir / REPORT_HTML}
    written["json"].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", "utf-8")
    written["html"].write_text(render_html(report), "utf-8")
    if dataset is not None and table is not None:
        written["csv"] = out_dir / IMAGES_CSV
        write_images_csv(written["csv"], report, dataset, table)
    return written
