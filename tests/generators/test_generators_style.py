"""Style transfer: the losses work on random features, the checkpoint keeps its style,
both sampling paths agree, and every output is signed as a composite of its content and
style images. Real torch, real c2pa, tiny configurations."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from generator_helpers import run_cli, write_style_image

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from generators.checkpoint import load_checkpoint, read_checkpoint_info  # noqa: E402
from generators.conditioning import Condition, ConditionError, ConditionImage  # noqa: E402
from generators.configs import default_config  # noqa: E402
from generators.families import get_family  # noqa: E402
from generators.noise import PerImageNoise  # noqa: E402
from generators.sample import generate  # noqa: E402
from generators.style import RandomFeatureNetwork, StyleLoss, gatys_stylise  # noqa: E402
from generators.style_inputs import builtin_content, condition_pixels, to_unit  # noqa: E402
from generators.train import TrainingError, train  # noqa: E402
from provenance.cli.exit_status import ExitStatus  # noqa: E402
from provenance.errors import ImageTooSmallError  # noqa: E402

# Torch and ONNX stylisations in [-1, 1] agree within this: instance norm sums in another
# order (observed: <= 5.3e-5 over 6 checkpoints, tiny and compact, 8 images each).
ONNX_TOLERANCE = 5e-4
COMPOSITE = "compositeWithTrainedAlgorithmicMedia"


def _one_error_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == ExitStatus.ERROR, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _style_tensor(path: Path, size: int = 32) -> torch.Tensor:
    image = ConditionImage(path.read_bytes(), path.name)
    return torch.from_numpy(to_unit(condition_pixels(image, size, "style")))[None]


def _manifest(data: bytes) -> dict:
    import c2pa

    with c2pa.Reader("image/png", io.BytesIO(data)) as reader:
        store = json.loads(reader.json())
    return store["manifests"][store["active_manifest"]]


def _source_types(manifest: dict) -> list[str]:
    types = []
    for assertion in manifest["assertions"]:
        if assertion["label"].startswith("c2pa.actions"):
            for action in assertion["data"]["actions"]:
                if "digitalSourceType" in action:
                    types.append(action["digitalSourceType"].rsplit("/", 1)[-1])
    return types


def _generator_assertion(manifest: dict) -> dict:
    return next(a["data"] for a in manifest["assertions"] if a["label"].endswith(".generator"))


def test_feature_network_is_fixed_by_its_seed_and_never_saved() -> None:
    first = RandomFeatureNetwork((8, 16), seed=3)
    again = RandomFeatureNetwork((8, 16), seed=3)
    other = RandomFeatureNetwork((8, 16), seed=4)
    assert torch.equal(first.weight0, again.weight0) and torch.equal(first.weight1, again.weight1)
    assert not torch.equal(first.weight0, other.weight0)
    assert first.state_dict() == {}
    model = get_family("style").build(default_config("style", 32, "tiny"))
    assert all(not name.startswith("loss.") for name in model.state_dict())
    assert "style_image" in model.state_dict()


def test_gatys_optimisation_lowers_content_and_style_loss(style_image: Path) -> None:
    config = default_config("style", 32, "tiny")
    style = _style_tensor(style_image)
    content = torch.from_numpy(builtin_content([0], 32).images)
    result = gatys_stylise(content, style, config, steps=150, seed=0)
    assert result.end.content < result.start.content, (result.start, result.end)
    assert result.end.style < result.start.style, (result.start, result.end)
    assert result.end.total < 0.5 * result.start.total
    assert result.image.shape == content.shape and result.image.abs().max() <= 1.0


def test_trained_network_moves_outputs_towards_the_style(trained: dict, style_image: Path):
    loaded = load_checkpoint(trained["style"].out_dir)
    model, config = loaded.model, loaded.config
    content = torch.from_numpy(builtin_content(list(range(8)), 32).images)
    loss = StyleLoss(config)
    grams = loss.style_targets(_style_tensor(style_image))
    with torch.no_grad():
        unstylised = loss(content, loss.content_target(content), grams)
        stylised = loss(model.stylizer(content), loss.content_target(content), grams)
    # Only the direction: 30 tiny steps on the toy gradients, judged on photo crops (the
    # bench measures the size of the effect on a properly trained network).
    assert stylised.style < 0.8 * unstylised.style, (unstylised.style, stylised.style)


def test_checkpoint_keeps_its_style_image(trained: dict, style_image: Path) -> None:
    out = trained["style"].out_dir
    info = read_checkpoint_info(out, "style")
    original = style_image.read_bytes()
    assert (out / info.config.style_file).read_bytes() == original
    import hashlib

    assert info.config.style_sha256 == hashlib.sha256(original).hexdigest()
    assert info.training["style_sha256"] == info.config.style_sha256
    loaded = load_checkpoint(out)
    torch.testing.assert_close(loaded.model.style_image[None], _style_tensor(style_image))


def test_training_refuses_a_missing_wrong_or_small_style(
    toy_dir: Path, style_image: Path, tmp_path: Path
) -> None:
    common = dict(size=32, steps=1, batch=2, device="cpu", preset="tiny", progress=False)
    with pytest.raises(TrainingError, match="pass --style IMAGE"):
        train("style", toy_dir, out=tmp_path / "a", **common)
    with pytest.raises(TrainingError, match="style family only"):
        train("gan", toy_dir, out=tmp_path / "b", style=style_image, **common)
    small = write_style_image(tmp_path / "small.png", size=20)
    with pytest.raises(ImageTooSmallError, match="20x20 px; this model needs at least 32x32"):
        train("style", toy_dir, out=tmp_path / "c", style=small, **common)
    assert not (tmp_path / "c").exists()


def test_sampling_uses_content_and_refuses_another_style(
    trained: dict, style_image: Path, tmp_path: Path
) -> None:
    loaded = load_checkpoint(trained["style"].out_dir)
    spec, cpu = get_family("style"), torch.device("cpu")
    photo = builtin_content([0], 32).sources[0]
    own_style = ConditionImage(style_image.read_bytes(), style_image.name)
    with_content = Condition(content=photo, style=own_style)
    output = spec.sample(
        loaded.model, loaded.config, PerImageNoise([1, 2]), cpu, condition=with_content
    )
    assert output.images.shape == (2, 3, 32, 32)
    np.testing.assert_array_equal(output.images[0], output.images[1])  # same content
    crops = spec.sample(loaded.model, loaded.config, PerImageNoise([1, 2]), cpu)
    assert not np.array_equal(crops.images[0], crops.images[1])  # crops chosen per seed

    other = write_style_image(tmp_path / "other.png", seed=99)
    foreign = Condition(style=ConditionImage(other.read_bytes(), other.name))
    with pytest.raises(ConditionError, match="applies only the style it was trained on"):
        generate(trained["style"].out_dir, 1, tmp_path / "d", sign=False, condition=foreign)


def test_onnx_matches_torch_with_and_without_content(
    trained: dict, tmp_path: Path, style_image: Path
) -> None:
    pytest.importorskip("onnxruntime")
    from generators.onnx_export import export_onnx
    from generators.onnx_sampling import OnnxGenerator

    copy = tmp_path / "style"
    shutil.copytree(trained["style"].out_dir, copy)
    export_onnx(copy)
    info = read_checkpoint_info(copy)
    loaded = load_checkpoint(copy)
    photo = builtin_content([5], 32).sources[0]
    for condition in (None, Condition(content=photo)):
        via_onnx = OnnxGenerator.open(info).sample(PerImageNoise([3, 4, 5]), condition=condition)
        via_torch = get_family("style").sample(
            loaded.model, loaded.config, PerImageNoise([3, 4, 5]), torch.device("cpu"),
            condition=condition,
        )  # fmt: skip
        np.testing.assert_allclose(via_onnx.images, via_torch.images, atol=ONNX_TOLERANCE)


def test_generated_images_are_composites_of_content_and_style(
    trained: dict, tmp_path: Path, style_image: Path, trust_anchor: bytes
) -> None:
    out = trained["style"].out_dir
    info = read_checkpoint_info(out)
    result = generate(out, 2, tmp_path / "builtin", seed=4, record=False, watermark=False)
    assert [record.family for record in result.records] == ["style", "style"]
    for record in result.records:
        data = (tmp_path / "builtin" / record.path).read_bytes()
        manifest = _manifest(data)
        assert _source_types(manifest) == [COMPOSITE]
        ingredients = manifest["ingredients"]
        assert [i["relationship"] for i in ingredients] == ["componentOf", "componentOf"]
        source = builtin_content([record.seed], 32).sources[0]
        assert [i["title"] for i in ingredients] == [source.title, info.config.style_file]
        assertion = _generator_assertion(manifest)
        assert assertion["family"] == "style" and assertion["seed"] == record.seed

    photo = tmp_path / "photo.png"
    photo.write_bytes(builtin_content([0], 32).sources[0].data)
    condition = Condition(
        content=ConditionImage(photo.read_bytes(), photo.name),
        style=ConditionImage(style_image.read_bytes(), style_image.name),
    )
    given = generate(out, 1, tmp_path / "given", record=False, condition=condition)
    manifest = _manifest((tmp_path / "given" / given.records[0].path).read_bytes())
    assertion = _generator_assertion(manifest)
    assert assertion["content_sha256"] == condition.content.sha256
    assert assertion["style_sha256"] == condition.style.sha256 == info.config.style_sha256
    assert [i["title"] for i in manifest["ingredients"]] == ["photo.png", style_image.name]

    from provenance.verify import ProvenanceVerifier

    report = ProvenanceVerifier(trust_anchor).verify_bytes(
        (tmp_path / "given" / given.records[0].path).read_bytes()
    )
    assert report.state == "trusted" and report.ai_declared


def test_sign_request_components_are_read_back_as_ingredients(tmp_path: Path) -> None:
    from generators.sample import encode_png
    from generators.signing import open_signing
    from provenance.signing import GeneratorInfo, Parent, SignRequest

    content = encode_png(np.full((40, 40, 3), 90, np.uint8))
    style = encode_png(np.full((40, 40, 3), 200, np.uint8))
    image = encode_png(np.full((32, 32, 3), 128, np.uint8))
    session = open_signing(record=False)
    try:
        request = SignRequest(
            title="stylised.png",
            ai_generated=True,
            generator=GeneratorInfo(family="style"),
            components=(Parent(content, "content.png"), Parent(style, "style.png")),
        )
        signed = session.signer.sign(image, request).data
    finally:
        session.close()
    manifest = _manifest(signed)
    assert _source_types(manifest) == [COMPOSITE]
    assert [(i["title"], i["relationship"]) for i in manifest["ingredients"]] == [
        ("content.png", "componentOf"),
        ("style.png", "componentOf"),
    ]


def test_cli_train_generate_and_bad_inputs(
    toy_dir: Path, style_image: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ckpt"
    common = ["--data", str(toy_dir), "--steps", "2", "--batch", "2", "--preset", "tiny"]
    common += ["--device", "cpu", "--sample-every", "0", "--no-progress"]
    missing = run_cli("generators", "train", "style", "--out", str(out), *common)
    _one_error_line(missing, "--style IMAGE")
    trained_run = run_cli(
        "generators", "train", "style", "--out", str(out), "--style", str(style_image),
        "--json", *common,
    )  # fmt: skip
    assert trained_run.returncode == 0, trained_run.stderr
    assert json.loads(trained_run.stdout)["family"] == "style"

    dataset = tmp_path / "dataset"
    made = run_cli("generate", "-c", str(out), "-n", "2", "-o", str(dataset), "--no-record")
    assert made.returncode == 0, made.stderr
    assert len(list((dataset / "style" / "1_fake").glob("*.png"))) == 2

    photo = tmp_path / "photo.png"
    photo.write_bytes(builtin_content([0], 32).sources[0].data)
    styled = run_cli(
        "generate", "-c", str(out), "-n", "1", "-o", str(dataset), "--no-record",
        "--content", str(photo), "--style", str(style_image), "--json",
    )  # fmt: skip
    assert styled.returncode == 0, styled.stderr

    tiny = write_style_image(tmp_path / "tiny.png", size=16)
    too_small = run_cli(
        "generate", "-c", str(out), "-n", "1", "-o", str(dataset), "--content", str(tiny)
    )
    _one_error_line(too_small, "content image tiny.png is 16x16 px", "at least 32x32")
    small_style = run_cli(
        "generators", "train", "style", "--out", str(tmp_path / "x"), "--style", str(tiny),
        *common,
    )  # fmt: skip
    _one_error_line(small_style, "style image tiny.png is 16x16 px")
    other = write_style_image(tmp_path / "other.png", seed=99)
    foreign = run_cli(
        "generate", "-c", str(out), "-n", "1", "-o", str(dataset), "--style", str(other)
    )
    _one_error_line(foreign, "applies only the style it was trained on")


def test_evaluate_a_style_checkpoint(trained: dict, toy_dir: Path) -> None:
    from generators.evaluate import evaluate

    values = evaluate(trained["style"].out_dir, toy_dir, n=16, device="cpu").to_dict()
    assert values["fake_images"] == 16 and np.isfinite(values["kid"])


def test_service_signs_shipped_style_outputs_as_composites() -> None:
    pytest.importorskip("onnxruntime")
    from generators.signing import open_signing
    from service.generation import BUNDLED_GENERATORS, load_generators

    if not (BUNDLED_GENERATORS / "style" / "model.onnx").is_file():
        pytest.skip("no shipped style checkpoint")
    generators = load_generators(BUNDLED_GENERATORS)
    session = open_signing(record=False)
    try:
        result = generators.generate("style", 2, session.signer, seed=3)
    finally:
        session.close()
    style_file = read_checkpoint_info(BUNDLED_GENERATORS / "style").config.style_file
    for image in result.images:
        manifest = _manifest(image.data)
        assert _source_types(manifest) == [COMPOSITE]
        source = builtin_content([image.seed], 32).sources[0]
        assert [i["title"] for i in manifest["ingredients"]] == [source.title, style_file]
