"""Section 7 of ``provaudit bias-report``, privacy and consent, on real files: faces, personal
metadata, a consent bank in a real SQLite registry, and signed "do not train" manifests."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from provenance.keys import default_identity
from provenance.signing import ProvenanceSigner, SignRequest
from provenance.trainingmining import TrainingMining
from tests.conftest import encode, make_image
from tests.privacy_helpers import personal_jpeg
from tests.test_bias_planted import planted_pixels, save_png

pytest.importorskip("fairlearn")
pytest.importorskip("cv2")


def _astronaut() -> bytes:
    """Eileen Collins' portrait, a built-in real photo (scikit-image): one frontal face."""
    data = pytest.importorskip("skimage.data")
    return encode(Image.fromarray(data.astronaut()), "PNG")


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "astronaut.png").write_bytes(_astronaut())
    for k in range(3):
        save_png(root / f"render_{k}.png", planted_pixels(k))
    (root / "street.jpg").write_bytes(personal_jpeg(seed=1))
    identity, _ = default_identity()
    signer = ProvenanceSigner(identity)
    request = SignRequest(training_mining=TrainingMining.all("notAllowed"))
    (root / "no_training.png").write_bytes(
        signer.sign(encode(make_image(seed=2), "PNG"), request).data
    )
    allowed = SignRequest(training_mining=TrainingMining.all("allowed"))
    (root / "training_ok.png").write_bytes(
        signer.sign(encode(make_image(seed=3), "PNG"), allowed).data
    )
    (root / "withdrawn.png").write_bytes(encode(make_image(seed=4), "PNG"))
    return root


def test_privacy_section_finds_faces_metadata_consent_and_do_not_train(run_cli, dataset, tmp_path):
    # The owner of withdrawn.png withdrew consent: the bank holds the hashes of the copy
    # they sent (a re-encoded JPEG), never the picture.
    sent = tmp_path / "sent.jpg"
    Image.open(dataset / "withdrawn.png").save(sent, "JPEG", quality=80)
    assert run_cli("bank", "create", "withdrawn").returncode == 0
    assert run_cli("bank", "add", "withdrawn", sent).returncode == 0

    out = tmp_path / "out"
    result = run_cli(
        "bias-report", dataset, "--out", out, "--consent-bank", "withdrawn", "--json",
        "--bootstrap", "20",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    privacy = report["privacy"]

    faces = privacy["faces"]
    assert faces["checked"]
    found = {row["image"]: row for row in faces["images"]}
    assert "astronaut.png" in found
    assert 60 <= found["astronaut.png"]["sizes_px"][0] <= 200  # her face is ~100 px wide
    assert not any(name.startswith("render_") for name in found)

    personal = {row["image"]: set(row["fields"]) for row in privacy["personal_metadata"]["images"]}
    assert personal == {
        "street.jpg": {
            "EXIF GPS position",
            "EXIF Artist",
            "EXIF BodySerialNumber",
            "EXIF LensSerialNumber",
            "XMP dc:creator",
        }
    }
    by_kind = privacy["personal_metadata"]["by_kind"]
    assert by_kind["gps"]["images"] == ["street.jpg"]
    assert by_kind["serial"]["images"] == ["street.jpg"]

    matches = privacy["consent"]["matches"]
    assert [(m["image"], m["bank"]) for m in matches] == [("withdrawn.png", "withdrawn")]

    training = privacy["training"]
    assert training["images_with_statement"] == 2
    assert training["do_not_train"] == [
        {
            "image": "no_training.png",
            "signer": "provaudit development signer",
            "uses": "ai training notAllowed; ai generative training notAllowed; "
            "ai inference notAllowed; data mining notAllowed",
        }
    ]

    findings = "\n".join(report["findings"])
    assert "show what OpenCV's face detector takes for a face" in findings
    assert "astronaut.png" in findings
    assert "GPS position in 1 (street.jpg)" in findings
    assert "1 images match a consent bank" in findings and "withdrawn.png (withdrawn" in findings
    assert "no_training.png (signed by provaudit development signer)" in findings
    assert len(report["findings"]) == len(set(report["findings"]))

    # images.csv carries the same facts per image, for filtering a training list.
    with (out / "images.csv").open(newline="") as handle:
        rows = {row["image"]: row for row in csv.DictReader(handle)}
    astronaut = rows["astronaut.png"]
    assert int(astronaut["faces"]) == 1
    side = found["astronaut.png"]["sizes_px"][0]
    assert float(astronaut["largest_face_share"]) == pytest.approx(side**2 / 512**2, rel=1e-4)
    assert rows["render_0.png"]["faces"] == "0" and rows["render_0.png"]["largest_face_share"] == ""
    assert rows["street.jpg"]["personal_metadata"] == "gps;name;serial"
    assert set(rows["street.jpg"]["personal_metadata_fields"].split("; ")) == personal["street.jpg"]
    assert rows["astronaut.png"]["personal_metadata"] == ""
    assert rows["withdrawn.png"]["consent_bank"] == "withdrawn"
    assert rows["withdrawn.png"]["consent_bank_item"] == str(matches[0]["bank_content_id"])
    assert rows["withdrawn.png"]["consent_bank_item"] != ""
    assert [k for k, row in rows.items() if row["consent_bank"]] == ["withdrawn.png"]
    assert rows["no_training.png"]["do_not_train"] == "1"
    assert rows["no_training.png"]["training_signer"] == "provaudit development signer"
    assert rows["training_ok.png"]["do_not_train"] == "0"
    assert rows["training_ok.png"]["training_signer"] == ""

    html = (out / "report.html").read_text()
    assert 'id="privacy"' in html and "no_training.png" in html
    assert "Jane Doe" not in html and "SN-0042" not in html  # values are never reported


def test_without_consent_bank_the_section_says_not_checked(run_cli, dataset, tmp_path):
    out = tmp_path / "out"
    result = run_cli("bias-report", dataset, "--out", out, "--bootstrap", "20")
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["privacy"]["consent"] == {"banks": [], "match_count": 0, "matches": []}
    assert "Not checked: pass" in (out / "report.html").read_text()


def test_an_unknown_consent_bank_is_refused_before_any_image_is_read(run_cli, dataset, tmp_path):
    result = run_cli("bias-report", dataset, "--out", tmp_path / "out", "--consent-bank", "nobody")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no hash bank named 'nobody'" in lines[0], result.stderr
    assert not (tmp_path / "out" / "report.json").exists()


def test_face_sizes_are_in_pixels_of_the_original_image():
    from service.bias.privacy import FaceFinder

    finder = FaceFinder()
    portrait = np.asarray(Image.open(io.BytesIO(_astronaut())).convert("RGB"))
    (full,) = finder.face_sizes(portrait)
    small = np.asarray(Image.fromarray(portrait).resize((256, 256)))
    (reduced,) = finder.face_sizes(small, long_side=512)
    assert abs(full - reduced) <= 0.15 * full
    assert finder.face_sizes(planted_pixels(0)) == []


def test_scrub_out_writes_clean_copies_and_leaves_the_dataset_untouched(run_cli, dataset, tmp_path):
    import hashlib

    from provenance.personaldata import find_personal_metadata

    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in dataset.rglob("*.*")}
    clean = tmp_path / "clean"
    result = run_cli(
        "bias-report", dataset, "--out", tmp_path / "out", "--scrub-out", clean,
        "--bootstrap", "20",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in dataset.rglob("*.*")} == before
    scrubbed = json.loads((tmp_path / "out" / "report.json").read_text())["privacy"]["scrubbed"]
    assert scrubbed["copies"] == len(before) and scrubbed["changed"] == ["street.jpg"]
    assert find_personal_metadata((clean / "street.jpg").read_bytes()) == []
    assert (clean / "no_training.png").read_bytes() == (dataset / "no_training.png").read_bytes()
