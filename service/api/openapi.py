"""What the OpenAPI document says beyond what FastAPI infers: the error statuses each route
answers (every one with the body ``ErrorResponse``, as ``service.api.errors`` sends it) and
the request bodies of routes that read their body themselves.

Routes name their statuses with ``errors(...)`` or the groups below; the descriptions live
here only, so a status means the same thing on every route.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from provenance.fingerprint import PDQ_HEX_LENGTH, PHASH_HEX_LENGTH

Responses = dict[int | str, dict[str, Any]]


class ErrorDetail(BaseModel):
    code: str = Field(description="What went wrong, for programs: e.g. not_found, bad_input.")
    message: str = Field(description="One sentence for a person.")


class ErrorResponse(BaseModel):
    """Every 4xx (and the 5xx that should never happen) has this body."""

    error: ErrorDetail


DESCRIPTIONS: dict[int, str] = {
    400: "The body could not be parsed (a malformed multipart form, JSON that is not UTF-8).",
    401: "A valid X-API-Key header is required.",
    403: "No API keys are configured (PROVAUDIT_API_KEYS), so this route is off.",
    404: "Not found.",
    408: "The request body stalled for longer than PROVAUDIT_BODY_READ_TIMEOUT_S.",
    409: "Conflict with what is stored.",
    413: "The body is over PROVAUDIT_MAX_UPLOAD_BYTES (refused while it streams in), or the "
    "image would decode to more than PROVAUDIT_MAX_DECODE_PIXELS pixels (refused from its "
    "header).",
    415: "Not a supported image or document format.",
    422: "The request is well formed but invalid: a field out of range, an unreadable image, "
    "or work that took longer than PROVAUDIT_PROCESSING_TIMEOUT_S.",
}


def errors(*statuses: int, described: dict[int, str] | None = None) -> Responses:
    """``responses=`` for ``statuses`` and the statuses in ``described``, which gives a
    route's own wording for them."""
    wording = described or {}
    return {
        status: {"model": ErrorResponse, "description": wording.get(status, DESCRIPTIONS[status])}
        for status in sorted({*statuses, *wording})
    }


READ = errors(
    422,
    described={401: "Reads are protected (PROVAUDIT_PROTECT_READS); a valid X-API-Key is needed."},
)
"""Routes behind ``ReadAccess``. They all take the X-API-Key header, so FastAPI documents a
validation 422 for each; this gives it the body the service really sends."""
WRITE = errors(401, 403, 422)
"""Routes behind ``WriteAccess``."""
BODY = errors(400, 408, 413, 422)
"""Any route that reads a body: the limits of ``service.api.limits`` apply to all of them."""
UPLOAD = {**BODY, **errors(415)}
"""Routes that take an image or document upload."""

IMAGE_TYPES = "image/jpeg, image/png, image/webp, image/gif, image/tiff, image/avif"
"""What an uploaded image may be where its pixels are needed (the encoding of a ``file``)."""
DOCUMENT_TYPES = f"{IMAGE_TYPES}, image/heif, application/pdf"
"""What ``/v1/verify`` reads: it needs the manifest, not the pixels."""
PDQ_PATTERN = f"^[0-9a-fA-F]{{{PDQ_HEX_LENGTH}}}$"
PHASH_PATTERN = f"^[0-9a-fA-F]{{{PHASH_HEX_LENGTH}}}$"

ONE_HASH: dict[str, Any] = {
    "anyOf": [
        {"required": [kind], "properties": {kind: {"type": "string"}}} for kind in ("pdq", "phash")
    ]
}
"""A JSON body with a PDQ hash, a pHash or both (the server refuses one with neither)."""

FILE = {"type": "string", "format": "binary", "description": "The image."}


def upload_body(media_types: str = IMAGE_TYPES) -> dict[str, Any]:
    """``openapi_extra`` for a FastAPI ``File()`` route: its ``file`` part is one of
    ``media_types`` (FastAPI documents the form itself; this is merged into it)."""
    return {
        "requestBody": {
            "content": {"multipart/form-data": {"encoding": {"file": {"contentType": media_types}}}}
        }
    }


def form_field(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` for an optional form field: it is sent or left out, never null,
    so the null branch FastAPI documents for it goes."""
    branches = [branch for branch in schema.pop("anyOf", []) if branch.get("type") != "null"]
    if len(branches) == 1:
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches


def upload_form(fields: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The multipart form of a route that reads its body itself: a required image ``file``
    plus optional ``fields``."""
    return {
        "schema": {
            "type": "object",
            "properties": {"file": FILE, **(fields or {})},
            "required": ["file"],
        },
        "encoding": {"file": {"contentType": IMAGE_TYPES}},
    }


def upload_or_json_body(
    fields: dict[str, dict[str, Any]], model: type[BaseModel]
) -> dict[str, Any]:
    """``openapi_extra`` for a route that takes a multipart form (an image ``file`` plus
    ``fields``) or a JSON document of ``model``."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": upload_form(fields),
                "application/json": {"schema": inline_schema(model)},
            },
        }
    }


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` written in place: a schema given in
    ``openapi_extra`` cannot refer to definitions outside it."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/$defs/"):
                return resolve(definitions[reference.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)
