from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, UploadFile

from service.api.deps import ReadAccess, SettingsDep, VerifierDep, WorkSlotsDep
from service.api.openapi import DOCUMENT_TYPES, READ, UPLOAD, upload_body
from service.api.uploads import read_upload, run_bounded

router = APIRouter(prefix="/v1", tags=["provenance"], dependencies=[ReadAccess], responses=READ)


@router.post("/verify", responses=UPLOAD, openapi_extra=upload_body(DOCUMENT_TYPES))
async def verify(
    verifier: VerifierDep,
    settings: SettingsDep,
    slots: WorkSlotsDep,
    file: UploadFile = File(),
) -> dict[str, Any]:
    """Provenance only: the same report as ``provaudit verify --json``."""
    data = await read_upload(file)
    name = file.filename if file and file.filename else "upload"
    report = await run_bounded(
        lambda: verifier.verify_bytes(data, name), settings.processing_timeout_s, slots
    )
    return report.to_dict()
