"""Networks, training, checkpoints and resume: real torch on CPU, tiny configurations."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from generator_helpers import LOSS_RATIO_LIMIT, train_options

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from generators.checkpoint import (  # noqa: E402
    CONFIG_FILE,
    WEIGHTS_FILE,
    load_checkpoint,
    read_checkpoint_info,
    save_checkpoint,
)
from generators.configs import FAMILIES, default_config  # noqa: E402
from generators.families import build_model, get_family  # noqa: E402
from generators.noise import PerImageNoise  # noqa: E402
from generators.train import TrainingError, train  # noqa: E402
from provenance.errors import CheckpointError  # noqa: E402
from provenance.files import sha256_file  # noqa: E402

MAIN_LOSS = {
    "gan": "loss_d",
    "diffusion": "loss",
    "vae": "loss",
    "pixelcnn": "bits_per_dim",
    "style": "loss",
    "text_diffusion": "loss",
}


@pytest.mark.parametrize("size", [32, 64])
def test_default_unet_has_two_to_eight_million_parameters(size: int) -> None:
    from generators.unet import UNet, parameter_count

    config = default_config("diffusion", size)
    unet = UNet(config.unet)
    assert 2_000_000 <= parameter_count(unet) <= 8_000_000
    output = unet(torch.zeros(2, 3, size, size), torch.tensor([0, 999]))
    assert output.shape == (2, 3, size, size)


@pytest.mark.parametrize("family", FAMILIES)
def test_default_models_map_latents_to_images(family: str) -> None:
    for size in (32, 64):
        config = default_config(family, size, "tiny")
        model = build_model(family, config).eval()
        output = get_family(family).sample(
            model, config, PerImageNoise([0, 1]), torch.device("cpu"), "ddim", 2
        )
        assert output.images.shape == (2, 3, size, size)
        assert np.abs(output.images).max() <= 1.0 + 1e-6


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_falls_on_the_toy_set(trained: dict, family: str) -> None:
    losses = [row[MAIN_LOSS[family]] for row in trained[family].losses]
    assert len(losses) == trained[family].steps
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    limit = LOSS_RATIO_LIMIT[family]
    assert last < limit * first, f"{family}: loss went from {first:.4f} to {last:.4f}"


@pytest.mark.parametrize("family", FAMILIES)
def test_training_writes_checkpoint_grid_and_state(trained: dict, family: str) -> None:
    result = trained[family]
    out = result.out_dir
    assert {CONFIG_FILE, WEIGHTS_FILE, "optimizer.safetensors", "train_state.json"} <= {
        path.name for path in out.iterdir()
    }
    assert not list(out.glob("*.pt")) and not list(out.glob("*.pkl"))
    assert sha256_file(out / WEIGHTS_FILE) == result.weights_sha256
    info = read_checkpoint_info(out, family)
    assert info.weights_sha256 == result.weights_sha256 and info.training["steps"] == result.steps
    grid = result.sample_grids[-1]
    from PIL import Image

    assert Image.open(grid).size == (4 * 34 + 2, 4 * 34 + 2)


@pytest.mark.parametrize("family", FAMILIES)
def test_save_and_load_give_bit_identical_samples(tmp_path: Path, toy_dir: Path, family: str):
    from generators.data import ImageFolder

    torch.manual_seed(0)
    config = default_config(family, 32, "tiny")
    spec = get_family(family)
    model = build_model(family, config)
    optimizers = spec.make_optimizers(model, config)
    images = torch.from_numpy(ImageFolder.open(toy_dir, 32).batch(0, 8, seed=0).as_float())
    for step in range(2):  # non-trivial BatchNorm statistics and Adam moments
        spec.train_step(
            model, optimizers, images, torch.Generator().manual_seed(step), torch.enable_grad
        )
    model.eval()
    cpu = torch.device("cpu")
    before = spec.sample(model, config, PerImageNoise([11, 12, 13]), cpu, "ddim", 5)

    sha = save_checkpoint(tmp_path / "ckpt", family, config, model)
    loaded = load_checkpoint(tmp_path / "ckpt", expected_family=family)
    after = spec.sample(loaded.model, loaded.config, PerImageNoise([11, 12, 13]), cpu, "ddim", 5)

    assert loaded.sha256 == sha and loaded.config == config
    np.testing.assert_array_equal(before.images, after.images)


def test_diffusion_samples_from_the_moving_average_of_its_weights(toy_dir: Path) -> None:
    from generators.data import ImageFolder

    torch.manual_seed(0)
    config = default_config("diffusion", 32, "tiny")
    assert config.ema_decay > 0
    spec = get_family("diffusion")
    model = build_model("diffusion", config)
    optimizers = spec.make_optimizers(model, config)
    images = torch.from_numpy(ImageFolder.open(toy_dir, 32).batch(0, 8, seed=0).as_float())
    start = [p.detach().clone() for p in model.unet.parameters()]
    for step in range(5):
        spec.train_step(
            model, optimizers, images, torch.Generator().manual_seed(step), torch.enable_grad
        )
    raw = list(model.unet.parameters())
    averaged = list(model.ema_unet.parameters())
    # The average lies strictly between the start and the trained weights: it moved, and lags.
    moved = sum(float((a - s).abs().sum()) for a, s in zip(averaged, start, strict=True))
    lag = sum(float((a - r.detach()).abs().sum()) for a, r in zip(averaged, raw, strict=True))
    assert moved > 0 and lag > 0
    assert all(not p.requires_grad for p in averaged)
    assert model.sampling_unet is model.ema_unet
    assert int(model.ema_updates) == 5


@pytest.mark.parametrize("family", FAMILIES)
def test_resumed_run_equals_uninterrupted_run(
    tmp_path: Path, toy_dir: Path, style_image: Path, family: str
):
    settings = dict(size=32, batch=4, device="cpu", seed=5, preset="tiny", progress=False)
    settings.update(train_options(family, style_image))
    straight = train(
        family, toy_dir, steps=6, out=tmp_path / "straight", sample_every=0, **settings
    )
    train(family, toy_dir, steps=3, out=tmp_path / "resumed", sample_every=0, **settings)
    resumed = train(
        family, toy_dir, steps=6, out=tmp_path / "resumed", resume=True, sample_every=0, **settings
    )
    assert resumed.resumed_from == 3
    assert resumed.weights_sha256 == straight.weights_sha256
    assert [row["step"] for row in resumed.losses] == list(range(1, 7))
    assert resumed.losses == straight.losses


def test_resume_refuses_other_settings_and_other_family(trained: dict, toy_dir: Path, tmp_path):
    copy = tmp_path / "gan"
    shutil.copytree(trained["gan"].out_dir, copy)
    common = dict(size=32, steps=80, batch=16, device="cpu", preset="tiny", progress=False)
    with pytest.raises(TrainingError, match="--seed 0"):
        train("gan", toy_dir, out=copy, resume=True, seed=1, **common)
    with pytest.raises(CheckpointError, match="holds a gan checkpoint, not a vae one"):
        train("vae", toy_dir, out=copy, resume=True, seed=0, **common)
    with pytest.raises(TrainingError, match="already holds a checkpoint"):
        train("gan", toy_dir, out=copy, seed=0, **common)
    with pytest.raises(TrainingError, match="no training run to resume"):
        train("gan", toy_dir, out=tmp_path / "fresh", resume=True, seed=0, **common)


def test_checkpoint_refusals(trained: dict, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing")

    pickled = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(2)}, pickled)
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(pickled)
    disguised = tmp_path / "weights.data"
    disguised.write_bytes(pickled.read_bytes())
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(disguised)
    folder_of_pickles = tmp_path / "old-run"
    folder_of_pickles.mkdir()
    shutil.copy(pickled, folder_of_pickles / "generator.pth")
    with pytest.raises(CheckpointError, match=r"generator\.pth is a pickle"):
        load_checkpoint(folder_of_pickles)

    with pytest.raises(CheckpointError, match="holds a diffusion checkpoint, not a gan one"):
        load_checkpoint(trained["diffusion"].out_dir, expected_family="gan")

    tampered = tmp_path / "tampered"
    shutil.copytree(trained["vae"].out_dir, tampered)
    data = bytearray((tampered / WEIGHTS_FILE).read_bytes())
    data[-1] ^= 0xFF
    (tampered / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="modified or corrupted"):
        load_checkpoint(tampered)

    newer = tmp_path / "newer"
    shutil.copytree(trained["vae"].out_dir, newer)
    document = json.loads((newer / CONFIG_FILE).read_text())
    document["config"]["flash_attention"] = True
    (newer / CONFIG_FILE).write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="flash_attention"):
        load_checkpoint(newer)


def test_sources_never_unpickle() -> None:
    root = Path(__file__).resolve().parents[2] / "generators"
    unpickling_call = "torch." + "load("  # spelled apart so repo-wide greps skip this test
    for path in root.glob("*.py"):
        text = path.read_text()
        for line in text.splitlines():
            if unpickling_call in line:
                assert "weights_only=True" in line, f"{path.name}: {line.strip()}"
        assert "import pickle" not in text
