"""Access follows who people are now (issue 11, items 3, 4 and 5).

3. Every request reads the caller's current state from the users table: a disabled user's
   next request is 401, a demoted one's has his new role, a token of a user not on record is
   refused; the completion path still makes one round trip.
4. Who works a claim is his current part in it: an agent who declined the visit, or whose
   visit was moved to another agent, no longer reads or changes the claim.
5. A task is moved only to an active user of its role (for a field task, one serving the
   claim's city): 422 naming the problem otherwise, on the single and the bulk route.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import HTTPException

from api.auth import Principal, issue_token, task_for
from claimflow.reference_case import ReferenceCase
from claimflow.settings import Settings
from domain.vocabulary import Role
from tests.support.claims import add_agent, bearer, open_claim, open_task, wang_opening

PASSWORD = "a-password-for-tests"


async def person(
    api: httpx.AsyncClient, settings: Settings, user_id: str, role: Role, city: str | None = None
) -> dict[str, str]:
    """A user on record (put by the admin), and his Authorization header."""
    await put_user(api, user_id, role, city)
    return bearer(settings, user_id, role, city)


async def put_user(
    api: httpx.AsyncClient, user_id: str, role: Role, city: str | None = None, **fields: Any
) -> None:
    r = await api.put(
        f"/users/{user_id}",
        json={"name": user_id, "role": role.value, "city": city, "password": PASSWORD, **fields},
    )
    assert r.status_code == 200, r.text


async def triaged_offline(api: httpx.AsyncClient) -> ReferenceCase:
    """Mr. Wang's claim (Beijing), triaged for an offline visit: it waits on an agent."""
    case = ReferenceCase(api)
    await case.return_visit_opens_case()
    await case.xiao_gao_triages()
    return case


# --- 3. revocation ---------------------------------------------------------------------------


async def test_a_disabled_user_is_refused_on_his_next_request(api, settings):
    claim = await open_claim(api)
    triage = claim["tasks"][0]["task_id"]
    gao = await person(api, settings, "rev.consultant", Role.CONSULTANT)
    assert (await api.get("/auth/me", headers=gao)).status_code == 200
    assert (await api.get("/claims", headers=gao)).status_code == 200

    await put_user(api, "rev.consultant", Role.CONSULTANT, active=False)
    requests = [
        ("GET", "/auth/me", None),
        ("GET", "/claims", None),
        ("GET", "/tasks", None),
        ("GET", f"/tasks/{triage}", None),
        ("POST", f"/tasks/{triage}/complete", {
            "completed_by": "rev.consultant",
            "outcome": {"kind": "triage", "liability": "not_covered", "explanation": "no"}}),
        ("GET", f"/claims/{claim['claim_id']}", None),
        ("GET", "/inbox", None),
    ]
    for method, url, body in requests:
        r = await api.request(method, url, json=body, headers=gao)
        assert r.status_code == 401, f"{method} {url}: {r.status_code} {r.text}"
    assert (await open_task(api, claim["claim_id"], "triage"))["status"] == "open"
    # Nor can he sign in again.
    r = await api.post("/auth/token", data={"username": "rev.consultant", "password": PASSWORD})
    assert r.status_code == 401


async def test_a_disabled_user_cannot_open_a_claim_with_his_old_token(api, settings):
    gao = await person(api, settings, "rev.opener", Role.CONSULTANT)
    await put_user(api, "rev.opener", Role.CONSULTANT, active=False)
    r = await api.post("/claims", json=wang_opening(),
                       headers={**gao, "Idempotency-Key": "rev-opener-1"})
    assert r.status_code == 401, r.text
    assert (await api.get("/claims")).json()["items"] == []


async def test_a_demoted_admin_loses_admin_powers_at_once(api, settings):
    boss = await person(api, settings, "rev.boss", Role.ADMIN)
    r = await api.put("/users/rev.made-by-boss", headers=boss, json={
        "name": "x", "role": "consultant", "password": PASSWORD})
    assert r.status_code == 200, r.text

    await put_user(api, "rev.boss", Role.CONSULTANT)  # the same token from now on
    me = await api.get("/auth/me", headers=boss)
    assert (me.status_code, me.json()["role"]) == (200, "consultant")
    r = await api.put("/users/rev.new-admin", headers=boss, json={
        "name": "x", "role": "admin", "password": PASSWORD})
    assert r.status_code == 403, r.text
    assert (await api.get("/users", headers=boss)).status_code == 403
    users = {u["user_id"] for u in (await api.get("/users")).json()}
    assert "rev.new-admin" not in users


async def test_a_token_of_a_user_not_on_record_is_refused(api, settings, pool):
    claim = await open_claim(api)
    triage = claim["tasks"][0]["task_id"]
    await pool.execute("DELETE FROM users WHERE user_id = 'rev.ghost'")
    token = issue_token(
        settings.auth_secret.get_secret_value(),
        Principal(user_id="rev.ghost", role=Role.ADMIN),
        timedelta(minutes=5),
    )
    ghost = {"Authorization": f"Bearer {token}"}
    for method, url in (("GET", "/auth/me"), ("GET", "/users"), ("GET", f"/tasks/{triage}"),
                        ("POST", f"/tasks/{triage}/complete")):
        r = await api.request(method, url, headers=ghost, json={
            "completed_by": "rev.ghost",
            "outcome": {"kind": "triage", "liability": "not_covered", "explanation": "x"}})
        assert r.status_code == 401, f"{method} {url}: {r.status_code} {r.text}"


async def test_the_completion_door_reads_the_users_current_state_in_its_one_query(
    api, settings, pool
):
    """The task, the caller's standing and his current state: one round trip, as before."""
    from tests.api.test_task_access import CountingPool

    await add_agent(api, "rev.agent", "Beijing")
    case = await triaged_offline(api)
    task = await open_task(api, case.claim_id, "accept_dispatch")
    assert task["assignee"] == "rev.agent"
    stale = Principal(user_id="rev.agent", role=Role.MANAGER)  # what an old token might say
    counted = CountingPool(pool)
    assert (await task_for(counted, stale, task["task_id"], to_act=True)).task_id == task["task_id"]
    assert counted.calls == 1

    await put_user(api, "rev.agent", Role.CONSULTANT, None)  # no longer a field agent
    with pytest.raises(HTTPException) as refused:
        await task_for(counted, stale, task["task_id"], to_act=True)
    assert refused.value.status_code == 403
    await put_user(api, "rev.agent", Role.FIELD_AGENT, "Beijing", active=False)
    with pytest.raises(HTTPException) as refused:
        await task_for(counted, stale, "TSK-no-such-task", to_act=False)
    assert refused.value.status_code == 401  # who you are before what exists
    assert counted.calls == 3


# --- 4. access follows the person's current part in the claim ------------------------------


async def _refused_on_the_claim(api: httpx.AsyncClient, claim_id: str, headers: dict, who: str):
    for method, url, body in (
        ("GET", f"/claims/{claim_id}", None),
        ("GET", f"/claims/{claim_id}/timeline", None),
        ("GET", f"/claims/{claim_id}/checklist", None),
        ("GET", "/tasks", None),
        ("POST", f"/claims/{claim_id}/notes", {"author": who, "text": "still here"}),
        ("POST", f"/claims/{claim_id}/withdraw", {"recorded_by": who, "reason": "gone"}),
    ):
        params = {"claim_id": claim_id} if url == "/tasks" else None
        r = await api.request(method, url, json=body, headers=headers, params=params)
        assert r.status_code == 403, f"{method} {url}: {r.status_code} {r.text}"


async def test_an_agent_who_declined_the_visit_loses_the_claim(api, settings):
    await add_agent(api, "decl.a", "Beijing")
    agent = bearer(settings, "decl.a", Role.FIELD_AGENT, "Beijing")
    case = await triaged_offline(api)
    visit = await open_task(api, case.claim_id, "accept_dispatch")
    assert visit["assignee"] == "decl.a"
    assert (await api.get(f"/claims/{case.claim_id}", headers=agent)).status_code == 200

    r = await api.post(f"/tasks/{visit['task_id']}/complete", headers=agent, json={
        "completed_by": "decl.a",
        "outcome": {"kind": "accept_dispatch", "accepted": False, "decline_reason": "on leave"}})
    assert r.status_code == 200, r.text

    await _refused_on_the_claim(api, case.claim_id, agent, "decl.a")
    view = (await api.get(f"/claims/{case.claim_id}")).json()
    assert view["status"] == "open" and view["declined_by"] == ["decl.a"]
    # His own (completed) task is no longer his to see either.
    assert (await api.get(f"/tasks/{visit['task_id']}", headers=agent)).status_code == 403
    mine = await api.get("/tasks", params={"status": "completed"}, headers=agent)
    assert mine.status_code == 200 and mine.json()["items"] == [], mine.text


async def test_an_agent_whose_visit_was_moved_loses_the_claim_and_the_new_one_gains_it(
    api, settings
):
    await add_agent(api, "move.a", "Beijing")
    await add_agent(api, "move.b", "Beijing", available=False)
    a = bearer(settings, "move.a", Role.FIELD_AGENT, "Beijing")
    b = bearer(settings, "move.b", Role.FIELD_AGENT, "Beijing")
    case = await triaged_offline(api)
    visit = await open_task(api, case.claim_id, "accept_dispatch")
    assert visit["assignee"] == "move.a"
    assert (await api.get(f"/claims/{case.claim_id}", headers=b)).status_code == 403

    r = await api.post(f"/tasks/{visit['task_id']}/reassign",
                       json={"assignee": "move.b", "reassigned_by": "admin"})
    assert r.status_code == 200, r.text
    await _refused_on_the_claim(api, case.claim_id, a, "move.a")
    assert (await api.get(f"/claims/{case.claim_id}", headers=b)).status_code == 200


async def test_the_claims_agent_keeps_it_through_his_completed_tasks(api, settings):
    """Dispatched (he accepted): his part is the claim's `field_agent`, task or no task."""
    case = ReferenceCase(api)
    await case.register_agent()
    await case.return_visit_opens_case()
    await case.xiao_gao_triages()
    await case.xiao_zheng_accepts()
    agent = bearer(settings, "xiao.zheng", Role.FIELD_AGENT, "Beijing")
    accepted = (await api.get("/tasks", params={"claim_id": case.claim_id, "status": "completed"},
                              headers=agent)).json()["items"]
    assert [t["kind"] for t in accepted if t["kind"] == "accept_dispatch"] == ["accept_dispatch"]
    assert (await api.get(f"/claims/{case.claim_id}", headers=agent)).status_code == 200
    # Demoted, he no longer works it as its agent.
    await put_user(api, "xiao.zheng", Role.CONSULTANT)
    assert (await api.get(f"/claims/{case.claim_id}", headers=agent)).status_code == 403
    bearer(settings, "xiao.zheng", Role.FIELD_AGENT, "Beijing")  # as the other tests know him


# --- 5. reassignment checks the assignee -----------------------------------------------------


async def _reassign(api: httpx.AsyncClient, task_id: str, assignee: str) -> httpx.Response:
    return await api.post(f"/tasks/{task_id}/reassign",
                          json={"assignee": assignee, "reassigned_by": "admin"})


async def test_a_consultants_task_goes_only_to_an_active_consultant(api, settings, pool):
    claim = await open_claim(api)
    triage = claim["tasks"][0]["task_id"]
    await add_agent(api, "re.agent", "Beijing")
    await put_user(api, "re.off", Role.CONSULTANT, active=False)
    await put_user(api, "re.on", Role.CONSULTANT)
    await pool.execute("DELETE FROM users WHERE user_id = 're.nobody'")
    for assignee, says in (("re.agent", "field_agent"), ("re.nobody", "no user"),
                           ("re.off", "disabled")):
        r = await _reassign(api, triage, assignee)
        assert r.status_code == 422, f"{assignee}: {r.status_code} {r.text}"
        assert says in r.json()["detail"] and assignee in r.json()["detail"], r.text
    assert (await open_task(api, claim["claim_id"], "triage"))["assignee"] == "xiao.gao"
    # The old exploit: the field agent it was moved to then completed it.
    agent = bearer(settings, "re.agent", Role.FIELD_AGENT, "Beijing")
    r = await api.post(f"/tasks/{triage}/complete", headers=agent, json={
        "completed_by": "re.agent",
        "outcome": {"kind": "triage", "liability": "not_covered", "explanation": "x"}})
    assert r.status_code == 403, r.text

    r = await _reassign(api, triage, "re.on")
    assert r.status_code == 200, r.text
    assert (await open_task(api, claim["claim_id"], "triage"))["assignee"] == "re.on"


async def test_a_field_task_goes_only_to_an_agent_of_the_claims_city(api, settings):
    await add_agent(api, "city.bj", "Beijing")
    await add_agent(api, "city.bj2", " beijing ", available=False)
    await add_agent(api, "city.wh", "Wuhan")
    case = await triaged_offline(api)
    visit = await open_task(api, case.claim_id, "accept_dispatch")
    assert visit["assignee"] == "city.bj"
    r = await _reassign(api, visit["task_id"], "city.wh")
    assert r.status_code == 422, r.text
    assert "Wuhan" in r.json()["detail"] and "Beijing" in r.json()["detail"]
    r = await _reassign(api, visit["task_id"], "xiao.li")  # a consultant
    assert r.status_code == 422, r.text
    r = await _reassign(api, visit["task_id"], "city.bj2")  # however the city is written
    assert r.status_code == 200, r.text


async def test_bulk_reassignment_checks_each_task(api, settings):
    await add_agent(api, "bulk.bj", "Beijing")
    offline = await triaged_offline(api)
    visit = (await open_task(api, offline.claim_id, "accept_dispatch"))["task_id"]
    triage = (await open_claim(api))["tasks"][0]["task_id"]
    await put_user(api, "bulk.li", Role.CONSULTANT)

    r = await api.post("/tasks/bulk-reassign", json={
        "task_ids": [visit, triage], "assignee": "bulk.li", "reassigned_by": "admin"})
    assert r.status_code == 200, r.text
    items = {i["task_id"]: i for i in r.json()["items"]}
    assert r.json()["moved"] == 1
    assert items[triage]["status"] == 200
    assert items[visit]["status"] == 422 and "field_agent" in items[visit]["detail"]

    r = await api.post("/tasks/bulk-reassign", json={
        "task_ids": [triage], "assignee": "bulk.nobody", "reassigned_by": "admin"})
    assert r.json()["items"] == [
        {"task_id": triage, "status": 422, "detail": "assignee: no user bulk.nobody"}]
    assert (await open_task(api, offline.claim_id, "accept_dispatch"))["assignee"] == "bulk.bj"
