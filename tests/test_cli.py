"""The CLI as users meet it: exit codes, JSON shape, and one readable line for bad input."""

from __future__ import annotations

import json
import struct
import zlib

import pytest

from provenance.cli.exit_status import ExitStatus, worst
from tests.conftest import C2PA_FIXTURES, encode, make_image

TRUST = C2PA_FIXTURES / "test_cert_root_bundle.pem"
REPORT_KEYS = {
    "path",
    "state",
    "format",
    "active_manifest",
    "manifests",
    "title",
    "claim_generator",
    "signer",
    "failures",
    "ingredient_problems",
    "ai_declared",
    "digital_source_types",
    "generator",
    "iptc",
    "ingredients",
    "failure_codes",
    "ingredient_problem_codes",
}


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def huge_png(width: int = 40_000, height: int = 40_000) -> bytes:
    """A small file whose header claims 1.6 gigapixels: a decompression bomb."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


@pytest.fixture
def bad_inputs(tmp_path):
    jpeg = encode(make_image(), "JPEG")
    files = {
        "empty.jpg": b"",
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "text.jpg": b"this is not an image, just text\n",
        "image.bmp": encode(make_image(), "BMP"),
        "bomb.png": huge_png(),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(data)
    paths["a-directory"] = tmp_path / "folder"
    paths["a-directory"].mkdir()
    paths["missing.jpg"] = tmp_path / "missing.jpg"
    return paths


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.jpg", "is empty"),
        ("truncated.jpg", "truncated"),
        ("text.jpg", "not a supported image"),
        ("image.bmp", "not a supported image"),
        ("bomb.png", "too many pixels"),
        ("a-directory", "is a directory"),
        ("missing.jpg", "does not exist"),
    ],
)
@pytest.mark.parametrize("command", ["verify", "sign", "hash"])
def test_bad_input_gets_one_line_and_nonzero_exit(
    run_cli, bad_inputs, tmp_path, name, message, command
):
    extra = ["-o", str(tmp_path / "out.jpg")] if command == "sign" else []
    result = run_cli(command, bad_inputs[name], *extra)
    assert result.returncode == ExitStatus.ERROR
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert message in lines[0]
    assert not (tmp_path / "out.jpg").exists(), "a failed sign must not leave an output"


def test_batch_verify_reports_every_file_and_goes_on(run_cli, bad_inputs):
    good = C2PA_FIXTURES / "adobe-20220124-CA.jpg"
    result = run_cli(
        "verify", bad_inputs["empty.jpg"], good, bad_inputs["text.jpg"], "--json", "--trust", TRUST
    )
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["state"] for r in reports] == ["error", "trusted", "error"]
    assert reports[0]["error"]["code"] == "bad_input"
    assert reports[2]["error"]["code"] == "unsupported_format"
    assert len(result.stderr.strip().splitlines()) == 2
    assert result.returncode == ExitStatus.ERROR


@pytest.mark.parametrize(
    ("file", "status"),
    [
        ("adobe-20220124-CA.jpg", ExitStatus.SUCCESS),
        ("adobe-20220124-A.jpg", ExitStatus.ABSENT),
        ("adobe-20220124-E-sig-CA.jpg", ExitStatus.INVALID),
    ],
)
def test_exit_status_follows_state(run_cli, file, status):
    result = run_cli("verify", C2PA_FIXTURES / file, "--trust", TRUST)
    assert result.returncode == status, result.stderr


def test_untrusted_exit_status_and_worst_of_batch(run_cli):
    result = run_cli("verify", C2PA_FIXTURES / "adobe-20220124-CA.jpg")
    assert result.returncode == ExitStatus.UNTRUSTED
    result = run_cli(
        "verify",
        C2PA_FIXTURES / "adobe-20220124-CA.jpg",
        C2PA_FIXTURES / "adobe-20220124-XCA.jpg",
        C2PA_FIXTURES / "adobe-20220124-A.jpg",
    )
    assert result.returncode == ExitStatus.INVALID
    assert worst([ExitStatus.SUCCESS, ExitStatus.ABSENT, ExitStatus.UNTRUSTED]) == ExitStatus.ABSENT


def test_json_report_schema(run_cli):
    result = run_cli(
        "verify",
        C2PA_FIXTURES / "adobe-20220124-CIE-sig-CA.jpg",
        "--json",
        "--trust",
        TRUST,
        "--certs",
    )
    report = json.loads(result.stdout)
    assert set(report) >= REPORT_KEYS
    assert report["signer"]["common_name"] == "C2PA Signer"
    assert report["signer"]["algorithm"] == "PS256"
    assert report["ingredients"][0]["problems"] == ["claimSignature.mismatch", "timeStamp.mismatch"]
    assert report["ingredients"][0]["ingredients"][0]["title"] == "A.jpg"
    assert next(c["manifest"] for c in report["certificates"]) == report["active_manifest"]
    assert "detailed" not in report


def test_text_output_with_tree(run_cli):
    result = run_cli(
        "verify", C2PA_FIXTURES / "adobe-20220124-CIE-sig-CA.jpg", "--tree", "--trust", TRUST
    )
    assert "TRUSTED" in result.stdout
    assert "ingredient problem" in result.stdout
    assert "E-sig-CA.jpg" in result.stdout and "A.jpg" in result.stdout


def test_sign_then_verify_in_two_commands(run_cli, tmp_path):
    """A newcomer's first steps: no keys set up, sign, then verify with the dev root."""
    source = tmp_path / "photo.png"
    make_image().save(source)
    result = run_cli("sign", source, "-o", tmp_path / "signed.png", "--ai-generated", "--json")
    assert result.returncode == 0, result.stderr
    assert "DEVELOPMENT signing identity" in result.stderr
    assert json.loads(result.stdout)["development_identity"] is True
    result = run_cli("verify", tmp_path / "signed.png", "--trust-dev")
    assert result.returncode == ExitStatus.SUCCESS, result.stdout + result.stderr
    assert "declares AI generation: yes" in result.stdout


def test_keys_init_then_sign_with_explicit_files(run_cli, tmp_path):
    result = run_cli("keys", "init", tmp_path / "keys", "--json")
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    again = run_cli("keys", "init", tmp_path / "keys")
    assert again.returncode == ExitStatus.ERROR and "--force" in again.stderr
    source = tmp_path / "photo.webp"
    make_image().save(source, "WEBP")
    result = run_cli(
        "sign",
        source,
        "-o",
        tmp_path / "signed.webp",
        "--cert",
        created["signing_certificate"],
        "--key",
        created["private_key"],
    )
    assert result.returncode == 0, result.stderr
    result = run_cli("verify", tmp_path / "signed.webp", "--trust", created["root_certificate"])
    assert result.returncode == ExitStatus.SUCCESS


def test_usage_errors(run_cli, tmp_path):
    assert run_cli("verify").returncode == ExitStatus.USAGE
    assert run_cli("no-such-command").returncode == ExitStatus.USAGE
    not_pem = tmp_path / "anchors.pem"
    not_pem.write_text("nope")
    result = run_cli("verify", C2PA_FIXTURES / "adobe-20220124-CA.jpg", "--trust", not_pem)
    assert result.returncode == ExitStatus.USAGE
    assert "hold no PEM certificate" in result.stderr


def test_version_and_help(run_cli):
    assert run_cli("--version").stdout.startswith("provaudit ")
    result = run_cli("--help")
    for command in ("verify", "sign", "keys", "hash"):
        assert command in result.stdout


@pytest.mark.parametrize(
    "command",
    [("verify",), ("detect",), ("generate",), ("detectors", "train"), ("bank", "lookup")],
)
def test_help_shows_no_type_noise(run_cli, command):
    result = run_cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "<bool>" not in result.stdout and "<list[" not in result.stdout
    assert "--json" in result.stdout


def test_an_image_over_the_decode_budget_is_refused_before_decoding(run_cli, tmp_path):
    flat = tmp_path / "flat.png"
    flat.write_bytes(huge_png(9_400, 9_400))  # under Pillow's bomb limit
    result = run_cli("hash", flat)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "budget 50,000,000 pixels" in line and "PROVAUDIT_MAX_DECODE_PIXELS" in line


def test_detect_json_reports_a_bad_file_on_stderr_too(run_cli, tmp_path):
    """A script reading --json from stdout and a person reading the terminal both learn
    why a file failed, as with verify and hash."""
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    result = run_cli("detect", "--json", "--no-progress", empty)
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["code"]
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")]
