"""Upload limits enforced while the body streams in (pure ASGI, no buffering): its size, and
how long it may stall (a client that declares a body and never sends it is cut off)."""

from __future__ import annotations

import json

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    pass


class BodyTimedOut(Exception):
    pass


class BodySizeLimitMiddleware:
    """Answer 413 as soon as Content-Length or the streamed bytes pass ``max_bytes``, and 408
    when the body stops arriving for ``read_timeout_s``."""

    def __init__(self, app: ASGIApp, max_bytes: int, read_timeout_s: float = 10.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        received = 0
        exceeded: int | None = None  # the status answered instead of the app's
        rejected = False
        body_complete = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded, body_complete
            if body_complete:  # later calls only wait for a disconnect: no deadline
                return await receive()
            try:
                with anyio.fail_after(self.read_timeout_s):
                    message = await receive()
            except TimeoutError:
                exceeded = 408
                raise BodyTimedOut from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = 413
                    raise BodyTooLarge
                body_complete = not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            # A framework may turn the interrupted body into its own 400: answer 413 instead.
            nonlocal rejected
            if exceeded:
                if not rejected:
                    rejected = True
                    await self._reject(send, exceeded)
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except (BodyTooLarge, BodyTimedOut):
            if not rejected:
                rejected = True
                await self._reject(send, exceeded or 413)

    async def _reject(self, send: Send, status: int = 413) -> None:
        if status == 408:
            code = "request_timeout"
            message = f"The request body stalled for more than {self.read_timeout_s:g} s."
        else:
            code = "payload_too_large"
            message = f"The upload is larger than the limit of {self.max_bytes:,} bytes."
        payload = json.dumps({"error": {"code": code, "message": message}}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
