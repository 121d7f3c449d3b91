from __future__ import annotations

import datetime as dt
from typing import Any

from anyio import from_thread
from fastapi import APIRouter, BackgroundTasks, File, UploadFile

from service.api.deps import (
    ActionerDep,
    PipelineDep,
    ReadAccess,
    SessionDep,
    SettingsDep,
    WorkSlotsDep,
)
from service.api.errors import ApiError
from service.api.openapi import READ, UPLOAD, errors, upload_body
from service.api.uploads import read_upload, run_bounded
from service.db import AuditRecord
from service.metrics import VERDICTS
from service.pipeline import VERDICTS as VERDICT_VALUES

# Every verdict's series exists from the start, at zero, so a rate over it is defined.
for _verdict in VERDICT_VALUES:
    VERDICTS.labels(_verdict)

router = APIRouter(prefix="/v1", tags=["audit"], dependencies=[ReadAccess], responses=READ)


def _public(record: AuditRecord) -> dict[str, Any]:
    created = record.created
    if created.tzinfo is None:  # SQLite keeps no zone; we only ever store UTC
        created = created.replace(tzinfo=dt.timezone.utc)
    return {"audit_id": record.id, "created": created.isoformat(), **record.result}


@router.post("/audit", responses=UPLOAD, openapi_extra=upload_body())
async def audit(
    pipeline: PipelineDep,
    session: SessionDep,
    settings: SettingsDep,
    slots: WorkSlotsDep,
    actioner: ActionerDep,
    background: BackgroundTasks,
    file: UploadFile = File(),
    thumbnails: bool = False,
) -> dict[str, Any]:
    """Every signal separately (ai_origin, provenance, fingerprints, matches), then a verdict.

    ``verdict`` is one of ``declared_ai``, ``declared_ai_recovered`` (the closest recorded
    manifest the pixels match declares AI: not a signature over this file), ``likely_ai``,
    ``likely_real``, ``inconclusive``; ``declared_by`` names what a declared verdict rests
    on (``c2pa_manifest``, ``c2pa_ingredient``, ``recovered_watermark``,
    ``recovered_fingerprint``, ``iptc_metadata``). The policy, one row per case, is in
    docs/api.md. ``?thumbnails=true`` adds the manifests' thumbnails as data URIs (the web
    page uses it).
    """
    data = await read_upload(file)
    filename = file.filename if file else None
    result = await run_bounded(
        lambda: pipeline.audit(
            data, filename, thumbnails=thumbnails, checkpoint=from_thread.check_cancelled
        ),
        settings.processing_timeout_s,
        slots,
    )
    record = AuditRecord(
        filename=filename, sha256=result.sha256, verdict=result.verdict, result=result.to_dict()
    )
    session.add(record)
    session.commit()
    VERDICTS.labels(result.verdict).inc()
    # After the response is sent: the banks' webhooks never delay an audit.
    background.add_task(
        actioner.on_matches,
        result.matches,
        sha256=result.sha256,
        source="audit",
        audit_id=record.id,
    )
    return _public(record)


@router.get("/audits/{audit_id}", responses=errors(404))
async def get_audit(audit_id: str, session: SessionDep) -> dict[str, Any]:
    record = session.get(AuditRecord, audit_id)
    if record is None:
        raise ApiError(404, "not_found", f"No audit with id {audit_id}.")
    return _public(record)
