"""The FastAPI application, assembled in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError

from api.claims_client import ClaimError, ClaimsClient
from api.errors import (
    UNAVAILABLE,
    UNSTORABLE_TEXT,
    claim_error_handler,
    database_unavailable_handler,
    request_validation_handler,
    temporal_timeout_handler,
    temporal_unavailable_handler,
    unstorable_text_handler,
)
from api.idempotency import IdempotencyMiddleware, close_idempotency_pool
from api.limits import BodyLimitMiddleware
from api.openapi import document_cross_cutting_responses
from api.routes import (
    agents,
    auth,
    claims,
    codec,
    figures,
    health,
    inbox,
    insurer,
    progress,
    tasks,
    views,
)
from claimflow.logging import configure_logging, unhandled_error
from claimflow.metrics import ApiMetrics, RequestMetricsMiddleware, gauges_refreshing
from claimflow.settings import Settings
from claimflow.temporal import connect
from console import STATIC as CONSOLE_STATIC
from store.db import create_pool


def create_app(settings: Settings, claims_client: ClaimsClient | None = None) -> FastAPI:
    """With `claims_client` given (tests, `claimflow up`) the app uses it; otherwise it
    connects to Temporal and PostgreSQL from the settings at start-up."""

    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_format, settings.log_level)
        settings.warn_if_the_calendar_runs_out()
        if claims_client is not None:
            async with gauges_refreshing(claims_client.pool, metrics, settings.metrics_refresh):
                yield
            await close_idempotency_pool(app)
            return
        if not settings.database_url:
            raise RuntimeError("DATABASE_URL is not set")
        pool = await create_pool(
            settings.database_url,
            min_size=settings.database_pool_min,
            max_size=settings.database_pool_max,
        )
        try:
            client = await connect(settings)
            app.state.claims = ClaimsClient(
                client,
                pool,
                settings.temporal_task_queue,
                open_timeout=settings.claim_open_timeout.total_seconds(),
            )
            async with gauges_refreshing(pool, metrics, settings.metrics_refresh):
                yield
        finally:
            await close_idempotency_pool(app)
            await pool.close()

    app = FastAPI(
        title="claimflow",
        version="0.1.0",
        summary="Assisted insurance claims: claims, tasks and their live state.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    if claims_client is not None:
        app.state.claims = claims_client
    app.add_exception_handler(ClaimError, claim_error_handler)
    for unstorable in UNSTORABLE_TEXT:
        app.add_exception_handler(unstorable, unstorable_text_handler)
    for outage in UNAVAILABLE:
        app.add_exception_handler(outage, database_unavailable_handler)
    app.add_exception_handler(RPCError, temporal_unavailable_handler)
    app.add_exception_handler(RPCTimeoutOrCancelledError, temporal_timeout_handler)
    app.add_exception_handler(RequestValidationError, request_validation_handler)
    # Any other exception: 500 and one short log line with the request's ids.
    app.add_exception_handler(Exception, unhandled_error)
    app.add_middleware(IdempotencyMiddleware)
    # Outermost of ours: a body over the limit is refused before anything reads it.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    # Outermost: every answer is counted, the 413s included.
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    app.add_route("/metrics", metrics.endpoint, include_in_schema=False)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(codec.router)
    app.include_router(claims.router)
    app.include_router(tasks.router)
    app.include_router(agents.router)
    app.include_router(insurer.router)
    app.include_router(figures.router)
    app.include_router(views.router)
    app.include_router(inbox.router)
    app.include_router(progress.router)
    app.mount("/console", StaticFiles(directory=CONSOLE_STATIC, html=True), name="console")
    document_cross_cutting_responses(app)
    return app
