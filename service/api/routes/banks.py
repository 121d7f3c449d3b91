"""Hash banks: create and list them (per-bank thresholds), add content, index status.

Writes need the API key. Content is added by image upload (hashed here) or by hash; it
is committed to the registry before the answer, so a 2xx means it survives a crash, and
it matches lookups as soon as the answer is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile as FormFile

from provenance.bankactions import MAX_URL_LENGTH, WEBHOOK_URL_PATTERN
from provenance.fingerprint import PDQ_MATCH_DISTANCE, PDQ_MIN_QUALITY
from provenance.hashrules import (
    BANK_NAME_PATTERN,
    MAX_PDQ_THRESHOLD,
    MAX_PHASH_THRESHOLD,
    PHASH_MATCH_DISTANCE,
)
from provenance.records import bank_page
from provenance.registry import DuplicateError, NotFoundError
from service.api.bodies import parse_json_body, parse_json_text, validated
from service.api.deps import (
    BankActionsDep,
    FingerprintsDep,
    HashBankDep,
    ReadAccess,
    SettingsDep,
    WorkSlotsDep,
    WriteAccess,
)
from service.api.errors import ApiError
from service.api.openapi import (
    BODY,
    ONE_HASH,
    PDQ_PATTERN,
    PHASH_PATTERN,
    READ,
    UPLOAD,
    WRITE,
    errors,
    upload_or_json_body,
)
from service.api.uploads import read_upload, run_bounded

# Ids are 64-bit signed integers in every database the registry runs on.
MAX_ROW_ID = 2**63 - 1
MAX_PAGE = 1000
router = APIRouter(prefix="/v1", tags=["hash banks"])
NO_BANK = errors(described={404: "There is no bank of that name."})


@asynccontextmanager
async def registry_errors() -> AsyncIterator[None]:
    """Unknown banks and manifests are 404s, repeated content a 409."""
    try:
        yield
    except NotFoundError as exc:
        raise ApiError(404, exc.code, str(exc)) from None
    except DuplicateError as exc:
        raise ApiError(409, exc.code, str(exc)) from None


class BankCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        description="Letters, digits, '_', '.', '-'; up to 128, starting with a letter or digit.",
        json_schema_extra={"pattern": BANK_NAME_PATTERN},
    )
    pdq_threshold: int = Field(PDQ_MATCH_DISTANCE, ge=0, le=MAX_PDQ_THRESHOLD)
    phash_threshold: int = Field(PHASH_MATCH_DISTANCE, ge=0, le=MAX_PHASH_THRESHOLD)
    description: str | None = Field(None, max_length=2000)


class BankUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pdq_threshold: int | None = Field(None, ge=0, le=MAX_PDQ_THRESHOLD)
    phash_threshold: int | None = Field(None, ge=0, le=MAX_PHASH_THRESHOLD)
    description: str | None = Field(None, max_length=2000)


class ContentByHash(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": [
                ONE_HASH,
                {  # a quality goes with a PDQ hash
                    "anyOf": [
                        {"properties": {"pdq_quality": {"type": "null"}}},
                        {"required": ["pdq"], "properties": {"pdq": {"type": "string"}}},
                    ]
                },
            ]
        },
    )

    pdq: str | None = Field(
        None, description="PDQ, 64 hex digits.", json_schema_extra={"pattern": PDQ_PATTERN}
    )
    pdq_quality: int | None = Field(
        None,
        ge=0,
        le=100,
        description=f"A PDQ hash below quality {PDQ_MIN_QUALITY} is never matched, so not added.",
        json_schema_extra={"minimum": PDQ_MIN_QUALITY},
    )
    phash: str | None = Field(
        None, description="pHash, 16 hex digits.", json_schema_extra={"pattern": PHASH_PATTERN}
    )
    metadata: dict[str, Any] | None = Field(None, description="Stored with the content.")


@router.post(
    "/banks",
    status_code=201,
    dependencies=[WriteAccess],
    responses={**WRITE, **BODY, **errors(described={409: "A bank of that name exists."})},
)
async def create_bank(
    body: BankCreate, hashbank: HashBankDep, settings: SettingsDep
) -> JSONResponse:
    """Create a bank with its own PDQ and pHash distance thresholds (API key)."""
    async with registry_errors():
        info = await run_bounded(
            lambda: hashbank.create_bank(
                body.name,
                pdq_threshold=body.pdq_threshold,
                phash_threshold=body.phash_threshold,
                description=body.description,
            ),
            settings.processing_timeout_s,
        )
    return JSONResponse(info.to_dict(), status_code=201)


@router.get("/banks", dependencies=[ReadAccess], responses=READ)
async def list_banks(hashbank: HashBankDep, settings: SettingsDep) -> dict[str, Any]:
    """Every bank with its thresholds and content count."""
    banks = await run_bounded(hashbank.banks, settings.processing_timeout_s)
    return {"banks": [info.to_dict() for info in banks]}


@router.get("/banks/{name}", dependencies=[ReadAccess], responses={**READ, **NO_BANK})
async def get_bank(name: str, hashbank: HashBankDep, settings: SettingsDep) -> dict[str, Any]:
    async with registry_errors():
        info = await run_bounded(lambda: hashbank.bank(name), settings.processing_timeout_s)
    return info.to_dict()


@router.patch("/banks/{name}", dependencies=[WriteAccess], responses={**WRITE, **BODY, **NO_BANK})
async def update_bank(
    name: str, body: BankUpdate, hashbank: HashBankDep, settings: SettingsDep
) -> dict[str, Any]:
    """Change a bank's thresholds or description (API key); lookups use them at once."""
    async with registry_errors():
        info = await run_bounded(
            lambda: hashbank.update_bank(
                name,
                pdq_threshold=body.pdq_threshold,
                phash_threshold=body.phash_threshold,
                description=body.description,
            ),
            settings.processing_timeout_s,
        )
    return info.to_dict()


@router.post(
    "/banks/{name}/content",
    status_code=201,
    dependencies=[WriteAccess],
    responses={
        **WRITE,
        **UPLOAD,
        **NO_BANK,
        **errors(described={409: "The bank holds this content already."}),
    },
    openapi_extra=upload_or_json_body(
        {"metadata": {"type": "object", "description": "Stored with the content (JSON)."}},
        ContentByHash,
    ),
)
async def add_content(
    name: str,
    request: Request,
    hashbank: HashBankDep,
    settings: SettingsDep,
    slots: WorkSlotsDep,
) -> JSONResponse:
    """Add content to a bank (API key): an image (multipart ``file``, hashed here) or
    hashes (JSON ``{pdq, pdq_quality, phash, metadata}``). 409 if the bank holds it
    already; 422 for malformed hashes and for images too flat or small for PDQ."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is not None and not isinstance(upload, FormFile):
            raise ApiError(422, "missing_file", "The 'file' field must be a file upload.")
        data = await read_upload(upload)  # type: ignore[arg-type]
        filename = getattr(upload, "filename", None) or "upload"
        metadata = _metadata(form.get("metadata"))

        def add_image() -> Any:
            return hashbank.add_image(name, data, filename, metadata=metadata)

        async with registry_errors():
            info = await run_bounded(add_image, settings.processing_timeout_s, slots)
        return JSONResponse(info.to_dict(), status_code=201)

    body = validated(ContentByHash, parse_json_body(await request.body(), content_type))

    def add_hashes() -> Any:
        return hashbank.add_hashes(
            name,
            pdq=body.pdq,
            pdq_quality=body.pdq_quality,
            phash=body.phash,
            metadata=body.metadata,
        )

    async with registry_errors():
        info = await run_bounded(add_hashes, settings.processing_timeout_s)
    return JSONResponse(info.to_dict(), status_code=201)


@router.get(
    "/banks/{name}/content/{content_id}",
    dependencies=[ReadAccess],
    responses={**READ, **errors(described={404: "No such bank, or no such content in it."})},
)
async def get_content(
    name: str,
    content_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Bank content id.")],
    hashbank: HashBankDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    async with registry_errors():
        info = await run_bounded(
            lambda: hashbank.content(content_id), settings.processing_timeout_s
        )
    if info.bank != name:
        raise ApiError(404, "not_found", f"Bank {name!r} has no content {content_id}.")
    return info.to_dict()


@router.get("/banks/{name}/content", dependencies=[ReadAccess], responses={**READ, **NO_BANK})
async def list_content(
    name: str,
    hashbank: HashBankDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page.")] = 50,
    offset: Annotated[
        int, Query(ge=0, le=MAX_ROW_ID, description="Items to skip, oldest first.")
    ] = 0,
) -> dict[str, Any]:
    """A page of a bank's content, oldest first: ``{bank, total, limit, offset,
    next_offset, items}``; ``next_offset`` is null on the last page."""
    async with registry_errors():
        items, total = await run_bounded(
            lambda: hashbank.list_content(name, limit=limit, offset=offset),
            settings.processing_timeout_s,
        )
    following = offset + len(items)
    return {
        **bank_page(name, total, limit, offset, following),
        "items": [info.to_dict() for info in items],
    }


@router.delete(
    "/banks/{name}/content/{content_id}",
    dependencies=[WriteAccess],
    responses={**WRITE, **errors(described={404: "No such bank, or no such content in it."})},
)
async def remove_content(
    name: str,
    content_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Bank content id.")],
    hashbank: HashBankDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Remove an item from a bank (API key); it matches no lookup or audit from the
    moment this answers. Answers the removed item."""
    async with registry_errors():
        info = await run_bounded(
            lambda: hashbank.remove(name, content_id), settings.processing_timeout_s
        )
    return {"removed": True, **info.to_dict()}


class WebhookAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_url: str = Field(
        description="Where each match of the bank's content is POSTed as JSON (http or https).",
        max_length=MAX_URL_LENGTH,
        json_schema_extra={"pattern": WEBHOOK_URL_PATTERN},
    )


@router.put(
    "/banks/{name}/action",
    dependencies=[WriteAccess],
    responses={**WRITE, **BODY, **NO_BANK},
)
async def set_action(
    name: str, body: WebhookAction, actions: BankActionsDep, settings: SettingsDep
) -> dict[str, Any]:
    """Set the bank's webhook (API key): every match of its content in an audit or a
    lookup is POSTed there, retried with backoff, each attempt recorded."""
    async with registry_errors():
        action = await run_bounded(
            lambda: actions.set_webhook(name, body.webhook_url), settings.processing_timeout_s
        )
    return action.to_dict()


@router.get("/banks/{name}/action", dependencies=[WriteAccess], responses={**WRITE, **NO_BANK})
async def get_action(name: str, actions: BankActionsDep, settings: SettingsDep) -> dict[str, Any]:
    """The bank's webhook (API key: the URL may carry the receiver's token);
    ``webhook_url`` null when it has none."""
    async with registry_errors():
        action = await run_bounded(lambda: actions.action(name), settings.processing_timeout_s)
    return action.to_dict() if action else {"bank": name, "webhook_url": None}


@router.delete("/banks/{name}/action", dependencies=[WriteAccess], responses={**WRITE, **NO_BANK})
async def clear_action(name: str, actions: BankActionsDep, settings: SettingsDep) -> dict[str, Any]:
    """Remove the bank's webhook (API key); its delivery history stays."""
    async with registry_errors():
        removed = await run_bounded(
            lambda: actions.clear_webhook(name), settings.processing_timeout_s
        )
    return {"bank": name, "removed": removed}


@router.get("/banks/{name}/actions", dependencies=[WriteAccess], responses={**WRITE, **NO_BANK})
async def list_actions(
    name: str,
    actions: BankActionsDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Deliveries per page.")] = 50,
    offset: Annotated[
        int, Query(ge=0, le=MAX_ROW_ID, description="Deliveries to skip, newest first.")
    ] = 0,
    status: Annotated[
        Literal["pending", "delivered", "failed"] | None,
        Query(description="Only deliveries in this state."),
    ] = None,
) -> dict[str, Any]:
    """The bank's webhook deliveries, newest first, each with its body and every attempt
    (API key): ``{bank, total, limit, offset, next_offset, deliveries}``."""
    async with registry_errors():
        deliveries, total = await run_bounded(
            lambda: actions.deliveries(name, limit=limit, offset=offset, status=status),
            settings.processing_timeout_s,
        )
    following = offset + len(deliveries)
    return {
        **bank_page(name, total, limit, offset, following),
        "deliveries": [delivery.to_dict() for delivery in deliveries],
    }


@router.get("/index/status", dependencies=[ReadAccess], responses=READ)
async def index_status(fingerprints: FingerprintsDep, settings: SettingsDep) -> dict[str, Any]:
    """Registry counts and, per index, its size and whether it agrees with the registry."""
    return await run_bounded(fingerprints.status, settings.processing_timeout_s)


def _metadata(value: object) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    parsed = parse_json_text(str(value), "metadata")
    if not isinstance(parsed, dict):
        raise ApiError(422, "invalid_request", "metadata must be a JSON object.")
    return parsed
