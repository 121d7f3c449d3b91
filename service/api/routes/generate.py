from __future__ import annotations

import base64
import io
import json
import secrets
import zipfile
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from generators.conditioning import (
    MAX_PROMPT_CHARS,
    Condition,
    ConditionError,
    check_condition,
    class_index,
)
from generators.configs import Family
from service.api.deps import GeneratorsDep, SettingsDep, SignerDep, WriteAccess
from service.api.errors import ApiError
from service.api.openapi import BODY, WRITE, errors
from service.api.uploads import run_bounded
from service.generation import (
    DEFAULT_SAMPLING_STEPS,
    MAX_IMAGES,
    MAX_SAMPLING_STEPS,
    MAX_SEED,
    GenerationResult,
    GeneratorUnavailableError,
)
from service.metrics import GENERATED_IMAGES

router = APIRouter(prefix="/v1", tags=["generate"], dependencies=[WriteAccess], responses=WRITE)

ZIP_MEDIA_TYPE = "application/zip"


# Class names are folder names a checkpoint was trained on: short words, as prompts are.
MAX_CLASS_CHARS = MAX_PROMPT_CHARS


class GenerateRequest(BaseModel):
    # ``class`` is a Python keyword: the field is ``class_name``, the JSON key "class".
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    family: Family
    n: int = Field(1, ge=1, le=MAX_IMAGES, description="Number of images.")
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="Image i is drawn from seed + i; random if absent."
    )
    sampler: Literal["ddim", "ddpm"] = Field("ddim", description="Diffusion only.")
    sampling_steps: int = Field(
        DEFAULT_SAMPLING_STEPS,
        ge=1,
        le=MAX_SAMPLING_STEPS,
        description="Diffusion only; with ddpm, strided DDPM over the model's 1000 steps.",
    )
    prompt: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_PROMPT_CHARS,
        description="What to draw: required by text_diffusion, refused by the other families.",
    )
    guidance: float | None = Field(
        None,
        ge=0.0,
        le=50.0,
        description="text_diffusion's classifier-free guidance scale (1: none; absent: the "
        "model's default).",
    )
    class_name: str | None = Field(
        None,
        alias="class",
        min_length=1,
        max_length=MAX_CLASS_CHARS,
        description="The class to draw, one of a class-conditional gan checkpoint's class "
        "names (its training folders); refused by checkpoints without classes.",
    )


class GeneratedImageOut(BaseModel):
    index: int
    seed: int
    file_name: str
    sha256: str
    media_type: str
    data_base64: str


class GenerateResponse(BaseModel):
    family: str
    model: str | None
    checkpoint_sha256: str
    seed: int
    n: int
    sampler: str | None
    steps: int | None
    width: int
    height: int
    prompt: str | None = None
    guidance: float | None = None
    class_name: str | None = Field(None, alias="class")
    seconds: float
    development_identity: bool
    images: list[GeneratedImageOut]


def _wants_zip(accept: str | None) -> bool:
    if not accept:
        return False
    return any(part.split(";")[0].strip() == ZIP_MEDIA_TYPE for part in accept.split(","))


def _zip(result: GenerationResult, summary: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    # PNG is already compressed: store, do not deflate again.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for image in result.images:
            archive.writestr(image.file_name, image.data)
        archive.writestr("generation.json", json.dumps(summary, indent=2))
    return buffer.getvalue()


@router.post(
    "/generate",
    response_model=GenerateResponse,
    responses={
        200: {
            "content": {ZIP_MEDIA_TYPE: {}},
            "description": "JSON with base64 PNGs; with `Accept: application/zip`, a zip of "
            "the PNGs plus generation.json.",
        },
        **BODY,
        **errors(
            described={
                404: "The family's checkpoint is not in the generators directory.",
                422: "A field is out of range, a prompt is empty, missing (text_diffusion) or "
                "sent to a family without conditioning, a class is not one of the "
                "checkpoint's (or it has none), or generating took longer than "
                "PROVAUDIT_GENERATE_TIMEOUT_S.",
            }
        ),
    },
)
async def generate(
    body: GenerateRequest,
    generators: GeneratorsDep,
    signer: SignerDep,
    settings: SettingsDep,
    response: Response,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """Images from a bundled generator, each C2PA-signed at birth (API key).

    Every PNG declares ``trainedAlgorithmicMedia`` and carries the
    ``org.provaudit.generator`` assertion (family, checkpoint sha256, seed, sampler,
    steps, the prompt and guidance scale of text_diffusion, the class of a
    class-conditional gan). Runs on onnxruntime, without torch.
    """
    try:
        generator = generators.get(body.family)  # a missing family: 404 before any work
    except GeneratorUnavailableError as exc:
        raise ApiError(404, exc.code, str(exc)) from None
    condition = None
    try:
        if body.prompt is not None or body.guidance is not None or body.class_name is not None:
            condition = Condition(
                prompt=body.prompt, class_name=body.class_name, guidance=body.guidance
            )
        # A condition the checkpoint cannot take, or a missing one it needs: 422 before
        # queueing.
        check_condition(body.family, generator.info.config, condition)
        class_index(generator.info.config, condition)  # a class the checkpoint does not know
    except ConditionError as exc:
        raise ApiError(422, exc.code, str(exc)) from None
    seed = body.seed if body.seed is not None else secrets.randbelow(MAX_SEED + 1)
    try:
        result = await run_bounded(
            lambda: generators.generate(
                body.family,
                body.n,
                signer,
                seed=seed,
                sampler=body.sampler,
                sampling_steps=body.sampling_steps,
                condition=condition,
            ),
            settings.generate_timeout_s,
        )
    except ApiError as exc:
        if exc.code != "processing_timeout":
            raise
        raise ApiError(
            422,
            "processing_timeout",
            f"Generating took longer than {settings.generate_timeout_s:g} s; "
            "ask for fewer images or sampling steps.",
        ) from None
    GENERATED_IMAGES.labels(result.family).inc(len(result.images))
    development = str(signer.identity.is_development).lower()
    summary = {**result.summary(), "development_identity": signer.identity.is_development}
    if _wants_zip(accept):
        return Response(
            _zip(result, summary),
            media_type=ZIP_MEDIA_TYPE,
            headers={
                "Content-Disposition": f'attachment; filename="provaudit-{result.family}.zip"',
                "X-Provaudit-Development-Identity": development,
            },
        )
    response.headers["X-Provaudit-Development-Identity"] = development
    data = {image.index: base64.b64encode(image.data).decode("ascii") for image in result.images}
    for entry in summary["images"]:
        entry["data_base64"] = data[entry["index"]]
    return summary
