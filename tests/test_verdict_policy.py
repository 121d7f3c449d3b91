"""The verdict policy (docs/api.md, "Verdict policy"): one test per row of its table.

Real signed files (the development identity, c2pa), a real registry in a SQLite file, the
bundled ONNX detector, through ``AuditPipeline`` as the service runs it. Every test also
checks the invariant the policy exists for: no reason claims a declaration of generative AI
beside a verdict that says otherwise.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from provenance.keys import default_identity
from provenance.registry import Registry
from provenance.signing import Parent, ProvenanceSigner, SignRequest
from provenance.store import FingerprintStore
from provenance.verify import ProvenanceVerifier
from provenance.watermark import embed
from service.pipeline import AuditPipeline, AuditResult
from tests.conftest import encode, make_image
from tests.test_provenance_wild import AI_URI, _xmp

DETECTOR_LABELS = {"ai": "likely_ai", "real": "likely_real", "inconclusive": "inconclusive"}
# A positive claim of a declaration; "declares no generative AI" and "none of them" are not.
CLAIMS_AI = re.compile(r"declares? generative AI|generative AI declared|declared AI", re.I)
DENIES_AI = ("declares no generative AI", "none of them declares")


@pytest.fixture(scope="module")
def detector():
    from service.ai_origin import load_detector

    signal = load_detector(None)
    if signal is None:
        pytest.skip("the bundled detector is not shipped in this checkout")
    yield signal
    signal.close()


class World:
    """A registry, a signer recording into it, and the pipeline the service builds."""

    def __init__(self, directory: Path, detector) -> None:
        self.store = FingerprintStore(
            Registry(f"sqlite:///{directory / 'provaudit.db'}"), directory / "index"
        )
        identity = default_identity()[0]
        self.signer = ProvenanceSigner(identity, recorder=self.store.manifests)
        self.pipeline = AuditPipeline(
            ProvenanceVerifier(identity.root_pem), scorer=detector, fingerprints=self.store
        )

    def sign(self, image: Image.Image, *, ai: bool, watermark: bool = False) -> bytes:
        payload = self.signer.new_watermark() if watermark else None
        if payload is not None:
            image = embed(image, payload)
        request = SignRequest(ai_generated=ai, watermark=payload)
        return self.signer.sign(encode(image, "PNG"), request).data

    def audit(self, data: bytes, name: str = "upload.jpg") -> AuditResult:
        result = self.pipeline.audit(data, name)
        _assert_consistent(result)
        return result

    def close(self) -> None:
        self.signer.close()
        self.store.close()


@pytest.fixture
def world(tmp_path: Path, detector) -> Iterator[World]:
    opened = World(tmp_path, detector)
    yield opened
    opened.close()


def _strip(data: bytes, quality: int = 80) -> bytes:
    """What a platform does to an upload: pixels kept, metadata (the manifest) dropped."""
    return encode(Image.open(io.BytesIO(data)).convert("RGB"), "JPEG", quality=quality)


def _claims_ai(reason: str) -> bool:
    return bool(CLAIMS_AI.search(reason)) and not any(word in reason for word in DENIES_AI)


def _assert_consistent(result: AuditResult) -> None:
    """The issue's contradiction (a green "likely real" beside "That manifest declares
    generative AI") cannot happen: a reason claiming a declaration goes with a declared
    verdict, or with ``inconclusive`` when the closest matches disagree."""
    claims = [reason for reason in result.reasons if _claims_ai(reason)]
    if result.verdict in ("likely_ai", "likely_real"):
        assert claims == [], (result.verdict, result.reasons)
    if result.verdict.startswith("declared_ai"):
        assert claims and result.declared_by is not None
    else:
        assert result.declared_by is None
    assert result.reasons[-1]  # the decider's sentence comes last


def _detector_verdict(result: AuditResult) -> str:
    assert result.ai_origin is not None
    return DETECTOR_LABELS[result.ai_origin["label"]]


def test_row1_intact_manifest_declaring_ai_is_declared_ai(world):
    signed = world.sign(make_image(seed=1), ai=True)
    result = world.audit(signed, "generated.png")
    assert (result.verdict, result.declared_by) == ("declared_ai", "c2pa_manifest")
    assert result.reasons[-1] == "The manifest declares generative AI (trainedAlgorithmicMedia)."
    assert [m for m in result.matches if m["kind"] == "manifest"] == []


def test_row2_intact_manifest_whose_parent_declares_ai_is_declared_ai(world):
    parent = world.sign(make_image(seed=2), ai=True)
    child = world.signer.sign(
        encode(make_image(seed=2), "JPEG", quality=92),
        SignRequest(parent=Parent(parent, "generated.png"), edit_actions=("c2pa.converted",)),
    ).data
    result = world.audit(child, "download.jpg")
    assert (result.verdict, result.declared_by) == ("declared_ai", "c2pa_ingredient")
    assert "parentOf 'generated.png'" in result.reasons[-1]


def test_row3_stripped_copy_recovered_by_fingerprint_is_declared_ai_recovered(world):
    signed = world.sign(make_image(seed=3), ai=True)
    result = world.audit(_strip(signed))
    assert result.provenance["state"] == "absent"
    assert (result.verdict, result.declared_by) == (
        "declared_ai_recovered",
        "recovered_fingerprint",
    )
    assert result.reasons[1].endswith("That manifest declares generative AI.")
    assert result.reasons[-1].startswith("Declared AI (recovered by fingerprint)")
    (match,) = [m for m in result.matches if m["kind"] == "manifest"]
    assert match["closest"] is True and match["signal"] == "pdq" and match["ai_declared"]


def test_row4_stripped_copy_recovered_by_watermark_is_declared_ai_recovered(world):
    signed = world.sign(make_image((320, 240), seed=4), ai=True, watermark=True)
    result = world.audit(_strip(signed, quality=75))
    assert (result.verdict, result.declared_by) == ("declared_ai_recovered", "recovered_watermark")
    assert "invisible watermark" in result.reasons[1]
    assert result.reasons[-1].startswith("Declared AI (recovered by watermark)")
    assert result.matches[0]["signal"] == "watermark" and result.matches[0]["closest"]


def test_row5_invalid_manifest_recovered_is_declared_ai_recovered(world):
    from tests.test_sign_verify import _unreadable_manifests

    signed = world.signer.sign(
        encode(make_image((320, 240), seed=5), "JPEG", quality=90), SignRequest(ai_generated=True)
    ).data
    (broken,) = _unreadable_manifests(signed, count=1)
    result = world.audit(broken, "broken.jpg")
    assert result.provenance["state"] == "invalid"
    assert result.verdict == "declared_ai_recovered"
    assert result.reasons[1].startswith("The file's own manifest fails validation")


def test_row6_equally_close_matches_that_disagree_are_inconclusive_in_one_reason(world):
    """The same pixels signed twice, once declaring AI and once not: a stripped copy
    matches both at the same distance, so no declaration can be stood on."""
    image = make_image(seed=6)
    world.sign(image, ai=True)
    world.sign(image, ai=False)
    result = world.audit(_strip(world.sign(image, ai=True)))
    manifests = [m for m in result.matches if m["kind"] == "manifest"]
    assert len(manifests) == 3 and all(m["closest"] for m in manifests)
    assert (result.verdict, result.declared_by) == ("inconclusive", None)
    disagreement = [r for r in result.reasons if "equally closely" in r]
    assert len(disagreement) == 1
    assert "2 declare generative AI" in disagreement[0] and "1 does not" in disagreement[0]
    assert result.reasons[-1].startswith("Inconclusive: the equally close recorded manifests")
    assert not any(r.startswith("Detector score") for r in result.reasons)


def test_row7_equally_close_matches_that_all_declare_ai_are_declared_ai_recovered(world):
    image = make_image(seed=7)
    world.sign(image, ai=True)
    world.sign(image, ai=True)
    result = world.audit(_strip(world.sign(image, ai=True)))
    assert result.verdict == "declared_ai_recovered"
    assert "3 recorded manifests equally closely" in result.reasons[1]
    assert result.reasons[1].endswith("all of them declare generative AI.")


def test_row8_closest_match_without_declaration_leaves_the_detector_to_decide(world):
    """The closest wins: a farther manifest that declares AI does not decide."""
    from PIL import ImageEnhance

    image = make_image(seed=8)
    world.sign(ImageEnhance.Contrast(image).enhance(1.3), ai=True)
    result = world.audit(_strip(world.sign(image, ai=False)))
    manifests = [m for m in result.matches if m["kind"] == "manifest"]
    assert manifests[0]["closest"] and not manifests[0]["ai_declared"]
    assert [m["ai_declared"] for m in manifests[1:]] == [True]
    assert not manifests[1]["closest"]
    assert result.reasons[1].endswith("That manifest declares no generative AI.")
    assert result.verdict == _detector_verdict(result) and result.declared_by is None


def test_row9_unsigned_iptc_declaration_is_declared_ai_from_metadata(world):
    data = encode(make_image(seed=9), "JPEG", xmp=_xmp(AI_URI))
    result = world.audit(data, "imagefx.jpg")
    assert (result.verdict, result.declared_by) == ("declared_ai", "iptc_metadata")
    assert "unsigned IPTC metadata" in result.reasons[-1]


def test_row10_iptc_declaration_beside_a_recovered_one_rests_on_the_signed_record(world):
    """Both declare: the recorded (signed) manifest's declaration is the one named."""
    signed = world.sign(make_image(seed=10), ai=True)
    copy = encode(Image.open(io.BytesIO(signed)).convert("RGB"), "JPEG", xmp=_xmp(AI_URI))
    result = world.audit(copy)
    assert (result.verdict, result.declared_by) == (
        "declared_ai_recovered",
        "recovered_fingerprint",
    )


def test_row11_iptc_declaration_beside_a_closest_match_without_one_is_declared_ai(world):
    signed = world.sign(make_image(seed=11), ai=False)
    copy = encode(Image.open(io.BytesIO(signed)).convert("RGB"), "JPEG", xmp=_xmp(AI_URI))
    result = world.audit(copy)
    assert (result.verdict, result.declared_by) == ("declared_ai", "iptc_metadata")
    assert result.reasons[1].endswith("That manifest declares no generative AI.")


def test_row12_intact_manifest_without_declaration_leaves_the_detector_to_decide(world):
    signed = world.sign(make_image(seed=12), ai=False)
    result = world.audit(signed, "photo.png")
    assert result.reasons[0].startswith("Intact C2PA manifest signed by a trusted signer")
    assert result.verdict == _detector_verdict(result) and result.declared_by is None


def test_row13_no_manifest_no_match_is_the_detectors_verdict(world):
    result = world.audit(encode(make_image(seed=13), "JPEG", quality=90), "photo.jpg")
    assert [m for m in result.matches if m["kind"] == "manifest"] == []
    assert result.verdict == _detector_verdict(result)
    assert "no provenance signal" in result.reasons[0]


def test_row14_no_detector_score_is_inconclusive(world):
    world.pipeline.scorer = None
    result = world.audit(encode(make_image(seed=14), "JPEG", quality=90), "photo.jpg")
    assert (result.verdict, result.declared_by) == ("inconclusive", None)
    assert result.reasons[-1].startswith("No detector score is available")


def test_row15_a_bank_match_is_a_reason_but_never_changes_the_verdict(world):
    photo = encode(make_image(seed=15), "JPEG", quality=90)
    without = world.audit(photo, "photo.jpg")
    world.store.banks.create_bank("KNOWN")
    world.store.banks.add_image("KNOWN", photo)
    result = world.audit(photo, "photo.jpg")
    assert result.verdict == without.verdict
    assert any(r.startswith("Matches content") and "KNOWN" in r for r in result.reasons)
    assert result.reasons[-1] == without.reasons[-1]
