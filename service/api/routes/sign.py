from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Response, UploadFile

from provenance.errors import InputError
from provenance.signing import SOURCE_TYPE_VALUES, GeneratorInfo, SignRequest, source_type_uri
from provenance.trainingmining import TrainingMining
from service.api.deps import SettingsDep, SignerDep, WorkSlotsDep, WriteAccess
from service.api.openapi import UPLOAD, WRITE, form_field, upload_body
from service.api.uploads import read_upload, run_bounded

Use = Literal["allowed", "notAllowed", "constrained"]

router = APIRouter(prefix="/v1", tags=["provenance"], dependencies=[WriteAccess], responses=WRITE)


def _source_type_field(schema: dict[str, Any]) -> None:
    """The vocabulary as the field's enum: what the schema allows is what is signed."""
    form_field(schema)
    schema["enum"] = list(SOURCE_TYPE_VALUES)


@router.post(
    "/sign",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}, "description": "The signed image."}, **UPLOAD},
    openapi_extra=upload_body(),
)
async def sign(
    signer: SignerDep,
    settings: SettingsDep,
    slots: WorkSlotsDep,
    file: Annotated[UploadFile, File()],
    ai_generated: Annotated[bool, Form()] = False,
    title: Annotated[str | None, Form(max_length=512, json_schema_extra=form_field)] = None,
    family: Annotated[str | None, Form(max_length=64, json_schema_extra=form_field)] = None,
    model: Annotated[str | None, Form(max_length=128, json_schema_extra=form_field)] = None,
    checkpoint_sha256: Annotated[
        str | None, Form(pattern="^[0-9a-fA-F]{64}$", json_schema_extra=form_field)
    ] = None,
    # lt, not le=2**64 - 1: OpenAPI bounds are written as floats, and 2**64 is one exactly.
    seed: Annotated[int | None, Form(ge=0, lt=2**64, json_schema_extra=form_field)] = None,
    sampler: Annotated[Literal["ddim", "ddpm"] | None, Form(json_schema_extra=form_field)] = None,
    steps: Annotated[int | None, Form(ge=0, le=100_000, json_schema_extra=form_field)] = None,
    thumbnail: Annotated[bool, Form()] = False,
    training_mining: Annotated[Use | None, Form(json_schema_extra=form_field)] = None,
    ai_training: Annotated[Use | None, Form(json_schema_extra=form_field)] = None,
    ai_generative_training: Annotated[Use | None, Form(json_schema_extra=form_field)] = None,
    ai_inference: Annotated[Use | None, Form(json_schema_extra=form_field)] = None,
    data_mining: Annotated[Use | None, Form(json_schema_extra=form_field)] = None,
    constraint_info: Annotated[
        str | None, Form(max_length=1024, json_schema_extra=form_field)
    ] = None,
    source_type: Annotated[
        str | None, Form(max_length=256, json_schema_extra=_source_type_field)
    ] = None,
) -> Response:
    """Sign an image with the service's identity (API key); returns the signed file, in
    the upload's format.

    ``source_type`` is an IPTC digital source type term (``digitalCapture``) or its URI;
    anything outside the vocabulary is refused (422) with the known terms.
    ``training_mining`` sets all four uses of the ``cawg.training-mining`` assertion
    (``ai_training``, ``ai_generative_training``, ``ai_inference``, ``data_mining``); each
    of those fields overrides one.
    """
    if source_type is not None:
        source_type_uri(source_type)  # refused before the upload is read
    data = await read_upload(file)
    given = {
        "ai_training": ai_training,
        "ai_generative_training": ai_generative_training,
        "ai_inference": ai_inference,
        "data_mining": data_mining,
    }
    statement = None
    if training_mining is not None or any(given.values()):
        statement = TrainingMining(
            **{entry: use or training_mining for entry, use in given.items()},
            constraint_info=constraint_info,
        )
    elif constraint_info is not None:
        raise InputError("constraint_info goes with a constrained use.")
    generator_fields = (family, model, checkpoint_sha256, seed, sampler, steps)
    generator = (
        GeneratorInfo(family, model, checkpoint_sha256, seed, sampler, steps)
        if any(value is not None for value in generator_fields)
        else None
    )
    request = SignRequest(
        title=title or (file.filename if file else None),
        ai_generated=ai_generated,
        source_type=source_type,
        generator=generator,
        # A small claim thumbnail (256 px long edge): what the web page shows for a match.
        thumbnails="small" if thumbnail else "off",
        training_mining=statement,
    )
    signed = await run_bounded(
        lambda: signer.sign(data, request), settings.processing_timeout_s, slots
    )
    return Response(
        signed.data,
        media_type=signed.mime_type,
        headers={"X-Provaudit-Development-Identity": str(signer.identity.is_development).lower()},
    )
