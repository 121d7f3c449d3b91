"""Dependencies as ``Annotated`` aliases; heavy objects come from ``app.state`` (lifespan)."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from provenance.bankactions import BankActions
from provenance.hashbank import HashBank
from provenance.recovery import ManifestRecovery
from provenance.signing import ProvenanceSigner
from provenance.store import FingerprintStore
from provenance.verify import ProvenanceVerifier
from service.actioner import Actioner
from service.api.errors import ApiError
from service.api.uploads import WorkSlots
from service.config import Settings, get_settings
from service.generation import GeneratorSet
from service.pipeline import AuditPipeline

SettingsDep = Annotated[Settings, Depends(get_settings)]


def _state(request: Request, name: str) -> object:
    value = getattr(request.app.state, name, None)
    if value is None:
        raise ApiError(503, "not_ready", "The service is still starting; try again shortly.")
    return value


def get_session(request: Request) -> Iterator[Session]:
    factory = _state(request, "session_factory")
    with factory() as session:  # type: ignore[operator]
        yield session


def get_verifier(request: Request) -> ProvenanceVerifier:
    return _state(request, "verifier")  # type: ignore[return-value]


def get_signer(request: Request) -> ProvenanceSigner:
    return _state(request, "signer")  # type: ignore[return-value]


def get_pipeline(request: Request) -> AuditPipeline:
    return _state(request, "pipeline")  # type: ignore[return-value]


def get_generators(request: Request) -> GeneratorSet:
    return _state(request, "generators")  # type: ignore[return-value]


def get_work_slots(request: Request) -> WorkSlots:
    return _state(request, "work_slots")  # type: ignore[return-value]


def get_fingerprints(request: Request) -> FingerprintStore:
    return _state(request, "fingerprints")  # type: ignore[return-value]


def get_actioner(request: Request) -> Actioner:
    return _state(request, "actioner")  # type: ignore[return-value]


def get_bank_actions(request: Request) -> BankActions:
    return get_fingerprints(request).actions


def get_hashbank(request: Request) -> HashBank:
    return get_fingerprints(request).banks


def get_manifests(request: Request) -> ManifestRecovery:
    return get_fingerprints(request).manifests


def _key_matches(given: str | None, settings: Settings) -> bool:
    if not given:
        return False
    # Compare against every key so the time taken does not reveal which one nearly matched.
    matched = False
    for key in settings.api_keys:
        matched |= hmac.compare_digest(given.encode(), key.get_secret_value().encode())
    return matched


API_KEY = APIKeyHeader(
    name="X-API-Key",
    scheme_name="APIKey",
    description="One of PROVAUDIT_API_KEYS.",
    auto_error=False,  # require_api_key answers, in the service's own error body
)


def require_api_key(
    settings: SettingsDep, x_api_key: Annotated[str | None, Depends(API_KEY)] = None
) -> None:
    if not settings.api_keys:
        raise ApiError(403, "writes_disabled", "No API keys are configured (PROVAUDIT_API_KEYS).")
    if not _key_matches(x_api_key, settings):
        raise ApiError(401, "invalid_api_key", "A valid X-API-Key header is required.")


def require_read_access(
    settings: SettingsDep, x_api_key: Annotated[str | None, Header()] = None
) -> None:
    if settings.protect_reads and not _key_matches(x_api_key, settings):
        raise ApiError(401, "invalid_api_key", "A valid X-API-Key header is required.")


SessionDep = Annotated[Session, Depends(get_session)]
VerifierDep = Annotated[ProvenanceVerifier, Depends(get_verifier)]
SignerDep = Annotated[ProvenanceSigner, Depends(get_signer)]
PipelineDep = Annotated[AuditPipeline, Depends(get_pipeline)]
GeneratorsDep = Annotated[GeneratorSet, Depends(get_generators)]
WorkSlotsDep = Annotated[WorkSlots, Depends(get_work_slots)]
FingerprintsDep = Annotated[FingerprintStore, Depends(get_fingerprints)]
HashBankDep = Annotated[HashBank, Depends(get_hashbank)]
ActionerDep = Annotated[Actioner, Depends(get_actioner)]
BankActionsDep = Annotated[BankActions, Depends(get_bank_actions)]
ManifestsDep = Annotated[ManifestRecovery, Depends(get_manifests)]
WriteAccess = Depends(require_api_key)
ReadAccess = Depends(require_read_access)
