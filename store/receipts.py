"""Replay protection for signed webhooks: a signature is accepted once while it is valid."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg


class AlreadyReceived(Exception):
    pass


@asynccontextmanager
async def receiving(pool: asyncpg.Pool, signature: str, window_seconds: int) -> AsyncIterator[None]:
    """Hold the signature while the message is handled: it counts as received only if the
    handling succeeds, so the sender's retry after our failure is not mistaken for a replay.
    A concurrent duplicate waits on the row and then finds it."""
    async with pool.acquire() as conn, conn.transaction():
        # Receipts older than the signing window can never match again: forget them.
        await conn.execute(
            "DELETE FROM webhook_receipts WHERE received_at < now() - make_interval(secs => $1)",
            float(window_seconds * 2),
        )
        inserted = await conn.fetchval(
            "INSERT INTO webhook_receipts (signature) VALUES ($1)"
            " ON CONFLICT DO NOTHING RETURNING true",
            signature,
        )
        if not inserted:
            raise AlreadyReceived(signature)
        yield
