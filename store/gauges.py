"""The figures a claims team watches on a dashboard, read cheaply enough to refresh every few
seconds: each count is an index-only or partial-index scan (0003, 0006, 0007), never a pass
over every claim."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg


@dataclass(frozen=True)
class ClaimGauges:
    open_by_stage: dict[str, int] = field(default_factory=dict)
    open_by_city: dict[str, int] = field(default_factory=dict)
    overdue_tasks: int = 0
    stalled_claims: int = 0
    notifications_waiting: int = 0
    broken_workflows: int = 0


async def read(pool: asyncpg.Pool) -> ClaimGauges:
    """One consistent snapshot of every gauge."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        by_stage = await conn.fetch(
            "SELECT stage, count(*) AS n FROM claims WHERE status = 'open' GROUP BY stage"
        )
        by_city = await conn.fetch(
            "SELECT city, count(*) AS n FROM claims WHERE status = 'open' GROUP BY city"
        )
        row = await conn.fetchrow(
            """
            SELECT
              (SELECT count(*) FROM tasks WHERE status = 'open' AND due_at < now()) AS overdue,
              (SELECT count(*) FROM claims WHERE status = 'open' AND stalled) AS stalled,
              (SELECT count(*) FROM notifications WHERE delivered_at IS NULL) AS waiting,
              (SELECT count(*) FROM claims WHERE workflow_status IS NOT NULL) AS broken
            """
        )
    return ClaimGauges(
        open_by_stage={r["stage"]: r["n"] for r in by_stage},
        open_by_city={r["city"]: r["n"] for r in by_city},
        overdue_tasks=row["overdue"],
        stalled_claims=row["stalled"],
        notifications_waiting=row["waiting"],
        broken_workflows=row["broken"],
    )
