"""The clocks of a claim: task deadlines with nudges and escalation, stalled claims, the
insurer's statutory deadlines, and pausing while the claim waits on the user.

A mixin of ClaimWorkflow, kept apart so that claim.py reads like the lifecycle. Every wait is
a durable workflow timer (`wait_condition` with a timeout): a claim waits months for free,
and a worker restart loses no nudge. Each nudge goes through the notifications outbox with a
deterministic id, so it is sent once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotifyActivities
    from domain.models import ClaimView, Task
    from domain.notifications import Notification, NotificationKind
    from domain.policy import ServicePolicy, TaskPolicy
    from domain.vocabulary import ClaimStatus, Priority, Role, TaskKind, TaskStatus

if TYPE_CHECKING:
    from temporalio.common import RetryPolicy

SYSTEM = "system"
ESCALATED_PRIORITY = (Priority.HIGH, Priority.URGENT)


class Clocks:
    # Provided by ClaimWorkflow.
    _policy: ServicePolicy
    _view: ClaimView
    _timers: bool
    _clock_rev: int
    _progress: int
    _background: list[asyncio.Task[None]]
    _retry: RetryPolicy
    _activity_timeout: timedelta

    def _record(self, actor: str, action: str, details: dict[str, Any]) -> None: ...
    async def _project(self) -> None: ...
    def _touch(self, task: Task) -> None: ...
    def _open_task(
        self, kind: TaskKind, role: Role, assignee: str | None, data: dict[str, Any] | None = None
    ) -> Task: ...

    def _closed(self) -> bool:
        return self._view.status is ClaimStatus.CLOSED

    def _in_background(self, coro: Any) -> None:
        self._background.append(asyncio.create_task(coro))

    # --- task deadlines -----------------------------------------------------------------

    def _due_at(self, kind: TaskKind, start: datetime) -> datetime | None:
        policy = self._policy.task_policy(kind)
        if policy is None:
            return None
        return self._policy.after(start, policy.due, policy.business_time)

    def _watch_task(self, task: Task) -> None:
        policy = self._policy.task_policy(task.kind)
        if self._timers and policy is not None and task.due_at is not None:
            self._in_background(self._watch(task, policy))

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

    async def _watch(self, task: Task, policy: TaskPolicy) -> None:
        fired: set[tuple[int, str]] = set()
        while task.status is TaskStatus.OPEN and not self._closed():
            pending = [
                (key, at)
                for key, at in self._steps(task, policy)
                if (task.deadline_round, key) not in fired
            ]
            if not pending:
                return
            key, at = pending[0]
            rev = self._clock_rev
            changed: Callable[[], bool] = lambda: (  # noqa: E731
                task.status is not TaskStatus.OPEN or self._clock_rev != rev
            )
            if policy.pausable and self._view.paused_since is not None:
                await workflow.wait_condition(changed)
                continue
            delay = at - workflow.now()
            if delay > timedelta(0):
                try:
                    await workflow.wait_condition(changed, timeout=delay)
                    continue  # completed, paused, or the due time moved: look again
                except asyncio.TimeoutError:
                    pass
            fired.add((task.deadline_round, key))
            await self._fire(task, key, policy)

    async def _fire(self, task: Task, key: str, policy: TaskPolicy) -> None:
        if key == "reminder":
            self._record(SYSTEM, "task_reminded", {"task_id": task.task_id, "to": task.assignee})
            await self._notify(
                NotificationKind.REMINDER,
                f"{task.task_id}/reminder/{task.deadline_round}",
                task.assignee,
                task.role,
                f"Task {task.kind.value} on claim {task.claim_id} is due at {task.due_at}.",
                task,
            )
            # Claims started before this change did not project here; their histories say so.
            if workflow.patched("project-reminders"):
                await self._project()
        elif key == "overdue":
            self._record(SYSTEM, "task_overdue", {"task_id": task.task_id, "due_at": str(task.due_at)})
            await self._project()
        elif key.startswith("escalation-"):
            level = int(key.removeprefix("escalation-"))
            escalation = policy.escalations[level - 1]
            old = (task.priority, task.escalation_level)
            task.escalation_level = max(task.escalation_level, level)
            task.priority = ESCALATED_PRIORITY[min(level, len(ESCALATED_PRIORITY)) - 1]
            self._touch(task)
            self._record(
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
            await self._project()
        elif key == "reassign":
            old_assignee = task.assignee
            task.assignee = None
            self._touch(task)
            self._record(
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
            await self._project()

    def _move_deadline(self, task: Task, due_at: datetime) -> None:
        task.due_at = due_at
        task.deadline_round += 1
        self._touch(task)
        self._clock_rev += 1

    # --- waiting on the user ------------------------------------------------------------

    def _pause(self, by: str, reason: str) -> None:
        self._view.paused_since = workflow.now()
        self._clock_rev += 1
        self._record(by, "clock_paused", {"reason": reason})

    def _resume(self, by: str) -> None:
        assert self._view.paused_since is not None
        paused_for = workflow.now() - self._view.paused_since
        self._view.paused_since = None
        moved = {}
        for task in self._view.tasks:
            policy = self._policy.task_policy(task.kind)
            if task.status is TaskStatus.OPEN and task.due_at and policy and policy.pausable:
                old = task.due_at
                self._move_deadline(task, old + paused_for)
                moved[task.task_id] = {"old": str(old), "new": str(task.due_at)}
        self._clock_rev += 1
        self._record(
            by, "clock_resumed", {"paused_seconds": paused_for.total_seconds(), "due": moved}
        )

    # --- stalled claims -----------------------------------------------------------------

    def _mark_progress(self) -> None:
        """Any step forward clears the stalled flag."""
        self._progress += 1
        if self._view.stalled_since is not None:
            self._record(SYSTEM, "stall_cleared", {"since": str(self._view.stalled_since)})
            self._view.stalled_since = None

    async def _watch_stalls(self) -> None:
        alerts = 0
        while not self._closed():
            seen, rev = self._progress, self._clock_rev
            moved: Callable[[], bool] = lambda: (  # noqa: E731
                self._progress != seen or self._clock_rev != rev or self._closed()
            )
            after = self._policy.stall_after.get(self._view.stage)
            if after is None or self._view.paused_since is not None:
                await workflow.wait_condition(moved)
                continue
            try:
                await workflow.wait_condition(moved, timeout=after)
                continue
            except asyncio.TimeoutError:
                pass
            alerts += 1
            self._view.stalled_since = workflow.now()
            stage = self._view.stage.value
            self._record(SYSTEM, "claim_stalled", {"stage": stage, "after": str(after)})
            await self._notify(
                NotificationKind.STALLED,
                f"stalled/{alerts}",
                None,
                Role.MANAGER,
                f"Claim {self._view.claim_id} has made no progress in {stage} for {after}.",
            )
            await self._project()
            await workflow.wait_condition(lambda: self._progress != seen or self._closed())

    # --- the insurer's statutory clocks -------------------------------------------------

    def _start_statutory_clock(self, name: str, within: timedelta, done: Callable[[], bool]) -> None:
        if not self._timers:
            return
        deadline = workflow.now() + within
        self._view.statutory_deadlines[name] = deadline
        self._record(SYSTEM, "statutory_clock_started", {"clock": name, "deadline": str(deadline)})
        self._in_background(self._watch_statutory(name, deadline, done))

    async def _watch_statutory(
        self, name: str, deadline: datetime, done: Callable[[], bool]
    ) -> None:
        """Near the deadline and again when it has passed, the consultant follows up."""
        finished = lambda: done() or self._closed()  # noqa: E731
        warn_at = deadline - self._policy.statutory.warn_before
        for when, at in (("near", warn_at), ("past", deadline)):
            delay = at - workflow.now()
            if delay > timedelta(0):
                try:
                    await workflow.wait_condition(finished, timeout=delay)
                except asyncio.TimeoutError:
                    pass
            if finished():
                return
            self._open_task(
                TaskKind.FOLLOW_UP_INSURER,
                Role.CONSULTANT,
                self._view.opening.consultant,
                data={"clock": name, "deadline": str(deadline), "when": when},
            )
            await self._notify(
                NotificationKind.STATUTORY,
                f"statutory/{name}/{when}",
                self._view.opening.consultant,
                Role.CONSULTANT,
                f"The insurer's {name} deadline for claim {self._view.claim_id} is {when}:"
                f" {deadline}.",
            )
            await self._project()

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
