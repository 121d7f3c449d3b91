"""Human-made negatives: every render kind, determinism, the export and its command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generators import renders
from provenance.errors import DataError

# Flat art is allowed few colours (a two-colour checkerboard is a real texture); kinds
# with anti-aliased text, scan noise or brush strokes must show many.
FEW_COLOURS = {"gradient", "vector", "texture", "pixelart"}
SIZES = ((96, 192), (211, 150), (333, 97))
MATPLOTLIB_MODULES = ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg")


def _kinds_here() -> tuple[str, ...]:
    if renders.matplotlib_available():
        return renders.KINDS
    return tuple(kind for kind in renders.KINDS if kind != "chart")


def test_registry_names_the_ten_kinds() -> None:
    assert renders.KINDS == (
        "gradient",
        "vector",
        "text",
        "document",
        "chart",
        "ui",
        "texture",
        "pixelart",
        "diagram",
        "painting",
    )


@pytest.mark.parametrize("kind", renders.KINDS)
def test_every_kind_renders_the_requested_size_with_content(kind: str) -> None:
    if kind == "chart":
        pytest.importorskip("matplotlib")
    for index, (width, height) in enumerate(SIZES):
        image = renders.RENDERERS[kind](np.random.default_rng([11, index]), width, height)
        assert image.shape == (height, width, 3) and image.dtype == np.uint8
        colours = len(np.unique(image.reshape(-1, 3), axis=0))
        assert colours > (1 if kind in FEW_COLOURS else 32), (kind, index, colours)


def test_sizes_stay_in_bounds_and_aspect() -> None:
    rng = np.random.default_rng(0)
    for _ in range(2000):
        width, height = renders.draw_size(rng)
        assert renders.MIN_SIDE <= min(width, height) <= max(width, height) <= renders.MAX_SIDE
        assert 0.49 <= width / height <= 2.02


def test_export_writes_files_log_counts_and_attribution(tmp_path: Path) -> None:
    kinds = _kinds_here()
    n = len(kinds) * 2 + 3
    summary = renders.export_renders(tmp_path, n, seed=2)

    records = [json.loads(line) for line in (tmp_path / renders.LOG_FILE).read_text().splitlines()]
    assert summary.images == n == len(records)
    assert summary.counts == {kind: 2 + (i < 3) for i, kind in enumerate(kinds)}
    files = sorted(path.name for path in tmp_path.iterdir() if path.suffix != ".txt")
    assert files == sorted([record["file"] for record in records] + [renders.LOG_FILE])
    for index, record in enumerate(records):
        assert record["file"].startswith(f"{record['kind']}_{index:05d}.")
        assert record["seed"] == 2 and record["format"] in renders.FORMATS
        with Image.open(tmp_path / record["file"]) as image:
            assert image.mode == "RGB" and image.size == (record["width"], record["height"])
    attribution = (tmp_path / renders.ATTRIBUTION_FILE).read_text()
    assert "no generative model" in attribution
    assert summary.fonts and all(font in attribution for font in summary.fonts)
    assert "licence:" in attribution


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    kinds = _kinds_here()
    first = renders.export_renders(tmp_path / "a", len(kinds), seed=7)
    again = renders.export_renders(tmp_path / "b", len(kinds), seed=7)
    other = renders.export_renders(tmp_path / "c", len(kinds), seed=8)

    def contents(folder: Path) -> dict[str, bytes]:
        return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}

    assert contents(first.folder) == contents(again.folder)
    for name, data in contents(other.folder).items():
        if name.endswith((".png", ".jpg", ".webp")):
            assert data != contents(first.folder).get(name), name


def test_an_image_is_a_pure_function_of_seed_and_index(tmp_path: Path) -> None:
    renders.export_renders(tmp_path, 8, seed=3, kinds=["vector", "ui"], formats=("png",))
    alone = renders.render(3, 5, ("vector", "ui"), ("png",))
    assert alone.kind == "ui"
    with Image.open(tmp_path / "ui_00005.png") as image:
        assert np.array_equal(np.asarray(image), alone.pixels)


def test_formats_can_be_restricted_and_unknown_names_are_refused(tmp_path: Path) -> None:
    summary = renders.export_renders(tmp_path, 6, kinds=["gradient"], formats=("webp",))
    assert summary.formats == {"webp": 6}
    with pytest.raises(DataError, match="bogus"):
        renders.export_renders(tmp_path, 1, kinds=["bogus"])
    with pytest.raises(DataError, match="tiff"):
        renders.export_renders(tmp_path, 1, formats=("tiff",))


def test_without_matplotlib_charts_are_left_out_or_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in MATPLOTLIB_MODULES:
        monkeypatch.setitem(sys.modules, name, None)

    with pytest.warns(UserWarning, match="chart kind is left out"):
        summary = renders.export_renders(tmp_path, 9, seed=1)
    assert "chart" not in summary.counts and sum(summary.counts.values()) == 9
    with pytest.raises(DataError, match="needs matplotlib"):
        renders.export_renders(tmp_path, 2, kinds=["chart", "text"])
    with pytest.raises(DataError, match="needs matplotlib"):
        renders.render_chart(np.random.default_rng(0), 120, 100)


def test_cli_writes_renders_and_reports_json(tmp_path: Path, run_cli) -> None:
    out = tmp_path / "renders"
    result = run_cli(
        "generators", "export-renders", "-o", out, "-n", "4", "--kind", "text", "--kind",
        "pixelart", "--seed", "5", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["images"] == 4 and summary["counts"] == {"text": 2, "pixelart": 2}
    assert len((out / renders.LOG_FILE).read_text().splitlines()) == 4

    refused = run_cli("generators", "export-renders", "-o", out, "-n", "1", "--kind", "photo")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "Unknown render kind photo" in refused.stderr


def test_square_renders_are_whole_pictures_filed_as_captions(tmp_path: Path) -> None:
    from generators.data import image_caption

    kinds = ("gradient", "pixelart")
    renders.export_renders(tmp_path, 6, seed=2, kinds=kinds, square=16)
    paths = sorted(tmp_path.glob("*/*.png"))
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "gradient/0000.png", "gradient/0002.png", "gradient/0004.png",
        "pixelart/0001.png", "pixelart/0003.png", "pixelart/0005.png",
    ]  # fmt: skip
    # The whole render squashed, not a crop of it: its mean colour survives.
    drawn = renders.render(2, 3, kinds, ("png",))
    pixels = np.asarray(Image.open(tmp_path / "pixelart" / "0003.png"))
    assert pixels.shape == (16, 16, 3)
    assert np.abs(pixels.mean((0, 1)) - drawn.pixels.mean((0, 1))).max() < 12
    assert image_caption(tmp_path, paths[0]) == "gradient"
    with pytest.raises(DataError, match="at least 8 px"):
        renders.export_renders(tmp_path / "x", 2, square=4)
