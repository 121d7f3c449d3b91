"""The hardening campaign as properties: mutated signed files never read as trusted where
signed bytes changed, never crash the verifier, and never dodge the audit.

A few hundred examples run in ``make test``; set ``PROVAUDIT_MUTATION_EXAMPLES`` for a
longer campaign (thousands).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.errors import ProvauditError
from provenance.keys import default_identity
from provenance.signing import ProvenanceSigner, SignRequest
from provenance.verify import ProvenanceVerifier
from tests.conftest import encode, make_image

EXAMPLES = int(os.environ.get("PROVAUDIT_MUTATION_EXAMPLES", "150"))
CAMPAIGN = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def signed_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[bytes, bytes]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROVAUDIT_HOME", str(tmp_path_factory.mktemp("mutation-home")))
        identity, _ = default_identity()
        photo = encode(make_image((320, 240)), "JPEG", quality=90)
        signed = ProvenanceSigner(identity).sign(photo, SignRequest(title="m.jpg")).data
        yield signed, identity.root_pem


@pytest.fixture(scope="module")
def detector() -> Iterator[Any]:
    from service.ai_origin import load_detector

    loaded = load_detector(None)
    yield loaded
    loaded.close()


def _outside_manifest(jpeg: bytes) -> bytes:
    """The bytes C2PA's data hash covers: everything but the APP11 (JUMBF) segments."""
    kept, offset = [jpeg[:2]], 2
    while offset + 4 <= len(jpeg) and jpeg[offset] == 0xFF:
        marker = jpeg[offset + 1]
        if marker == 0xDA:  # start of scan: the rest is pixels
            break
        length = int.from_bytes(jpeg[offset + 2 : offset + 4], "big")
        if marker != 0xEB:
            kept.append(jpeg[offset : offset + 2 + length])
        offset += 2 + length
    kept.append(jpeg[offset:])
    return b"".join(kept)


@pytest.fixture(scope="module")
def verifier(signed_jpeg: tuple[bytes, bytes]) -> ProvenanceVerifier:
    return ProvenanceVerifier(signed_jpeg[1])


def test_the_unmutated_file_is_trusted(signed_jpeg, verifier):
    assert verifier.verify_bytes(signed_jpeg[0]).state == "trusted"


@CAMPAIGN
@given(data=st.data())
def test_a_flip_in_the_signed_pixels_is_never_trusted(signed_jpeg, verifier, data):
    signed = signed_jpeg[0]
    pixels_start = signed.rindex(b"\xff\xda") + 16  # inside the entropy-coded scan
    position = data.draw(st.integers(pixels_start, len(signed) - 3), label="position")
    bit = data.draw(st.integers(0, 7), label="bit")
    mutated = bytearray(signed)
    mutated[position] ^= 1 << bit
    try:
        report = verifier.verify_bytes(bytes(mutated), "mutated.jpg")
    except ProvauditError:
        return  # refused with one sentence: fine, it is not "trusted"
    assert report.state != "trusted"


@CAMPAIGN
@given(data=st.data())
def test_any_mutation_gets_a_report_or_one_sentence_never_a_crash(signed_jpeg, verifier, data):
    signed = signed_jpeg[0]
    mutated = bytearray(signed)
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        position = data.draw(st.integers(0, len(signed) - 1), label="position")
        mutated[position] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    try:
        report = verifier.verify_bytes(bytes(mutated), "mutated.jpg")
    except ProvauditError as exc:
        assert str(exc)
        return
    assert report.state in ("trusted", "valid", "invalid", "absent")
    if report.state == "trusted":
        # Trusted only if every byte the data hash covers is unchanged (a flip in an
        # unsigned part of the manifest store may leave the signature intact).
        assert _outside_manifest(bytes(mutated)) == _outside_manifest(signed)


@settings(
    max_examples=max(20, EXAMPLES // 5),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_an_audit_of_a_decodable_mutation_always_has_a_detector_score(signed_jpeg, detector, data):
    """Whatever a mutation does to the manifest, an image that decodes is scored."""
    from provenance.media import decode_image
    from service.pipeline import AuditPipeline

    signed = signed_jpeg[0]
    manifest_end = signed.rindex(b"\xff\xda")
    mutated = bytearray(signed)
    position = data.draw(st.integers(4, manifest_end - 1), label="position")
    mutated[position] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    try:
        decode_image(bytes(mutated), "mutated.jpg")
    except ProvauditError:
        return  # not an image any more: a 4xx is right
    pipeline = AuditPipeline(ProvenanceVerifier(signed_jpeg[1]), scorer=detector)
    try:
        result = pipeline.audit(bytes(mutated), "mutated.jpg")
    except ProvauditError as exc:
        pytest.fail(f"a decodable image was refused: {exc}")
    assert result.ai_origin is not None and 0.0 <= result.ai_origin["p_ai"] <= 1.0
    assert result.verdict
