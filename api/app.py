"""The FastAPI application, assembled in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.claims_client import ClaimError, ClaimsClient
from api.errors import claim_error_handler
from api.idempotency import IdempotencyMiddleware
from api.routes import auth, codec, agents, claims, figures, health, insurer, tasks, views
from claimflow.logging import configure_logging
from claimflow.settings import Settings
from claimflow.temporal import connect
from store.db import create_pool


def create_app(settings: Settings, claims_client: ClaimsClient | None = None) -> FastAPI:
    """With `claims_client` given (tests, `claimflow up`) the app uses it; otherwise it
    connects to Temporal and PostgreSQL from the settings at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_format, settings.log_level)
        if claims_client is not None:
            yield
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
            app.state.claims = ClaimsClient(client, pool, settings.temporal_task_queue)
            yield
        finally:
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
    app.add_middleware(IdempotencyMiddleware)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(codec.router)
    app.include_router(claims.router)
    app.include_router(tasks.router)
    app.include_router(agents.router)
    app.include_router(insurer.router)
    app.include_router(figures.router)
    app.include_router(views.router)
    return app
