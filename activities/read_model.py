"""Projection of claim state into the PostgreSQL read model."""

from __future__ import annotations

import asyncpg
import structlog
from temporalio import activity

from domain.models import ClaimChanges, ClaimProjection
from store import read_model

log = structlog.get_logger(__name__)


class ReadModelActivities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="project_changes")
    async def project_changes(self, changes: ClaimChanges) -> None:
        """What changed on a claim (run as a local activity). Idempotent: a retry or a
        replay writes the same rows, never duplicates."""
        await read_model.write_changes(self._pool, changes)
        log.info(
            "claim_projected",
            claim_id=changes.claim_id,
            version=changes.version,
            tasks=len(changes.tasks),
            entries=len(changes.timeline),
            attempt=activity.info().attempt,
        )

    @activity.defn(name="project_claim")
    async def project_claim(self, projection: ClaimProjection) -> None:
        """The whole claim, as claims opened before `project_changes` still send it."""
        await read_model.write_projection(self._pool, projection)
        log.info(
            "claim_projected",
            claim_id=projection.claim.claim_id,
            version=projection.claim.version,
            stage=projection.claim.stage.value,
            attempt=activity.info().attempt,
        )
