"""The training-and-data-mining assertion: written by ``sign`` and read back by ``verify``
with real c2pa, from the CLI, the library and ``/v1/sign``."""

from __future__ import annotations

import json

import pytest

from provenance.cli.exit_status import ExitStatus
from provenance.errors import InputError
from provenance.keys import default_identity
from provenance.media import check_media
from provenance.signing import ProvenanceSigner, SignRequest, build_manifest_definition
from provenance.trainingmining import TrainingMining, read_training_mining
from provenance.verify import ProvenanceVerifier
from tests.conftest import encode, make_image


def test_sign_not_allowed_then_verify_reads_it_back(run_cli, tmp_path):
    source = tmp_path / "photo.jpg"
    source.write_bytes(encode(make_image(), "JPEG"))
    signed = tmp_path / "signed.jpg"
    result = run_cli(
        "sign",
        source,
        "-o",
        signed,
        "--training-mining",
        "notAllowed",
        "--ai-inference",
        "constrained",
        "--constraint-info",
        "mailto:rights@example.org",
        "--no-record",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["training_mining"]["ai_training"] == "notAllowed"

    result = run_cli("verify", signed, "--trust-dev", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    statement = report["training_mining"]
    assert statement["label"] == "cawg.training-mining"
    assert statement["entries"] == {
        "ai_training": {"use": "notAllowed"},
        "ai_generative_training": {"use": "notAllowed"},
        "ai_inference": {"use": "constrained", "constraint_info": "mailto:rights@example.org"},
        "data_mining": {"use": "notAllowed"},
    }
    assert statement["forbids_training"] is True

    text = run_cli("verify", signed, "--trust-dev").stdout
    assert "training and data mining: ai training notAllowed;" in text


def test_a_file_without_the_assertion_reports_none(run_cli, tmp_path):
    source = tmp_path / "photo.png"
    source.write_bytes(encode(make_image(), "PNG"))
    signed = tmp_path / "signed.png"
    assert run_cli("sign", source, "-o", signed, "--no-record").returncode == 0
    report = json.loads(run_cli("verify", signed, "--trust-dev", "--json").stdout)
    assert report["state"] == "trusted"
    assert report["training_mining"] is None
    assert "training and data mining" not in run_cli("verify", signed, "--trust-dev").stdout


def test_one_use_overrides_the_shortcut_and_allowed_does_not_forbid():
    identity, _ = default_identity()
    signer = ProvenanceSigner(identity)
    statement = TrainingMining.all("allowed")
    signed = signer.sign(
        encode(make_image(), "PNG"),
        SignRequest(
            training_mining=TrainingMining(**{**statement.uses(), "ai_training": "notAllowed"})
        ),
    )
    report = ProvenanceVerifier(identity.root_pem).verify_bytes(signed.data)
    assert report.training_mining is not None
    assert report.training_mining.entries["ai_training"] == {"use": "notAllowed"}
    assert report.training_mining.entries["data_mining"] == {"use": "allowed"}
    assert report.training_mining.forbids_training

    allowed = signer.sign(encode(make_image(), "PNG"), SignRequest(training_mining=statement))
    report = ProvenanceVerifier(identity.root_pem).verify_bytes(allowed.data)
    assert not report.training_mining.forbids_training


def test_the_c2pa_1x_label_is_read_too():
    identity, _ = default_identity()
    media = check_media(encode(make_image(), "PNG"), "old.png")
    definition = build_manifest_definition(SignRequest(ai_generated=True), media)
    definition["assertions"].append(
        {
            "label": "c2pa.training-mining",
            "data": {"entries": {"c2pa.ai_generative_training": {"use": "notAllowed"}}},
        }
    )
    signed = ProvenanceSigner(identity).sign(
        media, SignRequest(manifest_definition=definition, soft_binding=False)
    )
    report = ProvenanceVerifier(identity.root_pem).verify_bytes(signed.data)
    assert report.training_mining.label == "c2pa.training-mining"
    assert report.training_mining.entries == {"ai_generative_training": {"use": "notAllowed"}}
    assert report.training_mining.forbids_training
    assert read_training_mining({"assertions": []}) is None


@pytest.mark.parametrize(
    "args",
    [
        ("--training-mining", "maybe"),
        ("--ai-training", "allowed", "--constraint-info", "ask first"),
        ("--constraint-info", "ask first"),
    ],
)
def test_bad_training_options_are_refused_in_one_line_before_signing(run_cli, tmp_path, args):
    source = tmp_path / "photo.png"
    source.write_bytes(encode(make_image(), "PNG"))
    result = run_cli("sign", source, "-o", tmp_path / "out.png", "--no-record", *args)
    assert result.returncode == ExitStatus.USAGE
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out.png").exists()


def test_check_use_accepts_the_spec_spelling_only_in_any_case():
    assert TrainingMining.all("NOTALLOWED").ai_training == "notAllowed"
    with pytest.raises(InputError):
        TrainingMining()
