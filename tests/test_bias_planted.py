"""A planted-bias dataset built on the fly, with everything the report must find.

Layout (``--split train=ROOT/train --split test=ROOT/test``)::

    train/real/0_real/   real photos of groups a (90), b (90), c (10: under-represented 1:9),
                         plus an exact copy (lossless WebP), a near copy (gamma 0.9), a dark, an
                         over-bright, a blurry and a flat image (no attributes)
    train/gan/1_fake/    60 generated, no attributes, skewed 48 a / 6 b / 6 c
    train/vae/1_fake/    40 generated, labelled in the sidecar, 18 a / 18 b / 4 c
    train/broken.png     truncated PNG; train/notes.jpg  text named .jpg  (unreadable)
    test/                10 real photos, an exact copy and a JPEG re-encode of two train
                         photos (leakage), labels.jsonl
    attributes.csv       path, group, setting for the real photos and the vae outputs, plus
                         two rows naming images that do not exist

A detector stand-in (a hand-built ONNX graph in a provaudit checkpoint folder) flags an
image as AI exactly when its top-left 4x4 block is white; the builder whitens it on 9 of
90 real a, 36 of 90 real b (four times the false-positive rate), 1 of 10 real c, 54 of 60
gan and 33 of 40 vae images. The other bias test modules import the builder from here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from tests.conftest import REPO_ROOT

SIZE = 48
TINTS = {"a": (1.0, 0.55, 0.55), "b": (0.55, 1.0, 0.55), "c": (0.55, 0.55, 1.0)}
REAL_COUNTS = {"a": 90, "b": 90, "c": 10}
REAL_FLAGGED = {"a": 9, "b": 36, "c": 1}
GAN_GROUPS = {"a": 48, "b": 6, "c": 6}
GAN_FLAGGED = 54
VAE_COUNTS = {"a": 18, "b": 18, "c": 4}
VAE_FLAGGED = {"a": 15, "b": 15, "c": 3}


def planted_pixels(seed: int, group: str = "a", size: int = SIZE) -> np.ndarray:
    """A tinted random smooth image with sensor-like noise; unrelated seeds are far apart
    in PDQ (min pairwise distance ~68 of 256 bits), so no accidental near-duplicates."""
    rng = np.random.default_rng(seed)
    grid = rng.uniform(40, 215, size=(12, 12, 3)).astype(np.uint8)
    base = np.asarray(
        Image.fromarray(grid).resize((size, size), Image.Resampling.BICUBIC), np.float32
    )
    base = base * np.array(TINTS[group], np.float32) + rng.normal(0, 8, size=base.shape)
    pixels = np.clip(base, 0, 200).astype(np.uint8)
    pixels[:4, :4] = 30  # the stand-in detector's corner: dark = "real"
    return pixels


def mark(pixels: np.ndarray) -> np.ndarray:
    out = pixels.copy()
    out[:4, :4] = 255
    return out


def save_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, "PNG")


@dataclass
class Planted:
    root: Path
    train: Path
    test: Path
    attributes: Path
    group_of: dict[str, str] = field(default_factory=dict)
    setting_of: dict[str, str] = field(default_factory=dict)
    flagged: set[str] = field(default_factory=set)
    label_of: dict[str, str] = field(default_factory=dict)
    family_of: dict[str, str] = field(default_factory=dict)
    exact_pairs: list[tuple[str, str]] = field(default_factory=list)
    near_pairs: list[tuple[str, str]] = field(default_factory=list)
    leak_exact: tuple[str, str] = ("", "")
    leak_near: tuple[str, str] = ("", "")
    dark: str = ""
    bright: str = ""
    blurry: str = ""
    flat: str = ""
    unreadable: list[str] = field(default_factory=list)
    missing_rows: list[str] = field(default_factory=list)

    def counts(self, name: str) -> Counter:
        table = self.group_of if name == "group" else self.setting_of
        return Counter(table.values())

    def argv(self, *extra: str) -> list[str]:
        return [
            str(self.root),
            "--attributes",
            str(self.attributes),
            "--split",
            f"train={self.train}",
            "--split",
            f"test={self.test}",
            *extra,
        ]


def build_planted(root: Path) -> Planted:
    train, test = root / "train", root / "test"
    planted = Planted(root=root, train=train, test=test, attributes=root / "attributes.csv")
    seed = 1000
    rows: list[tuple[str, str, str]] = []

    def add(key: str, pixels: np.ndarray, label: str, family: str | None = None) -> None:
        save_png(root / key, pixels)
        planted.label_of[key] = label
        if family:
            planted.family_of[key] = family

    real_keys: list[str] = []
    for group, count in REAL_COUNTS.items():
        for k in range(count):
            seed += 1
            key = f"train/real/0_real/{group}_{k:03d}.png"
            pixels = planted_pixels(seed, group)
            if k < REAL_FLAGGED[group]:
                pixels = mark(pixels)
                planted.flagged.add(key)
            add(key, pixels, "real")
            # c is all indoor: the intersection (c, outdoor) is empty.
            setting = "indoor" if group == "c" or k % 2 == 0 else "outdoor"
            planted.group_of[key], planted.setting_of[key] = group, setting
            rows.append((key, group, setting))
            real_keys.append(key)
    for group, count in GAN_GROUPS.items():
        for k in range(count):
            seed += 1
            key = f"train/gan/1_fake/{group}_{k:03d}.png"
            index = sum(1 for name in planted.family_of.values() if name == "gan")
            pixels = planted_pixels(seed, group)
            if index < GAN_FLAGGED:
                pixels = mark(pixels)
                planted.flagged.add(key)
            add(key, pixels, "generated", "gan")
    for group, count in VAE_COUNTS.items():
        for k in range(count):
            seed += 1
            key = f"train/vae/1_fake/{group}_{k:03d}.png"
            pixels = planted_pixels(seed, group)
            if k < VAE_FLAGGED[group]:
                pixels = mark(pixels)
                planted.flagged.add(key)
            add(key, pixels, "generated", "vae")
            setting = "indoor" if group == "c" or k % 2 == 0 else "outdoor"
            planted.group_of[key], planted.setting_of[key] = group, setting
            rows.append((key, group, setting))

    # Duplicates inside train: an exact copy in another format, a near copy.
    original = real_keys[20]  # an unflagged real a
    exact = "train/real/0_real/copy_of_a_020.webp"
    pixels = np.asarray(Image.open(root / original).convert("RGB"))
    (root / exact).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(root / exact, "WEBP", lossless=True)
    planted.label_of[exact] = "real"
    planted.exact_pairs.append((original, exact))
    near_original = real_keys[140]  # an unflagged real b (b_050)
    near = "train/real/0_real/gamma_b.png"
    base = np.asarray(Image.open(root / near_original).convert("RGB")).astype(np.float64)
    adjusted = np.rint(255.0 * (base / 255.0) ** 0.9)  # a gamma tweak: new pixels, same picture
    adjusted[:4, :4] = base[:4, :4]  # the detector's corner unchanged
    add(near, adjusted.astype(np.uint8), "real")
    planted.near_pairs.append((near_original, near))

    # Quality flags.
    seed += 1
    planted.dark = "train/real/0_real/dark.png"
    add(planted.dark, (planted_pixels(seed) * 0.12).astype(np.uint8), "real")
    seed += 1
    planted.bright = "train/real/0_real/bright.png"
    bright = (planted_pixels(seed) * 0.1 + 228).astype(np.uint8)
    bright[:4, :4] = 30
    add(planted.bright, bright, "real")
    seed += 1
    planted.blurry = "train/real/0_real/blurry.png"
    blurred = Image.fromarray(planted_pixels(seed)).filter(ImageFilter.GaussianBlur(3))
    add(planted.blurry, np.asarray(blurred), "real")
    planted.flat = "train/real/0_real/flat.png"
    add(planted.flat, np.full((SIZE, SIZE, 3), 128, np.uint8), "real")

    # Unreadable files.
    good = io.BytesIO()
    Image.fromarray(planted_pixels(7)).save(good, "PNG")
    (train / "broken.png").write_bytes(good.getvalue()[:200])
    (train / "notes.jpg").write_text("not an image\n")
    planted.unreadable = ["train/broken.png", "train/notes.jpg"]

    # The test split: fresh real photos, plus an exact and a near copy of train photos.
    labels = []
    for k in range(10):
        seed += 1
        key = f"test/photo_{k:02d}.png"
        add(key, planted_pixels(seed, "abc"[k % 3]), "real")
        labels.append({"path": f"photo_{k:02d}.png", "label": "real", "family": "real"})
    leaked = real_keys[30]  # an unflagged real a
    leak_exact = "test/leaked_exact.png"
    add(leak_exact, np.asarray(Image.open(root / leaked).convert("RGB")), "real")
    planted.leak_exact = (leaked, leak_exact)
    leaked_near = real_keys[150]  # an unflagged real b (b_060)
    leak_near = "test/leaked_near.jpg"
    Image.open(root / leaked_near).convert("RGB").save(root / leak_near, "JPEG", quality=85)
    planted.label_of[leak_near] = "real"
    planted.leak_near = (leaked_near, leak_near)
    for name in ("leaked_exact.png", "leaked_near.jpg"):
        labels.append({"path": name, "label": "real", "family": "real"})
    (test / "labels.jsonl").write_text("".join(json.dumps(row) + "\n" for row in labels))

    planted.missing_rows = ["train/real/0_real/gone_1.png", "train/real/0_real/gone_2.png"]
    with planted.attributes.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "group", "setting"])
        writer.writerows(rows)
        for missing in planted.missing_rows:
            writer.writerow([missing, "a", "indoor"])
    return planted


def build_standin_detector(directory: Path, image_size: int = SIZE) -> Path:
    """A provaudit detector checkpoint whose ONNX graph says "AI" iff the top-left 4x4 block
    is white: logit = 20 * (mean of that block in [-1, 1] - 0.5)."""
    import onnx
    from onnx import TensorProto, helper

    families = ["gan", "vae"]
    classes = 1 + len(families)
    nodes = [
        helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["corner"]),
        helper.make_node("ReduceMean", ["corner"], ["mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Sub", ["mean", "half"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["logit"]),
        helper.make_node("Unsqueeze", ["mean", "one"], ["column"]),
        helper.make_node("Mul", ["column", "zeros"], ["attribution"]),
    ]
    initialisers = [
        helper.make_tensor("starts", TensorProto.INT64, [2], [0, 0]),
        helper.make_tensor("ends", TensorProto.INT64, [2], [4, 4]),
        helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3]),
        helper.make_tensor("half", TensorProto.FLOAT, [], [0.5]),
        helper.make_tensor("gain", TensorProto.FLOAT, [], [20.0]),
        helper.make_tensor("one", TensorProto.INT64, [1], [1]),
        helper.make_tensor("zeros", TensorProto.FLOAT, [1, classes], [0.0] * classes),
    ]
    graph = helper.make_graph(
        nodes,
        "corner_standin",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, image_size, image_size])],
        [
            helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["n"]),
            helper.make_tensor_value_info("attribution", TensorProto.FLOAT, ["n", classes]),
        ],
        initialisers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    directory.mkdir(parents=True, exist_ok=True)
    # The ONNX path never reads the weights file, but a checkpoint must have one (and its
    # digest ties the export to it).
    weights = b"stand-in: no torch weights"
    (directory / "model.safetensors").write_bytes(weights)
    onnx_bytes = model.SerializeToString()
    (directory / "model.onnx").write_bytes(onnx_bytes)
    weights_sha = hashlib.sha256(weights).hexdigest()
    document = {
        "format": "provaudit-detector",
        "format_version": 1,
        "detector": {
            "arch": "corner_standin",
            "transform": "raw",
            "image_size": image_size,
            "families": families,
            "threshold": 0.5,
            "temperature": 1.0,
        },
        "weights": {"file": "model.safetensors", "sha256": weights_sha},
        "onnx": {
            "file": "model.onnx",
            "sha256": hashlib.sha256(onnx_bytes).hexdigest(),
            "weights_sha256": weights_sha,
            "opset": 17,
        },
    }
    (directory / "config.json").write_text(json.dumps(document, indent=2))
    return directory


# --- the planted-bias report, end to end through the CLI --------------------------------


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO_ROOT / "tests" / ".artifacts"
SCREENSHOTS = REPO_ROOT / "build" / "screenshots"
BOOTSTRAP = 20


def run_provaudit(*args: str, home: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PROVAUDIT_HOME=str(home), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "provenance", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    pytest.importorskip("fairlearn")
    pytest.importorskip("matplotlib")
    return build_planted(tmp_path_factory.mktemp("planted"))


@pytest.fixture(scope="module")
def cli_run(planted: Planted, tmp_path_factory: pytest.TempPathFactory) -> dict:
    detector = build_standin_detector(tmp_path_factory.mktemp("standin") / "ckpt")
    out = tmp_path_factory.mktemp("report")
    result = run_provaudit(
        "bias-report",
        *planted.argv(
            "--out", str(out), "--detector", str(detector), "--bootstrap", str(BOOTSTRAP),
            "--no-progress",
        ),
        home=tmp_path_factory.mktemp("home"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    return {"out": out, "report": report, "result": result}


def test_cli_writes_the_three_files_and_names_them(cli_run):
    out = cli_run["out"]
    for name in ("report.html", "report.json", "images.csv"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0
    stdout = cli_run["result"].stdout
    assert str(out / "report.html") in stdout and str(out / "report.json") in stdout
    assert "Traceback" not in cli_run["result"].stderr


def test_datasheet_counts_what_was_planted(planted, cli_run):
    sheet = cli_run["report"]["datasheet"]
    images = len(planted.label_of) + len(planted.unreadable)
    assert sheet["image_files"] == images
    assert sheet["readable_images"] == len(planted.label_of)
    assert sheet["unreadable_images"] == 2
    assert sorted(u["image"] for u in sheet["unreadable"]) == planted.unreadable
    assert all(u["reason"] for u in sheet["unreadable"])
    assert sheet["metadata_files"] == ["test/labels.jsonl"]
    assert sheet["splits"] == {"train": images - 12, "test": 12}
    labels = Counter(planted.label_of.values())
    assert sheet["labels"] == {"generated": labels["generated"], "real": labels["real"]}
    assert sheet["generator_families"] == {"gan": 60, "vae": 40}
    assert sheet["formats"] == {"png": len(planted.label_of) - 2, "webp": 1, "jpeg": 1}
    assert sheet["colour_modes"] == {"RGB": len(planted.label_of)}
    assert sheet["resolutions"]["most_common"] == [
        {"size": "48x48", "images": len(planted.label_of)}
    ]
    credentials = sheet["content_credentials"]
    assert credentials["with_manifest"] == 0 and credentials["declare_ai_any"] == 0
    attributes = sheet["attributes"]
    assert attributes["names"] == ["group", "setting"]
    missing = attributes["rows_naming_missing_images"]
    # Listed, not fatal: the header is line 1, then one row per attributed image.
    rows = len(planted.group_of)
    assert missing == [
        {"line": rows + 2, "path": planted.missing_rows[0], "problem": "no such image"},
        {"line": rows + 3, "path": planted.missing_rows[1], "problem": "no such image"},
    ]
    assert attributes["images_without_row"] == images - rows


def test_representation_finds_the_one_to_nine_group(planted, cli_run):
    group = cli_run["report"]["representation"]["attributes"]["group"]
    counts = planted.counts("group")
    assert counts == {"a": 108, "b": 108, "c": 14}
    assert {row["value"]: row["n"] for row in group["rows"]} == counts
    n = sum(counts.values())
    assert group["n"] == n and group["missing"] == len(planted.label_of) - n
    by_value = {row["value"]: row for row in group["rows"]}
    assert by_value["c"]["share"] == pytest.approx(14 / n)
    assert by_value["c"]["ratio_to_uniform"] == pytest.approx(3 * 14 / n)
    assert by_value["c"]["small_n"] and not by_value["a"]["small_n"]
    for row in group["rows"]:
        assert row["ci_low"] <= row["share"] <= row["ci_high"]
    assert group["imbalance_ratio"] == pytest.approx(108 / 14)
    assert group["smallest_group"] == "c" and group["small_groups"] == ["c"]
    # The real images alone: 90 / 90 / 10, the planted 1:9.
    assert REAL_COUNTS["c"] * 9 == REAL_COUNTS["a"]
    (pair,) = cli_run["report"]["representation"]["intersections"]
    assert pair["attributes"] == ["group", "setting"]
    assert pair["empty_cells"] == ["c × outdoor"]
    cells = {row["value"]: row["n"] for row in pair["rows"]}
    expected = Counter(f"{planted.group_of[k]} × {planted.setting_of[k]}" for k in planted.group_of)
    assert cells == {**{cell: 0 for cell in cells}, **expected}


def test_duplicates_and_leakage_are_found_exactly(planted, cli_run):
    quality = cli_run["report"]["quality"]
    exact = sorted(map(tuple, quality["exact_duplicates"]["groups"]))
    assert exact == sorted([planted.exact_pairs[0], planted.leak_exact])
    clusters = sorted(tuple(c["images"]) for c in quality["near_duplicates"]["clusters"])
    assert clusters == sorted([planted.near_pairs[0], planted.leak_near])
    near = quality["near_duplicates"]
    assert near["hash"] == "phash-centre" and near["radius"] == 11
    assert all(0 <= c["max_distance"] <= near["radius"] for c in near["clusters"])
    assert near["search"]["plan"]["exact"] is True and near["search"]["mode"] == "exact"
    leaks = {(row["a"], row["b"], row["kind"]) for row in quality["leakage"]["pairs"]}
    assert leaks == {(*planted.leak_exact, "exact"), (*planted.leak_near, "near")}
    assert quality["leakage"]["by_split_pair"] == {"train/test": 2}
    # Only PDQ leaves out near-featureless images; the default pHash engine matches them all.
    assert near["not_matched_low_pdq_quality"] == []


def test_quality_flags_hit_exactly_the_planted_images(planted, cli_run):
    flags = cli_run["report"]["quality"]["flags"]
    assert flags["dark"]["images"] == [planted.dark]
    assert flags["over_bright"]["images"] == [planted.bright]
    assert flags["blurry"]["images"] == sorted([planted.blurry, planted.flat])
    assert flags["low_information"]["images"] == [planted.flat]
    definitions = cli_run["report"]["definitions"]
    for name in ("dark", "over_bright", "blurry", "low_information"):
        assert definitions[name]


def test_detector_disparity_is_the_planted_four_times(planted, cli_run):
    detector = cli_run["report"]["detector"]
    by_group = detector["by_attribute"]["group"]
    rows = {row["group"]: row for row in by_group["groups"]}
    for group in "abc":
        assert rows[group]["n_real"] == REAL_COUNTS[group]
        assert rows[group]["n_generated"] == VAE_COUNTS[group]
        assert rows[group]["false_positive_rate"] == pytest.approx(
            REAL_FLAGGED[group] / REAL_COUNTS[group]
        )
        assert rows[group]["true_positive_rate"] == pytest.approx(
            VAE_FLAGGED[group] / VAE_COUNTS[group]
        )
        selected = (REAL_FLAGGED[group] + VAE_FLAGGED[group]) / (
            REAL_COUNTS[group] + VAE_COUNTS[group]
        )
        assert rows[group]["selection_rate"] == pytest.approx(selected)
        low, high = rows[group]["false_positive_rate_ci"]
        assert low <= rows[group]["false_positive_rate"] <= high
    assert by_group["false_positive_rate_max_over_min"] == pytest.approx(4.0)
    assert by_group["demographic_parity_difference"] == pytest.approx(51 / 108 - 24 / 108)
    assert by_group["demographic_parity_ratio"] == pytest.approx(24 / 51)
    assert by_group["equalized_odds_difference"] == pytest.approx(0.3)
    for key in (
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
    ):
        low, high = by_group[f"{key}_ci"]
        assert low <= high
    assert len(by_group["score_histograms"]["b"]["real"]) == 20
    assert sum(by_group["score_histograms"]["b"]["real"]) == REAL_COUNTS["b"]
    families = {row["group"]: row for row in detector["by_family"]}
    assert families["gan"]["true_positive_rate"] == pytest.approx(GAN_FLAGGED / 60)
    assert families["vae"]["true_positive_rate"] == pytest.approx(33 / 40)
    real = Counter(planted.label_of.values())["real"]
    assert families["real"]["false_positive_rate"] == pytest.approx(46 / real)
    assert any("4.0x" in line for line in cli_run["report"]["findings"])


def test_generator_skew_is_found_and_classifier_is_declared(cli_run):
    generators = cli_run["report"]["generator_bias"]
    classifier = generators["classifiers"]["group"]
    assert classifier["trained"] and classifier["heldout_accuracy"] >= 0.9
    assert classifier["heldout_accuracy"] > classifier["majority_baseline_accuracy"]
    gan = generators["families"]["gan"]["attributes"]["group"]
    assert gan["source"] == "classifier" and gan["classified"] == 60
    assert gan["values"] == ["a", "b", "c"]
    assert gan["training_counts"] == [90, 90, 10]
    assert abs(gan["output_counts"][0] - 48) <= 3
    planted_tv = 0.5 * (abs(0.8 - 90 / 190) + abs(0.1 - 90 / 190) + abs(0.1 - 10 / 190))
    assert gan["total_variation"] == pytest.approx(planted_tv, abs=0.05)
    assert gan["most_over_represented"] == "a" and gan["p_value"] < 1e-3
    vae = generators["families"]["vae"]["attributes"]["group"]
    assert vae["source"] == "labels" and vae["output_counts"] == [18, 18, 4]
    assert vae["total_variation"] == pytest.approx(
        0.5 * (2 * abs(18 / 40 - 90 / 190) + abs(4 / 40 - 10 / 190))
    )
    assert vae["p_value"] > 0.05
    assert any(
        "Generator gan over-produces group=a" in line for line in cli_run["report"]["findings"]
    )


def test_mitigation_weights_balance_and_drops_list_the_copies(planted, cli_run):
    mitigation = cli_run["report"]["mitigation"]
    weights = mitigation["reweighting"]["group"]["uniform"]
    n = 230
    for group, count in planted.counts("group").items():
        assert weights[group] == pytest.approx(n / 3 / count)
        assert weights[group] * count == pytest.approx(n / 3)
    dropped = {row["image"] for row in mitigation["drop_duplicates"]}
    assert dropped == {
        planted.exact_pairs[0][1],
        planted.near_pairs[0][1],
        planted.leak_exact[1],
        planted.leak_near[1],
    }
    assert {row["image"] for row in mitigation["drop_for_leakage"]} == {
        planted.leak_exact[1],
        planted.leak_near[1],
    }
    # A leaked copy is both a duplicate and a leak: "copies to drop" lists it once.
    listed = [row["image"] for row in mitigation["drops"]]
    assert sorted(listed) == sorted(set(listed)) == sorted(dropped)
    assert mitigation["drop_count"] == len(dropped)
    both = {row["image"]: row["reason"] for row in mitigation["drops"]}[planted.leak_near[1]]
    assert "leaks" in both and "near-duplicate of" in both
    empty = mitigation["intersection_reweighting"]["group × setting"]["collect_more"]
    assert empty == ["c × outdoor"]
    # A copy that is both a duplicate and a leak is listed once, with both reasons (the
    # page shows this list).
    drops = [row["image"] for row in mitigation["drops"]]
    assert len(drops) == len(set(drops)) == mitigation["drop_count"] == 4
    reason = next(
        row["reason"] for row in mitigation["drops"] if row["image"] == planted.leak_exact[1]
    )
    assert reason == (
        f"leaks {planted.leak_exact[0]} across splits; exact copy of {planted.leak_exact[0]}"
    )


def test_images_csv_has_one_row_per_file(planted, cli_run):
    with (cli_run["out"] / "images.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(planted.label_of) + 2
    by_key = {row["image"]: row for row in rows}
    assert by_key[planted.dark]["dark"] == "1"
    assert by_key["train/broken.png"]["readable"] == "0"
    assert by_key[planted.leak_exact[1]]["drop"] == (
        f"leaks {planted.leak_exact[0]} across splits; exact copy of {planted.leak_exact[0]}"
    )
    assert by_key[planted.exact_pairs[0][1]]["drop"] == f"exact copy of {planted.exact_pairs[0][0]}"
    # Per-image cluster ids: both images of each planted near pair share one, nobody else.
    clusters: dict[str, set[str]] = {}
    for row in rows:
        if row["near_cluster"] != "":
            clusters.setdefault(row["near_cluster"], set()).add(row["image"])
    assert sorted(map(sorted, clusters.values())) == sorted(
        sorted(pair) for pair in (planted.near_pairs[0], planted.leak_near)
    )
    exact_ids = {by_key[key]["exact_group"] for key in planted.exact_pairs[0]}
    assert len(exact_ids) == 1 and exact_ids != {""}
    marked = next(iter(sorted(planted.flagged)))
    assert by_key[marked]["flagged_ai"] == "1"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_html_opens_in_headless_chromium_with_every_section(planted, cli_run):
    sync_api = pytest.importorskip("playwright.sync_api")
    html = cli_run["out"] / "report.html"
    text = html.read_text()
    assert "http://" not in text.replace("http://www.w3.org", "") and "<script" not in text
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
        page.goto(html.as_uri())
        for section in (
            "datasheet",
            "representation",
            "quality",
            "detector",
            "generators",
            "mitigation",
            "definitions",
        ):
            assert page.locator(f"section#{section}").is_visible(), section
        titles = page.locator("h2").all_inner_texts()
        for title in (
            "1. Datasheet summary",
            "2. Representation",
            "3. Quality and duplicates",
            "4. Detector behaviour per group",
            "5. Generator output bias",
            "6. Mitigation hints",
        ):
            assert title in titles
        # Every plot decoded and is drawn at a readable size (at least 600 px wide on a
        # 1200 px window), not shrunk into a corner.
        plots = page.eval_on_selector_all(
            "img.plot",
            "images => images.map(i => [i.naturalWidth, i.getBoundingClientRect().width])",
        )
        assert plots and all(natural >= 600 and shown >= 600 for natural, shown in plots), plots
        assert "40.0%" in page.locator("section#detector").inner_text()
        # Pictures of what was found: every thumbnail decoded, and the planted duplicates,
        # leaks and flagged images are among them.
        thumbs = page.eval_on_selector_all(
            "img.thumb", "images => images.map(i => [i.alt, i.naturalWidth, i.complete])"
        )
        assert thumbs and all(width > 0 and complete for _, width, complete in thumbs), thumbs
        shown = {alt for alt, _, _ in thumbs}
        for pair in (*planted.exact_pairs, *planted.near_pairs, planted.leak_exact):
            assert set(pair) <= shown, pair
        assert {planted.dark, planted.bright, planted.blurry, planted.flat} <= shown
        assert page.locator(f"#leak-1 img.thumb[alt='{planted.leak_exact[1]}']").count() == 1
        assert page.locator("#flag-dark img.thumb").count() == 1
        # Each group's detector errors are pictured (the planted marks make real images AI).
        assert page.locator("[id^='errors-'] img.thumb").count() > 0
        # Every in-page link resolves to an element, and each finding with images links
        # to where they are shown.
        targets = page.eval_on_selector_all(
            "a[href^='#']",
            "links => links.map(a => [a.getAttribute('href'), "
            "!!document.getElementById(a.getAttribute('href').slice(1))])",
        )
        assert targets and all(ok for _, ok in targets), [t for t, ok in targets if not ok]
        findings = page.locator("ol.findings > li")
        assert findings.count() == len(cli_run["report"]["findings"])
        leak = page.locator("ol.findings > li", has_text="copies of an image in another")
        assert leak.locator("a").get_attribute("href") == "#leak-1"
        assert leak.locator("img.thumb").count() == 2
        leak.locator("a").click()
        assert page.evaluate("location.hash") == "#leak-1"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "bias-report.png"), full_page=True)
        page.locator("ol.findings").screenshot(path=str(SCREENSHOTS / "bias-findings.png"))
        page.locator("section#quality").screenshot(path=str(SCREENSHOTS / "bias-quality.png"))
        browser.close()
    assert errors == []
    # One self-contained file with a bounded picture budget.
    assert html.stat().st_size < 4 * 1024 * 1024
