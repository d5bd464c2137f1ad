"""The claim's tasks: every human step is one. The book holds the open ones; a closed task
is projected to the read model and let go, so a claim's state does not grow with its age.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.ids import claim_id_of_task, task_id_for
    from domain.models import Task
    from domain.outcomes import TaskOutcome
    from domain.vocabulary import Role, TaskKind, TaskStatus
    from workflows.ledger import SYSTEM, Ledger

O = TypeVar("O")


class TaskBook:
    def __init__(
        self, claim_id: str, ledger: Ledger, seq: int = 0, open_tasks: Iterable[Task] = ()
    ) -> None:
        self._claim_id = claim_id
        self._ledger = ledger
        self.seq = seq
        self._open: dict[str, Task] = {t.task_id: t for t in open_tasks}
        self._closed: dict[str, TaskStatus] = {}  # this run's closed tasks
        # Completed, the outcome not yet taken by the step waiting for it.
        self._outcomes: dict[str, tuple[Task, Any]] = {}

    @property
    def open(self) -> list[Task]:
        return list(self._open.values())

    def get(self, task_id: str) -> Task | None:
        return self._open.get(task_id)

    def current(self, kind: TaskKind) -> Task | None:
        """The task of this kind the lifecycle is on: open, or completed with its outcome not
        yet taken (a new run's first activation may complete it before the step resumes)."""
        waiting = (t for t, _ in self._outcomes.values() if t.kind is kind)
        return next((t for t in self._open.values() if t.kind is kind), None) or next(
            waiting, None
        )

    def closed_status(self, task_id: str) -> TaskStatus | None:
        """How a task of this claim that is no longer open ended (None: no such task)."""
        if task_id in self._closed:
            return self._closed[task_id]
        if claim_id_of_task(task_id) != self._claim_id:
            return None
        seq = int(task_id.rpartition("-T")[2])
        # Ids are issued in sequence, so an earlier run's task is known without keeping it.
        if 0 < seq <= self.seq and task_id == task_id_for(self._claim_id, seq):
            return TaskStatus.COMPLETED  # or cancelled: either way, no longer open
        return None

    def issue(
        self,
        kind: TaskKind,
        role: Role,
        assignee: str | None,
        due_at: datetime | None,
        data: dict[str, Any] | None = None,
    ) -> Task:
        self.seq += 1
        task = Task(
            task_id=task_id_for(self._claim_id, self.seq),
            claim_id=self._claim_id,
            kind=kind,
            role=role,
            assignee=assignee,
            created_at=workflow.now(),
            due_at=due_at,
            data=data or {},
        )
        self._open[task.task_id] = task
        self._ledger.touch(task)
        self._ledger.record(
            SYSTEM,
            "task_opened",
            {"task_id": task.task_id, "kind": kind.value, "role": role.value, "assignee": assignee},
        )
        return task

    def complete(self, task: Task, by: str, outcome: TaskOutcome, *, awaited: bool = True) -> None:
        task.status = TaskStatus.COMPLETED
        task.completed_at = workflow.now()
        task.completed_by = by
        task.result = outcome.model_dump(mode="json")
        self._close(task)
        if awaited:
            self._outcomes[task.task_id] = (task, outcome)
        self._ledger.record(
            by,
            "task_completed",
            {"task_id": task.task_id, "kind": task.kind.value, "result": task.result},
        )

    def cancel(self, task: Task, reason: str) -> None:
        task.status = TaskStatus.CANCELLED
        task.completed_at = workflow.now()
        self._close(task)
        self._ledger.record(SYSTEM, "task_cancelled", {"task_id": task.task_id, "reason": reason})

    def take_outcome(self, task: Task, kind: type[O]) -> O:
        """The outcome of a completed task, typed, for the step that waited for it."""
        _, outcome = self._outcomes.pop(task.task_id)
        assert isinstance(outcome, kind), f"{task.task_id}: {type(outcome).__name__}"
        return outcome

    def _close(self, task: Task) -> None:
        self._open.pop(task.task_id, None)
        self._closed[task.task_id] = task.status
        self._ledger.touch(task)
