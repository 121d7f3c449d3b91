"""uvicorn's h11 protocol with the status HTTP gives malformed requests, and the limits
``provaudit serve`` runs with.

uvicorn answers every request h11 cannot parse with a plain-text 400, although h11 says
which status fits (``error_status_hint``: 431 for headers past the size limit). A client
or a proxy that sees 431 knows to shorten its headers; one that sees 400 does not. Here
the hint is kept and the answer is the service's usual JSON error.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_HEADER_BYTES = 64 * 1024
"""The request line and headers together; h11 refuses more with 431 (its default: 16 KiB,
too tight for a few large cookies or signed-URL query strings)."""
KEEP_ALIVE_S = 5
"""How long an idle keep-alive connection is held open for the client's next request."""

_MESSAGES = {
    400: "The request is not valid HTTP.",
    431: f"The request headers are larger than the limit of {MAX_HEADER_BYTES:,} bytes.",
}


class _Connection(h11.Connection):
    """An h11 server connection that remembers why it last refused the client's bytes."""

    refusal: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refusal = exc
            raise


class HintedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering a malformed request with h11's status and JSON."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.conn = _Connection(
            h11.SERVER, max_incomplete_event_size=config.h11_max_incomplete_event_size
        )

    def send_400_response(self, msg: str) -> None:
        refusal = getattr(self.conn, "refusal", None)
        status = refusal.error_status_hint if refusal is not None else 400
        body = json.dumps(
            {
                "error": {
                    "code": "headers_too_large" if status == 431 else "bad_request",
                    "message": _MESSAGES.get(status, msg),
                }
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(
                status_code=status, headers=headers, reason=HTTPStatus(status).phrase.encode()
            ),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def uvicorn_options() -> dict[str, Any]:
    """The keyword arguments ``uvicorn.run`` gets from ``provaudit serve``."""
    return {
        "http": HintedH11Protocol,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "timeout_keep_alive": KEEP_ALIVE_S,
    }
