"""Soft-binding resolution, shaped like the C2PA soft binding resolution API.

``/matches/byBinding`` and ``/matches/byContent`` answer ``{"matches": [{manifestId,
endpoint, similarityScore}]}`` (plus provaudit's ``distance``, ``signal``, ``variant``),
``/manifests/{manifestId}`` returns the manifest store as ``application/c2pa``, and
``/services/supportedAlgorithms`` lists the fingerprint algorithms: PDQ and pHash under
provaudit's own names, and ``io.iscc.v0`` (the ISCC Content-Code Image, on the C2PA soft
binding algorithm list), whose values are ISCC-SEQs in base64 as IEP-0020 says. The
repository is local: it holds the manifests this service (or ``provaudit sign`` on the
same registry) signed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from starlette.datastructures import UploadFile as FormFile

from provenance.hashquery import similarity_score
from provenance.iscc import image_code_of_bytes
from provenance.media import decode_image
from provenance.recovery import ManifestMatch, read_watermark
from provenance.softbinding import (
    ALGORITHMS,
    ISCC_ALG,
    PDQ_ALG,
    PHASH_ALG,
    WATERMARK_ALG,
    WATERMARK_BYTES,
    supported_algorithms,
)
from service.api.deps import ManifestsDep, ReadAccess, SettingsDep, WorkSlotsDep
from service.api.errors import ApiError
from service.api.openapi import IMAGE_TYPES, READ, UPLOAD, errors, upload_form
from service.api.routes.banks import registry_errors
from service.api.routes.hashes import image_query
from service.api.uploads import run_bounded

router = APIRouter(
    prefix="/v1", tags=["soft-binding resolution"], dependencies=[ReadAccess], responses=READ
)

MaxResults = Query(10, alias="maxResults", ge=1, le=100)


def _base64_pattern(size: int) -> str:
    """Base64 (padded) of ``size`` bytes."""
    whole, rest = divmod(size, 3)
    return f"[A-Za-z0-9+/]{{{4 * whole + (rest + 1 if rest else 0)}}}{'=' * (-rest % 3)}"


ISCC_VALUE_PATTERN = (
    "ISCC:[A-Za-z2-7]{16,}|(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
)
"""An ``io.iscc.v0`` value: an ISCC-SEQ as padded base64, or ``ISCC:`` and base32."""
BINDING_VALUE_PATTERN = "^(?:{})$".format(
    "|".join(
        [
            ISCC_VALUE_PATTERN
            if kind == "iscc"
            else f"[0-9a-fA-F]{{{2 * size}}}|{_base64_pattern(size)}"
            for kind, size in ALGORITHMS.values()
        ]
        + [f"[0-9a-fA-F]{{{2 * WATERMARK_BYTES}}}|{_base64_pattern(WATERMARK_BYTES)}"]
    )
)
RESOLVED = [*ALGORITHMS, WATERMARK_ALG]
ALG = {"enum": RESOLVED}
UNSUPPORTED_ALG = "`alg` is not a supported algorithm (see /v1/services/supportedAlgorithms)."


def _check_alg(alg: str | None) -> None:
    if alg is not None and alg not in RESOLVED:
        raise ApiError(
            400,
            "unsupported_algorithm",
            f"Algorithm {alg!r} is not supported here; see /v1/services/supportedAlgorithms.",
        )


def _matches(request: Request, found: list[ManifestMatch]) -> dict[str, Any]:
    endpoint = str(request.base_url).rstrip("/") + "/v1"
    return {
        "matches": [
            {
                "manifestId": match.manifest.manifest_id,
                "endpoint": endpoint,
                "similarityScore": similarity_score(match.distance, match.signal),
                "distance": match.distance,
                "signal": match.signal,
                "variant": match.variant,
            }
            for match in found
        ]
    }


@router.get("/services/supportedAlgorithms")
async def supported() -> dict[str, Any]:
    """The soft-binding algorithms this repository resolves."""
    return supported_algorithms()


@router.get("/matches/byBinding", responses=errors(described={400: UNSUPPORTED_ALG}))
async def by_binding(
    request: Request,
    manifests: ManifestsDep,
    settings: SettingsDep,
    alg: str = Query(description=", ".join(RESOLVED), json_schema_extra=ALG),
    value: str = Query(
        description="The soft-binding value, as `alg` says: for a PDQ hash or a pHash, "
        f"base64 (as in the manifest) or hex of its {ALGORITHMS[PDQ_ALG][1]} or "
        f"{ALGORITHMS[PHASH_ALG][1]} bytes; for {ISCC_ALG}, the ISCC-SEQ as padded base64 "
        "(IEP-0020, as in the manifest) or as `ISCC:` and base32 (the code's canonical "
        "text), holding a 256-bit ISCC Content-Code Image (other units are ignored); for "
        f"{WATERMARK_ALG}, base64 or hex of the watermark's 4-byte payload.",
        json_schema_extra={"pattern": BINDING_VALUE_PATTERN},
    ),
    max_results: int = MaxResults,
) -> dict[str, Any]:
    """Manifests whose image's fingerprint is within the match distance of ``value``."""
    _check_alg(alg)
    found = await run_bounded(
        lambda: manifests.by_binding(alg, value, max_results=max_results),
        settings.processing_timeout_s,
    )
    return _matches(request, found)


@router.post(
    "/matches/byContent",
    responses={
        **UPLOAD,
        **errors(described={400: f"{UNSUPPORTED_ALG} Or a malformed multipart body."}),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                **{
                    media_type: {"schema": {"type": "string", "format": "binary"}}
                    for media_type in IMAGE_TYPES.split(", ")
                },
                "multipart/form-data": upload_form(),
            },
        }
    },
)
async def by_content(
    request: Request,
    manifests: ManifestsDep,
    settings: SettingsDep,
    slots: WorkSlotsDep,
    alg: str | None = Query(
        None,
        description="Match by this algorithm only (default: all of them).",
        json_schema_extra=ALG,
    ),
    max_results: int = MaxResults,
) -> dict[str, Any]:
    """Fingerprint the asset in the body (raw bytes, or multipart ``file``) and return
    the manifests it matches (PDQ, ISCC Content-Code Image, pHash; each manifest once, by
    its strongest signal); rotations and flips are matched too, by PDQ."""
    _check_alg(alg)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, FormFile):
            raise ApiError(422, "missing_file", "Send the asset as the body or a 'file' field.")
        data = await upload.read()
        name = upload.filename or "upload"
    else:
        data = await request.body()
        name = "upload"
    if not data:
        raise ApiError(422, "empty_file", "The request carries no asset.")

    def work() -> list[ManifestMatch]:
        if alg == WATERMARK_ALG:
            marked = manifests.by_watermark(read_watermark(decode_image(data, name)))
            return [marked] if marked is not None else []
        query = image_query(data, name, dihedral=alg in (None, PDQ_ALG))
        if alg in (None, ISCC_ALG):
            query = replace(query, iscc=image_code_of_bytes(data, name))
        if alg == PDQ_ALG:
            query = replace(query, phash=None)
        elif alg == PHASH_ALG:
            query = replace(query, pdq=None, pdq_variants=())
        elif alg == ISCC_ALG:
            query = replace(query, pdq=None, pdq_variants=(), phash=None)
        if alg is None:  # the watermark's payload names a manifest: it comes first
            watermark = read_watermark(decode_image(data, name))
            return manifests.recover_query(query, watermark=watermark, max_results=max_results)
        return manifests.recover([query], max_results=max_results)[0]

    found = await run_bounded(work, settings.processing_timeout_s, slots)
    return _matches(request, found)


@router.get(
    "/manifests/{manifest_id}",
    response_class=Response,
    responses={
        200: {"content": {"application/c2pa": {}}, "description": "The manifest store."},
        **errors(described={404: "No manifest with that id."}),
    },
)
async def manifest(manifest_id: str, manifests: ManifestsDep, settings: SettingsDep) -> Response:
    """The manifest store (JUMBF) provaudit produced when it signed, as ``application/c2pa``."""
    async with registry_errors():
        _info, data = await run_bounded(
            lambda: manifests.manifest(manifest_id), settings.processing_timeout_s
        )
    return Response(data, media_type="application/c2pa")


@router.get(
    "/manifests/{manifest_id}/thumbnail",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "The thumbnail."},
        **errors(described={404: "No manifest with that id, or it carries no thumbnail."}),
    },
)
async def manifest_thumbnail(
    manifest_id: str, manifests: ManifestsDep, settings: SettingsDep
) -> Response:
    """The claim thumbnail of a recorded manifest, where it was signed with one (``/v1/sign``
    with ``thumbnail=true``): what the web page shows beside a match."""
    from provenance.verify import claim_thumbnail

    async with registry_errors():
        found = await run_bounded(
            lambda: claim_thumbnail(manifests.manifest(manifest_id)[1]),
            settings.processing_timeout_s,
        )
    if found is None:
        raise ApiError(404, "no_thumbnail", f"Manifest {manifest_id} carries no thumbnail.")
    media_type, data = found
    return Response(data, media_type=media_type, headers={"Cache-Control": "max-age=86400"})
