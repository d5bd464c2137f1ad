"""Nothing done twice: Idempotency-Key on changes, and two people racing for one task."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx

from domain.vocabulary import Role
from tests.support.claims import bearer, open_claim

COVERED = {"kind": "triage", "liability": "covered", "path": "online"}


async def _notes(pool: asyncpg.Pool, claim_id: str) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM timeline WHERE claim_id=$1 AND action='note_added'", claim_id
    )


async def test_same_key_same_body_same_answer_once(api: httpx.AsyncClient, pool):
    claim = await open_claim(api)
    key = {"Idempotency-Key": f"note-{uuid.uuid4()}"}
    body = {"author": "admin", "text": "Called Mr. Wang's daughter."}
    first = await api.post(f"/claims/{claim['claim_id']}/notes", json=body, headers=key)
    again = await api.post(f"/claims/{claim['claim_id']}/notes", json=body, headers=key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert await _notes(pool, claim["claim_id"]) == 1

    other = await api.post(f"/claims/{claim['claim_id']}/notes",
                           json={**body, "text": "Something else"}, headers=key)
    assert other.status_code == 409
    assert await _notes(pool, claim["claim_id"]) == 1


async def test_a_retried_completion_gets_the_first_answer(api: httpx.AsyncClient, pool):
    claim = await open_claim(api)
    task_id = claim["tasks"][0]["task_id"]
    key = {"Idempotency-Key": f"complete-{uuid.uuid4()}"}
    body = {"completed_by": "admin", "outcome": COVERED}
    first = await api.post(f"/tasks/{task_id}/complete", json=body, headers=key)
    retry = await api.post(f"/tasks/{task_id}/complete", json=body, headers=key)
    assert first.status_code == retry.status_code == 200
    assert retry.json()["version"] == first.json()["version"]
    # Without the key the same request is a stale action.
    stale = await api.post(f"/tasks/{task_id}/complete", json=body)
    assert stale.status_code == 409
    completed = await pool.fetchval(
        "SELECT count(*) FROM timeline WHERE claim_id=$1 AND action='task_completed'",
        claim["claim_id"],
    )
    assert completed == 1


async def test_keys_belong_to_their_user(api: httpx.AsyncClient, settings, pool):
    claim = await open_claim(api)
    key = {"Idempotency-Key": f"shared-{uuid.uuid4()}"}
    a = await api.post(f"/claims/{claim['claim_id']}/notes",
                       json={"author": "admin", "text": "one"}, headers=key)
    b = await api.post(f"/claims/{claim['claim_id']}/notes",
                       json={"author": "manager.zhao", "text": "two"},
                       headers={**key, **bearer(settings, "manager.zhao", Role.MANAGER)})
    assert (a.status_code, b.status_code) == (200, 200)
    assert await _notes(pool, claim["claim_id"]) == 2


async def test_two_people_complete_one_task_at_once(api: httpx.AsyncClient, settings, pool):
    for _ in range(3):
        claim = await open_claim(api)
        task_id = claim["tasks"][0]["task_id"]
        people = ("admin", "manager.zhao")
        answers = await asyncio.gather(*(
            api.post(f"/tasks/{task_id}/complete",
                     json={"completed_by": who, "outcome": COVERED},
                     headers=bearer(settings, who, Role.ADMIN if who == "admin" else Role.MANAGER))
            for who in people
        ))
        assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
        loser = next(r for r in answers if r.status_code == 409)
        assert loser.json()["code"] == "TaskNotOpen"
        # The current state it carries no longer has the task open.
        assert task_id not in [t["task_id"] for t in loser.json()["claim"]["tasks"]]
        done = await pool.fetch(
            "SELECT actor FROM timeline WHERE claim_id=$1 AND action='task_completed'",
            claim["claim_id"],
        )
        winner = next(r for r in answers if r.status_code == 200)
        assert len(done) == 1
        assert winner.json()["version"] >= 1
