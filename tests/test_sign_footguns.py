"""``sign`` refuses what c2patool users expect refused: an output named for another format,
an existing output without -f, a digital source type outside the IPTC vocabulary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from provenance.cli.exit_status import ExitStatus
from tests.conftest import encode, make_image
from tests.servers import Server, start_server, stop_server

API_KEY = "sign-key-789"


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    path.write_bytes(encode(make_image(), "JPEG", quality=90))
    return path


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error:"), stderr
    return lines[0]


def test_an_output_named_for_another_format_is_refused_and_nothing_is_written(
    run_cli, photo, tmp_path
):
    result = run_cli("sign", photo, "-o", tmp_path / "y.png")
    assert result.returncode == ExitStatus.ERROR
    line = _one_error_line(result.stderr)
    assert "y.png" in line and "photo.jpg" in line and "JPEG" in line
    assert not (tmp_path / "y.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]


@pytest.mark.parametrize("name", ["y.jpg", "y.JPEG", "y.jfif", "y"])
def test_an_output_named_for_the_input_format_is_signed_in_it(run_cli, photo, tmp_path, name):
    result = run_cli("sign", photo, "-o", tmp_path / name, "--json")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / name).read_bytes()[:3] == b"\xff\xd8\xff"


def test_an_existing_output_is_kept_unless_forced(run_cli, photo, tmp_path):
    output = tmp_path / "signed.jpg"
    output.write_bytes(b"precious")
    refused = run_cli("sign", photo, "-o", output)
    assert refused.returncode == ExitStatus.ERROR
    line = _one_error_line(refused.stderr)
    assert "already exists" in line and "--force" in line
    assert output.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg", "signed.jpg"]

    forced = run_cli("sign", photo, "-o", output, "-f")
    assert forced.returncode == 0, forced.stderr
    assert output.read_bytes()[:3] == b"\xff\xd8\xff"
    verified = run_cli("verify", output, "--trust-dev", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_an_unknown_source_type_is_refused_with_the_known_terms(run_cli, photo, tmp_path):
    result = run_cli("sign", photo, "-o", tmp_path / "s.jpg", "--source-type", "bogus")
    assert result.returncode == ExitStatus.ERROR
    line = _one_error_line(result.stderr)
    assert "'bogus'" in line
    for term in ("digitalCapture", "trainedAlgorithmicMedia", "compositeSynthetic"):
        assert term in line
    assert not (tmp_path / "s.jpg").exists()


def test_a_known_source_type_is_signed_and_shown(run_cli, photo, tmp_path):
    output = tmp_path / "s.jpg"
    result = run_cli("sign", photo, "-o", output, "--source-type", "digitalCapture")
    assert result.returncode == 0, result.stderr
    report = run_cli("verify", output, "--trust-dev", "--json")
    assert '/digitalsourcetype/digitalCapture"' in report.stdout


def test_sign_file_refuses_an_output_that_appears_while_signing(photo, tmp_path):
    """The check before signing is repeated atomically when the file is put in place."""
    from provenance.errors import InputError
    from provenance.keys import default_identity
    from provenance.signing import ProvenanceSigner, SignRequest, sign_file

    output = tmp_path / "late.jpg"

    class Racer(ProvenanceSigner):
        def sign(self, data, request=None):  # type: ignore[override]
            signed = super().sign(data, request)
            output.write_bytes(b"arrived meanwhile")
            return signed

    identity, _ = default_identity()
    with pytest.raises(InputError, match="already exists"):
        sign_file(photo, output, Racer(identity), SignRequest())
    assert output.read_bytes() == b"arrived meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.jpg", "photo.jpg"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("sign-service"), API_KEY)
    yield running
    stop_server(running)


def test_the_api_refuses_an_unknown_source_type_and_signs_a_known_one(server):
    image = encode(make_image(), "PNG")
    with server.client(headers={"X-API-Key": API_KEY}) as client:
        refused = client.post(
            "/v1/sign", files={"file": ("a.png", image, "image/png")}, data={"source_type": "bogus"}
        )
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "bad_input" and "digitalCapture" in error["message"]
        signed = client.post(
            "/v1/sign",
            files={"file": ("a.png", image, "image/png")},
            data={"source_type": "digitalCapture"},
        )
        assert signed.status_code == 200, signed.text
        assert signed.headers["content-type"] == "image/png"
        report = client.post(
            "/v1/verify", files={"file": ("a.png", signed.content, "image/png")}
        ).json()
    assert any(t.endswith("/digitalCapture") for t in report["digital_source_types"]), report
