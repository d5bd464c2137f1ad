"""Answers to requests made with an Idempotency-Key, per user: the same key and body get the
same answer; the same key with another body is a conflict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

KEEP_HOURS = 24


@dataclass(frozen=True)
class Stored:
    body_sha256: str
    status_code: int | None  # None: the first request is still running
    response: Any


async def claim(
    pool: asyncpg.Pool, user_id: str, key: str, method: str, path: str, body_sha256: str
) -> Stored | None:
    """Take the key for this request; None if it is new, else what is stored under it."""
    async with pool.acquire() as conn:
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
            return None
        row = await conn.fetchrow(
            "SELECT body_sha256, status_code, response FROM idempotency_keys"
            " WHERE user_id = $1 AND key = $2",
            user_id,
            key,
        )
    return Stored(row["body_sha256"], row["status_code"], row["response"]) if row else None


async def store(
    pool: asyncpg.Pool, user_id: str, key: str, status_code: int, response: Any
) -> None:
    await pool.execute(
        "UPDATE idempotency_keys SET status_code = $3, response = $4"
        " WHERE user_id = $1 AND key = $2",
        user_id,
        key,
        status_code,
        response,
    )


async def release(pool: asyncpg.Pool, user_id: str, key: str) -> None:
    """The request failed on our side: a retry with the same key may run it again."""
    await pool.execute(
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND status_code IS NULL",
        user_id,
        key,
    )


async def forget_old(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)",
        KEEP_HOURS,
    )
