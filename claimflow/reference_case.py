"""Mr. Wang's case from the brief, driven step by step through the HTTP API.

Used by `claimflow demo` against a running system and by the end-to-end test, so the demo
runs exactly what is tested.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from domain.vocabulary import SHANGHAI

CONSULTANT = "xiao.gao"
AGENT = "xiao.zheng"

OPENING: dict[str, Any] = {
    "policyholder": {
        "name": "Mr. Wang",
        "city": "Beijing",
        "age": 78,
        "needs": ["elderly", "exhausted_after_illness", "cannot_collect_documents"],
        "has_social_security": False,
    },
    "policy": {
        "policy_number": "P-2019-000123",
        "insurer": "Example Life",
        "product": "Medical reimbursement plan",
        "sum_insured": "200000.00",
        "deductible": "10000.00",
        "ratio_with_social_security": "1",
        "ratio_without_social_security": "0.6",
    },
    "incident": {
        "claim_type": "medical_reimbursement",
        "description": "Cerebral infarction in 2021, hospitalised; never claimed, too ill to gather the documents.",
        "diagnosis": "cerebral infarction",
        "occurred_on": "2021-03-14",
        "hospital": "Beijing Jishuitan Hospital",
    },
    "source": "return_visit",
    "opened_by": "return-visit/li",
    "consultant": CONSULTANT,
}

Step = Callable[[str, dict[str, Any]], Awaitable[None]]


class ApiError(RuntimeError):
    pass


class ReferenceCase:
    """Each method is one step of the brief; `log` hears what happened."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        log: Callable[[str], None] = lambda _: None,
        signed_in: dict[str, dict[str, str]] | None = None,
    ):
        """`signed_in` maps a person (CONSULTANT, AGENT, ...) to his Authorization header;
        without it every step uses the client's own headers."""
        self.http = http
        self.log = log
        self.signed_in = signed_in or {}
        self.claim_id = ""
        self.open_tasks: list[dict[str, Any]] = []
        """The open tasks as the last answer listed them (every change answers with them)."""
        self.insurer_reference = f"EL-{uuid.uuid4().hex[:8].upper()}"

    async def _call(self, method: str, url: str, as_: str | None = None, **kw: Any) -> Any:
        if as_ in self.signed_in:
            kw["headers"] = {**kw.get("headers", {}), **self.signed_in[as_]}
        r = await self.http.request(method, url, **kw)
        if r.status_code >= 400:
            raise ApiError(f"{method} {url} -> {r.status_code}: {r.text}")
        answer = r.json()
        if method != "GET" and isinstance(answer, dict) and "tasks" in answer:
            self.open_tasks = answer["tasks"]
        return answer

    async def claim(self, as_: str | None = None) -> dict[str, Any]:
        """The whole claim (a change answers only with where it stands)."""
        return await self._call("GET", f"/claims/{self.claim_id}", as_)

    async def task(self, kind: str, as_: str | None = None) -> dict[str, Any]:
        """The open task of this kind, as the read model has it now."""
        found = await self._call(
            "GET", "/tasks", as_, params={"claim_id": self.claim_id, "status": "open"}
        )
        tasks = [t for t in found["items"] if t["kind"] == kind]
        if len(tasks) != 1:
            raise ApiError(f"expected one open {kind} task, found {found['items']}")
        return tasks[0]

    async def complete(self, kind: str, by: str, **outcome: Any) -> dict[str, Any]:
        """Complete the open task of this kind: the last answer lists it (no need to ask)."""
        known = [t for t in self.open_tasks if t["kind"] == kind]
        task = known[0] if len(known) == 1 else await self.task(kind, by)
        view = await self._call(
            "POST",
            f"/tasks/{task['task_id']}/complete",
            by,
            json={"completed_by": by, "outcome": {"kind": kind, **outcome}},
        )
        self.log(f"{by} completed {kind}: claim now in {view['stage']}")
        return view

    # --- the story --------------------------------------------------------------------

    async def register_agent(self) -> None:
        await self._call(
            "PUT", f"/field-agents/{AGENT}", json={"name": "Xiao Zheng", "city": "Beijing"}
        )
        self.log("Xiao Zheng is a field agent in Beijing")

    async def return_visit_opens_case(self, key: str | None = None) -> dict[str, Any]:
        view = await self._call(
            "POST",
            "/claims",
            CONSULTANT,
            json=OPENING,
            headers={"Idempotency-Key": key or f"wang-{uuid.uuid4()}"},
            # Mr. Wang's case is played many times over (the demo, the tests, the bench):
            # each is a claim of its own, not the same claim opened twice.
            params={"confirmed_new": "true"},
        )
        self.claim_id = view["claim_id"]
        self.log(f"A return visit opened claim {self.claim_id} for Mr. Wang")
        return view

    async def xiao_gao_triages(self) -> dict[str, Any]:
        return await self.complete(
            "triage",
            CONSULTANT,
            liability="covered",
            path="offline",
            meets_pre_audit=True,
            assist_services=[
                "information_summary",
                "initial_liability_judgment",
                "help_for_elderly",
                "speeding_up_timeline",
            ],
            explanation="Inpatient treatment of a cerebral infarction is covered by the plan.",
        )

    async def xiao_zheng_accepts(self) -> dict[str, Any]:
        visit = datetime.now(SHANGHAI).replace(hour=10, minute=0, second=0, microsecond=0)
        return await self.complete(
            "accept_dispatch", AGENT, accepted=True, visit_at=(visit + timedelta(days=1)).isoformat()
        )

    async def home_visit(self) -> dict[str, Any]:
        """The medical record is missing, the receipts are mixed with the family's."""
        items = [
            {"code": c, "status": "collected"}
            for c in ("claim_application_form", "policy_contract", "id_card_copy",
                      "bank_card_copy", "diagnosis_certificate", "discharge_summary",
                      "itemised_expense_list")
        ]
        items += [
            {"code": "medical_record", "status": "rejected",
             "rejection_reason": "medical record missing"},
            {"code": "payment_receipts", "status": "rejected",
             "rejection_reason": "receipts mixed with other family members' receipts"},
        ]
        view = await self._call(
            "POST",
            f"/claims/{self.claim_id}/checklist",
            AGENT,
            json={"items": items, "recorded_by": AGENT},
        )
        self.log("Home visit: medical record missing, receipts mixed with the family's")
        return view

    async def hospital_trip_and_submit(self) -> dict[str, Any]:
        today = datetime.now(SHANGHAI).date().isoformat()
        return await self.complete(
            "gather_documents",
            AGENT,
            items=[
                {"code": "medical_record", "status": "collected"},
                {"code": "payment_receipts", "status": "collected",
                 "note": "only Mr. Wang's receipts, sorted"},
            ],
            hospital_trips=[
                {"hospital": "Beijing Jishuitan Hospital", "on": today,
                 "printed": ["medical_record", "payment_receipts"]}
            ],
            note="Printed the medical record and receipts at Jishuitan Hospital.",
        )

    async def xiao_gao_verifies(self) -> dict[str, Any]:
        return await self.complete("verify_documents", CONSULTANT, complete=True)

    async def wang_confirms_filing(self) -> dict[str, Any]:
        return await self.complete(
            "confirm_filing", AGENT, confirmed=True, note="Mr. Wang agreed at home."
        )

    async def xiao_gao_files(self) -> dict[str, Any]:
        return await self.complete(
            "file_claim",
            CONSULTANT,
            insurer_claim_reference=self.insurer_reference,
            filed_on=datetime.now(SHANGHAI).date().isoformat(),
            expenses=[
                {"description": "Inpatient treatment, Jishuitan Hospital", "amount": "160333.33"},
                {"description": "Rehabilitation", "amount": "8000.00"},
                {"description": "Imported drug outside the plan's list", "amount": "4200.00",
                 "excluded_reason": "not on the plan's drug list"},
            ],
        )

    async def xiao_zheng_explains_expectations(self) -> dict[str, Any]:
        return await self.complete(
            "explain_expectations", AGENT, note="No social security: 60% above the deductible."
        )

    async def insurer_investigates(self) -> dict[str, Any]:
        return await self.complete(
            "record_insurer_response", CONSULTANT, decision="under_investigation"
        )

    async def insurer_pays(self, amount: str = "95000.00") -> dict[str, Any]:
        return await self.complete(
            "record_insurer_response",
            CONSULTANT,
            decision="approved",
            amount=amount,
            # After the filing (today): an earlier decision is refused.
            decided_on=datetime.now(SHANGHAI).date().isoformat(),
            claim_report="Eligible 168,333.33, deductible 10,000.00, ratio 60%: 95,000.00.",
        )

    async def xiao_zheng_explains_payout(self) -> dict[str, Any]:
        return await self.complete(
            "explain_outcome", AGENT, user_accepts=True, note="Mr. Wang understood the report."
        )

    async def run(self) -> dict[str, Any]:
        """The whole story, in the brief's order."""
        await self.register_agent()
        await self.return_visit_opens_case()
        await self.xiao_gao_triages()
        await self.xiao_zheng_accepts()
        await self.home_visit()
        await self.hospital_trip_and_submit()
        await self.xiao_gao_verifies()
        await self.wang_confirms_filing()
        await self.xiao_gao_files()
        await self.xiao_zheng_explains_expectations()
        await self.insurer_investigates()
        await self.insurer_pays()
        return await self.xiao_zheng_explains_payout()
