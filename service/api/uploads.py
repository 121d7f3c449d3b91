"""Reading an uploaded file and running CPU work off the event loop, with a time limit and,
for uploads, a server-wide bound on how many are decoded and analysed at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from fastapi import UploadFile

from service.api.errors import ApiError

T = TypeVar("T")


async def read_upload(file: UploadFile | None) -> bytes:
    if file is None:
        raise ApiError(422, "missing_file", "Send the image as a multipart field named 'file'.")
    data = await file.read()
    if not data:
        raise ApiError(422, "empty_file", "The uploaded file is empty.")
    return data


class _Abandoned(Exception):
    """The request stopped waiting before its turn came; the work is not started."""


class WorkSlots:
    """At most ``size`` uploads decoded and analysed at once, server-wide, so concurrent
    large images cannot add up past the memory one decode budget allows per slot. Work
    whose request gave up while it queued is skipped rather than run."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.skipped = 0
        """Work never started because its request had given up."""
        self._semaphore = threading.BoundedSemaphore(self.size)

    def run(self, function: Callable[[], T], cancelled: threading.Event) -> T:
        with self._semaphore:
            if cancelled.is_set():
                self.skipped += 1
                raise _Abandoned
            return function()


async def run_bounded(
    function: Callable[[], T], timeout_s: float, slots: WorkSlots | None = None
) -> T:
    """Run blocking work in a worker thread (in one of ``slots``, when given); give up
    waiting after ``timeout_s``."""
    cancelled = threading.Event()

    def work() -> T:
        return function() if slots is None else slots.run(function, cancelled)

    try:
        with anyio.fail_after(timeout_s):
            return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except TimeoutError:
        cancelled.set()
        raise ApiError(
            422, "processing_timeout", f"Processing the upload took longer than {timeout_s:g} s."
        ) from None


def upload_or_json_body(
    fields: dict[str, dict[str, Any]], json_schema: dict[str, Any]
) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its body itself: a multipart form with an
    image ``file`` plus ``fields``, or a JSON document of ``json_schema``."""
    properties = {"file": {"type": "string", "format": "binary"}, **fields}
    return {
        "requestBody": {
            "content": {
                "multipart/form-data": {"schema": {"type": "object", "properties": properties}},
                "application/json": {"schema": json_schema},
            }
        }
    }
