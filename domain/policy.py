"""The service policy a claim runs under, snapshotted into the claim when it opens.

Snapshotting keeps the workflow deterministic (it never reads configuration itself) and
means a claim keeps the rules it was opened under. Every number here is configuration, so
tests run the same timers in seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from domain.calendar import BusinessCalendar
from domain.vocabulary import ClaimStage, Role, TaskKind


class Escalation(BaseModel):
    """After the due time has passed by `after`, tell `recipient` (a person or a team)."""

    after: timedelta
    recipient: str
    role: Role = Role.MANAGER


class TaskPolicy(BaseModel):
    """The service level of one kind of task."""

    due: timedelta
    remind_before: timedelta = timedelta(0)
    """The assignee is reminded this long before the due time (0: at the due time)."""
    escalations: list[Escalation] = []
    reassign_after: timedelta | None = None
    """After the due time has passed by this, the task goes back to its role's pool."""
    business_time: bool = False
    """Count only working hours on business days (Asia/Shanghai) instead of wall-clock time."""
    pausable: bool = True
    """The clock stops while the claim waits on the user."""


def _escalations(first: timedelta, second: timedelta) -> list[Escalation]:
    return [
        Escalation(after=first, recipient="team-lead"),
        Escalation(after=second, recipient="claims-manager"),
    ]


DEFAULT_TASK_POLICIES: dict[TaskKind, TaskPolicy] = {
    TaskKind.TRIAGE: TaskPolicy(
        due=timedelta(hours=8),
        remind_before=timedelta(hours=2),
        escalations=_escalations(timedelta(hours=4), timedelta(hours=16)),
        business_time=True,
    ),
    TaskKind.ASSIGN_FIELD_AGENT: TaskPolicy(
        due=timedelta(hours=4),
        escalations=_escalations(timedelta(hours=2), timedelta(hours=8)),
        business_time=True,
    ),
    TaskKind.ACCEPT_DISPATCH: TaskPolicy(
        due=timedelta(hours=8),
        escalations=_escalations(timedelta(hours=4), timedelta(hours=16)),
        reassign_after=timedelta(hours=8),
        business_time=True,
    ),
    TaskKind.GATHER_DOCUMENTS: TaskPolicy(
        due=timedelta(days=7),
        remind_before=timedelta(days=1),
        escalations=_escalations(timedelta(days=1), timedelta(days=3)),
    ),
    TaskKind.VERIFY_DOCUMENTS: TaskPolicy(
        due=timedelta(hours=16),
        remind_before=timedelta(hours=4),
        escalations=_escalations(timedelta(hours=8), timedelta(hours=24)),
        business_time=True,
    ),
    TaskKind.CONFIRM_FILING: TaskPolicy(
        due=timedelta(days=2), escalations=_escalations(timedelta(days=1), timedelta(days=3))
    ),
    TaskKind.FILE_CLAIM: TaskPolicy(
        due=timedelta(hours=16),
        remind_before=timedelta(hours=4),
        escalations=_escalations(timedelta(hours=8), timedelta(hours=24)),
        business_time=True,
    ),
    TaskKind.EXPLAIN_EXPECTATIONS: TaskPolicy(
        due=timedelta(days=3), escalations=_escalations(timedelta(days=1), timedelta(days=3))
    ),
    TaskKind.RECORD_INSURER_RESPONSE: TaskPolicy(
        # Waiting on the insurer: the consultant checks the insurer's portal weekly.
        due=timedelta(days=7),
        escalations=_escalations(timedelta(days=3), timedelta(days=7)),
        pausable=False,
    ),
    TaskKind.FOLLOW_UP_INSURER: TaskPolicy(
        due=timedelta(days=2), escalations=_escalations(timedelta(days=1), timedelta(days=2))
    ),
    TaskKind.EXPLAIN_OUTCOME: TaskPolicy(
        due=timedelta(days=3), escalations=_escalations(timedelta(days=1), timedelta(days=3))
    ),
    TaskKind.RESOLVE_DISPUTE: TaskPolicy(
        due=timedelta(days=14), escalations=_escalations(timedelta(days=3), timedelta(days=7))
    ),
}
"""How long each human step may take, who is nudged, and who hears when it slips."""

DEFAULT_STALL_AFTER: dict[ClaimStage, timedelta] = {
    ClaimStage.TRIAGE: timedelta(days=2),
    ClaimStage.DISPATCH: timedelta(days=2),
    ClaimStage.DOCUMENT_GATHERING: timedelta(days=10),
    ClaimStage.VERIFICATION: timedelta(days=3),
    ClaimStage.FILING: timedelta(days=4),
    ClaimStage.PRE_DECISION_EXPLANATION: timedelta(days=5),
    ClaimStage.PAYOUT_EXPLANATION: timedelta(days=5),
    ClaimStage.DISPUTE: timedelta(days=21),
}
"""No progress for this long in a stage flags the claim as stalled. Insurer review is absent:
the insurer's statutory clocks watch that wait instead."""


class StatutoryClocks(BaseModel):
    """The insurer's deadlines under the PRC Insurance Law, tracked per filed claim."""

    decision_within: timedelta = timedelta(days=30)
    """A decision within 30 days of a complete filing (Art. 23)."""
    payment_within: timedelta = timedelta(days=10)
    """Payment within 10 days of agreeing on the amount (Art. 23)."""
    warn_before: timedelta = timedelta(days=5)
    """A follow-up task goes to the consultant this long before a clock runs out."""


class HistoryBudget(BaseModel):
    """When a claim's run hands over to a new run (continue-as-new): at Temporal's own
    suggestion, or at these, whichever comes first. A claim's lifetime is unbounded; a run's
    history stays far below Temporal's limits (50 MB, 51,200 events), and a worker that
    must replay it after a cache miss replays little."""

    events: int = Field(default=2_000, ge=100)
    bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)


class ServicePolicy(BaseModel):
    offline_cities: list[str] = ["Beijing"]
    tasks: dict[TaskKind, TaskPolicy] = DEFAULT_TASK_POLICIES
    stall_after: dict[ClaimStage, timedelta] = DEFAULT_STALL_AFTER
    statutory: StatutoryClocks = StatutoryClocks()
    calendar: BusinessCalendar = Field(default_factory=BusinessCalendar)
    search_attributes: bool = True
    """Upsert the claim's typed search attributes (they must be registered on the namespace)."""
    history: HistoryBudget = HistoryBudget()

    def task_policy(self, kind: TaskKind) -> TaskPolicy | None:
        return self.tasks.get(kind)

    def after(self, start: datetime, duration: timedelta, business_time: bool) -> datetime:
        """The instant `duration` after `start`, in business time where the policy says so."""
        if business_time:
            return self.calendar.add_business_time(start, duration)
        return start + duration
