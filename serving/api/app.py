"""`create_app(settings)`: the FastAPI application, its state and its routers."""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI

from serving.api import contract, docs, observability, problems
from serving.api.deps import RateLimiter, ServiceState
from serving.api.guard import RequestGuard
from serving.api.routes import appraisals, health, me, reviews, web
from serving.batcher import MicroBatcher
from serving.bundle import usable_cores
from serving.runner import ReviewerPanel
from serving.settings import Settings, load_settings
from serving.store import audit
from serving.store.db import open_database, session_factory
from serving.store.photos import PhotoStore
from serving.verdict import load_policy


def load_panel(settings: Settings) -> ReviewerPanel:
    from serving.registry import open_bundle

    policy = load_policy(settings.policy_path)
    bundles = {
        name: open_bundle(reference, settings.models_dir, threads=settings.inference_threads)
        for name, reference in settings.reviewers.items()
    }
    return ReviewerPanel(bundles, policy)


def create_app(settings: Settings | None = None, panel: ReviewerPanel | None = None) -> FastAPI:
    """Build the app; models and database are opened at startup, not at import."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = open_database(settings.database_url, migrate=True)
        reviewers = panel or load_panel(settings)
        batcher = MicroBatcher(reviewers, settings.batch_photos).start()
        app.state.service = ServiceState(
            settings=settings,
            sessions=audit.configure(session_factory(engine), settings.audit_config()),
            photos=PhotoStore(settings.photo_store),
            panel=reviewers,
            limiter=RateLimiter(settings.uploads_per_minute),
            batcher=batcher,
            decode_slots=threading.BoundedSemaphore(settings.max_concurrent_decodes or usable_cores()),
        )
        yield
        batcher.close()
        engine.dispose()

    app = FastAPI(
        title="secondlook",
        version="1",
        summary="Dual-review authenticity verdicts and condition reports for second-hand luxury goods.",
        lifespan=lifespan,
        docs_url=None,  # serving.api.docs serves /docs from this origin, not a CDN
        redoc_url=None,
        # A form holds no more parts than an appraisal needs: its photos, a view per photo, and
        # its category, declared value and client reference.
        form_limits={"max_files": settings.max_photos, "max_fields": settings.max_photos + 3},
    )
    problems.install(app)
    # Key and body size checked before the body is read; inside observability, so that its
    # 401s and 413s get a request id, a log line and a metric.
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_request_bytes)
    app.state.metrics = observability.install(app)
    app.include_router(health.router)
    app.include_router(appraisals.router)
    app.include_router(reviews.router)
    app.include_router(me.router)
    web.install(app)
    docs.install(app)
    contract.install(app, settings.max_photos)
    return app
