"""generate / export_real: the CNNDetection layout, labels that match the files, and
C2PA manifests that verify as trusted with the development root as the anchor."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from generator_helpers import provaudit_home_env
from PIL import Image

pytest.importorskip("torch")
pytest.importorskip("safetensors")

from generators.conditioning import Condition
from generators.layout import read_labels
from generators.sample import export_real, generate
from provenance.verify import ProvenanceVerifier

LABEL_FIELDS = {
    "path",
    "family",
    "label",
    "checkpoint_sha256",
    "seed",
    "sampler",
    "steps",
    "image_sha256",
    "created",
    "signed",
    "size",
    "source",
}


@pytest.fixture(scope="module")
def dataset(
    trained: dict, toy_dir: Path, provaudit_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    root = tmp_path_factory.mktemp("dataset")
    with provaudit_home_env(provaudit_home):
        for family, result in trained.items():
            # The toy set has no captions: the text model learnt the unconditional model.
            condition = Condition(prompt="a toy") if family == "text_diffusion" else None
            generate(
                result.out_dir, 3, root, sampler="ddim", sampling_steps=5, seed=100,
                condition=condition,
            )  # fmt: skip
        generate(trained["diffusion"].out_dir, 2, root, sampler="ddpm", sampling_steps=None, seed=7)
        export_real(toy_dir, 4, root, size=32, seed=1)
    return root


def test_layout_is_cnndetection_style(dataset: Path) -> None:
    assert sorted(p.name for p in dataset.iterdir()) == [
        "diffusion",
        "gan",
        "labels.jsonl",
        "pixelcnn",
        "real",
        "style",
        "text_diffusion",
        "vae",
    ]
    assert len(list((dataset / "gan" / "1_fake").glob("*.png"))) == 3
    assert len(list((dataset / "vae" / "1_fake").glob("*.png"))) == 3
    assert len(list((dataset / "pixelcnn" / "1_fake").glob("*.png"))) == 3
    assert len(list((dataset / "diffusion" / "1_fake").glob("*.png"))) == 5
    assert len(list((dataset / "style" / "1_fake").glob("*.png"))) == 3
    assert len(list((dataset / "real" / "0_real").glob("*.png"))) == 4
    sizes = {Image.open(path).size for path in dataset.rglob("*.png")}
    assert sizes == {(32, 32)}


def test_labels_match_the_files(dataset: Path, trained: dict) -> None:
    rows = read_labels(dataset)
    files = sorted(p.relative_to(dataset).as_posix() for p in dataset.rglob("*.png"))
    assert sorted(row["path"] for row in rows) == files
    for row in rows:
        assert set(row) == LABEL_FIELDS
        data = (dataset / row["path"]).read_bytes()
        assert row["image_sha256"] == hashlib.sha256(data).hexdigest()
        assert row["signed"] is True and row["size"] == 32
        if row["label"] == "fake":
            assert row["path"].startswith(f"{row['family']}/1_fake/")
            assert row["checkpoint_sha256"] == trained[row["family"]].weights_sha256
        else:
            assert row["family"] == "real" and row["path"].startswith("real/0_real/")
            assert row["checkpoint_sha256"] is None and row["source"].endswith(".png")
    diffusion = [row for row in rows if row["family"] == "diffusion"]
    assert {(row["sampler"], row["steps"]) for row in diffusion} == {("ddim", 5), ("ddpm", 100)}
    assert sorted(row["seed"] for row in rows if row["family"] == "gan") == [100, 101, 102]
    single_pass = ("gan", "vae", "pixelcnn")
    assert {row["sampler"] for row in rows if row["family"] in single_pass} == {None}


def test_every_image_verifies_trusted_and_declares_ai_only_when_fake(
    dataset: Path, trust_anchor: bytes
) -> None:
    verifier = ProvenanceVerifier(trust_anchor)
    for row in read_labels(dataset):
        report = verifier.verify_bytes((dataset / row["path"]).read_bytes(), row["path"])
        assert report.state == "trusted", (row["path"], report.failure_codes)
        assert report.ai_declared is (row["label"] == "fake")
        if row["label"] == "fake":
            assert report.generator is not None
            assert report.generator["checkpoint_sha256"] == row["checkpoint_sha256"]
            assert report.generator["seed"] == row["seed"]
            assert report.generator["family"] == row["family"]


def test_one_image_regenerates_alone_from_its_seed(trained: dict, tmp_path: Path) -> None:
    """Image i of a batch run equals a run of one image with seed + i (up to one grey
    level: a batch of one may take other float summation orders)."""
    checkpoint = trained["diffusion"].out_dir
    batch = generate(checkpoint, 3, tmp_path / "batch", sampling_steps=5, seed=40, sign=False)
    alone = generate(checkpoint, 1, tmp_path / "alone", sampling_steps=5, seed=42, sign=False)
    third = np.asarray(Image.open(tmp_path / "batch" / batch.records[2].path), dtype=int)
    single = np.asarray(Image.open(tmp_path / "alone" / alone.records[0].path), dtype=int)
    assert np.abs(third - single).max() <= 1


def test_rerun_replaces_labels_instead_of_duplicating(trained: dict, tmp_path: Path) -> None:
    checkpoint = trained["vae"].out_dir
    generate(checkpoint, 2, tmp_path, seed=0, sign=False)
    generate(checkpoint, 3, tmp_path, seed=0, sign=False)
    rows = read_labels(tmp_path)
    assert len(rows) == 3 == len(list(tmp_path.rglob("*.png")))


def test_unsigned_output_has_no_manifest(trained: dict, tmp_path: Path, trust_anchor: bytes):
    result = generate(trained["gan"].out_dir, 1, tmp_path, sign=False)
    data = (tmp_path / result.records[0].path).read_bytes()
    assert ProvenanceVerifier(trust_anchor).verify_bytes(data).state == "absent"
    assert result.records[0].signed is False


def test_export_real_from_builtin_photos(tmp_path: Path, trust_anchor: bytes) -> None:
    from generators import realphotos

    if not realphotos.available_photos():
        pytest.skip("neither scikit-image nor scikit-learn is installed")
    result = export_real(None, 6, tmp_path, size=64, seed=0)
    assert len(result.records) == 6
    assert all(record.source.startswith("builtin:") for record in result.records)
    verifier = ProvenanceVerifier(trust_anchor)
    for record in result.records:
        data = (tmp_path / record.path).read_bytes()
        assert Image.open(tmp_path / record.path).size == (64, 64)
        report = verifier.verify_bytes(data)
        assert report.state == "trusted" and not report.ai_declared
    assert json.loads((tmp_path / "labels.jsonl").read_text().splitlines()[0])["label"] == "real"
