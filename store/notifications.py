"""The notifications outbox: a notification is inserted once by id and marked when delivered."""

from __future__ import annotations

from typing import Any

import asyncpg

from domain.notifications import Notification


async def enqueue(conn: asyncpg.Connection, n: Notification, channel: str) -> bool:
    """Insert unless present; True if it still needs delivering."""
    await conn.execute(
        """
        INSERT INTO notifications (notification_id, claim_id, task_id, kind, recipient, role,
            channel, message, payload, created_at)
        VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)
        ON CONFLICT (notification_id) DO NOTHING
        """,
        n.notification_id,
        n.claim_id,
        n.task_id,
        n.kind.value,
        n.recipient,
        n.role.value if n.role else None,
        channel,
        n.message,
        n.payload,
        n.created_at,
    )
    delivered = await conn.fetchval(
        "SELECT delivered_at FROM notifications WHERE notification_id = $1", n.notification_id
    )
    return delivered is None


async def mark(pool: asyncpg.Pool, notification_id: str, error: str | None) -> None:
    if error is None:
        await pool.execute(
            "UPDATE notifications SET delivered_at = now(), attempts = attempts + 1,"
            " last_error = NULL WHERE notification_id = $1 AND delivered_at IS NULL",
            notification_id,
        )
    else:
        await pool.execute(
            "UPDATE notifications SET attempts = attempts + 1, last_error = $2"
            " WHERE notification_id = $1",
            notification_id,
            error[:2000],
        )


async def for_claim(pool: asyncpg.Pool, claim_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT notification_id, claim_id, task_id, kind, recipient, role, channel, message,"
        " payload, created_at, delivered_at, attempts FROM notifications"
        " WHERE claim_id = $1 ORDER BY created_at, notification_id",
        claim_id,
    )
    return [dict(r) for r in rows]
