"""generators.data: folder discovery, crops, labels, and the errors users will hit."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generators.data import (
    CropDataset,
    ImageFolder,
    SkippedFilesWarning,
    uint8_to_unit,
    unit_to_uint8,
)
from provenance.errors import DataError, ImageTooSmallError


def _save(path: Path, size: tuple[int, int] = (40, 36), fmt: str | None = None, seed: int = 0):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)
    return pixels


def test_finds_jpeg_png_webp_recursively_and_skips_hidden(tmp_path: Path) -> None:
    _save(tmp_path / "a.png")
    _save(tmp_path / "nested" / "deeper" / "b.JPG", fmt="JPEG")
    _save(tmp_path / "c.webp", fmt="WEBP")
    _save(tmp_path / ".hidden" / "d.png")
    (tmp_path / "notes.txt").write_text("not an image")

    folder = ImageFolder.open(tmp_path, 32)

    names = sorted(path.name for path in folder.paths)
    assert names == ["a.png", "b.JPG", "c.webp"]


def test_crops_have_the_training_size_and_come_from_the_image(tmp_path: Path) -> None:
    pixels = _save(tmp_path / "only.png", size=(50, 40))
    folder = ImageFolder.open(tmp_path, 32)

    crop = folder.crop(0, np.random.default_rng(0))

    assert crop.shape == (32, 32, 3) and crop.dtype == np.uint8
    windows = np.lib.stride_tricks.sliding_window_view(pixels, (32, 32, 3))
    assert (windows == crop).all(axis=(-3, -2, -1)).any()


def test_batches_depend_only_on_seed_and_step(tmp_path: Path) -> None:
    for index in range(5):
        _save(tmp_path / f"{index}.png", size=(64, 64), seed=index)
    folder = ImageFolder.open(tmp_path, 32)

    first = folder.batch(step=7, batch_size=6, seed=3)
    again = ImageFolder.open(tmp_path, 32).batch(step=7, batch_size=6, seed=3)
    other_step = folder.batch(step=8, batch_size=6, seed=3)

    assert first.images.shape == (6, 32, 32, 3)
    np.testing.assert_array_equal(first.images, again.images)
    assert not np.array_equal(first.images, other_step.images)
    assert first.as_float().shape == (6, 3, 32, 32)


def test_unit_range_round_trips_exactly() -> None:
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 4, 64, 1).repeat(3, axis=3)
    np.testing.assert_array_equal(unit_to_uint8(uint8_to_unit(pixels)), pixels)


def test_class_labels_come_from_first_subfolder(tmp_path: Path) -> None:
    _save(tmp_path / "zebra" / "1.png")
    _save(tmp_path / "apple" / "sub" / "2.png")
    _save(tmp_path / "apple" / "3.png")

    folder = ImageFolder.open(tmp_path, 32, labels=True)

    assert folder.class_names == ["apple", "zebra"]
    by_name = {
        path.name: int(label) for path, label in zip(folder.paths, folder.label_ids, strict=True)
    }
    assert by_name == {"2.png": 0, "3.png": 0, "1.png": 1}
    image, label = CropDataset(folder, seed=1)[0]
    assert image.shape == (3, 32, 32) and image.dtype == np.float32 and label in (0, 1)


def test_class_labels_refuse_loose_images(tmp_path: Path) -> None:
    _save(tmp_path / "cats" / "1.png")
    _save(tmp_path / "loose.png")
    with pytest.raises(DataError, match=r"loose\.png"):
        ImageFolder.open(tmp_path, 32, labels=True)


def test_undecodable_files_are_skipped_and_named_in_one_warning(tmp_path: Path) -> None:
    _save(tmp_path / "good.png")
    (tmp_path / "truncated.png").write_bytes((tmp_path / "good.png").read_bytes()[:60])
    (tmp_path / "text.jpg").write_text("this is not a JPEG")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folder = ImageFolder.open(tmp_path, 32)

    ours = [w for w in caught if issubclass(w.category, SkippedFilesWarning)]
    assert len(ours) == 1
    message = str(ours[0].message)
    assert "Skipped 2 file(s)" in message and "truncated.png" in message and "text.jpg" in message
    assert [path.name for path in folder.paths] == ["good.png"]
    assert len(folder.skipped) == 2


def test_image_smaller_than_crop_names_file_and_fix(tmp_path: Path) -> None:
    _save(tmp_path / "big.png", size=(80, 80))
    _save(tmp_path / "small.png", size=(48, 20))
    with pytest.raises(ImageTooSmallError) as excinfo:
        ImageFolder.open(tmp_path, 32)
    message = str(excinfo.value)
    assert "small.png" in message and "48x20" in message and "--size" in message


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda root: None, "holds no images"),
        (lambda root: (root / "readme.txt").write_text("hello"), "holds no images"),
        (lambda root: (root / "fake.png").write_text("not a png"), "can be decoded"),
    ],
    ids=["empty", "non-images", "only-broken-images"],
)
def test_unusable_folders_raise_one_clear_error(tmp_path: Path, setup, expected: str) -> None:
    setup(tmp_path)
    with pytest.raises(DataError, match=expected):
        ImageFolder.open(tmp_path, 32)


def test_missing_folder_and_unsupported_size(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        ImageFolder.open(tmp_path / "nope", 32)
    with pytest.raises(DataError, match="48 px is not supported"):
        ImageFolder.open(tmp_path, 48)


def test_export_crops_cover_every_image(tmp_path: Path) -> None:
    for index in range(3):
        _save(tmp_path / f"{index}.png", size=(64, 64), seed=index)
    folder = ImageFolder.open(tmp_path, 32)
    sources = [source.name for _, source in folder.crops(6, seed=0)]
    assert sorted(set(sources)) == ["0.png", "1.png", "2.png"]
    assert sorted(sources) == sorted(["0.png", "1.png", "2.png"] * 2)
