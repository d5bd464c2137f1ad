"""Field agents: who works in which city, and who is available."""

from __future__ import annotations

import asyncpg
from pydantic import BaseModel

from domain.vocabulary import Name, Phone


class FieldAgentInput(BaseModel):
    name: Name
    city: Name
    phone: Phone | None = None
    available: bool = True


class FieldAgent(FieldAgentInput):
    agent_id: str
    open_tasks: int = 0


async def upsert(pool: asyncpg.Pool, agent_id: str, a: FieldAgentInput) -> FieldAgent:
    await pool.execute(
        """
        INSERT INTO field_agents (agent_id, name, city, phone, available)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (agent_id) DO UPDATE SET name = EXCLUDED.name, city = EXCLUDED.city,
            phone = EXCLUDED.phone, available = EXCLUDED.available, updated_at = now()
        """,
        agent_id,
        a.name,
        a.city.strip(),
        a.phone,
        a.available,
    )
    got = await get(pool, agent_id)
    assert got is not None
    return got


_SELECT = """
    SELECT a.agent_id, a.name, a.city, a.phone, a.available,
           (SELECT count(*) FROM tasks t
             WHERE t.assignee = a.agent_id AND t.status = 'open') AS open_tasks
      FROM field_agents a
"""


async def get(pool: asyncpg.Pool, agent_id: str) -> FieldAgent | None:
    row = await pool.fetchrow(_SELECT + " WHERE a.agent_id = $1", agent_id)
    return FieldAgent(**dict(row)) if row else None


async def list_agents(pool: asyncpg.Pool, city: str | None) -> list[FieldAgent]:
    if city:
        rows = await pool.fetch(
            _SELECT + " WHERE lower(a.city) = lower($1) ORDER BY a.agent_id", city.strip()
        )
    else:
        rows = await pool.fetch(_SELECT + " ORDER BY a.city, a.agent_id")
    return [FieldAgent(**dict(r)) for r in rows]


async def least_busy(pool: asyncpg.Pool, city: str, exclude: list[str]) -> str | None:
    """Ties go to the agent id, so the same data always gives the same agent."""
    return await pool.fetchval(
        """
        SELECT a.agent_id FROM field_agents a
         WHERE a.available AND lower(a.city) = lower($1) AND NOT (a.agent_id = ANY($2::text[]))
         ORDER BY (SELECT count(*) FROM tasks t
                    WHERE t.assignee = a.agent_id AND t.status = 'open'), a.agent_id
         LIMIT 1
        """,
        city.strip(),
        exclude,
    )
