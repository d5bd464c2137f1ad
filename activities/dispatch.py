"""Offline dispatch: choose a field agent in the user's city by availability and workload."""

from __future__ import annotations

import asyncpg
import structlog
from pydantic import BaseModel
from temporalio import activity

from store import agents

log = structlog.get_logger(__name__)


class AgentQuery(BaseModel):
    city: str
    exclude: list[str] = []
    """Agents who declined this claim already."""


class DispatchActivities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="pick_field_agent")
    async def pick_field_agent(self, query: AgentQuery) -> str | None:
        """The available agent in the city with the fewest open tasks; None if nobody is.

        A read only: a retry may pick differently, and the workflow records the pick.
        """
        agent = await agents.least_busy(self._pool, query.city, query.exclude)
        log.info("field_agent_picked", city=query.city, agent=agent, excluded=query.exclude)
        return agent
