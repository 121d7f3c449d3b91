"""Hash banks on a real SQLite registry: exact FAISS search, thresholds, persistence, CLI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from provenance.errors import InputError
from provenance.fingerprint import PDQ_MATCH_DISTANCE, fingerprint_file
from provenance.hashindex import BinaryHashIndex, brute_force_search, hex_to_codes
from provenance.hashquery import HashQuery, TooFlatError
from provenance.registry import DuplicateError, NotFoundError, Registry
from provenance.store import FingerprintStore
from tests.conftest import encode, make_image

PDQ = Path(__file__).resolve().parent / "fixtures" / "pdq"
ORIGINAL = PDQ / "bridge-mods" / "aaa-orig.jpg"
ORIGINAL_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
ROTATED = sorted((PDQ / "dih").glob("*.jpg"))


def _open(directory: Path) -> FingerprintStore:
    return FingerprintStore(Registry(f"sqlite:///{directory / 'registry.db'}"), directory / "index")


@pytest.fixture
def bank(tmp_path: Path):
    store = _open(tmp_path)
    yield store
    store.close()


def _flip_bits(code: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    flipped = code.copy()
    for bit in rng.choice(code.size * 8, size=count, replace=False):
        flipped[bit // 8] ^= np.uint8(1 << (bit % 8))
    return flipped


# --- the index itself -------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "bits"), [("multihash", 256), ("flat", 256), ("flat", 64)])
def test_radius_search_is_exact_against_brute_force(kind, bits):
    rng = np.random.default_rng(7)
    codes = rng.integers(0, 256, (5000, bits // 8), dtype=np.uint8)
    radius = 31 if bits == 256 else 10
    # Queries with true neighbours at every distance up to the radius and just past it.
    queries = np.stack(
        [_flip_bits(codes[i * 23], i % (radius + 3), rng) for i in range(200)]
        + [rng.integers(0, 256, bits // 8, dtype=np.uint8) for _ in range(20)]
    )
    index = BinaryHashIndex(bits, kind)
    ids = np.arange(1, len(codes) + 1, dtype=np.int64) * 10
    index.add(ids, codes)
    hits = index.search(queries, radius)
    truth = brute_force_search(codes, queries, radius)
    assert len(hits) == len(queries)
    for hit, expected in zip(hits, truth, strict=True):
        assert sorted(hit.ids.tolist()) == sorted((ids[expected]).tolist())
    # Inclusive: a code exactly at the radius is found, one bit further is not.
    exact = _flip_bits(codes[0], radius, rng)
    assert 10 in index.search(exact[None], radius)[0].ids
    assert 10 not in index.search(exact[None], radius - 1)[0].ids


def test_multihash_is_exact_past_31_by_probing_more_flips():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, (5000, 32), dtype=np.uint8)
    index = BinaryHashIndex(256, "multihash")
    index.add(np.arange(len(codes)), codes)
    queries = np.stack([_flip_bits(codes[i], 40 + i % 8, rng) for i in range(50)])
    for hit, expected in zip(
        index.search(queries, 47), brute_force_search(codes, queries, 47), strict=True
    ):
        assert sorted(hit.ids.tolist()) == sorted(expected.tolist())


@pytest.mark.parametrize("count", [1, 2, 300])
def test_saved_index_finds_the_same_codes_after_loading(tmp_path, count):
    """Includes one code: FAISS 1.15 writes a one-code multi-hash index it cannot read back."""
    rng = np.random.default_rng(count)
    codes = rng.integers(0, 256, (count, 32), dtype=np.uint8)
    index = BinaryHashIndex(256, "multihash")
    index.add(np.arange(5, 5 + count), codes, np.full(count, 3))
    index.save(tmp_path / "x.faiss", {"registry_id": "r"})
    loaded, info = BinaryHashIndex.load(tmp_path / "x.faiss")
    assert info["registry_id"] == "r" and loaded.max_id == 4 + count
    hits = loaded.search(codes, 0)
    assert [hit.ids.tolist() for hit in hits] == [[5 + i] for i in range(count)]
    assert {int(g) for hit in hits for g in hit.groups} == {3}


def test_a_partial_save_is_not_loaded(tmp_path):
    index = BinaryHashIndex(256, "multihash")
    index.add([1, 2], np.zeros((2, 32), np.uint8) + np.arange(2, dtype=np.uint8)[:, None])
    index.save(tmp_path / "x.faiss")
    meta = json.loads((tmp_path / "x.faiss.json").read_text())
    meta["ntotal"] = 3  # as if the process died between writing the arrays and the JSON
    (tmp_path / "x.faiss.json").write_text(json.dumps(meta))
    assert BinaryHashIndex.load(tmp_path / "x.faiss") is None
    assert BinaryHashIndex.load(tmp_path / "missing.faiss") is None


# --- banks ------------------------------------------------------------------------------


def test_rotated_and_flipped_copies_match_through_dihedral_queries(bank):
    bank.banks.create_bank("KNOWN")
    added = bank.banks.add_image("KNOWN", ORIGINAL.read_bytes(), "orig.jpg")
    assert added.pdq == ORIGINAL_PDQ and added.pdq_quality == 100
    from provenance.media import load_image

    plain = [HashQuery.from_image(load_image(path), dihedral=False) for path in ROTATED]
    dihedral = [HashQuery.from_image(load_image(path)) for path in ROTATED]
    without = bank.banks.lookup(plain)
    with_variants = bank.banks.lookup(dihedral)
    # As-is, only the unrotated copy matches; with the eight variants, all of them do.
    assert [bool(result) for result in without] == [True] + [False] * 7
    for result in with_variants:
        (hit,) = result["KNOWN"]
        assert hit["bank_content_id"] == added.id
        assert hit["distance"] <= 8 and hit["signal"] == "pdq"
    assert with_variants[1]["KNOWN"][0]["variant"] == "rotate-270"  # undoes a 90° turn


def test_per_bank_thresholds_and_bank_filter(bank):
    bank.banks.create_bank("STRICT", pdq_threshold=2, phash_threshold=0)
    bank.banks.create_bank("LOOSE", pdq_threshold=31)
    bank.banks.add_hashes("STRICT", pdq=ORIGINAL_PDQ)
    bank.banks.add_hashes("LOOSE", pdq=ORIGINAL_PDQ)
    edited = fingerprint_file(PDQ / "bridge-mods" / "shrink-a-lot.jpg")  # distance 16
    query = HashQuery.from_hashes(pdq=edited.pdq)
    (result,) = bank.banks.lookup([query])
    assert set(result) == {"LOOSE"}
    assert result["LOOSE"][0]["distance"] == 16
    assert bank.banks.lookup([query], banks=["STRICT"]) == [{}]
    bank.banks.update_bank("STRICT", pdq_threshold=20)
    assert set(bank.banks.lookup([query])[0]) == {"LOOSE", "STRICT"}
    with pytest.raises(NotFoundError, match="no bank named 'NOPE'"):
        bank.banks.lookup([query], banks=["NOPE"])


def test_phash_matches_when_pdq_is_absent_or_unusable(bank):
    bank.banks.create_bank("PH", phash_threshold=4)
    prints = fingerprint_file(ORIGINAL)
    content = bank.banks.add_hashes("PH", phash=prints.phash)
    near = f"{int(prints.phash, 16) ^ 0b111:016x}"  # 3 bits away
    far = f"{int(prints.phash, 16) ^ 0b11111:016x}"  # 5 bits away
    assert bank.banks.lookup([HashQuery.from_hashes(phash=near)]) == [
        {
            "PH": [
                {
                    "bank_content_id": content.id,
                    "distance": 3,
                    "signal": "phash",
                    "variant": "original",
                    "metadata": None,
                }
            ]
        }
    ]
    assert bank.banks.lookup([HashQuery.from_hashes(phash=far)]) == [{}]


def test_low_quality_pdq_is_never_matched(bank):
    bank.banks.create_bank("KNOWN")
    flat = (PDQ / "labelme-subset" / "q0003.jpg").read_bytes()
    with pytest.raises(TooFlatError, match="PDQ quality is 3"):
        bank.banks.add_image("KNOWN", flat, "q0003.jpg")
    with pytest.raises(TooFlatError, match="quality 10"):
        bank.banks.add_hashes("KNOWN", pdq=ORIGINAL_PDQ, pdq_quality=10)
    with pytest.raises(TooFlatError):
        bank.banks.add_image("KNOWN", encode(make_image((4, 4)), "PNG"), "tiny.png")
    bank.banks.add_hashes("KNOWN", pdq=ORIGINAL_PDQ, pdq_quality=100)
    # The same hash, but the query says its image is too flat to trust: no PDQ match.
    low = HashQuery.from_hashes(pdq=ORIGINAL_PDQ, pdq_quality=20)
    assert bank.banks.lookup([low]) == [{}]
    assert bank.banks.lookup([HashQuery.from_hashes(pdq=ORIGINAL_PDQ, pdq_quality=50)]) != [{}]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"pdq": "abc"}, "64 hex digits; 'abc' has 3"),
        ({"pdq": "g" * 64}, "only hex digits"),
        ({"pdq": ORIGINAL_PDQ + "00"}, "has 66"),
        ({"phash": "12345"}, "16 hex digits"),
        ({"phash": "zz" * 8}, "only hex digits"),
        ({}, "Give a PDQ hash, a pHash or both"),
        ({"pdq_quality": 90, "phash": "aca29c1c33dc23d7"}, "goes with a PDQ hash"),
    ],
)
def test_malformed_hashes_are_refused_with_a_sentence(bank, fields, words):
    bank.banks.create_bank("KNOWN")
    with pytest.raises(InputError, match=words) as caught:
        bank.banks.add_hashes("KNOWN", **fields)
    assert "\n" not in str(caught.value)
    assert bank.banks.bank("KNOWN").content_count == 0


def test_duplicates_and_unknown_banks(bank):
    bank.banks.create_bank("KNOWN")
    with pytest.raises(DuplicateError, match="already exists"):
        bank.banks.create_bank("KNOWN")
    first = bank.banks.add_hashes("KNOWN", pdq=ORIGINAL_PDQ)
    with pytest.raises(DuplicateError, match=f"bank_content_id {first.id}") as caught:
        bank.banks.add_hashes("KNOWN", pdq=ORIGINAL_PDQ.upper())
    assert caught.value.existing_id == first.id
    with pytest.raises(NotFoundError, match="no bank named 'OTHER'"):
        bank.banks.add_hashes("OTHER", pdq=ORIGINAL_PDQ)
    for name in ("", "has space", "x" * 129, "../etc"):
        with pytest.raises(InputError, match="bank name"):
            bank.banks.create_bank(name)
    with pytest.raises(InputError, match="threshold"):
        bank.banks.create_bank("BIG", pdq_threshold=200)


def test_new_content_matches_immediately_and_from_another_writer(tmp_path):
    serving = _open(tmp_path)
    serving.banks.create_bank("KNOWN")
    serving.open_indexes()
    query = HashQuery.from_hashes(pdq=ORIGINAL_PDQ)
    assert serving.banks.lookup([query]) == [{}]
    added = serving.banks.add_hashes("KNOWN", pdq=ORIGINAL_PDQ)
    assert serving.banks.lookup([query])[0]["KNOWN"][0]["bank_content_id"] == added.id
    # A second process (the CLI beside a running server) writes to the same registry.
    other = _open(tmp_path)
    other_pdq = "0" * 32 + "f" * 32
    second = other.banks.add_hashes("KNOWN", pdq=other_pdq)
    other.close()
    hit = serving.banks.lookup([HashQuery.from_hashes(pdq=other_pdq)])[0]["KNOWN"][0]
    assert hit == {
        "bank_content_id": second.id,
        "distance": 0,
        "signal": "pdq",
        "variant": "original",
        "metadata": None,
    }
    serving.close()


def test_indexes_are_saved_reused_caught_up_and_rebuilt(tmp_path):
    first = _open(tmp_path)
    first.banks.create_bank("KNOWN")
    first.banks.add_hashes("KNOWN", pdq=ORIGINAL_PDQ)
    first.open_indexes()
    first.close()
    assert (tmp_path / "index" / "content-pdq.faiss").is_file()

    # Rows added while no index was open (as after a crash) are synced in on open.
    writer = _open(tmp_path)
    late = writer.banks.add_hashes("KNOWN", pdq="1" * 64)
    writer.close(save=False)
    reopened = _open(tmp_path)
    status = reopened.status()
    assert status["rebuilt_on_open"] == []
    assert status["indexes"]["content-pdq"] == {
        "kind": "multihash",
        "size": 2,
        "registry_rows": 2,
        "max_id": late.id,
        "in_sync": True,
    }
    reopened.close()

    # A row the saved index holds but the registry lost: the index is rebuilt from it.
    with sqlite3.connect(tmp_path / "registry.db") as db:
        db.execute("delete from bank_content where id = ?", (late.id,))
    rebuilt = _open(tmp_path)
    status = rebuilt.status()
    assert "content-pdq" in status["rebuilt_on_open"]
    assert status["indexes"]["content-pdq"]["size"] == 1 and status["in_sync"]
    assert rebuilt.banks.lookup([HashQuery.from_hashes(pdq="1" * 64)]) == [{}]
    rebuilt.close()

    # A different registry in the same place (ids start again): never reuse its indexes.
    (tmp_path / "registry.db").unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp_path / 'registry.db'}{suffix}").unlink(missing_ok=True)
    fresh = _open(tmp_path)
    fresh.banks.create_bank("KNOWN")
    assert fresh.status()["indexes"]["content-pdq"]["size"] == 0
    assert fresh.banks.lookup([HashQuery.from_hashes(pdq=ORIGINAL_PDQ)]) == [{}]
    fresh.close()


def test_batched_lookup_answers_in_order(bank):
    bank.banks.create_bank("KNOWN")
    rng = np.random.default_rng(0)
    stored = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(50)]
    bank.registry.add_content_many("KNOWN", [{"pdq": value} for value in stored])
    queries = [HashQuery.from_hashes(pdq=value) for value in reversed(stored)]
    results = bank.banks.lookup(queries)
    ids = [result["KNOWN"][0]["bank_content_id"] for result in results]
    assert ids == list(range(50, 0, -1))
    assert hex_to_codes(stored[:1], 256).shape == (1, 32)


def test_bulk_additions_are_checked_like_single_ones(bank):
    bank.banks.create_bank("KNOWN")
    with pytest.raises(InputError, match="PDQ quality"):
        bank.registry.add_content_many("KNOWN", [{"pdq": ORIGINAL_PDQ, "pdq_quality": 140}])
    with pytest.raises(InputError, match="goes with a PDQ hash"):
        bank.registry.add_content_many("KNOWN", [{"phash": "ff" * 8, "pdq_quality": 80}])
    assert bank.registry.content_count() == 0


# --- provaudit bank ---------------------------------------------------------------------


def test_cli_create_add_lookup_list_status(run_cli, tmp_path):
    registry = f"sqlite:///{tmp_path / 'cli.db'}"
    created = run_cli("bank", "create", "KNOWN", "--pdq-threshold", "20", "--registry", registry)
    assert created.returncode == 0, created.stderr
    again = run_cli("bank", "create", "KNOWN", "--registry", registry)
    assert again.returncode == 1 and "already exists" in again.stderr

    flat = PDQ / "labelme-subset" / "q0003.jpg"
    added = run_cli(
        "bank", "add", "KNOWN", ORIGINAL, flat, ORIGINAL, "--registry", registry, "--json"
    )
    assert added.returncode == 1
    lines = [json.loads(line) for line in added.stdout.splitlines()]
    assert lines[0]["pdq"] == ORIGINAL_PDQ and lines[0]["bank_content_id"] == 1
    assert lines[1]["error"]["code"] == "image_too_flat"
    assert lines[2]["error"]["code"] == "duplicate"
    assert added.stderr.count("error:") == 2 and "Traceback" not in added.stderr

    by_hash = run_cli("bank", "add", "KNOWN", "--pdq", "e" * 64, "--registry", registry)
    assert by_hash.returncode == 0 and "bank_content_id 2" in by_hash.stdout

    looked = run_cli("bank", "lookup", *ROTATED[:3], "--registry", registry, "--json")
    assert looked.returncode == 0, looked.stderr
    results = [json.loads(line) for line in looked.stdout.splitlines()]
    assert [r["matches"]["KNOWN"][0]["bank_content_id"] for r in results] == [1, 1, 1]

    text = run_cli("bank", "lookup", "--pdq", ORIGINAL_PDQ, "--registry", registry)
    assert "KNOWN bank_content_id=1 distance=0" in text.stdout

    listed = run_cli("bank", "list", "--registry", registry, "--json")
    assert json.loads(listed.stdout)[0] | {"created": None} == {
        "name": "KNOWN",
        "description": None,
        "pdq_threshold": 20,
        "phash_threshold": 10,
        "created": None,
        "content_count": 2,
    }
    status = json.loads(run_cli("bank", "status", "--registry", registry, "--json").stdout)
    assert status["in_sync"] and status["indexes"]["content-pdq"]["size"] == 2


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["add", "NOPE", "--pdq", ORIGINAL_PDQ], 1, "no bank named 'NOPE'"),
        (["add", "KNOWN", "--pdq", "xyz"], 1, "64 hex digits"),
        (["add", "KNOWN"], 2, "Give image files"),
        (["lookup", "--pdq", "12"], 1, "64 hex digits"),
        (["lookup", "--phash", "q" * 16], 1, "only hex digits"),
        (["lookup", str(PDQ / "misc" / "small.jpg")], 1, "too flat or too small"),
        (["lookup", "--pdq", ORIGINAL_PDQ, "--bank", "NOPE"], 1, "no bank named"),
        (["add", "KNOWN", "--pdq", ORIGINAL_PDQ, "--metadata", "[1]"], 2, "JSON object"),
    ],
)
def test_cli_bad_input_is_one_line(run_cli, tmp_path, args, code, words):
    registry = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run_cli("bank", "create", "KNOWN", "--registry", registry).returncode == 0
    result = run_cli("bank", *args, "--registry", registry)
    assert result.returncode == code, result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr


def test_pdq_guidance_is_the_default_threshold(bank):
    assert bank.banks.create_bank("DEFAULT").pdq_threshold == PDQ_MATCH_DISTANCE == 31


def test_cli_unusable_registry_url_is_one_line(run_cli):
    for url in ("nope://x", "mysql+mysqldb://user@127.0.0.1/db"):
        result = run_cli("bank", "list", "--registry", url)
        assert result.returncode == 1
        assert "registry URL cannot be used" in result.stderr and "Traceback" not in result.stderr
