"""Managing hash banks: browse in pages, remove items (they stop matching on the very next
query), and every match carries the metadata stored with the item. Against a real SQLite
registry, the real CLI and a real uvicorn server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from provenance.hashindex import BinaryHashIndex
from provenance.hashquery import HashQuery
from provenance.registry import NotFoundError, Registry
from provenance.store import FingerprintStore
from tests import servers
from tests.servers import Server, stop_server

API_KEY = "manage-key-321"
WRITE = {"X-API-Key": API_KEY}
PDQ = Path(__file__).resolve().parent / "fixtures" / "pdq"
ORIGINAL = PDQ / "bridge-mods" / "aaa-orig.jpg"
ORIGINAL_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
OTHER_PDQS = ["ab" * 32, "cd" * 32, "0f" * 32]


def _file(path: Path) -> dict:
    return {"file": (path.name, path.read_bytes(), "image/jpeg")}


# --- the index ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["multihash", "flat"])
def test_a_removed_code_is_not_found_before_or_after_a_save(tmp_path, kind):
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, (300, 32), dtype=np.uint8)
    index = BinaryHashIndex(256, kind)
    index.add(np.arange(1, 301, dtype=np.int64), codes)
    assert 42 in index.search(codes[41:42], 0)[0].ids
    assert index.remove([42, 42, 999]) == 1
    assert index.remove([42]) == 0
    assert 42 not in index.search(codes[41:42], 31)[0].ids
    assert index.ntotal == 299 and 42 not in index.ids and len(index.codes()) == 299
    assert 43 in index.search(codes[42:43], 0)[0].ids

    # One removal in 300 is saved as a dead position, not rebuilt away.
    index.save(tmp_path / "i.faiss")
    loaded, info = BinaryHashIndex.load(tmp_path / "i.faiss")  # type: ignore[misc]
    assert (info["ntotal"], info["removed"], loaded.ntotal) == (300, 1, 299)
    assert 42 not in loaded.search(codes[41:42], 31)[0].ids
    found = loaded.search(codes, 0)
    assert [hit.ids.tolist() for hit in found] == [[i] if i != 42 else [] for i in range(1, 301)]

    # Once a quarter of the stored codes are removed, saving rebuilds without them.
    gone = set(range(100, 176))
    assert loaded.remove(sorted(gone)) == 76 and loaded.ntotal == 223
    loaded.save(tmp_path / "i.faiss")
    compacted, info = BinaryHashIndex.load(tmp_path / "i.faiss")  # type: ignore[misc]
    assert (info["ntotal"], info["removed"], compacted.ntotal) == (223, 0, 223)
    found = compacted.search(codes, 0)
    expected = [[] if i == 42 or i in gone else [i] for i in range(1, 301)]
    assert [hit.ids.tolist() for hit in found] == expected


# --- the bank, in process and across processes ------------------------------------------


def _store(directory: Path) -> FingerprintStore:
    return FingerprintStore(Registry(f"sqlite:///{directory / 'registry.db'}"), directory / "index")


def test_remove_pages_and_metadata_in_process_and_from_another_writer(tmp_path):
    serving = _store(tmp_path)
    serving.open_indexes()
    serving.banks.create_bank("B")
    kept = serving.banks.add_hashes("B", pdq=ORIGINAL_PDQ, metadata={"case": "K-1"})
    others = [
        serving.banks.add_hashes("B", pdq=p, metadata={"n": i}) for i, p in enumerate(OTHER_PDQS)
    ]
    query = HashQuery.from_hashes(pdq=ORIGINAL_PDQ)
    hit = serving.banks.lookup([query])[0]["B"][0]
    assert hit["bank_content_id"] == kept.id and hit["metadata"] == {"case": "K-1"}

    page, total = serving.banks.list_content("B", limit=3, offset=0)
    assert total == 4 and [i.id for i in page] == [kept.id, others[0].id, others[1].id]
    page, _ = serving.banks.list_content("B", limit=3, offset=3)
    assert [(i.id, i.metadata) for i in page] == [(others[2].id, {"n": 2})]

    removed = serving.banks.remove("B", others[0].id)
    assert removed.metadata == {"n": 0}
    assert serving.banks.lookup([HashQuery.from_hashes(pdq=OTHER_PDQS[0])]) == [{}]
    with pytest.raises(NotFoundError):
        serving.banks.remove("B", others[0].id)
    assert serving.status()["in_sync"]

    # Another process (the CLI beside a running server) removes an item: the serving
    # process's index still holds it, and the next lookup leaves it out all the same.
    other = _store(tmp_path)
    other.banks.remove("B", kept.id)
    other.close()
    assert serving.banks.lookup([query]) == [{}]
    status = serving.status()  # the check drops it from the index too
    assert status["in_sync"] and status["indexes"]["content-pdq"]["size"] == 2
    serving.close()

    # Reopened from the saved indexes: the removals stay removed.
    reopened = _store(tmp_path)
    reopened.open_indexes()
    assert reopened.status()["rebuilt_on_open"] == []
    assert reopened.banks.lookup([query]) == [{}]
    assert reopened.banks.lookup([HashQuery.from_hashes(pdq=OTHER_PDQS[1])])[0]["B"][0][
        "metadata"
    ] == {"n": 1}
    reopened.close()


# --- the CLI ----------------------------------------------------------------------------


def test_cli_list_content_remove_and_lookup_with_metadata(run_cli, tmp_path):
    registry = ["--registry", f"sqlite:///{tmp_path / 'cli.db'}"]
    assert run_cli("bank", "create", "CASES", *registry).returncode == 0
    added = run_cli(
        "bank",
        "add",
        "CASES",
        ORIGINAL,
        "--metadata",
        '{"case": "C-9", "label": "known"}',
        *registry,
        "--json",
    )
    assert added.returncode == 0, added.stderr
    item = json.loads(added.stdout)
    for pdq in OTHER_PDQS:
        assert run_cli("bank", "add", "CASES", "--pdq", pdq, *registry).returncode == 0

    page = run_cli(
        "bank", "list-content", "CASES", "--limit", "2", "--offset", "1", *registry, "--json"
    )
    assert page.returncode == 0, page.stderr
    body = json.loads(page.stdout)
    assert body["total"] == 4 and body["next_offset"] == 3
    assert [i["pdq"] for i in body["items"]] == OTHER_PDQS[:2]
    text = run_cli("bank", "list-content", "CASES", *registry)
    assert '{"case": "C-9", "label": "known"}' in text.stdout and "1-4 of 4" in text.stdout

    found = run_cli("bank", "lookup", ORIGINAL, *registry, "--json")
    match = json.loads(found.stdout)["matches"]["CASES"][0]
    assert match["bank_content_id"] == item["bank_content_id"]
    assert match["metadata"] == {"case": "C-9", "label": "known"}
    assert '"case": "C-9"' in run_cli("bank", "lookup", ORIGINAL, *registry).stdout

    removed = run_cli("bank", "remove", "CASES", str(item["bank_content_id"]), *registry)
    assert removed.returncode == 0, removed.stderr
    assert f"Removed bank_content_id {item['bank_content_id']}" in removed.stdout
    after = run_cli("bank", "lookup", ORIGINAL, *registry)
    assert after.returncode == 0 and after.stdout.strip() == f"{ORIGINAL}: no match"
    assert "disagrees" not in after.stderr  # the saved index was updated, not rebuilt

    again = run_cli("bank", "remove", "CASES", str(item["bank_content_id"]), *registry)
    assert again.returncode == 1
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1 and "has no content with id" in lines[0]
    assert run_cli("bank", "remove", "NOPE", "1", *registry).returncode == 1
    assert run_cli("bank", "list-content", "CASES", "--limit", "0", *registry).returncode == 2


# --- the API ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = servers.start_server(tmp_path_factory.mktemp("manage-service"), API_KEY)
    yield running
    stop_server(running)


def test_api_browse_then_delete_stops_matching_at_once(server):
    with server.client() as client:
        assert client.post("/v1/banks", json={"name": "MOD"}, headers=WRITE).status_code == 201
        item = client.post(
            "/v1/banks/MOD/content",
            files=_file(ORIGINAL),
            data={"metadata": json.dumps({"case": "M-4", "labels": ["scam-campaign"]})},
            headers=WRITE,
        ).json()
        for pdq in OTHER_PDQS:
            client.post("/v1/banks/MOD/content", json={"pdq": pdq}, headers=WRITE)

        first = client.get("/v1/banks/MOD/content", params={"limit": 3}).json()
        assert first["total"] == 4 and first["next_offset"] == 3 and len(first["items"]) == 3
        assert first["items"][0]["metadata"] == {"case": "M-4", "labels": ["scam-campaign"]}
        last = client.get("/v1/banks/MOD/content", params={"limit": 3, "offset": 3}).json()
        assert last["next_offset"] is None and [i["pdq"] for i in last["items"]] == [OTHER_PDQS[2]]
        assert client.get("/v1/banks/MOD/content", params={"limit": 0}).status_code == 422
        assert client.get("/v1/banks/NOPE/content").status_code == 404

        lookup = client.get("/v1/lookup", params={"pdq": ORIGINAL_PDQ}).json()
        assert lookup["MOD"][0]["metadata"] == {"case": "M-4", "labels": ["scam-campaign"]}
        audit = client.post("/v1/audit", files=_file(ORIGINAL)).json()
        bank_matches = [m for m in audit["matches"] if m["kind"] == "bank"]
        assert bank_matches[0]["bank_content_id"] == item["bank_content_id"]
        assert bank_matches[0]["metadata"] == {"case": "M-4", "labels": ["scam-campaign"]}

        path = f"/v1/banks/MOD/content/{item['bank_content_id']}"
        assert client.delete(path).status_code == 401
        assert (
            client.delete(
                f"/v1/banks/OTHER/content/{item['bank_content_id']}", headers=WRITE
            ).status_code
            == 404
        )
        deleted = client.delete(path, headers=WRITE)
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["removed"] is True
        assert deleted.json()["metadata"]["case"] == "M-4"
        # The very next queries: no match, by hash, by image, in an audit.
        assert client.get("/v1/lookup", params={"pdq": ORIGINAL_PDQ}).json() == {}
        assert client.post("/v1/lookup", files=_file(ORIGINAL)).json() == {}
        audit = client.post("/v1/audit", files=_file(ORIGINAL)).json()
        assert [m for m in audit["matches"] if m["kind"] == "bank"] == []
        assert client.get(path).status_code == 404
        again = client.delete(path, headers=WRITE)
        assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
        assert client.get("/v1/banks/MOD").json()["content_count"] == 3
        assert client.get("/v1/index/status").json()["in_sync"] is True


def test_cli_removal_beside_the_running_server_stops_its_matches(server, run_cli):
    registry = ["--registry", f"sqlite:///{server.home / 'provaudit.db'}"]
    with server.client() as client:
        client.post("/v1/banks", json={"name": "SIDE"}, headers=WRITE)
        item = client.post(
            "/v1/banks/SIDE/content", json={"pdq": "5a" * 32, "metadata": {"n": 1}}, headers=WRITE
        ).json()
        assert client.get("/v1/lookup", params={"pdq": "5a" * 32}).json()["SIDE"][0][
            "metadata"
        ] == {"n": 1}
        removed = run_cli("bank", "remove", "SIDE", str(item["bank_content_id"]), *registry)
        assert removed.returncode == 0, removed.stderr
        assert client.get("/v1/lookup", params={"pdq": "5a" * 32}).json() == {}
