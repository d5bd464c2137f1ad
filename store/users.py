"""Users of the back office: who they are, their role and city, and their password hash."""

from __future__ import annotations

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from domain.vocabulary import Role

# Argon2id with the library's defaults (RFC 9106 low-memory profile).
_hasher = PasswordHasher()


class User:
    __slots__ = ("user_id", "name", "role", "city", "active")

    def __init__(self, user_id: str, name: str, role: str, city: str | None, active: bool):
        self.user_id, self.name, self.role, self.city, self.active = (
            user_id, name, Role(role), city, active
        )


async def upsert(
    pool: asyncpg.Pool,
    user_id: str,
    *,
    name: str,
    role: Role,
    city: str | None,
    password: str,
    active: bool = True,
) -> None:
    await pool.execute(
        """
        INSERT INTO users (user_id, name, role, city, password_hash, active)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (user_id) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role,
            city = EXCLUDED.city, password_hash = EXCLUDED.password_hash,
            active = EXCLUDED.active, updated_at = now()
        """,
        user_id,
        name,
        role.value,
        city,
        _hasher.hash(password),
        active,
    )


async def set_active(pool: asyncpg.Pool, user_id: str, active: bool) -> bool:
    done = await pool.execute(
        "UPDATE users SET active = $2, updated_at = now() WHERE user_id = $1", user_id, active
    )
    return done.endswith(" 1")


async def list_users(pool: asyncpg.Pool) -> list[User]:
    rows = await pool.fetch(
        "SELECT user_id, name, role, city, active FROM users ORDER BY role, user_id"
    )
    return [User(**dict(r)) for r in rows]


async def authenticate(pool: asyncpg.Pool, user_id: str, password: str) -> User | None:
    """The user if the password is right and the account active; None otherwise."""
    row = await pool.fetchrow(
        "SELECT user_id, name, role, city, active, password_hash FROM users WHERE user_id = $1",
        user_id,
    )
    if row is None:
        _hasher.hash(password)  # same cost either way: no user enumeration by timing
        return None
    try:
        _hasher.verify(row["password_hash"], password)
    except (VerificationError, InvalidHashError):
        return None
    if not row["active"]:
        return None
    if _hasher.check_needs_rehash(row["password_hash"]):
        await pool.execute(
            "UPDATE users SET password_hash = $2 WHERE user_id = $1",
            user_id,
            _hasher.hash(password),
        )
    return User(row["user_id"], row["name"], row["role"], row["city"], row["active"])


async def exists(pool: asyncpg.Pool) -> bool:
    return bool(await pool.fetchval("SELECT EXISTS (SELECT 1 FROM users)"))
