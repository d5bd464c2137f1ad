"""One policy and incident, one claim (issue 11, item 14): ten openings at once made ten
claims. A second opening answers 409 naming the claim that holds the incident, unless the
caller confirms it is another claim."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import asyncpg
import httpx

from claimflow.settings import Settings
from domain.vocabulary import Role
from store import openings
from tests.support.claims import bearer, open_claim, wang_opening


async def _open(api: httpx.AsyncClient, headers: dict | None = None, **kw) -> httpx.Response:
    headers = {"Idempotency-Key": f"dup-{uuid.uuid4()}", **(headers or {})}
    return await api.post("/claims", json=wang_opening(), headers=headers, **kw)


async def test_ten_openings_at_once_make_one_claim(api: httpx.AsyncClient, pool: asyncpg.Pool):
    answers = await asyncio.gather(*(_open(api) for _ in range(10)))
    assert sorted(r.status_code for r in answers) == [201] + [409] * 9
    claim_id = next(r.json()["claim_id"] for r in answers if r.status_code == 201)
    for r in answers:
        if r.status_code == 409:
            body = r.json()
            assert body["code"] == "DuplicateClaim" and claim_id in body["detail"]
    assert await pool.fetchval("SELECT count(*) FROM claims") == 1


async def test_the_duplicate_names_the_claim_and_shows_it_to_those_who_may_see_it(
    api: httpx.AsyncClient, settings: Settings
):
    first = await open_claim(api, new=False)
    r = await _open(api)  # the admin's
    assert r.status_code == 409 and r.json()["claim"]["claim_id"] == first["claim_id"]
    # Another consultant learns the claim's id, not its contents.
    other = bearer(settings, "xiao.wu", Role.CONSULTANT)
    r = await _open(api, headers=other)
    assert r.status_code == 409, r.text
    assert first["claim_id"] in r.json()["detail"] and r.json().get("claim") is None
    # The policy number as people write it: another case and spacing is the same incident.
    policy = {**wang_opening()["policy"], "policy_number": " p-2019-000123 "}
    r = await api.post("/claims", json=wang_opening(policy=policy))
    assert r.status_code == 409, r.text


async def test_a_confirmed_second_claim_and_another_incident_open(api: httpx.AsyncClient):
    first = await open_claim(api, new=False)
    r = await _open(api, params={"confirmed_new": "true"})
    assert r.status_code == 201, r.text
    assert r.json()["claim_id"] != first["claim_id"]
    incident = {**wang_opening()["incident"], "occurred_on": "2021-03-15"}
    r = await api.post("/claims", json=wang_opening(incident=incident))
    assert r.status_code == 201, r.text


async def test_the_same_opening_again_is_the_same_claim(api: httpx.AsyncClient):
    """A retry with its Idempotency-Key is not a duplicate: it is the same claim."""
    first = await open_claim(api, key="dup-retry-0001", new=False)
    again = await open_claim(api, key="dup-retry-0001", new=False)
    assert again["claim_id"] == first["claim_id"]


async def test_an_opening_that_never_started_its_claim_lets_the_incident_go(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    """The incident was taken by an opening that failed before its claim started (and was
    not retried): once that opening is surely over, the next one takes it."""
    opening = wang_opening()
    occurred_on = date.fromisoformat(opening["incident"]["occurred_on"])
    key = openings.incident_key(opening["policy"]["policy_number"], occurred_on)
    await pool.execute(
        "INSERT INTO claim_openings (incident_key, claim_id, opened_at)"
        " VALUES ($1, 'CLM-NEVERSTARTED00', now() - interval '1 hour')",
        key,
    )
    r = await _open(api)
    assert r.status_code == 201, r.text
    holder = await pool.fetchval(
        "SELECT claim_id FROM claim_openings WHERE incident_key = $1", key
    )
    assert holder == r.json()["claim_id"]
