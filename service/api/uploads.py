"""Reading an uploaded file and running CPU work off the event loop, with a time limit."""

from __future__ import annotations

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


async def run_bounded(function: Callable[[], T], timeout_s: float) -> T:
    """Run blocking work in a worker thread; give up waiting after ``timeout_s``."""
    try:
        with anyio.fail_after(timeout_s):
            return await anyio.to_thread.run_sync(function, abandon_on_cancel=True)
    except TimeoutError:
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
