"""Personal metadata: found in EXIF, XMP and PNG text, and ``provaudit scrub`` writes
copies without it while the originals stay byte for byte."""

from __future__ import annotations

import hashlib
import io
import json

from PIL import Image

from provenance.cli.exit_status import ExitStatus
from provenance.keys import default_identity
from provenance.personaldata import find_personal_metadata, scrub_bytes
from provenance.signing import ProvenanceSigner, SignRequest
from provenance.verify import ProvenanceVerifier
from provenance.xmp import iptc_digital_source_type
from tests.conftest import encode, make_image
from tests.privacy_helpers import ICC, personal_jpeg, personal_png

PERSONAL_JPEG_FIELDS = {
    "EXIF GPS position",
    "EXIF Artist",
    "EXIF BodySerialNumber",
    "EXIF LensSerialNumber",
    "XMP dc:creator",
}


def test_personal_fields_are_found_and_named_without_values():
    fields = find_personal_metadata(personal_jpeg())
    assert {f.name for f in fields} == PERSONAL_JPEG_FIELDS
    assert {f.kind for f in fields} == {"gps", "serial", "name"}
    assert "Jane" not in repr(fields)
    png = {f.name for f in find_personal_metadata(personal_png())}
    assert png == {
        "EXIF GPS position",
        "EXIF Artist",
        "EXIF BodySerialNumber",
        "EXIF LensSerialNumber",
        "PNG Author",
    }
    assert find_personal_metadata(encode(make_image(), "JPEG")) == []


def test_scrubbed_jpeg_keeps_pixels_orientation_profile_and_ai_declaration():
    original = personal_jpeg()
    result = scrub_bytes(original)
    assert {f.name for f in result.removed} == PERSONAL_JPEG_FIELDS
    assert find_personal_metadata(result.data) == []
    with Image.open(io.BytesIO(result.data)) as copy, Image.open(io.BytesIO(original)) as before:
        assert copy.getexif()[0x0112] == 6
        assert copy.getexif()[0x010F] == "Canon"
        assert copy.info["icc_profile"] == ICC
        assert copy.tobytes() == before.tobytes()
    assert b"Jane Doe" not in result.data and b"SN-0042" not in result.data
    assert iptc_digital_source_type(result.data).endswith("trainedAlgorithmicMedia")
    # Nothing to remove: the very same bytes.
    plain = encode(make_image(), "PNG")
    assert scrub_bytes(plain).data == plain


def test_a_signed_file_without_personal_data_keeps_its_valid_manifest():
    identity, _ = default_identity()
    signed = ProvenanceSigner(identity).sign(encode(make_image(), "JPEG"), SignRequest()).data
    assert scrub_bytes(signed).data == signed
    # With personal data, the changed copy drops the manifest rather than carry a broken one.
    signed = ProvenanceSigner(identity).sign(personal_jpeg(), SignRequest()).data
    result = scrub_bytes(signed)
    assert result.dropped_c2pa
    assert ProvenanceVerifier(identity.root_pem).verify_bytes(result.data).state == "absent"


def test_scrub_command_writes_clean_copies_and_leaves_originals_byte_identical(run_cli, tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "street.jpg").write_bytes(personal_jpeg())
    (data / "sub" / "portrait.png").write_bytes(personal_png())
    (data / "plain.webp").write_bytes(encode(make_image(), "WEBP"))
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in data.rglob("*.*")}

    out = tmp_path / "clean"
    result = run_cli("scrub", data, "--out", out, "--json")
    assert result.returncode == 0, result.stderr
    rows = {json.loads(line)["input"]: json.loads(line) for line in result.stdout.splitlines()}
    assert set(rows["" + str(data / "street.jpg")]["removed"]) == PERSONAL_JPEG_FIELDS
    assert rows[str(data / "plain.webp")]["removed"] == []

    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in data.rglob("*.*")}
    assert after == before
    for name in ("street.jpg", "sub/portrait.png", "plain.webp"):
        copy = (out / name).read_bytes()
        assert find_personal_metadata(copy) == []
        with Image.open(out / name) as image, Image.open(data / name) as original:
            assert image.tobytes() == original.tobytes()
    assert (out / "plain.webp").read_bytes() == (data / "plain.webp").read_bytes()

    text = run_cli("scrub", data / "street.jpg", "--out", tmp_path / "again").stdout
    assert "removed EXIF GPS position" in text


def test_scrub_refuses_to_write_over_an_original(run_cli, tmp_path):
    (tmp_path / "street.jpg").write_bytes(personal_jpeg())
    before = (tmp_path / "street.jpg").read_bytes()
    result = run_cli("scrub", tmp_path / "street.jpg", "--out", tmp_path)
    assert result.returncode == ExitStatus.USAGE
    assert len(result.stderr.strip().splitlines()) == 1
    assert (tmp_path / "street.jpg").read_bytes() == before
    missing = run_cli("scrub", tmp_path / "nope.jpg", "--out", tmp_path / "out")
    assert missing.returncode == ExitStatus.USAGE
