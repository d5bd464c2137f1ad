"""Deadlines, nudges, escalation, stalled claims, paused clocks and statutory follow-ups,
through the real servers with every duration in seconds (durations are configuration)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from api.claims_client import ClaimsClient
from claimflow.reference_case import ReferenceCase
from claimflow.settings import Settings
from domain.calendar import BusinessCalendar
from domain.vocabulary import SHANGHAI
from tests.support.claims import add_agent, bearer, complete, eventually, open_claim, open_task

S = timedelta(seconds=1)
LONG = {"due": "P30D"}


@pytest.fixture
async def app_with(
    settings: Settings, temporal_client: Client, pool: asyncpg.Pool, worker: None, clean_db: None
) -> AsyncIterator[Callable[..., Awaitable[httpx.AsyncClient]]]:
    """An API whose claims open under a policy given by the test (the worker is shared)."""
    clients: list[httpx.AsyncClient] = []

    async def make(**policy: Any) -> httpx.AsyncClient:
        app = create_app(
            settings.model_copy(update=policy),
            ClaimsClient(temporal_client, pool, settings.temporal_task_queue),
        )
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://claimflow.test",
            timeout=30,
            headers=bearer(settings),
        )
        clients.append(http)
        return http

    yield make
    for c in clients:
        await c.aclose()


async def notifications(http: httpx.AsyncClient, claim_id: str) -> list[dict]:
    r = await http.get(f"/claims/{claim_id}/notifications")
    assert r.status_code == 200, r.text
    return r.json()


async def timeline(http: httpx.AsyncClient, claim_id: str) -> list[dict]:
    return (await http.get(f"/claims/{claim_id}/timeline")).json()["entries"]


def policies(**tasks: dict[str, Any]) -> dict[str, dict[str, Any]]:
    every = {k: LONG for k in ("triage", "accept_dispatch", "gather_documents")}
    return {**every, **tasks}


async def test_reminder_and_escalations_are_sent_exactly_once(app_with, pool):
    http = await app_with(
        task_policies=policies(
            triage={
                "due": "PT2S",
                "remind_before": "PT1S",
                "escalations": [
                    {"after": "PT1S", "recipient": "team-lead"},
                    {"after": "PT2S", "recipient": "claims-manager"},
                ],
            }
        )
    )
    claim = await open_claim(http)
    claim_id = claim["claim_id"]

    sent = await eventually(
        lambda: _when(notifications(http, claim_id), lambda ns: len(ns) >= 3 and ns)
    )
    await asyncio.sleep(2.5)  # well past the last step: nothing more may come
    sent = await notifications(http, claim_id)
    assert [(n["kind"], n["recipient"]) for n in sent] == [
        ("reminder", "xiao.gao"),
        ("escalation", "team-lead"),
        ("escalation", "claims-manager"),
    ]
    assert all(n["delivered_at"] and n["attempts"] == 1 for n in sent)
    actions = [e["action"] for e in await timeline(http, claim_id)]
    assert actions.count("task_reminded") == 1
    assert actions.count("task_escalated") == 2
    assert actions.count("task_overdue") == 1
    row = await pool.fetchrow(
        "SELECT priority, escalation_level FROM tasks WHERE claim_id=$1", claim_id
    )
    assert dict(row) == {"priority": "urgent", "escalation_level": 2}

    # The escalated task still completes normally.
    task = await open_task(http, claim_id, "triage")
    r = await complete(http, task["task_id"], {"kind": "triage", "liability": "covered",
                                               "path": "online"})
    assert r.status_code == 200, r.text


async def _when(value: Awaitable[Any], test: Callable[[Any], Any]) -> Any:
    return test(await value)


def _calendar(holidays: set[date]) -> dict[str, Any]:
    """All day, every day is a working day, except the given holidays."""
    return BusinessCalendar(
        working_start=time(0, 0),
        working_end=time(23, 59, 59, 999999),
        weekend=frozenset(),
        holidays=frozenset(holidays),
        make_up_workdays=frozenset(),
    ).model_dump()


async def test_business_time_skips_holidays(app_with):
    today = datetime.now(SHANGHAI).date()
    triage = {"due": "PT2S", "business_time": True}
    holiday = await app_with(
        task_policies=policies(triage=triage),
        business_calendar=_calendar({today, today + timedelta(days=1)}),
    )
    workday = await app_with(
        task_policies=policies(triage=triage), business_calendar=_calendar(set())
    )

    on_holiday = await open_claim(holiday)
    on_workday = await open_claim(workday)
    due_holiday = datetime.fromisoformat(on_holiday["tasks"][0]["due_at"])
    due_workday = datetime.fromisoformat(on_workday["tasks"][0]["due_at"])
    created = datetime.fromisoformat(on_workday["tasks"][0]["created_at"])

    assert due_workday - created == timedelta(seconds=2)
    # Two holidays do not count: the two seconds start on the day after.
    day_after = datetime.combine(today + timedelta(days=2), time(0, 0), SHANGHAI)
    assert due_holiday == day_after + timedelta(seconds=2)

    await eventually(lambda: notifications(workday, on_workday["claim_id"]))
    assert await notifications(holiday, on_holiday["claim_id"]) == []


async def test_paused_clock_resumes_with_the_deadline_moved(app_with):
    http = await app_with(task_policies=policies(triage={"due": "PT3S"}))
    claim = await open_claim(http)
    claim_id = claim["claim_id"]
    due = datetime.fromisoformat(claim["tasks"][0]["due_at"])

    r = await http.post(f"/claims/{claim_id}/pause",
                        json={"paused_by": "xiao.gao", "reason": "Mr. Wang is in hospital"})
    assert r.status_code == 200, r.text
    assert r.json()["paused_since"] is not None
    again = await http.post(f"/claims/{claim_id}/pause", json={"paused_by": "xiao.gao"})
    assert again.status_code == 409

    await asyncio.sleep(4)  # past the original due time: paused, so no reminder
    assert await notifications(http, claim_id) == []

    r = await http.post(f"/claims/{claim_id}/resume", json={"resumed_by": "xiao.gao"})
    assert r.status_code == 200, r.text
    new_due = datetime.fromisoformat(r.json()["tasks"][0]["due_at"])
    assert new_due - due >= timedelta(seconds=4)
    resumed = [e for e in await timeline(http, claim_id) if e["action"] == "clock_resumed"]
    assert len(resumed) == 1
    assert resumed[0]["details"]["due"][claim["tasks"][0]["task_id"]]["old"]

    sent = await eventually(lambda: notifications(http, claim_id))
    assert [n["kind"] for n in sent] == ["reminder"]
    reminded_at = datetime.fromisoformat(sent[0]["created_at"])
    assert reminded_at >= new_due - timedelta(milliseconds=50)


async def test_stalled_claim_is_flagged_and_cleared(app_with, pool):
    http = await app_with(task_policies=policies(), stall_after={"triage": "PT2S"})
    claim = await open_claim(http)
    claim_id = claim["claim_id"]

    await eventually(
        lambda: pool.fetchval("SELECT stalled FROM claims WHERE claim_id=$1", claim_id)
    )
    live = (await http.get(f"/claims/{claim_id}")).json()
    assert live["stalled_since"] is not None
    sent = await notifications(http, claim_id)
    assert [(n["kind"], n["role"]) for n in sent] == [("stalled", "manager")]

    task = await open_task(http, claim_id, "triage")
    r = await complete(http, task["task_id"], {"kind": "triage", "liability": "covered",
                                               "path": "online"})
    assert r.status_code == 200
    assert r.json()["stalled_since"] is None
    row = await pool.fetchrow("SELECT stalled, stalled_since FROM claims WHERE claim_id=$1",
                              claim_id)
    assert dict(row) == {"stalled": False, "stalled_since": None}
    actions = [e["action"] for e in await timeline(http, claim_id)]
    assert actions.count("claim_stalled") == 1 and actions.count("stall_cleared") == 1


async def test_nobody_acted_the_task_goes_back_to_the_pool(app_with):
    http = await app_with(
        task_policies=policies(accept_dispatch={"due": "PT1S", "reassign_after": "PT1S"})
    )
    await add_agent(http, "xiao.zheng", "Beijing")
    case = ReferenceCase(http)
    await case.return_visit_opens_case()
    await case.xiao_gao_triages()

    async def unassigned() -> bool:
        task = await case.task("accept_dispatch")
        return task["assignee"] is None

    await eventually(unassigned)
    moved = [e for e in await timeline(http, case.claim_id) if e["action"] == "task_reassigned"]
    assert [(e["details"]["old"], e["details"]["new"]) for e in moved] == [("xiao.zheng", None)]
    kinds = [n["kind"] for n in await notifications(http, case.claim_id)]
    assert kinds.count("reassigned") == 1


async def test_statutory_decision_clock_sends_follow_ups(app_with):
    http = await app_with(
        task_policies=policies(),
        statutory={"decision_within": "PT4S", "payment_within": "P10D", "warn_before": "PT2S"},
    )
    await add_agent(http, "xiao.zheng", "Beijing")
    case = ReferenceCase(http)
    for step in (case.return_visit_opens_case, case.xiao_gao_triages, case.xiao_zheng_accepts,
                 case.home_visit, case.hospital_trip_and_submit, case.xiao_gao_verifies,
                 case.wang_confirms_filing, case.xiao_gao_files):
        await step()

    async def follow_ups() -> list[dict]:
        r = await http.get("/tasks", params={"claim_id": case.claim_id,
                                             "status": "open"})
        found = [t for t in r.json()["items"] if t["kind"] == "follow_up_insurer"]
        return found if len(found) == 2 else []

    found = await eventually(follow_ups)
    assert sorted(t["data"]["when"] for t in found) == ["near", "past"]
    assert all(t["assignee"] == "xiao.gao" for t in found)
    statutory = [n for n in await notifications(http, case.claim_id) if n["kind"] == "statutory"]
    assert len(statutory) == 2

    # A follow-up is beside the lifecycle: completing it answers at once, the claim stays put.
    r = await complete(http, found[0]["task_id"],
                       {"kind": "follow_up_insurer", "note": "Called the insurer."})
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "pre_decision_explanation"


async def test_bulk_reassignment_moves_tasks_and_records_it(app_with, pool):
    http = await app_with(task_policies=policies())
    claims = [await open_claim(http) for _ in range(3)]
    tasks = [c["tasks"][0]["task_id"] for c in claims]
    done = await complete(http, tasks[2], {"kind": "triage", "liability": "covered",
                                           "path": "online"})
    assert done.status_code == 200

    r = await http.post("/tasks/bulk-reassign", json={
        "task_ids": tasks + ["CLM-0000000000000000-T1"],
        "assignee": "xiao.li", "reassigned_by": "manager.zhao", "reason": "Xiao Gao on leave",
    })
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["moved"] == 2
    assert [i["status"] for i in result["items"]] == [200, 200, 409, 404]

    inbox = (await http.get("/tasks", params={"assignee": "xiao.li"})).json()["items"]
    assert sorted(t["task_id"] for t in inbox) == sorted(tasks[:2])
    for claim in claims[:2]:
        moved = [e for e in await timeline(http, claim["claim_id"])
                 if e["action"] == "task_reassigned"]
        assert [(e["actor"], e["details"]["old"], e["details"]["new"]) for e in moved] == [
            ("manager.zhao", "xiao.gao", "xiao.li")
        ]
    # Moving a task to whom it already belongs is a stale action.
    r = await http.post(f"/tasks/{tasks[0]}/reassign", json={
        "assignee": "xiao.li", "reassigned_by": "manager.zhao"})
    assert r.status_code == 409


async def test_due_time_and_priority_changes_are_in_the_timeline(app_with, pool):
    http = await app_with(task_policies=policies())
    claim = await open_claim(http)
    task = claim["tasks"][0]
    new_due = (datetime.now(SHANGHAI) + timedelta(days=3)).replace(microsecond=0)
    r = await http.patch(f"/tasks/{task['task_id']}", json={
        "changed_by": "manager.zhao", "due_at": new_due.isoformat(), "priority": "high",
        "reason": "VIP customer"})
    assert r.status_code == 200, r.text
    row = await pool.fetchrow("SELECT due_at, priority FROM tasks WHERE task_id=$1",
                              task["task_id"])
    assert (row["due_at"], row["priority"]) == (new_due, "high")
    changed = [e for e in await timeline(http, claim["claim_id"]) if e["action"] == "task_changed"]
    assert changed[0]["details"]["priority"] == {"old": "normal", "new": "high"}
    assert changed[0]["details"]["due_at"]["old"] != changed[0]["details"]["due_at"]["new"]

    r = await http.patch(f"/tasks/{task['task_id']}", json={
        "changed_by": "manager.zhao", "priority": "high"})
    assert r.status_code == 409
    r = await http.patch(f"/tasks/{task['task_id']}", json={"changed_by": "manager.zhao"})
    assert r.status_code == 422
    r = await http.patch(f"/tasks/{task['task_id']}", json={
        "changed_by": "m", "due_at": "2026-12-01T10:00:00"})
    assert r.status_code == 422  # naive time


async def test_search_attributes_find_claims(app_with, temporal_client: Client):
    http = await app_with(task_policies=policies(triage={"due": "PT1S"}))
    claim = await open_claim(http)
    claim_id = claim["claim_id"]

    async def found(query: str) -> bool:
        ids = [w.id async for w in temporal_client.list_workflows(query)]
        return claim_id in ids

    await eventually(lambda: found(
        f"ClaimStage = 'triage' AND ClaimCity = 'Beijing' AND ClaimAssignees = 'xiao.gao'"
        f" AND WorkflowId = '{claim_id}'"))
    await eventually(lambda: found(f"ClaimOverdue = true AND WorkflowId = '{claim_id}'"))
