"""Projection of claim state into the PostgreSQL read model."""

from __future__ import annotations

import asyncpg
import structlog
from temporalio import activity

from domain.models import ClaimProjection
from store import read_model

log = structlog.get_logger(__name__)


class ReadModelActivities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="project_claim")
    async def project_claim(self, projection: ClaimProjection) -> None:
        """Idempotent: a retry or a replay writes the same rows, never duplicates."""
        await read_model.write_projection(self._pool, projection)
        log.info(
            "claim_projected",
            claim_id=projection.claim.claim_id,
            version=projection.claim.version,
            stage=projection.claim.stage.value,
            attempt=activity.info().attempt,
        )
