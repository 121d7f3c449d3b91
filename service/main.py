"""The FastAPI application: routers per resource, heavy objects loaded once in lifespan."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response

from provenance import __version__
from service.api.errors import install_error_handlers
from service.api.limits import BodySizeLimitMiddleware
from service.api.routes import audits, banks, generate, hashes, health, matches, sign, verify, web
from service.api.uploads import WorkSlots
from service.config import Settings, get_settings
from service.metrics import REQUEST_LATENCY

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from provenance.store import FingerprintStore

logger = logging.getLogger("provaudit.service")


PILLOW_BLOCK_BYTES = 64 << 20
"""Above glibc's largest mmap threshold (32 MiB), so a decoded upload's pixel blocks are
mapped pages that go back to the system when the image is freed, rather than heap the
process keeps at its high-water mark."""


def _return_image_memory_to_the_system() -> None:
    from PIL import Image

    Image.core.set_block_size(PILLOW_BLOCK_BYTES)


def load_state(app: FastAPI, settings: Settings) -> None:
    """Database, verifier, signer and audit pipeline: built once per process."""
    from provenance.keys import DEV_IDENTITY_NOTICE, default_identity
    from provenance.signing import ProvenanceSigner
    from service.ai_origin import load_detector
    from service.audit.setup import audit_verifier
    from service.db import make_engine, make_session_factory
    from service.generation import load_generators
    from service.pipeline import AuditPipeline

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _return_image_memory_to_the_system()
    engine = make_engine(settings.sqlalchemy_url)
    identity, created = default_identity()
    if created:
        logger.warning("Created a development signing identity. %s", DEV_IDENTITY_NOTICE)
    # The same verifier `provaudit audit` builds (service.audit.setup).
    verifier = audit_verifier(settings)
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.verifier = verifier
    app.state.work_slots = WorkSlots(settings.max_concurrent_uploads)
    store = _open_fingerprint_store(engine, settings)
    app.state.fingerprints = store
    # A parent ingredient (/v1/sign) is validated against the anchors audits use.
    app.state.signer = ProvenanceSigner(
        identity,
        recorder=store.manifests if settings.record_signatures else None,
        trust_anchors_pem=(verifier.trust_anchors_pem or "")
        + (identity.root_pem or b"").decode("ascii"),
    )
    detector = load_detector(settings.detector)
    if detector is None:
        logger.warning("No detector checkpoint: audits carry no AI-origin score.")
    app.state.pipeline = AuditPipeline(verifier, scorer=detector, fingerprints=store)
    app.state.actioner = _start_actioner(store, settings)
    app.state.generators = load_generators(settings.generators_dir)
    app.state.reports = _report_jobs(engine, settings)
    app.state.ready = True


def _open_fingerprint_store(engine: Engine, settings: Settings) -> FingerprintStore:
    """The registry in the service's database, with its indexes loaded (or rebuilt) now."""
    from service.audit.setup import open_fingerprint_store

    store = open_fingerprint_store(engine, settings)
    store.start_autosave(settings.hash_index_autosave_s)
    return store


def _start_actioner(store: FingerprintStore, settings: Settings) -> object:
    """The webhook sender of bank matches, resuming what a previous run left pending."""
    from service.actioner import Actioner, RetryPolicy

    actioner = Actioner(
        store.actions,
        RetryPolicy(
            max_attempts=settings.action_max_attempts,
            first_backoff_s=settings.action_backoff_s,
            max_backoff_s=settings.action_max_backoff_s,
            timeout_s=settings.action_timeout_s,
        ),
        senders=settings.action_senders,
    )
    actioner.start()
    return actioner


def _report_jobs(engine: object, settings: Settings) -> object:
    """Bias-report jobs (their table is in the migrated schema) and their worker threads."""
    from service.ai_origin import BUNDLED_DETECTOR
    from service.db import make_session_factory
    from service.report_jobs import ReportJobs, ReportSettings

    detector = settings.detector
    if detector is None and (BUNDLED_DETECTOR / "config.json").is_file():
        detector = BUNDLED_DETECTOR
    return ReportJobs(
        make_session_factory(engine),  # type: ignore[arg-type]
        ReportSettings(
            root=settings.reports_root,
            out_root=settings.data_dir / "reports",
            detector=detector,
            workers=settings.report_workers,
        ),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ready = False
        load_state(app, settings)
        yield
        app.state.ready = False
        if app.state.pipeline.scorer is not None:
            app.state.pipeline.scorer.close()
        app.state.actioner.close()
        app.state.fingerprints.close()
        app.state.reports.close()
        app.state.engine.dispose()

    app = FastAPI(
        title="provaudit",
        version=__version__,
        summary="AI-origin audit, C2PA verification and signing.",
        lifespan=lifespan,
        # Served by service.api.routes.web from local files: FastAPI's own load from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.dependency_overrides[get_settings] = lambda: settings
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_upload_bytes,
        read_timeout_s=settings.body_read_timeout_s,
    )

    @app.middleware("http")
    async def record_latency(request: Request, call_next) -> Response:  # noqa: ANN001
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        REQUEST_LATENCY.labels(
            request.method, getattr(route, "path", "unmatched"), str(response.status_code)
        ).observe(time.perf_counter() - start)
        return response

    for router in (web.router, health.router, verify.router, sign.router, audits.router):
        app.include_router(router)
    app.include_router(generate.router)
    for router in (hashes.router, banks.router, matches.router):
        app.include_router(router)
    from service.api.routes import reports  # dataset bias reports (service.bias)

    app.include_router(reports.router)
    return app
