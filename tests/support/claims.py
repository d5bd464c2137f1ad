"""Helpers the API tests share: Mr. Wang's opening and driving a claim through HTTP."""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from api.auth import Principal, issue_token
from claimflow.reference_case import OPENING
from claimflow.settings import Settings
from domain.vocabulary import Role
from tests.support.people import provision

TEST_SECRET = "test-secret-for-signing-tokens-0123456789"
# A fixed payload key, so that recorded histories can be replayed by later runs.
TEST_PAYLOAD_KEY = "test1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


def bearer(
    settings: Settings, user_id: str = "admin", role: Role = Role.ADMIN, city: str | None = None
) -> dict[str, str]:
    """An Authorization header for a user, signed with the settings' secret. The user is
    created first (or restored: active, this role and city), as sign-in needs him to exist:
    `tests/support/people.py`."""
    assert settings.auth_secret is not None
    provision(settings, user_id, role, city)
    token = issue_token(
        settings.auth_secret.get_secret_value(),
        Principal(user_id=user_id, role=role, city=city),
        settings.auth_token_ttl,
    )
    return {"Authorization": f"Bearer {token}"}


def wang_opening(**overrides: Any) -> dict[str, Any]:
    """Mr. Wang's opening from the reference case, with top-level fields replaced."""
    return {**copy.deepcopy(OPENING), **overrides}


async def open_claim(
    http: httpx.AsyncClient, key: str | None = None, *, new: bool = True, **overrides: Any
) -> dict:
    """Mr. Wang's opening (with `overrides`). Tests open his case many times: each is
    confirmed as a claim of its own (`new`), unless the test is about the one-claim rule."""
    r = await http.post(
        "/claims",
        json=wang_opening(**overrides),
        headers={"Idempotency-Key": key or f"test-{uuid.uuid4()}"},
        params={"confirmed_new": "true"} if new else None,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def open_task(http: httpx.AsyncClient, claim_id: str, kind: str) -> dict:
    r = await http.get("/tasks", params={"claim_id": claim_id, "status": "open"})
    assert r.status_code == 200, r.text
    tasks = [t for t in r.json()["items"] if t["kind"] == kind]
    assert len(tasks) == 1, r.json()
    return tasks[0]


async def complete(
    http: httpx.AsyncClient, task_id: str, outcome: dict[str, Any], by: str = "xiao.gao"
) -> httpx.Response:
    return await http.post(
        f"/tasks/{task_id}/complete", json={"completed_by": by, "outcome": outcome}
    )


async def add_agent(http: httpx.AsyncClient, agent_id: str, city: str, **fields: Any) -> dict:
    """A field agent in `city`: a user of that role and city (tasks are given only to users),
    and in the field agents' registry (`http` is an admin's)."""
    r = await http.put(
        f"/users/{agent_id}",
        json={"name": agent_id, "role": "field_agent", "city": city, "password": "agent-password-1"},
    )
    assert r.status_code == 200, r.text
    r = await http.put(f"/field-agents/{agent_id}", json={"name": agent_id, "city": city, **fields})
    assert r.status_code == 200, r.text
    return r.json()


async def do(
    http: httpx.AsyncClient, claim_id: str, kind: str, outcome: dict[str, Any], by: str
) -> dict:
    """Find the claim's open task of this kind, complete it, and return the whole claim as
    it is now (the answer itself says only where the claim stands: `ClaimStep`)."""
    task = await open_task(http, claim_id, kind)
    r = await complete(http, task["task_id"], {"kind": kind, **outcome}, by=by)
    assert r.status_code == 200, r.text
    step = r.json()
    return await claim_now(http, claim_id, step)


async def claim_now(http: httpx.AsyncClient, claim_id: str, step: dict | None = None) -> dict:
    """GET the claim; with a change's answer, check that the two agree on where it stands."""
    r = await http.get(f"/claims/{claim_id}")
    assert r.status_code == 200, r.text
    view = r.json()
    if step is not None:
        assert (view["stage"], view["status"]) == (step["stage"], step["status"]), (view, step)
        assert view["version"] >= step["version"]
    return view


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 20.0, every: float = 0.2
) -> Any:
    """Poll until `check` answers something truthy (what clocks, Signals and visibility
    change asynchronously); its answer, or AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {check}")
        await asyncio.sleep(every)
