"""The PixelCNN: causal without a blind spot, an exact likelihood, and pixel-by-pixel
sampling that is the same through the fast loop, the naive loop, torch and ONNX.

Stated tolerance, torch against ONNX: the exported network's mixture parameters agree
with torch's within 1e-4 at every height (observed: <= 1e-6 for the tiny model); the
sampled pixels, 8-bit after quantisation, are identical in at least 99% of sub-pixel
values (observed: all of them, over 8 images of 32 px), since a draw differs only where
float rounding moves it across a quantisation or component boundary.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from generator_helpers import REPO_ROOT, run_cli

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from generators.checkpoint import load_checkpoint, read_checkpoint_info  # noqa: E402
from generators.configs import PixelCNNConfig, default_config  # noqa: E402
from generators.data import unit_to_uint8  # noqa: E402
from generators.families import build_model, get_family, sample_pixelcnn  # noqa: E402
from generators.noise import PerImageNoise  # noqa: E402
from generators.pixelcnn import mixture_nll  # noqa: E402
from generators.pixelcnn_sampling import (  # noqa: E402
    LEVELS,
    parameter_count,
    quantise,
    receptive_field_rows,
)

CPU = torch.device("cpu")
PARAMETER_TOLERANCE = 1e-4
MIN_IDENTICAL_FRACTION = 0.99


def _network(config: PixelCNNConfig, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("pixelcnn", config).eval()


def _random_levels(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    levels = np.random.default_rng(seed).integers(0, LEVELS, shape)
    return torch.from_numpy((levels / 127.5 - 1.0).astype(np.float32))


def test_parameters_depend_on_earlier_pixels_only_and_have_no_blind_spot() -> None:
    config = default_config("pixelcnn", 32, "tiny")
    model = _network(config)
    images = _random_levels((1, 3, 32, 32)).requires_grad_(True)
    row, column = 20, 16
    model(images)[0, :, row, column].sum().backward()
    reached = images.grad.abs().sum(dim=(0, 1)) > 0
    positions = {tuple(map(int, p)) for p in reached.nonzero()}
    # Causal: nothing at or after (row, column) in raster order, not even its own value.
    assert all((r, c) < (row, column) for r, c in positions)
    # No blind spot: every pixel of the receptive field above, including the ones up and
    # to the right that a masked-kernel PixelCNN cannot see, and the pixels to the left.
    reach = receptive_field_rows(config.layers, config.kernel_size, config.first_kernel_size)
    assert min(r for r, _ in positions) == row - reach
    for up in range(1, reach + 1):
        assert {(row - up, column + shift) for shift in range(-1, 2)} <= positions
    assert {(row, column - shift) for shift in range(1, 3)} <= positions


def test_rows_above_the_receptive_field_do_not_change_a_row() -> None:
    config = default_config("pixelcnn", 32, "tiny")
    model = _network(config)
    images = _random_levels((2, 3, 32, 32))
    reach = receptive_field_rows(config.layers, config.kernel_size, config.first_kernel_size)
    with torch.no_grad():
        full = model(images)
        for row in (0, 3, reach, 17, 31):
            top = max(0, row - reach)
            window = model(images[:, :, top : row + 1])
            torch.testing.assert_close(window[:, :, -1], full[:, :, row], rtol=0, atol=1e-6)


def test_the_likelihood_sums_to_one_over_every_pixel_value() -> None:
    """Two channels, one pixel: the 256^2 probabilities of all values sum to 1."""
    components = 3
    raw = torch.randn(
        1, parameter_count(2, components), 1, 1, generator=torch.Generator().manual_seed(0)
    )
    levels = torch.arange(LEVELS, dtype=torch.float32) / 127.5 - 1.0
    first, second = torch.meshgrid(levels, levels, indexing="ij")
    images = torch.stack([first.flatten(), second.flatten()], dim=1)[:, :, None, None]
    nats = mixture_nll(images, raw.expand(len(images), -1, -1, -1), components)
    assert float(torch.exp(-nats.double()).sum()) == pytest.approx(1.0, abs=1e-3)


def test_bits_per_dim_of_an_untrained_model_is_near_eight() -> None:
    config = default_config("pixelcnn", 32, "tiny")
    model = _network(config)
    images = _random_levels((4, 3, 32, 32)).numpy()
    bits = get_family("pixelcnn").bits_per_dim(model, config, images, CPU)
    assert 7.0 < bits < 12.0


def test_quantise_lands_on_the_256_levels() -> None:
    values = np.array([-3.0, -1.0, -0.9961, 0.0, 0.5, 1.0, 7.0])
    levels = (quantise(values) + 1.0) * 127.5
    np.testing.assert_allclose(levels, np.rint(levels), atol=1e-9)
    assert quantise(np.array([-3.0]))[0] == -1.0 and quantise(np.array([7.0]))[0] == 1.0


def test_fast_and_naive_loops_give_identical_samples() -> None:
    config = dataclasses.replace(default_config("pixelcnn", 32, "tiny"), image_size=12)
    model = _network(config, seed=3)
    fast = sample_pixelcnn(model, config, PerImageNoise([5, 6]), CPU, "fast")
    naive = sample_pixelcnn(model, config, PerImageNoise([5, 6]), CPU, "naive")
    np.testing.assert_array_equal(fast, naive)
    assert fast.shape == (2, 3, 12, 12)
    # Samples are 8-bit images, and each image depends on its own seed only.
    levels = (unit_to_uint8(fast) / 127.5 - 1.0).astype(np.float32)
    np.testing.assert_array_equal(levels, fast.transpose(0, 2, 3, 1))
    alone = sample_pixelcnn(model, config, PerImageNoise([6]), CPU, "fast")
    np.testing.assert_array_equal(alone[0], fast[1])


def test_trained_model_scores_its_training_crops_below_eight_bits(
    trained: dict, toy_dir: Path
) -> None:
    from generators.evaluate import evaluate

    report = evaluate(trained["pixelcnn"].out_dir, toy_dir, n=6, device="cpu")
    assert report.bits_per_dim is not None and 0.0 < report.bits_per_dim < 8.0
    assert report.real_images == report.fake_images == 6


@pytest.fixture(scope="module")
def exported(trained: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from generators.onnx_export import export_onnx

    copy = tmp_path_factory.mktemp("pixelcnn-onnx") / "pixelcnn"
    shutil.copytree(trained["pixelcnn"].out_dir, copy)
    export_onnx(copy)
    return copy


def test_onnx_parameters_match_torch_at_every_height(exported: Path) -> None:
    from generators.onnx_sampling import OnnxGenerator

    generator = OnnxGenerator.open(read_checkpoint_info(exported))
    loaded = load_checkpoint(exported)
    for height in (1, 7, 32):
        images = _random_levels((3, 3, height, 32), seed=height)
        expected = loaded.model(images).detach().numpy()
        actual = generator._run({"image": images.numpy()})
        np.testing.assert_allclose(actual, expected, atol=PARAMETER_TOLERANCE, rtol=0)


def test_onnx_samples_match_torch(exported: Path) -> None:
    from generators.onnx_sampling import OnnxGenerator

    seeds = [3, 4, 5]
    onnx_images = OnnxGenerator.open(read_checkpoint_info(exported)).sample(PerImageNoise(seeds))
    loaded = load_checkpoint(exported)
    torch_images = get_family("pixelcnn").sample(
        loaded.model, loaded.config, PerImageNoise(seeds), CPU
    )
    assert (onnx_images.sampler, onnx_images.steps) == (None, None)
    same = unit_to_uint8(onnx_images.images) == unit_to_uint8(torch_images.images)
    assert same.mean() >= MIN_IDENTICAL_FRACTION


def test_generate_through_onnx_without_torch(exported: Path, tmp_path: Path) -> None:
    code = f"""
import json, sys
sys.modules["torch"] = None
sys.modules["safetensors"] = None
from generators.sample import generate
result = generate({str(exported)!r}, 2, {str(tmp_path)!r}, seed=21)
assert "torch" not in [name.split(".")[0] for name in sys.modules if sys.modules[name]]
print(json.dumps(result.summary()))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["backend"] == "onnx" and summary["signed"] is True
    assert len(list((tmp_path / "pixelcnn" / "1_fake").glob("*.png"))) == 2


def test_cli_train_generate_and_evaluate(toy_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "pixelcnn"
    result = run_cli(
        "generators", "train", "pixelcnn", "--data", str(toy_dir), "--out", str(out),
        "--steps", "3", "--batch", "4", "--preset", "tiny", "--device", "cpu",
        "--sample-every", "0", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["steps"] == 3

    result = run_cli("generate", "-c", str(out), "-n", "2", "-o", str(tmp_path / "ds"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["family"] == "pixelcnn" and summary["images"] == 2 and summary["signed"]

    result = run_cli(
        "generators", "evaluate", str(out), "--data", str(toy_dir), "-n", "6", "--device",
        "cpu", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert 0.0 < json.loads(result.stdout)["bits_per_dim"] < 16.0


def test_generate_refuses_a_prompt(trained: dict, tmp_path: Path) -> None:
    result = run_cli(
        "generate", "-c", str(trained["pixelcnn"].out_dir), "-n", "1", "-o", str(tmp_path),
        "--prompt", "a cat",
    )  # fmt: skip
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "cannot be given a prompt" in result.stderr
