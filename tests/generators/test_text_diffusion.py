"""Text-conditioned diffusion: captions, the byte tokenizer, training, guidance, ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generators.data import ImageFolder
from provenance.errors import DataError


def _save(path: Path, colour: tuple[int, int, int] = (10, 200, 30), size: int = 40) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)
    return path


def test_captions_come_from_caption_files_then_class_folders(tmp_path: Path) -> None:
    _save(tmp_path / "pixel_art" / "a.png")
    _save(tmp_path / "pixel_art" / "b.png")
    (tmp_path / "pixel_art" / "b.txt").write_text("  A  sprite\nof a knight ", encoding="utf-8")
    _save(tmp_path / "line-chart" / "c.png")
    _save(tmp_path / "loose.png")
    (tmp_path / "loose.txt").write_text("café au lait", encoding="utf-8")
    _save(tmp_path / "uncaptioned.png")

    folder = ImageFolder.open(tmp_path, 32)
    captions = dict(zip((p.name for p in folder.paths), folder.captions(), strict=True))

    assert captions == {
        "a.png": "pixel art",
        "b.png": "A sprite of a knight",
        "c.png": "line chart",
        "loose.png": "café au lait",
        "uncaptioned.png": "",
    }
    batch = folder.batch(0, 6, seed=0)
    labels = folder.training_labels(batch)
    assert labels.captions == [captions[path.name] for path in batch.paths]


def test_a_caption_file_that_is_not_utf8_is_one_clear_error(tmp_path: Path) -> None:
    _save(tmp_path / "cats" / "a.png")
    (tmp_path / "cats" / "a.txt").write_bytes("chat noir \xe9t\xe9".encode("latin-1"))
    folder = ImageFolder.open(tmp_path, 32)  # an unconditional model never reads captions
    with pytest.raises(DataError, match=r"a\.txt is not UTF-8"):
        folder.captions()


# --- the tokenizer (torch-free) ------------------------------------------------------------


def test_byte_tokens_start_pad_cut_and_normalise() -> None:
    from generators.text_prompts import BYTE_OFFSET, PAD_TOKEN, START_TOKEN, tokenize

    tokens = tokenize(["Pixel   ART", "", "é", "x" * 50], max_tokens=8)
    assert tokens.shape == (4, 8) and tokens.dtype == np.int64
    assert list(tokens[0]) == [START_TOKEN, *(b + BYTE_OFFSET for b in b"pixel a")]
    assert list(tokens[1]) == [START_TOKEN] + [PAD_TOKEN] * 7
    assert list(tokens[2][:3]) == [START_TOKEN, *(b + BYTE_OFFSET for b in "é".encode())]
    assert (tokens[3] != PAD_TOKEN).all()  # cut at max_tokens


# --- torch ----------------------------------------------------------------------------------

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from generators.checkpoint import load_checkpoint, read_checkpoint_info  # noqa: E402
from generators.conditioning import Condition, ConditionError  # noqa: E402
from generators.configs import default_config  # noqa: E402
from generators.families import get_family  # noqa: E402
from generators.noise import PerImageNoise  # noqa: E402
from generators.train import train  # noqa: E402

FAMILY = "text_diffusion"
CPU = torch.device("cpu")
COLOURS = {"red": (225, 25, 25), "blue": (25, 25, 225)}
# The tiny preset at a higher learning rate without the weight average, on red and blue
# squares: the fewest steps after which every training seed tried (0-2) draws redder images
# for "red" than for "blue" by 0.33 or more in mean R - B (on [-1, 1]; seed 0: 0.79).
COLOUR_STEPS, COLOUR_BATCH, COLOUR_LEARNING_RATE = 60, 16, 3e-3
# Solid colours are easy to read off a noisy image, so the prompt decides only the first,
# noisiest steps, where the noise-prediction loss barely weighs it: guidance amplifies it.
COLOUR_GUIDANCE = 6.0
# Torch and onnxruntime run the same graph: the images agree within float rounding.
ONNX_TOLERANCE = 1e-4


def _colour_folder(root: Path) -> Path:
    for name, colour in COLOURS.items():
        for index in range(4):
            _save(root / name / f"{index}.png", colour)
    return root


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny text_diffusion checkpoint trained on class folders "red" and "blue"."""
    import dataclasses

    root = tmp_path_factory.mktemp("text-diffusion")
    config = dataclasses.replace(
        default_config(FAMILY, 32, "tiny"), learning_rate=COLOUR_LEARNING_RATE, ema_decay=0.0
    )
    result = train(
        FAMILY,
        _colour_folder(root / "data"),
        size=32,
        steps=COLOUR_STEPS,
        out=root / "checkpoint",
        batch=COLOUR_BATCH,
        device="cpu",
        seed=0,
        sample_every=COLOUR_STEPS,
        config=config,
        progress=False,
    )
    losses = [row["loss"] for row in result.losses]
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    return result.out_dir


def _sample(checkpoint: Path, prompt: str | None, seeds: list[int], **options: object):
    loaded = load_checkpoint(checkpoint)
    condition = Condition(prompt=prompt, **options) if prompt is not None else None  # type: ignore[arg-type]
    return get_family(FAMILY).sample(
        loaded.model, loaded.config, PerImageNoise(seeds), CPU, "ddim", 10, condition=condition
    )


def test_unconditional_unet_has_no_text_modules() -> None:
    from generators.unet import UNet

    config = default_config("diffusion", 32, "tiny").unet
    names = list(UNet(config).state_dict())
    assert not [name for name in names if "cross" in name or "context" in name]
    conditional = UNet(config, context_width=16).state_dict()
    assert set(names) < set(conditional)


def test_the_prompt_steers_the_colour(colour_model: Path) -> None:
    seeds = [0, 1, 2, 3]
    red = _sample(colour_model, "red", seeds, guidance=COLOUR_GUIDANCE).images
    blue = _sample(colour_model, "blue", seeds, guidance=COLOUR_GUIDANCE).images

    def redness(images: np.ndarray) -> np.ndarray:  # mean R - B of each image
        return images[:, 0].mean(axis=(1, 2)) - images[:, 2].mean(axis=(1, 2))

    # Image by image (same seed, same starting noise), "red" is redder than "blue".
    assert (redness(red) > redness(blue)).all(), (redness(red), redness(blue))
    assert redness(red).mean() - redness(blue).mean() > 0.3
    assert red[:, 0].mean() > blue[:, 0].mean() and blue[:, 2].mean() > red[:, 2].mean()


def test_two_prompts_same_seed_give_different_images_and_guidance_matters(
    colour_model: Path,
) -> None:
    seeds = [5, 6]
    red = _sample(colour_model, "red", seeds).images
    again = _sample(colour_model, "red", seeds).images
    blue = _sample(colour_model, "blue", seeds).images
    unguided = _sample(colour_model, "red", seeds, guidance=1.0).images
    np.testing.assert_array_equal(red, again)
    assert np.abs(red - blue).mean() > 0.05
    assert np.abs(red - unguided).mean() > 0.01


def test_the_checkpoint_takes_a_prompt_and_has_a_grid(colour_model: Path) -> None:
    info = read_checkpoint_info(colour_model, FAMILY)
    assert info.config.conditioning == ("prompt",)
    grid = colour_model / "samples" / f"step_{COLOUR_STEPS:06d}.png"
    # One row per caption, sorted and cycling: blue, red, blue, red.
    pixels = np.asarray(Image.open(grid).convert("RGB"), dtype=np.float64)
    rows = np.array_split(pixels, 4, axis=0)
    redness = [row[..., 0].mean() - row[..., 2].mean() for row in rows]
    assert redness[1] > redness[0] and redness[3] > redness[2], redness


def test_a_prompt_is_required_and_checked(colour_model: Path, tmp_path: Path) -> None:
    from generators.sample import generate

    with pytest.raises(ConditionError, match="needs a prompt"):
        generate(colour_model, 1, tmp_path, sign=False, backend="torch")
    with pytest.raises(ConditionError, match="empty"):
        Condition(prompt="   ")
    with pytest.raises(ConditionError, match="cannot be given a class"):
        generate(
            colour_model, 1, tmp_path, sign=False, condition=Condition(prompt="red", class_name="x")
        )


def test_onnx_matches_torch_for_a_prompt(colour_model: Path, tmp_path: Path) -> None:
    """Stated tolerance: the guided images agree within 1e-4 (observed about 2e-5)."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    import shutil

    from generators.onnx_export import export_onnx
    from generators.onnx_sampling import OnnxGenerator

    copy = tmp_path / "checkpoint"
    shutil.copytree(colour_model, copy)
    export_onnx(copy)
    generator = OnnxGenerator.open(read_checkpoint_info(copy))
    loaded = load_checkpoint(copy)
    for sampler, steps, guidance in (("ddim", 10, None), ("ddpm", 8, 2.0), ("ddim", 5, 1.0)):
        condition = Condition(prompt="red", guidance=guidance)
        noise_seeds = [3, 4]
        onnx_output = generator.sample(PerImageNoise(noise_seeds), sampler, steps, 0.0, condition)
        torch_output = get_family(FAMILY).sample(
            loaded.model, loaded.config, PerImageNoise(noise_seeds), CPU, sampler, steps,
            condition=condition,
        )  # fmt: skip
        np.testing.assert_allclose(onnx_output.images, torch_output.images, atol=ONNX_TOLERANCE)


def test_generate_cli_signs_the_prompt(colour_model: Path, tmp_path: Path) -> None:
    import json

    from generator_helpers import run_cli

    from generators.layout import LABELS_FILE

    result = run_cli(
        "generate", "-c", str(colour_model), "-n", "2", "-o", str(tmp_path / "out"),
        "--prompt", "blue", "--guidance", "2.5", "--sampling-steps", "4", "--no-record",
        "--backend", "torch", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "out" / LABELS_FILE).read_text().splitlines()]
    assert [row["family"] for row in rows] == [FAMILY, FAMILY]
    assert all(row["signed"] and row["steps"] == 4 for row in rows)

    from provenance.verify import ProvenanceVerifier

    report = ProvenanceVerifier().verify_bytes((tmp_path / "out" / rows[0]["path"]).read_bytes())
    generator = report.generator or {}
    assert generator["family"] == FAMILY
    assert generator["prompt"] == "blue" and generator["guidance"] == 2.5


def _assert_one_error_line(result, *fragments: str) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_prompts_on_the_command_line(colour_model: Path, tmp_path: Path) -> None:
    from generator_helpers import run_cli

    out = str(tmp_path / "out")
    no_prompt = run_cli("generate", "-c", str(colour_model), "-n", "1", "-o", out, "--no-sign")
    _assert_one_error_line(no_prompt, "needs a prompt", "--prompt")
    empty = run_cli("generate", "-c", str(colour_model), "-n", "1", "-o", out, "--prompt", " ")
    _assert_one_error_line(empty, "prompt is empty")


def test_a_prompt_to_a_model_without_conditioning(tmp_path: Path) -> None:
    from generator_helpers import run_cli

    data = _colour_folder(tmp_path / "data")
    train("gan", data, steps=1, out=tmp_path / "gan", batch=2, device="cpu", sample_every=0,
          preset="tiny", progress=False)  # fmt: skip
    result = run_cli(
        "generate", "-c", str(tmp_path / "gan"), "-n", "1", "-o", str(tmp_path / "out"),
        "--prompt", "red",
    )  # fmt: skip
    _assert_one_error_line(result, "gan checkpoint cannot be given a prompt")


def test_train_cli_reads_a_caption_folder(tmp_path: Path) -> None:
    from generator_helpers import run_cli

    data = _colour_folder(tmp_path / "data")
    result = run_cli(
        "generators", "train", FAMILY, "--data", str(data), "--out", str(tmp_path / "run"),
        "--steps", "2", "--batch", "2", "--preset", "tiny", "--sample-every", "0",
        "--no-progress", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert read_checkpoint_info(tmp_path / "run").family == FAMILY
    (data / "red" / "0.txt").write_bytes(b"\xff\xfe bad")
    again = run_cli(
        "generators", "train", FAMILY, "--data", str(data), "--out", str(tmp_path / "run2"),
        "--steps", "1", "--batch", "2", "--preset", "tiny", "--sample-every", "0",
    )  # fmt: skip
    _assert_one_error_line(again, "0.txt is not UTF-8")


def test_evaluate_works_for_the_family(colour_model: Path) -> None:
    """Without a prompt, evaluate compares the unconditional model with the data."""
    from generators.evaluate import evaluate

    report = evaluate(colour_model, colour_model.parent / "data", n=6, sampling_steps=3,
                      device="cpu")  # fmt: skip
    assert report.fake_images == 6 and np.isfinite(report.kid)
