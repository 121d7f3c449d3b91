"""Near-duplicates at the default settings, on small real images (issue 20's scenario).

Distinct images: the built-in photos, their quadrants and sixteenths, and programmatic
renders, all shrunk to 64 px on the longer side; twelve of them are copied as JPEG q70
after a 0.9x resize. The default engine (pHash of the whole image and of its centre) must
pair each copy with its original and nothing else; PDQ at its radius of 15, the former
default, misses copies of images this small.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.generators.generator_helpers import run_cli

SIDE = 64
COPIES = 12


def _distinct_images() -> dict[str, Image.Image]:
    from bench.fingerprint_robustness import builtin_photo_bytes, decode_thumbnails
    from generators.renders import render

    photos = decode_thumbnails(builtin_photo_bytes(), 4000)
    images: dict[str, Image.Image] = {}
    for name, photo in photos.items():
        images[name] = photo
        w, h = photo.size
        for parts in (2, 4):
            for row in range(parts):
                for col in range(parts):
                    box = (col * w // parts, row * h // parts, (col + 1) * w // parts,
                           (row + 1) * h // parts)  # fmt: skip
                    images[f"{name}-{parts}x{parts}-{row}{col}"] = photo.crop(box)
    for index in range(30):
        drawn = render(20, index)
        images[f"render-{index:02d}-{drawn.kind}"] = Image.fromarray(drawn.pixels)
    out = {}
    for name, image in images.items():
        scale = SIDE / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        out[name] = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    return out


def _copy(image: Image.Image) -> Image.Image:
    smaller = image.resize(
        (round(image.width * 0.9), round(image.height * 0.9)), Image.Resampling.LANCZOS
    )
    buffer = io.BytesIO()
    smaller.save(buffer, "JPEG", quality=70)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str]]]:
    root = tmp_path_factory.mktemp("small64")
    images = _distinct_images()
    rng = np.random.default_rng(20)
    copied = set(rng.choice(sorted(images), COPIES, replace=False).tolist())
    planted = []
    for name, image in images.items():
        image.save(root / f"{name}.png")
        if name in copied:
            _copy(image).save(root / f"{name}-copy.jpg")
            planted.append((f"{name}.png", f"{name}-copy.jpg"))
    return root, sorted(planted)


def _report(dataset: Path, out: Path, *extra: str) -> dict:
    result = run_cli("bias-report", str(dataset), "--out", str(out), "--no-progress", *extra,
                     timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads((out / "report.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def default_run(small_dataset, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("report64")
    return _report(small_dataset[0], out), out


def test_every_planted_small_copy_is_found_and_nothing_else(small_dataset, default_run):
    _, planted = small_dataset
    report, _ = default_run
    near = report["quality"]["near_duplicates"]
    assert near["hash"] == "phash-centre"
    clusters = sorted(tuple(sorted(c["images"])) for c in near["clusters"])
    # Every copy paired with its own original, and no pair among the distinct images.
    assert clusters == sorted(tuple(sorted(pair)) for pair in planted)
    assert near["pairs_within_radius"] == COPIES


def test_images_csv_gives_each_pair_one_cluster_id_and_drops_the_copy(small_dataset, default_run):
    _, planted = small_dataset
    _, out = default_run
    with (out / "images.csv").open() as handle:
        rows = {row["image"]: row for row in csv.DictReader(handle)}
    ids = set()
    for original, copy in planted:
        assert rows[original]["near_cluster"] == rows[copy]["near_cluster"] != ""
        ids.add(rows[copy]["near_cluster"])
        assert rows[copy]["drop"] == f"near-duplicate of {original}"
        assert rows[original]["drop"] == ""
    assert len(ids) == COPIES
    assert sum(row["near_cluster"] != "" for row in rows.values()) == 2 * COPIES


def test_the_former_pdq_default_misses_small_copies(small_dataset, tmp_path):
    dataset, planted = small_dataset
    report = _report(dataset, tmp_path / "pdq", "--near-dup-hash", "pdq")
    near = report["quality"]["near_duplicates"]
    assert near["hash"] == "pdq" and near["radius"] == 15
    assert len(near["clusters"]) < len(planted) // 2


def test_blocked_search_finds_what_the_exact_one_finds_on_real_codes(small_dataset):
    """The search used above 5,000 images, on the same images' codes: a subset of the
    exact pairs, with every planted copy in it."""
    from provenance.fingerprint import phash, phash_centre
    from service.bias.neardup import blocked_image_pairs, near_image_pairs

    dataset, planted = small_dataset
    paths = sorted(p.name for p in dataset.iterdir() if p.suffix in (".png", ".jpg"))
    codes = []
    for name in paths:
        with Image.open(dataset / name) as image:
            rgb = image.convert("RGB")
            codes.append([phash(rgb), phash_centre(rgb)])
    exact, _, _ = near_image_pairs(codes, 11)
    blocked, _, info = blocked_image_pairs(codes, 11)
    exact_set = {tuple(p) for p in exact.tolist()}
    blocked_set = {tuple(p) for p in blocked.tolist()}
    assert blocked_set <= exact_set
    position = {name: i for i, name in enumerate(paths)}
    wanted = {tuple(sorted((position[a], position[b]))) for a, b in planted}
    assert wanted <= blocked_set
    assert info["candidates"] < len(paths) * (len(paths) - 1) // 2


def test_an_unknown_near_dup_hash_is_one_readable_line(small_dataset, tmp_path):
    result = run_cli("bias-report", str(small_dataset[0]), "--out", str(tmp_path / "x"),
                     "--near-dup-hash", "md5")  # fmt: skip
    assert result.returncode != 0
    assert "phash-centre, pdq, phash" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_centre_hash_is_where_a_trimmed_copy_lands():
    """Why each image carries a second pHash: a 5 % crop's whole-image hash lies closer to
    the original's centre hash than to its whole-image hash, on every built-in photo."""
    from bench.fingerprint_robustness import builtin_photo_bytes, decode_thumbnails
    from provenance.fingerprint import hamming_distance, phash, phash_centre

    photos = decode_thumbnails(builtin_photo_bytes(), 640)
    assert photos
    for name, photo in photos.items():
        w, h = photo.size
        dx, dy = round(w * 0.025), round(h * 0.025)
        trimmed = phash(photo.crop((dx, dy, w - dx, h - dy)))
        to_centre = hamming_distance(trimmed, phash_centre(photo))
        assert to_centre <= 6, name
        assert to_centre < hamming_distance(trimmed, phash(photo)), name


def test_above_the_exact_limit_small_copies_the_former_key_missed_are_found():
    """Above 5,000 images the default engine runs the blocked search; forced here with a
    small limit, on real 32 px renders and their copies by every bench edit. It pairs every
    copy the exact search pairs, where the former single 20-bit key lost some (5 % crops of
    32 px images among them), and nothing the exact search does not pair."""
    from bench.neardup_engine import EDITS, at_size
    from generators.renders import render
    from provenance.fingerprint import phash, phash_centre
    from service.bias.neardup import (
        FORMER_BLOCKING,
        blocked_image_pairs,
        centre_pairs,
        near_image_pairs,
    )

    codes: list[list[str]] = []
    copies: list[tuple[int, int, str]] = []
    for index in range(8):
        original = at_size(Image.fromarray(render(20, index).pixels), 32)
        first = len(codes)
        codes.append([phash(original), phash_centre(original)])
        for name, edit in EDITS.items():
            copy = edit(original).convert("RGB")
            copies.append((first, len(codes), name))
            codes.append([phash(copy), phash_centre(copy)])
    exact, _, _ = near_image_pairs(codes, 11)
    blocked, _, info = centre_pairs(codes, 11, exact_max=10)
    former, _, _ = blocked_image_pairs(codes, 11, blocking=FORMER_BLOCKING)
    assert info["mode"] == "blocked" and info["tables"] == 5
    exact_set, blocked_set = (
        {tuple(p) for p in exact.tolist()},
        {tuple(p) for p in blocked.tolist()},
    )
    former_set = {tuple(p) for p in former.tolist()}
    assert blocked_set <= exact_set
    found_exact = {c for c in copies if c[:2] in exact_set}
    assert {c for c in copies if c[:2] in blocked_set} == found_exact
    missed_before = {c[2] for c in found_exact if c[:2] not in former_set}
    assert "crop 5%" in missed_before


def test_many_copies_of_one_picture_are_counted_not_listed_pair_by_pair(tmp_path):
    """K copies in the training data and K in the test split: C(2K, 2) pairs within the
    radius, but each leaked test image is listed once, beside the copy kept in training."""
    from generators.renders import render

    picture = Image.fromarray(render(48, 3).pixels)
    other = Image.fromarray(render(48, 11).pixels)
    train, test = tmp_path / "train", tmp_path / "test"
    train.mkdir()
    test.mkdir()
    copies = 40
    for index in range(copies):
        picture.save(train / f"a{index:02d}.png")
        picture.save(test / f"t{index:02d}.png")
    other.save(train / "other.png")
    other.save(test / "other-copy.jpg", quality=90)
    report = _report(train, tmp_path / "out", "--split", f"test={test}")
    quality = report["quality"]
    near = quality["near_duplicates"]
    assert near["search"]["distinct_codes"] < 2 * copies
    assert near["pairs_within_radius"] >= (2 * copies) * (2 * copies - 1) // 2
    leakage = quality["leakage"]
    leaked = [row["b"] for row in leakage["pairs"]]
    assert len(leaked) == len(set(leaked)) == leakage["pair_count"] == copies + 1
    assert {row["b_split"] for row in leakage["pairs"]} == {"test"}
    assert {row["a"] for row in leakage["pairs"]} == {"a00.png", "other.png"}
    near_row = next(row for row in leakage["pairs"] if row["a"] == "other.png")
    assert near_row["kind"] == "near"
    dropped = {row["image"] for row in report["mitigation"]["drop_for_leakage"]}
    assert {"test:other-copy.jpg", "test:t00.png"} <= dropped


def _codes_apart(bits: int) -> list[list[str]]:
    """Two images whose whole and centre pHashes all lie ``bits`` apart."""
    base = 0x9A3C5F0E1B2D4C6E
    other = base ^ ((1 << bits) - 1)
    return [[f"{base:016x}", f"{base:016x}"], [f"{other:016x}", f"{other:016x}"]]


def test_codes_a_few_bits_past_the_radius_pair_only_when_their_layouts_agree():
    from service.bias.neardup import LAYOUT_EXTRA_BITS, centre_pairs

    rng = np.random.default_rng(3)
    picture = rng.integers(0, 256, 64, dtype=np.uint8)
    alike = np.stack([picture, np.clip(picture.astype(int) + 6, 0, 255).astype(np.uint8)])
    unlike = np.stack([picture, rng.integers(0, 256, 64, dtype=np.uint8)])
    flat = np.stack([np.full(64, 128, np.uint8), np.full(64, 128, np.uint8)])
    past = _codes_apart(11 + LAYOUT_EXTRA_BITS)
    for exact_max in (10, 0):  # the exact search, then the blocked one
        pairs, distances, info = centre_pairs(past, 11, layouts=alike, exact_max=exact_max)
        assert pairs.tolist() == [[0, 1]] and distances.tolist() == [14]
        assert info["layout_checked"] == 1 and info["layout_kept"] == 1
        for layouts in (unlike, flat):
            pairs, _, info = centre_pairs(past, 11, layouts=layouts, exact_max=exact_max)
            assert len(pairs) == 0 and info["layout_checked"] == 1
        # Past the extra bits no layout helps; within the radius none is needed.
        pairs, _, _ = centre_pairs(_codes_apart(15), 11, layouts=alike, exact_max=exact_max)
        assert len(pairs) == 0
        pairs, _, _ = centre_pairs(_codes_apart(11), 11, layouts=unlike, exact_max=exact_max)
        assert pairs.tolist() == [[0, 1]]


def test_a_small_diagram_after_jpeg_q50_is_found_past_the_radius(small_dataset, tmp_path):
    """The 32 px copy whose pHashes moved 14 bits: found through its layout, and no pair
    among the distinct images is added."""
    import shutil

    from bench.neardup_engine import at_size, sources

    dataset, planted = small_dataset
    root = tmp_path / "data"
    # The pool holds this diagram at 64 px: left out, so the pair stands alone.
    shutil.copytree(dataset, root, ignore=shutil.ignore_patterns("render-08-diagram.png"))
    diagram = at_size(sources(24)["render-008-diagram"], 32).convert("RGB")
    diagram.save(root / "diagram.png")
    buffer = io.BytesIO()
    diagram.save(buffer, "JPEG", quality=50)
    (root / "diagram-q50.jpg").write_bytes(buffer.getvalue())
    report = _report(root, tmp_path / "out")
    near = report["quality"]["near_duplicates"]
    clusters = sorted(tuple(sorted(c["images"])) for c in near["clusters"])
    expected = sorted(
        [*(tuple(sorted(pair)) for pair in planted), ("diagram-q50.jpg", "diagram.png")]
    )
    assert clusters == expected
    (found,) = [c for c in near["clusters"] if "diagram.png" in c["images"]]
    assert found["max_distance"] > near["radius"]
    assert near["search"]["layout_kept"] >= 1
