"""Saved views: a named claim search a team shares. The filters are stored as the API
validated them; this module does not interpret them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class SavedViewRow:
    view_id: str
    team: str
    name: str
    filters: dict[str, Any]
    created_by: str
    created_at: datetime


_COLUMNS = "view_id, team, name, filters, created_by, created_at"


async def create(
    pool: asyncpg.Pool,
    *,
    view_id: str,
    team: str,
    name: str,
    filters: dict[str, Any],
    created_by: str,
) -> SavedViewRow | None:
    """The new view; None when the team already has a view by that name."""
    row = await pool.fetchrow(
        f"""
        INSERT INTO saved_views (view_id, team, name, filters, created_by)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (team, name) DO NOTHING
        RETURNING {_COLUMNS}
        """,
        view_id,
        team,
        name,
        filters,
        created_by,
    )
    return SavedViewRow(**dict(row)) if row else None


async def get(pool: asyncpg.Pool, view_id: str) -> SavedViewRow | None:
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM saved_views WHERE view_id = $1", view_id)
    return SavedViewRow(**dict(row)) if row else None


async def for_team(pool: asyncpg.Pool, team: str) -> list[SavedViewRow]:
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM saved_views WHERE team = $1 ORDER BY name", team
    )
    return [SavedViewRow(**dict(r)) for r in rows]


async def delete(pool: asyncpg.Pool, view_id: str) -> bool:
    return (
        await pool.fetchval("DELETE FROM saved_views WHERE view_id = $1 RETURNING true", view_id)
        is not None
    )
