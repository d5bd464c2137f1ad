"""Through HTTP against the real Temporal server and PostgreSQL: open a claim, triage it."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from tests.support.claims import add_agent, complete, open_claim, open_task, wang_opening

COVERED_OFFLINE = {
    "kind": "triage",
    "liability": "covered",
    "path": "offline",
    "meets_pre_audit": True,
    "assist_services": ["initial_liability_judgment", "help_for_elderly"],
    "explanation": "Inpatient treatment of a cerebral infarction is covered.",
}


async def _snapshot(pool: asyncpg.Pool, claim_id: str) -> tuple:
    """Everything the read model holds about a claim, to prove a rejection changed nothing."""
    claim = await pool.fetchrow("SELECT version, stage FROM claims WHERE claim_id=$1", claim_id)
    tasks = await pool.fetch("SELECT * FROM tasks WHERE claim_id=$1 ORDER BY task_id", claim_id)
    timeline = await pool.fetchval("SELECT count(*) FROM timeline WHERE claim_id=$1", claim_id)
    return dict(claim), [dict(t) for t in tasks], timeline


async def test_open_triage_and_see_it_everywhere(api: httpx.AsyncClient, pool: asyncpg.Pool):
    await add_agent(api, "xiao.zheng", "Beijing")
    claim = await open_claim(api)
    claim_id = claim["claim_id"]
    assert claim["stage"] == "triage"
    assert claim["status"] == "open"

    # The consultant finds the triage task in the inbox (read model).
    r = await api.get("/tasks", params={"assignee": "xiao.gao"})
    inbox = [t for t in r.json()["items"] if t["claim_id"] == claim_id]
    assert [t["kind"] for t in inbox] == ["triage"]
    triage = inbox[0]
    assert triage["due_at"] is not None

    r = await complete(api, triage["task_id"], COVERED_OFFLINE)
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["stage"] == "dispatch"
    assert after["triage"]["liability"] == "covered"
    assert after["triage"]["path"] == "offline"

    # The live workflow says so ...
    live = (await api.get(f"/claims/{claim_id}")).json()
    assert live["stage"] == "dispatch"
    assert live["version"] == after["version"]

    # ... and so does PostgreSQL, without delay: the answer came after the projection.
    row = await pool.fetchrow("SELECT stage, version FROM claims WHERE claim_id=$1", claim_id)
    assert (row["stage"], row["version"]) == ("dispatch", after["version"])
    statuses = dict(
        await pool.fetch("SELECT kind, status FROM tasks WHERE claim_id=$1", claim_id)
    )
    assert statuses == {"triage": "completed", "accept_dispatch": "open"}
    dispatch = await open_task(api, claim_id, "accept_dispatch")
    assert (dispatch["role"], dispatch["assignee"]) == ("field_agent", "xiao.zheng")

    timeline = (await api.get(f"/claims/{claim_id}/timeline")).json()["entries"]
    actions = [e["action"] for e in timeline]
    assert actions[0] == "claim_opened"
    assert "task_completed" in actions
    done = next(e for e in timeline if e["action"] == "task_completed")
    assert done["actor"] == "xiao.gao"
    assert [e["seq"] for e in timeline] == list(range(1, len(timeline) + 1))

    listed = (await api.get("/claims", params={"stage": "dispatch"})).json()
    assert [c["claim_id"] for c in listed["items"]] == [claim_id]


async def test_same_idempotency_key_is_one_claim(api: httpx.AsyncClient, pool: asyncpg.Pool):
    key = f"rv-{uuid.uuid4()}"
    first = await open_claim(api, key)
    second = await open_claim(api, key)
    assert first["claim_id"] == second["claim_id"]
    assert await pool.fetchval("SELECT count(*) FROM claims") == 1
    assert await pool.fetchval("SELECT count(*) FROM tasks") == 1
    opened = await pool.fetchval(
        "SELECT count(*) FROM timeline WHERE action='claim_opened' AND claim_id=$1",
        first["claim_id"],
    )
    assert opened == 1


async def test_bad_input_is_rejected_and_changes_nothing(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    claim = await open_claim(api)
    claim_id = claim["claim_id"]
    triage = await open_task(api, claim_id, "triage")
    before = await _snapshot(pool, claim_id)

    # Unknown task on a real claim, and a task id that names no claim at all.
    r = await complete(api, f"{claim_id}-T99", COVERED_OFFLINE)
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "TaskNotFound"
    r = await complete(api, "CLM-0000000000000000-T1", COVERED_OFFLINE)
    assert r.status_code == 404
    r = await complete(api, "not-a-task", COVERED_OFFLINE)
    assert r.status_code == 404

    # Malformed bodies: the API says which field is wrong.
    r = await api.post(f"/tasks/{triage['task_id']}/complete", json={"completed_by": "admin"})
    assert r.status_code == 422
    assert any(e["loc"][-1] == "outcome" for e in r.json()["detail"])
    r = await complete(api, triage["task_id"], {**COVERED_OFFLINE, "path": None})
    assert r.status_code == 422
    assert "path" in r.text
    r = await complete(api, triage["task_id"], {**COVERED_OFFLINE, "liability": "maybe"})
    assert r.status_code == 422
    # An outcome for another kind of task.
    r = await complete(api, triage["task_id"], {"kind": "explain_expectations"})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "OutcomeMismatch"

    r = await api.post("/claims", json=wang_opening(source="carrier pigeon"))
    assert r.status_code == 422
    r = await api.post(
        "/claims", json=wang_opening(policy={"policy_number": "P", "insurer": "X",
                                            "sum_insured": "1.001"})
    )
    assert r.status_code == 422

    assert await _snapshot(pool, claim_id) == before
    assert await pool.fetchval("SELECT count(*) FROM claims") == 1

    # The first completion wins; the same completion again is stale: 409 with the state.
    r = await complete(api, triage["task_id"], COVERED_OFFLINE)
    assert r.status_code == 200
    after = await _snapshot(pool, claim_id)
    r = await complete(api, triage["task_id"], COVERED_OFFLINE)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "TaskNotOpen"
    assert r.json()["claim"]["stage"] == "dispatch"
    assert await _snapshot(pool, claim_id) == after


async def test_not_covered_closes_and_is_read_from_postgres(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    claim = await open_claim(api)
    claim_id = claim["claim_id"]
    triage = await open_task(api, claim_id, "triage")
    r = await complete(
        api,
        triage["task_id"],
        {
            "kind": "triage",
            "liability": "not_covered",
            "explanation": "The policy excludes conditions diagnosed before the waiting period.",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed"
    assert r.json()["closure"] == "not_covered"

    # Closed: the API answers from the read model (the workflow is gone).
    await pool.execute(
        "UPDATE claims SET snapshot = jsonb_set(snapshot, '{opening,note}', '\"from postgres\"')"
        " WHERE claim_id=$1",
        claim_id,
    )
    got = (await api.get(f"/claims/{claim_id}")).json()
    assert got["status"] == "closed"
    assert got["opening"]["note"] == "from postgres"

    r = await complete(api, triage["task_id"], COVERED_OFFLINE)
    assert r.status_code == 409
    assert r.json()["code"] == "ClaimClosed"
    assert (await api.get("/claims/CLM-FFFFFFFFFFFFFFFF")).status_code == 404


async def test_the_same_key_after_the_claim_closed_is_still_that_claim(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    key = f"rv-{uuid.uuid4()}"
    claim = await open_claim(api, key)
    r = await complete(api, claim["tasks"][0]["task_id"],
                       {"kind": "triage", "liability": "not_covered", "explanation": "Excluded."})
    assert r.json()["status"] == "closed"
    # Within a day the key's stored answer is replayed (the claim as it opened) ...
    replayed = await open_claim(api, key)
    assert (replayed["claim_id"], replayed["status"]) == (claim["claim_id"], "open")
    # ... and after that the claim's id is still never reused: the closed claim answers.
    await pool.execute("DELETE FROM idempotency_keys")
    again = await open_claim(api, key)
    assert (again["claim_id"], again["status"]) == (claim["claim_id"], "closed")
    assert await pool.fetchval("SELECT count(*) FROM claims") == 1


async def test_need_more_information_reopens_triage(api: httpx.AsyncClient):
    claim = await open_claim(api)
    first = await open_task(api, claim["claim_id"], "triage")
    r = await complete(
        api,
        first["task_id"],
        {"kind": "triage", "liability": "need_more_information", "explanation": "Which year?"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "triage"
    second = await open_task(api, claim["claim_id"], "triage")
    assert second["task_id"] != first["task_id"]


async def test_health_and_readiness(api: httpx.AsyncClient):
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    r = await api.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"temporal": "ok", "postgres": "ok", "worker": "ok"}
    schema = (await api.get("/openapi.json")).json()
    assert "/tasks/{task_id}/complete" in schema["paths"]


async def test_a_change_answers_with_the_claim_or_with_its_step_when_asked(api: httpx.AsyncClient):
    """The whole claim by default; `Prefer: return=minimal` answers with where it stands."""
    claim = await open_claim(api)
    assert claim["opening"]["policyholder"]["name"] == "Mr. Wang"
    r = await api.post(
        f"/claims/{claim['claim_id']}/notes",
        json={"author": "xiao.gao", "text": "Call after 6pm."},
        headers={"Prefer": "return=minimal"},
    )
    assert r.status_code == 200, r.text
    step = r.json()
    assert set(step) == {"claim_id", "stage", "status", "closure", "version", "updated_at", "tasks"}
    assert step["stage"] == "triage" and [t["kind"] for t in step["tasks"]] == ["triage"]
    assert step["version"] > claim["version"]
    r = await api.post(
        f"/claims/{claim['claim_id']}/notes", json={"author": "xiao.gao", "text": "Again."}
    )
    whole = r.json()
    assert [n["text"] for n in whole["notes"]] == ["Call after 6pm.", "Again."]
    assert whole["version"] > step["version"]
