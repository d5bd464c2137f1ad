"""The whole lifecycle through HTTP, against the real Temporal server and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import httpx

from claimflow.reference_case import AGENT, CONSULTANT, ReferenceCase
from domain.vocabulary import Role
from tests.support.claims import bearer


async def test_mr_wang_end_to_end(api: httpx.AsyncClient, pool: asyncpg.Pool, settings):
    # Xiao Gao and Xiao Zheng act with their own tokens; the admin client registers the agent.
    case = ReferenceCase(
        api,
        signed_in={
            CONSULTANT: bearer(settings, CONSULTANT, Role.CONSULTANT),
            AGENT: bearer(settings, AGENT, Role.FIELD_AGENT, "Beijing"),
        },
    )
    await case.register_agent()
    view = await case.return_visit_opens_case()
    assert view["stage"] == "triage"

    view = await case.xiao_gao_triages()
    assert view["stage"] == "dispatch"
    assert [t["kind"] for t in view["tasks"]] == ["accept_dispatch"]  # the answer lists them
    view = await case.claim()
    assert "Mr. Wang" in view["summary"] and "cerebral infarction" in view["summary"]
    assert view["checklist"][0]["code"] == "claim_application_form"
    assert (await case.task("accept_dispatch"))["assignee"] == AGENT

    view = await case.xiao_zheng_accepts()
    assert view["stage"] == "document_gathering"
    view = await case.claim()
    assert view["field_agent"] == AGENT
    gather = await case.task("gather_documents")
    assert gather["assignee"] == AGENT and gather["role"] == "field_agent"

    await case.home_visit()
    view = await case.claim()
    rejected = {i["code"]: i["rejection_reason"] for i in view["checklist"]
                if i["status"] == "rejected"}
    assert rejected == {
        "medical_record": "medical record missing",
        "payment_receipts": "receipts mixed with other family members' receipts",
    }
    view = await case.hospital_trip_and_submit()
    assert view["stage"] == "verification"
    view = await case.claim()
    assert all(i["status"] == "collected" for i in view["checklist"])
    assert view["hospital_trips"][0]["hospital"] == "Beijing Jishuitan Hospital"

    view = await case.xiao_gao_verifies()
    assert view["stage"] == "filing"
    assert (await case.task("confirm_filing"))["assignee"] == AGENT
    await case.wang_confirms_filing()
    assert (await case.claim())["user_confirmed_filing"] is True
    view = await case.xiao_gao_files()
    assert view["stage"] == "pre_decision_explanation"
    view = await case.claim()
    expected = view["payout"]["expected"]
    assert Decimal(expected["eligible_expenses"]) == Decimal("168333.33")
    assert Decimal(expected["payout"]) == Decimal("95000.00")
    assert "60%" in view["payout"]["explanation_en"]
    assert "95,000.00" in view["payout"]["explanation_zh"]
    explain = await case.task("explain_expectations")
    assert "60%" in explain["data"]["explanation_en"]

    view = await case.xiao_zheng_explains_expectations()
    assert view["stage"] == "insurer_review"
    view = await case.insurer_investigates()
    assert view["stage"] == "insurer_review"
    view = await case.insurer_pays()
    assert view["stage"] == "payout_explanation"
    view = await case.claim()
    assert view["payout"]["reconciliation"]["matches"] is True
    assert Decimal(view["payout"]["awarded"]) == Decimal("95000.00")

    view = await case.xiao_zheng_explains_payout()
    assert (view["status"], view["closure"]) == ("closed", "paid_and_explained")

    row = await pool.fetchrow(
        "SELECT status, closure, field_agent, expected_payout, awarded_amount,"
        " insurer_claim_reference FROM claims WHERE claim_id=$1",
        case.claim_id,
    )
    assert dict(row) == {
        "status": "closed",
        "closure": "paid_and_explained",
        "field_agent": AGENT,
        "expected_payout": Decimal("95000.00"),
        "awarded_amount": Decimal("95000.00"),
        "insurer_claim_reference": case.insurer_reference,
    }
    assert await pool.fetchval(
        "SELECT count(*) FROM tasks WHERE claim_id=$1 AND status='open'", case.claim_id
    ) == 0
    timeline = (await api.get(f"/claims/{case.claim_id}/timeline")).json()["entries"]
    stages = [e["details"]["new"] for e in timeline if e["action"] == "stage_changed"]
    assert stages == [
        "triage", "dispatch", "document_gathering", "verification", "filing",
        "pre_decision_explanation", "insurer_review", "payout_explanation", "closed",
    ]
    changes = [e for e in timeline if e["action"] == "document_updated"]
    receipts = [e for e in changes if e["details"]["code"] == "payment_receipts"]
    assert [r["details"]["new"]["status"] for r in receipts] == ["rejected", "collected"]
    assert receipts[1]["details"]["old"]["status"] == "rejected"
    # Closed: read from PostgreSQL, still the whole claim.
    closed = (await api.get(f"/claims/{case.claim_id}")).json()
    assert closed["closure"] == "paid_and_explained"
    assert closed["version"] == view["version"]
