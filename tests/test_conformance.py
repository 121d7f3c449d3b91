"""The C2PA consortium's public test files get the verdicts a correct verifier gives.

The vendored subset in tests/fixtures/c2pa always runs; the whole set runs when
../shared/c2pa-testfiles is present beside the repository.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from provenance.verify import ProvenanceVerifier
from tests.conftest import C2PA_FIXTURES, SHARED

SHARED_C2PA = SHARED / "c2pa-testfiles"


@dataclass(frozen=True)
class Expected:
    file: str
    state: str
    failures: tuple[str, ...]
    ingredient_problems: tuple[str, ...]
    manifests: int


def _codes(cell: str) -> tuple[str, ...]:
    return () if cell in ("—", "-", "") else tuple(sorted(c.strip() for c in cell.split(",")))


def parse_expected(markdown: str) -> list[Expected]:
    rows = []
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 6 or not cells[0].endswith((".jpg", ".jpeg", ".pdf")):
            continue
        file, _page, state, failures, ingredient, manifests = cells
        rows.append(
            Expected(file, state.lower(), _codes(failures), _codes(ingredient), int(manifests))
        )
    return rows


# The verdicts for the vendored files, from EXPECTED.md, so they run without ../shared.
VENDORED = [
    Expected("adobe-20220124-A.jpg", "absent", (), (), 0),
    Expected("adobe-20220124-CA.jpg", "trusted", (), (), 1),
    Expected(
        "adobe-20220124-CIE-sig-CA.jpg",
        "trusted",
        (),
        ("claimSignature.mismatch", "timeStamp.mismatch"),
        2,
    ),
    Expected("adobe-20220124-E-dat-CA.jpg", "invalid", ("assertion.dataHash.mismatch",), (), 1),
    Expected("adobe-20220124-E-sig-CA.jpg", "invalid", ("claimSignature.mismatch",), (), 1),
    Expected("adobe-20220124-XCA.jpg", "invalid", ("assertion.dataHash.mismatch",), (), 1),
]


@pytest.fixture(scope="module")
def verifier() -> ProvenanceVerifier:
    return ProvenanceVerifier.from_files([C2PA_FIXTURES / "test_cert_root_bundle.pem"])


EXPIRY_ONLY = ("signingCredential.expired", "signingCredential.untrusted")


def check(report_dict: dict, expected: Expected) -> None:
    assert report_dict["c2pa_state"] == (None if expected.state == "absent" else expected.state)
    if expected.state == "invalid" and expected.failures == EXPIRY_ONLY:
        # Intact, but signed by a certificate that has since expired, with no time-stamp:
        # c2pa says invalid; provaudit tells it from tampering.
        assert report_dict["state"] == "valid" and report_dict["credential_expired"]
    else:
        assert report_dict["state"] == expected.state
        assert not report_dict["credential_expired"]
    assert tuple(report_dict["failure_codes"]) == expected.failures
    assert tuple(report_dict["ingredient_problem_codes"]) == expected.ingredient_problems
    assert report_dict["manifests"] == expected.manifests


@pytest.mark.parametrize("expected", VENDORED, ids=lambda e: e.file)
def test_vendored_conformance_files(verifier, expected):
    check(verifier.verify_file(C2PA_FIXTURES / expected.file).to_dict(), expected)


def _shared_rows() -> list[Expected]:
    expected_md = SHARED_C2PA / "EXPECTED.md"
    return parse_expected(expected_md.read_text()) if expected_md.is_file() else []


@pytest.mark.conformance
@pytest.mark.skipif(not SHARED_C2PA.is_dir(), reason="../shared/c2pa-testfiles is not present")
@pytest.mark.parametrize("expected", _shared_rows(), ids=lambda e: e.file)
def test_every_consortium_file_through_the_cli(run_cli, expected):
    """The whole set, through `provaudit verify --json` as a user runs it."""
    (path,) = list(SHARED_C2PA.rglob(expected.file))
    result = run_cli("verify", path, "--json", "--trust", SHARED_C2PA / "test_cert_root_bundle.pem")
    report = json.loads(result.stdout)
    check(report, expected)
    assert (
        result.returncode == {"trusted": 0, "valid": 3, "absent": 4, "invalid": 5}[report["state"]]
    )


def test_vendored_table_agrees_with_shared_expected():
    rows = {row.file: row for row in _shared_rows()}
    if not rows:
        pytest.skip("../shared/c2pa-testfiles is not present")
    for expected in VENDORED:
        assert rows[expected.file] == expected
    assert len(rows) == 27


def test_untrusted_without_anchors(verifier):
    report = ProvenanceVerifier().verify_file(C2PA_FIXTURES / "adobe-20220124-CA.jpg")
    assert report.state == "valid"
    assert report.failure_codes == ["signingCredential.untrusted"]


def test_vendored_license_is_present():
    assert "Attribution-ShareAlike 4.0" in (C2PA_FIXTURES / "LICENSE").read_text()
    assert Path(C2PA_FIXTURES / "test_cert_root_bundle.pem").read_text().count("BEGIN") >= 1
