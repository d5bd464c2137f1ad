"""Who acted is the signed-in user, not a field of the request (issue 11, item 6).

A request leaves the actor out and the claim records the caller; only a manager recording what
someone else did names him, and anyone else naming another person is refused, changing nothing.
"""

from __future__ import annotations

import httpx

from claimflow.settings import Settings
from domain.vocabulary import Role
from tests.support.claims import bearer, open_claim, open_task

TRIAGE = {
    "kind": "triage",
    "liability": "covered",
    "path": "online",
    "meets_pre_audit": True,
    "explanation": "Inpatient treatment is covered by the plan.",
}


async def test_the_caller_is_who_completed_the_task(api: httpx.AsyncClient, settings: Settings):
    claim = await open_claim(api)
    task = await open_task(api, claim["claim_id"], "triage")
    gao = bearer(settings, "xiao.gao", Role.CONSULTANT)
    r = await api.post(f"/tasks/{task['task_id']}/complete", json={"outcome": TRIAGE}, headers=gao)
    assert r.status_code == 200, r.text
    done = (await api.get(f"/tasks/{task['task_id']}")).json()
    assert done["completed_by"] == "xiao.gao"
    timeline = (await api.get(f"/claims/{claim['claim_id']}/timeline")).json()["entries"]
    completed = [e for e in timeline if e["action"] == "task_completed"]
    assert completed and completed[-1]["actor"] == "xiao.gao"


async def test_naming_someone_else_is_refused_and_changes_nothing(
    api: httpx.AsyncClient, settings: Settings
):
    claim = await open_claim(api)
    task = await open_task(api, claim["claim_id"], "triage")
    gao = bearer(settings, "xiao.gao", Role.CONSULTANT)
    for route, body in (
        (f"/tasks/{task['task_id']}/complete", {"completed_by": "xiao.li", "outcome": TRIAGE}),
        (f"/claims/{claim['claim_id']}/notes", {"author": "xiao.li", "text": "not mine"}),
        (f"/claims/{claim['claim_id']}/pause", {"paused_by": "xiao.li"}),
    ):
        r = await api.post(route, json=body, headers=gao)
        assert r.status_code == 403, (route, r.text)
    after = (await api.get(f"/claims/{claim['claim_id']}")).json()
    assert after["version"] == claim["version"]
    assert (await api.get(f"/tasks/{task['task_id']}")).json()["status"] == "open"


async def test_notes_and_clocks_record_the_caller(api: httpx.AsyncClient, settings: Settings):
    claim = await open_claim(api)
    cid = claim["claim_id"]
    gao = bearer(settings, "xiao.gao", Role.CONSULTANT)
    r = await api.post(f"/claims/{cid}/notes", json={"text": "Called Mr. Wang."}, headers=gao)
    assert r.status_code == 200, r.text
    assert (await api.post(f"/claims/{cid}/pause", json={}, headers=gao)).status_code == 200
    view = (await api.get(f"/claims/{cid}")).json()
    assert [n["author"] for n in view["notes"]] == ["xiao.gao"]
    timeline = (await api.get(f"/claims/{cid}/timeline")).json()["entries"]
    paused = [e for e in timeline if e["action"] == "clock_paused"]
    assert paused and paused[0]["actor"] == "xiao.gao"


async def test_a_manager_records_for_someone_by_naming_him(
    api: httpx.AsyncClient, settings: Settings
):
    claim = await open_claim(api)
    task = await open_task(api, claim["claim_id"], "triage")
    manager = bearer(settings, "manager.zhou", Role.MANAGER)
    r = await api.post(
        f"/tasks/{task['task_id']}/complete",
        json={"completed_by": "xiao.gao", "outcome": TRIAGE},
        headers=manager,
    )
    assert r.status_code == 200, r.text
    assert (await api.get(f"/tasks/{task['task_id']}")).json()["completed_by"] == "xiao.gao"
    r = await api.post(
        "/views", json={"team": "claims", "name": "mine", "filters": {}}, headers=manager
    )
    assert r.status_code == 201, r.text
    assert r.json()["created_by"] == "manager.zhou"
