"""``POST /v1/generate`` against a real uvicorn server: signed at birth, declared AI, no torch."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from provenance.keys import ROOT_FILE
from provenance.verify import ProvenanceVerifier
from tests.conftest import REPO_ROOT
from tests.test_service import API_KEY, detector_checkpoint, server  # noqa: F401

BUNDLED = REPO_ROOT / "generators" / "weights"
KEY = {"X-API-Key": API_KEY}
AI_SOURCE_TYPE = "trainedAlgorithmicMedia"


def _weights_sha256(family: str) -> str:
    return json.loads((BUNDLED / family / "config.json").read_text())["weights"]["sha256"]


def _verifier(home: Path) -> ProvenanceVerifier:
    """Trusts only the server's own development root."""
    return ProvenanceVerifier.from_files([home / "dev-identity" / ROOT_FILE])


def _assert_signed_generated(
    verifier: ProvenanceVerifier, data: bytes, family: str, seed: int
) -> None:
    report = verifier.verify_bytes(data, "generated.png")
    assert report.state == "trusted", (report.state, report.failure_codes)
    assert report.ai_declared is True
    assert any(kind.endswith(AI_SOURCE_TYPE) for kind in report.digital_source_types)
    generator = report.generator or {}
    assert generator["family"] == family
    assert generator["checkpoint_sha256"] == _weights_sha256(family)
    assert generator["seed"] == seed
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG" and image.size == (32, 32)


def _generate(server, body: dict, headers: dict | None = None, **kwargs):  # noqa: F811
    with server.client() as client:
        return client.post(
            "/v1/generate", json=body, headers=KEY if headers is None else headers, **kwargs
        )


@pytest.mark.parametrize("family", ["gan", "vae", "diffusion", "pixelcnn"])
def test_every_generated_image_verifies_and_declares_ai(server, family):  # noqa: F811
    body = {"family": family, "n": 2, "seed": 40}
    if family == "diffusion":
        body["sampling_steps"] = 10  # the envelope and manifest must say so
    response = _generate(server, body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    envelope = response.json()
    assert envelope["family"] == family
    assert envelope["checkpoint_sha256"] == _weights_sha256(family)
    assert envelope["n"] == 2 and envelope["seed"] == 40
    assert envelope["development_identity"] is True
    if family == "diffusion":
        assert (envelope["sampler"], envelope["steps"]) == ("ddim", 10)
    else:
        assert (envelope["sampler"], envelope["steps"]) == (None, None)
    assert [image["index"] for image in envelope["images"]] == [0, 1]
    assert [image["seed"] for image in envelope["images"]] == [40, 41]

    verifier = _verifier(server.home)
    for image in envelope["images"]:
        data = base64.b64decode(image["data_base64"])
        assert image["media_type"] == "image/png"
        assert image["sha256"] == hashlib.sha256(data).hexdigest()
        _assert_signed_generated(verifier, data, family, image["seed"])
        if family == "diffusion":
            report = verifier.verify_bytes(data)
            assert (report.generator["sampler"], report.generator["steps"]) == ("ddim", 10)


def _same_draw(a: np.ndarray, b: np.ndarray) -> bool:
    """The same sampled pixels up to the invisible watermark each image gets at birth (a
    fresh random ID each time, about 40 dB PSNR): different seeds differ far more."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()) < 3.0


def test_same_seed_same_pixels_and_image_i_is_seed_plus_i(server):  # noqa: F811
    def pixels(body: dict) -> list[np.ndarray]:
        images = _generate(server, body).json()["images"]
        return [
            np.asarray(Image.open(io.BytesIO(base64.b64decode(image["data_base64"]))))
            for image in images
        ]

    first = pixels({"family": "gan", "n": 3, "seed": 7})
    again = pixels({"family": "gan", "n": 3, "seed": 7})
    alone = pixels({"family": "gan", "n": 1, "seed": 9})
    assert all(_same_draw(a, b) for a, b in zip(first, again, strict=True))
    assert _same_draw(first[2], alone[0])
    assert not _same_draw(first[0], first[1])


def test_the_service_draws_the_images_provaudit_generate_draws(server, tmp_path):  # noqa: F811
    from generators.sample import generate

    body = {"family": "diffusion", "n": 2, "seed": 21, "sampling_steps": 5}
    images = _generate(server, body).json()["images"]
    written = generate(
        BUNDLED / "diffusion", 2, tmp_path, sampling_steps=5, seed=21, sign=False, backend="onnx"
    )
    for image, record in zip(images, written.records, strict=True):
        served = Image.open(io.BytesIO(base64.b64decode(image["data_base64"])))
        assert _same_draw(np.asarray(served), np.asarray(Image.open(tmp_path / record.path)))


def test_seed_is_drawn_and_reported_when_absent(server):  # noqa: F811
    envelope = _generate(server, {"family": "vae"}).json()
    assert envelope["n"] == 1 and isinstance(envelope["seed"], int)
    assert envelope["images"][0]["seed"] == envelope["seed"]


def test_zip_holds_n_signed_pngs_and_the_summary(server):  # noqa: F811
    response = _generate(
        server, {"family": "gan", "n": 3, "seed": 100}, {**KEY, "Accept": "application/zip"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = archive.namelist()
        pngs = {name: archive.read(name) for name in names if name.endswith(".png")}
        summary = json.loads(archive.read("generation.json"))
    assert len(pngs) == 3 and len(names) == 4
    assert summary["family"] == "gan" and summary["n"] == 3
    assert "data_base64" not in summary["images"][0]
    verifier = _verifier(server.home)
    for entry in summary["images"]:
        data = pngs[entry["file_name"]]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        _assert_signed_generated(verifier, data, "gan", entry["seed"])


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_generate_needs_the_api_key(server, key):  # noqa: F811
    response = _generate(server, {"family": "gan"}, {"X-API-Key": key} if key else {})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


BAD_BODIES = {
    "unknown family": {"json": {"family": "stylegan", "n": 1}},
    "n=0": {"json": {"family": "gan", "n": 0}},
    "n too large": {"json": {"family": "gan", "n": 17}},
    "n not a number": {"json": {"family": "gan", "n": "many"}},
    "negative seed": {"json": {"family": "gan", "seed": -1}},
    "too many sampling steps": {"json": {"family": "diffusion", "sampling_steps": 1000}},
    "unknown sampler": {"json": {"family": "diffusion", "sampler": "euler"}},
    "unknown field": {"json": {"family": "gan", "count": 3}},
    "bad json": {"content": b'{"family": "gan",', "headers": {"content-type": "application/json"}},
    "no body": {},
    "a json list": {"json": ["gan"]},
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_requests_are_json_4xx_and_the_server_keeps_serving(server, case):  # noqa: F811
    request = BAD_BODIES[case]
    with server.client() as client:
        response = client.post(
            "/v1/generate", headers={**KEY, **request.get("headers", {})}, **_body(request)
        )
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
        error = response.json()["error"]
        assert error["code"] and error["message"]
        assert client.get("/healthz").status_code == 200


def _body(request: dict) -> dict:
    return {key: value for key, value in request.items() if key in ("json", "content")}


def test_generated_images_are_counted_in_metrics(server):  # noqa: F811
    _generate(server, {"family": "vae", "n": 2, "seed": 1})
    with server.client() as client:
        metrics = client.get("/metrics").text
    assert 'provaudit_generated_images_total{family="vae"}' in metrics


def test_a_family_missing_from_the_generators_dir_is_a_json_404(tmp_path, detector_checkpoint):  # noqa: F811
    from fastapi.testclient import TestClient

    from service.config import Settings
    from service.main import create_app

    only_gan = tmp_path / "generators"
    only_gan.mkdir()
    (only_gan / "gan").symlink_to(BUNDLED / "gan", target_is_directory=True)
    settings = Settings(
        data_dir=tmp_path / "data",
        api_keys=[API_KEY],
        detector=detector_checkpoint,
        generators_dir=only_gan,
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        response = client.post("/v1/generate", json={"family": "vae"}, headers=KEY)
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "generator_unavailable"
        assert "available: gan" in error["message"]
        assert client.post("/v1/generate", json={"family": "gan"}, headers=KEY).status_code == 200


NO_TORCH_PROBE = """
import importlib.abc, json, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "timm"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoTorch())  # as if torch were not installed

from fastapi.testclient import TestClient
from service.config import Settings
from service.main import create_app

seen = {}
with TestClient(create_app(Settings(api_keys=["k"]))) as client:
    for family in ("gan", "vae", "diffusion"):
        body = {"family": family, "n": 1, "seed": 3, "sampling_steps": 2}
        response = client.post("/v1/generate", json=body, headers={"X-API-Key": "k"})
        seen[family] = response.status_code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "timm"))
print(json.dumps({"status": seen, "heavy": heavy}))
"""


def test_the_service_generates_without_torch(tmp_path):
    env = dict(os.environ, PROVAUDIT_HOME=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", NO_TORCH_PROBE],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"status": {"gan": 200, "vae": 200, "diffusion": 200}, "heavy": []}
