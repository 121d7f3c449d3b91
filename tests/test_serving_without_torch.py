"""The serving commands run on the light install: `verify`, `detect` with an ONNX checkpoint,
`generate --backend auto` with ONNX exports and `serve` each run in a process where any
attempt to import torch (or timm, torchvision, safetensors.torch) fails and is recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import C2PA_FIXTURES, REPO_ROOT, encode, make_image
from tests.servers import start_server, stop_server

BLOCKED = ("torch", "timm", "torchvision")

# Loaded at interpreter start-up (PYTHONPATH), before provaudit: a finder that refuses the
# training stack and writes down every attempt, including ones a caller would catch.
SITECUSTOMIZE = """
import importlib.abc, os, sys

class _RefuseTraining(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            with open(os.environ["PROVAUDIT_TEST_BLOCK_LOG"], "a") as log:
                log.write(name + "\\n")
            raise ImportError(f"{{name}} is blocked in this test")
        return None

sys.meta_path.insert(0, _RefuseTraining())
"""


@pytest.fixture
def torch_blocked(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(blocked=BLOCKED))
    log = tmp_path / "blocked-imports.log"
    log.write_text("")
    return {"PYTHONPATH": f"{site}{os.pathsep}{REPO_ROOT}", "PROVAUDIT_TEST_BLOCK_LOG": str(log)}


def attempted(env: dict[str, str]) -> list[str]:
    return Path(env["PROVAUDIT_TEST_BLOCK_LOG"]).read_text().split()


def run_provaudit(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "provenance", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "COLUMNS": "200"},
        cwd=REPO_ROOT,
        timeout=180,
    )


def test_the_block_itself_bites(torch_blocked):
    probe = subprocess.run(
        [sys.executable, "-c", "import torch"],
        capture_output=True,
        text=True,
        env={**os.environ, **torch_blocked},
        timeout=60,
    )
    assert probe.returncode != 0 and "blocked" in probe.stderr
    assert attempted(torch_blocked) == ["torch"]


def test_verify_runs_without_torch(torch_blocked):
    result = run_provaudit(
        torch_blocked,
        "verify",
        C2PA_FIXTURES / "adobe-20220124-CA.jpg",
        "--trust",
        C2PA_FIXTURES / "test_cert_root_bundle.pem",
        "--json",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout.splitlines()[0])["state"] == "trusted"
    assert attempted(torch_blocked) == []


def test_detect_with_the_bundled_onnx_detector_runs_without_torch(torch_blocked, tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(encode(make_image((320, 240)), "JPEG", quality=90))
    result = run_provaudit(torch_blocked, "detect", photo, "--json")
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout.splitlines()[0])
    assert verdict["label"] in ("ai", "real", "inconclusive") and 0 <= verdict["p_ai"] <= 1
    assert attempted(torch_blocked) == []


def test_generate_backend_auto_takes_the_onnx_export_without_torch(torch_blocked, tmp_path):
    out = tmp_path / "generated"
    result = run_provaudit(
        torch_blocked,
        "generate",
        "-c",
        REPO_ROOT / "generators" / "weights" / "gan",
        "-n",
        "2",
        "-o",
        out,
        "--no-record",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["backend"] == "onnx" and summary["images"] == 2 and summary["signed"]
    assert len(list((out / "gan" / "1_fake").glob("*.png"))) == 2
    assert attempted(torch_blocked) == []


def test_serve_audits_and_generates_without_torch(torch_blocked, tmp_path):
    server = start_server(tmp_path / "home", "key-without-torch", **torch_blocked)
    try:
        with server.client() as client:
            audit = client.post(
                "/v1/audit",
                files={"file": ("photo.png", encode(make_image(), "PNG"), "image/png")},
            )
            assert audit.status_code == 200, audit.text
            assert 0.0 <= audit.json()["ai_origin"]["p_ai"] <= 1.0
            generated = client.post(
                "/v1/generate",
                json={"family": "vae", "n": 1, "seed": 1},
                headers={"X-API-Key": "key-without-torch"},
            )
            assert generated.status_code == 200, generated.text
    finally:
        stop_server(server)
    assert attempted(torch_blocked) == []
