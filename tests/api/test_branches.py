"""Every branch of the lifecycle but the happy path, through HTTP against the real Temporal
server and PostgreSQL: the online path, refusals, declined dispatches, incomplete documents,
supplemental requests, partial approvals, denials, disputes, withdrawals, the insurer's
webhook, notes and reassignments, checklist progress, and triage asking for more information.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from api.claims_client import ClaimsClient
from api.routes.insurer import sign
from claimflow.reference_case import AGENT, CONSULTANT, ReferenceCase
from claimflow.settings import Settings
from domain.vocabulary import SHANGHAI
from tests.support.claims import add_agent, complete, eventually, open_claim, open_task
from tests.support.server import in_process

MANAGER = "manager.zhang"
# Facts are checked at the door: a home visit is not in the past, the insurer decides after
# the filing (which the reference case dates today).
TODAY = datetime.now(SHANGHAI).date()
VISIT_DAY = (TODAY + timedelta(days=7)).isoformat()
DECIDED_ON = TODAY.isoformat()
SECRET = "s3cret"

MEDICAL_CHECKLIST = [
    "claim_application_form",
    "policy_contract",
    "id_card_copy",
    "bank_card_copy",
    "diagnosis_certificate",
    "medical_record",
    "discharge_summary",
    "itemised_expense_list",
    "payment_receipts",
]
COVERED_OFFLINE = {
    "kind": "triage",
    "liability": "covered",
    "path": "offline",
    "meets_pre_audit": True,
    "assist_services": ["initial_liability_judgment", "help_for_elderly"],
    "explanation": "Inpatient treatment of a cerebral infarction is covered.",
}
APPROVED = {
    "decision": "approved",
    "amount": "95000.00",
    "decided_on": DECIDED_ON,
    "claim_report": "Eligible 168,333.33, deductible 10,000.00, ratio 60%: 95,000.00.",
}
DENIED = {
    "decision": "denied",
    "reason": "The condition was diagnosed before the waiting period ended.",
    "decided_on": DECIDED_ON,
}


# --- helpers ------------------------------------------------------------------------------


def collected(*codes: str) -> list[dict[str, Any]]:
    return [{"code": c, "status": "collected"} for c in codes]


async def timeline(api: httpx.AsyncClient, claim_id: str) -> list[dict[str, Any]]:
    r = await api.get(f"/claims/{claim_id}/timeline")
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def entries(tl: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [e for e in tl if e["action"] == action]


def stages(tl: list[dict[str, Any]]) -> list[str]:
    return [e["details"]["new"] for e in entries(tl, "stage_changed")]


async def live(api: httpx.AsyncClient, claim_id: str) -> dict[str, Any]:
    r = await api.get(f"/claims/{claim_id}")
    assert r.status_code == 200, r.text
    return r.json()


async def task_rows(pool: asyncpg.Pool, claim_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT task_id, kind, role, assignee, status, data FROM tasks WHERE claim_id=$1"
        " ORDER BY created_at, task_id",
        claim_id,
    )
    return [dict(r) for r in rows]


async def open_tasks(pool: asyncpg.Pool, claim_id: str) -> list[dict[str, Any]]:
    return [t for t in await task_rows(pool, claim_id) if t["status"] == "open"]


async def snapshot(api: httpx.AsyncClient, pool: asyncpg.Pool, claim_id: str) -> tuple:
    """The live claim and everything the read model holds about it: a rejection changes none."""
    claim = await pool.fetchrow(
        "SELECT version, stage, status, snapshot FROM claims WHERE claim_id=$1", claim_id
    )
    tasks = await pool.fetch("SELECT * FROM tasks WHERE claim_id=$1 ORDER BY task_id", claim_id)
    items = await pool.fetch(
        "SELECT * FROM checklist_items WHERE claim_id=$1 ORDER BY code", claim_id
    )
    count = await pool.fetchval("SELECT count(*) FROM timeline WHERE claim_id=$1", claim_id)
    return (
        await live(api, claim_id),
        dict(claim),
        [dict(t) for t in tasks],
        [dict(i) for i in items],
        count,
    )


def refused(r: httpx.Response, status: int, code: str, *words: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code, body
    for word in words:
        assert word in body["detail"], body["detail"]


async def reach(api: httpx.AsyncClient, stage: str) -> tuple[ReferenceCase, dict[str, Any]]:
    """Mr. Wang's offline case, driven by the reference steps until the claim is in `stage`
    (for `filing`: the user's confirmation is the open task)."""
    case = ReferenceCase(api)
    await case.register_agent()
    view = await case.return_visit_opens_case()
    steps = [
        case.xiao_gao_triages,
        case.xiao_zheng_accepts,
        case.home_visit,
        case.hospital_trip_and_submit,
        case.xiao_gao_verifies,
        case.wang_confirms_filing,
        case.xiao_gao_files,
        case.xiao_zheng_explains_expectations,
    ]
    for step in steps:
        if view["stage"] == stage:
            break
        view = await step()
    assert view["stage"] == stage, view["stage"]
    return case, view


async def decide(case: ReferenceCase, **response: Any) -> dict[str, Any]:
    return await case.complete("record_insurer_response", CONSULTANT, **response)


# --- 1. the online path -------------------------------------------------------------------


async def test_online_path_runs_with_the_consultant_to_paid_and_explained(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    await add_agent(api, AGENT, "Beijing")  # available, but the online path needs nobody
    case = ReferenceCase(api)
    await case.return_visit_opens_case()
    view = await case.complete(
        "triage",
        CONSULTANT,
        liability="covered",
        path="online",
        assist_services=["information_summary"],
        explanation="Covered; online is enough.",
    )
    assert view["stage"] == "document_gathering"
    assert view["field_agent"] is None
    assert [i["code"] for i in view["checklist"]] == MEDICAL_CHECKLIST

    gather = await case.task("gather_documents")
    assert (gather["role"], gather["assignee"]) == ("consultant", CONSULTANT)
    assert gather["data"]["items"] == MEDICAL_CHECKLIST
    view = await case.complete("gather_documents", CONSULTANT, items=collected(*MEDICAL_CHECKLIST))
    assert view["stage"] == "verification"
    view = await case.xiao_gao_verifies()
    assert view["stage"] == "filing"

    confirm = await case.task("confirm_filing")
    assert (confirm["role"], confirm["assignee"]) == ("consultant", CONSULTANT)
    view = await case.complete("confirm_filing", CONSULTANT, confirmed=True)
    assert view["user_confirmed_filing"] is True
    view = await case.xiao_gao_files()
    assert view["stage"] == "pre_decision_explanation"

    expectations = await case.task("explain_expectations")
    assert (expectations["role"], expectations["assignee"]) == ("consultant", CONSULTANT)
    await case.complete("explain_expectations", CONSULTANT, note="Explained by phone.")
    view = await case.insurer_pays()
    assert view["stage"] == "payout_explanation"

    outcome = await case.task("explain_outcome")
    assert (outcome["role"], outcome["assignee"]) == ("consultant", CONSULTANT)
    view = await case.complete("explain_outcome", CONSULTANT, user_accepts=True)
    assert (view["status"], view["closure"]) == ("closed", "paid_and_explained")

    rows = await task_rows(pool, case.claim_id)
    assert {t["assignee"] for t in rows} == {CONSULTANT}
    assert {t["role"] for t in rows} == {"consultant"}
    assert not any(t["kind"] == "accept_dispatch" for t in rows)
    assert all(t["status"] == "completed" for t in rows)
    tl = await timeline(api, case.claim_id)
    assert stages(tl) == [
        "triage",
        "document_gathering",
        "verification",
        "filing",
        "pre_decision_explanation",
        "insurer_review",
        "payout_explanation",
        "closed",
    ]
    row = await pool.fetchrow(
        "SELECT closure, field_agent, awarded_amount FROM claims WHERE claim_id=$1", case.claim_id
    )
    assert dict(row) == {
        "closure": "paid_and_explained",
        "field_agent": None,
        "awarded_amount": Decimal("95000.00"),
    }
    assert (await api.get(f"/field-agents/{AGENT}")).json()["open_tasks"] == 0


# --- 2. the offline path refused ----------------------------------------------------------


async def test_offline_path_refused_outside_a_served_city(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    await add_agent(api, "agent.sh", "Shanghai")
    claim = await open_claim(
        api, policyholder={"name": "Mr. Li", "city": "Shanghai", "needs": ["elderly"]}
    )
    claim_id = claim["claim_id"]
    triage = await open_task(api, claim_id, "triage")
    before = await snapshot(api, pool, claim_id)

    r = await complete(api, triage["task_id"], COVERED_OFFLINE)
    refused(r, 422, "NotAllowed", "offline path is not available", "Shanghai", "Beijing")
    assert "need" not in r.json()["detail"]  # only what is lacking: the city
    assert await snapshot(api, pool, claim_id) == before

    # The same consultant can still choose the online path.
    r = await complete(api, triage["task_id"], {**COVERED_OFFLINE, "path": "online"})
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "document_gathering"


async def test_offline_path_refused_without_a_need(api: httpx.AsyncClient, pool: asyncpg.Pool):
    await add_agent(api, AGENT, "Beijing")
    claim = await open_claim(api, policyholder={"name": "Ms. Zhao", "city": "Beijing", "age": 35})
    claim_id = claim["claim_id"]
    triage = await open_task(api, claim_id, "triage")
    before = await snapshot(api, pool, claim_id)

    r = await complete(api, triage["task_id"], COVERED_OFFLINE)
    refused(r, 422, "NotAllowed", "offline path is not available", "no need for field service")
    assert "served city" not in r.json()["detail"]
    assert await snapshot(api, pool, claim_id) == before


async def test_offline_path_needs_the_pre_audit_judgment(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    claim = await open_claim(api)
    claim_id = claim["claim_id"]
    triage = await open_task(api, claim_id, "triage")
    before = await snapshot(api, pool, claim_id)

    r = await complete(api, triage["task_id"], {**COVERED_OFFLINE, "meets_pre_audit": False})
    assert r.status_code == 422, r.text
    assert "pre-audit" in json.dumps(r.json()["detail"])
    without = {k: v for k, v in COVERED_OFFLINE.items() if k != "meets_pre_audit"}
    r = await complete(api, triage["task_id"], without)
    assert r.status_code == 422, r.text
    assert await snapshot(api, pool, claim_id) == before


# --- 3. dispatch: declines, availability, the manager ---------------------------------------


async def _offline_claim(api: httpx.AsyncClient) -> str:
    claim = await open_claim(api)
    triage = await open_task(api, claim["claim_id"], "triage")
    r = await complete(api, triage["task_id"], COVERED_OFFLINE)
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "dispatch"
    return claim["claim_id"]


async def _answer_dispatch(api: httpx.AsyncClient, claim_id: str, agent: str, **answer: Any):
    task = await open_task(api, claim_id, "accept_dispatch")
    assert (task["role"], task["assignee"]) == ("field_agent", agent)
    r = await complete(api, task["task_id"], {"kind": "accept_dispatch", **answer}, by=agent)
    assert r.status_code == 200, r.text
    return r.json()


async def test_declined_dispatch_goes_to_the_next_agent_then_to_the_manager(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    await add_agent(api, "agent.0", "Wuhan")  # another city: never picked for Beijing
    await add_agent(api, "agent.a", "Beijing", available=False)  # never picked
    await add_agent(api, "agent.b", " beijing ")  # the city matches however it is written
    await add_agent(api, "agent.c", "Beijing")
    await add_agent(api, "agent.d", "Beijing")

    # All free: the tie goes to the lowest agent id among the available.
    first = await _offline_claim(api)
    assert (await open_task(api, first, "accept_dispatch"))["assignee"] == "agent.b"
    assert (await api.get("/field-agents/agent.b")).json()["open_tasks"] == 1

    # agent.b is busier now: the least busy available agent is picked.
    claim_id = await _offline_claim(api)
    view = await _answer_dispatch(
        api, claim_id, "agent.c", accepted=False, decline_reason="on leave this week"
    )
    assert view["stage"] == "dispatch"
    assert view["declined_by"] == ["agent.c"]
    assert (await open_task(api, claim_id, "accept_dispatch"))["assignee"] == "agent.d"
    # agent.b is still there but busy; made unavailable, he is not picked either.
    r = await api.put(
        "/field-agents/agent.b", json={"name": "agent.b", "city": "Beijing", "available": False}
    )
    assert r.status_code == 200 and r.json()["available"] is False
    view = await _answer_dispatch(api, claim_id, "agent.d", accepted=False, decline_reason="far")
    assert view["declined_by"] == ["agent.c", "agent.d"]
    # Nobody is left: a manager names the agent.
    assign = await open_task(api, claim_id, "assign_field_agent")
    assert (assign["role"], assign["assignee"]) == ("manager", None)
    assert assign["data"] == {"city": "Beijing", "declined_by": ["agent.c", "agent.d"]}
    assert [t["kind"] for t in await open_tasks(pool, claim_id)] == ["assign_field_agent"]

    await add_agent(api, "agent.e", "Beijing")
    r = await complete(
        api, assign["task_id"], {"kind": "assign_field_agent", "agent_id": "agent.e"}, by=MANAGER
    )
    assert r.status_code == 200, r.text
    view = await _answer_dispatch(
        api, claim_id, "agent.e", accepted=True, visit_at=f"{VISIT_DAY}T10:00:00+08:00"
    )
    assert view["stage"] == "document_gathering"
    assert view["field_agent"] == "agent.e"
    gather = await open_task(api, claim_id, "gather_documents")
    assert (gather["role"], gather["assignee"]) == ("field_agent", "agent.e")

    tl = await timeline(api, claim_id)
    declines = entries(tl, "dispatch_declined")
    assert [(e["actor"], e["details"]["reason"]) for e in declines] == [
        ("agent.c", "on leave this week"),
        ("agent.d", "far"),
    ]
    assigned = [
        t["assignee"] for t in await task_rows(pool, claim_id) if t["kind"] == "accept_dispatch"
    ]
    assert assigned == ["agent.c", "agent.d", "agent.e"]
    for never in ("agent.0", "agent.a"):
        assert (await api.get(f"/field-agents/{never}")).json()["open_tasks"] == 0


async def test_nobody_left_after_declines_opens_a_manager_task(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    await add_agent(api, "agent.b", "Beijing")
    await add_agent(api, "agent.c", "Beijing")
    claim_id = await _offline_claim(api)
    await _answer_dispatch(api, claim_id, "agent.b", accepted=False, decline_reason="ill")
    view = await _answer_dispatch(api, claim_id, "agent.c", accepted=False, decline_reason="busy")
    assert view["stage"] == "dispatch"

    assign = await open_task(api, claim_id, "assign_field_agent")
    assert (assign["role"], assign["assignee"]) == ("manager", None)
    assert assign["data"] == {"city": "Beijing", "declined_by": ["agent.b", "agent.c"]}
    assert [t["kind"] for t in await open_tasks(pool, claim_id)] == ["assign_field_agent"]
    inbox = (await api.get("/tasks", params={"role": "manager"})).json()["items"]
    assert [t["task_id"] for t in inbox] == [assign["task_id"]]

    r = await complete(
        api, assign["task_id"], {"kind": "assign_field_agent", "agent_id": "agent.b"}, by=MANAGER
    )
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "dispatch"
    view = await _answer_dispatch(
        api, claim_id, "agent.b", accepted=True, visit_at=f"{VISIT_DAY}T09:30:00+08:00"
    )
    assert (view["stage"], view["field_agent"]) == ("document_gathering", "agent.b")
    assert view["visit_at"].startswith(f"{VISIT_DAY}T")
    tl = await timeline(api, claim_id)
    done = [
        e for e in entries(tl, "task_completed") if e["details"]["kind"] == "assign_field_agent"
    ]
    assert [e["actor"] for e in done] == [MANAGER]


# --- 4. verification sends back several items at once --------------------------------------


async def test_incomplete_set_goes_back_all_at_once(api: httpx.AsyncClient, pool: asyncpg.Pool):
    case, _ = await reach(api, "document_gathering")
    claim_id = case.claim_id
    all_but_bank = [c for c in MEDICAL_CHECKLIST if c != "bank_card_copy"]
    view = await case.complete("gather_documents", AGENT, items=collected(*all_but_bank))
    assert view["stage"] == "verification"

    # The consultant cannot call a set complete while something is not collected.
    verify = await case.task("verify_documents")
    assert verify["data"]["items"] == MEDICAL_CHECKLIST
    before = await snapshot(api, pool, claim_id)
    r = await complete(api, verify["task_id"], {"kind": "verify_documents", "complete": True})
    refused(r, 422, "NotAllowed", "bank_card_copy")
    assert "medical_record" not in r.json()["detail"]
    assert await snapshot(api, pool, claim_id) == before

    sent_back = [
        {"code": "bank_card_copy", "status": "missing"},
        {"code": "medical_record", "status": "rejected", "rejection_reason": "illegible copy"},
        {
            "code": "payment_receipts",
            "status": "rejected",
            "rejection_reason": "receipts mixed with other family members' receipts",
        },
    ]
    view = await case.complete("verify_documents", CONSULTANT, complete=False, sent_back=sent_back)
    assert view["stage"] == "document_gathering"
    status = {i["code"]: (i["status"], i["rejection_reason"]) for i in view["checklist"]}
    assert status["bank_card_copy"] == ("missing", None)
    assert status["medical_record"] == ("rejected", "illegible copy")
    assert status["discharge_summary"] == ("collected", None)

    # ONE task for everything sent back, not one per item.
    assert [t["kind"] for t in await open_tasks(pool, claim_id)] == ["gather_documents"]
    gather = await case.task("gather_documents")
    assert gather["assignee"] == AGENT
    assert gather["data"]["items"] == ["bank_card_copy", "medical_record", "payment_receipts"]
    assert [s["code"] for s in gather["data"]["sent_back"]] == gather["data"]["items"]
    assert gather["data"]["sent_back"][2]["rejection_reason"].startswith("receipts mixed")
    rows = dict(
        await pool.fetch("SELECT code, status FROM checklist_items WHERE claim_id=$1", claim_id)
    )
    assert rows["medical_record"] == "rejected" and rows["bank_card_copy"] == "missing"

    # Only two of the three come back: still not complete, and it says which.
    view = await case.complete(
        "gather_documents", AGENT, items=collected("medical_record", "payment_receipts")
    )
    verify = await case.task("verify_documents")
    assert verify["data"]["items"] == ["bank_card_copy", "medical_record", "payment_receipts"]
    before = await snapshot(api, pool, claim_id)
    r = await complete(api, verify["task_id"], {"kind": "verify_documents", "complete": True})
    refused(r, 422, "NotAllowed", "bank_card_copy")
    assert "payment_receipts" not in r.json()["detail"]
    assert await snapshot(api, pool, claim_id) == before

    await case.complete(
        "verify_documents",
        CONSULTANT,
        complete=False,
        sent_back=[{"code": "bank_card_copy", "status": "missing"}],
    )
    assert (await case.task("gather_documents"))["data"]["items"] == ["bank_card_copy"]
    await case.complete("gather_documents", AGENT, items=collected("bank_card_copy"))
    view = await case.xiao_gao_verifies()
    assert view["stage"] == "filing"
    assert all(i["status"] == "collected" for i in view["checklist"])
    tl = await timeline(api, claim_id)
    assert stages(tl).count("document_gathering") == 3
    by_consultant = [
        e["details"]["code"] for e in entries(tl, "document_updated") if e["actor"] == CONSULTANT
    ]
    # Only changes are recorded: the bank card copy was missing already.
    assert by_consultant == ["medical_record", "payment_receipts"]


# --- 5. the insurer asks for supplemental documents -----------------------------------------


async def test_supplemental_documents_go_back_to_gathering_for_those_items_only(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    case, _ = await reach(api, "insurer_review")
    claim_id = case.claim_id
    first_review = await case.task("record_insurer_response")
    assert first_review["data"] == {"insurer_claim_reference": case.insurer_reference}

    # A document the catalogue does not know is refused, naming it.
    before = await snapshot(api, pool, claim_id)
    r = await complete(
        api,
        first_review["task_id"],
        {
            "kind": "record_insurer_response",
            "decision": "supplemental_documents_requested",
            "requested_documents": ["medical_record", "xray_film"],
        },
    )
    refused(r, 422, "NotAllowed", "xray_film")
    assert await snapshot(api, pool, claim_id) == before

    requested = ["medical_record", "examination_reports"]  # the second is not on the checklist
    view = await decide(
        case, decision="supplemental_documents_requested", requested_documents=requested
    )
    assert view["stage"] == "document_gathering"
    items = {i["code"]: i["status"] for i in view["checklist"]}
    assert items["medical_record"] == "missing"
    assert items["examination_reports"] == "missing"
    assert [c for c, s in items.items() if s != "collected"] == requested
    gather = await case.task("gather_documents")
    assert gather["assignee"] == AGENT
    assert gather["data"]["items"] == requested
    assert [t["kind"] for t in await open_tasks(pool, claim_id)] == ["gather_documents"]
    rows = dict(
        await pool.fetch("SELECT code, status FROM checklist_items WHERE claim_id=$1", claim_id)
    )
    assert rows["medical_record"] == "missing" and rows["examination_reports"] == "missing"
    assert rows["payment_receipts"] == "collected"

    view = await case.complete("gather_documents", AGENT, items=collected(*requested))
    assert view["stage"] == "verification"
    assert (await case.task("verify_documents"))["data"]["items"] == requested
    view = await case.xiao_gao_verifies()
    assert view["stage"] == "insurer_review"
    second_review = await case.task("record_insurer_response")
    assert second_review["task_id"] != first_review["task_id"]

    view = await decide(case, **APPROVED)
    assert view["stage"] == "payout_explanation"
    assert Decimal(view["payout"]["awarded"]) == Decimal("95000.00")
    assert [r["decision"] for r in view["insurer_responses"]] == [
        "supplemental_documents_requested",
        "approved",
    ]
    tl = await timeline(api, claim_id)
    assert stages(tl)[-5:] == [
        "insurer_review",
        "document_gathering",
        "verification",
        "insurer_review",
        "payout_explanation",
    ]
    assert [e["details"]["codes"] for e in entries(tl, "supplemental_documents_requested")] == [
        requested
    ]
    # Filing happens once: the supplement goes straight back to the insurer.
    kinds = [t["kind"] for t in await task_rows(pool, claim_id)]
    assert kinds.count("file_claim") == 1 and kinds.count("confirm_filing") == 1


# --- 6. partial approval --------------------------------------------------------------------


async def test_partial_approval_below_expected_is_reconciled_and_explained(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    case, _ = await reach(api, "insurer_review")
    view = await decide(
        case,
        decision="partially_approved",
        amount="80000.00",
        decided_on=DECIDED_ON,
        claim_report="Rehabilitation not covered: 80,000.00.",
    )
    assert view["stage"] == "payout_explanation"
    payout = view["payout"]
    assert Decimal(payout["awarded"]) == Decimal("80000.00")
    rec = payout["reconciliation"]
    assert rec["matches"] is False
    assert Decimal(rec["difference"]) == Decimal("-15000.00")
    assert Decimal(rec["expected"]) == Decimal("95000.00")
    assert "80,000.00" in payout["explanation_en"] and "15,000.00" in payout["explanation_en"]
    assert "less" in payout["explanation_en"]
    assert "80,000.00" in payout["explanation_zh"]
    explain = await case.task("explain_outcome")
    assert explain["assignee"] == AGENT
    assert explain["data"]["decision"] == "partially_approved"
    assert "80,000.00" in explain["data"]["explanation_en"]
    assert explain["data"]["claim_report"] == "Rehabilitation not covered: 80,000.00."

    view = await case.xiao_zheng_explains_payout()
    assert (view["status"], view["closure"]) == ("closed", "paid_and_explained")
    assert await pool.fetchval(
        "SELECT awarded_amount FROM claims WHERE claim_id=$1", case.claim_id
    ) == Decimal("80000.00")


# --- 7. denial ------------------------------------------------------------------------------


async def test_denial_is_explained_and_closes_denied(api: httpx.AsyncClient, pool: asyncpg.Pool):
    case, _ = await reach(api, "insurer_review")
    view = await decide(case, **DENIED)
    assert view["stage"] == "payout_explanation"
    assert view["payout"]["awarded"] is None
    explain = await case.task("explain_outcome")
    assert explain["data"]["decision"] == "denied"
    assert explain["data"]["reason"] == DENIED["reason"]

    view = await case.xiao_zheng_explains_payout()
    assert (view["status"], view["closure"]) == ("closed", "denied_and_explained")
    assert view["payout"]["awarded"] is None
    row = await pool.fetchrow(
        "SELECT closure, awarded_amount FROM claims WHERE claim_id=$1", case.claim_id
    )
    assert dict(row) == {"closure": "denied_and_explained", "awarded_amount": None}
    closed = entries(await timeline(api, case.claim_id), "claim_closed")
    assert [e["details"] for e in closed] == [
        {"closure": "denied_and_explained", "explanation": DENIED["reason"]}
    ]
    assert not await open_tasks(pool, case.claim_id)


# --- 8. dispute -----------------------------------------------------------------------------


async def test_disputed_award_revised_closes_paid_with_the_revised_amount(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    case, _ = await reach(api, "insurer_review")
    await decide(
        case,
        decision="partially_approved",
        amount="80000.00",
        decided_on=DECIDED_ON,
        claim_report="Rehabilitation not covered.",
    )
    view = await case.complete(
        "explain_outcome", AGENT, user_accepts=False, note="Mr. Wang expected 95,000.00."
    )
    assert (view["stage"], view["status"]) == ("dispute", "open")
    dispute = await case.task("resolve_dispute")
    assert (dispute["role"], dispute["assignee"]) == ("consultant", CONSULTANT)
    assert dispute["data"] == {
        "decision": "partially_approved",
        "note": "Mr. Wang expected 95,000.00.",
    }
    assert [t["kind"] for t in await open_tasks(pool, case.claim_id)] == ["resolve_dispute"]

    view = await case.complete(
        "resolve_dispute", CONSULTANT, resolution="revised", revised_amount="95000.00"
    )
    assert (view["status"], view["closure"]) == ("closed", "paid_and_explained")
    assert Decimal(view["payout"]["awarded"]) == Decimal("95000.00")
    assert view["payout"]["reconciliation"]["matches"] is True
    # The explanation is of the revised award alone, not of the one disputed.
    assert view["payout"]["explanation_en"].startswith("Payout: 95,000.00 yuan.")
    assert "80,000.00" not in view["payout"]["explanation_en"]
    assert "80,000.00" not in view["payout"]["explanation_zh"]
    assert view["dispute"]["resolution"] == "revised"
    assert await pool.fetchval(
        "SELECT awarded_amount FROM claims WHERE claim_id=$1", case.claim_id
    ) == Decimal("95000.00")
    tl = await timeline(api, case.claim_id)
    awards = [(e["details"]["old"], e["details"]["new"]) for e in entries(tl, "payout_awarded")]
    assert awards == [(None, "80000.00"), ("80000.00", "95000.00")]
    assert stages(tl)[-3:] == ["payout_explanation", "dispute", "closed"]


async def test_disputed_denial_upheld_closes_denied(api: httpx.AsyncClient, pool: asyncpg.Pool):
    case, _ = await reach(api, "insurer_review")
    await decide(case, **DENIED)
    view = await case.complete("explain_outcome", AGENT, user_accepts=False, note="He disagrees.")
    assert view["stage"] == "dispute"
    assert (await case.task("resolve_dispute"))["data"]["decision"] == "denied"
    view = await case.complete(
        "resolve_dispute", CONSULTANT, resolution="upheld", note="The insurer keeps its decision."
    )
    assert (view["status"], view["closure"]) == ("closed", "denied_and_explained")
    assert view["payout"]["awarded"] is None
    assert view["dispute"]["resolution"] == "upheld"
    assert not await open_tasks(pool, case.claim_id)


# --- 9 and 10. withdrawal -------------------------------------------------------------------

STALE_OUTCOME = {
    "triage": COVERED_OFFLINE,
    "gather_documents": {"kind": "gather_documents", "items": []},
    "record_insurer_response": {
        "kind": "record_insurer_response",
        "decision": "approved",
        **APPROVED,
    },
}


@pytest.mark.parametrize(
    ("stage", "open_kind"),
    [
        ("triage", "triage"),
        ("document_gathering", "gather_documents"),
        ("insurer_review", "record_insurer_response"),
    ],
)
async def test_withdrawal_closes_the_claim_and_cancels_open_tasks(
    api: httpx.AsyncClient, pool: asyncpg.Pool, stage: str, open_kind: str
):
    case, _ = await reach(api, stage)
    claim_id = case.claim_id
    pending = await case.task(open_kind)
    assert [t["kind"] for t in await open_tasks(pool, claim_id)] == [open_kind]
    completed_before = {
        t["task_id"] for t in await task_rows(pool, claim_id) if t["status"] == "completed"
    }

    r = await api.post(
        f"/claims/{claim_id}/withdraw",
        json={"recorded_by": "return-visit/li", "reason": "the family decided"},
    )
    assert r.status_code == 200, r.text
    view = r.json()
    assert (view["status"], view["closure"], view["stage"]) == ("closed", "withdrawn", "closed")

    rows = await task_rows(pool, claim_id)
    assert not [t for t in rows if t["status"] == "open"]
    assert [t["task_id"] for t in rows if t["status"] == "cancelled"] == [pending["task_id"]]
    assert {t["task_id"] for t in rows if t["status"] == "completed"} == completed_before
    row = await pool.fetchrow(
        "SELECT status, closure, stage FROM claims WHERE claim_id=$1", claim_id
    )
    assert dict(row) == {"status": "closed", "closure": "withdrawn", "stage": "closed"}
    tl = await timeline(api, claim_id)
    closed = entries(tl, "claim_closed")
    assert len(closed) == 1
    assert closed[0]["actor"] == "return-visit/li"
    assert closed[0]["details"] == {"closure": "withdrawn", "explanation": "the family decided"}
    assert [e["details"]["task_id"] for e in entries(tl, "task_cancelled")] == [pending["task_id"]]

    after = await snapshot(api, pool, claim_id)
    r = await api.post(f"/claims/{claim_id}/withdraw", json={"recorded_by": "return-visit/li"})
    refused(r, 409, "ClaimClosed")
    r = await complete(api, pending["task_id"], STALE_OUTCOME[open_kind])
    refused(r, 409, "ClaimClosed")
    r = await api.post(f"/claims/{claim_id}/notes", json={"author": CONSULTANT, "text": "late"})
    refused(r, 409, "ClaimClosed")
    assert await snapshot(api, pool, claim_id) == after


async def test_user_declining_to_file_withdraws_the_claim(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    case, _ = await reach(api, "filing")
    view = await case.complete(
        "confirm_filing", AGENT, confirmed=False, note="He changed his mind."
    )
    assert (view["status"], view["closure"]) == ("closed", "withdrawn")
    assert view["user_confirmed_filing"] is False
    assert view["filing"] is None
    rows = await task_rows(pool, case.claim_id)
    assert not [t for t in rows if t["status"] == "open"]
    assert "file_claim" not in [t["kind"] for t in rows]
    closed = entries(await timeline(api, case.claim_id), "claim_closed")
    assert [e["details"]["closure"] for e in closed] == ["withdrawn"]
    assert "declined" in closed[0]["details"]["explanation"]
    r = await api.post(f"/claims/{case.claim_id}/withdraw", json={"recorded_by": AGENT})
    refused(r, 409, "ClaimClosed")


# --- 11. the insurer's webhook --------------------------------------------------------------


@pytest.fixture
async def insurer_api(
    api: httpx.AsyncClient, settings: Settings, temporal_client: Client, pool: asyncpg.Pool
) -> AsyncIterator[httpx.AsyncClient]:
    """A second app, configured with the webhook secret (the `api` one has none)."""
    configured = settings.model_copy(update={"insurer_webhook_secret": SECRET})
    app = create_app(configured, ClaimsClient(temporal_client, pool, settings.temporal_task_queue))
    async with in_process(
        app, base_url="http://insurer.test", raise_app_exceptions=False, timeout=30
    ) as http:
        yield http


def message(reference: str, **response: Any) -> bytes:
    return json.dumps({"insurer_claim_reference": reference, "response": response}).encode()


async def post_webhook(
    http: httpx.AsyncClient,
    body: bytes,
    *,
    timestamp: str | None = None,
    signature: str | None = None,
) -> httpx.Response:
    ts = timestamp if timestamp is not None else str(int(time.time()))
    return await http.post(
        "/insurer/webhook",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Claimflow-Timestamp": ts,
            "X-Claimflow-Signature": signature or sign(SECRET, ts, body),
        },
    )


async def test_webhook_is_off_without_a_secret(api: httpx.AsyncClient):
    body = message("EL-ANY", **APPROVED)
    r = await post_webhook(api, body)
    assert r.status_code == 404, r.text


async def test_insurer_webhook_approval_moves_the_claim_on(
    api: httpx.AsyncClient, insurer_api: httpx.AsyncClient, pool: asyncpg.Pool
):
    case, _ = await reach(api, "insurer_review")
    claim_id = case.claim_id
    review = await case.task("record_insurer_response")

    r = await post_webhook(insurer_api, message(case.insurer_reference, **APPROVED))
    assert r.status_code == 202, r.text
    assert r.json() == {"claim_id": claim_id, "accepted": True}

    async def moved_on() -> dict[str, Any] | None:
        rows = {t["kind"]: t for t in await task_rows(pool, claim_id)}
        if rows.get("explain_outcome", {}).get("status") == "open":
            return rows
        return None

    rows = await eventually(moved_on, timeout=5.0, every=0.05)
    assert rows["record_insurer_response"]["task_id"] == review["task_id"]
    assert rows["record_insurer_response"]["status"] == "cancelled"
    view = await live(api, claim_id)
    assert view["stage"] == "payout_explanation"
    assert Decimal(view["payout"]["awarded"]) == Decimal("95000.00")
    assert [r["decision"] for r in view["insurer_responses"]] == ["approved"]
    assert await pool.fetchval("SELECT stage FROM claims WHERE claim_id=$1", claim_id) == (
        "payout_explanation"
    )
    tl = await timeline(api, claim_id)
    assert [e["actor"] for e in entries(tl, "insurer_message_received")] == ["insurer"]
    cancelled = entries(tl, "task_cancelled")
    assert [(e["details"]["task_id"], e["details"]["reason"]) for e in cancelled] == [
        (review["task_id"], "answered by the insurer's API")
    ]
    # The consultant can no longer record an answer for that task.
    r = await complete(api, review["task_id"], STALE_OUTCOME["record_insurer_response"])
    refused(r, 409, "TaskNotOpen")

    view = await case.xiao_zheng_explains_payout()
    assert view["closure"] == "paid_and_explained"


async def test_insurer_webhook_rejections_change_nothing(
    api: httpx.AsyncClient, insurer_api: httpx.AsyncClient, pool: asyncpg.Pool
):
    case, _ = await reach(api, "insurer_review")
    claim_id = case.claim_id
    before = await snapshot(api, pool, claim_id)
    body = message(case.insurer_reference, **APPROVED)
    now = int(time.time())

    # Signed with another secret, or over other bytes.
    r = await post_webhook(insurer_api, body, signature=sign("other", str(now), body))
    assert r.status_code == 401, r.text
    r = await post_webhook(insurer_api, body, signature=sign(SECRET, str(now), body + b" "))
    assert r.status_code == 401, r.text
    # A correctly signed request replayed later than five minutes, or dated in the future.
    old = str(now - 301)
    r = await post_webhook(insurer_api, body, timestamp=old, signature=sign(SECRET, old, body))
    assert r.status_code == 401, r.text
    future = str(now + 600)
    r = await post_webhook(insurer_api, body, timestamp=future)
    assert r.status_code == 401, r.text
    r = await post_webhook(insurer_api, body, timestamp="yesterday")
    assert r.status_code == 401, r.text
    # Nobody carries this reference.
    r = await post_webhook(insurer_api, message("EL-NOBODY", **APPROVED))
    assert r.status_code == 404, r.text
    # Malformed, though correctly signed: not JSON, an approval without its amount, no reference.
    r = await post_webhook(insurer_api, b"{not json")
    assert r.status_code == 422, r.text
    r = await post_webhook(insurer_api, message(case.insurer_reference, decision="approved"))
    assert r.status_code == 422, r.text
    r = await post_webhook(insurer_api, json.dumps({"response": APPROVED}).encode())
    assert r.status_code == 422, r.text

    await asyncio.sleep(0.2)  # a wrongly sent Signal would have landed by now
    assert await snapshot(api, pool, claim_id) == before
    assert (await case.task("record_insurer_response"))["status"] == "open"


async def test_insurer_webhook_refuses_unknown_supplemental_documents(
    api: httpx.AsyncClient, insurer_api: httpx.AsyncClient, pool: asyncpg.Pool
):
    case, _ = await reach(api, "insurer_review")
    before = await snapshot(api, pool, case.claim_id)
    body = message(
        case.insurer_reference,
        decision="supplemental_documents_requested",
        requested_documents=["xray_film"],
    )
    r = await post_webhook(insurer_api, body)
    # As when a consultant records it: refused, naming the document, and nothing changes.
    assert r.status_code == 422, r.text
    assert "xray_film" in r.text
    assert await snapshot(api, pool, case.claim_id) == before


# --- 12. notes and reassignment -------------------------------------------------------------


async def test_notes_appear_in_the_claim_and_timeline(api: httpx.AsyncClient, pool: asyncpg.Pool):
    claim = await open_claim(api)
    claim_id = claim["claim_id"]
    r = await api.post(
        f"/claims/{claim_id}/notes",
        json={"author": CONSULTANT, "text": "Son prefers calls after 6pm."},
    )
    assert r.status_code == 200, r.text
    r = await api.post(
        f"/claims/{claim_id}/notes", json={"author": "return-visit/li", "text": "Hearing is poor."}
    )
    assert r.status_code == 200, r.text
    notes = r.json()["notes"]
    assert [(n["author"], n["text"]) for n in notes] == [
        (CONSULTANT, "Son prefers calls after 6pm."),
        ("return-visit/li", "Hearing is poor."),
    ]
    assert all(n["at"] for n in notes)
    assert (await live(api, claim_id))["notes"] == notes
    # Notes are timeline entries: the claim's snapshot does not repeat them.
    stored = await pool.fetchval("SELECT snapshot->'notes' FROM claims WHERE claim_id=$1", claim_id)
    assert stored is None
    closed_view = await live(api, claim_id)
    assert [n["text"] for n in closed_view["notes"]] == [
        "Son prefers calls after 6pm.", "Hearing is poor."
    ]
    added = entries(await timeline(api, claim_id), "note_added")
    assert [(e["actor"], e["details"]["text"]) for e in added] == [
        (CONSULTANT, "Son prefers calls after 6pm."),
        ("return-visit/li", "Hearing is poor."),
    ]
    before = await snapshot(api, pool, claim_id)
    r = await api.post(f"/claims/{claim_id}/notes", json={"author": CONSULTANT, "text": ""})
    assert r.status_code == 422
    assert await snapshot(api, pool, claim_id) == before


async def test_reassign_moves_the_task_and_records_old_and_new(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    claim = await open_claim(api)
    claim_id = claim["claim_id"]
    triage = await open_task(api, claim_id, "triage")
    assert triage["assignee"] == CONSULTANT

    change = {"assignee": "xiao.li", "reassigned_by": MANAGER, "reason": "Xiao Gao is on leave"}
    r = await api.post(f"/tasks/{triage['task_id']}/reassign", json=change)
    assert r.status_code == 200, r.text
    moved = next(t for t in r.json()["tasks"] if t["task_id"] == triage["task_id"])
    assert moved["assignee"] == "xiao.li"
    old_inbox = (await api.get("/tasks", params={"assignee": CONSULTANT})).json()["items"]
    new_inbox = (await api.get("/tasks", params={"assignee": "xiao.li"})).json()["items"]
    assert old_inbox == []
    assert [t["task_id"] for t in new_inbox] == [triage["task_id"]]
    reassigned = entries(await timeline(api, claim_id), "task_reassigned")
    assert [(e["actor"], e["details"]) for e in reassigned] == [
        (
            MANAGER,
            {
                "task_id": triage["task_id"],
                "old": CONSULTANT,
                "new": "xiao.li",
                "reason": "Xiao Gao is on leave",
            },
        )
    ]

    before = await snapshot(api, pool, claim_id)
    r = await api.post(f"/tasks/{triage['task_id']}/reassign", json=change)
    refused(r, 409, "Duplicate", "xiao.li")
    assert await snapshot(api, pool, claim_id) == before

    r = await complete(api, triage["task_id"], COVERED_OFFLINE, by="xiao.li")
    assert r.status_code == 200, r.text
    before = await snapshot(api, pool, claim_id)
    r = await api.post(
        f"/tasks/{triage['task_id']}/reassign", json={**change, "assignee": CONSULTANT}
    )
    refused(r, 409, "TaskNotOpen")
    assert await snapshot(api, pool, claim_id) == before


async def test_reassigned_dispatch_makes_the_new_agent_the_claims_agent(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    await add_agent(api, "agent.b", "Beijing")
    await add_agent(api, "agent.c", "Beijing")
    claim_id = await _offline_claim(api)
    task = await open_task(api, claim_id, "accept_dispatch")
    assert task["assignee"] == "agent.b"
    r = await api.post(
        f"/tasks/{task['task_id']}/reassign", json={"assignee": "agent.c", "reassigned_by": MANAGER}
    )
    assert r.status_code == 200, r.text
    view = await _answer_dispatch(
        api, claim_id, "agent.c", accepted=True, visit_at=f"{VISIT_DAY}T10:00:00+08:00"
    )
    # agent.c accepted the visit: he is the claim's agent and gathers the documents.
    assert view["field_agent"] == "agent.c"
    assert (await open_task(api, claim_id, "gather_documents"))["assignee"] == "agent.c"


# --- 13. checklist progress -----------------------------------------------------------------


async def test_checklist_progress_refusals_change_nothing(
    api: httpx.AsyncClient, pool: asyncpg.Pool
):
    await add_agent(api, AGENT, "Beijing")
    claim = await open_claim(api)
    claim_id = claim["claim_id"]
    progress = {"items": collected("medical_record"), "recorded_by": AGENT}

    # Outside document gathering: at triage ...
    before = await snapshot(api, pool, claim_id)
    r = await api.post(f"/claims/{claim_id}/checklist", json=progress)
    refused(r, 422, "NotAllowed", "triage")
    assert await snapshot(api, pool, claim_id) == before
    # ... and at dispatch.
    triage = await open_task(api, claim_id, "triage")
    assert (await complete(api, triage["task_id"], COVERED_OFFLINE)).status_code == 200
    before = await snapshot(api, pool, claim_id)
    r = await api.post(f"/claims/{claim_id}/checklist", json=progress)
    refused(r, 422, "NotAllowed", "dispatch")
    assert await snapshot(api, pool, claim_id) == before

    accept = await open_task(api, claim_id, "accept_dispatch")
    r = await complete(
        api,
        accept["task_id"],
        {
            "kind": "accept_dispatch",
            "accepted": True,
            "visit_at": f"{VISIT_DAY}T10:00:00+08:00",
        },
        by=AGENT,
    )
    assert r.json()["stage"] == "document_gathering"
    before = await snapshot(api, pool, claim_id)
    # A document that is in the catalogue but not on this claim's checklist.
    r = await api.post(
        f"/claims/{claim_id}/checklist",
        json={
            "items": collected("medical_record", "accident_report"),
            "recorded_by": AGENT,
        },
    )
    refused(r, 422, "NotAllowed", "accident_report")
    assert "medical_record" not in r.json()["detail"]
    r = await api.post(
        f"/claims/{claim_id}/checklist",
        json={
            "hospital_trips": [
                {
                    "hospital": "Beijing Jishuitan Hospital",
                    "on": "2026-06-01",
                    "printed": ["examination_reports"],
                }
            ],
            "recorded_by": AGENT,
        },
    )
    refused(r, 422, "NotAllowed", "examination_reports")
    # A rejected document without a reason, and a reason on a collected one.
    r = await api.post(
        f"/claims/{claim_id}/checklist",
        json={
            "items": [{"code": "payment_receipts", "status": "rejected"}],
            "recorded_by": AGENT,
        },
    )
    assert r.status_code == 422, r.text
    assert "reason" in json.dumps(r.json()["detail"])
    r = await api.post(
        f"/claims/{claim_id}/checklist",
        json={
            "items": [{"code": "payment_receipts", "status": "rejected", "rejection_reason": "  "}],
            "recorded_by": AGENT,
        },
    )
    assert r.status_code == 422, r.text
    r = await api.post(
        f"/claims/{claim_id}/checklist",
        json={
            "items": [{"code": "payment_receipts", "status": "collected", "rejection_reason": "x"}],
            "recorded_by": AGENT,
        },
    )
    assert r.status_code == 422, r.text
    assert await snapshot(api, pool, claim_id) == before

    # And in the right stage, with a known code, it is recorded.
    r = await api.post(f"/claims/{claim_id}/checklist", json=progress)
    assert r.status_code == 200, r.text
    status = {i["code"]: i["status"] for i in r.json()["checklist"]}
    assert status["medical_record"] == "collected"
    assert (
        await pool.fetchval(
            "SELECT status FROM checklist_items WHERE claim_id=$1 AND code='medical_record'",
            claim_id,
        )
        == "collected"
    )


# --- 14. triage asks for more information first ----------------------------------------------


async def test_need_more_information_then_covered(api: httpx.AsyncClient, pool: asyncpg.Pool):
    await add_agent(api, AGENT, "Beijing")
    claim = await open_claim(api)
    claim_id = claim["claim_id"]
    first = await open_task(api, claim_id, "triage")
    r = await complete(
        api,
        first["task_id"],
        {
            "kind": "triage",
            "liability": "need_more_information",
            "explanation": "Which hospital treated him in 2021?",
        },
    )
    assert r.status_code == 200, r.text
    view = r.json()
    assert (view["stage"], view["status"]) == ("triage", "open")
    assert view["triage"]["liability"] == "need_more_information"
    assert view["checklist"] == [] and view["summary"] is None

    second = await open_task(api, claim_id, "triage")
    assert second["task_id"] != first["task_id"]
    assert second["assignee"] == CONSULTANT
    r = await complete(api, second["task_id"], COVERED_OFFLINE)
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["stage"] == "dispatch"
    assert (view["triage"]["liability"], view["triage"]["path"]) == ("covered", "offline")
    assert [i["code"] for i in view["checklist"]] == MEDICAL_CHECKLIST
    assert (await open_task(api, claim_id, "accept_dispatch"))["assignee"] == AGENT

    rows = await task_rows(pool, claim_id)
    assert [(t["kind"], t["status"]) for t in rows] == [
        ("triage", "completed"),
        ("triage", "completed"),
        ("accept_dispatch", "open"),
    ]
    tl = await timeline(api, claim_id)
    assert stages(tl) == ["triage", "dispatch"]
    assert len(entries(tl, "summary_compiled")) == 1
