"""The Debian-package corpus: registry rules, and a real .deb unpacked by the real code path.

No download happens here: the tests build a small package with ``dpkg-deb --build`` and
unpack it with :func:`extract_deb` (``dpkg -x``), the path :func:`fetch_package` takes
after ``apt-get download``; a cache entry made that way is then reused by ``build_corpus``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generators import corpus
from generators.corpus import CorpusSource
from provenance.errors import DataError
from tests.conftest import encode, make_image

PACKAGE = "provaudit-test-photos"
VERSION = "1.2-3"
COPYRIGHT = "Files: *\nCopyright: 2024 provaudit tests\nLicense: CC0-1.0\n"
BASE = "usr/share/provaudit-test"

SOURCE = CorpusSource(
    name="test-photos",
    package=PACKAGE,
    globs=(f"{BASE}/photos/*", f"{BASE}/bundle.rcc/res/*.png"),
    exclude=(f"{BASE}/photos/excluded.png",),
    bundles=(f"{BASE}/bundle.rcc",),
    credits=(f"{BASE}/bundle.rcc/res/CREDITS", f"{BASE}/CREDITS.txt.gz"),
    kind="photo",
    licence="CC0-1.0",
)

needs_dpkg = pytest.mark.skipif(
    shutil.which("dpkg-deb") is None or shutil.which("dpkg") is None,
    reason="dpkg-deb and dpkg are needed to build and unpack a real .deb (Debian-based systems)",
)


def build_rcc(files: dict[str, tuple[bytes, bool]]) -> bytes:
    """A Qt resource bundle (format version 2) holding ``res/<name>`` for each file.

    The flag says whether the member is stored zlib-compressed, as rcc does for files that
    shrink; the layout is the one qtbase's rcc.cpp writes.
    """
    names = bytearray()
    payload = bytearray()

    def add_name(name: str) -> int:
        offset = len(names)
        names.extend(struct.pack(">HI", len(name), 0) + name.encode("utf-16-be"))
        return offset

    res_name = add_name("res")
    entries = [
        struct.pack(">IHII", 0, 2, 1, 1) + bytes(8),
        struct.pack(">IHII", res_name, 2, len(files), 2) + bytes(8),
    ]
    for name, (data, compressed) in files.items():
        stored = struct.pack(">I", len(data)) + zlib.compress(data) if compressed else data
        entries.append(
            struct.pack(">IHHHI", add_name(name), 1 if compressed else 0, 0, 0, len(payload))
            + bytes(8)
        )
        payload.extend(struct.pack(">I", len(stored)) + stored)
    names_offset = 20
    payload_offset = names_offset + len(names)
    tree_offset = payload_offset + len(payload)
    header = b"qres" + struct.pack(">IIII", 2, tree_offset, payload_offset, names_offset)
    return header + bytes(names) + bytes(payload) + b"".join(entries)


def grey_rgb(size: tuple[int, int]) -> Image.Image:
    luma = np.asarray(make_image(size, seed=5).convert("L"))
    return Image.fromarray(np.stack([luma] * 3, axis=-1), "RGB")


@pytest.fixture
def files() -> dict[str, bytes]:
    """What the test package ships, by path; each name says what the corpus must do."""
    photo_png = encode(make_image((200, 160), seed=2), "PNG")
    return {
        f"{BASE}/photos/a-photo.jpg": encode(make_image((256, 192), seed=1), "JPEG", quality=90),
        f"{BASE}/photos/b-photo.png": photo_png,
        f"{BASE}/photos/copy-of-b.png": photo_png,
        f"{BASE}/photos/too-small.png": encode(make_image((120, 96), seed=3), "PNG"),
        f"{BASE}/photos/grey.jpg": encode(grey_rgb((256, 192)), "JPEG", quality=90),
        f"{BASE}/photos/mono.png": encode(make_image((256, 192), seed=4).convert("L"), "PNG"),
        f"{BASE}/photos/broken.jpg": encode(make_image((256, 192), seed=6), "JPEG")[:900],
        f"{BASE}/photos/readme.txt": b"not an image\n",
        f"{BASE}/photos/excluded.png": encode(make_image((256, 192), seed=7), "PNG"),
        f"{BASE}/bundle.rcc": build_rcc(
            {
                "inside.png": (encode(make_image((224, 224), seed=8), "PNG"), True),
                "CREDITS": (b"inside.png: a test photo by nobody\n", False),
            }
        ),
        # Debian gzips larger files under /usr/share/doc; credits are read unpacked.
        f"{BASE}/CREDITS.txt.gz": gzip.compress(b"a-photo.jpg: by a gzipped credit\n"),
        f"usr/share/doc/{PACKAGE}/copyright": COPYRIGHT.encode(),
    }


@pytest.fixture
def deb(tmp_path: Path, files: dict[str, bytes]) -> Path:
    tree = tmp_path / "package"
    for relative, data in files.items():
        path = tree / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN/control").write_text(
        f"Package: {PACKAGE}\nVersion: {VERSION}\nArchitecture: all\n"
        "Maintainer: provaudit tests <tests@example.invalid>\n"
        "Description: photos for the corpus tests\n"
    )
    target = tmp_path / f"{PACKAGE}_{VERSION}_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(target)],
        check=True,
        capture_output=True,
    )
    return target


def test_held_back_packages_are_never_sources() -> None:
    assert set(corpus.EXCLUDED_PACKAGES) == {
        "mate-backgrounds",
        "lomiri-wallpapers",
        "ukui-wallpapers",
        "gnome-backgrounds",
    }
    assert corpus.EXCLUDED_REASON == "held back for independent checks"
    for source in corpus.CORPUS_SOURCES:
        for held_back in corpus.EXCLUDED_PACKAGES:
            assert not source.name.startswith(held_back)
            assert source.package is None or not source.package.startswith(held_back)
    assert corpus.is_excluded("lomiri-wallpapers-20.04")
    assert not corpus.is_excluded("plasma-workspace-wallpapers")


def test_a_held_back_package_is_refused_before_any_download(tmp_path: Path) -> None:
    held_back = CorpusSource("sneaky", "lomiri-wallpapers-16.04", ("*.jpg",), "photo", "x")
    with pytest.raises(DataError, match="held back for independent checks"):
        corpus.build_corpus(tmp_path / "out", [held_back], cache_dir=tmp_path / "cache")
    with pytest.raises(DataError, match="held back"):
        corpus.fetch_package("ukui-wallpapers", tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_registry_names_are_unique_and_kinds_known() -> None:
    names = corpus.source_names()
    assert len(names) == len(set(names))
    assert corpus.BUILTIN in corpus.CORPUS_SOURCES
    assert {source.kind for source in corpus.CORPUS_SOURCES} == {"photo", "artwork"}
    with pytest.raises(DataError, match="Unknown corpus source 'nope'"):
        corpus.resolve_sources(["nope"])


def test_grey_level_ignores_transparent_pixels() -> None:
    pixels = np.zeros((4, 4, 4), dtype=np.uint8)
    pixels[..., 0] = 200  # red, but fully transparent
    assert corpus.grey_level(pixels) == 0.0
    pixels[..., 3] = 255
    assert corpus.grey_level(pixels) == 200.0


def test_rcc_members_reads_plain_and_compressed_members() -> None:
    bundle = build_rcc({"one.txt": (b"plain", False), "two.txt": (b"squeezed" * 50, True)})
    assert corpus.rcc_members(bundle) == {"res/one.txt": b"plain", "res/two.txt": b"squeezed" * 50}
    with pytest.raises(DataError, match="not a Qt resource bundle"):
        corpus.rcc_members(b"PK\x03\x04 not rcc")
    with pytest.raises(DataError, match="damaged"):
        corpus.rcc_members(bundle[:30])


@needs_dpkg
def test_real_deb_round_trip(tmp_path: Path, deb: Path, files: dict[str, bytes]) -> None:
    root = corpus.extract_deb(deb, tmp_path / "cache" / PACKAGE)
    info = corpus.package_info(root)
    assert (info["package"], info["version"]) == (PACKAGE, VERSION)
    assert info["deb_sha256"] == hashlib.sha256(deb.read_bytes()).hexdigest()

    out = tmp_path / "corpus"
    summary = corpus.collect_from_root(SOURCE, root, out)

    origins = [image.origin for image in summary.images]
    assert origins == [
        f"{BASE}/bundle.rcc/res/inside.png",
        f"{BASE}/photos/a-photo.jpg",
        f"{BASE}/photos/b-photo.png",
    ]
    assert summary.skipped == {
        "duplicate": 1,
        "too_small": 1,
        "grey": 2,
        "undecodable": 1,
        "not_an_image": 1,
    }
    for image in summary.images:
        written = (out / image.path).read_bytes()
        assert hashlib.sha256(written).hexdigest() == image.sha256
        assert image.path.startswith("photo/test-photos/")
        assert (image.package, image.version, image.licence) == (PACKAGE, VERSION, "CC0-1.0")
    # Original bytes, not a re-encode.
    a_photo = next(image for image in summary.images if image.origin.endswith("a-photo.jpg"))
    assert (out / a_photo.path).read_bytes() == files[f"{BASE}/photos/a-photo.jpg"]
    assert (a_photo.width, a_photo.height) == (256, 192)

    attribution = (out / "photo/test-photos/ATTRIBUTION.txt").read_text()
    assert f"{PACKAGE} {VERSION}" in attribution
    assert COPYRIGHT in attribution
    assert "inside.png: a test photo by nobody" in attribution
    assert "a-photo.jpg: by a gzipped credit" in attribution


@needs_dpkg
def test_build_corpus_reuses_the_cache_and_is_deterministic(tmp_path: Path, deb: Path) -> None:
    cache = tmp_path / "cache"
    corpus.extract_deb(deb, cache / PACKAGE)
    # Already unpacked: fetch_package returns it without asking apt.
    assert corpus.fetch_package(PACKAGE, cache) == cache / PACKAGE / "root"

    first = corpus.build_corpus(tmp_path / "one", [SOURCE], cache_dir=cache)
    second = corpus.build_corpus(tmp_path / "two", [SOURCE], cache_dir=cache)
    manifest = (tmp_path / "one" / corpus.MANIFEST_FILE).read_text()
    assert manifest == (tmp_path / "two" / corpus.MANIFEST_FILE).read_text()

    def tree(root: Path) -> dict[str, bytes]:
        return {
            path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file()
        }

    assert tree(tmp_path / "one") == tree(tmp_path / "two")

    lines = [json.loads(line) for line in manifest.splitlines()]
    assert len(lines) == first.images == second.images == 3
    assert set(lines[0]) == {
        "path",
        "source",
        "kind",
        "package",
        "version",
        "licence",
        "sha256",
        "width",
        "height",
        "origin",
    }
    assert [line["source"] for line in lines] == ["test-photos"] * 3
    assert first.to_dict()["deb_bytes"] == deb.stat().st_size

    limited = corpus.build_corpus(tmp_path / "one", [SOURCE], cache_dir=cache, max_per_source=1)
    assert limited.images == 1
    assert len(list((tmp_path / "one/photo/test-photos").glob("*.png"))) == 1


def test_cli_lists_sources_without_downloading(run_cli) -> None:
    result = run_cli("generators", "export-corpus", "--list", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert [source["name"] for source in listing["sources"]] == corpus.source_names()
    assert listing["excluded_reason"] == "held back for independent checks"

    missing = run_cli("generators", "export-corpus")
    assert missing.returncode != 0
    assert "--out" in missing.stderr
