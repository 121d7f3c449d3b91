"""The service against a real uvicorn server on a free port, as a client sees it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import encode, make_image
from tests.servers import Server, start_server, stop_server
from tests.test_cli import huge_png

API_KEY = "test-key-123"
MAX_UPLOAD = 3 * 1024 * 1024


@pytest.fixture(scope="module")
def detector_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An (untrained) exported detector: the service's plumbing, not its accuracy, is tested."""
    pytest.importorskip("torch")
    import torch

    from detectors.architectures import create_detector
    from detectors.loading import save_checkpoint
    from detectors.onnx_export import export_onnx

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("detector") / "tiny"
    save_checkpoint(directory, create_detector("npr_tiny", families=["gan"], image_size=32))
    export_onnx(directory)
    return directory


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, detector_checkpoint: Path) -> Iterator[Server]:
    running = start_server(
        tmp_path_factory.mktemp("service-home"),
        API_KEY,
        PROVAUDIT_MAX_UPLOAD_BYTES=str(MAX_UPLOAD),
        PROVAUDIT_DETECTOR=str(detector_checkpoint),
    )
    yield running
    stop_server(running)


def _upload(data: bytes, name: str = "image.png", kind: str = "image/png") -> dict:
    return {"file": (name, data, kind)}


def test_health_and_metrics(server):
    with server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 200
        client.get("/healthz")
        metrics = client.get("/metrics").text
    assert "provaudit_request_seconds" in metrics
    assert 'route="/healthz"' in metrics


def test_sign_then_audit_declares_ai_then_stripped_copy_has_no_signal(server):
    photo = encode(make_image(), "PNG")
    with server.client() as client:
        response = client.post(
            "/v1/sign",
            files=_upload(photo),
            data={"ai_generated": "true", "family": "gan", "seed": "3"},
            headers={"X-API-Key": API_KEY},
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        signed = response.content

        audit = client.post("/v1/audit", files=_upload(signed)).json()
        assert audit["verdict"] == "declared_ai"
        # The same default as `provaudit verify`: the development root is no trust anchor.
        assert audit["provenance"]["state"] == "valid"
        assert audit["provenance"]["signer"]["development"] is True
        assert "a development identity, for testing only" in audit["reasons"][0]
        assert audit["provenance"]["ai_declared"] is True
        assert audit["provenance"]["generator"] == {"family": "gan", "seed": 3}
        assert len(audit["fingerprints"]["pdq"]) == 64
        assert audit["reasons"]
        again = client.get(f"/v1/audits/{audit['audit_id']}").json()
        assert again == audit

        stripped = encode(Image.open(io.BytesIO(signed)).convert("RGB"), "JPEG", quality=90)
        audit = client.post("/v1/audit", files=_upload(stripped, "copy.jpg", "image/jpeg")).json()
        assert audit["provenance"]["state"] == "absent"
        ai_origin = audit["ai_origin"]
        assert 0.0 <= ai_origin["p_ai"] <= 1.0
        assert ai_origin["label"] in ("ai", "real")
        assert ai_origin["model_id"].startswith("npr_tiny/")
        # The service recorded what it signed: the copy's pixels find that manifest, whose
        # declaration decides over the detector (docs/api.md, verdict policy row 3).
        assert audit["verdict"] == "declared_ai_recovered"
        assert audit["declared_by"] == "recovered_fingerprint"
        assert any("no provenance signal" in reason for reason in audit["reasons"])

        verify = client.post("/v1/verify", files=_upload(signed)).json()
        assert verify["state"] == "valid" and verify["ai_declared"] is True
        assert verify["signer"]["development"] is True


def test_the_service_and_the_cli_share_the_trust_default_and_the_opt_in(
    server, run_cli, tmp_path, provaudit_home
):
    """By default neither trusts the development root: the same file reads ``valid`` in
    both, flagged as a development signer. PROVAUDIT_TRUST_DEV_IDENTITY=true is the
    service's opt-in, as ``verify --trust-dev`` is the CLI's."""
    with server.client() as client:
        signed = client.post(
            "/v1/sign",
            files=_upload(encode(make_image(seed=21), "PNG")),
            headers={"X-API-Key": API_KEY},
        ).content
        api = client.post("/v1/verify", files=_upload(signed)).json()
    path = tmp_path / "signed.png"
    path.write_bytes(signed)
    cli = json.loads(run_cli("verify", path, "--json").stdout)
    assert api["state"] == cli["state"] == "valid"
    assert api["signer"]["development"] is cli["signer"]["development"] is True
    assert "development signer" in run_cli("verify", path).stdout

    # The opt-in, on a server whose development identity is the CLI's (same home).
    opted = start_server(provaudit_home, API_KEY, PROVAUDIT_TRUST_DEV_IDENTITY="true")
    try:
        with opted.client() as client:
            signed = client.post(
                "/v1/sign",
                files=_upload(encode(make_image(seed=22), "PNG")),
                headers={"X-API-Key": API_KEY},
            ).content
            api = client.post("/v1/verify", files=_upload(signed)).json()
    finally:
        stop_server(opted)
    path.write_bytes(signed)
    assert api["state"] == "trusted" and api["signer"]["development"] is True
    assert json.loads(run_cli("verify", path, "--json").stdout)["state"] == "valid"
    trusted = json.loads(run_cli("verify", path, "--trust-dev", "--json").stdout)
    assert trusted["state"] == "trusted"


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_sign_needs_the_api_key(server, key):
    headers = {"X-API-Key": key} if key else {}
    with server.client() as client:
        response = client.post(
            "/v1/sign", files=_upload(encode(make_image(), "PNG")), headers=headers
        )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def _bad_requests() -> dict[str, dict]:
    jpeg = encode(make_image(), "JPEG")
    return {
        "empty body": {
            "content": b"",
            "headers": {"content-type": "multipart/form-data; boundary=x"},
        },
        "no file field": {"data": {"other": "value"}},
        "empty file": {"files": _upload(b"", "empty.png")},
        "text file": {"files": _upload(b"just some text\n", "notes.jpg", "image/jpeg")},
        "truncated jpeg": {"files": _upload(jpeg[: len(jpeg) // 2], "cut.jpg", "image/jpeg")},
        "100 megapixel png bomb": {"files": _upload(huge_png(10_000, 10_000), "bomb.png")},
        "unsupported type": {"files": _upload(encode(make_image(), "BMP"), "x.bmp", "image/bmp")},
        "oversized upload": {"files": _upload(b"\xff\xd8\xff" + b"\x00" * (MAX_UPLOAD + 10))},
    }


@pytest.mark.parametrize("case", list(_bad_requests()))
@pytest.mark.parametrize("endpoint", ["/v1/audit", "/v1/verify"])
def test_bad_input_is_a_json_4xx_and_nothing_is_recorded(server, case, endpoint):
    before = server.audit_rows()
    with server.client() as client:
        response = client.post(endpoint, **_bad_requests()[case])
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
        error = response.json()["error"]
        assert error["code"] and error["message"]
        assert client.get("/healthz").status_code == 200, "the server keeps serving"
    assert server.audit_rows() == before
    if case == "oversized upload":
        assert response.status_code == 413
    if case == "100 megapixel png bomb":
        assert response.status_code == 413 and "too many pixels" in error["message"]
    if case == "unsupported type":
        assert response.status_code == 415


def test_unknown_audit_and_route_are_json_404(server):
    with server.client() as client:
        response = client.get("/v1/audits/does-not-exist")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert client.get("/v1/nothing-here").json()["error"]["code"] == "not_found"


def test_micro_batcher_groups_concurrent_images_and_keeps_their_scores(detector_checkpoint):
    import numpy as np

    from detectors.detect import open_scorer
    from service.batching import MicroBatcher

    scorer = open_scorer(detector_checkpoint, backend="onnx")
    images = [np.asarray(make_image((48 + 8 * i, 40), seed=i)) for i in range(5)]
    alone = [scorer.score_pixels([image]).logits[0] for image in images]
    batches: list[int] = []
    batcher = MicroBatcher(scorer, max_wait_s=0.5, on_batch=lambda size, _s: batches.append(size))
    try:
        futures = [batcher.submit(tiles) for tiles in scorer.cut(images)]
        results = [future.result(timeout=30) for future in futures]
    finally:
        batcher.close()
    assert batches == [5]
    assert [score.logit for score in results] == pytest.approx(alone, abs=1e-5)


def test_concurrent_audits_are_all_answered(server):
    from concurrent.futures import ThreadPoolExecutor

    images = [encode(make_image(seed=i), "JPEG") for i in range(12)]
    with server.client() as client, ThreadPoolExecutor(8) as pool:
        responses = list(
            pool.map(lambda data: client.post("/v1/audit", files=_upload(data, "x.jpg")), images)
        )
    assert [r.status_code for r in responses] == [200] * 12
    assert len({r.json()["audit_id"] for r in responses}) == 12


def test_an_unparsable_manifest_is_audited_not_refused(server):
    """A broken manifest is `invalid` provenance; the detector and matching still run."""
    from tests.test_sign_verify import _unreadable_manifests

    photo = encode(make_image((320, 240)), "JPEG", quality=90)
    with server.client() as client:
        signed = client.post(
            "/v1/sign",
            files=_upload(photo, "photo.jpg", "image/jpeg"),
            headers={"X-API-Key": API_KEY},
        )
        assert signed.status_code == 200, signed.text
        (broken,) = _unreadable_manifests(signed.content, count=1)
        audit = client.post("/v1/audit", files=_upload(broken, "broken.jpg", "image/jpeg"))
    assert audit.status_code == 200, audit.text
    body = audit.json()
    assert body["provenance"]["state"] == "invalid"
    assert "general.error" in body["provenance"]["failure_codes"]
    assert "cannot be read" in body["reasons"][0]
    assert 0.0 <= body["ai_origin"]["p_ai"] <= 1.0
    assert len(body["fingerprints"]["pdq"]) == 64


@pytest.mark.parametrize(
    "fields", [{"steps": "-1"}, {"seed": "-5"}, {"sampler": "warp"}, {"checkpoint_sha256": "ab"}]
)
def test_sign_refuses_impossible_generator_fields(server, fields):
    with server.client() as client:
        response = client.post(
            "/v1/sign",
            files=_upload(encode(make_image(), "PNG")),
            data={"ai_generated": "true", "family": "gan", **fields},
            headers={"X-API-Key": API_KEY},
        )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


def test_a_body_that_never_arrives_is_cut_off_with_408(tmp_path):
    """A client that declares a body and sends nothing does not hold a worker for long."""
    import socket
    import time
    from urllib.parse import urlparse

    running = start_server(tmp_path / "home", API_KEY, PROVAUDIT_BODY_READ_TIMEOUT_S="1")
    try:
        address = urlparse(running.url)
        with socket.create_connection((address.hostname, address.port), timeout=15) as sock:
            sock.sendall(
                b"POST /v1/audit HTTP/1.1\r\nHost: test\r\n"
                b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 10\r\n\r\n"
            )
            started = time.monotonic()
            answer = b""
            while chunk := sock.recv(4096):  # the server closes the connection after it
                answer += chunk
            waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"request_timeout" in answer
        assert waited < 10
        with running.client() as client:
            assert client.get("/healthz").status_code == 200
    finally:
        stop_server(running)


def test_oversized_headers_get_431_and_malformed_requests_400_as_json(server):
    """A client must learn which of its mistakes to fix: too many header bytes is 431."""
    import socket
    from urllib.parse import urlparse

    with server.client() as client:
        response = client.get("/healthz", headers={"X-Padding": "a" * 200_000})
        assert response.status_code == 431
        assert response.json()["error"]["code"] == "headers_too_large"
        # Headers a browser with large cookies sends are still fine.
        assert client.get("/healthz", headers={"Cookie": "c=" + "a" * 30_000}).status_code == 200

    address = urlparse(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=15) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nBroken header line\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    assert json.loads(body)["error"]["code"] == "bad_request"


def test_an_audit_refuses_an_image_over_the_decode_budget_before_decoding(server):
    """Under Pillow's bomb limit and a few hundred bytes, gigabytes once decoded."""
    import time

    started = time.monotonic()
    with server.client() as client:
        response = client.post("/v1/audit", files=_upload(huge_png(9_400, 9_400), "flat.png"))
        assert client.get("/healthz").status_code == 200
    assert response.status_code == 413
    assert "budget 50,000,000 pixels" in response.json()["error"]["message"]
    assert time.monotonic() - started < 5


def test_work_slots_bound_concurrent_uploads_and_skip_abandoned_work():
    """With one slot, a second upload waits; if its request gives up, it never runs."""
    import threading
    import time

    import anyio

    from service.api.errors import ApiError
    from service.api.uploads import WorkSlots, run_bounded

    slots = WorkSlots(1)
    ran: list[str] = []
    entered, release = threading.Event(), threading.Event()

    def slow() -> str:
        ran.append("slow")
        entered.set()
        release.wait(10)
        return "slow"

    def queued() -> str:
        ran.append("queued")
        return "queued"

    async def main() -> dict[str, str]:
        results: dict[str, str] = {}

        async def first() -> None:
            results["first"] = await run_bounded(slow, 20, slots)

        async with anyio.create_task_group() as group:
            group.start_soon(first)
            assert await anyio.to_thread.run_sync(entered.wait, 10)
            with pytest.raises(ApiError, match="longer than"):
                await run_bounded(queued, 0.3, slots)
            release.set()
        return results

    assert anyio.run(main) == {"first": "slow"}
    deadline = time.monotonic() + 10
    while slots.skipped == 0 and time.monotonic() < deadline:
        time.sleep(0.05)  # the abandoned worker gets its turn once the slot frees
    assert slots.skipped == 1
    assert ran == ["slow"]


def test_an_audit_whose_request_timed_out_stops_at_its_next_stage():
    """A timeout must free the server, not only the client: the audit's worker checks
    between stages (provenance, decode, hashes, detector) and stops there."""
    import time

    import anyio
    from anyio import from_thread

    from provenance.verify import ProvenanceVerifier
    from service.api.errors import ApiError
    from service.api.uploads import WorkSlots, run_bounded
    from service.metrics import UPLOADS_STOPPED
    from service.pipeline import AuditPipeline

    pipeline = AuditPipeline(ProvenanceVerifier())
    data = encode(make_image(seed=3), "JPEG")
    stages: list[int] = []

    def slow_stage() -> None:
        stages.append(len(stages))
        time.sleep(0.5)  # the request gives up while this stage runs
        from_thread.check_cancelled()

    before = UPLOADS_STOPPED._value.get()

    async def main() -> None:
        with pytest.raises(ApiError, match="longer than"):
            await run_bounded(
                lambda: pipeline.audit(data, "x.jpg", checkpoint=slow_stage), 0.2, WorkSlots(1)
            )
        await anyio.sleep(1)

    anyio.run(main)
    assert stages == [0]  # stopped at the first checkpoint: nothing decoded after it
    assert UPLOADS_STOPPED._value.get() == before + 1
    # Without a timeout the same audit runs every stage.
    assert pipeline.audit(data, "x.jpg").verdict in ("inconclusive", "likely_real", "likely_ai")


def test_sign_writes_do_not_train_and_verify_reports_it(server):
    with server.client() as client:
        response = client.post(
            "/v1/sign",
            files=_upload(encode(make_image(), "PNG")),
            data={"training_mining": "notAllowed", "ai_inference": "allowed"},
            headers={"X-API-Key": API_KEY},
        )
        assert response.status_code == 200, response.text
        verify = client.post("/v1/verify", files=_upload(response.content)).json()
        assert verify["training_mining"]["forbids_training"] is True
        assert verify["training_mining"]["entries"]["ai_inference"] == {"use": "allowed"}
        assert verify["training_mining"]["entries"]["ai_training"] == {"use": "notAllowed"}

        for data in ({"training_mining": "maybe"}, {"constraint_info": "ask"}):
            refused = client.post(
                "/v1/sign",
                files=_upload(encode(make_image(), "PNG")),
                data=data,
                headers={"X-API-Key": API_KEY},
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["message"]
