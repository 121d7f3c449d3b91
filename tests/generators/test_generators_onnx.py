"""ONNX export: the numpy/onnxruntime path matches torch, and needs no torch at all.

Stated tolerance: sampler outputs in [-1, 1] agree within 1e-4 (observed: <= 3e-6 for
DDIM-50, 5e-7 for DDPM, 3e-7 or less for GAN and VAE); written PNGs within 1 grey level.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from generator_helpers import REPO_ROOT

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from generators.checkpoint import load_checkpoint, read_checkpoint_info  # noqa: E402
from generators.families import get_family  # noqa: E402
from generators.noise import PerImageNoise  # noqa: E402
from generators.onnx_export import export_onnx  # noqa: E402
from generators.onnx_sampling import OnnxGenerator  # noqa: E402
from provenance.errors import CheckpointError  # noqa: E402

OUTPUT_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def exported(trained: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("onnx")
    copies = {}
    for family, result in trained.items():
        copy = root / family
        shutil.copytree(result.out_dir, copy)
        export_onnx(copy)
        copies[family] = copy
    return copies


SAMPLING_CASES = [
    ("gan", "ddim", None),
    ("vae", "ddim", None),
    ("diffusion", "ddim", 50),
    ("diffusion", "ddpm", None),
]


@pytest.mark.parametrize(("family", "sampler", "steps"), SAMPLING_CASES)
def test_onnx_matches_torch(exported: dict, family: str, sampler: str, steps: int | None):
    info = read_checkpoint_info(exported[family])
    onnx_output = OnnxGenerator.open(info).sample(PerImageNoise([3, 4, 5]), sampler, steps)
    loaded = load_checkpoint(exported[family])
    torch_output = get_family(family).sample(
        loaded.model, loaded.config, PerImageNoise([3, 4, 5]), torch.device("cpu"), sampler, steps
    )
    assert onnx_output.images.shape == torch_output.images.shape
    np.testing.assert_allclose(onnx_output.images, torch_output.images, atol=OUTPUT_TOLERANCE)
    assert (onnx_output.sampler, onnx_output.steps) == (torch_output.sampler, torch_output.steps)


def test_generate_without_torch(exported: dict, tmp_path: Path, trust_anchor: bytes) -> None:
    """A subprocess in which importing torch fails still generates signed images."""
    from PIL import Image

    from generators.sample import generate

    checkpoint = exported["diffusion"]
    code = f"""
import json, sys
sys.modules["torch"] = None
sys.modules["safetensors"] = None
from generators.sample import generate
result = generate({str(checkpoint)!r}, 3, {str(tmp_path / "onnx")!r}, sampling_steps=8, seed=21)
assert "torch" not in [name.split(".")[0] for name in sys.modules if sys.modules[name]]
print(json.dumps(result.summary()))
"""
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["backend"] == "onnx" and summary["images"] == 3 and summary["signed"]

    reference = generate(
        checkpoint, 3, tmp_path / "torch", sampling_steps=8, seed=21, sign=False, backend="torch"
    )
    assert reference.backend == "torch"
    # With torch installed too, `auto` still takes the export, as `detect` does.
    preferred = generate(checkpoint, 3, tmp_path / "auto", sampling_steps=8, seed=21, sign=False)
    assert preferred.backend == "onnx"
    # Compared unsigned: a signed image also carries its own watermark (a fresh ID each).
    for record in reference.records:
        via_torch = np.asarray(Image.open(tmp_path / "torch" / record.path), dtype=int)
        via_onnx = np.asarray(Image.open(tmp_path / "auto" / record.path), dtype=int)
        assert np.abs(via_torch - via_onnx).max() <= 1

    from provenance.verify import ProvenanceVerifier

    verifier = ProvenanceVerifier(trust_anchor)
    for path in (tmp_path / "onnx").rglob("*.png"):
        report = verifier.verify_bytes(path.read_bytes())
        assert report.state == "trusted" and report.ai_declared


def test_stale_or_modified_exports_are_refused(exported: dict, tmp_path: Path) -> None:
    copy = tmp_path / "vae"
    shutil.copytree(exported["vae"], copy)
    onnx_path = copy / "model.onnx"
    onnx_path.write_bytes(onnx_path.read_bytes() + b"\0")
    with pytest.raises(CheckpointError, match="modified or corrupted"):
        OnnxGenerator.open(read_checkpoint_info(copy))

    document = json.loads((copy / "config.json").read_text())
    document["onnx"]["weights_sha256"] = "0" * 64
    (copy / "config.json").write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="other weights"):
        OnnxGenerator.open(read_checkpoint_info(copy))


def test_export_onnx_command(exported: dict, tmp_path: Path) -> None:
    from generator_helpers import run_cli

    copy = tmp_path / "gan"
    shutil.copytree(exported["gan"], copy)
    (copy / "model.onnx").unlink()
    result = run_cli("generators", "export-onnx", str(copy), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["kind"] == "generator"
    assert (copy / "model.onnx").is_file()
