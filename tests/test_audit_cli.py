"""``provaudit audit`` against ``POST /v1/audit`` on a real uvicorn server: same JSON.

The server and the command share one data folder (the development identity, the SQLite
registry with the manifest the server signed and a hash bank), as a moderator's
command and the service do on one machine. The bundled detector scores on both sides.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from provenance.cli.exit_status import ExitStatus
from service.audit.cli import verdict_status
from tests.conftest import C2PA_FIXTURES, REPO_ROOT, encode, make_image
from tests.servers import Server, start_server, stop_server

API_KEY = "audit-key-789"
WRITE = {"X-API-Key": API_KEY}

ONLY_IN_THE_API = {"audit_id", "created"}
"""The service's record of the audit: its id and when it was stored (the command stores
nothing)."""
ONLY_IN_THE_COMMAND = {"path"}
"""The file as named on the command line (an upload has only its file name, which both
report as ``filename``)."""
FLOAT_TOLERANCE = 1e-6
"""Detector scores: the micro-batcher may group an image's tiles with other images'
(server) or not (command), and onnxruntime's sums may then differ in the last bits."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("audit-home"), API_KEY)
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def folder(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A signed AI image, its stripped copy, a photo in a hash bank, a C2PA test file."""
    root = tmp_path_factory.mktemp("to-audit")
    photo = encode(make_image(seed=7), "JPEG", quality=92)
    with server.client() as client:
        signed = client.post(
            "/v1/sign",
            files={"file": ("gan.png", encode(make_image(seed=3), "PNG"), "image/png")},
            data={"ai_generated": "true", "family": "gan", "seed": "3"},
            headers=WRITE,
        )
        assert signed.status_code == 200, signed.text
        assert client.post("/v1/banks", json={"name": "KNOWN"}, headers=WRITE).is_success
        added = client.post(
            "/v1/banks/KNOWN/content",
            files={"file": ("photo.jpg", photo, "image/jpeg")},
            headers=WRITE,
        )
        assert added.is_success, added.text
    (root / "signed").mkdir()
    (root / "signed" / "gan.png").write_bytes(signed.content)
    stripped = Image.open(io.BytesIO(signed.content)).convert("RGB")
    (root / "stripped.jpg").write_bytes(encode(stripped, "JPEG", quality=90))
    (root / "photo.jpg").write_bytes(photo)
    (root / "adobe-20220124-CA.jpg").write_bytes(
        (C2PA_FIXTURES / "adobe-20220124-CA.jpg").read_bytes()
    )
    (root / "notes.txt").write_text("not an image, skipped\n")
    return root


def run_audit(server: Server, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        PROVAUDIT_HOME=str(server.home),
        PROVAUDIT_DATA_DIR=str(server.home),
        COLUMNS="200",
        NO_COLOR="1",
    )
    env.pop("PROVAUDIT_DATABASE_URL", None)
    env.pop("PROVAUDIT_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "provenance", "audit", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO_ROOT,
    )


def same(left: object, right: object, where: str = "") -> list[str]:
    """Where two JSON values differ (floats within FLOAT_TOLERANCE are the same)."""
    if isinstance(left, float) and isinstance(right, float):
        return [] if math.isclose(left, right, rel_tol=FLOAT_TOLERANCE) else [where]
    if isinstance(left, dict) and isinstance(right, dict):
        if left.keys() != right.keys():
            return [f"{where} keys {sorted(left.keys() ^ right.keys())}"]
        return [diff for key in left for diff in same(left[key], right[key], f"{where}.{key}")]
    if isinstance(left, list) and isinstance(right, list):
        if len(left) != len(right):
            return [f"{where} length {len(left)} != {len(right)}"]
        pairs = enumerate(zip(left, right, strict=True))
        return [diff for i, (a, b) in pairs for diff in same(a, b, f"{where}[{i}]")]
    return [] if left == right and type(left) is type(right) else [where]


def test_the_command_and_the_endpoint_give_the_same_json(server, folder):
    result = run_audit(server, folder, "--json", "--workers", "2")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    by_name = {Path(line["path"]).name: line for line in lines}
    assert sorted(by_name) == ["adobe-20220124-CA.jpg", "gan.png", "photo.jpg", "stripped.jpg"]
    # Every kind of signal is in the comparison: a declaration, a recovered manifest, a
    # bank match, a third-party manifest.
    assert by_name["gan.png"]["verdict"] == "declared_ai"
    assert by_name["stripped.jpg"]["matches"][0]["kind"] == "manifest"
    assert any(match["kind"] == "bank" for match in by_name["photo.jpg"]["matches"])
    assert by_name["adobe-20220124-CA.jpg"]["provenance"]["state"] in ("valid", "trusted")
    assert all(line["ai_origin"] is not None for line in lines)
    with server.client() as client:
        for name, from_command in by_name.items():
            path = Path(from_command["path"])
            response = client.post("/v1/audit", files={"file": (name, path.read_bytes())})
            assert response.status_code == 200, response.text
            from_api = response.json()
            assert from_api.keys() >= ONLY_IN_THE_API
            assert from_command.keys() >= ONLY_IN_THE_COMMAND
            api = {k: v for k, v in from_api.items() if k not in ONLY_IN_THE_API}
            command = {k: v for k, v in from_command.items() if k not in ONLY_IN_THE_COMMAND}
            assert same(command, api) == [], name
    # The worst verdict sets the exit status; the text file is skipped, not an error.
    assert result.returncode == ExitStatus.DECLARED_AI, result.stderr
    assert "1 file in the folders is not an image and was skipped" in result.stderr


def test_bad_files_are_reported_one_line_each_and_the_rest_is_audited(server, folder, tmp_path):
    broken = tmp_path / "cut.jpg"
    broken.write_bytes((folder / "photo.jpg").read_bytes()[:500])
    (tmp_path / "empty.png").write_bytes(b"")
    result = run_audit(
        server,
        tmp_path / "missing.jpg",
        broken,
        tmp_path / "empty.png",
        str(tmp_path / "nothing-*.webp"),
        folder / "photo.jpg",
        "--json",
    )
    assert result.returncode == ExitStatus.ERROR
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 4, result.stderr
    assert "Traceback" not in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    codes = {Path(line["path"]).name: line.get("error", {}).get("code") for line in lines}
    assert codes["missing.jpg"] == "not_found"
    assert codes["nothing-*.webp"] == "not_found"
    assert codes["cut.jpg"] and codes["empty.png"]
    assert codes["photo.jpg"] is None
    assert [line["verdict"] for line in lines if "verdict" in line] != []


def test_text_output_lists_each_file_and_sums_up(server, folder):
    result = run_audit(server, folder / "signed", folder / "photo.jpg", "--no-progress")
    assert result.returncode == ExitStatus.DECLARED_AI, result.stderr
    lines = result.stdout.splitlines()
    # The development signer is not a trust anchor by default (as in `provaudit verify`).
    assert any(line.endswith("gan.png: declared_ai (provenance valid)") for line in lines)
    summary = result.stdout[result.stdout.index("provaudit audit") :]
    assert "declared_ai" in summary and "valid" in summary and "absent" in summary
    assert "total" in summary and "audited" in summary


@pytest.mark.parametrize(
    ("verdicts", "status"),
    [
        (["likely_real"], ExitStatus.SUCCESS),
        (["likely_real", "inconclusive"], ExitStatus.INCONCLUSIVE),
        (["inconclusive", "likely_ai", "likely_real"], ExitStatus.LIKELY_AI),
        (["likely_ai", "declared_ai"], ExitStatus.DECLARED_AI),
        (["likely_real", "declared_ai_recovered"], ExitStatus.DECLARED_AI),
        (["declared_ai", None], ExitStatus.ERROR),
        # A verdict added later never reads as success.
        (["likely_real", "some_new_verdict"], ExitStatus.INCONCLUSIVE),
    ],
)
def test_the_exit_status_is_the_worst_verdict_class(verdicts, status):
    from provenance.cli.exit_status import worst

    assert worst([verdict_status(verdict) for verdict in verdicts]) == status


def test_every_verdict_the_pipeline_gives_has_its_exit_status():
    from service.audit.cli import VERDICT_STATUS
    from service.pipeline import VERDICTS

    assert set(VERDICT_STATUS) == set(VERDICTS)


def test_inputs_are_files_folders_globs_and_parquet_lists(tmp_path):
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from service.audit.batch import expand_inputs

    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / ".hidden").mkdir()
    for name in ("a/x.jpg", "a/b/y.PNG", "a/b/notes.txt", "a/.hidden/z.jpg", "c.webp", "d.gif"):
        (tmp_path / name).write_bytes(b"")
    listing = tmp_path / "listing.parquet"
    pq.write_table(
        pyarrow.table({"path": [str(tmp_path / "d.gif"), str(tmp_path / "c.webp")]}), listing
    )
    inputs = expand_inputs(
        [
            str(tmp_path / "a"),
            str(tmp_path / "*.webp"),
            str(tmp_path / "a" / "x.jpg"),  # named twice: audited once
            str(listing),
            str(tmp_path / "none-*.jpg"),
            str(tmp_path / "missing.jpg"),
        ]
    )
    assert [Path(path).relative_to(tmp_path).as_posix() for path in inputs.files] == [
        "a/b/y.PNG",  # a folder's files in sorted order
        "a/x.jpg",
        "c.webp",
        "d.gif",
        "missing.jpg",  # reported by the audit itself, in its place
    ]
    assert inputs.skipped == 1  # notes.txt; hidden folders are not searched
    assert [(Path(e.path).name, e.code) for e in inputs.errors] == [("none-*.jpg", "not_found")]
