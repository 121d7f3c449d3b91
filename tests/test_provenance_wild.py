"""Files as real producers write them, each built with c2pa-python and a development
identity: an AI declaration made by a parent manifest (ChatGPT / DALL-E 3 downloads),
bare IPTC terms, an unsigned IPTC XMP declaration (Google ImageFX), and a signer whose
certificate expired after signing without a time-stamp (OpenAI's)."""

from __future__ import annotations

import datetime as dt
import io
import json
import time

import c2pa
import pytest

from provenance.keys import SigningIdentity, default_identity, issue_certificates
from provenance.signing import Parent, ProvenanceSigner, SignRequest
from provenance.verify import ProvenanceVerifier
from service.pipeline import AuditPipeline
from tests.conftest import encode, make_image

AI_URI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def _created(source_type: str, agent: str | dict | None = None) -> dict:
    action: dict = {"action": "c2pa.created", "digitalSourceType": source_type}
    if agent is not None:
        action["softwareAgent"] = agent
    return {
        "title": "generated.png",
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [action]}}],
    }


@pytest.fixture
def signer_and_root() -> tuple[ProvenanceSigner, bytes]:
    identity, _ = default_identity()
    return ProvenanceSigner(identity), identity.root_pem


def _xmp(source_type: str) -> bytes:
    return (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/'
        b'Iptc4xmpExt/2008-02-29/" Iptc4xmpExt:DigitalSourceType="'
        + source_type.encode()
        + b'"/></rdf:RDF></x:xmpmeta>'
    )


def test_a_parent_manifests_ai_declaration_holds_for_its_converted_child(
    signer_and_root, tmp_path, run_cli
):
    """ChatGPT downloads: the active manifest only converts; the parentOf ingredient's own
    manifest holds c2pa.created with trainedAlgorithmicMedia and softwareAgent DALL-E."""
    signer, root = signer_and_root
    parent = signer.sign(
        encode(make_image(seed=1), "PNG"),
        SignRequest(manifest_definition=_created(AI_URI, {"name": "DALL·E", "version": "3"})),
    ).data
    child = signer.sign(
        encode(make_image(seed=1), "JPEG", quality=92),
        SignRequest(
            title="download.jpg",
            parent=Parent(parent, "generated.png"),
            edit_actions=("c2pa.converted",),
        ),
    ).data

    report = ProvenanceVerifier(root).verify_bytes(child, "download.jpg")
    assert report.state == "trusted"
    assert report.digital_source_types == []  # the active manifest itself declares nothing
    assert report.ai_declared
    declaration = report.ai_declaration
    assert declaration.where == "ingredient" and declaration.relationship == "parentOf"
    assert declaration.software_agent == "DALL·E 3"
    assert declaration.digital_source_type == AI_URI

    audit = AuditPipeline(ProvenanceVerifier(root)).audit(child, "download.jpg")
    assert audit.verdict == "declared_ai"
    assert audit.declared_by == "c2pa_ingredient"
    assert any("parentOf" in reason and "DALL·E 3" in reason for reason in audit.reasons)

    path = tmp_path / "download.jpg"
    path.write_bytes(child)
    text = run_cli("verify", path, "--trust-dev")
    assert "declares AI generation: yes, up its chain" in text.stdout
    data = json.loads(run_cli("verify", path, "--trust-dev", "--json").stdout)
    assert data["ai_declared"] is True
    assert data["ai_declaration"]["where"] == "ingredient"


def test_an_input_ingredient_does_not_make_the_output_ai(signer_and_root):
    """An ``inputTo`` ingredient (a reference the maker looked at) did not become the pixels."""
    signer, root = signer_and_root
    reference = signer.sign(
        encode(make_image(seed=2), "PNG"), SignRequest(manifest_definition=_created(AI_URI))
    ).data
    definition = {
        "title": "painting.png",
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": "http://cv.iptc.org/newscodes/"
                            "digitalsourcetype/digitalCreation",
                        }
                    ]
                },
            }
        ],
    }
    builder = c2pa.Builder(definition)
    ingredient = {"title": "reference.png", "relationship": "inputTo"}
    builder.add_ingredient(ingredient, "image/png", io.BytesIO(reference))
    output = io.BytesIO()
    identity, _ = default_identity()
    with identity.make_signer() as c2pa_signer:
        builder.sign(c2pa_signer, "image/png", io.BytesIO(encode(make_image(), "PNG")), output)
    report = ProvenanceVerifier(root).verify_bytes(output.getvalue(), "painting.png")
    assert report.state in ("trusted", "valid")
    assert report.manifests == 2
    assert not report.ai_declared and report.ai_declaration is None


@pytest.mark.parametrize(
    "source_type",
    [
        AI_URI,
        "https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
        "https://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia",
    ],
)
def test_every_form_of_the_vocabulary_uri_declares_ai_in_a_manifest(signer_and_root, source_type):
    signer, root = signer_and_root
    signed = signer.sign(
        encode(make_image(), "PNG"), SignRequest(manifest_definition=_created(source_type))
    ).data
    report = ProvenanceVerifier(root).verify_bytes(signed)
    assert report.ai_declared and report.ai_declaration.where == "active"


@pytest.mark.parametrize(
    "source_type, declared",
    [
        ("trainedAlgorithmicMedia", True),  # the bare term, as some producers write it
        ("compositeWithTrainedAlgorithmicMedia", True),
        ("https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia", True),
        ("digitalCapture", False),
        ("notAnIptcTerm", False),
    ],
)
def test_unsigned_iptc_xmp_declaration_counts_for_the_verdict_apart_from_signed_ones(
    source_type, declared
):
    """Google ImageFX: the IPTC XMP field, no C2PA. The verdict says it is the maker's own
    unsigned label, so a moderator can tell it from a signed declaration."""
    data = encode(make_image(), "JPEG", xmp=_xmp(source_type))
    report = ProvenanceVerifier().verify_bytes(data, "imagefx.jpg")
    assert report.state == "absent"
    assert report.iptc.ai_declared is declared
    audit = AuditPipeline(ProvenanceVerifier()).audit(data, "imagefx.jpg")
    if declared:
        assert audit.verdict == "declared_ai"
        assert audit.declared_by == "iptc_metadata"
        assert any("unsigned IPTC metadata" in reason for reason in audit.reasons)
    else:
        assert audit.verdict != "declared_ai" and audit.declared_by is None


def _expiring_identity(seconds: float) -> tuple[SigningIdentity, bytes]:
    """A root and a leaf certificate that expires ``seconds`` from now (no time-stamp)."""
    valid_days = 1
    not_before = (
        dt.datetime.now(dt.timezone.utc)
        - dt.timedelta(days=valid_days)
        + dt.timedelta(seconds=seconds)
    )
    root, _root_key, chain, key = issue_certificates(not_before=not_before, valid_days=valid_days)
    identity = SigningIdentity(alg="es256", cert_chain_pem=chain, private_key_pem=key)
    return identity, root


def test_an_expired_signer_without_time_stamp_is_told_from_tampering(tmp_path, run_cli):
    """OpenAI's certificate has expired and its files carry no time-stamp: c2pa says
    signingCredential.expired. The content is intact; that is not a tampered file."""
    identity, root = _expiring_identity(seconds=2)
    signer = ProvenanceSigner(identity)
    signed = signer.sign(
        encode(make_image(), "JPEG", quality=90), SignRequest(manifest_definition=_created(AI_URI))
    ).data
    tampered = bytearray(signed)
    tampered[-300] ^= 0xFF  # in the entropy-coded pixels, under the data hash
    time.sleep(3)

    verifier = ProvenanceVerifier(root)
    report = verifier.verify_bytes(signed, "expired.jpg")
    assert report.c2pa_state == "invalid"
    assert report.state == "valid" and report.credential_expired
    assert "signingCredential.expired" in report.failure_codes

    broken = verifier.verify_bytes(bytes(tampered), "tampered.jpg")
    assert broken.state == "invalid" and not broken.credential_expired
    assert "assertion.dataHash.mismatch" in broken.failure_codes

    audit = AuditPipeline(verifier).audit(signed, "expired.jpg")
    assert audit.verdict == "declared_ai" and audit.declared_by == "c2pa_manifest"
    assert "certificate" in audit.reasons[0] and "expired" in audit.reasons[0]

    path = tmp_path / "expired.jpg"
    path.write_bytes(signed)
    anchors = tmp_path / "root.pem"
    anchors.write_bytes(root)
    result = run_cli("verify", path, "--trust", anchors)
    assert result.returncode == 3, result.stderr  # valid, not invalid (5)
    assert "certificate has expired" in result.stdout
    data = json.loads(run_cli("verify", path, "--trust", anchors, "--json").stdout)
    assert data["state"] == "valid" and data["credential_expired"] is True
