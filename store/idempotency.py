"""Answers to requests made with an Idempotency-Key, per user: the same key and body get the
same answer; the same key with another body is a conflict.

A key is taken inside a transaction that stays open while its request runs, and committed
with the answer. If the request or the database connection dies, PostgreSQL rolls the key
back, so a retry runs afresh instead of finding a key stuck "in progress". A concurrent
duplicate waits on the uncommitted row, then finds the answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

KEEP_HOURS = 24


@dataclass(frozen=True)
class Stored:
    body_sha256: str
    status_code: int
    response: Any


class Taken:
    """A key held for a running request; `keep` records its answer when the request ends."""

    def __init__(self, conn: asyncpg.Connection, user_id: str, key: str) -> None:
        self._conn, self._user_id, self._key = conn, user_id, key
        self.kept = False

    async def keep(self, status_code: int, response: Any) -> None:
        await self._conn.execute(
            "UPDATE idempotency_keys SET status_code = $3, response = $4"
            " WHERE user_id = $1 AND key = $2",
            self._user_id,
            self._key,
            status_code,
            response,
        )
        self.kept = True


@asynccontextmanager
async def taking(
    pool: asyncpg.Pool, user_id: str, key: str, method: str, path: str, body_sha256: str
) -> AsyncIterator[Stored | Taken]:
    """Yields what is stored under the key, or the key taken for this request. The key is
    committed only if `Taken.keep` was called and the block ended without an exception."""
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        open_ = True

        async def end(commit: bool) -> None:
            nonlocal open_
            open_ = False
            await (tx.commit() if commit else tx.rollback())

        try:
            inserted = await conn.fetchval(
                """
                INSERT INTO idempotency_keys (user_id, key, method, path, body_sha256)
                VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true
                """,
                user_id,
                key,
                method,
                path,
                body_sha256,
            )
            if inserted:
                taken = Taken(conn, user_id, key)
                yield taken
                await end(commit=taken.kept)
                return
            row = await conn.fetchrow(
                "SELECT body_sha256, status_code, response FROM idempotency_keys"
                " WHERE user_id = $1 AND key = $2",
                user_id,
                key,
            )
            await end(commit=False)
            yield Stored(row["body_sha256"], row["status_code"], row["response"])
        except BaseException:
            if open_:
                try:
                    await tx.rollback()
                except Exception:  # noqa: BLE001 - the connection itself may be gone
                    pass
            raise


async def forget_old(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)",
        KEEP_HOURS,
    )
