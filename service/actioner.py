"""The Actioner of Hasher-Matcher-Actioner: a bank's webhook is told of every match.

When an audit or a lookup matches content of a bank that has a webhook
(``provenance.bankactions``), the match is recorded as a pending delivery and POSTed to the
webhook as JSON, off the request path: the routes hand the matches over as a background
task, after the response is sent, and a scheduler thread with a few sender threads does
the rest. A 2xx answer delivers it. A connection error, a timeout, a 408, 429 or 5xx is
retried with exponential backoff (``RetryPolicy``) up to ``max_attempts`` in all; any
other answer (a redirect, another 4xx) fails it at once, as retrying would get the same.
Every attempt is recorded. Deliveries still pending when the service stops are resumed
when it starts again, so a receiver may see one twice: it can tell by ``delivery_id``.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from provenance import __version__
from provenance.bankactions import BankActions, NewDelivery

logger = logging.getLogger("provaudit.actioner")

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a delivery is tried: at most ``max_attempts`` POSTs, each cut off after
    ``timeout_s``, the n-th retry waiting ``first_backoff_s * 2**(n-1)`` (at most
    ``max_backoff_s``). With the defaults a delivery is settled within 40 s."""

    max_attempts: int = 5
    first_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    timeout_s: float = 5.0

    def backoff(self, failed_attempt: int) -> float:
        """The wait after attempt number ``failed_attempt`` (1-based) failed."""
        return min(self.first_backoff_s * 2 ** (failed_attempt - 1), self.max_backoff_s)

    def longest_s(self) -> float:
        """The longest a delivery can take from its first attempt to its last answer."""
        waits = sum(self.backoff(n) for n in range(1, self.max_attempts))
        return waits + self.max_attempts * self.timeout_s


@dataclass(frozen=True)
class _Job:
    delivery_id: int
    url: str
    body: bytes
    number: int  # the attempt this job makes, 1-based


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        return self.status_code is None or self.status_code in RETRYABLE_STATUS


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the receiver's answer, not somewhere else to send the match."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# Direct connections: the webhook is where the bank's owner said, whatever proxy the
# environment names.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def post_json(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> PostResult:
    """POST ``body`` to ``url``; the status code, or the error that stopped it."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    start = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            status = response.status
            response.read(65536)
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"HTTP {exc.code} {exc.reason}".strip()
        exc.close()
    except urllib.error.URLError as exc:
        error = f"{type(exc.reason).__name__}: {exc.reason}"
    except (TimeoutError, OSError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = round((time.perf_counter() - start) * 1000)
    return PostResult(status, error[:MAX_ERROR_CHARS] if error else None, duration_ms)


def match_payload(
    match: dict[str, Any],
    *,
    sha256: str | None,
    source: str,
    audit_id: str | None = None,
    matched_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The JSON body a webhook receives for one bank match (``delivery_id`` is added when
    the delivery is recorded)."""
    return {
        "event": "bank.match",
        "bank": match["bank"],
        "bank_content_id": match["bank_content_id"],
        "metadata": match.get("metadata"),
        "distance": match["distance"],
        "signal": match.get("signal"),
        "variant": match.get("variant"),
        "sha256": sha256,
        "source": source,
        "audit_id": audit_id,
        "matched_at": (matched_at or dt.datetime.now(dt.timezone.utc)).isoformat(),
    }


class Actioner:
    """Delivers bank matches to their banks' webhooks in the background. Thread-safe."""

    def __init__(
        self, actions: BankActions, policy: RetryPolicy | None = None, *, senders: int = 4
    ) -> None:
        self.actions = actions
        self.policy = policy or RetryPolicy()
        self._senders = senders
        self._heap: list[tuple[float, int, _Job]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._scheduler: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Start sending, beginning with the deliveries a previous run left pending."""
        if self._scheduler is not None:
            return
        self._pool = ThreadPoolExecutor(self._senders, thread_name_prefix="actioner-send")
        self._scheduler = threading.Thread(target=self._run, name="actioner", daemon=True)
        self._scheduler.start()
        for delivery in self.actions.pending():
            self._schedule(
                _Job(delivery.id, delivery.url, _encode(delivery.payload), delivery.attempts + 1),
                0.0,
            )

    def close(self) -> None:
        """Stop: attempts under way finish (each within the policy's timeout); deliveries
        waiting for a retry stay pending in the database for the next start."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._scheduler is not None:
            self._scheduler.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def on_matches(
        self,
        matches: Iterable[dict[str, Any]],
        *,
        sha256: str | None,
        source: str,
        audit_id: str | None = None,
    ) -> list[int]:
        """Record a delivery for each bank match whose bank has a webhook and queue its
        first attempt; the delivery ids. Entries that are not bank matches are skipped."""
        now = dt.datetime.now(dt.timezone.utc)
        items = [
            NewDelivery(
                bank=match["bank"],
                bank_content_id=int(match["bank_content_id"]),
                payload=match_payload(
                    match, sha256=sha256, source=source, audit_id=audit_id, matched_at=now
                ),
            )
            for match in matches
            if match.get("kind", "bank") == "bank" and "bank_content_id" in match
        ]
        if not items:
            return []
        try:
            deliveries = self.actions.create_deliveries(items)
        except Exception:  # the database is down: the audit itself was answered already
            logger.exception("Bank matches could not be recorded for their webhooks.")
            return []
        for delivery in deliveries:
            self._schedule(_Job(delivery.id, delivery.url, _encode(delivery.payload), 1), 0.0)
        return [delivery.id for delivery in deliveries]

    # --- the scheduler and the senders ---------------------------------------------------

    def _schedule(self, job: _Job, delay_s: float) -> None:
        with self._wake:
            if self._stopping:
                return
            heapq.heappush(self._heap, (time.monotonic() + delay_s, next(self._order), job))
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping:
                    if self._heap and self._heap[0][0] <= time.monotonic():
                        break
                    self._wake.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                if self._stopping:
                    return
                _due, _order, job = heapq.heappop(self._heap)
            try:
                assert self._pool is not None
                self._pool.submit(self._attempt, job)
            except RuntimeError:  # the pool shut down under us: we are stopping
                return

    def _attempt(self, job: _Job) -> None:
        started = dt.datetime.now(dt.timezone.utc)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"provaudit/{__version__}",
            "X-Provaudit-Delivery": str(job.delivery_id),
            "X-Provaudit-Attempt": str(job.number),
        }
        result = post_json(job.url, job.body, headers, self.policy.timeout_s)
        if result.delivered:
            outcome = "delivered"
        elif result.retryable and job.number < self.policy.max_attempts:
            outcome = "retry"
        else:
            outcome = "failed"
        error = result.error if not result.delivered else None
        try:
            self.actions.record_attempt(
                job.delivery_id,
                number=job.number,
                started=started,
                duration_ms=result.duration_ms,
                status_code=result.status_code,
                error=error,
                outcome=outcome,  # type: ignore[arg-type]
            )
        except Exception:
            logger.exception("Attempt %d of delivery %d not recorded.", job.number, job.delivery_id)
        if outcome == "retry":
            next_job = _Job(job.delivery_id, job.url, job.body, job.number + 1)
            self._schedule(next_job, self.policy.backoff(job.number))
        elif outcome == "failed":
            logger.warning(
                "Webhook delivery %d to %s failed after %d attempt(s): %s",
                job.delivery_id,
                job.url,
                job.number,
                error,
            )


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, default=str).encode()
