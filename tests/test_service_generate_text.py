"""``POST /v1/generate`` with a prompt: text_diffusion on onnxruntime, refusals as JSON 422."""

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
FAMILY = "text_diffusion"


@pytest.fixture(scope="module")
def text_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny text_diffusion checkpoint (2 training steps on captioned squares), exported."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from PIL import Image

    from generators.onnx_export import export_onnx
    from generators.train import train

    root = tmp_path_factory.mktemp("text-generator")
    for name, colour in (("red", (225, 25, 25)), ("blue", (25, 25, 225))):
        (root / "data" / name).mkdir(parents=True)
        Image.new("RGB", (32, 32), colour).save(root / "data" / name / "a.png")
    out = root / "generators" / FAMILY
    train(FAMILY, root / "data", steps=2, out=out, batch=2, device="cpu", sample_every=0,
          preset="tiny", progress=False)  # fmt: skip
    export_onnx(out)
    (root / "generators" / "gan").symlink_to(BUNDLED / "gan", target_is_directory=True)
    return out


@pytest.fixture
def client(tmp_path: Path, text_checkpoint: Path, detector_checkpoint: Path) -> Iterator:  # noqa: F811
    from fastapi.testclient import TestClient

    from service.config import Settings
    from service.main import create_app

    settings = Settings(
        data_dir=tmp_path / "data",
        api_keys=[API_KEY],
        detector=detector_checkpoint,
        generators_dir=text_checkpoint.parent,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _post(client, body: dict):  # type: ignore[no-untyped-def]
    return client.post("/v1/generate", json=body, headers=KEY)


def test_a_prompted_generation_is_signed_with_its_prompt(client, provaudit_home: Path) -> None:
    body = {"family": FAMILY, "prompt": "red", "guidance": 2.0, "n": 2, "seed": 7,
            "sampling_steps": 3}  # fmt: skip
    response = _post(client, body)
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["family"] == FAMILY and summary["steps"] == 3
    assert summary["prompt"] == "red" and summary["guidance"] == 2.0
    verifier = ProvenanceVerifier.from_files([provaudit_home / "dev-identity" / ROOT_FILE])
    data = base64.b64decode(summary["images"][0]["data_base64"])
    report = verifier.verify_bytes(data, "generated.png")
    assert report.state == "trusted", (report.state, report.failure_codes)
    assert report.ai_declared is True
    generator = report.generator or {}
    assert generator["family"] == FAMILY and generator["seed"] == 7
    assert generator["prompt"] == "red" and generator["guidance"] == 2.0


def _pixels(data_base64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_base64))), dtype=np.int16)


def test_the_service_draws_what_provaudit_generate_draws(client, text_checkpoint, tmp_path):
    from generators.conditioning import Condition
    from generators.sample import generate

    body = {"family": FAMILY, "prompt": "blue", "n": 2, "seed": 21, "sampling_steps": 4}
    images = _post(client, body).json()["images"]
    written = generate(
        text_checkpoint, 2, tmp_path, sampling_steps=4, seed=21, sign=False, backend="onnx",
        condition=Condition(prompt="blue"),
    )  # fmt: skip
    for image, record in zip(images, written.records, strict=True):
        local = np.asarray(Image.open(tmp_path / record.path), dtype=np.int16)
        # Up to the invisible watermark each served image gets at birth.
        assert np.abs(_pixels(image["data_base64"]) - local).mean() < 3.0


def test_the_default_guidance_is_reported(client) -> None:
    response = _post(client, {"family": FAMILY, "prompt": "blue", "sampling_steps": 2})
    assert response.status_code == 200, response.text
    assert response.json()["guidance"] == 3.0


BAD_PROMPTS = {
    "no prompt for text_diffusion": ({"family": FAMILY}, "needs a prompt"),
    "empty prompt": ({"family": FAMILY, "prompt": "  "}, "prompt is empty"),
    "prompt to the gan": ({"family": "gan", "prompt": "red"}, "gan checkpoint cannot be given"),
    "guidance out of range": ({"family": FAMILY, "prompt": "red", "guidance": 99}, "guidance"),
    "prompt too long": ({"family": FAMILY, "prompt": "x" * 1001}, "prompt"),
}


@pytest.mark.parametrize("case", list(BAD_PROMPTS))
def test_bad_prompts_are_json_422(client, case: str) -> None:
    body, fragment = BAD_PROMPTS[case]
    response = _post(client, body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert fragment in error["message"], error
    assert client.get("/healthz").status_code == 200
