"""What each task returns: one small model per kind of human step.

The `kind` field names the task it completes, so a completion for the wrong kind of task is
refused. Each model checks its own consistency; rules that depend on the claim (the checklist,
served cities) are checked by the workflow's validator.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from domain.checklist import ChecklistItemStatus, Code
from domain.limits import (
    MAX_ASSIST_SERVICES,
    MAX_CHECKLIST_UPDATES,
    MAX_CODES,
    MAX_EXPENSE_LINES,
    MAX_AMOUNT,
    MAX_HOSPITAL_TRIPS_PER_REQUEST,
)
from domain.payout import ExpenseItem
from domain.vocabulary import (
    AssistService,
    AwareDatetime,
    Day,
    Deduplicated,
    DisputeResolution,
    DocumentText,
    InsurerDecision,
    Liability,
    Model,
    Money,
    Name,
    Reference,
    ServicePath,
    TaskKind,
    Text,
)

Codes = Annotated[list[Code], Field(max_length=MAX_CODES)]
"""Document codes, e.g. those printed at a hospital or asked for by the insurer."""


class TriageDecision(Model):
    """Online triage: initial liability judgment against the policy terms, and the path."""

    kind: Literal[TaskKind.TRIAGE] = TaskKind.TRIAGE
    liability: Liability
    path: ServicePath | None = None
    meets_pre_audit: bool = False
    """The consultant's judgment that the case meets the insurer's pre-audit standard."""
    assist_services: Annotated[
        list[AssistService], Field(max_length=MAX_ASSIST_SERVICES), Deduplicated
    ] = []
    """Each service once (repeats are dropped)."""
    explanation: Text = ""

    @model_validator(mode="after")
    def _consistent(self) -> TriageDecision:
        if self.liability is Liability.COVERED and self.path is None:
            raise ValueError("a covered claim needs a path: online or offline")
        if self.liability is not Liability.COVERED and self.path is not None:
            raise ValueError("only a covered claim takes a path")
        if self.liability is Liability.NOT_COVERED and not self.explanation.strip():
            raise ValueError("not covered needs an explanation for the user")
        if self.path is ServicePath.OFFLINE and not self.meets_pre_audit:
            raise ValueError("the offline path needs the case to meet the pre-audit standard")
        return self


class FieldAgentAssigned(Model):
    """A manager names the field agent when dispatch found nobody available."""

    kind: Literal[TaskKind.ASSIGN_FIELD_AGENT] = TaskKind.ASSIGN_FIELD_AGENT
    agent_id: Name


class DispatchAnswer(Model):
    """The field agent accepts the visit (with its time) or declines it (with why)."""

    kind: Literal[TaskKind.ACCEPT_DISPATCH] = TaskKind.ACCEPT_DISPATCH
    accepted: bool
    visit_at: AwareDatetime | None = None
    decline_reason: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DispatchAnswer:
        if self.accepted and self.visit_at is None:
            raise ValueError("accepting a dispatch schedules the home visit: visit_at")
        if not self.accepted and not (self.decline_reason or "").strip():
            raise ValueError("declining a dispatch needs a reason")
        return self


class ChecklistUpdate(Model):
    """The state of one document after the agent has looked at it."""

    code: Code
    status: ChecklistItemStatus
    rejection_reason: DocumentText | None = None
    note: DocumentText | None = None

    @model_validator(mode="after")
    def _reason_iff_rejected(self) -> ChecklistUpdate:
        rejected = self.status is ChecklistItemStatus.REJECTED
        if rejected and not (self.rejection_reason or "").strip():
            raise ValueError(f"{self.code}: a rejected document needs a reason")
        if not rejected and self.rejection_reason is not None:
            raise ValueError(f"{self.code}: only a rejected document has a rejection reason")
        return self


class HospitalTrip(Model):
    hospital: Name
    on: Day
    printed: Codes = []


ChecklistUpdates = Annotated[list[ChecklistUpdate], Field(max_length=MAX_CHECKLIST_UPDATES)]
HospitalTrips = Annotated[list[HospitalTrip], Field(max_length=MAX_HOSPITAL_TRIPS_PER_REQUEST)]


class ChecklistProgress(Model):
    """Progress recorded during gathering, without submitting the set yet."""

    items: ChecklistUpdates = []
    hospital_trips: HospitalTrips = []
    recorded_by: Name


class DocumentsSubmitted(Model):
    """The agent (or consultant, online) submits the set for verification."""

    kind: Literal[TaskKind.GATHER_DOCUMENTS] = TaskKind.GATHER_DOCUMENTS
    items: ChecklistUpdates = []
    hospital_trips: HospitalTrips = []
    note: Text = ""


class DocumentsVerified(Model):
    """The consultant verifies completeness; what is missing goes back all at once."""

    kind: Literal[TaskKind.VERIFY_DOCUMENTS] = TaskKind.VERIFY_DOCUMENTS
    complete: bool
    sent_back: ChecklistUpdates = []
    note: Text = ""

    @model_validator(mode="after")
    def _consistent(self) -> DocumentsVerified:
        if self.complete and self.sent_back:
            raise ValueError("a complete set sends nothing back")
        if not self.complete and not self.sent_back:
            raise ValueError("an incomplete set lists every document that is missing")
        if any(u.status is ChecklistItemStatus.COLLECTED for u in self.sent_back):
            raise ValueError("documents sent back are missing or rejected, not collected")
        return self


class FilingConfirmed(Model):
    """The user confirms (through the agent) that the claim may be filed on his behalf."""

    kind: Literal[TaskKind.CONFIRM_FILING] = TaskKind.CONFIRM_FILING
    confirmed: bool
    note: Text = ""


def _total_fits(expenses: list[ExpenseItem]) -> list[ExpenseItem]:
    """Each line fits a money column; their total must too (the expected payout is computed
    from it, and its steps are amounts the read model keeps)."""
    total = sum((e.amount for e in expenses), Decimal(0))
    if total > Decimal(MAX_AMOUNT):
        raise ValueError(f"the expenses total {total}, more than {MAX_AMOUNT}")
    return expenses


class ClaimFiled(Model):
    """The consultant filed the insurer's claim form; the insurer's reference is recorded."""

    kind: Literal[TaskKind.FILE_CLAIM] = TaskKind.FILE_CLAIM
    insurer_claim_reference: Reference
    filed_on: Day
    expenses: Annotated[
        list[ExpenseItem], Field(max_length=MAX_EXPENSE_LINES), AfterValidator(_total_fits)
    ] = []
    """The expenses claimed, so the expected payout can be computed and explained."""


class ExpectationsExplained(Model):
    """Pre-decision explanation: what to expect (ratio, deductible) while the insurer reviews."""

    kind: Literal[TaskKind.EXPLAIN_EXPECTATIONS] = TaskKind.EXPLAIN_EXPECTATIONS
    note: Text = ""


class InsurerResponse(Model):
    """What the insurer answered: recorded by a consultant, or sent by the insurer's API."""

    kind: Literal[TaskKind.RECORD_INSURER_RESPONSE] = TaskKind.RECORD_INSURER_RESPONSE
    decision: InsurerDecision
    requested_documents: Codes = []
    amount: Money | None = None
    claim_report: Text | None = None
    reason: Text | None = None
    decided_on: Day | None = None

    @model_validator(mode="after")
    def _consistent(self) -> InsurerResponse:
        d = self.decision
        if d is InsurerDecision.SUPPLEMENTAL_DOCUMENTS_REQUESTED and not self.requested_documents:
            raise ValueError("a request for supplemental documents names the documents")
        if d is not InsurerDecision.SUPPLEMENTAL_DOCUMENTS_REQUESTED and self.requested_documents:
            raise ValueError("only a supplemental request names documents")
        awarded = d in (InsurerDecision.APPROVED, InsurerDecision.PARTIALLY_APPROVED)
        if awarded and (self.amount is None or not self.claim_report or not self.decided_on):
            raise ValueError("an approval carries the amount, the claim report and its date")
        if not awarded and self.amount is not None:
            raise ValueError("only an approval carries an amount")
        if d is InsurerDecision.DENIED and not (self.reason and self.decided_on):
            raise ValueError("a denial carries its reason and its date")
        return self

    @property
    def decided(self) -> bool:
        return self.decision in (
            InsurerDecision.APPROVED,
            InsurerDecision.PARTIALLY_APPROVED,
            InsurerDecision.DENIED,
        )


class InsurerFollowedUp(Model):
    """The consultant chased the insurer about a statutory deadline."""

    kind: Literal[TaskKind.FOLLOW_UP_INSURER] = TaskKind.FOLLOW_UP_INSURER
    note: Text = ""


class OutcomeExplained(Model):
    """The claim report explained to the user; he accepts it or contests it."""

    kind: Literal[TaskKind.EXPLAIN_OUTCOME] = TaskKind.EXPLAIN_OUTCOME
    user_accepts: bool
    note: Text = ""


class DisputeResolved(Model):
    """Dispute handling / rights protection: what came of the user's contest."""

    kind: Literal[TaskKind.RESOLVE_DISPUTE] = TaskKind.RESOLVE_DISPUTE
    resolution: DisputeResolution
    revised_amount: Money | None = None
    note: Text = ""

    @model_validator(mode="after")
    def _consistent(self) -> DisputeResolved:
        if (self.resolution is DisputeResolution.REVISED) != (self.revised_amount is not None):
            raise ValueError("a revised award, and only that, carries the revised amount")
        return self


TaskOutcome = Annotated[
    TriageDecision
    | FieldAgentAssigned
    | DispatchAnswer
    | DocumentsSubmitted
    | DocumentsVerified
    | FilingConfirmed
    | ClaimFiled
    | ExpectationsExplained
    | InsurerResponse
    | InsurerFollowedUp
    | OutcomeExplained
    | DisputeResolved,
    Field(discriminator="kind"),
]
