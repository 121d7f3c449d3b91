"""The C2PA trust list as validators use it: shipped, checked by default, named in every
report, extended with `provaudit trust add`; and `verify --strict` / `--crjson`."""

from __future__ import annotations

import hashlib
import json

import pytest

from provenance.trustlist import TRUST_LISTS_DIR, bundled_trust_list
from tests.conftest import C2PA_FIXTURES, SHARED, encode, make_image

CIE_SIG = C2PA_FIXTURES / "adobe-20220124-CIE-sig-CA.jpg"
TEST_ROOTS = C2PA_FIXTURES / "test_cert_root_bundle.pem"


def test_the_shipped_lists_are_the_consortiums_snapshot_with_its_licence():
    claim, tsa = bundled_trust_list("c2pa"), bundled_trust_list("c2pa-tsa")
    assert (claim.info.anchors, tsa.info.anchors) == (30, 22)
    assert claim.info.name == "C2PA Trust List" and claim.info.issued.startswith("2026-")
    assert any(anchor.name == "Adobe Inc" for anchor in claim.anchors)
    assert "Attribution 4.0 International" in (TRUST_LISTS_DIR / "LICENSE").read_text()
    shared = SHARED / "c2pa-conformance" / "trust-list" / "C2PA-TRUST-LIST.pem"
    if shared.is_file():  # the pinned snapshot, byte for byte
        assert claim.info.sha256 == hashlib.sha256(shared.read_bytes()).hexdigest()


def test_every_report_names_the_list_and_none_turns_it_off(run_cli):
    default = json.loads(
        run_cli("verify", C2PA_FIXTURES / "adobe-20220124-CA.jpg", "--json").stdout
    )
    listed = bundled_trust_list("c2pa").info
    assert default["trust_list"] == listed.to_dict()
    absent = json.loads(run_cli("verify", C2PA_FIXTURES / "adobe-20220124-A.jpg", "--json").stdout)
    assert absent["trust_list"]["sha256"] == listed.sha256
    off = run_cli(
        "verify", C2PA_FIXTURES / "adobe-20220124-CA.jpg", "--json", "--trust-list", "none"
    )
    assert json.loads(off.stdout)["trust_list"] is None
    bad = run_cli("verify", C2PA_FIXTURES / "adobe-20220124-CA.jpg", "--trust-list", "mine")
    assert bad.returncode == 2 and "Unknown trust list" in bad.stderr


def test_trust_add_makes_a_signer_trusted_in_verify(run_cli, tmp_path, provaudit_home):
    source = tmp_path / "in.jpg"
    source.write_bytes(encode(make_image(), "JPEG"))
    signed = tmp_path / "signed.jpg"
    assert run_cli("sign", source, "-o", signed, "--no-record").returncode == 0
    assert run_cli("verify", signed).returncode == 3  # the dev root is on no list

    root = provaudit_home / "dev-identity" / "root-ca.pem"
    added = run_cli("trust", "add", root, "--json")
    assert added.returncode == 0, added.stderr
    fingerprint = json.loads(added.stdout)["added"][0]["sha256"]
    assert run_cli("verify", signed).returncode == 0
    listing = json.loads(run_cli("trust", "list", "--json").stdout)
    assert fingerprint in {anchor["sha256"] for anchor in listing["anchors"]}
    shown = run_cli("trust", "show", fingerprint[:12])
    assert "BEGIN CERTIFICATE" in shown.stdout and "source: user" in shown.stdout
    # --trust-list none drops the list and the user's anchors alike.
    assert run_cli("verify", signed, "--trust-list", "none").returncode == 3


def test_trust_add_refuses_a_file_without_certificates(run_cli, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    result = run_cli("trust", "add", junk)
    assert result.returncode == 1
    assert result.stderr.strip().endswith("holds no PEM certificate.")


@pytest.mark.parametrize("strict, status", [(False, 0), (True, 5)])
def test_strict_counts_an_ingredients_broken_signature(run_cli, strict, status):
    """CIE-sig-CA: a trusted active manifest whose ingredient's signature is invalid."""
    result = run_cli("verify", CIE_SIG, "--trust", TEST_ROOTS, *(["--strict"] if strict else []))
    assert result.returncode == status
    assert "ingredient problem" in result.stdout


def test_json_has_the_edit_history_and_crjson_on_request(run_cli):
    path = C2PA_FIXTURES / "adobe-20220124-CA.jpg"
    plain = json.loads(run_cli("verify", path, "--json").stdout)
    assert [action["action"] for action in plain["actions"]] == [
        "c2pa.opened",
        "c2pa.color_adjustments",
    ]
    assert "crjson" not in plain
    full = json.loads(run_cli("verify", path, "--json", "--crjson").stdout)
    assert full["crjson"]["manifests"]


def test_a_time_stamps_authority_is_checked_against_the_tsa_list(run_cli):
    """The Adobe sample was time-stamped by DigiCert's general TSA, which is not on the
    C2PA TSA list (DigiCert's C2PA TSA is); c2pa calls the time-stamp trusted anyway."""
    from provenance.timestamps import check_tsa, signature_box, timestamp_token, token_certificates
    from provenance.trustlist import _anchor

    path = C2PA_FIXTURES / "adobe-20220124-CA.jpg"
    report = json.loads(run_cli("verify", path, "--json").stdout)
    assert report["signer"]["signing_time"]
    assert report["timestamp"] == {
        "tsa": "DigiCert Timestamp 2022 - 2",
        "on_tsa_list": False,
        "tsa_list": f"C2PA TSA Trust List ({bundled_trust_list('c2pa-tsa').info.issued[:10]})",
    }

    token = timestamp_token(signature_box(path.read_bytes(), report["active_manifest"]))
    leaf, intermediate, root = token_certificates(token)
    assert "TimeStamping CA" in intermediate.subject.rfc4514_string()
    for anchor in (leaf, intermediate, root):  # the chain is followed up to any listed link
        assert check_tsa(token, [_anchor(anchor, None, "test")], "test").on_tsa_list
    unrelated = list(bundled_trust_list("c2pa-tsa").anchors)
    assert not check_tsa(token, unrelated, "C2PA").on_tsa_list
