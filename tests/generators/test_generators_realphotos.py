"""The built-in real photos load from installed wheels, with no network at all."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generators import realphotos


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the built-in photos tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_photo_list_is_documented_with_licences() -> None:
    names = [photo.name for photo in realphotos.BUILTIN_PHOTOS]
    assert names == ["astronaut", "coffee", "chelsea", "rocket", "china", "flower"]
    for photo in realphotos.BUILTIN_PHOTOS:
        assert photo.licence and photo.source
        assert photo.name in (realphotos.__doc__ or "")


def test_installed_photos_load_offline_and_are_rgb(no_network: None) -> None:
    available = realphotos.available_photos()
    if not available:
        pytest.skip("neither scikit-image nor scikit-learn is installed")
    from provenance.media import decode_image

    for photo in available:
        data = realphotos.read_photo(photo)
        assert data is not None
        image = decode_image(data, photo.name)
        assert image.mode == "RGB" and min(image.size) >= 256


def test_export_crops_writes_pngs_and_attribution(tmp_path: Path, no_network: None) -> None:
    if not realphotos.available_photos():
        pytest.skip("neither scikit-image nor scikit-learn is installed")

    paths = realphotos.export_crops(tmp_path, size=64, n=14, seed=5)

    assert len(paths) == 14
    assert {np.asarray(Image.open(path)).shape for path in paths} == {(64, 64, 3)}
    sources = {path.name.rsplit("_", 1)[0] for path in paths}
    assert sources == {photo.name for photo in realphotos.available_photos()}
    attribution = (tmp_path / realphotos.ATTRIBUTION_FILE).read_text()
    assert "CC BY 2.0" in attribution or "public domain" in attribution
    again = realphotos.export_crops(tmp_path / "again", size=64, n=14, seed=5)
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]
