"""The people the tests act as exist in the users table, as they would in a deployment.

The API reads every caller's current state (active, role, city) from `users` on each request,
so a token is only good for a user who is there. `bearer()` mints a token the way sign-in
would, for a person it first creates (or restores: active, with this role and city), as an
admin would with `PUT /users`; `CAST` are the people tests name without signing in as them
(e.g. the consultant a task is moved to), created if missing.

`bearer()` is synchronous and called from async tests, so the write runs on an event loop of
its own in a helper thread (one short connection, one statement)."""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import asyncpg

from claimflow.settings import Settings
from domain.vocabulary import Role

CAST: list[tuple[str, Role, str | None]] = [
    ("xiao.gao", Role.CONSULTANT, None),  # the reference case's consultant
    ("xiao.zheng", Role.FIELD_AGENT, "Beijing"),  # and its field agent
    ("xiao.li", Role.CONSULTANT, None),  # the colleague tasks are moved to
]
"""People the tests name as assignees without signing in as them."""

_UPSERT = """
INSERT INTO users (user_id, name, role, city, password_hash, active)
SELECT u, u, r, c, $5, true FROM unnest($1::text[], $2::text[], $3::text[]) AS p(u, r, c)
ON CONFLICT (user_id) DO UPDATE SET role = EXCLUDED.role, city = EXCLUDED.city,
    active = true, updated_at = now()
 WHERE users.user_id = ANY($4::text[])
"""

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-people")


@cache
def _unusable_hash() -> str:
    """A password hash nobody knows the password of: these people sign in by minted token.
    (Existing users keep their password: the console tests sign in with theirs.)"""
    from store.users import _hasher

    return _hasher.hash(secrets.token_urlsafe(24))


async def _upsert(dsn: str, people: list[tuple[str, Role, str | None]], restore: list[str]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            _UPSERT,
            [p[0] for p in people],
            [p[1].value for p in people],
            [p[2] for p in people],
            restore,
            _unusable_hash(),
        )
    finally:
        await conn.close()


def provision(settings: Settings, user_id: str, role: Role, city: str | None) -> None:
    """Make `user_id` an active user with this role and city, and the cast present."""
    if settings.database_url is None:
        return
    people = [p for p in CAST if p[0] != user_id] + [(user_id, role, city)]
    _executor.submit(asyncio.run, _upsert(settings.database_url, people, [user_id])).result(60)
