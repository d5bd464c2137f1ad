"""Rules that depend on the claim, not only on an outcome's own fields: what a task's
completion, a checklist update or an insurer's message may say at this point of the claim.

Pure: the workflow's validators call them, and tests call them without Temporal.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from domain.checklist import DOCUMENTS, ChecklistItem, ChecklistItemStatus
from domain.eligibility import offline_eligibility
from domain.models import ClaimOpening, ClaimView, Task
from domain.outcomes import (
    ChecklistProgress,
    ChecklistUpdate,
    ClaimFiled,
    DispatchAnswer,
    DocumentsSubmitted,
    DocumentsVerified,
    HospitalTrip,
    InsurerResponse,
    TaskOutcome,
    TriageDecision,
)
from domain.policy import ServicePolicy
from domain.vocabulary import SHANGHAI, ServicePath

Where = tuple[str | int, ...]
"""Where a fact is in the request's body, e.g. ("incident", "occurred_on")."""
Problem = tuple[Where, str]
"""A fact that cannot be true, and why: the API answers 422 naming the field."""

VISIT_GRACE = timedelta(minutes=15)
"""A home visit is scheduled from now on; this much before now is the clocks' disagreement
(the agent's phone, the server), not a visit in the past."""


# --- facts checked at the door, against the API's clock ----------------------------------
# The workflow never asks what time it is for these: what "today" is depends on when the
# request arrives, so the API checks them before anything reaches the claim's history.


def today_in_shanghai(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()


def opening_problems(opening: ClaimOpening, now: datetime) -> list[Problem]:
    today = today_in_shanghai(now)
    if opening.incident.occurred_on > today:
        return [(("incident", "occurred_on"), f"must not be in the future (today is {today})")]
    return []


def _trips_in_the_future(trips: list[HospitalTrip], today: date) -> list[Problem]:
    return [
        (("hospital_trips", i, "on"), f"must not be in the future (today is {today})")
        for i, trip in enumerate(trips)
        if trip.on > today
    ]


def outcome_problems(outcome: TaskOutcome, now: datetime) -> list[Problem]:
    """What an outcome says that cannot be true now (its `Where` is inside the outcome)."""
    today = today_in_shanghai(now)
    if isinstance(outcome, DispatchAnswer) and outcome.visit_at is not None:
        if outcome.visit_at < now - VISIT_GRACE:
            return [(("visit_at",), "the home visit must not be in the past")]
    if isinstance(outcome, DocumentsSubmitted):
        return _trips_in_the_future(outcome.hospital_trips, today)
    if isinstance(outcome, ClaimFiled) and outcome.filed_on > today:
        return [(("filed_on",), f"must not be in the future (today is {today})")]
    return []


def progress_problems(progress: ChecklistProgress, now: datetime) -> list[Problem]:
    return _trips_in_the_future(progress.hospital_trips, today_in_shanghai(now))


# --- facts checked against the claim (the workflow's validators) --------------------------


def trips_problem(view: ClaimView, trips: list[HospitalTrip]) -> str | None:
    """A hospital trip to print the records of an incident happens after the incident."""
    incident = view.opening.incident.occurred_on
    early = [i for i, trip in enumerate(trips) if trip.on < incident]
    if early:
        first = trips[early[0]].on
        return f"hospital_trips[{early[0]}].on: {first} is before the incident ({incident})"
    return None


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
        if problem := trips_problem(view, outcome.hospital_trips):
            return problem
    if isinstance(outcome, ClaimFiled) and outcome.filed_on < view.opening.incident.occurred_on:
        return (
            f"filed_on: {outcome.filed_on} is before the incident"
            f" ({view.opening.incident.occurred_on})"
        )
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
        filing = view.filing
        if outcome.decided_on and filing is not None and outcome.decided_on < filing.filed_on:
            return (
                f"decided_on: the insurer's decision ({outcome.decided_on}) is dated before"
                f" the filing (filed_on {filing.filed_on})"
            )
        return insurer_message_problem(outcome)
    return None


def insurer_message_problem(response: InsurerResponse) -> str | None:
    unknown = unknown_documents(response.requested_documents)
    if unknown:
        return f"unknown documents: {', '.join(unknown)}"
    return None
