"""Text-conditioned diffusion: captions, the byte tokenizer, training, guidance, ONNX."""

from __future__ import annotations

from pathlib import Path

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
