"""Reading an uploaded file and running CPU work off the event loop, with a time limit and,
for uploads, a server-wide bound on how many are decoded and analysed at once."""

from __future__ import annotations

import ctypes
import functools
import threading
from collections.abc import Callable
from typing import TypeVar

import anyio
from fastapi import UploadFile

from service.api.errors import ApiError
from service.metrics import UPLOADS_STOPPED

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


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Hand the heap pages freed by finished uploads back to the system.

    Decoding and hashing run in a pool of worker threads, each with its own malloc arena;
    what a large upload frees there stays mapped to the process until it is trimmed, so
    without this the server would sit at its high-water mark after a burst. Where the C
    library has no ``malloc_trim`` (not glibc), nothing is done.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class WorkSlots:
    """At most ``size`` uploads decoded and analysed at once, server-wide, so concurrent
    large images cannot add up past the memory one decode budget allows per slot. Work
    whose request gave up while it queued is skipped rather than run."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.skipped = 0
        """Work never started because its request had given up."""
        self._semaphore = threading.BoundedSemaphore(self.size)
        self._active = 0
        self._lock = threading.Lock()

    def run(self, function: Callable[[], T], cancelled: threading.Event) -> T:
        with self._semaphore:
            if cancelled.is_set():
                self.skipped += 1
                raise _Abandoned
            with self._lock:
                self._active += 1
            try:
                return function()
            finally:
                with self._lock:
                    self._active -= 1
                    idle = self._active == 0
                if idle:  # trimming waits for the heap's locks: not while others decode
                    release_freed_memory()


async def run_bounded(
    function: Callable[[], T], timeout_s: float, slots: WorkSlots | None = None
) -> T:
    """Run blocking work in a worker thread (in one of ``slots``, when given); give up
    waiting after ``timeout_s``."""
    cancelled = threading.Event()
    stopped = anyio.get_cancelled_exc_class()

    def work() -> T:
        try:
            return function() if slots is None else slots.run(function, cancelled)
        except stopped:  # a checkpoint (anyio.from_thread.check_cancelled) saw the timeout
            UPLOADS_STOPPED.inc()
            raise

    try:
        with anyio.fail_after(timeout_s):
            return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except TimeoutError:
        cancelled.set()
        raise ApiError(
            422, "processing_timeout", f"Processing the upload took longer than {timeout_s:g} s."
        ) from None
