"""The class-conditional GAN: trained on class subfolders, it draws the class it is asked for.

Real torch training (tiny preset, CPU seconds) on two classes a child could tell apart:
reddish and bluish noise. The steering test compares the same seeds drawn as each class,
so a generator that ignored its class would give identical images and fail.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from generator_helpers import run_cli

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from generators.checkpoint import load_checkpoint  # noqa: E402
from generators.conditioning import Condition, ConditionError  # noqa: E402
from generators.families import get_family  # noqa: E402
from generators.noise import PerImageNoise  # noqa: E402
from generators.train import TrainingError, train  # noqa: E402
from provenance.cli.exit_status import ExitStatus  # noqa: E402

COLOURS = {"blue": (30, 30, 220), "red": (220, 30, 30)}


def write_colour_classes(root: Path, per_class: int = 6, side: int = 40) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, colour in COLOURS.items():
        folder = root / name
        folder.mkdir(parents=True)
        for index in range(per_class):
            noise = rng.normal(0, 20, (side, side, 3))
            pixels = np.clip(np.array(colour)[None, None, :] + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{name}_{index}.png")
    return root


@pytest.fixture(scope="module")
def conditional_gan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("classes")
    data = write_colour_classes(root / "data")
    out = root / "gan"
    train(
        "gan",
        data,
        steps=100,
        batch=16,
        out=out,
        device="cpu",
        seed=1,
        preset="tiny",
        sample_every=100,
        progress=False,
        class_conditional=True,
    )
    return out


def _samples(checkpoint: Path, class_name: str) -> np.ndarray:
    loaded = load_checkpoint(checkpoint, "gan", device="cpu")
    loaded.model.eval()
    return (
        get_family("gan")
        .sample(
            loaded.model,
            loaded.config,
            PerImageNoise(range(8)),
            torch.device("cpu"),
            condition=Condition(class_name=class_name),
        )
        .images
    )


def test_the_class_steers_the_colour(conditional_gan: Path) -> None:
    config = load_checkpoint(conditional_gan, "gan", device="cpu").config
    assert config.class_names == ("blue", "red")
    red, blue = _samples(conditional_gan, "red"), _samples(conditional_gan, "blue")

    def redness(images: np.ndarray) -> float:
        return float(images[:, 0].mean() - images[:, 2].mean())

    assert redness(red) - redness(blue) > 0.1, (redness(red), redness(blue))


def test_onnx_export_draws_the_same_class(conditional_gan: Path, tmp_path: Path) -> None:
    from generators.checkpoint import read_checkpoint_info
    from generators.onnx_export import export_onnx
    from generators.onnx_sampling import OnnxGenerator

    checkpoint = tmp_path / "gan"
    shutil.copytree(conditional_gan, checkpoint)
    record = export_onnx(checkpoint)
    assert record["inputs"] == ["latent", "class_id"]
    onnx_generator = OnnxGenerator.open(read_checkpoint_info(checkpoint, "gan"))
    for class_name in ("red", "blue"):
        onnx_images = onnx_generator.sample(
            PerImageNoise(range(8)), condition=Condition(class_name=class_name)
        ).images
        # Float rounding inside the network only: far below one 8-bit level (0.0078).
        assert np.abs(onnx_images - _samples(checkpoint, class_name)).max() < 1e-4


def test_a_class_is_required_and_must_be_known(conditional_gan: Path, tmp_path: Path) -> None:
    from generators.sample import generate

    with pytest.raises(ConditionError, match="class-conditional; pass --class"):
        generate(conditional_gan, 1, tmp_path, sign=False, backend="torch")
    with pytest.raises(ConditionError, match="knows blue, red"):
        generate(
            conditional_gan,
            1,
            tmp_path,
            sign=False,
            backend="torch",
            condition=Condition(class_name="green"),
        )


def test_cli_generates_the_class_and_signs_it(
    conditional_gan: Path, tmp_path: Path, trust_anchor: bytes
) -> None:
    result = run_cli(
        "generate", "-c", str(conditional_gan), "-n", "2", "-o", str(tmp_path),
        "--class", "red", "--backend", "torch", "--no-record", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["images"] == 2
    image = next((tmp_path / "gan" / "1_fake").glob("*.png"))
    from provenance.verify import ProvenanceVerifier

    report = ProvenanceVerifier(trust_anchor).verify_file(image)
    assert report.state == "trusted" and report.ai_declared
    assert report.generator is not None and report.generator["class"] == "red"


def test_a_class_to_an_unconditional_gan_is_one_line(trained: dict, tmp_path: Path) -> None:
    result = run_cli(
        "generate", "-c", str(trained["gan"].out_dir), "-n", "1", "-o", str(tmp_path),
        "--class", "red", "--no-record",
    )  # fmt: skip
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "error: This gan checkpoint cannot be given a class; it takes no conditions."
    )


def test_class_conditional_training_needs_class_folders(toy_dir: Path, tmp_path: Path) -> None:
    from provenance.errors import DataError

    with pytest.raises(DataError, match="must sit in a class subfolder"):
        train("gan", toy_dir, steps=1, out=tmp_path / "a", preset="tiny", class_conditional=True)
    one_class = tmp_path / "one"
    shutil.copytree(toy_dir, one_class / "toys")
    with pytest.raises(TrainingError, match="at least two class subfolders"):
        train("gan", one_class, steps=1, out=tmp_path / "a", preset="tiny", class_conditional=True)
    with pytest.raises(TrainingError, match="built-in photos have none"):
        train("gan", None, steps=1, out=tmp_path / "b", preset="tiny", class_conditional=True)
    with pytest.raises(TrainingError, match="vae family cannot"):
        train("vae", toy_dir, steps=1, out=tmp_path / "c", preset="tiny", class_conditional=True)
    result = run_cli(
        "generators", "train", "gan", "--builtin", "--class-conditional", "--out",
        str(tmp_path / "d"), "--steps", "1",
    )  # fmt: skip
    assert result.returncode == ExitStatus.ERROR
    assert result.stderr.count("\n") == 1 and "built-in photos have none" in result.stderr
