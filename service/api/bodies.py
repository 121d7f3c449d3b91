"""Request bodies a route reads itself (one that takes a multipart upload *or* JSON): JSON
checked before it is parsed, so no body can reach a 500.

A JSON body must say it is JSON (or say nothing), be UTF-8, stay under a size and a
nesting depth; an image sent raw to a JSON route gets 415 with what to send instead.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from service.api.errors import ApiError

MAX_JSON_BYTES = 1 << 20
MAX_JSON_DEPTH = 32

ModelT = TypeVar("ModelT", bound=BaseModel)


def _is_json_type(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in ("", "application/json") or media_type.endswith("+json")


def _depth(text: str) -> int:
    """The deepest nesting of arrays and objects, strings skipped (no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_json_text(text: str, what: str = "The body") -> Any:
    # Scanning is needed only where there are enough brackets to nest that deep.
    brackets = text.count("[") + text.count("{")
    if brackets > MAX_JSON_DEPTH and _depth(text) > MAX_JSON_DEPTH:
        raise ApiError(422, "invalid_json", f"{what} nests deeper than {MAX_JSON_DEPTH} levels.")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(422, "invalid_json", f"{what} is not JSON ({exc.msg}).") from None


def parse_json_body(raw: bytes, content_type: str) -> Any:
    """The JSON document of a request body; ``None`` for an empty one."""
    if not _is_json_type(content_type):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"A {content_type.split(';', 1)[0]} body is not accepted here; send the image as "
            "a multipart form field named 'file', or JSON (application/json).",
        )
    if len(raw) > MAX_JSON_BYTES:
        raise ApiError(413, "body_too_large", f"A JSON body is at most {MAX_JSON_BYTES} bytes.")
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(422, "invalid_json", "The body is not UTF-8 JSON.") from None
    return parse_json_text(text)


def validated(model: type[ModelT], document: Any) -> ModelT:
    """``document`` as ``model``, or a 422 naming the first field that is wrong."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "body"
        raise ApiError(422, "invalid_request", f"{where}: {first.get('msg')}") from None
