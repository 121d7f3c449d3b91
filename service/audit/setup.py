"""The audit pipeline as the service builds it, for the service and the command alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy import Engine

    from provenance.store import FingerprintStore
    from provenance.verify import ProvenanceVerifier
    from service.config import Settings
    from service.pipeline import AuditPipeline


def audit_verifier(settings: Settings) -> ProvenanceVerifier:
    """The trust list, the configured anchors and, with ``trust_dev_identity``, the
    development identity's root where one exists (the service creates it first; the
    command never creates one, and without it nothing it signed can be trusted anyway)."""
    from provenance.verify import ProvenanceVerifier

    root = dev_root(settings)
    anchors = [*settings.trust_anchors, *([root] if root is not None else [])]
    return ProvenanceVerifier.with_trust_list(settings.trust_list, anchors)


def dev_root(settings: Settings) -> Path | None:
    """The development identity's root certificate, when trusted and present."""
    from provenance.keys import ROOT_FILE, default_identity_dir

    root = default_identity_dir() / ROOT_FILE
    return root if settings.trust_dev_identity and root.is_file() else None


def open_fingerprint_store(engine: Engine | str, settings: Settings) -> FingerprintStore:
    """The registry in the service's database, with its indexes loaded (or rebuilt) now."""
    from provenance.locations import default_index_dir
    from provenance.registry import Registry
    from provenance.store import FingerprintStore

    index_dir = settings.hash_index_dir or default_index_dir(
        settings.sqlalchemy_url, settings.data_dir
    )
    store = FingerprintStore(Registry(engine), index_dir)
    store.open_indexes()
    return store


def open_pipeline(settings: Settings) -> AuditPipeline:
    """What ``load_state`` builds for ``/v1/audit``, without the web parts: close it with
    :func:`close_pipeline`."""
    from service.ai_origin import load_detector
    from service.pipeline import AuditPipeline

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    verifier = audit_verifier(settings)
    store = open_fingerprint_store(settings.sqlalchemy_url, settings)
    try:
        detector = load_detector(settings.detector)
    except BaseException:
        store.close(save=False)
        raise
    return AuditPipeline(verifier, scorer=detector, fingerprints=store)


def close_pipeline(pipeline: AuditPipeline, *, save: bool = True) -> None:
    if pipeline.scorer is not None:
        pipeline.scorer.close()
    if pipeline.fingerprints is not None:
        pipeline.fingerprints.close(save=save)
