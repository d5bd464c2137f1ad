"""Field agents: who works in which city, and whether they are available for dispatch.

An agent's phone is for those who dispatch (consultants, managers, admins) and for the agent
himself; everyone else gets the same list without phones.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path

from api.auth import CurrentUser, Manager, Principal, require_user
from api.deps import PoolDep
from api.exact import Exact
from api.schemas import Problem
from domain.vocabulary import Role
from store import agents
from store.agents import FieldAgent, FieldAgentInput

router = APIRouter(
    prefix="/field-agents", tags=["field agents"], dependencies=[Depends(require_user)]
)

DISPATCHERS = frozenset({Role.CONSULTANT, Role.MANAGER, Role.ADMIN})


def _as_seen_by(user: Principal, agent: FieldAgent) -> FieldAgent:
    if user.role in DISPATCHERS or user.user_id == agent.agent_id:
        return agent
    return agent.model_copy(update={"phone": None})


AgentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


@router.put("/{agent_id}", response_model=FieldAgent, responses={403: {"model": Problem}})
async def put_agent(
    agent_id: AgentId, agent: Exact[FieldAgentInput], pool: PoolDep, _: Manager
) -> FieldAgent:
    """Create or update an agent; putting the same body twice changes nothing."""
    return await agents.upsert(pool, agent_id, agent)


@router.get("", response_model=list[FieldAgent])
async def list_agents(
    pool: PoolDep, user: CurrentUser, city: str | None = None
) -> list[FieldAgent]:
    """Phones only for those who dispatch (and an agent's own)."""
    return [_as_seen_by(user, a) for a in await agents.list_agents(pool, city)]


@router.get("/{agent_id}", response_model=FieldAgent, responses={404: {"model": Problem}})
async def get_agent(agent_id: AgentId, pool: PoolDep, user: CurrentUser) -> FieldAgent:
    """The phone only for those who dispatch (and the agent himself)."""
    agent = await agents.get(pool, agent_id)
    if agent is None:
        raise HTTPException(status_code=404, detail=f"no field agent {agent_id}")
    return _as_seen_by(user, agent)
