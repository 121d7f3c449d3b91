"""The Asset Rubrics' local signals: provenance/rubrics.py agrees with the consortium's
rubric file rule by rule, and gives the signals a reader expects on files built here."""

from __future__ import annotations

import re

import pytest
import yaml

from provenance import rubrics
from provenance.keys import default_identity
from provenance.signing import Parent, ProvenanceSigner, SignRequest
from provenance.verify import ProvenanceVerifier
from tests.conftest import FIXTURES, encode, make_image

RUBRIC_FILE = FIXTURES / "asset-rubrics" / "asset-rubric-signals-local.yml"
IPTC = rubrics.IPTC


@pytest.fixture(scope="module")
def rubric() -> tuple[dict, list[dict]]:
    header, rules = list(yaml.safe_load_all(RUBRIC_FILE.read_text()))
    return header, rules


def test_every_rule_of_the_rubric_is_implemented_with_its_report_text(rubric):
    header, rules = rubric
    assert header["rubric_metadata"]["version"] == "1.0"
    assert {rule["id"] for rule in rules} == set(rubrics.RULES)
    for rule in rules:
        assert rubrics.REPORT_TEXT[rule["id"]] == rule["reportText"]["true"]["en"], rule["id"]


def test_inception_rules_name_the_rubrics_source_types(rubric):
    _header, rules = rubric
    created = re.compile(r'_createdWithDst\(@,\s*"([^"]+)"\)')
    inception = {rule["id"]: rule for rule in rules if created.search(rule["expression"])}
    assert set(inception) == set(rubrics.INCEPTION_DST)
    for rule_id, rule in inception.items():
        assert tuple(created.findall(rule["expression"])) == rubrics.INCEPTION_DST[rule_id]


def test_the_variable_lists_are_the_rubrics(rubric):
    variables = rubric[0]["variables"]
    assert tuple(variables["$inception_actions"]) == rubrics.INCEPTION_ACTIONS
    assert tuple(variables["$non_editorial_actions"]) == rubrics.NON_EDITORIAL_ACTIONS
    assert tuple(variables["$genai_dst_types"]) == rubrics.GENAI_DST_TYPES
    assert tuple(variables["$possibly_genai_dst_types"]) == rubrics.POSSIBLY_GENAI_DST_TYPES


def _manifest(*actions: dict, complete: bool = True, **assertions: dict) -> dict:
    data: dict = {"actions": list(actions)}
    if complete:
        data["allActionsIncluded"] = True
    return {"label": "urn:c2pa:test", "assertions": {"c2pa.actions.v2": data, **assertions}}


CASES = {
    # One case per rule, each with what it must and must not raise.
    "fully generated": (
        _manifest(
            {"action": "c2pa.created", "digitalSourceType": IPTC + "trainedAlgorithmicMedia"}
        ),
        ["inception:signal_fullyGenAIMedia"],
    ),
    "Firefly's https URI": (
        _manifest(
            {
                "action": "c2pa.created",
                "digitalSourceType": "https://cv.iptc.org/newscodes/digitalsourcetype/"
                "trainedAlgorithmicMedia",
            }
        ),
        ["inception:signal_fullyGenAIMedia"],
    ),
    "camera": (
        _manifest({"action": "c2pa.created", "digitalSourceType": IPTC + "computationalCapture"}),
        ["inception:signal_capturedMedia"],
    ),
    "blank canvas": (
        _manifest(
            {"action": "c2pa.created", "digitalSourceType": rubrics.C2PA_DST + "empty"},
            {"action": "c2pa.drawing", "digitalSourceType": IPTC + "digitalCreation"},
        ),
        ["inception:signal_blankCanvas", "transformation:signal_perceptibleNonGenAI"],
    ),
    "generative fill": (
        _manifest(
            {"action": "c2pa.opened"},
            {"action": "c2pa.edited", "digitalSourceType": IPTC + "trainedAlgorithmicMedia"},
        ),
        ["transformation:signal_perceptibleGenAI"],
    ),
    "possibly GenAI edit": (
        _manifest({"action": "c2pa.edited", "digitalSourceType": IPTC + "digitalArt"}),
        [
            "transformation:signal_perceptibleNonGenAI",
            "transformation:signal_perceptiblePossiblyGenAI",
        ],
    ),
    "converted": (_manifest({"action": "c2pa.converted"}), ["transformation:signal_nonEditorial"]),
    "custom action": (
        _manifest({"action": "com.example.magic"}),
        ["transformation:signal_ambiguousActions"],
    ),
    "incomplete history": (
        _manifest({"action": "c2pa.converted"}, complete=False),
        ["transformation:signal_ambiguousActions", "transformation:signal_nonEditorial"],
    ),
    "unknown provenance ingredient": (
        _manifest(
            {"action": "c2pa.opened"},
            **{"c2pa.ingredient.v3": {"relationship": "parentOf", "dc:title": "x.jpg"}},
        ),
        ["inception:signal_mediaUnknownProvenance"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_rule_on_a_manifest_made_for_it(case):
    manifest, expected = CASES[case]
    assert rubrics.manifest_signals(manifest) == sorted(expected)


def test_signals_follow_the_chain_of_a_converted_ai_image():
    """A ChatGPT-like download: the active manifest converts, the parent was generated."""
    identity, _ = default_identity()
    signer = ProvenanceSigner(identity)
    parent = signer.sign(encode(make_image(), "PNG"), SignRequest(ai_generated=True)).data
    assert [
        signal["id"]
        for signal in ProvenanceVerifier(identity.root_pem).verify_bytes(parent).asset_signals
    ] == ["inception:signal_fullyGenAIMedia"]  # our own signatures read unambiguous
    child = signer.sign(
        encode(make_image(), "JPEG"),
        SignRequest(parent=Parent(parent, "gen.png"), edit_actions=("c2pa.converted",)),
    ).data
    report = ProvenanceVerifier(identity.root_pem).verify_bytes(child)
    by_manifest = {}
    for signal in report.asset_signals:
        by_manifest.setdefault(signal["manifest"], []).append(signal["id"])
    assert by_manifest.pop(report.active_manifest) == ["transformation:signal_nonEditorial"]
    assert list(by_manifest.values()) == [["inception:signal_fullyGenAIMedia"]]
