"""A field agent's phone is for those who dispatch: consultants, managers and admins (and the
agent himself). Any other signed-in user (a field agent, of any city) gets the same list
without phones; before, every signed-in user saw every agent's phone."""

from __future__ import annotations

import httpx
import pytest

from claimflow.settings import Settings
from domain.vocabulary import Role
from tests.security.users import signed_in

PHONES = {"agent.bj": "13900000001", "agent.wh": "13900000002"}


@pytest.fixture
async def agents(api: httpx.AsyncClient) -> None:
    for agent_id, city in (("agent.bj", "Beijing"), ("agent.wh", "Wuhan")):
        r = await api.put(f"/field-agents/{agent_id}",
                          json={"name": agent_id, "city": city, "phone": PHONES[agent_id]})
        assert r.status_code == 200, r.text


async def _phones(api: httpx.AsyncClient, headers: dict[str, str], **params: str) -> dict:
    r = await api.get("/field-agents", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return {a["agent_id"]: a["phone"] for a in r.json()}


@pytest.mark.parametrize("role", [Role.CONSULTANT, Role.MANAGER, Role.ADMIN])
async def test_those_who_dispatch_see_phones(
    api: httpx.AsyncClient, settings: Settings, agents: None, role: Role
):
    headers = await signed_in(api, settings, f"someone.{role.value}", role)
    assert await _phones(api, headers) == PHONES
    r = await api.get("/field-agents/agent.wh", headers=headers)
    assert r.json()["phone"] == PHONES["agent.wh"]


async def test_a_field_agent_sees_the_list_without_other_agents_phones(
    api: httpx.AsyncClient, settings: Settings, agents: None
):
    other_city = await signed_in(api, settings, "agent.sz", Role.FIELD_AGENT, "Shenzhen")
    assert await _phones(api, other_city) == {"agent.bj": None, "agent.wh": None}
    assert await _phones(api, other_city, city="Wuhan") == {"agent.wh": None}
    r = await api.get("/field-agents/agent.wh", headers=other_city)
    assert r.status_code == 200 and r.json()["phone"] is None, r.text
    # A colleague in the same city does not see it either; the agent sees his own.
    colleague = await signed_in(api, settings, "agent.bj2", Role.FIELD_AGENT, "Beijing")
    assert await _phones(api, colleague) == {"agent.bj": None, "agent.wh": None}
    himself = await signed_in(api, settings, "agent.bj", Role.FIELD_AGENT, "Beijing")
    assert await _phones(api, himself) == {"agent.bj": PHONES["agent.bj"], "agent.wh": None}
    r = await api.get("/field-agents/agent.bj", headers=himself)
    assert r.json()["phone"] == PHONES["agent.bj"]
