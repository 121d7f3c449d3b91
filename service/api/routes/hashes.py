"""HMA-shaped hashing and lookup: ``POST /v1/hash``, ``GET|POST /v1/lookup``.

A lookup answers ``{bank: [{bank_content_id, distance, signal, variant}]}`` like Meta's
Hasher-Matcher-Actioner ``/m/lookup``; banks without a match are left out.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, BackgroundTasks, File, Query, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile as FormFile

from provenance.fingerprint import DIHEDRAL_ORDER, PDQ_MIN_QUALITY
from provenance.hashquery import HashQuery, require_matchable
from provenance.media import check_media, decode_image
from service.actioner import Actioner
from service.api.bodies import parse_json_body, validated
from service.api.deps import ActionerDep, HashBankDep, ReadAccess, SettingsDep, WorkSlotsDep
from service.api.errors import ApiError
from service.api.openapi import (
    ONE_HASH,
    PDQ_PATTERN,
    PHASH_PATTERN,
    READ,
    UPLOAD,
    errors,
    upload_body,
    upload_or_json_body,
)
from service.api.routes.banks import registry_errors
from service.api.uploads import read_upload, run_bounded

router = APIRouter(prefix="/v1", tags=["hash banks"], dependencies=[ReadAccess], responses=READ)

MAX_BATCH = 1000
UNKNOWN_BANK = errors(described={404: "A bank named in the request does not exist."})


class HashPair(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=ONE_HASH)

    pdq: str | None = Field(
        None, description="PDQ, 64 hex digits.", json_schema_extra={"pattern": PDQ_PATTERN}
    )
    phash: str | None = Field(
        None, description="pHash, 16 hex digits.", json_schema_extra={"pattern": PHASH_PATTERN}
    )
    pdq_quality: int | None = Field(None, ge=0, le=100)


class LookupBody(HashPair):
    """One hash pair, or a batch in ``queries`` (then without a pair of its own)."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["queries"],
                    "properties": {
                        "queries": {"type": "array"},
                        "pdq": {"type": "null"},
                        "phash": {"type": "null"},
                    },
                },
                {
                    "required": ["pdq"],
                    "properties": {"pdq": {"type": "string"}, "queries": {"type": "null"}},
                },
                {
                    "required": ["phash"],
                    "properties": {"phash": {"type": "string"}, "queries": {"type": "null"}},
                },
            ]
        }
    )

    banks: list[str] | None = Field(None, description="Only these banks (default: all).")
    queries: list[HashPair] | None = Field(
        None,
        description=f"A batch of hashes (up to {MAX_BATCH}); answered as `results`.",
        json_schema_extra={"maxItems": MAX_BATCH},
    )


def _or_empty(pattern: str) -> str:
    return f"^({pattern.strip('^$')})?$"


def image_query(data: bytes, name: str, *, dihedral: bool = True) -> HashQuery:
    """Fingerprints of an uploaded image, refused when too flat or small for PDQ."""
    media = check_media(data, name)
    if not media.is_image:
        raise ApiError(
            415, "unsupported_format", f"{name} is a {media.format.upper()}, not an image."
        )
    query = HashQuery.from_image(decode_image(media.data, name), dihedral=dihedral)
    require_matchable(query.pdq_quality, name)
    return query


@router.post("/hash", responses=UPLOAD, openapi_extra=upload_body())
async def hash_image(
    settings: SettingsDep,
    slots: WorkSlotsDep,
    file: UploadFile = File(),
    dihedral: bool = False,
) -> dict[str, Any]:
    """PDQ (with quality) and pHash of an uploaded image; ``?dihedral=true`` adds the PDQ
    hashes of its eight rotations/flips."""
    data = await read_upload(file)
    name = file.filename if file and file.filename else "upload"

    def work() -> dict[str, Any]:
        media = check_media(data, name)
        if not media.is_image:
            raise ApiError(
                415, "unsupported_format", f"{name} is a {media.format.upper()}, not an image."
            )
        query = HashQuery.from_image(decode_image(media.data, name), dihedral=dihedral)
        result: dict[str, Any] = {
            **query.fingerprints(),
            "pdq_usable": query.pdq_quality is not None and query.pdq_quality >= PDQ_MIN_QUALITY,
        }
        if dihedral:
            result["dihedral"] = [
                {"variant": variant, "pdq": value}
                for variant, value in zip(DIHEDRAL_ORDER, query.pdq_variants, strict=True)
            ]
        return result

    return await run_bounded(work, settings.processing_timeout_s, slots)


@router.get("/lookup", responses=UNKNOWN_BANK)
async def lookup_get(
    hashbank: HashBankDep,
    settings: SettingsDep,
    pdq: str | None = Query(
        None,
        description="PDQ, 64 hex digits; empty is the same as absent.",
        json_schema_extra={"pattern": _or_empty(PDQ_PATTERN)},
    ),
    phash: str | None = Query(
        None,
        description="pHash, 16 hex digits; empty is the same as absent.",
        json_schema_extra={"pattern": _or_empty(PHASH_PATTERN)},
    ),
    bank: list[str] | None = Query(None, description="Only these banks (repeatable)."),
    *,
    actioner: ActionerDep,
    background: BackgroundTasks,
) -> dict[str, list[dict[str, Any]]]:
    """Look up a PDQ hash and/or pHash (at least one of them):
    ``{bank: [{bank_content_id, distance, ...}]}``."""

    def work() -> dict[str, list[dict[str, Any]]]:
        # A form sends a field left blank as `phash=`: that is no pHash, not a malformed one.
        query = HashQuery.from_hashes(pdq=pdq or None, phash=phash or None)
        return hashbank.lookup([query], banks=bank)[0]

    async with registry_errors():
        found = await run_bounded(work, settings.processing_timeout_s)
    act_on(background, actioner, [found])
    return found


def act_on(
    background: BackgroundTasks,
    actioner: Actioner,
    results: list[dict[str, list[dict[str, Any]]]],
    sha256: str | None = None,
) -> None:
    """Hand lookup matches to the banks' webhooks, after the response is sent."""
    matches = [
        {"bank": bank, **hit} for result in results for bank, hits in result.items() for hit in hits
    ]
    if matches:
        background.add_task(actioner.on_matches, matches, sha256=sha256, source="lookup")


@router.post(
    "/lookup",
    responses={**UPLOAD, **UNKNOWN_BANK},
    openapi_extra=upload_or_json_body(
        {"bank": {"type": "array", "items": {"type": "string"}}}, LookupBody
    ),
)
async def lookup_post(
    request: Request,
    hashbank: HashBankDep,
    settings: SettingsDep,
    slots: WorkSlotsDep,
    actioner: ActionerDep,
    background: BackgroundTasks,
) -> dict[str, Any]:
    """Look up an uploaded image (multipart ``file``; rotations and flips included), a
    hash pair (JSON ``{pdq, phash, banks}``), or a batch (JSON ``{queries: [...], banks}``,
    answered as ``{results: [...]}`` in order)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, FormFile) and upload is not None:
            raise ApiError(422, "missing_file", "The 'file' field must be a file upload.")
        data = await read_upload(upload)  # type: ignore[arg-type]
        name = getattr(upload, "filename", None) or "upload"
        banks = [str(value) for value in form.getlist("bank")] or None

        def image_work() -> dict[str, Any]:
            return hashbank.lookup([image_query(data, name)], banks=banks)[0]

        async with registry_errors():
            found = await run_bounded(image_work, settings.processing_timeout_s, slots)
        act_on(background, actioner, [found], hashlib.sha256(data).hexdigest())
        return found

    body = _json_body(await request.body(), content_type)
    if body.queries is not None:
        if len(body.queries) > MAX_BATCH:
            raise ApiError(422, "batch_too_large", f"At most {MAX_BATCH} queries per request.")
        if body.pdq is not None or body.phash is not None:
            raise ApiError(
                422, "invalid_request", "Send either one hash pair or `queries`, not both."
            )

        def batch_work() -> dict[str, Any]:
            queries = [_query(pair) for pair in body.queries or []]
            return {"results": hashbank.lookup(queries, banks=body.banks)}

        async with registry_errors():
            batch = await run_bounded(batch_work, settings.processing_timeout_s)
        act_on(background, actioner, batch["results"])
        return batch

    def one_work() -> dict[str, Any]:
        return hashbank.lookup([_query(body)], banks=body.banks)[0]

    async with registry_errors():
        found = await run_bounded(one_work, settings.processing_timeout_s)
    act_on(background, actioner, [found])
    return found


def _query(pair: HashPair) -> HashQuery:
    return HashQuery.from_hashes(pdq=pair.pdq, phash=pair.phash, pdq_quality=pair.pdq_quality)


def _json_body(raw: bytes, content_type: str) -> LookupBody:
    document = parse_json_body(raw, content_type)
    if document is None:
        raise ApiError(
            422,
            "invalid_request",
            "Send an image as multipart 'file', or JSON {pdq, phash} or {queries: [...]}.",
        )
    return validated(LookupBody, document)


__all__ = ["image_query", "router"]
