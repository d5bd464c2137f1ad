"""Issue 11, item 8: facts that cannot be true are refused at the door with 422 naming the
field: an incident in the future, a home visit in the past, a hospital trip in the future,
before the incident or in another century, an insurer's decision dated before the filing, a
sum insured of 0, an amount of "-0"; "1e5" is refused (it would come back as 1E+5).

What needs "now" is checked by the API against its clock; what needs the claim (the filing,
the incident) by the workflow's Update validator (domain.rules), which names the field in
its message."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from claimflow.reference_case import AGENT, CONSULTANT, OPENING, ReferenceCase
from domain.outcomes import ChecklistProgress
from domain.vocabulary import SHANGHAI
from tests.support.claims import wang_opening

POLICY = OPENING["policy"]
INCIDENT = OPENING["incident"]


def field_errors(r: httpx.Response) -> dict[tuple[Any, ...], str]:
    assert r.status_code == 422, (r.status_code, r.text)
    return {tuple(e["loc"]): e["msg"] for e in r.json()["detail"]}


def names(r: httpx.Response, loc: tuple[Any, ...], *words: str) -> None:
    errors = field_errors(r)
    assert loc in errors, errors
    for word in words:
        assert word in errors[loc], (loc, errors[loc])


def refused_by_the_claim(r: httpx.Response, *words: str) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "NotAllowed", body
    for word in words:
        assert word in body["detail"], body["detail"]


def today() -> Any:
    return datetime.now(SHANGHAI).date()


async def test_an_opening_with_impossible_facts_is_422(api: httpx.AsyncClient, pool):
    tomorrow = (today() + timedelta(days=1)).isoformat()
    r = await api.post("/claims", json=wang_opening(incident={**INCIDENT, "occurred_on": tomorrow}))
    names(r, ("body", "incident", "occurred_on"), "future")
    r = await api.post("/claims", json=wang_opening(incident={**INCIDENT, "occurred_on": "1900-01-01"}))
    names(r, ("body", "incident", "occurred_on"), "2000")
    for nothing in ("0", "0.00", 0):
        r = await api.post("/claims", json=wang_opening(policy={**POLICY, "sum_insured": nothing}))
        names(r, ("body", "policy", "sum_insured"), "greater than 0")
    for signed in ("-0", "-0.00", -0.0):
        r = await api.post("/claims", json=wang_opening(policy={**POLICY, "deductible": signed}))
        names(r, ("body", "policy", "deductible"), "sign")
    for written in ("1e5", "1E+5", "2e-2", " 5", "1_000"):
        r = await api.post("/claims", json=wang_opening(policy={**POLICY, "sum_insured": written}))
        names(r, ("body", "policy", "sum_insured"), "digits")
    r = await api.post(
        "/claims", json=wang_opening(policy={**POLICY, "ratio_without_social_security": "6e-1"})
    )
    names(r, ("body", "policy", "ratio_without_social_security"), "digits")
    assert await pool.fetchval("SELECT count(*) FROM claims") == 0
    # What is written plainly is kept as written.
    case = ReferenceCase(api)
    view = await case.return_visit_opens_case()
    claim = (await api.get(f"/claims/{view['claim_id']}")).json()
    assert claim["opening"]["policy"]["sum_insured"] == "200000.00"


def progress(**body: Any) -> dict[str, Any]:
    if "recorded_by" in ChecklistProgress.model_fields:
        body["recorded_by"] = AGENT
    return body


async def test_visits_and_hospital_trips_are_checked_at_the_door(api: httpx.AsyncClient):
    case = ReferenceCase(api)
    await case.register_agent()
    await case.return_visit_opens_case()
    await case.xiao_gao_triages()
    task = await case.task("accept_dispatch")
    url = f"/tasks/{task['task_id']}/complete"
    at = ("body", "outcome", "accept_dispatch", "visit_at")
    for when in (datetime.now(SHANGHAI) - timedelta(days=1), datetime(2026, 1, 1, tzinfo=SHANGHAI)):
        outcome = {"kind": "accept_dispatch", "accepted": True, "visit_at": when.isoformat()}
        r = await api.post(url, json={"completed_by": AGENT, "outcome": outcome})
        names(r, at, "past")
    view = await case.xiao_zheng_accepts()  # tomorrow at ten: accepted
    assert view["stage"] == "document_gathering"

    checklist = f"/claims/{case.claim_id}/checklist"
    trip = {"hospital": "Beijing Jishuitan Hospital", "printed": ["medical_record"]}
    r = await api.post(
        checklist,
        json=progress(hospital_trips=[{**trip, "on": (today() + timedelta(days=2)).isoformat()}]),
    )
    names(r, ("body", "hospital_trips", 0, "on"), "future")
    r = await api.post(checklist, json=progress(hospital_trips=[{**trip, "on": "1970-01-01"}]))
    names(r, ("body", "hospital_trips", 0, "on"), "2000")
    r = await api.post(checklist, json=progress(hospital_trips=[{**trip, "on": "2021-03-01"}]))
    refused_by_the_claim(r, "hospital_trips[0].on", "before the incident")

    gather = await case.task("gather_documents")
    outcome = {
        "kind": "gather_documents",
        "hospital_trips": [{**trip, "on": (today() + timedelta(days=2)).isoformat()}],
    }
    r = await api.post(
        f"/tasks/{gather['task_id']}/complete", json={"completed_by": AGENT, "outcome": outcome}
    )
    names(r, ("body", "outcome", "gather_documents", "hospital_trips", 0, "on"), "future")
    outcome["hospital_trips"] = [{**trip, "on": "2021-03-01"}]
    r = await api.post(
        f"/tasks/{gather['task_id']}/complete", json={"completed_by": AGENT, "outcome": outcome}
    )
    refused_by_the_claim(r, "hospital_trips[0].on", "before the incident")


async def test_an_insurer_decision_before_the_filing_is_422(api: httpx.AsyncClient):
    case = ReferenceCase(api)
    await case.register_agent()
    await case.return_visit_opens_case()
    for step in (
        case.xiao_gao_triages,
        case.xiao_zheng_accepts,
        case.home_visit,
        case.hospital_trip_and_submit,
        case.xiao_gao_verifies,
        case.wang_confirms_filing,
        case.xiao_gao_files,
        case.xiao_zheng_explains_expectations,
    ):
        view = await step()
    assert view["stage"] == "insurer_review"
    task = await case.task("record_insurer_response")
    filed_on = today()
    decision = {
        "kind": "record_insurer_response",
        "decision": "approved",
        "amount": "95000.00",
        "claim_report": "Eligible 168,333.33, deductible 10,000.00, ratio 60%: 95,000.00.",
        "decided_on": (filed_on - timedelta(days=1)).isoformat(),
    }
    url = f"/tasks/{task['task_id']}/complete"
    r = await api.post(url, json={"completed_by": CONSULTANT, "outcome": decision})
    refused_by_the_claim(r, "decided_on", "before the filing", filed_on.isoformat())
    view = await case.insurer_pays()  # decided today: after the filing
    assert view["stage"] == "payout_explanation"
