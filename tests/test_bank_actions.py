"""The Actioner: a bank's webhook receives every match of its content, retried with backoff
and every attempt recorded; the audit never waits for it. A real uvicorn server POSTs to a
real HTTP receiver (http.server in a thread) on this machine."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from provenance.bankactions import check_webhook_url
from provenance.errors import InputError
from service.actioner import RetryPolicy
from tests import servers
from tests.servers import Server, free_port, stop_server

API_KEY = "actions-key-654"
WRITE = {"X-API-Key": API_KEY}
PDQ = Path(__file__).resolve().parent / "fixtures" / "pdq"
ORIGINAL = PDQ / "bridge-mods" / "aaa-orig.jpg"
MAX_ATTEMPTS = 4


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float
    answered_at: float = 0.0


@dataclass
class Receiver:
    """A webhook receiver: answers each POST with the next of ``statuses`` (then 200),
    after ``delay_s``, and keeps what it got."""

    statuses: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            entry = Received(
                self.path, dict(self.headers), json.loads(self.rfile.read(length)), time.time()
            )
            with lock:
                state.received.append(entry)
                status = state.statuses.pop(0) if state.statuses else 200
            time.sleep(state.delay_s)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            entry.answered_at = time.time()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = servers.start_server(
        tmp_path_factory.mktemp("actions-service"),
        API_KEY,
        PROVAUDIT_ACTION_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        PROVAUDIT_ACTION_BACKOFF_S="0.2",
        PROVAUDIT_ACTION_TIMEOUT_S="5",
    )
    yield running
    stop_server(running)


def _bank_with_item(client: Any, name: str, url: str, metadata: dict[str, Any]) -> dict:
    assert client.post("/v1/banks", json={"name": name}, headers=WRITE).status_code == 201
    # Each bank holds the same picture: every test's audit matches every bank made so far,
    # and each bank's webhook must hear only of its own item.
    item = client.post(
        "/v1/banks/" + name + "/content",
        files={"file": ("orig.jpg", ORIGINAL.read_bytes(), "image/jpeg")},
        data={"metadata": json.dumps(metadata)},
        headers=WRITE,
    )
    assert item.status_code == 201, item.text
    action = client.put(f"/v1/banks/{name}/action", json={"webhook_url": url}, headers=WRITE)
    assert action.status_code == 200, action.text
    assert action.json()["webhook_url"] == url
    return item.json()


def _deliveries(client: Any, bank: str, settled: int = 1, timeout: float = 60) -> list[dict]:
    """The bank's deliveries once ``settled`` of them are delivered or failed."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/v1/banks/{bank}/actions", headers=WRITE).json()
        done = [d for d in body["deliveries"] if d["status"] != "pending"]
        if len(done) >= settled or time.monotonic() > deadline:
            return body["deliveries"]
        time.sleep(0.1)


def test_a_match_in_an_audit_is_delivered_once_with_the_match(server, receiver, run_cli):
    image = ORIGINAL.read_bytes()
    with server.client() as client:
        item = _bank_with_item(client, "HOOKED", receiver.url, {"case": "H-1", "label": "known"})
        audit = client.post("/v1/audit", files={"file": ("up.jpg", image, "image/jpeg")})
        assert audit.status_code == 200, audit.text
        (delivery,) = _deliveries(client, "HOOKED")
    (got,) = receiver.wait_for(1)
    time.sleep(1.0)  # nothing else arrives: exactly one POST
    assert len(receiver.received) == 1
    assert got.path == "/hook" and got.headers["Content-Type"] == "application/json"
    body = got.body
    assert body["event"] == "bank.match" and body["source"] == "audit"
    assert body["bank"] == "HOOKED" and body["bank_content_id"] == item["bank_content_id"]
    assert body["metadata"] == {"case": "H-1", "label": "known"}
    assert body["distance"] == 0 and body["signal"] == "pdq"
    assert body["sha256"] == hashlib.sha256(image).hexdigest()
    assert body["audit_id"] == audit.json()["audit_id"]
    assert (
        body["delivery_id"] == delivery["delivery_id"] == int(got.headers["X-Provaudit-Delivery"])
    )
    matched = time.time() - _timestamp(body["matched_at"])
    assert 0 <= matched < 120
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1
    assert [(a["outcome"], a["status_code"]) for a in delivery["history"]] == [("delivered", 200)]
    assert delivery["payload"] == body

    # The same record through the CLI, on the service's database.
    registry = ["--registry", f"sqlite:///{server.home / 'provaudit.db'}"]
    shown = run_cli("bank", "actions", "HOOKED", *registry, "--json")
    assert shown.returncode == 0, shown.stderr
    listed = json.loads(shown.stdout)
    assert listed["total"] == 1 and listed["deliveries"][0]["status"] == "delivered"
    text = run_cli("bank", "actions", "HOOKED", *registry).stdout
    assert "delivered" in text and "#1" in text and "HTTP 200" in text


def test_a_receiver_failing_twice_gets_three_attempts_then_it_is_delivered(server, receiver):
    receiver.statuses = [500, 503]
    with server.client() as client:
        item = _bank_with_item(client, "FLAKY", receiver.url, {"case": "F-2"})
        # A match query (lookup by image) acts like an audit.
        found = client.post(
            "/v1/lookup", files={"file": ("q.jpg", ORIGINAL.read_bytes(), "image/jpeg")}
        )
        assert found.json()["FLAKY"][0]["bank_content_id"] == item["bank_content_id"]
        (delivery,) = _deliveries(client, "FLAKY")
    got = receiver.wait_for(3)
    assert len(got) == 3
    assert {entry.body["delivery_id"] for entry in got} == {delivery["delivery_id"]}
    assert [entry.headers["X-Provaudit-Attempt"] for entry in got] == ["1", "2", "3"]
    assert got[0].body["source"] == "lookup" and got[0].body["metadata"] == {"case": "F-2"}
    # Exponential backoff: the second wait is about twice the first (0.2 s, 0.4 s).
    first_wait, second_wait = got[1].at - got[0].at, got[2].at - got[1].at
    assert first_wait >= 0.2 and second_wait >= 0.4 and second_wait > first_wait
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3
    assert [(a["number"], a["outcome"], a["status_code"]) for a in delivery["history"]] == [
        (1, "retry", 500),
        (2, "retry", 503),
        (3, "delivered", 200),
    ]
    assert delivery["last_error"] is None


def test_a_receiver_that_is_down_is_retried_then_failed_and_the_audit_is_unaffected(server):
    down = f"http://127.0.0.1:{free_port()}/nobody-listens"
    with server.client() as client:
        _bank_with_item(client, "DOWN", down, {"case": "D-3"})
        audit = client.post(
            "/v1/audit", files={"file": ("up.jpg", ORIGINAL.read_bytes(), "image/jpeg")}
        )
        assert audit.status_code == 200, audit.text
        body = audit.json()
        assert body["verdict"] and body["reasons"]
        assert any(m.get("bank") == "DOWN" for m in body["matches"])
        (delivery,) = _deliveries(client, "DOWN")
        failed = client.get("/v1/banks/DOWN/actions", params={"status": "failed"}, headers=WRITE)
    assert delivery["status"] == "failed" and delivery["attempts"] == MAX_ATTEMPTS
    history = delivery["history"]
    assert [a["outcome"] for a in history] == ["retry"] * (MAX_ATTEMPTS - 1) + ["failed"]
    assert all(a["status_code"] is None and a["error"] for a in history)
    assert delivery["last_error"] == history[-1]["error"]
    assert failed.json()["total"] == 1


def test_the_audit_answers_before_a_slow_receiver_does(server, receiver):
    receiver.delay_s = 3.0
    with server.client() as client:
        _bank_with_item(client, "SLOW", receiver.url, {"case": "S-4"})
        audit = client.post(
            "/v1/audit", files={"file": ("up.jpg", ORIGINAL.read_bytes(), "image/jpeg")}
        )
        answered = time.time()
        assert audit.status_code == 200
    (got,) = [entry for entry in receiver.wait_for(1) if entry.body["bank"] == "SLOW"]
    deadline = time.monotonic() + 30
    while not got.answered_at and time.monotonic() < deadline:
        time.sleep(0.05)
    assert got.answered_at and answered < got.answered_at


def test_webhook_urls_are_checked_in_the_api_and_the_cli(server, run_cli):
    with server.client() as client:
        client.post("/v1/banks", json={"name": "URLS"}, headers=WRITE)
        for bad in ("ftp://example.org/x", "http://", "file:///etc/passwd", "hook", "http://a b/"):
            response = client.put("/v1/banks/URLS/action", json={"webhook_url": bad}, headers=WRITE)
            assert response.status_code == 422, (bad, response.text)
            assert response.json()["error"]["code"] == "bad_input"
        assert (
            client.put(
                "/v1/banks/URLS/action", json={"webhook_url": "https://example.org/h"}
            ).status_code
            == 401
        )
        assert (
            client.put(
                "/v1/banks/NOPE/action",
                json={"webhook_url": "https://example.org/h"},
                headers=WRITE,
            ).status_code
            == 404
        )
        assert client.get("/v1/banks/URLS/action", headers=WRITE).json()["webhook_url"] is None
        assert client.get("/v1/banks/URLS/actions").status_code == 401
        assert (
            client.get(
                "/v1/banks/URLS/actions", params={"status": "lost"}, headers=WRITE
            ).status_code
            == 422
        )

    registry = ["--registry", f"sqlite:///{server.home / 'provaudit.db'}"]
    bad = run_cli("bank", "action", "set", "URLS", "--webhook", "file:///etc/passwd", *registry)
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "http:// or https://" in lines[0]
    good = run_cli("bank", "action", "set", "URLS", "--webhook", "https://example.org/h", *registry)
    assert good.returncode == 0, good.stderr
    shown = run_cli("bank", "action", "show", "URLS", *registry, "--json")
    assert json.loads(shown.stdout)["webhook_url"] == "https://example.org/h"
    with server.client() as client:
        assert (
            client.get("/v1/banks/URLS/action", headers=WRITE).json()["webhook_url"]
            == "https://example.org/h"
        )
    assert run_cli("bank", "action", "clear", "URLS", *registry).returncode == 0
    shown = run_cli("bank", "action", "show", "URLS", *registry)
    assert "no action" in shown.stdout
    assert run_cli("bank", "actions", "URLS", "--status", "lost", *registry).returncode == 1


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/h", "https://hooks.example.org/a?token=x", " https://x.org "]
)
def test_http_and_https_urls_are_accepted(url):
    assert check_webhook_url(url) == url.strip()


@pytest.mark.parametrize("url", ["http://host:99999/", "https://", "javascript:alert(1)"])
def test_other_urls_are_refused(url):
    with pytest.raises(InputError):
        check_webhook_url(url)


def test_the_retry_policy_is_bounded():
    policy = RetryPolicy()
    assert [policy.backoff(n) for n in range(1, 5)] == [1.0, 2.0, 4.0, 8.0]
    assert policy.longest_s() == 15.0 + 5 * 5.0
    assert RetryPolicy(max_attempts=20).backoff(19) == 30.0


def _timestamp(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text).timestamp()


def test_a_delivery_left_pending_is_resumed_when_the_actioner_starts(tmp_path, receiver):
    """A service stopped while a delivery waited for its retry sends it on its next start."""
    from provenance.bankactions import BankActions, NewDelivery
    from provenance.registry import Registry
    from service.actioner import Actioner

    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    registry.create_bank("LATER")
    item = registry.add_content("LATER", pdq="ab" * 32, metadata={"case": "L-5"})
    actions = BankActions(registry)
    actions.set_webhook("LATER", receiver.url)
    (left,) = actions.create_deliveries(
        [NewDelivery("LATER", item.id, {"bank": "LATER", "bank_content_id": item.id})]
    )
    actioner = Actioner(actions, RetryPolicy(max_attempts=2, first_backoff_s=0.05))
    actioner.start()
    try:
        (got,) = receiver.wait_for(1)
        deadline = time.monotonic() + 30
        while actions.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        actioner.close()
    assert got.body == {"bank": "LATER", "bank_content_id": item.id, "delivery_id": left.id}
    (delivery,), _total = actions.deliveries("LATER")
    assert delivery.status == "delivered" and delivery.attempts == 1
    registry.close()
