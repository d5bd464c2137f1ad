"""The API's side of the claim workflow: open, read live state, complete tasks.

Every write goes into the workflow (update-with-start, Update); nothing here writes the
read model. Temporal's errors become domain errors that the routes map to HTTP.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import QueryRejectCondition, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.ids import claim_id_for, claim_id_of_task
from domain.models import (
    ChangeTask,
    ClaimOpening,
    ClaimStart,
    ClaimStep,
    ClaimView,
    ClockPause,
    ClockResume,
    CompleteTask,
    NoteInput,
    Reassignment,
    ReassignTask,
    TaskChange,
    TaskCompletion,
    Withdrawal,
)
from domain.outcomes import ChecklistProgress, InsurerResponse
from domain.policy import ServicePolicy
from domain.rules import outcome_problems
from store import openings, read_model, workflow_health
from workflows.claim import ClaimWorkflow
from workflows.errors import Rejection


@dataclass
class ClaimError(Exception):
    """A rejected action; `rejection` says which, `claim` is the state when known."""

    rejection: Rejection
    message: str
    claim: ClaimView | None = None


class ClaimNotAnswering(RPCError):
    """The new claim's workflow did not answer in time: no worker polls its task queue, or
    none got to it. An RPCError with DEADLINE_EXCEEDED, so it answers 503 with Retry-After
    (api.errors); the same Idempotency-Key later joins the claim if it was started."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the claim's workflow did not answer in {seconds:g}s (is a worker running?)",
            RPCStatusCode.DEADLINE_EXCEEDED,
            b"",
        )


class ClaimsClient:
    def __init__(
        self,
        client: Client,
        pool: asyncpg.Pool,
        task_queue: str,
        *,
        open_timeout: float | None = None,
    ) -> None:
        self.client = client
        self.pool = pool
        self.task_queue = task_queue
        if open_timeout is None:
            from claimflow.settings import get_settings

            open_timeout = get_settings().claim_open_timeout.total_seconds()
        self.open_timeout = open_timeout
        """Seconds `open_claim` waits for the workflow's first answer (CLAIMFLOW_CLAIM_OPEN_TIMEOUT)."""

    async def open_claim(
        self,
        opening: ClaimOpening,
        idempotency_key: str,
        policy: ServicePolicy,
        *,
        confirmed_new: bool = False,
    ) -> ClaimStep:
        """Open a claim; a second one for the policy and incident of another is refused
        (DuplicateClaim, with that claim) unless `confirmed_new`."""
        claim_id = claim_id_for(idempotency_key)
        if not confirmed_new:
            await self._take_incident(opening, claim_id)
        start = WithStartWorkflowOperation(
            ClaimWorkflow.run,
            ClaimStart(claim_id=claim_id, opening=opening, policy=policy),
            id=claim_id,
            task_queue=self.task_queue,
            # The same key twice is one claim: a duplicate joins the running workflow,
            # and a closed claim's id is never reused.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        try:
            return await asyncio.wait_for(
                self.client.execute_update_with_start_workflow(
                    ClaimWorkflow.opened, start_workflow_operation=start
                ),
                timeout=self.open_timeout,
            )
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as exc:
            # The SDK turns the cancelled wait into its own error.
            raise ClaimNotAnswering(self.open_timeout) from exc
        except Exception as exc:
            closed = await read_model.get_claim(self.pool, claim_id)
            if closed is not None and _is_closed_workflow(exc):
                return ClaimStep.of(closed)
            raise

    async def _take_incident(self, opening: ClaimOpening, claim_id: str) -> None:
        key = openings.incident_key(opening.policy.policy_number, opening.incident.occurred_on)
        holder = await openings.take(self.pool, key, claim_id)
        if holder == claim_id:
            return
        # An opening that took the incident and never started its claim (it failed before,
        # and was not retried) lets it go once it is surely not on its way.
        existing = await read_model.get_claim(self.pool, holder)
        if (
            existing is None
            and not await self._in_temporal(holder)
            and await openings.hand_over(
                self.pool, key, holder, claim_id, older_than=2 * self.open_timeout
            )
        ):
            return
        raise ClaimError(
            Rejection.DUPLICATE_CLAIM,
            f"claim {holder} already exists for this policy and incident; to open another "
            "one for it anyway, send the request again with ?confirmed_new=true",
            existing,
        )

    async def _in_temporal(self, claim_id: str) -> bool:
        """Whether the claim's workflow exists (started, perhaps not yet projected)."""
        try:
            await self.client.get_workflow_handle(claim_id).describe()
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    async def claim_after(self, step: ClaimStep) -> ClaimView:
        """The whole claim after a change, for a route that answers with it. The Update
        answers only with the step (history grows by what changed); the rest is read from
        the read model, which the workflow wrote before answering. Not a query: many
        people acting on one claim at once would crowd its workflow with queries."""
        view = await read_model.get_claim(self.pool, step.claim_id)
        if view is None or view.version < step.version:
            view = await self.get_claim(step.claim_id)
        if view is None:  # pragma: no cover - the change was just accepted
            raise ClaimError(Rejection.NOT_FOUND, f"no claim {step.claim_id}")
        return view

    async def get_claim(self, claim_id: str) -> ClaimView | None:
        """Live state from the workflow while it runs, the read model once it has closed."""
        handle = self.client.get_workflow_handle(claim_id)
        try:
            view = await handle.query(
                ClaimWorkflow.state, reject_condition=QueryRejectCondition.NOT_OPEN
            )
            # Notes live in the read model's timeline, not in the workflow's state.
            return await read_model.with_notes(self.pool, view)
        except WorkflowQueryRejectedError:
            return await read_model.get_claim(self.pool, claim_id)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def complete_task(self, task_id: str, completion: TaskCompletion) -> ClaimStep:
        """Facts that need "now" (a visit not in the past, a trip not in the future) are
        checked here, against the API's clock, before the Update: 422 naming the field."""
        from api.errors import refused_facts  # api.errors imports this module

        outcome = completion.outcome
        refused_facts(outcome_problems(outcome, datetime.now(UTC)), "outcome", outcome.kind.value)
        return await self._task_update(
            task_id,
            ClaimWorkflow.complete_task,
            CompleteTask(task_id=task_id, **completion.model_dump()),
        )

    async def reassign_task(self, task_id: str, change: Reassignment) -> ClaimStep:
        return await self._task_update(
            task_id, ClaimWorkflow.reassign_task, ReassignTask(task_id=task_id, **change.model_dump())
        )

    async def change_task(self, task_id: str, change: TaskChange) -> ClaimStep:
        return await self._task_update(
            task_id, ClaimWorkflow.change_task, ChangeTask(task_id=task_id, **change.model_dump())
        )

    async def pause_clock(self, claim_id: str, pause: ClockPause) -> ClaimStep:
        return await self._claim_update(claim_id, ClaimWorkflow.pause_clock, pause)

    async def resume_clock(self, claim_id: str, resume: ClockResume) -> ClaimStep:
        return await self._claim_update(claim_id, ClaimWorkflow.resume_clock, resume)

    async def record_progress(self, claim_id: str, progress: ChecklistProgress) -> ClaimStep:
        return await self._claim_update(claim_id, ClaimWorkflow.record_progress, progress)

    async def add_note(self, claim_id: str, note: NoteInput) -> ClaimStep:
        return await self._claim_update(claim_id, ClaimWorkflow.add_note, note)

    async def withdraw(self, claim_id: str, withdrawal: Withdrawal) -> ClaimStep:
        return await self._claim_update(claim_id, ClaimWorkflow.withdraw, withdrawal)

    async def insurer_responded(self, claim_id: str, response: InsurerResponse) -> None:
        """A Signal: the insurer needs no answer but that we have it."""
        try:
            await self.client.get_workflow_handle(claim_id).signal(
                ClaimWorkflow.insurer_responded, response
            )
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            message = await workflow_health.closed_claim_message(self.pool, claim_id)
            raise ClaimError(Rejection.CLAIM_CLOSED, message) from exc

    async def _task_update(self, task_id: str, update: Any, arg: Any) -> ClaimStep:
        claim_id = claim_id_of_task(task_id)
        if claim_id is None:
            raise ClaimError(Rejection.TASK_NOT_FOUND, f"no task {task_id}")
        return await self._claim_update(claim_id, update, arg, task_id=task_id)

    async def _claim_update(
        self, claim_id: str, update: Any, arg: Any, task_id: str | None = None
    ) -> ClaimStep:
        """Run an Update and turn its rejection into a ClaimError with the current state."""
        handle = self.client.get_workflow_handle(claim_id)
        try:
            return await self._update_retrying_aborts(handle, update, arg)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type in Rejection.__members__.values():
                raise ClaimError(
                    Rejection(cause.type), cause.message, await self.get_claim(claim_id)
                ) from exc
            raise
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            # No such workflow, or it has closed: the read model tells which.
            claim = await read_model.get_claim(self.pool, claim_id)
            what = f"task {task_id}" if task_id else f"claim {claim_id}"
            if claim is None:
                raise ClaimError(Rejection.NOT_FOUND, f"no {what}") from exc
            if task_id and await read_model.get_task(self.pool, task_id) is None:
                raise ClaimError(Rejection.TASK_NOT_FOUND, f"no {what}", claim) from exc
            # A claim whose workflow was terminated or failed says so (claimflow.health).
            message = await workflow_health.closed_claim_message(self.pool, claim_id)
            raise ClaimError(Rejection.CLAIM_CLOSED, message, claim) from exc


    @staticmethod
    async def _update_retrying_aborts(handle: Any, update: Any, arg: Any) -> ClaimStep:
        """Temporal aborts the Updates it holds for a workflow when it reloads the workflow's
        state (many actions on one claim at once do that): UNAVAILABLE, "workflow update was
        aborted". Sent again under the same Update id it is applied once (Temporal
        deduplicates by id); after a few tries the 503 says retry."""
        update_id = str(uuid.uuid4())
        for attempt in range(UPDATE_ABORT_RETRIES + 1):
            try:
                return await handle.execute_update(update, arg, id=update_id)
            except RPCError as exc:
                aborted = exc.status is RPCStatusCode.UNAVAILABLE and "aborted" in exc.message
                if not aborted or attempt == UPDATE_ABORT_RETRIES:
                    raise
                await asyncio.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover


UPDATE_ABORT_RETRIES = 3


def _is_closed_workflow(exc: BaseException) -> bool:
    """Update-with-start on a closed claim's id: the start is refused (ids are never reused)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, WorkflowAlreadyStartedError):
            return True
        if isinstance(seen, RPCError) and seen.status in (
            RPCStatusCode.ALREADY_EXISTS,
            RPCStatusCode.NOT_FOUND,
        ):
            return True
        seen = seen.__cause__
    return False
