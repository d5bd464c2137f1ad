"""Field agents: who works in which city, and whether they are available for dispatch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path

from api.auth import Manager, require_user
from api.deps import PoolDep
from api.exact import Exact
from api.schemas import Problem
from store import agents
from store.agents import FieldAgent, FieldAgentInput

router = APIRouter(
    prefix="/field-agents", tags=["field agents"], dependencies=[Depends(require_user)]
)

AgentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


@router.put("/{agent_id}", response_model=FieldAgent, responses={403: {"model": Problem}})
async def put_agent(
    agent_id: AgentId, agent: Exact[FieldAgentInput], pool: PoolDep, _: Manager
) -> FieldAgent:
    """Create or update an agent; putting the same body twice changes nothing."""
    return await agents.upsert(pool, agent_id, agent)


@router.get("", response_model=list[FieldAgent])
async def list_agents(pool: PoolDep, city: str | None = None) -> list[FieldAgent]:
    return await agents.list_agents(pool, city)


@router.get("/{agent_id}", response_model=FieldAgent, responses={404: {"model": Problem}})
async def get_agent(agent_id: AgentId, pool: PoolDep) -> FieldAgent:
    agent = await agents.get(pool, agent_id)
    if agent is None:
        raise HTTPException(status_code=404, detail=f"no field agent {agent_id}")
    return agent
