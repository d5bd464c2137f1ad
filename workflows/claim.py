"""The claim workflow: one durable workflow per claim, read like the brief's lifecycle.

discovery -> online triage -> (offline dispatch) -> document gathering <-> verification ->
filing -> pre-decision explanation -> insurer review (<-> supplemental documents) ->
payout explanation (-> dispute) -> closed. The user may withdraw at any point.

Every human step is a task: the workflow opens it, projects it to the read model, and waits
until a person completes it through the `complete_task` Update. Validators reject what does
not fit before it reaches history; handlers answer with where the claim stands (a
`ClaimStep`) once the workflow has moved on to its next wait.

A claim may live for months and receive thousands of actions; its history stays small:
projections carry only what changed, answers only the step, and when a run's history
reaches its budget the claim continues as new, at the stage it reached, with its open
tasks and clocks (`ClaimCarry`). Each stage below says which stage comes next, so a new run
starts again where the last one stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.dispatch import AgentQuery, DispatchActivities
    from activities.read_model import ReadModelActivities
    from activities.summary import compile_case_summary
    from domain.checklist import DOCUMENTS, ChecklistItem, ChecklistItemStatus, checklist_for
    from domain.models import (
        ChangeTask,
        ClaimCarry,
        ClaimStart,
        ClaimStep,
        ClaimView,
        ClockPause,
        ClockResume,
        CompleteTask,
        NoteInput,
        ReassignTask,
        Task,
        Withdrawal,
        payout_terms,
    )
    from domain.outcomes import (
        ChecklistProgress,
        ChecklistUpdate,
        ClaimFiled,
        DispatchAnswer,
        DisputeResolved,
        DocumentsSubmitted,
        DocumentsVerified,
        ExpectationsExplained,
        FieldAgentAssigned,
        FilingConfirmed,
        HospitalTrip,
        InsurerResponse,
        OutcomeExplained,
        TriageDecision,
    )
    from domain.payout import compute_payout, explain, explain_award
    from domain.rules import completion_problem, document_codes, trips_problem, unknown_documents
    from domain.vocabulary import (
        ClaimStage,
        ClaimStatus,
        Closure,
        DisputeResolution,
        InsurerDecision,
        Liability,
        Role,
        ServicePath,
        TaskKind,
        TaskStatus,
    )
    from workflows import search_attributes as sa
    from workflows.clocks import Clock
    from workflows.errors import Rejection
    from workflows.ledger import SYSTEM, Ledger
    from workflows.tasks import TaskBook

# Writing the read model must outlast a PostgreSQL outage: retry for as long as it takes.
OUTSIDE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
# Every activity is a short database write or read: a worker that dies in the middle of one
# holds the claim back only this long before another worker retries it.
ACTIVITY_TIMEOUT = timedelta(seconds=10)

# Versions of this workflow's code (workflow.patched): histories recorded before a change
# replay on the path they took.
SUMMARY_BESIDE_PICK = "summary-beside-agent-pick"
"""2026-12-03: at an offline triage, the case summary and the first agent pick run together."""

# The claim shows its latest insurer answers and hospital trips; the timeline has them all.
KEEP_IN_VIEW = 10

O = TypeVar("O")


@workflow.defn(name="Claim")
class ClaimWorkflow:
    @workflow.init
    def __init__(self, start: ClaimStart) -> None:
        carried = start.carried
        self._policy = start.policy
        if carried is None:
            now = workflow.now()
            self._view = ClaimView(
                claim_id=start.claim_id,
                stage=ClaimStage.DISCOVERY,
                status=ClaimStatus.OPEN,
                opening=start.opening,
                created_at=now,
                updated_at=now,
            )
        else:
            self._view = carried.view
        self._ledger = Ledger(start.claim_id, carried.timeline_seq if carried else 0)
        self._tasks = TaskBook(
            start.claim_id,
            self._ledger,
            carried.task_seq if carried else 0,
            carried.open_tasks if carried else [],
        )
        self._clock = Clock(
            self._policy,
            self._view,
            self._tasks,
            self._ledger,
            project=self._project,
            retry=OUTSIDE_RETRY,
            activity_timeout=ACTIVITY_TIMEOUT,
            carried=carried,
        )
        self._insurer_inbox: list[InsurerResponse] = list(carried.insurer_inbox) if carried else []
        self._pending_documents: list[str] = list(carried.pending_documents) if carried else []
        self._sent_back: list[dict[str, Any]] = list(carried.sent_back) if carried else []
        self._dispute_note = carried.dispute_note if carried else ""
        self._runs = carried.runs + 1 if carried else 1
        self._withdrawal: Withdrawal | None = None
        self._first_pick: tuple[str | None] | None = None
        """The agent picked beside the summary at triage, for dispatch's first turn."""
        # Handlers answer once the workflow has digested what they changed.
        self._changes = 0
        self._settled = -1  # -1 until the workflow first waits for a person
        self._search_attributes: tuple[Any, ...] | None = None

    # --- the lifecycle ------------------------------------------------------------------

    @workflow.run
    async def run(self, start: ClaimStart) -> ClaimStep:
        if start.carried is None:
            opening = start.opening
            self._record(opening.opened_by, "claim_opened", {"source": opening.source.value})
        else:
            self._record(SYSTEM, "run_continued", {"run": self._runs})
        await self._project()
        clock = asyncio.create_task(self._clock.run())

        lifecycle = asyncio.create_task(self._lifecycle())
        await workflow.wait_condition(lambda: lifecycle.done() or self._withdrawal is not None)
        if not lifecycle.done():
            lifecycle.cancel()
            try:
                await lifecycle
            except asyncio.CancelledError:
                pass
            assert self._withdrawal is not None
            await self._close(
                Closure.WITHDRAWN, self._withdrawal.reason, actor=self._withdrawal.recorded_by
            )
        else:
            lifecycle.result()  # continues as new from here when the run's budget is spent
        clock.cancel()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._step()  # the whole closed claim is in the read model and the query

    async def _lifecycle(self) -> None:
        stages: dict[ClaimStage, Callable[[], Awaitable[ClaimStage]]] = {
            ClaimStage.TRIAGE: self._triage,
            ClaimStage.DISPATCH: self._dispatch,
            ClaimStage.DOCUMENT_GATHERING: self._gather,
            ClaimStage.VERIFICATION: self._verify,
            ClaimStage.FILING: self._filing,
            ClaimStage.PRE_DECISION_EXPLANATION: self._explain_expectations,
            ClaimStage.INSURER_REVIEW: self._insurer_review,
            ClaimStage.PAYOUT_EXPLANATION: self._explain_outcome,
            ClaimStage.DISPUTE: self._dispute,
        }
        stage = self._view.stage
        if stage is ClaimStage.DISCOVERY:
            stage = ClaimStage.TRIAGE
        while stage is not ClaimStage.CLOSED:
            self._enter(stage)
            stage = await stages[stage]()

    async def _triage(self) -> ClaimStage:
        """Online triage by the consultant, repeated while more information is needed."""
        while True:
            decision = await self._person(
                TaskKind.TRIAGE, Role.CONSULTANT, self._view.opening.consultant, TriageDecision
            )
            self._view.triage = decision
            if decision.liability is not Liability.NEED_MORE_INFORMATION:
                break
        if decision.liability is Liability.NOT_COVERED:
            return await self._close(Closure.NOT_COVERED, decision.explanation)
        if decision.path is ServicePath.OFFLINE and workflow.patched(SUMMARY_BESIDE_PICK):
            # Independent of each other: both local activities in one turn of the workflow.
            _, agent = await asyncio.gather(self._summarise(), self._pick_agent())
            self._first_pick = (agent,)
        else:
            await self._summarise()
        self._view.checklist = checklist_for(self._view.opening.incident.claim_type)
        self._pending_documents = [i.code for i in self._view.checklist]
        self._sent_back = []
        if decision.path is ServicePath.OFFLINE:
            return ClaimStage.DISPATCH
        return ClaimStage.DOCUMENT_GATHERING

    async def _pick_agent(self) -> str | None:
        """An available field agent in the user's city who has not declined this claim."""
        return await workflow.execute_local_activity_method(
            DispatchActivities.pick_field_agent,
            AgentQuery(city=self._view.opening.policyholder.city, exclude=self._view.declined_by),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=OUTSIDE_RETRY,
        )

    async def _summarise(self) -> None:
        """The intelligent information summary, compiled once triage has judged the case."""
        self._view.summary = await workflow.execute_local_activity(
            compile_case_summary,
            self._view,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=OUTSIDE_RETRY,
        )
        self._record(SYSTEM, "summary_compiled", {})

    async def _dispatch(self) -> ClaimStage:
        """Offline dispatch: an agent in the user's city accepts and schedules the visit."""
        city = self._view.opening.policyholder.city
        while True:
            visit = self._tasks.current(TaskKind.ACCEPT_DISPATCH)
            if visit is not None:  # a run continued as new, waiting for the agent
                agent = visit.assignee
            else:
                agent = None
                if self._first_pick is not None:
                    (agent,), self._first_pick = self._first_pick, None
                elif self._tasks.current(TaskKind.ASSIGN_FIELD_AGENT) is None:
                    agent = await self._pick_agent()
                if agent is None:
                    # Nobody available: a manager names the agent.
                    assigned = await self._person(
                        TaskKind.ASSIGN_FIELD_AGENT,
                        Role.MANAGER,
                        None,
                        FieldAgentAssigned,
                        data={"city": city, "declined_by": self._view.declined_by},
                    )
                    agent = assigned.agent_id
            task, answer = await self._person_task(
                TaskKind.ACCEPT_DISPATCH,
                Role.FIELD_AGENT,
                agent,
                DispatchAnswer,
                data={"summary": self._view.summary, "city": city},
            )
            # A manager may have moved the visit to another agent: he answered.
            agent = task.assignee or task.completed_by or agent
            assert agent is not None
            if answer.accepted:
                self._view.field_agent = agent
                self._view.visit_at = answer.visit_at
                self._record(agent, "dispatch_accepted", {"visit_at": str(answer.visit_at)})
                return ClaimStage.DOCUMENT_GATHERING
            self._view.declined_by.append(agent)
            self._record(agent, "dispatch_declined", {"reason": answer.decline_reason})

    async def _gather(self) -> ClaimStage:
        """Document gathering: what is pending (after a send-back, all of it at once)."""
        role, gatherer = self._gatherer()
        submitted = await self._person(
            TaskKind.GATHER_DOCUMENTS,
            role,
            gatherer,
            DocumentsSubmitted,
            data={"items": self._pending_documents, "sent_back": self._sent_back},
        )
        self._apply_progress(submitted.items, submitted.hospital_trips, gatherer or SYSTEM)
        return ClaimStage.VERIFICATION

    async def _verify(self) -> ClaimStage:
        """The consultant verifies; what is missing goes back to the gatherer all at once."""
        verified = await self._person(
            TaskKind.VERIFY_DOCUMENTS,
            Role.CONSULTANT,
            self._view.opening.consultant,
            DocumentsVerified,
            data={"items": self._pending_documents},
        )
        if verified.complete:
            # Supplemental documents go back to the insurer; the first set, to filing.
            return ClaimStage.INSURER_REVIEW if self._view.filing else ClaimStage.FILING
        self._apply_progress(verified.sent_back, [], self._view.opening.consultant)
        self._pending_documents = [u.code for u in verified.sent_back]
        self._sent_back = [u.model_dump(mode="json") for u in verified.sent_back]
        return ClaimStage.DOCUMENT_GATHERING

    async def _filing(self) -> ClaimStage:
        """The consultant files on the user's behalf only after the user confirms."""
        if not self._view.user_confirmed_filing:
            role, who = self._explainer()
            confirmed = await self._person(
                TaskKind.CONFIRM_FILING,
                role,
                who,
                FilingConfirmed,
                data={"summary": self._view.summary},
            )
            self._view.user_confirmed_filing = confirmed.confirmed
            if not confirmed.confirmed:
                return await self._close(Closure.WITHDRAWN, "the user declined to file the claim")
        filed = await self._person(
            TaskKind.FILE_CLAIM, Role.CONSULTANT, self._view.opening.consultant, ClaimFiled
        )
        self._view.filing = filed
        payout = self._view.payout
        expected = compute_payout(self._payout_terms(), filed.expenses)
        payout.expected = expected
        payout.explanation_zh = explain(expected, self._payout_terms(), language="zh")
        payout.explanation_en = explain(expected, self._payout_terms(), language="en")
        self._record(
            SYSTEM,
            "expected_payout_computed",
            {"expected": str(expected.payout), "reference": filed.insurer_claim_reference},
        )
        self._clock.start_statutory("decision", self._policy.statutory.decision_within)
        return ClaimStage.PRE_DECISION_EXPLANATION

    async def _explain_expectations(self) -> ClaimStage:
        """While waiting, the user learns what to expect: ratio, deductible, the estimate."""
        role, who = self._explainer()
        await self._person(
            TaskKind.EXPLAIN_EXPECTATIONS,
            role,
            who,
            ExpectationsExplained,
            data={
                "explanation_zh": self._view.payout.explanation_zh,
                "explanation_en": self._view.payout.explanation_en,
            },
        )
        return ClaimStage.INSURER_REVIEW

    async def _insurer_review(self) -> ClaimStage:
        """Investigation and review, until the insurer decides. Its answers come from a
        consultant reading the insurer's portal, or from the insurer's API (a Signal)."""
        reference = self._view.filing.insurer_claim_reference if self._view.filing else None
        task = self._tasks.current(TaskKind.RECORD_INSURER_RESPONSE) or self._open_task(
            TaskKind.RECORD_INSURER_RESPONSE,
            Role.CONSULTANT,
            self._view.opening.consultant,
            data={"insurer_claim_reference": reference},
        )
        await self._project()
        await self._wait_for_people(
            lambda: task.status is not TaskStatus.OPEN or bool(self._insurer_inbox)
        )
        if task.status is TaskStatus.OPEN:
            response = self._insurer_inbox.pop(0)
            self._tasks.cancel(task, "answered by the insurer's API")
        else:
            response = self._tasks.take_outcome(task, InsurerResponse)
        self._keep(self._view.insurer_responses, response)
        self._record(
            SYSTEM, "insurer_responded", response.model_dump(mode="json", exclude={"kind"})
        )
        if response.decision is InsurerDecision.SUPPLEMENTAL_DOCUMENTS_REQUESTED:
            self._request_supplements(response.requested_documents)
            return ClaimStage.DOCUMENT_GATHERING
        if not response.decided:
            return ClaimStage.INSURER_REVIEW
        self._clock.statutory_clock_met("decision")
        if response.amount is not None:
            self._award(response.amount)
        return ClaimStage.PAYOUT_EXPLANATION

    async def _explain_outcome(self) -> ClaimStage:
        """Payout and explanation; a contested outcome opens dispute handling."""
        response = self._view.insurer_responses[-1]
        role, who = self._explainer()
        explained = await self._person(
            TaskKind.EXPLAIN_OUTCOME,
            role,
            who,
            OutcomeExplained,
            data={
                "decision": response.decision.value,
                "claim_report": response.claim_report,
                "reason": response.reason,
                "explanation_zh": self._view.payout.explanation_zh,
                "explanation_en": self._view.payout.explanation_en,
            },
        )
        if not explained.user_accepts:
            self._dispute_note = explained.note
            return ClaimStage.DISPUTE
        return await self._close_explained()

    async def _dispute(self) -> ClaimStage:
        response = self._view.insurer_responses[-1]
        dispute = await self._person(
            TaskKind.RESOLVE_DISPUTE,
            Role.CONSULTANT,
            self._view.opening.consultant,
            DisputeResolved,
            data={"decision": response.decision.value, "note": self._dispute_note},
        )
        self._view.dispute = dispute
        if dispute.resolution is DisputeResolution.REVISED:
            assert dispute.revised_amount is not None
            self._award(dispute.revised_amount)
        return await self._close_explained()

    async def _close_explained(self) -> ClaimStage:
        response = self._view.insurer_responses[-1]
        paid = bool(self._view.payout.awarded)
        return await self._close(
            Closure.PAID_AND_EXPLAINED if paid else Closure.DENIED_AND_EXPLAINED,
            response.claim_report or response.reason or "",
        )

    def _payout_terms(self) -> Any:
        o = self._view.opening
        return payout_terms(o.policy, o.policyholder)

    def _award(self, amount: Any) -> None:
        payout = self._view.payout
        old = payout.awarded
        if old is None:
            self._clock.start_statutory("payment", self._policy.statutory.payment_within)
        payout.awarded = amount
        if payout.expected is not None:
            payout.reconciliation, payout.explanation_zh, payout.explanation_en = explain_award(
                payout.expected, self._payout_terms(), amount
            )
        self._record(SYSTEM, "payout_awarded", {"old": str(old) if old else None, "new": str(amount)})

    async def _close(self, closure: Closure, explanation: str, actor: str = SYSTEM) -> ClaimStage:
        for task in self._tasks.open:
            self._tasks.cancel(task, f"claim closed: {closure.value}")
        self._view.status = ClaimStatus.CLOSED
        self._view.closure = closure
        self._view.closed_at = workflow.now()
        self._enter(ClaimStage.CLOSED)
        self._record(actor, "claim_closed", {"closure": closure.value, "explanation": explanation})
        await self._project()
        self._settled = self._changes
        return ClaimStage.CLOSED

    # --- who does what ------------------------------------------------------------------

    def _gatherer(self) -> tuple[Role, str | None]:
        if self._view.field_agent is not None:
            return Role.FIELD_AGENT, self._view.field_agent
        return Role.CONSULTANT, self._view.opening.consultant

    def _explainer(self) -> tuple[Role, str | None]:
        """The agent explains on the offline path; the consultant on the online path."""
        return self._gatherer()

    # --- waiting for people -------------------------------------------------------------

    async def _person(
        self,
        kind: TaskKind,
        role: Role,
        assignee: str | None,
        outcome: type[O],
        data: dict[str, Any] | None = None,
    ) -> O:
        """Open a task, project it, and wait for a person to complete it: the outcome."""
        _, result = await self._person_task(kind, role, assignee, outcome, data)
        return result

    async def _person_task(
        self,
        kind: TaskKind,
        role: Role,
        assignee: str | None,
        outcome: type[O],
        data: dict[str, Any] | None = None,
    ) -> tuple[Task, O]:
        """The task as completed (its assignee may have changed while it was open) and its
        outcome. A run continued as new takes up the task its predecessor left open."""
        task = self._tasks.current(kind) or self._open_task(kind, role, assignee, data)
        await self._project()
        await self._wait_for_people(lambda: task.status is not TaskStatus.OPEN)
        if task.status is not TaskStatus.COMPLETED:  # cancelled: only a closing claim does that
            raise asyncio.CancelledError()
        return task, self._tasks.take_outcome(task, outcome)

    def _open_task(
        self, kind: TaskKind, role: Role, assignee: str | None, data: dict[str, Any] | None = None
    ) -> Task:
        task = self._tasks.issue(
            kind, role, assignee, self._clock.due_at(kind, workflow.now()), data
        )
        self._clock.changed()
        return task

    async def _wait_for_people(self, done: Callable[[], bool]) -> None:
        """Wait until `done`; the claim continues as new here when its run is full."""
        while True:
            # The workflow has reached a wait: every change so far is digested.
            self._settled = self._changes
            await workflow.wait_condition(lambda: done() or self._run_is_full())
            if done():
                return
            await self._continue_as_new(done)

    def _run_is_full(self) -> bool:
        info = workflow.info()
        budget = self._policy.history
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= budget.events
            or info.get_current_history_size() >= budget.bytes
        )

    async def _continue_as_new(self, done: Callable[[], bool]) -> None:
        """Hand the claim to a new run once nothing is half done: no handler running, no
        nudge being sent, everything written to the read model. Returns if `done` came
        true meanwhile (the step goes on in this run)."""

        def quiet() -> bool:
            return workflow.all_handlers_finished() and not self._clock.busy

        while True:
            await workflow.wait_condition(lambda: done() or quiet())
            if done():
                return
            await self._project()
            if done():
                return
            if quiet() and not self._ledger.pending:
                break
        workflow.logger.info("claim continues as new", extra={"claim_id": self._view.claim_id})
        workflow.continue_as_new(
            ClaimStart(
                claim_id=self._view.claim_id,
                opening=self._view.opening,
                policy=self._policy,
                carried=ClaimCarry(
                    view=self._view,
                    task_seq=self._tasks.seq,
                    timeline_seq=self._ledger.seq,
                    open_tasks=self._tasks.open,
                    insurer_inbox=self._insurer_inbox,
                    pending_documents=self._pending_documents,
                    sent_back=self._sent_back,
                    dispute_note=self._dispute_note,
                    progress_at=self._clock.progress_at,
                    stall_alerts=self._clock.stall_alerts,
                    statutory_met=sorted(self._clock.statutory_met),
                    statutory_followed_up=sorted(self._clock.followed_up),
                    runs=self._runs,
                ),
            )
        )

    def _as_seen(self) -> ClaimView:
        """The claim with its open tasks: the book holds them, the view does not repeat them."""
        return self._view.model_copy(update={"tasks": self._tasks.open})

    # --- checklist ----------------------------------------------------------------------

    def _item(self, code: str) -> ChecklistItem | None:
        return next((i for i in self._view.checklist if i.code == code), None)

    def _apply_progress(
        self, updates: list[ChecklistUpdate], trips: list[HospitalTrip], actor: str
    ) -> None:
        for u in updates:
            item = self._item(u.code)
            assert item is not None  # validated
            old = (item.status.value, item.rejection_reason)
            item.status, item.rejection_reason = u.status, u.rejection_reason
            if u.note is not None:
                item.note = u.note
            if old != (u.status.value, u.rejection_reason):
                self._record(
                    actor,
                    "document_updated",
                    {
                        "code": u.code,
                        "old": {"status": old[0], "reason": old[1]},
                        "new": {"status": u.status.value, "reason": u.rejection_reason},
                    },
                )
        for trip in trips:
            self._keep(self._view.hospital_trips, trip)
            self._record(actor, "hospital_trip", trip.model_dump(mode="json"))

    def _request_supplements(self, codes: list[str]) -> None:
        """The insurer asks for documents again: those items go back to missing."""
        for code in codes:
            item = self._item(code)
            if item is None:
                spec = DOCUMENTS[code]
                item = ChecklistItem(
                    code=spec.code,
                    title_en=spec.title_en,
                    title_zh=spec.title_zh,
                    hospital_document=spec.hospital_document,
                )
                self._view.checklist.append(item)
            item.status, item.rejection_reason = ChecklistItemStatus.MISSING, None
        self._pending_documents = list(codes)
        self._sent_back = []
        self._record(SYSTEM, "supplemental_documents_requested", {"codes": codes})

    @staticmethod
    def _keep(latest: list[Any], item: Any) -> None:
        latest.append(item)
        del latest[:-KEEP_IN_VIEW]

    # --- messages from people and insurers ----------------------------------------------

    @workflow.update
    async def opened(self) -> ClaimStep:
        """Sent with the start (update-with-start): answers once the claim is projected and
        its first task is open, and answers a duplicate opening with the claim as it is."""
        await workflow.wait_condition(lambda: self._settled >= self._changes)
        return self._step()

    @workflow.update
    async def complete_task(self, completion: CompleteTask) -> ClaimStep:
        task = self._tasks.get(completion.task_id)
        # Two updates validated in one activation can both pass the validator: re-check.
        if task is None or task.status is not TaskStatus.OPEN:
            raise ApplicationError("task is no longer open", type=Rejection.TASK_NOT_OPEN)
        side_task = task.kind is TaskKind.FOLLOW_UP_INSURER  # nobody in the lifecycle waits
        self._tasks.complete(task, completion.completed_by, completion.outcome, awaited=not side_task)
        if side_task:
            await self._project()
            return self._step()
        self._clock.mark_progress()
        return await self._settle()

    @complete_task.validator
    def _validate_completion(self, completion: CompleteTask) -> None:
        task = self._open_task_or_reject(completion.task_id)
        outcome = completion.outcome
        if outcome.kind != task.kind:
            raise ApplicationError(
                f"task {task.task_id} is a {task.kind.value} task, not {outcome.kind.value}",
                type=Rejection.OUTCOME_MISMATCH,
            )
        problem = completion_problem(self._view, self._policy, task, outcome)
        if problem:
            raise ApplicationError(problem, type=Rejection.NOT_ALLOWED)

    @workflow.update
    async def record_progress(self, progress: ChecklistProgress) -> ClaimStep:
        """The agent ticks off documents as he goes, before submitting the set."""
        self._apply_progress(progress.items, progress.hospital_trips, progress.recorded_by)
        await self._project()
        return self._step()

    @record_progress.validator
    def _validate_progress(self, progress: ChecklistProgress) -> None:
        self._reject_if_closed()
        if self._view.stage is not ClaimStage.DOCUMENT_GATHERING:
            raise ApplicationError(
                f"documents are recorded while gathering, not in {self._view.stage.value}",
                type=Rejection.NOT_ALLOWED,
            )
        unknown = unknown_documents(
            document_codes(progress.items, progress.hospital_trips), self._view.checklist
        )
        if unknown:
            raise ApplicationError(
                f"not on this claim's checklist: {', '.join(unknown)}", type=Rejection.NOT_ALLOWED
            )
        if problem := trips_problem(self._view, progress.hospital_trips):
            raise ApplicationError(problem, type=Rejection.NOT_ALLOWED)

    @workflow.update
    async def reassign_task(self, change: ReassignTask) -> ClaimStep:
        task = self._tasks.get(change.task_id)
        assert task is not None
        old = task.assignee
        task.assignee = change.assignee
        self._ledger.touch(task)
        self._record(
            change.reassigned_by,
            "task_reassigned",
            {"task_id": task.task_id, "old": old, "new": change.assignee, "reason": change.reason},
        )
        await self._project()
        return self._step()

    @reassign_task.validator
    def _validate_reassign(self, change: ReassignTask) -> None:
        task = self._open_task_or_reject(change.task_id)
        if task.assignee == change.assignee:
            raise ApplicationError(
                f"task {task.task_id} is assigned to {change.assignee} already",
                type=Rejection.DUPLICATE,
            )

    @workflow.update
    async def add_note(self, note: NoteInput) -> ClaimStep:
        """A note is a timeline entry: the read model keeps every one, the claim none."""
        self._record(note.author, "note_added", {"text": note.text})
        await self._project()
        return self._step()

    @add_note.validator
    def _validate_note(self, note: NoteInput) -> None:
        self._reject_if_closed()

    @workflow.update
    async def withdraw(self, withdrawal: Withdrawal) -> ClaimStep:
        """The user withdraws: every open task is cancelled and the claim closes."""
        self._withdrawal = withdrawal
        return await self._settle()

    @withdraw.validator
    def _validate_withdraw(self, withdrawal: Withdrawal) -> None:
        self._reject_if_closed()
        if self._withdrawal is not None:
            raise ApplicationError("the claim is being withdrawn", type=Rejection.CLAIM_CLOSED)

    @workflow.signal
    def insurer_responded(self, response: InsurerResponse) -> None:
        """From the insurer's API (webhook). Queued and taken at the next review step.

        A signal cannot be refused, so what the API should have refused is recorded and
        dropped here rather than allowed to fail the workflow."""
        if self._view.status is ClaimStatus.CLOSED:
            return
        unknown = unknown_documents(response.requested_documents)
        if unknown:
            self._record("insurer", "insurer_message_dropped", {"unknown_documents": unknown})
            return
        self._insurer_inbox.append(response)
        self._record("insurer", "insurer_message_received", {"decision": response.decision.value})

    @workflow.update
    async def change_task(self, change: ChangeTask) -> ClaimStep:
        """A manager moves a task's due time or priority."""
        task = self._tasks.get(change.task_id)
        assert task is not None
        details: dict[str, Any] = {"task_id": task.task_id, "reason": change.reason}
        if change.due_at is not None and change.due_at != task.due_at:
            details["due_at"] = {"old": str(task.due_at), "new": str(change.due_at)}
            self._clock.move_deadline(task, change.due_at)
        if change.priority is not None and change.priority is not task.priority:
            details["priority"] = {"old": task.priority.value, "new": change.priority.value}
            task.priority = change.priority
            self._ledger.touch(task)
        self._record(change.changed_by, "task_changed", details)
        await self._project()
        return self._step()

    @change_task.validator
    def _validate_change(self, change: ChangeTask) -> None:
        task = self._open_task_or_reject(change.task_id)
        if (change.due_at is None or change.due_at == task.due_at) and (
            change.priority is None or change.priority is task.priority
        ):
            raise ApplicationError("nothing to change", type=Rejection.DUPLICATE)

    @workflow.update
    async def pause_clock(self, pause: ClockPause) -> ClaimStep:
        self._clock.pause(pause.paused_by, pause.reason)
        await self._project()
        return self._step()

    @pause_clock.validator
    def _validate_pause(self, pause: ClockPause) -> None:
        self._reject_if_closed()
        if self._view.paused_since is not None:
            raise ApplicationError("the clock is paused already", type=Rejection.DUPLICATE)

    @workflow.update
    async def resume_clock(self, resume: ClockResume) -> ClaimStep:
        self._clock.resume(resume.resumed_by)
        await self._project()
        return self._step()

    @resume_clock.validator
    def _validate_resume(self, resume: ClockResume) -> None:
        self._reject_if_closed()
        if self._view.paused_since is None:
            raise ApplicationError("the clock is not paused", type=Rejection.DUPLICATE)

    @workflow.query
    def state(self) -> ClaimView:
        return self._as_seen()

    @workflow.query
    def all_tasks(self) -> list[Task]:
        """The claim's open tasks (closed ones are in the read model, and not kept here)."""
        return self._tasks.open

    @workflow.update
    async def resync(self) -> ClaimStep:
        """Write the claim and its open tasks to the read model again (`claimflow reconcile`)."""
        for task in self._tasks.open:
            self._ledger.touch(task)
        self._ledger.forget_written()
        await self._project()
        return self._step()

    async def _settle(self) -> ClaimStep:
        self._changes += 1
        mine = self._changes
        await workflow.wait_condition(lambda: self._settled >= mine)
        return self._step()

    def _step(self) -> ClaimStep:
        return ClaimStep.of(self._as_seen())

    def _reject_if_closed(self) -> None:
        if self._view.status is ClaimStatus.CLOSED:
            raise ApplicationError("the claim is closed", type=Rejection.CLAIM_CLOSED)

    def _open_task_or_reject(self, task_id: str) -> Task:
        self._reject_if_closed()
        task = self._tasks.get(task_id)
        if task is not None:
            return task
        status = self._tasks.closed_status(task_id)
        if status is None:
            raise ApplicationError(f"no task {task_id} on this claim", type=Rejection.TASK_NOT_FOUND)
        raise ApplicationError(
            f"task {task_id} is {status.value} already", type=Rejection.TASK_NOT_OPEN
        )

    # --- timeline and read model --------------------------------------------------------

    def _enter(self, stage: ClaimStage) -> None:
        old = self._view.stage
        if old is stage:
            return
        self._clock.mark_progress()
        self._view.stage = stage
        self._record(SYSTEM, "stage_changed", {"old": old.value, "new": stage.value})

    def _record(self, actor: str, action: str, details: dict[str, Any]) -> None:
        self._ledger.record(actor, action, details)
        self._view.updated_at = workflow.now()

    def _upsert_search_attributes(self) -> None:
        """Stage, city, assignees and overdue, for `temporal workflow list` and the UI;
        upserted only when one of them changed."""
        if not self._policy.search_attributes:
            return
        now = workflow.now()
        open_tasks = self._tasks.open
        values = (
            self._view.stage.value,
            self._view.opening.policyholder.city,
            sorted({t.assignee for t in open_tasks if t.assignee}),
            any(t.due_at is not None and t.due_at <= now for t in open_tasks),
        )
        if values == self._search_attributes:
            return
        self._search_attributes = values
        workflow.upsert_search_attributes(
            [
                sa.CLAIM_STAGE.value_set(values[0]),
                sa.CLAIM_CITY.value_set(values[1]),
                sa.CLAIM_ASSIGNEES.value_set(values[2]),
                sa.CLAIM_OVERDUE.value_set(values[3]),
            ]
        )

    async def _project(self) -> None:
        """Write what changed to the read model: a local activity (a short, idempotent
        write), one projection at a time so that they land in order."""
        async with self._ledger.lock:
            self._view.version = self._ledger.seq
            changes, receipt = self._ledger.changes(self._view)
            if not (
                changes.full
                or changes.timeline
                or changes.tasks
                or changes.snapshot
                or changes.columns
            ):
                return
            self._upsert_search_attributes()
            await workflow.execute_local_activity_method(
                ReadModelActivities.project_changes,
                changes,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=OUTSIDE_RETRY,
            )
            self._ledger.written(receipt)
