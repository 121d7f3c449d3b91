"""``POST /v1/generate`` with a class: a class-conditional gan on onnxruntime, refusals as
JSON 422.

The checkpoint is real torch training (tiny preset, a few CPU seconds) on two colour
classes, exported to ONNX; the service loads it from its generators folder like the
bundled ones. The class must reach the pixels: the same seeds drawn as each class differ.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from provenance.keys import ROOT_FILE
from provenance.verify import ProvenanceVerifier
from tests.conftest import REPO_ROOT
from tests.test_service import API_KEY, detector_checkpoint  # noqa: F401

BUNDLED = REPO_ROOT / "generators" / "weights"
KEY = {"X-API-Key": API_KEY}
COLOURS = {"blue": (30, 30, 220), "red": (220, 30, 30)}


@pytest.fixture(scope="module")
def class_generators(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generators folder holding a tiny class-conditional gan, exported to ONNX."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from generators.onnx_export import export_onnx
    from generators.train import train

    root = tmp_path_factory.mktemp("class-generator")
    rng = np.random.default_rng(0)
    for name, colour in COLOURS.items():
        (root / "data" / name).mkdir(parents=True)
        for index in range(4):
            noise = rng.normal(0, 20, (32, 32, 3))
            pixels = np.clip(np.array(colour)[None, None, :] + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "data" / name / f"{index}.png")
    out = root / "generators" / "gan"
    train("gan", root / "data", steps=20, batch=8, out=out, device="cpu", seed=1,
          preset="tiny", sample_every=0, progress=False, class_conditional=True)  # fmt: skip
    export_onnx(out)
    return out.parent


def _client(tmp_path: Path, generators_dir: Path, detector: Path) -> Iterator:
    from fastapi.testclient import TestClient

    from service.config import Settings
    from service.main import create_app

    settings = Settings(
        data_dir=tmp_path / "data",
        api_keys=[API_KEY],
        detector=detector,
        generators_dir=generators_dir,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def client(tmp_path: Path, class_generators: Path, detector_checkpoint: Path) -> Iterator:  # noqa: F811
    yield from _client(tmp_path, class_generators, detector_checkpoint)


def _post(client, body: dict):  # type: ignore[no-untyped-def]
    return client.post("/v1/generate", json=body, headers=KEY)


def _pixels(summary: dict) -> list[np.ndarray]:
    return [
        np.asarray(Image.open(io.BytesIO(base64.b64decode(image["data_base64"]))), np.float64)
        for image in summary["images"]
    ]


def test_the_class_reaches_the_pixels_and_the_manifest(client, provaudit_home: Path) -> None:
    drawn = {}
    for name in COLOURS:
        response = _post(client, {"family": "gan", "class": name, "n": 2, "seed": 5})
        assert response.status_code == 200, response.text
        summary = response.json()
        assert summary["class"] == name and summary["prompt"] is None
        drawn[name] = _pixels(summary)
    # Same seeds, other class: a generator that ignored its class would draw the same images.
    for red, blue in zip(drawn["red"], drawn["blue"], strict=True):
        assert np.abs(red - blue).mean() > 1.0
    verifier = ProvenanceVerifier.from_files([provaudit_home / "dev-identity" / ROOT_FILE])
    data = base64.b64decode(response.json()["images"][0]["data_base64"])
    report = verifier.verify_bytes(data, "generated.png")
    assert report.state == "trusted", (report.state, report.failure_codes)
    assert report.ai_declared is True
    assert (report.generator or {}).get("class") == name


def test_a_class_the_checkpoint_does_not_know_is_a_422_naming_its_classes(client) -> None:
    response = _post(client, {"family": "gan", "class": "green"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "bad_condition"
    assert "'green'" in error["message"] and "blue, red" in error["message"]


def test_a_class_conditional_gan_without_a_class_is_a_422(client) -> None:
    response = _post(client, {"family": "gan"})
    assert response.status_code == 422
    assert '"class"' in response.json()["error"]["message"]


@pytest.mark.parametrize("name", ["", "   "])
def test_a_blank_class_is_a_422(client, name: str) -> None:
    response = _post(client, {"family": "gan", "class": name})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] in ("bad_condition", "invalid_request")
    assert "class" in error["message"]


def test_a_class_to_the_bundled_unconditional_gan_is_refused(
    tmp_path: Path,
    detector_checkpoint: Path,  # noqa: F811
) -> None:
    for client in _client(tmp_path, BUNDLED, detector_checkpoint):
        response = _post(client, {"family": "gan", "class": "red"})
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "bad_condition"
        assert "cannot be given a class" in error["message"]
