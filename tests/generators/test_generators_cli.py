"""The generator commands as a user runs them: real subprocesses, one line per error."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from generator_helpers import REPO_ROOT, run_cli

from provenance.cli.exit_status import ExitStatus


def assert_one_error_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == ExitStatus.ERROR, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert result.stdout == ""


def test_cli_module_import_stays_light() -> None:
    code = (
        "import sys, generators.cli; "
        "heavy = [m for m in ('torch', 'numpy', 'safetensors', 'PIL') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    assert result.stdout.strip() == ""


def test_help_lists_the_commands() -> None:
    result = run_cli("generators", "--help")
    assert result.returncode == 0
    for command in ("train", "export-real", "export-photos", "export-onnx", "evaluate"):
        assert command in result.stdout
    assert run_cli("generate", "--help").returncode == 0


@pytest.mark.parametrize("command", ["train", "export-real"])
def test_empty_folder_and_folder_of_non_images(tmp_path: Path, command: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("hello")
    (junk / "photo.jpg").write_text("not really a JPEG")
    extra = ["gan", "--out", str(tmp_path / "run")] if command == "train" else []
    extra = extra or ["--out", str(tmp_path / "dataset")]

    result = run_cli("generators", command, "--data", str(empty), *extra)
    assert_one_error_line(result, str(empty), "holds no images")

    result = run_cli("generators", command, "--data", str(junk), *extra)
    assert_one_error_line(result, "can be decoded", "photo.jpg")


def test_image_too_small_says_which_file_and_how_to_fix(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (20, 20)).save(tmp_path / "tiny.png")
    result = run_cli("generators", "train", "vae", "--data", str(tmp_path), "--out", "unused")
    assert_one_error_line(result, "tiny.png", "--size")


def test_generate_refuses_missing_checkpoint(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = run_cli("generate", "--checkpoint", str(missing), "-n", "1", "--out", str(tmp_path))
    assert_one_error_line(result, str(missing), "does not exist")


def test_generate_refuses_pickle_files(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pickled = tmp_path / "generator.pth"
    torch.save({"w": torch.zeros(1)}, pickled)
    result = run_cli("generate", "--checkpoint", str(pickled), "-n", "1", "--out", str(tmp_path))
    assert_one_error_line(result, "pickle", "safetensors")


def test_generate_refuses_another_family(trained: dict, tmp_path: Path) -> None:
    checkpoint = trained["vae"].out_dir
    result = run_cli(
        "generate", "-c", str(checkpoint), "-n", "1", "-o", str(tmp_path), "--family", "diffusion"
    )
    assert_one_error_line(result, "holds a vae checkpoint, not a diffusion one")


def test_resume_with_another_family_is_refused(trained: dict, toy_dir: Path) -> None:
    checkpoint = trained["gan"].out_dir
    result = run_cli(
        "generators", "train", "diffusion", "--data", str(toy_dir), "--out", str(checkpoint),
        "--resume", "--batch", "16", "--preset", "tiny",
    )  # fmt: skip
    assert_one_error_line(result, "holds a gan checkpoint, not a diffusion one")


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    result = run_cli("generators", "train", "gan", "--out", str(tmp_path))
    assert result.returncode == ExitStatus.USAGE
    assert "--data" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("generators", "train", "transformer", "--builtin", "--out", str(tmp_path))
    assert result.returncode == ExitStatus.USAGE


def test_generate_writes_signed_images_and_prints_json(
    trained: dict, tmp_path: Path, provaudit_home: Path
) -> None:
    checkpoint = trained["diffusion"].out_dir
    result = run_cli(
        "generate", "-c", str(checkpoint), "-n", "2", "-o", str(tmp_path),
        "--sampling-steps", "4", "--seed", "9", "--device", "cpu", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["images"] == 2 and summary["signed"] is True
    assert len(list((tmp_path / "diffusion" / "1_fake").glob("*.png"))) == 2
    assert "Traceback" not in result.stderr


def test_train_and_export_real_commands(toy_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "vae"
    result = run_cli(
        "generators", "train", "vae", "--data", str(toy_dir), "--out", str(out), "--steps", "3",
        "--batch", "4", "--preset", "tiny", "--device", "cpu", "--sample-every", "3", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["steps"] == 3 and len(summary["weights_sha256"]) == 64
    assert (out / "samples" / "step_000003.png").is_file()

    result = run_cli(
        "generators",
        "export-real",
        "--data",
        str(toy_dir),
        "-n",
        "3",
        "--out",
        str(tmp_path / "ds"),
    )
    # Text by default, as every command: the same fields, one per line.
    assert result.returncode == 0, result.stderr
    assert not result.stdout.lstrip().startswith("{")
    fields = dict(line.split(None, 1) for line in result.stdout.splitlines() if line.strip())
    assert fields["images"] == "3" and fields["family"] == "real"


def test_skipped_files_are_one_warning_line(toy_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(toy_dir, data)
    (data / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    result = run_cli(
        "generators", "export-real", "--data", str(data), "-n", "2", "--out", str(tmp_path / "ds"),
        "--no-sign",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "broken.png" in warnings[0] and "Skipped 1 file" in warnings[0]


def test_missing_torch_is_one_line_with_the_fix(toy_dir: Path, tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['torch'] = None; "
        "from provenance.cli.main import main; "
        f"main(['generators', 'train', 'gan', '--data', {str(toy_dir)!r}, "
        f"'--out', {str(tmp_path / 'run')!r}])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60
    )
    assert_one_error_line(result, "needs torch", "provaudit[train]")


def _manifest_count(url: str) -> int:
    from provenance.registry import Registry

    registry = Registry(url)
    try:
        return registry.manifest_count()
    finally:
        registry.close()


def test_generated_images_are_recorded_and_a_stripped_copy_is_traced_back(
    tmp_path: Path, toy_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Generate with the shipped VAE, strip one image (JPEG q80 at 0.75x), recover it."""
    import io

    import c2pa
    from PIL import Image

    home = tmp_path / "home"  # this test's own default registry
    monkeypatch.setenv("PROVAUDIT_HOME", str(home))
    monkeypatch.delenv("PROVAUDIT_DATABASE_URL", raising=False)
    vae = REPO_ROOT / "generators" / "weights" / "vae"
    dataset = tmp_path / "dataset"
    result = run_cli(
        "generate", "-c", str(vae), "-n", "2", "-o", str(dataset), "--backend", "onnx",
        "--seed", "5",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    default_registry = f"sqlite:///{home / 'provaudit.db'}"
    assert _manifest_count(default_registry) == 2
    paths = sorted((dataset / "vae" / "1_fake").glob("*.png"))
    manifest_ids = []
    for path in paths:
        with c2pa.Reader("image/png", io.BytesIO(path.read_bytes())) as reader:
            manifest_ids.append(json.loads(reader.json())["active_manifest"])

    image = Image.open(paths[0]).convert("RGB")
    small = image.resize((round(image.width * 0.75), round(image.height * 0.75)))
    stripped = tmp_path / "stripped.jpg"
    small.save(stripped, "JPEG", quality=80)
    verified = run_cli("verify", str(stripped), "--recover", "--json")
    assert verified.returncode == ExitStatus.ABSENT, verified.stderr
    report = json.loads(verified.stdout)
    assert report["state"] == "absent"
    (match, *_others) = report["recovered"]
    assert match["manifest_id"] == manifest_ids[0] != manifest_ids[1]
    assert match["ai_declared"] is True
    assert match["generator"]["family"] == "vae" and match["generator"]["seed"] == 5

    # --no-record leaves the registry alone; export-real records too, into --registry.
    result = run_cli(
        "generate", "-c", str(vae), "-n", "1", "-o", str(tmp_path / "unrecorded"),
        "--backend", "onnx", "--no-record",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _manifest_count(default_registry) == 2
    other_registry = f"sqlite:///{tmp_path / 'other.db'}"
    result = run_cli(
        "generators", "export-real", "--data", str(toy_dir), "-n", "2", "-o",
        str(tmp_path / "real"), "--registry", other_registry,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _manifest_count(other_registry) == 2 and _manifest_count(default_registry) == 2
