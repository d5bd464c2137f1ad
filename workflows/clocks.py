"""The clocks of a claim: task deadlines with nudges and escalation, stalled claims, the
insurer's statutory deadlines, and pausing while the claim waits on the user.

One durable timer per claim, armed at the earliest deadline still pending; it is re-armed
only when an earlier deadline appears. A timer that fires with nothing due simply sleeps
again, so no step of the claim cancels or re-arms a timer. What has fired is part of the
claim's state (a task's `nudged` steps, the stall alerts, the statutory follow-ups), so a
run that continues as new neither repeats nor forgets a nudge. Each nudge goes through the
notifications outbox with a deterministic id: it is sent once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotifyActivities
    from domain.models import ClaimCarry, ClaimView, Task
    from domain.notifications import Notification, NotificationKind
    from domain.policy import ServicePolicy, TaskPolicy
    from domain.vocabulary import ClaimStatus, Priority, Role, TaskKind
    from workflows.ledger import SYSTEM, Ledger
    from workflows.tasks import TaskBook

ESCALATED_PRIORITY = (Priority.HIGH, Priority.URGENT)


@dataclass(frozen=True)
class Due:
    """One pending deadline: when, and what happens then."""

    at: datetime
    what: str  # "task", "stall" or "statutory"
    key: str
    task: Task | None = None


class Clock:
    def __init__(
        self,
        policy: ServicePolicy,
        view: ClaimView,
        book: TaskBook,
        ledger: Ledger,
        *,
        project: Callable[[], Awaitable[None]],
        retry: RetryPolicy,
        activity_timeout: timedelta,
        carried: ClaimCarry | None = None,
    ) -> None:
        self._policy = policy
        self._view = view
        self._book = book
        self._ledger = ledger
        self._project = project
        self._retry = retry
        self._activity_timeout = activity_timeout
        self.progress_at: datetime = carried.progress_at if carried else workflow.now()
        self.stall_alerts = carried.stall_alerts if carried else 0
        self.statutory_met: set[str] = set(carried.statutory_met) if carried else set()
        self.followed_up: set[str] = set(carried.statutory_followed_up) if carried else set()
        self.busy = False
        """True while nudges are being sent: a run does not continue as new in the middle."""
        self._armed: datetime | None = None
        self._wake = False

    def _closed(self) -> bool:
        return self._view.status is ClaimStatus.CLOSED

    def _paused(self) -> bool:
        return self._view.paused_since is not None

    # --- the one timer ------------------------------------------------------------------

    async def run(self) -> None:
        while not self._closed():
            due = self._next_due()
            if due is None or due.at > workflow.now():
                self._arm(due)
                await workflow.wait_condition(lambda: self._wake or self._closed())
                self._wake = False
                continue
            self.busy = True
            try:
                while due is not None and due.at <= workflow.now() and not self._closed():
                    await self._fire(due)
                    due = self._next_due()
                await self._project()
            finally:
                self.busy = False

    def changed(self) -> None:
        """Something may have brought a deadline forward: arm the timer earlier if so."""
        self._arm(self._next_due())

    def _arm(self, due: Due | None) -> None:
        if due is None or (self._armed is not None and self._armed <= due.at):
            return
        delay = due.at - workflow.now()
        if delay <= timedelta(0):
            self._wake = True
            return
        self._armed = due.at
        asyncio.create_task(self._sleep(due.at, delay))

    async def _sleep(self, at: datetime, delay: timedelta) -> None:
        await asyncio.sleep(delay.total_seconds())
        if self._armed == at:
            self._armed = None
        self._wake = True

    def _pending(self) -> list[Due]:
        pending: list[Due] = []
        for task in self._book.open:
            policy = self._policy.task_policy(task.kind)
            if policy is None or task.due_at is None or (policy.pausable and self._paused()):
                continue
            step = next(((k, at) for k, at in self._steps(task, policy) if k not in task.nudged), None)
            if step is not None:
                pending.append(Due(step[1], "task", step[0], task))
        after = self._policy.stall_after.get(self._view.stage)
        if after is not None and not self._paused() and self._view.stalled_since is None:
            pending.append(Due(self.progress_at + after, "stall", "stalled"))
        warn = self._policy.statutory.warn_before
        for name, deadline in self._view.statutory_deadlines.items():
            if name in self.statutory_met:
                continue
            for when, at in (("near", deadline - warn), ("past", deadline)):
                if f"{name}/{when}" not in self.followed_up:
                    pending.append(Due(at, "statutory", f"{name}/{when}"))
                    break
        return pending

    def _next_due(self) -> Due | None:
        return min(self._pending(), key=lambda d: d.at, default=None)

    # --- task deadlines -----------------------------------------------------------------

    def due_at(self, kind: TaskKind, start: datetime) -> datetime | None:
        policy = self._policy.task_policy(kind)
        if policy is None:
            return None
        return self._policy.after(start, policy.due, policy.business_time)

    def _steps(self, task: Task, policy: TaskPolicy) -> list[tuple[str, datetime]]:
        """Every nudge of a task, in time order, from its current due time."""
        assert task.due_at is not None
        due = task.due_at
        steps: list[tuple[str, datetime]] = []
        if policy.remind_before > timedelta(0):
            steps.append(("reminder", self._policy.after(due, -policy.remind_before, False)))
        else:
            steps.append(("reminder", due))
        steps.append(("overdue", due))
        for n, e in enumerate(policy.escalations, start=1):
            steps.append((f"escalation-{n}", self._policy.after(due, e.after, policy.business_time)))
        if policy.reassign_after is not None:
            steps.append(
                ("reassign", self._policy.after(due, policy.reassign_after, policy.business_time))
            )
        return sorted(steps, key=lambda s: s[1])

    def move_deadline(self, task: Task, due_at: datetime) -> None:
        task.due_at = due_at
        task.deadline_round += 1
        task.nudged = []
        self._ledger.touch(task)
        self.changed()

    async def _fire(self, due: Due) -> None:
        if due.what == "task":
            assert due.task is not None
            due.task.nudged.append(due.key)
            self._ledger.touch(due.task)
            await self._nudge(due.task, due.key)
        elif due.what == "stall":
            await self._stalled()
        else:
            self.followed_up.add(due.key)
            await self._follow_up_insurer(*due.key.split("/"))

    async def _nudge(self, task: Task, key: str) -> None:
        policy = self._policy.task_policy(task.kind)
        assert policy is not None
        record = self._ledger.record
        if key == "reminder":
            record(SYSTEM, "task_reminded", {"task_id": task.task_id, "to": task.assignee})
            await self._notify(
                NotificationKind.REMINDER,
                f"{task.task_id}/reminder/{task.deadline_round}",
                task.assignee,
                task.role,
                f"Task {task.kind.value} on claim {task.claim_id} is due at {task.due_at}.",
                task,
            )
        elif key == "overdue":
            record(SYSTEM, "task_overdue", {"task_id": task.task_id, "due_at": str(task.due_at)})
        elif key.startswith("escalation-"):
            level = int(key.removeprefix("escalation-"))
            escalation = policy.escalations[level - 1]
            old = (task.priority, task.escalation_level)
            task.escalation_level = max(task.escalation_level, level)
            task.priority = ESCALATED_PRIORITY[min(level, len(ESCALATED_PRIORITY)) - 1]
            record(
                SYSTEM,
                "task_escalated",
                {
                    "task_id": task.task_id,
                    "to": escalation.recipient,
                    "old": {"priority": old[0].value, "level": old[1]},
                    "new": {"priority": task.priority.value, "level": task.escalation_level},
                },
            )
            await self._notify(
                NotificationKind.ESCALATION,
                f"{task.task_id}/{key}/{task.deadline_round}",
                escalation.recipient,
                escalation.role,
                f"Task {task.kind.value} on claim {task.claim_id}, assigned to "
                f"{task.assignee or 'nobody'}, is overdue since {task.due_at}.",
                task,
            )
        elif key == "reassign":
            old_assignee = task.assignee
            task.assignee = None
            record(
                SYSTEM,
                "task_reassigned",
                {"task_id": task.task_id, "old": old_assignee, "new": None,
                 "reason": "nobody acted: back to the role's pool"},
            )
            await self._notify(
                NotificationKind.REASSIGNED,
                f"{task.task_id}/reassign/{task.deadline_round}",
                None,
                Role.MANAGER,
                f"Task {task.kind.value} on claim {task.claim_id} went back to the "
                f"{task.role.value} pool: {old_assignee} did not act.",
                task,
            )

    # --- waiting on the user ------------------------------------------------------------

    def pause(self, by: str, reason: str) -> None:
        self._view.paused_since = workflow.now()
        self._ledger.record(by, "clock_paused", {"reason": reason})

    def resume(self, by: str) -> None:
        assert self._view.paused_since is not None
        paused_for = workflow.now() - self._view.paused_since
        self._view.paused_since = None
        moved = {}
        for task in self._book.open:
            policy = self._policy.task_policy(task.kind)
            if task.due_at and policy and policy.pausable:
                old = task.due_at
                self.move_deadline(task, old + paused_for)
                moved[task.task_id] = {"old": str(old), "new": str(task.due_at)}
        self.progress_at = workflow.now()  # the stall clock starts again
        self._ledger.record(
            by, "clock_resumed", {"paused_seconds": paused_for.total_seconds(), "due": moved}
        )
        self.changed()

    # --- stalled claims -----------------------------------------------------------------

    def mark_progress(self) -> None:
        """Any step forward clears the stalled flag and starts the stall clock again."""
        self.progress_at = workflow.now()
        if self._view.stalled_since is not None:
            self._ledger.record(SYSTEM, "stall_cleared", {"since": str(self._view.stalled_since)})
            self._view.stalled_since = None

    async def _stalled(self) -> None:
        after = self._policy.stall_after[self._view.stage]
        self.stall_alerts += 1
        self._view.stalled_since = workflow.now()
        stage = self._view.stage.value
        self._ledger.record(SYSTEM, "claim_stalled", {"stage": stage, "after": str(after)})
        await self._notify(
            NotificationKind.STALLED,
            f"stalled/{self.stall_alerts}",
            None,
            Role.MANAGER,
            f"Claim {self._view.claim_id} has made no progress in {stage} for {after}.",
        )

    # --- the insurer's statutory clocks -------------------------------------------------

    def start_statutory(self, name: str, within: timedelta) -> None:
        deadline = workflow.now() + within
        self._view.statutory_deadlines[name] = deadline
        self._ledger.record(
            SYSTEM, "statutory_clock_started", {"clock": name, "deadline": str(deadline)}
        )
        self.changed()

    def statutory_clock_met(self, name: str) -> None:
        self.statutory_met.add(name)

    async def _follow_up_insurer(self, name: str, when: str) -> None:
        """Near the deadline and again when it has passed, the consultant follows up."""
        deadline = self._view.statutory_deadlines[name]
        consultant = self._view.opening.consultant
        self._book.issue(
            TaskKind.FOLLOW_UP_INSURER,
            Role.CONSULTANT,
            consultant,
            self.due_at(TaskKind.FOLLOW_UP_INSURER, workflow.now()),
            data={"clock": name, "deadline": str(deadline), "when": when},
        )
        await self._notify(
            NotificationKind.STATUTORY,
            f"statutory/{name}/{when}",
            consultant,
            Role.CONSULTANT,
            f"The insurer's {name} deadline for claim {self._view.claim_id} is {when}:"
            f" {deadline}.",
        )

    # --- notifications ------------------------------------------------------------------

    async def _notify(
        self,
        kind: NotificationKind,
        key: str,
        recipient: str | None,
        role: Role | None,
        message: str,
        task: Task | None = None,
    ) -> None:
        claim_id = self._view.claim_id
        await workflow.execute_activity_method(
            NotifyActivities.notify,
            Notification(
                notification_id=f"{claim_id}/{key}",
                claim_id=claim_id,
                task_id=task.task_id if task else None,
                kind=kind,
                recipient=recipient,
                role=role,
                message=message,
                created_at=workflow.now(),
            ),
            start_to_close_timeout=self._activity_timeout,
            retry_policy=self._retry,
        )
