"""Round trips with real c2pa signing and reading, in every format we promise."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from provenance.keys import default_identity
from provenance.signing import (
    GENERATOR_ASSERTION,
    TRAINED_ALGORITHMIC_MEDIA,
    GeneratorInfo,
    Parent,
    ProvenanceSigner,
    SignRequest,
)
from provenance.verify import ProvenanceVerifier
from tests.conftest import encode, make_image

FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp"}


@pytest.fixture
def signer_and_root():
    identity, _ = default_identity()
    return ProvenanceSigner(identity), identity.root_pem


@pytest.mark.parametrize("pil_format", list(FORMATS))
def test_round_trip_trusted_with_anchor_valid_without(signer_and_root, pil_format):
    signer, root = signer_and_root
    original = encode(make_image(), pil_format)
    generator = GeneratorInfo(
        family="diffusion", checkpoint_sha256="ab" * 32, seed=7, sampler="ddim", steps=50
    )
    signed = signer.sign(original, SignRequest(ai_generated=True, generator=generator))
    assert signed.format == FORMATS[pil_format]

    trusted = ProvenanceVerifier(root).verify_bytes(signed.data)
    assert trusted.state == "trusted"
    assert trusted.failure_codes == []
    assert trusted.ai_declared
    assert trusted.digital_source_types == [TRAINED_ALGORITHMIC_MEDIA]
    assert trusted.generator == {
        "family": "diffusion",
        "checkpoint_sha256": "ab" * 32,
        "seed": 7,
        "sampler": "ddim",
        "steps": 50,
    }
    assert trusted.signer.common_name == "provaudit development signer"

    untrusted = ProvenanceVerifier().verify_bytes(signed.data)
    assert untrusted.state == "valid"
    assert untrusted.failure_codes == ["signingCredential.untrusted"]

    # The pixels are what the signer saw.
    assert Image.open(io.BytesIO(signed.data)).size == make_image().size


def _pixel_data_offset(data: bytes, pil_format: str) -> int:
    """An offset inside the compressed pixels (not the manifest) of a signed file."""
    marker = {"JPEG": b"\xff\xda", "PNG": b"IDAT", "WEBP": b"VP8"}[pil_format]
    return data.rindex(marker) + 64


@pytest.mark.parametrize("pil_format", list(FORMATS))
def test_changed_pixels_are_invalid(signer_and_root, pil_format):
    signer, root = signer_and_root
    signed = signer.sign(encode(make_image(), pil_format)).data
    tampered = bytearray(signed)
    tampered[_pixel_data_offset(signed, pil_format)] ^= 0x55
    report = ProvenanceVerifier(root).verify_bytes(bytes(tampered))
    assert report.state == "invalid"
    assert "assertion.dataHash.mismatch" in report.failure_codes


@pytest.mark.parametrize("pil_format", list(FORMATS))
def test_resaved_by_pillow_is_absent(signer_and_root, pil_format):
    signer, root = signer_and_root
    signed = signer.sign(encode(make_image(), pil_format)).data
    resaved = encode(Image.open(io.BytesIO(signed)).convert("RGB"), pil_format)
    report = ProvenanceVerifier(root).verify_bytes(resaved)
    assert report.state == "absent"
    assert not report.ai_declared


def test_existing_file_is_recorded_as_opened_not_created(signer_and_root):
    """Without a declared source we must not claim how the image was made."""
    signer, root = signer_and_root
    signed = signer.sign(encode(make_image(), "JPEG"), SignRequest(title="holiday.jpg"))
    report = ProvenanceVerifier(root).verify_bytes(signed.data)
    assert report.state == "trusted"
    assert not report.ai_declared
    assert report.digital_source_types == []
    assert [node.relationship for node in report.ingredients] == ["parentOf"]


def test_parent_ingredient_and_edit_actions(signer_and_root):
    signer, root = signer_and_root
    parent = signer.sign(encode(make_image(seed=1), "JPEG"), SignRequest(ai_generated=True))
    edited = signer.sign(
        encode(make_image(seed=2), "JPEG"),
        SignRequest(
            parent=Parent(parent.data, "parent.jpg"),
            edit_actions=("c2pa.color_adjustments", "c2pa.cropped"),
        ),
    )
    report = ProvenanceVerifier(root).verify_bytes(edited.data)
    assert report.state == "trusted"
    assert report.manifests == 2
    (node,) = report.ingredients
    assert node.title == "parent.jpg"
    assert node.relationship == "parentOf"
    assert node.ai_declared, "the parent's own manifest declares AI"
    assert node.problems == []
    assert report.ingredient_problems == []


def test_tampered_parent_is_an_ingredient_problem(signer_and_root):
    signer, root = signer_and_root
    parent = bytearray(signer.sign(encode(make_image(seed=1), "JPEG")).data)
    parent[_pixel_data_offset(bytes(parent), "JPEG")] ^= 0x55
    edited = signer.sign(
        encode(make_image(seed=2), "JPEG"), SignRequest(parent=Parent(bytes(parent), "parent.jpg"))
    )
    report = ProvenanceVerifier(root).verify_bytes(edited.data)
    assert "assertion.dataHash.mismatch" in report.ingredient_problem_codes
    assert report.ingredients[0].problems == ["assertion.dataHash.mismatch"]


def test_manifest_definition_from_json(signer_and_root, tmp_path, run_cli):
    definition = {
        "title": "from-json.png",
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
                        }
                    ]
                },
            },
            {"label": "com.example.note", "data": {"note": "power user"}},
        ],
    }
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(definition))
    source = tmp_path / "in.png"
    source.write_bytes(encode(make_image(), "PNG"))
    result = run_cli("sign", source, "-o", tmp_path / "out.png", "--manifest", manifest)
    assert result.returncode == 0, result.stderr
    result = run_cli("verify", tmp_path / "out.png", "--trust-dev", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0
    assert report["title"] == "from-json.png"
    assert report["ai_declared"] is False
    assert report["digital_source_types"] == [
        "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
    ]


def test_small_thumbnail_is_written_and_exported(signer_and_root, tmp_path, run_cli):
    source = tmp_path / "in.jpg"
    make_image((640, 480)).save(source, "JPEG")
    result = run_cli(
        "sign", source, "-o", tmp_path / "out.jpg", "--thumbnails", "small", "--ai-generated"
    )
    assert result.returncode == 0, result.stderr
    result = run_cli(
        "verify", tmp_path / "out.jpg", "--trust-dev", "--thumbnails", tmp_path / "thumbs"
    )
    assert result.returncode == 0, result.stderr
    (thumbnail,) = (tmp_path / "thumbs").iterdir()
    assert max(Image.open(thumbnail).size) == 256


def test_thumbnails_are_off_by_default(signer_and_root):
    signer, _ = signer_and_root
    original = encode(make_image((512, 512)), "JPEG")
    signed = signer.sign(original, SignRequest(ai_generated=True))
    # A manifest with no thumbnail is a few KB; c2pa's default one is ~100 KB.
    assert len(signed.data) - len(original) < 20_000


def test_iptc_xmp_declaration_is_a_separate_weaker_signal():
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/'
        b'Iptc4xmpExt/2008-02-29/" Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/'
        b'newscodes/digitalsourcetype/trainedAlgorithmicMedia"/></rdf:RDF></x:xmpmeta>'
    )
    data = encode(make_image(), "JPEG", xmp=xmp)
    report = ProvenanceVerifier().verify_bytes(data)
    assert report.state == "absent"
    assert report.ai_declared is False, "XMP is not a C2PA declaration"
    assert report.iptc is not None
    assert report.iptc.ai_declared
    assert report.iptc.digital_source_type.endswith("trainedAlgorithmicMedia")


HTTPS_AI = "https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def test_https_vocabulary_uris_declare_ai_too(signer_and_root):
    """Producers in the wild write the IPTC vocabulary with https; it is the same term."""
    signer, root = signer_and_root
    definition = {
        "title": "https.png",
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": HTTPS_AI}]},
            }
        ],
    }
    signed = signer.sign(
        encode(make_image(), "PNG"), SignRequest(title="https.png", manifest_definition=definition)
    )
    report = ProvenanceVerifier(root).verify_bytes(signed.data)
    assert report.state == "trusted"
    assert report.digital_source_types == [HTTPS_AI]
    assert report.ai_declared is True

    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/'
        b'Iptc4xmpExt/2008-02-29/" Iptc4xmpExt:DigitalSourceType="' + HTTPS_AI.encode() + b'"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    unsigned = ProvenanceVerifier().verify_bytes(encode(make_image(), "JPEG", xmp=xmp))
    assert unsigned.iptc is not None and unsigned.iptc.ai_declared is True


def _unreadable_manifests(signed: bytes, count: int = 3) -> list[bytes]:
    """Copies of ``signed`` with one bit flipped inside its manifest that c2pa cannot parse."""
    import random

    import c2pa

    rng = random.Random(0)
    start, end = signed.index(b"\xff\xeb"), signed.index(b"\xff\xda")
    found: list[bytes] = []
    for _ in range(2000):
        data = bytearray(signed)
        data[rng.randrange(start + 4, end)] ^= 1 << rng.randrange(8)
        try:
            reader = c2pa.Reader.try_create("image/jpeg", io.BytesIO(bytes(data)))
        except c2pa.C2paError:
            found.append(bytes(data))
            if len(found) == count:
                break
        else:
            if reader is not None:
                reader.close()
    return found


def test_a_manifest_c2pa_cannot_parse_is_invalid_not_an_error(signer_and_root, tmp_path, run_cli):
    """A broken manifest must not let a file dodge the audit: it is `invalid`, exit 5."""
    signer, root = signer_and_root
    signed = signer.sign(encode(make_image(), "JPEG", quality=90), SignRequest(title="a.jpg")).data
    broken = _unreadable_manifests(signed)
    assert broken, "no bit flip broke the manifest"
    for data in broken:
        report = ProvenanceVerifier(root).verify_bytes(data, "broken.jpg")
        assert report.state == "invalid"
        assert report.failure_codes == ["general.error"]
        assert "cannot be read" in report.failures[0].explanation
    path = tmp_path / "broken.jpg"
    path.write_bytes(broken[0])
    result = run_cli("verify", path, "--json")
    assert result.returncode == 5, result.stderr
    assert json.loads(result.stdout)["state"] == "invalid"


def test_a_parent_is_validated_against_the_trust_anchors_given_to_sign(run_cli, tmp_path):
    """`sign --parent X --trust PEM`: the parent ingredient is not recorded as untrusted."""
    from tests.conftest import C2PA_FIXTURES

    parent = C2PA_FIXTURES / "adobe-20220124-CA.jpg"
    roots = C2PA_FIXTURES / "test_cert_root_bundle.pem"
    child = tmp_path / "child.jpg"
    child.write_bytes(encode(make_image(), "JPEG"))
    problems = {}
    for label, extra in (("without", []), ("with", ["--trust", roots])):
        out = tmp_path / f"{label}.jpg"
        signed = run_cli("sign", child, "-o", out, "--parent", parent, *extra, "--no-record")
        assert signed.returncode == 0, signed.stderr
        verified = run_cli("verify", out, "--trust-dev", "--trust", roots, "--json")
        problems[label] = json.loads(verified.stdout)["ingredient_problem_codes"]
    assert "signingCredential.untrusted" in problems["without"]
    assert problems["with"] == []


def test_a_renamed_assertion_label_is_invalid_exit_5_not_an_error(
    signer_and_root, tmp_path, run_cli
):
    """Renaming an assertion (same length, so every box still parses) breaks its hashed
    URI: the manifest is tampered with, `invalid`, and `verify` exits 5, not 1."""
    signer, root = signer_and_root
    generator = GeneratorInfo(family="gan", checkpoint_sha256="cd" * 32, seed=1)
    signed = signer.sign(
        encode(make_image(), "JPEG", quality=90),
        SignRequest(ai_generated=True, generator=generator),
    ).data
    assert signed.count(GENERATOR_ASSERTION.encode()) >= 1
    renamed = signed.replace(GENERATOR_ASSERTION.encode(), b"org.provaudit.generatos")
    report = ProvenanceVerifier(root).verify_bytes(renamed, "renamed.jpg")
    assert report.state == "invalid"
    assert report.failure_codes
    path = tmp_path / "renamed.jpg"
    path.write_bytes(renamed)
    result = run_cli("verify", path, "--trust-dev", "--json")
    assert result.returncode == 5, result.stderr
    assert json.loads(result.stdout)["state"] == "invalid"


def test_a_time_stamp_token_c2pa_cannot_read_is_reported_not_dropped(tmp_path, run_cli):
    """c2pa keeps a file with a corrupted RFC 3161 token trusted but silently drops its
    signing time; the report must say the time-stamp was there and could not be read."""
    from tests.conftest import C2PA_FIXTURES

    original = (C2PA_FIXTURES / "adobe-20220124-CA.jpg").read_bytes()
    roots = C2PA_FIXTURES / "test_cert_root_bundle.pem"
    verifier = ProvenanceVerifier(roots.read_text())
    intact = verifier.verify_bytes(original, "CA.jpg")
    assert intact.signer.signing_time and intact.warnings == []

    token = original.index(b"val", original.index(b"sigTst"))
    corrupted = bytearray(original)
    corrupted[token + 300] ^= 1  # inside the token's signed time-stamp info
    report = verifier.verify_bytes(bytes(corrupted), "CA.jpg")
    assert report.state == "trusted"  # c2pa does not fail it
    assert report.signer.signing_time is None
    assert [entry.code for entry in report.warnings] == ["timeStamp.malformed"]

    path = tmp_path / "CA.jpg"
    path.write_bytes(bytes(corrupted))
    result = run_cli("verify", path, "--trust", roots)
    assert result.returncode == 0, result.stderr
    assert "warning: timeStamp.malformed" in result.stdout
    assert json.loads(run_cli("verify", path, "--trust", roots, "--json").stdout)["warnings"]

    from service.pipeline import AuditPipeline

    audit = AuditPipeline(verifier).audit(bytes(corrupted), "CA.jpg")
    assert any("time-stamp that cannot be validated" in reason for reason in audit.reasons)
    assert audit.provenance["warnings"][0]["code"] == "timeStamp.malformed"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--source-type", "bogus"], "not an IPTC digital source type"),
        (["--source-type", "http://example.com/trainedAlgorithmicMedia"], "not an IPTC"),
        (["--steps", "-1"], "steps must be a whole number"),
        (["--seed", "-3"], "seed must be a whole number"),
        (["--sampler", "warp"], "Unknown sampler"),
        (["--checkpoint-sha256", "abc"], "64 hexadecimal digits"),
    ],
)
def test_sign_refuses_fields_no_signer_should_vouch_for(run_cli, tmp_path, args, message):
    """A signature cannot be taken back: a bogus source type or step count is refused with
    one line before any file is written, not signed and shown later as a fact."""
    source = tmp_path / "in.jpg"
    source.write_bytes(encode(make_image(), "JPEG"))
    out = tmp_path / "out.jpg"
    result = run_cli("sign", source, "-o", out, "--no-record", *args)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "source_type",
    ["digitalCapture", "https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"],
)
def test_sign_accepts_iptc_terms_and_https_uris(signer_and_root, source_type):
    signer, root = signer_and_root
    signed = signer.sign(encode(make_image(), "JPEG"), SignRequest(source_type=source_type))
    report = ProvenanceVerifier(root).verify_bytes(signed.data)
    assert report.state == "trusted"
    assert report.digital_source_types[0].endswith(source_type.rsplit("/", 1)[-1])
