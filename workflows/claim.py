"""The claim case workflow: one durable workflow per claim, read like the brief's lifecycle.

Every human step is a task: the workflow opens it, projects it to the read model, and waits
until a person completes it through the `complete_task` Update. The Update's validator
rejects what does not fit before it reaches history; its handler answers with the claim's
state once the workflow has moved on to its next wait.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.read_model import ReadModelActivities
    from domain.ids import task_id_for
    from domain.models import (
        ClaimProjection,
        ClaimStage,
        ClaimStart,
        ClaimStatus,
        ClaimView,
        Closure,
        CompleteTask,
        DocumentsGathered,
        Liability,
        Role,
        ServicePath,
        Task,
        TaskKind,
        TaskStatus,
        TimelineEntry,
        TriageDecision,
    )
    from workflows.errors import Rejection

# Writing the read model must outlast a PostgreSQL outage: retry for as long as it takes.
PROJECTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)

SYSTEM = "system"


@workflow.defn(name="ClaimCase")
class ClaimWorkflow:
    @workflow.init
    def __init__(self, start: ClaimStart) -> None:
        now = workflow.now()
        self._policy = start.policy
        self._view = ClaimView(
            claim_id=start.claim_id,
            stage=ClaimStage.DISCOVERY,
            status=ClaimStatus.OPEN,
            opening=start.opening,
            created_at=now,
            updated_at=now,
        )
        self._task_seq = 0
        self._timeline_seq = 0
        self._unprojected_timeline: list[TimelineEntry] = []
        self._changed_tasks: dict[str, Task] = {}
        # Update handlers answer once the workflow has digested their completion.
        self._completions = 0
        self._settled = -1  # -1 until the workflow first waits for a person

    # --- the lifecycle ------------------------------------------------------------------

    @workflow.run
    async def run(self, start: ClaimStart) -> ClaimView:
        opening = start.opening
        self._record(opening.opened_by, "claim_opened", {"source": opening.source.value})
        await self._project()

        decision = await self._triage()
        if decision.liability is Liability.NOT_COVERED:
            await self._close(Closure.NOT_COVERED, decision.explanation)
            return self._view

        await self._gather_documents(decision.path or ServicePath.ONLINE)
        self._enter(ClaimStage.VERIFICATION)
        await self._project()
        # Later stages (verification, filing, insurer review, payout) follow here.
        await self._wait_for_human(lambda: self._view.status is ClaimStatus.CLOSED)
        return self._view

    async def _triage(self) -> TriageDecision:
        """Online triage by the consultant, repeated while more information is needed."""
        self._enter(ClaimStage.TRIAGE)
        while True:
            task = self._open_task(
                TaskKind.TRIAGE,
                Role.CONSULTANT,
                self._view.opening.consultant,
                due_in=self._policy.sla_triage,
            )
            await self._project()
            result = await self._until_completed(task)
            decision = TriageDecision.model_validate(result)
            self._view.triage = decision
            if decision.liability is not Liability.NEED_MORE_INFORMATION:
                return decision

    async def _gather_documents(self, path: ServicePath) -> DocumentsGathered:
        self._enter(ClaimStage.DOCUMENT_GATHERING)
        role, assignee = (
            (Role.CONSULTANT, self._view.opening.consultant)
            if path is ServicePath.ONLINE
            else (Role.FIELD_AGENT, None)
        )
        task = self._open_task(
            TaskKind.GATHER_DOCUMENTS, role, assignee, due_in=self._policy.sla_document_gathering
        )
        await self._project()
        return DocumentsGathered.model_validate(await self._until_completed(task))

    async def _close(self, closure: Closure, explanation: str) -> None:
        self._view.status = ClaimStatus.CLOSED
        self._view.closure = closure
        self._view.closed_at = workflow.now()
        self._enter(ClaimStage.CLOSED)
        self._record(SYSTEM, "claim_closed", {"closure": closure.value, "explanation": explanation})
        await self._project()
        self._settled = self._completions
        await workflow.wait_condition(workflow.all_handlers_finished)

    # --- tasks --------------------------------------------------------------------------

    def _open_task(
        self,
        kind: TaskKind,
        role: Role,
        assignee: str | None,
        *,
        due_in: timedelta | None,
        data: dict[str, Any] | None = None,
    ) -> Task:
        self._task_seq += 1
        now = workflow.now()
        task = Task(
            task_id=task_id_for(self._view.claim_id, self._task_seq),
            claim_id=self._view.claim_id,
            kind=kind,
            role=role,
            assignee=assignee,
            created_at=now,
            due_at=now + due_in if due_in else None,
            data=data or {},
        )
        self._view.tasks.append(task)
        self._changed_tasks[task.task_id] = task
        self._record(
            SYSTEM, "task_opened", {"task_id": task.task_id, "kind": kind.value, "assignee": assignee}
        )
        return task

    async def _until_completed(self, task: Task) -> dict[str, Any]:
        await self._wait_for_human(lambda: task.status is not TaskStatus.OPEN)
        assert task.result is not None
        return task.result

    async def _wait_for_human(self, done: Any) -> None:
        # The workflow has reached a wait: every completion so far is digested.
        self._settled = self._completions
        await workflow.wait_condition(done)

    def _find_task(self, task_id: str) -> Task | None:
        return next((t for t in self._view.tasks if t.task_id == task_id), None)

    @workflow.update
    async def complete_task(self, completion: CompleteTask) -> ClaimView:
        task = self._find_task(completion.task_id)
        # Two updates validated in one activation can both pass the validator: re-check.
        if task is None or task.status is not TaskStatus.OPEN:
            raise ApplicationError("task is no longer open", type=Rejection.TASK_NOT_OPEN)
        now = workflow.now()
        task.status = TaskStatus.COMPLETED
        task.completed_at = now
        task.completed_by = completion.completed_by
        task.result = completion.outcome.model_dump(mode="json")
        self._changed_tasks[task.task_id] = task
        self._record(
            completion.completed_by,
            "task_completed",
            {"task_id": task.task_id, "kind": task.kind.value, "result": task.result},
        )
        self._completions += 1
        mine = self._completions
        await workflow.wait_condition(lambda: self._settled >= mine)
        return self._view

    @complete_task.validator
    def _validate_completion(self, completion: CompleteTask) -> None:
        task_id = completion.task_id
        if self._view.status is ClaimStatus.CLOSED:
            raise ApplicationError("the claim is closed", type=Rejection.CLAIM_CLOSED)
        task = self._find_task(task_id)
        if task is None:
            raise ApplicationError(f"no task {task_id} on this claim", type=Rejection.TASK_NOT_FOUND)
        if task.status is not TaskStatus.OPEN:
            raise ApplicationError(
                f"task {task_id} is {task.status.value} already", type=Rejection.TASK_NOT_OPEN
            )
        if completion.outcome.kind != task.kind:
            raise ApplicationError(
                f"task {task_id} is a {task.kind.value} task, "
                f"not {completion.outcome.kind.value}",
                type=Rejection.OUTCOME_MISMATCH,
            )

    @workflow.update
    async def opened(self) -> ClaimView:
        """Sent with the start (update-with-start): answers once the claim is projected and
        its first task is open, and answers a duplicate opening with the claim as it is."""
        await workflow.wait_condition(lambda: self._settled >= self._completions)
        return self._view

    @workflow.query
    def state(self) -> ClaimView:
        return self._view

    # --- timeline and read model --------------------------------------------------------

    def _enter(self, stage: ClaimStage) -> None:
        old = self._view.stage
        self._view.stage = stage
        self._record(SYSTEM, "stage_changed", {"old": old.value, "new": stage.value})

    def _record(self, actor: str, action: str, details: dict[str, Any]) -> None:
        self._timeline_seq += 1
        now = workflow.now()
        self._view.updated_at = now
        self._unprojected_timeline.append(
            TimelineEntry(
                claim_id=self._view.claim_id,
                seq=self._timeline_seq,
                at=now,
                actor=actor,
                action=action,
                details=details,
            )
        )

    async def _project(self) -> None:
        """Write what changed to the read model. Idempotent, so retries never duplicate."""
        self._view.version = self._timeline_seq
        projection = ClaimProjection(
            claim=self._view,
            tasks=list(self._changed_tasks.values()),
            timeline=self._unprojected_timeline,
        )
        self._changed_tasks = {}
        self._unprojected_timeline = []
        await workflow.execute_activity(
            ReadModelActivities.project_claim,
            projection,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=PROJECTION_RETRY,
        )
