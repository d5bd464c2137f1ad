"""Rules that depend on the claim, not only on an outcome's own fields: what a task's
completion, a checklist update or an insurer's message may say at this point of the claim.

Pure: the workflow's validators call them, and tests call them without Temporal.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.checklist import DOCUMENTS, ChecklistItem, ChecklistItemStatus
from domain.eligibility import offline_eligibility
from domain.models import ClaimView, Task
from domain.outcomes import (
    ChecklistUpdate,
    DocumentsSubmitted,
    DocumentsVerified,
    HospitalTrip,
    InsurerResponse,
    TaskOutcome,
    TriageDecision,
)
from domain.policy import ServicePolicy
from domain.vocabulary import ServicePath


def unknown_documents(
    codes: Iterable[str], checklist: list[ChecklistItem] | None = None
) -> list[str]:
    """The codes not on this checklist (or, without one, not in the catalogue)."""
    known = DOCUMENTS.keys() if checklist is None else {i.code for i in checklist}
    return [c for c in codes if c not in known]


def document_codes(updates: list[ChecklistUpdate], trips: list[HospitalTrip]) -> list[str]:
    return [u.code for u in updates] + [c for trip in trips for c in trip.printed]


def completion_problem(
    view: ClaimView, policy: ServicePolicy, task: Task, outcome: TaskOutcome
) -> str | None:
    """Why this outcome cannot complete this task on this claim, or None."""
    if isinstance(outcome, TriageDecision) and outcome.path is ServicePath.OFFLINE:
        h = view.opening.policyholder
        verdict = offline_eligibility(h.needs, outcome.meets_pre_audit, h.city, policy.offline_cities)
        if not verdict.eligible:
            return "the offline path is not available: " + "; ".join(verdict.reasons)
    if isinstance(outcome, DocumentsSubmitted):
        unknown = unknown_documents(
            document_codes(outcome.items, outcome.hospital_trips), view.checklist
        )
        if unknown:
            return f"not on this claim's checklist: {', '.join(unknown)}"
    if isinstance(outcome, DocumentsVerified):
        unknown = unknown_documents([u.code for u in outcome.sent_back], view.checklist)
        if unknown:
            return f"not on this claim's checklist: {', '.join(unknown)}"
        if outcome.complete:
            pending = set(task.data.get("items", []))
            missing = [
                i.code
                for i in view.checklist
                if i.code in pending and i.status is not ChecklistItemStatus.COLLECTED
            ]
            if missing:
                return f"not complete: still missing {', '.join(missing)}"
    if isinstance(outcome, InsurerResponse):
        return insurer_message_problem(outcome)
    return None


def insurer_message_problem(response: InsurerResponse) -> str | None:
    unknown = unknown_documents(response.requested_documents)
    if unknown:
        return f"unknown documents: {', '.join(unknown)}"
    return None
