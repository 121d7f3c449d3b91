"""Soft binding: the c2pa.soft-binding assertion, its registry record, stripped-copy recovery."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import c2pa
import pytest
from PIL import Image

from provenance.errors import ImageTooLargeError, InputError
from provenance.fingerprint import PDQ_MATCH_DISTANCE, fingerprint, hamming_distance, pdq_hash
from provenance.jumbf import active_manifest_label
from provenance.keys import default_identity
from provenance.media import HASH_DECODE_MIN_SIDE, decode_image, decode_image_for_hashing
from provenance.registry import NotFoundError, Registry
from provenance.signing import ProvenanceSigner, SignRequest
from provenance.softbinding import (
    ISCC_ALG,
    PDQ_ALG,
    PHASH_ALG,
    decode_value,
    encode_value,
    supported_algorithms,
)
from provenance.store import FingerprintStore
from provenance.verify import ProvenanceVerifier
from tests.conftest import encode, make_image

PDQ = Path(__file__).resolve().parent / "fixtures" / "pdq"
DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


@pytest.fixture
def identity():
    return default_identity()[0]


@pytest.fixture
def store(tmp_path):
    bank = FingerprintStore(Registry(f"sqlite:///{tmp_path / 'registry.db'}"), tmp_path / "index")
    yield bank
    bank.close()


def _photo(size: tuple[int, int] = (384, 256)) -> Image.Image:
    """A real photo (the PDQ bridge), so the perceptual hashes behave as on real uploads."""
    return Image.open(PDQ / "bridge-mods" / "aaa-orig.jpg").convert("RGB").resize(size)


def _store(data: bytes, mime: str = "image/jpeg") -> tuple[str, dict]:
    with c2pa.Reader(mime, io.BytesIO(data)) as reader:
        store = json.loads(reader.json())
    return store["active_manifest"], store["manifests"][store["active_manifest"]]


def _strip(data: bytes, scale: float = 0.75, quality: int = 80) -> bytes:
    """What a platform does on upload: decode, resize, re-encode (the manifest is gone)."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    size = (round(image.width * scale), round(image.height * scale))
    return encode(image.resize(size, Image.Resampling.LANCZOS), "JPEG", quality=quality)


def test_c2pa_accepts_the_assertion_and_the_manifest_stays_trusted(identity):
    image = _photo()
    signed = ProvenanceSigner(identity).sign(encode(image, "JPEG", quality=92))
    label, manifest = _store(signed.data)
    # PDQ first (the one the registry records), then io.iscc.v0 (tests/test_iscc.py).
    pdq_binding, iscc_binding = [
        a for a in manifest["assertions"] if a["label"] == "c2pa.soft-binding"
    ]
    assert (pdq_binding["data"]["alg"], iscc_binding["data"]["alg"]) == (PDQ_ALG, ISCC_ALG)
    (block,) = pdq_binding["data"]["blocks"]
    expected = pdq_hash(decode_image(signed.data))[0]
    assert base64.b64decode(block["value"]).hex() == expected
    report = ProvenanceVerifier(identity.root_pem).verify_bytes(signed.data)
    assert report.state == "trusted" and report.failure_codes == []
    assert report.soft_bindings[0] == {"alg": PDQ_ALG, "value": block["value"]}
    assert [binding["alg"] for binding in report.soft_bindings] == [PDQ_ALG, ISCC_ALG]
    # The label read from the returned manifest store is the reader's active manifest.
    assert active_manifest_label(signed.manifest_bytes) == label


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_other_formats_carry_it_too(identity, fmt):
    signed = ProvenanceSigner(identity).sign(encode(_photo(), fmt))
    _label, manifest = _store(signed.data, signed.mime_type)
    assert any(a["label"] == "c2pa.soft-binding" for a in manifest["assertions"])


def test_it_can_be_left_out_and_a_brought_definition_is_used_as_is(identity):
    signer = ProvenanceSigner(identity)
    data = encode(_photo(), "JPEG")
    plain = signer.sign(data, SignRequest(soft_binding=False))
    assert not any(a["label"].startswith("c2pa.soft") for a in _store(plain.data)[1]["assertions"])
    created = {"actions": [{"action": "c2pa.created", "digitalSourceType": DIGITAL_CAPTURE}]}
    definition = {
        "title": "mine",
        "assertions": [
            {"label": "c2pa.actions.v2", "data": created},
            {"label": "org.example.x", "data": {"a": 1}},
        ],
    }
    own = signer.sign(data, SignRequest(manifest_definition=definition))
    labels = [a["label"] for a in _store(own.data)[1]["assertions"]]
    assert "c2pa.soft-binding" not in labels and "org.example.x" in labels


def test_signing_without_a_registry_records_nothing_and_with_one_records_the_manifest(
    identity, store
):
    data = encode(_photo(), "JPEG")
    ProvenanceSigner(identity).sign(data)
    assert store.registry.manifest_count() == 0

    signed = ProvenanceSigner(identity, recorder=store.manifests).sign(
        data, SignRequest(ai_generated=True, title="bridge")
    )
    label = active_manifest_label(signed.manifest_bytes)
    info, stored = store.manifests.manifest(label)
    assert stored == signed.manifest_bytes
    prints = fingerprint(decode_image(signed.data))
    assert (info.pdq, info.pdq_quality, info.phash) == (prints.pdq, 100, prints.phash)
    assert info.title == "bridge" and info.ai_declared is True
    assert info.signer == "provaudit development signer"
    assert info.soft_binding_alg == PDQ_ALG
    assert decode_value(PDQ_ALG, info.soft_binding_value) == prints.pdq
    with pytest.raises(NotFoundError, match="No manifest"):
        store.manifests.manifest("urn:c2pa:nothing")


def test_a_stripped_copy_finds_its_manifest(identity, store):
    """The issue's check: sign, re-encode at JPEG q80 resized to 0.75x, recover."""
    signer = ProvenanceSigner(identity, recorder=store.manifests)
    signed = signer.sign(
        encode(_photo((640, 400)), "JPEG", quality=95), SignRequest(ai_generated=True)
    )
    other = signer.sign(encode(make_image((640, 400), seed=4), "PNG"))  # a distinct image
    stripped = _strip(signed.data)
    assert ProvenanceVerifier(identity.root_pem).verify_bytes(stripped).state == "absent"

    (match, *_rest) = store.manifests.recover_image(decode_image(stripped))
    assert match.manifest.manifest_id == active_manifest_label(signed.manifest_bytes)
    assert match.signal == "pdq" and match.distance <= 31
    assert match.manifest.manifest_id != active_manifest_label(other.manifest_bytes)
    reason = match.reason()
    assert reason.startswith(
        f"No manifest in the file; matches manifest {match.manifest.manifest_id}"
    )
    assert "signed on" in reason and "by provaudit development signer at distance" in reason

    flipped = encode(
        Image.open(io.BytesIO(signed.data)).transpose(Image.Transpose.FLIP_LEFT_RIGHT), "PNG"
    )
    found = store.manifests.recover_image(decode_image(flipped))
    (match,) = [m for m in found if m.signal == "pdq"]
    assert match.manifest.manifest_id == active_manifest_label(signed.manifest_bytes)
    assert match.variant != "original"

    assertions = signed.manifest_definition["assertions"]
    binding = next(a for a in assertions if a["label"] == "c2pa.soft-binding")
    value = binding["data"]["blocks"][0]["value"]
    (by_value,) = store.manifests.by_binding(PDQ_ALG, value)
    assert by_value.distance == 0
    as_hex = decode_value(PDQ_ALG, value)
    assert store.manifests.by_binding(PDQ_ALG, as_hex)[0].distance == 0


def _large_photo_jpeg(quality: int = 95) -> bytes:
    """The 1600x1004 PDQ bridge photo as a camera would write it: big enough to be drafted."""
    photo = Image.open(PDQ / "bridge-mods" / "aaa-orig.jpg").convert("RGB")
    return encode(photo, "JPEG", quality=quality)


def test_hashing_decode_scales_a_large_jpeg_down_and_keeps_its_pdq():
    data = _large_photo_jpeg()
    full = decode_image(data)
    drafted = decode_image_for_hashing(data)
    assert drafted.mode == "RGB"
    # libjpeg's 1/2 scale: the largest that keeps both sides >= 384 px.
    assert drafted.size == (800, 502) and min(drafted.size) >= HASH_DECODE_MIN_SIDE
    (full_pdq, full_quality), (drafted_pdq, drafted_quality) = pdq_hash(full), pdq_hash(drafted)
    assert drafted_quality == full_quality == 100
    assert hamming_distance(full_pdq, drafted_pdq) <= 8  # 0-2 on this photo; the match is <= 31
    # A 1600 px square goes to 1/4 (400 px), never below 384.
    photo = Image.open(PDQ / "bridge-mods" / "aaa-orig.jpg").convert("RGB")
    square = encode(photo.resize((1600, 1600)), "JPEG", quality=90)
    small = decode_image_for_hashing(square)
    assert small.size == (400, 400)
    assert hamming_distance(pdq_hash(small)[0], pdq_hash(decode_image(square))[0]) <= 8


def test_hashing_decode_leaves_smaller_jpegs_and_other_formats_whole():
    # A 512 px generated image keeps every pixel: at 256 px PDQ's hash drifts too far.
    photo = _photo((760, 512))
    for data in (encode(photo, "JPEG"), encode(photo.resize((1200, 800)), "PNG")):
        drafted, full = decode_image_for_hashing(data), decode_image(data)
        assert drafted.size == full.size and drafted.tobytes() == full.tobytes()


def test_hashing_decode_keeps_the_bomb_guard(monkeypatch):
    data = _large_photo_jpeg()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000 * 1000)
    with pytest.raises(ImageTooLargeError, match="too many pixels"):
        decode_image_for_hashing(data, "big.jpg")  # 1.6 Mpx > 1 Mpx, though drafted to 0.4


def test_a_large_signed_jpeg_is_bound_to_its_stripped_copies(identity, store):
    """The soft binding of a drafted decode still finds re-encoded and resized copies."""
    signer = ProvenanceSigner(identity, recorder=store.manifests)
    signed = signer.sign(_large_photo_jpeg(), SignRequest(ai_generated=True))
    binding = next(
        a for a in signed.manifest_definition["assertions"] if a["label"] == "c2pa.soft-binding"
    )
    bound = decode_value(PDQ_ALG, binding["data"]["blocks"][0]["value"])
    assert signed.fingerprints is not None and signed.fingerprints.pdq == bound  # as recorded
    assert hamming_distance(bound, pdq_hash(decode_image(signed.data))[0]) <= 8
    label = active_manifest_label(signed.manifest_bytes)
    for scale, quality in ((0.75, 80), (0.5, 70), (1.0, 60)):
        stripped = decode_image(_strip(signed.data, scale=scale, quality=quality))
        assert hamming_distance(bound, pdq_hash(stripped)[0]) <= PDQ_MATCH_DISTANCE
        (match, *_rest) = store.manifests.recover_image(stripped)
        assert match.manifest.manifest_id == label and match.signal == "pdq"


def test_binding_values_and_algorithms():
    pdq = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    value = encode_value(PDQ_ALG, pdq)
    assert decode_value(PDQ_ALG, value) == pdq
    assert decode_value(PDQ_ALG, value.replace("+", " ")) == pdq  # '+' lost in a query string
    assert decode_value(PDQ_ALG, pdq.upper()) == pdq
    assert (
        decode_value(PHASH_ALG, encode_value(PHASH_ALG, "aca29c1c33dc23d7")) == "aca29c1c33dc23d7"
    )
    for bad, words in [
        ("", "base64"),
        ("%%%", "neither base64"),
        (base64.b64encode(b"short").decode(), "decodes to 32 bytes"),
    ]:
        with pytest.raises(InputError, match=words):
            decode_value(PDQ_ALG, bad)
    with pytest.raises(InputError, match="Unknown soft-binding algorithm"):
        decode_value("com.example.other", value)
    assert supported_algorithms() == {
        "watermarks": [{"alg": "org.provaudit.dwtdct"}],
        "fingerprints": [{"alg": PDQ_ALG}, {"alg": PHASH_ALG}, {"alg": ISCC_ALG}],
    }


def test_cli_sign_records_and_verify_recover_finds_it(run_cli, tmp_path, provaudit_home):
    source = tmp_path / "photo.jpg"
    _photo((512, 340)).save(source, quality=95)
    signed = tmp_path / "signed.jpg"
    result = run_cli("sign", source, "-o", signed, "--ai-generated", "--family", "gan")
    assert result.returncode == 0, result.stderr
    assert (provaudit_home / "provaudit.db").is_file()
    stripped = tmp_path / "stripped.jpg"
    stripped.write_bytes(_strip(signed.read_bytes()))
    unrecorded, distinct = tmp_path / "unrecorded.png", tmp_path / "distinct.png"
    make_image((300, 200), seed=11).save(distinct)
    assert run_cli("sign", distinct, "-o", unrecorded, "--no-record").returncode == 0

    text = run_cli("verify", stripped, "--recover")
    assert text.returncode == 4, text.stderr  # still absent: recovery does not add a manifest
    assert "recovered: No manifest in the file; matches manifest urn:c2pa:" in text.stdout
    assert "declares AI generation: yes" in text.stdout

    report = json.loads(run_cli("verify", stripped, "--recover", "--json").stdout)
    assert report["state"] == "absent"
    (match,) = report["recovered"]
    assert match["ai_declared"] is True and match["generator"] == {"family": "gan"}
    assert match["signal"] == "pdq" and match["distance"] <= 31

    # Without --recover nothing changes; a file that was signed with --no-record is unknown.
    assert "recovered" not in json.loads(run_cli("verify", stripped, "--json").stdout)
    lost = tmp_path / "lost.jpg"
    lost.write_bytes(_strip(unrecorded.read_bytes(), scale=1.0))
    assert json.loads(run_cli("verify", lost, "--recover", "--json").stdout)["recovered"] == []


def test_verify_recover_without_a_registry_warns(run_cli, tmp_path):
    image = tmp_path / "x.jpg"
    _photo().save(image)
    result = run_cli("verify", image, "--recover")
    assert result.returncode == 4
    assert "No registry at" in result.stderr and "Traceback" not in result.stderr


def test_verify_recover_with_an_unusable_registry_warns_and_goes_on(run_cli, tmp_path):
    image = tmp_path / "x.jpg"
    _photo().save(image)
    result = run_cli("verify", image, "--recover", "--registry", "nope://x")
    assert result.returncode == 4
    assert "--recover is skipped" in result.stderr and "Traceback" not in result.stderr
    assert "recovered" not in result.stdout
