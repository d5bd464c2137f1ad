"""The shared models of a claim case: what is opened, what each task asks and returns,
and the claim's live state. Used by the workflow, the activities, the store and the API alike.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from domain.policy import ServicePolicy


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must be timezone-aware")
    return value


Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
"""Yuan, exact to the fen."""
AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=4000)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, use_enum_values=False)


# --- vocabulary -------------------------------------------------------------------------


class DiscoverySource(StrEnum):
    RETURN_VISIT = "return_visit"
    HOTLINE = "hotline"
    SELF_REPORT = "self_report"


class ClaimType(StrEnum):
    CRITICAL_ILLNESS = "critical_illness"
    MEDICAL_REIMBURSEMENT = "medical_reimbursement"
    HOSPITALIZATION_ALLOWANCE = "hospitalization_allowance"
    ACCIDENT = "accident"


class OfflineNeed(StrEnum):
    """Why a user may need a field agent (one of these must hold for the offline path)."""

    ELDERLY = "elderly"
    EXHAUSTED_AFTER_ILLNESS = "exhausted_after_illness"
    CANNOT_UNDERSTAND_RULES = "cannot_understand_rules"
    CANNOT_COLLECT_DOCUMENTS = "cannot_collect_documents"


class AssistService(StrEnum):
    INFORMATION_SUMMARY = "information_summary"
    INITIAL_LIABILITY_JUDGMENT = "initial_liability_judgment"
    SPEEDING_UP_TIMELINE = "speeding_up_timeline"
    HELP_FOR_ELDERLY = "help_for_elderly"
    DISPUTE_HANDLING = "dispute_handling"
    RIGHTS_PROTECTION = "rights_protection"
    RISK_REVIEW = "risk_review"
    CUSTOM_SERVICE = "custom_service"


class Liability(StrEnum):
    COVERED = "covered"
    NOT_COVERED = "not_covered"
    NEED_MORE_INFORMATION = "need_more_information"


class ServicePath(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class ClaimStage(StrEnum):
    """The lifecycle of one claim case, in the brief's order."""

    DISCOVERY = "discovery"
    TRIAGE = "triage"
    DISPATCH = "dispatch"
    DOCUMENT_GATHERING = "document_gathering"
    VERIFICATION = "verification"
    FILING = "filing"
    INSURER_REVIEW = "insurer_review"
    PAYOUT_EXPLANATION = "payout_explanation"
    DISPUTE = "dispute"
    CLOSED = "closed"


class ClaimStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Closure(StrEnum):
    PAID_AND_EXPLAINED = "paid_and_explained"
    DENIED_AND_EXPLAINED = "denied_and_explained"
    WITHDRAWN = "withdrawn"
    NOT_COVERED = "not_covered"


class Role(StrEnum):
    CONSULTANT = "consultant"
    FIELD_AGENT = "field_agent"
    MANAGER = "manager"


class TaskKind(StrEnum):
    TRIAGE = "triage"
    GATHER_DOCUMENTS = "gather_documents"


class TaskStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# --- discovery --------------------------------------------------------------------------


class Policyholder(Model):
    name: Name
    city: Name
    phone: Annotated[str, Field(max_length=32)] | None = None
    age: Annotated[int, Field(ge=0, le=130)] | None = None
    needs: list[OfflineNeed] = []


class InsurancePolicy(Model):
    policy_number: Annotated[str, Field(min_length=1, max_length=64)]
    insurer: Name
    product: Name | None = None
    sum_insured: Money | None = None


class Incident(Model):
    claim_type: ClaimType
    description: Text
    diagnosis: Name | None = None
    occurred_on: date
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


class TriageDecision(Model):
    """Online triage: initial liability judgment against the policy terms, and the path."""

    kind: Literal[TaskKind.TRIAGE] = TaskKind.TRIAGE
    liability: Liability
    path: ServicePath | None = None
    assist_services: list[AssistService] = []
    explanation: Text = ""

    @model_validator(mode="after")
    def _consistent(self) -> TriageDecision:
        if self.liability is Liability.COVERED and self.path is None:
            raise ValueError("a covered claim needs a path: online or offline")
        if self.liability is not Liability.COVERED and self.path is not None:
            raise ValueError("only a covered claim takes a path")
        if self.liability is Liability.NOT_COVERED and not self.explanation.strip():
            raise ValueError("not covered needs an explanation for the user")
        return self


class DocumentsGathered(Model):
    kind: Literal[TaskKind.GATHER_DOCUMENTS] = TaskKind.GATHER_DOCUMENTS
    note: Text = ""


TaskOutcome = Annotated[TriageDecision | DocumentsGathered, Field(discriminator="kind")]


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
    data: dict[str, Any] = {}
    result: dict[str, Any] | None = None


class TimelineEntry(Model):
    claim_id: str
    seq: int
    at: AwareDatetime
    actor: str
    action: str
    details: dict[str, Any] = {}


# --- the claim --------------------------------------------------------------------------


class ClaimStart(Model):
    """The workflow's input: the opening plus the policy snapshot it runs under."""

    claim_id: str
    opening: ClaimOpening
    policy: ServicePolicy


class ClaimView(Model):
    """A claim's state as the people working it see it."""

    claim_id: str
    stage: ClaimStage
    status: ClaimStatus
    closure: Closure | None = None
    opening: ClaimOpening
    triage: TriageDecision | None = None
    tasks: list[Task] = []
    created_at: AwareDatetime
    updated_at: AwareDatetime
    closed_at: AwareDatetime | None = None
    version: int = 0

    @property
    def open_tasks(self) -> list[Task]:
        return [t for t in self.tasks if t.status is TaskStatus.OPEN]


class ClaimProjection(Model):
    """What the read model needs after a change: the claim, its changed tasks, new timeline."""

    claim: ClaimView
    tasks: list[Task]
    timeline: list[TimelineEntry]
