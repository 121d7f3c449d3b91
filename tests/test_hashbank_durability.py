"""kill -9 the server while it ingests bank additions: every 2xx survives, the index agrees.

The registry commits an addition before the answer is sent, and the saved FAISS indexes
are only a cache (saved here every half second, so the kill can land during a save); on
restart they are checked against the registry and caught up from it.
"""

from __future__ import annotations

import secrets
import threading
import time

import httpx

from tests.test_hashbank_service import WRITE, start_server, stop_server


def test_acknowledged_additions_survive_kill_9(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    server = start_server(home, PROVAUDIT_HASH_INDEX_AUTOSAVE_S="0.5")
    with server.client() as client:
        assert client.post("/v1/banks", json={"name": "STREAM"}, headers=WRITE).status_code == 201

    acknowledged: list[tuple[int, str]] = []
    stop = threading.Event()

    def ingest() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            while not stop.is_set():
                pdq = secrets.token_hex(32)
                try:
                    response = client.post(
                        "/v1/banks/STREAM/content", json={"pdq": pdq}, headers=WRITE
                    )
                except httpx.HTTPError:
                    continue  # the server is gone: not acknowledged
                if response.status_code == 201:
                    acknowledged.append((response.json()["bank_content_id"], pdq))

    writers = [threading.Thread(target=ingest) for _ in range(3)]
    for writer in writers:
        writer.start()
    deadline = time.monotonic() + 120
    while len(acknowledged) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.process.kill()  # SIGKILL, mid-stream: no shutdown hook runs
    server.process.wait(timeout=30)
    stop.set()
    for writer in writers:
        writer.join(timeout=30)
    assert len(acknowledged) >= 60, "the ingestion stream was too slow to test anything"

    restarted = start_server(home)
    try:
        with restarted.client() as client:
            status = client.get("/v1/index/status").json()
            assert status["in_sync"] is True, status
            index = status["indexes"]["content-pdq"]
            assert index["size"] == index["registry_rows"] == status["bank_content"]
            assert status["bank_content"] >= len(acknowledged)

            for start in range(0, len(acknowledged), 500):
                chunk = acknowledged[start : start + 500]
                results = client.post(
                    "/v1/lookup", json={"queries": [{"pdq": pdq} for _id, pdq in chunk]}
                ).json()["results"]
                for (content_id, _pdq), result in zip(chunk, results, strict=True):
                    hit = result["STREAM"][0]
                    assert (hit["bank_content_id"], hit["distance"]) == (content_id, 0)
            # And the stream goes on after the restart.
            again = client.post(
                "/v1/banks/STREAM/content", json={"pdq": secrets.token_hex(32)}, headers=WRITE
            )
            assert again.status_code == 201
    finally:
        stop_server(restarted)
