"""The shared models of a claim case: what is opened, the tasks, the timeline, and the
claim's live state. Used by the workflow, the activities, the store and the API alike.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import ConfigDict, Field, WithJsonSchema, model_validator

from domain.checklist import ChecklistItem
from domain.limits import MAX_AGE, MAX_NEEDS, MAX_NOTE_CHARS
from domain.outcomes import (
    ClaimFiled,
    DisputeResolved,
    HospitalTrip,
    InsurerResponse,
    TaskOutcome,
    TriageDecision,
)
from domain.payout import PayoutComputation, PayoutTerms, Reconciliation
from domain.policy import ServicePolicy
from domain.vocabulary import (
    AwareDatetime,
    ClaimStage,
    ClaimStatus,
    ClaimType,
    Closure,
    Day,
    Deduplicated,
    DiscoverySource,
    Model,
    Money,
    Name,
    OfflineNeed,
    Phone,
    PlainDigits,
    Priority,
    Reference,
    Role,
    Storable,
    TaskKind,
    TaskStatus,
    Text,
    WorkflowStop,
)

Ratio = Annotated[
    Decimal,
    PlainDigits,
    Field(ge=0, le=1, max_digits=5, decimal_places=4),
    # What a client sends, exactly: "0.6" or 0.6, from 0 to 1 with at most four decimals.
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(0(\.\d{1,4})?|1(\.0{1,4})?)$", "maxLength": 6},
                {"type": "number", "minimum": 0, "maximum": 1},
            ],
            "examples": ["0.6"],
        },
        mode="validation",
    ),
]


# --- discovery --------------------------------------------------------------------------


class Policyholder(Model):
    name: Name
    city: Name
    phone: Phone | None = None
    age: Annotated[int, Field(ge=0, le=MAX_AGE)] | None = None
    needs: Annotated[list[OfflineNeed], Field(max_length=MAX_NEEDS), Deduplicated] = []
    """Why the user may need a field agent; none means the online path. Each need once
    (repeats are dropped)."""
    has_social_security: bool = False


class InsurancePolicy(Model):
    policy_number: Reference
    insurer: Name
    product: Name | None = None
    sum_insured: Annotated[Money, Field(gt=0)]
    """What the policy pays at most: a policy that pays nothing has nothing to claim."""
    deductible: Money = Decimal("0")
    ratio_with_social_security: Ratio = Decimal("1")
    ratio_without_social_security: Ratio = Decimal("0.6")


def payout_terms(policy: InsurancePolicy, holder: Policyholder) -> PayoutTerms:
    """The contract terms that set this user's payout."""
    return PayoutTerms(
        deductible=policy.deductible,
        ratio_with_social_security=policy.ratio_with_social_security,
        ratio_without_social_security=policy.ratio_without_social_security,
        sum_insured=policy.sum_insured,
        has_social_security=holder.has_social_security,
    )


class Incident(Model):
    claim_type: ClaimType
    description: Text
    diagnosis: Name | None = None
    occurred_on: Day
    """Not after today (checked at the door, against the API's clock: domain.rules)."""
    hospital: Name | None = None


class ClaimOpening(Model):
    """Discovery: what a return visit, a hotline call or a self-report opens a case with."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "policyholder": {
                        "name": "Mr. Wang",
                        "city": "Beijing",
                        "age": 78,
                        "needs": ["elderly", "cannot_collect_documents"],
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
                        "description": "Cerebral infarction, hospitalised, never claimed",
                        "diagnosis": "cerebral infarction",
                        "occurred_on": "2021-03-14",
                        "hospital": "Beijing Jishuitan Hospital",
                    },
                    "source": "return_visit",
                    "opened_by": "return-visit/li",
                    "consultant": "xiao.gao",
                }
            ]
        }
    )

    policyholder: Policyholder
    policy: InsurancePolicy
    incident: Incident
    source: DiscoverySource
    opened_by: Name
    consultant: Name
    note: Text | None = None


# --- tasks ------------------------------------------------------------------------------


class TaskCompletion(Model):
    """A person completes a task: who did it and what they decided."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "completed_by": "xiao.gao",
                    "outcome": {
                        "kind": "triage",
                        "liability": "covered",
                        "path": "offline",
                        "meets_pre_audit": True,
                        "assist_services": ["initial_liability_judgment", "help_for_elderly"],
                        "explanation": "Inpatient stroke treatment is covered by the plan.",
                    },
                }
            ]
        }
    )

    completed_by: Name
    outcome: TaskOutcome


class CompleteTask(TaskCompletion):
    """The workflow's Update input: a completion addressed to one task."""

    task_id: str


class Reassignment(Model):
    """A manager moves a task to another person."""

    assignee: Name
    reassigned_by: Name
    reason: Text = ""


class ReassignTask(Reassignment):
    task_id: str


class TaskChange(Model):
    """A manager moves a task's due time or priority; the timeline keeps old and new."""

    changed_by: Name
    due_at: AwareDatetime | None = None
    priority: Priority | None = None
    reason: Text = ""

    @model_validator(mode="after")
    def _something(self) -> TaskChange:
        if self.due_at is None and self.priority is None:
            raise ValueError("change the due time, the priority, or both")
        return self


class ChangeTask(TaskChange):
    task_id: str


class ClockPause(Model):
    """The claim waits on the user (e.g. still in hospital): pausable task clocks stop."""

    paused_by: Name
    reason: Text = ""


class ClockResume(Model):
    resumed_by: Name


class NoteInput(Model):
    author: Name
    text: Annotated[str, Field(min_length=1, max_length=MAX_NOTE_CHARS), Storable]


class Note(NoteInput):
    at: AwareDatetime


class Withdrawal(Model):
    """The user withdraws the claim, at any point before it closes."""

    recorded_by: Name
    reason: Text = ""


class Task(Model):
    task_id: str
    claim_id: str
    kind: TaskKind
    role: Role
    assignee: str | None
    status: TaskStatus = TaskStatus.OPEN
    created_at: AwareDatetime
    due_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None
    completed_by: str | None = None
    priority: Priority = Priority.NORMAL
    escalation_level: int = 0
    deadline_round: int = 0
    """Bumped when the due time moves, so nudges for the new deadline are new nudges."""
    nudged: list[str] = []
    """The clock's steps already taken for this deadline round (reminder, overdue, ...)."""
    data: dict[str, Any] = {}
    result: dict[str, Any] | None = None


class TimelineEntry(Model):
    """One action on a claim: who, when, what, and the old and new values where any."""

    claim_id: str
    seq: int
    at: AwareDatetime
    actor: str
    action: str
    details: dict[str, Any] = {}


# --- the claim --------------------------------------------------------------------------


class ClaimStart(Model):
    """The workflow's input: the opening plus the policy snapshot it runs under, and for a
    run that continues a claim as new, everything the previous run carried."""

    claim_id: str
    opening: ClaimOpening
    policy: ServicePolicy
    carried: ClaimCarry | None = None


class Payout(Model):
    """The money side of a claim: expected before the decision, awarded after."""

    expected: PayoutComputation | None = None
    awarded: Money | None = None
    reconciliation: Reconciliation | None = None
    explanation_zh: str | None = None
    explanation_en: str | None = None


class BrokenWorkflow(Model):
    """The claim's workflow stopped without closing the claim: nothing can act on it any
    more. Written by the read model's health check (from Temporal), never by the workflow."""

    status: WorkflowStop
    reason: str = Field(description="The failure's type and first line, or why it was ended.")
    at: AwareDatetime = Field(description="When the workflow stopped.")

    def message(self) -> str:
        """What an action on the claim answers, e.g. "the claim's workflow was terminated:
        Workflow history size exceeds limit." """
        verb = {
            WorkflowStop.FAILED: "failed",
            WorkflowStop.TERMINATED: "was terminated",
            WorkflowStop.TIMED_OUT: "timed out",
            WorkflowStop.CANCELED: "was canceled",
        }[self.status]
        return f"the claim's workflow {verb}" + (f": {self.reason}" if self.reason else "")


class ClaimView(Model):
    """A claim's state as the people working it see it."""

    claim_id: str
    stage: ClaimStage
    status: ClaimStatus
    closure: Closure | None = None
    opening: ClaimOpening
    summary: str | None = None
    triage: TriageDecision | None = None
    field_agent: str | None = None
    declined_by: list[str] = []
    visit_at: AwareDatetime | None = None
    checklist: list[ChecklistItem] = []
    hospital_trips: list[HospitalTrip] = []
    user_confirmed_filing: bool = False
    filing: ClaimFiled | None = None
    insurer_responses: list[InsurerResponse] = []
    payout: Payout = Payout()
    dispute: DisputeResolved | None = None
    notes: list[Note] = []
    stalled_since: AwareDatetime | None = None
    paused_since: AwareDatetime | None = None
    statutory_deadlines: dict[str, AwareDatetime] = {}
    """The insurer's legal deadlines for this claim, e.g. decision and payment."""
    tasks: list[Task] = []
    """The open tasks. Every task, done or not, is listed by GET /tasks?claim_id=...&status=."""
    created_at: AwareDatetime
    updated_at: AwareDatetime
    closed_at: AwareDatetime | None = None
    version: int = 0
    broken_workflow: BrokenWorkflow | None = None
    """Set when the workflow stopped without closing the claim (failed, terminated, timed
    out): the claim stays as it was last seen, and no action can change it. Only the read
    model sets it; the workflow's own view never does."""


class ClaimProjection(Model):
    """What the read model needs after a change: the claim, its changed tasks, new timeline."""

    claim: ClaimView
    tasks: list[Task]
    timeline: list[TimelineEntry]


class ClaimStep(Model):
    """What an action answers: where the claim stands now and what is open, not the whole
    claim (GET /claims/{id} has that). Its fields are a subset of ClaimView's, so a claim
    opened before this answer existed, which answers with its whole view, reads as one."""

    model_config = ConfigDict(extra="ignore")

    claim_id: str
    stage: ClaimStage
    status: ClaimStatus
    closure: Closure | None = None
    version: int = 0
    updated_at: AwareDatetime
    tasks: list[Task] = []
    """The open tasks, without what they carry (`data`): GET /tasks/{id} has it."""

    @classmethod
    def of(cls, view: ClaimView) -> ClaimStep:
        return cls(
            claim_id=view.claim_id,
            stage=view.stage,
            status=view.status,
            closure=view.closure,
            version=view.version,
            updated_at=view.updated_at,
            tasks=[t.model_copy(update={"data": {}}) for t in view.tasks],
        )


class ClaimColumns(Model):
    """The claims table's columns, as the list and the figures read them. A projection
    carries only the columns that changed (as JSON: `ClaimChanges.columns`)."""

    stage: ClaimStage | None = None
    status: ClaimStatus | None = None
    closure: Closure | None = None
    policyholder_name: str | None = None
    policy_number: str | None = None
    city: str | None = None
    source: DiscoverySource | None = None
    claim_type: ClaimType | None = None
    consultant: str | None = None
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    field_agent: str | None = None
    insurer_claim_reference: str | None = None
    expected_payout: Money | None = None
    awarded_amount: Money | None = None
    stalled: bool | None = None
    stalled_since: AwareDatetime | None = None

    @classmethod
    def of(cls, c: ClaimView) -> ClaimColumns:
        o = c.opening
        return cls(
            stage=c.stage,
            status=c.status,
            closure=c.closure,
            policyholder_name=o.policyholder.name,
            policy_number=o.policy.policy_number,
            city=o.policyholder.city,
            source=o.source,
            claim_type=o.incident.claim_type,
            consultant=o.consultant,
            created_at=c.created_at,
            updated_at=c.updated_at,
            closed_at=c.closed_at,
            field_agent=c.field_agent,
            insurer_claim_reference=c.filing.insurer_claim_reference if c.filing else None,
            expected_payout=c.payout.expected.payout if c.payout.expected else None,
            awarded_amount=c.payout.awarded,
            stalled=c.stalled_since is not None,
            stalled_since=c.stalled_since,
        )


class ClaimChanges(Model):
    """What the read model needs after a change, and nothing more: the claim's changed
    columns, the changed top-level sections of its snapshot, the changed task rows and the
    new timeline entries. `full` is set on a run's first projection: every column and
    section is there, so the claim's row can be written from nothing."""

    claim_id: str
    version: int
    full: bool = False
    columns: dict[str, Any] = {}
    """ClaimColumns in JSON, only those that changed."""
    snapshot: dict[str, Any] = {}
    tasks: list[Task] = []
    timeline: list[TimelineEntry] = []


class ClaimCarry(Model):
    """What one run of a claim hands to the next when it continues as new: the claim's state,
    its open tasks with their deadlines and nudges, the clocks, and the counters. Closed
    tasks, the timeline and the notes are in the read model already and are not carried."""

    model_config = ConfigDict(extra="ignore")

    view: ClaimView
    task_seq: int
    timeline_seq: int
    open_tasks: list[Task]
    insurer_inbox: list[InsurerResponse] = []
    pending_documents: list[str] = []
    sent_back: list[dict[str, Any]] = []
    dispute_note: str = ""
    progress_at: AwareDatetime
    stall_alerts: int = 0
    statutory_met: list[str] = []
    statutory_followed_up: list[str] = []
    runs: int = 1
    """How many runs this claim has had, this one included."""


ClaimStart.model_rebuild()
