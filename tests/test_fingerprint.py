"""PDQ and pHash fingerprints against Meta's reference values, and ``provaudit hash``.

The golden PDQ values are those of Meta's C++ reference implementation (from
../shared/pdq-reference/EXPECTED.md): agreeing with them bit for bit is what makes our
hashes exchangeable with ThreatExchange and every other PDQ user.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from provenance.errors import InputError, ProvauditError, UnsupportedFormatError
from provenance.fingerprint import (
    DIHEDRAL_ORDER,
    PDQ_MATCH_DISTANCE,
    PDQ_MIN_QUALITY,
    Fingerprints,
    fingerprint,
    fingerprint_file,
    hamming_distance,
    parse_pdq_hex,
    pdq_hash,
    pdq_hash_dihedral,
    phash,
)
from provenance.media import load_image

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pdq"
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "pdq-reference"

# Rows of ../shared/pdq-reference/EXPECTED.md for the vendored files: (PDQ hex, quality).
EXPECTED = {
    "bridge-mods/aaa-orig.jpg": (
        "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
        100,
    ),
    "bridge-mods/blur-a-lot.jpg": (
        "f8f8f0cee0f4a84f0637022a038f67f0b36e26d596621e1d33e6b39c4e9c9b22",
        100,
    ),
    "bridge-mods/shrink-a-lot.jpg": (
        "d0f8f1ccc0f4a84d0a370a3a228f67f0b36e2ed5b6623e1d33e6339c4e9c9b22",
        100,
    ),
    "bridge-mods/square-128x128.jpg": (
        "d8f8f1eec0f4a84f0e37022a078f63f0b36e2ed596621e1d33e6239c4e9c9b22",
        100,
    ),
    "dih/bridge-1-original.jpg": (
        "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
        100,
    ),
    "dih/bridge-2-rotate-90.jpg": (
        "30a10efd71cc3d429013d48d0ffffc52e34e0e17ada952a9d29685211ea9e5af",
        100,
    ),
    "dih/bridge-3-rotate-180.jpg": (
        "adad5a64b5a142e75b62a09857da895ae63b847fc23794b766b319361bc93188",
        100,
    ),
    "dih/bridge-4-rotate-270.jpg": (
        "a5f0a457a48995e8c9065c275aaa5498b61ba4bdf8fcf80387c32f8b1bfc4f05",
        100,
    ),
    "dih/bridge-5-flipx.jpg": (
        "f8f80f31e0f417b20e37f5cd028f980fb36ed02a9662c1e233e64c634e9c64dd",
        100,
    ),
    "dih/bridge-6-flipy.jpg": (
        "0dad2599b1a1bd1a5362576742da32a5e63b7380c2374b4866b366c91bc9ce77",
        100,
    ),
    "dih/bridge-7-flip-plus-1.jpg": (
        "f0a5e102f1ccc0bd945308720fff038de34ef1e8ada9a956d2967ade5ea91a50",
        100,
    ),
    "dih/bridge-8-flip-minus-1.jpg": (
        "a5f05aa8a4896a17c906a2d85aaaab07b61b5b42f8fc07fc87c3d0741bfcb0fa",
        100,
    ),
    "labelme-subset/q0003.jpg": (
        "54a9f7c321d1443c43ba566e21d4a13989a3553f1472611cbbc5fda59e03b677",
        3,
    ),
    "misc/small.jpg": (
        "0007001f003f003f007f00ff00ff00ff01ff01ff01ff03ff03ff03ff03ff03ff",
        0,
    ),
}

ORIGINAL = "bridge-mods/aaa-orig.jpg"
EDITED = [
    "bridge-mods/blur-a-lot.jpg",
    "bridge-mods/shrink-a-lot.jpg",
    "bridge-mods/square-128x128.jpg",
]
# In pdqhash.compute_dihedral's order (DIHEDRAL_ORDER).
DIHEDRAL_FILES = [
    "dih/bridge-1-original.jpg",
    "dih/bridge-2-rotate-90.jpg",
    "dih/bridge-3-rotate-180.jpg",
    "dih/bridge-4-rotate-270.jpg",
    "dih/bridge-5-flipx.jpg",
    "dih/bridge-6-flipy.jpg",
    "dih/bridge-7-flip-plus-1.jpg",
    "dih/bridge-8-flip-minus-1.jpg",
]
LOW_QUALITY = ["labelme-subset/q0003.jpg", "misc/small.jpg"]

# imagehash.phash, computed once with imagehash 4.3.2 and frozen here so that a change
# of library version or of our RGB conversion shows up.
PHASH_GOLDEN = {
    "bridge-mods/aaa-orig.jpg": "aca29c1c33dc23d7",
    "misc/small.jpg": "f8f8f8f0f0f0e0c0",
}


@pytest.fixture(scope="module")
def original_dihedral() -> list[tuple[str, int]]:
    return pdq_hash_dihedral(load_image(FIXTURES / ORIGINAL))


def _min_distance(hex_value: str, candidates: list[tuple[str, int]]) -> int:
    return min(hamming_distance(hex_value, candidate) for candidate, _quality in candidates)


# --- golden values ----------------------------------------------------------------------


def test_vendored_set_is_complete_and_small():
    files = sorted(p.relative_to(FIXTURES).as_posix() for p in FIXTURES.rglob("*.jpg"))
    assert files == sorted(EXPECTED)
    assert (FIXTURES / "LICENSE").is_file()
    assert sum(p.stat().st_size for p in FIXTURES.rglob("*")) < 4 * 1024 * 1024


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_pdq_matches_reference_exactly(name):
    expected_hex, expected_quality = EXPECTED[name]
    assert pdq_hash(load_image(FIXTURES / name)) == (expected_hex, expected_quality)


@pytest.mark.parametrize("name", sorted(PHASH_GOLDEN))
def test_phash_golden(name):
    assert phash(load_image(FIXTURES / name)) == PHASH_GOLDEN[name]


def test_fingerprint_file_gives_both_hashes():
    prints = fingerprint_file(FIXTURES / ORIGINAL)
    assert prints == Fingerprints(
        pdq=EXPECTED[ORIGINAL][0], pdq_quality=100, phash=PHASH_GOLDEN[ORIGINAL]
    )
    assert prints.to_dict() == {
        "pdq": EXPECTED[ORIGINAL][0],
        "pdq_quality": 100,
        "phash": PHASH_GOLDEN[ORIGINAL],
    }
    assert prints.pdq_usable
    assert fingerprint(load_image(FIXTURES / ORIGINAL)) == prints
    with pytest.raises(AttributeError):
        prints.pdq = "0" * 64  # frozen: fingerprints are values


# --- matching ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", EDITED)
def test_edited_images_match_the_original(name):
    original = fingerprint_file(FIXTURES / ORIGINAL).pdq
    edited = fingerprint_file(FIXTURES / name).pdq
    assert 0 < hamming_distance(original, edited) <= PDQ_MATCH_DISTANCE


@pytest.mark.parametrize("name", DIHEDRAL_FILES[1:])
def test_rotated_or_flipped_images_do_not_match_as_is(name):
    original = fingerprint_file(FIXTURES / ORIGINAL).pdq
    transformed = fingerprint_file(FIXTURES / name).pdq
    assert hamming_distance(original, transformed) > PDQ_MATCH_DISTANCE


@pytest.mark.parametrize(("index", "name"), list(enumerate(DIHEDRAL_FILES)))
def test_rotated_or_flipped_images_match_through_dihedral_hashes(index, name, original_dihedral):
    transformed = fingerprint_file(FIXTURES / name).pdq
    assert _min_distance(transformed, original_dihedral) <= PDQ_MATCH_DISTANCE
    # The documented order: entry k is the hash of the k-th transform of the original.
    distances = [hamming_distance(transformed, h) for h, _q in original_dihedral]
    assert distances.index(min(distances)) == index
    assert distances[index] <= 8


def test_dihedral_shape_and_first_entry(original_dihedral):
    assert len(original_dihedral) == len(DIHEDRAL_ORDER) == 8
    assert original_dihedral[0] == EXPECTED[ORIGINAL]
    assert {quality for _h, quality in original_dihedral} == {100}
    assert len({h for h, _q in original_dihedral}) == 8


@pytest.mark.parametrize("name", LOW_QUALITY)
def test_low_quality_images_say_so(name):
    prints = fingerprint_file(FIXTURES / name)
    assert prints.pdq_quality < PDQ_MIN_QUALITY
    assert not prints.pdq_usable


def test_thresholds_are_pdq_guidance():
    assert PDQ_MATCH_DISTANCE == 31
    assert PDQ_MIN_QUALITY == 50


# --- odd images -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (4, 4), (1, 500)])
def test_tiny_images_hash_with_zero_quality(size):
    image = Image.new("RGB", size, (200, 30, 90))
    prints = fingerprint(image)
    assert prints.pdq == "0" * 64
    assert prints.pdq_quality == 0
    assert re.fullmatch(r"[0-9a-f]{16}", prints.phash)


def test_small_but_hashable_image():
    image = Image.effect_noise((7, 5), 64).convert("RGB")
    pdq, quality = pdq_hash(image)
    assert re.fullmatch(r"[0-9a-f]{64}", pdq)
    assert 0 <= quality <= 100


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "1", "LA", "I;16"])
def test_any_mode_is_converted_to_rgb(mode):
    base = load_image(FIXTURES / "bridge-mods/square-128x128.jpg")
    prints = fingerprint(base.convert(mode))
    assert re.fullmatch(r"[0-9a-f]{64}", prints.pdq)
    assert 0 <= prints.pdq_quality <= 100


def test_alpha_is_ignored():
    rgb = load_image(FIXTURES / ORIGINAL)
    rgba = rgb.copy()
    rgba.putalpha(0)
    assert fingerprint(rgba) == fingerprint(rgb)


# --- hex helpers ------------------------------------------------------------------------


def test_hamming_distance():
    a = EXPECTED[ORIGINAL][0]
    assert hamming_distance(a, a) == 0
    assert hamming_distance("0" * 64, "f" * 64) == 256
    assert hamming_distance("0" * 63 + "1", "0" * 64) == 1
    assert hamming_distance(a.upper(), f" {a}\n") == 0
    b = EXPECTED["dih/bridge-3-rotate-180.jpg"][0]
    assert hamming_distance(a, b) == hamming_distance(b, a) > 0
    assert hamming_distance("aca29c1c33dc23d7", "aca29c1c33dc23d6") == 1


@pytest.mark.parametrize(
    ("a", "b", "words"),
    [
        ("0" * 64, "0" * 16, "64-bit"),
        ("0" * 63, "0" * 64, "hex digits"),
        ("z" * 64, "0" * 64, "hex digits"),
        ("", "0" * 64, "hex digits"),
    ],
)
def test_hamming_distance_refuses_bad_input(a, b, words):
    with pytest.raises(InputError, match=words):
        hamming_distance(a, b)


def test_parse_pdq_hex():
    value = EXPECTED[ORIGINAL][0]
    assert parse_pdq_hex(value) == bytes.fromhex(value)
    assert parse_pdq_hex(value.upper()) == bytes.fromhex(value)
    assert len(parse_pdq_hex(value)) == 32


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("abc", "64 hex digits; 'abc' has 3"),
        ("0" * 65, "has 65"),
        ("aca29c1c33dc23d7", "has 16"),
        ("g" * 64, "only hex digits"),
        ("0x" + "0" * 62, "only hex digits"),
    ],
)
def test_parse_pdq_hex_refuses_with_a_sentence(value, words):
    with pytest.raises(InputError, match=re.escape(words)) as caught:
        parse_pdq_hex(value)
    message = str(caught.value)
    assert message.endswith(".") and "\n" not in message


# --- bad files --------------------------------------------------------------------------


def test_bad_files_raise_one_sentence(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image\n")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes((FIXTURES / ORIGINAL).read_bytes()[:20000])
    cases = {
        empty: (InputError, "is empty"),
        text: (UnsupportedFormatError, "not a supported image"),
        tmp_path: (InputError, "is a directory"),
        tmp_path / "missing.jpg": (InputError, "does not exist"),
        truncated: (InputError, "truncated"),
    }
    for path, (kind, words) in cases.items():
        with pytest.raises(kind, match=words) as caught:
            fingerprint_file(path)
        assert isinstance(caught.value, ProvauditError)
        assert "\n" not in str(caught.value)


def test_importing_stays_light():
    """The CLI lists commands by importing them: no numpy, Pillow, torch or siblings."""
    code = (
        "import sys, provenance.fingerprint, provenance.cli.hash\n"
        "heavy = {'numpy', 'PIL', 'pdqhash', 'imagehash', 'torch',"
        " 'detectors', 'generators', 'service'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


# --- the full reference table -----------------------------------------------------------

_ROW = re.compile(r"^\|\s*([^|\s]+\.(?:jpe?g|png))\s*\|\s*([0-9a-fA-F]{64})\s*\|\s*(\d+)\s*\|\s*$")


def _reference_rows() -> list:
    expected_md = REFERENCE / "EXPECTED.md"
    if not expected_md.is_file():
        return [pytest.param(None, None, None, marks=pytest.mark.skip(reason=f"no {REFERENCE}"))]
    rows = [
        m.groups()
        for line in expected_md.read_text(encoding="utf-8").splitlines()
        if (m := _ROW.match(line.strip()))
    ]
    return [pytest.param(name, pdq.lower(), int(q), id=name) for name, pdq, q in rows]


def test_reference_table_parses():
    if not (REFERENCE / "EXPECTED.md").is_file():
        pytest.skip(f"no {REFERENCE}")
    rows = _reference_rows()
    assert len(rows) >= len(EXPECTED)
    names = {row.values[0] for row in rows}
    assert set(EXPECTED) <= names
    for param in rows:
        name, pdq, quality = param.values
        if name in EXPECTED:
            assert EXPECTED[name] == (pdq, quality), f"literal for {name} disagrees"


@pytest.mark.parametrize(("name", "expected_hex", "expected_quality"), _reference_rows())
def test_every_reference_row(name, expected_hex, expected_quality):
    assert pdq_hash(load_image(REFERENCE / name)) == (expected_hex, expected_quality)


# --- provaudit hash ---------------------------------------------------------------------


def _provaudit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "200"}
    env.pop("PROVAUDIT_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "provenance", "hash", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_cli_json_batch_reports_each_file_and_goes_on(tmp_path):
    good_a = FIXTURES / ORIGINAL
    good_b = FIXTURES / "misc/small.jpg"
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("hello, not an image\n")
    (tmp_path / "folder").mkdir()
    args = [str(good_a), "empty.jpg", "notes.jpg", "folder", "missing.jpg", str(good_b)]

    result = _provaudit(*args, "--json", cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["path"] for line in lines] == args
    assert lines[0] == {
        "path": str(good_a),
        "pdq": EXPECTED[ORIGINAL][0],
        "pdq_quality": 100,
        "phash": PHASH_GOLDEN[ORIGINAL],
    }
    assert lines[5] == {
        "path": str(good_b),
        "pdq": EXPECTED["misc/small.jpg"][0],
        "pdq_quality": 0,
        "phash": PHASH_GOLDEN["misc/small.jpg"],
    }
    expected_errors = {
        "empty.jpg": ("bad_input", "is empty"),
        "notes.jpg": ("unsupported_format", "not a supported image"),
        "folder": ("bad_input", "is a directory"),
        "missing.jpg": ("bad_input", "does not exist"),
    }
    for line in lines[1:5]:
        code, words = expected_errors[line["path"]]
        assert set(line) == {"path", "error"}
        assert line["error"]["code"] == code
        assert words in line["error"]["message"]

    stderr_lines = result.stderr.splitlines()
    assert len(stderr_lines) == 4, result.stderr
    for bad, line in zip(
        ["empty.jpg", "notes.jpg", "folder", "missing.jpg"], stderr_lines, strict=True
    ):
        assert line.startswith("error: ") and bad in line


def test_cli_text_mode(tmp_path):
    result = _provaudit(str(FIXTURES / ORIGINAL), str(FIXTURES / "misc/small.jpg"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    first, second = result.stdout.splitlines()
    assert str(FIXTURES / ORIGINAL) in first
    assert EXPECTED[ORIGINAL][0] in first and PHASH_GOLDEN[ORIGINAL] in first
    assert "quality=100" in first
    assert "quality=0" in second and "low quality" in second


def test_cli_usage_error_is_not_a_traceback(tmp_path):
    result = _provaudit(cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
