"""The claim case workflow before continue-as-new (frozen, see workflows/legacy/__init__.py).

The original docstring follows.

discovery -> online triage -> (offline dispatch) -> document gathering <-> verification ->
filing -> pre-decision explanation -> insurer review (<-> supplemental documents) ->
payout explanation (-> dispute) -> closed. The user may withdraw at any point.

Every human step is a task: the workflow opens it, projects it to the read model, and waits
until a person completes it through the `complete_task` Update. Validators reject what does not
fit before it reaches history; handlers answer with the claim's state once the workflow has
moved on to its next wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.dispatch import AgentQuery, DispatchActivities
    from activities.read_model import ReadModelActivities
    from activities.summary import compile_case_summary
    from domain.checklist import DOCUMENTS, ChecklistItem, ChecklistItemStatus, checklist_for
    from domain.eligibility import offline_eligibility
    from domain.ids import task_id_for
    from domain.models import (
        ClaimProjection,
        ClaimStart,
        ChangeTask,
        ClaimView,
        ClockPause,
        ClockResume,
        CompleteTask,
        Note,
        NoteInput,
        ReassignTask,
        Task,
        TimelineEntry,
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
        InsurerResponse,
        OutcomeExplained,
        TriageDecision,
    )
    from domain.payout import compute_payout, explain, format_yuan, reconcile
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
    from workflows.legacy.clocks import Clocks
    from workflows.errors import Rejection

# Writing the read model must outlast a PostgreSQL outage: retry for as long as it takes.
OUTSIDE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
# Every activity is a short database write or read: a worker that dies in the middle of one
# holds the claim back only this long before another worker retries it.
ACTIVITY_TIMEOUT = timedelta(seconds=10)

SYSTEM = "system"

# Tasks beside the lifecycle: nobody in the lifecycle waits for them.
SIDE_TASKS = frozenset({TaskKind.FOLLOW_UP_INSURER})


@workflow.defn(name="ClaimCase")
class LegacyClaimWorkflow(Clocks):
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
        # Every task by id; the view shows only the open ones, so its size stays flat over a
        # claim's life (every Update answer and projection carries it into history).
        self._tasks: dict[str, Task] = {}
        self._timeline_seq = 0
        self._unprojected: list[TimelineEntry] = []
        self._changed_tasks: dict[str, int] = {}  # task id -> change generation
        self._change_gen = 0
        self._withdrawal: Withdrawal | None = None
        self._insurer_inbox: list[InsurerResponse] = []
        # Handlers answer once the workflow has digested what they changed.
        self._changes = 0
        self._settled = -1  # -1 until the workflow first waits for a person
        # Clocks (see clocks.py). Claims started before the clocks existed run without them.
        self._timers = False
        self._clock_rev = 0
        self._progress = 0
        self._background: list[asyncio.Task[None]] = []
        self._retry = OUTSIDE_RETRY
        self._activity_timeout = ACTIVITY_TIMEOUT
        self._search_attributes: tuple[Any, ...] | None = None

    # --- the lifecycle ------------------------------------------------------------------

    @workflow.run
    async def run(self, start: ClaimStart) -> ClaimView:
        self._timers = workflow.patched("sla-timers")
        opening = start.opening
        self._record(opening.opened_by, "claim_opened", {"source": opening.source.value})
        await self._project()
        if self._timers:
            self._in_background(self._watch_stalls())

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
            lifecycle.result()
        for clock in self._background:
            clock.cancel()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view

    async def _lifecycle(self) -> None:
        decision = await self._triage()
        if decision.liability is Liability.NOT_COVERED:
            await self._close(Closure.NOT_COVERED, decision.explanation)
            return
        await self._summarise()
        self._view.checklist = checklist_for(self._view.opening.incident.claim_type)
        if decision.path is ServicePath.OFFLINE:
            await self._dispatch()
        await self._gather_and_verify([i.code for i in self._view.checklist])
        if not await self._confirm_filing():
            await self._close(Closure.WITHDRAWN, "the user declined to file the claim")
            return
        await self._file()
        await self._explain_expectations()
        response = await self._insurer_review()
        await self._explain_outcome(response)

    async def _triage(self) -> TriageDecision:
        """Online triage by the consultant, repeated while more information is needed."""
        self._enter(ClaimStage.TRIAGE)
        while True:
            result = await self._human(
                TaskKind.TRIAGE, Role.CONSULTANT, self._view.opening.consultant
            )
            decision = TriageDecision.model_validate(result)
            self._view.triage = decision
            if decision.liability is not Liability.NEED_MORE_INFORMATION:
                return decision

    async def _summarise(self) -> None:
        """The intelligent information summary, compiled once triage has judged the case."""
        self._view.summary = await workflow.execute_activity(
            compile_case_summary,
            self._view,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=OUTSIDE_RETRY,
        )
        self._record(SYSTEM, "summary_compiled", {})

    async def _dispatch(self) -> None:
        """Offline dispatch: an agent in the user's city accepts and schedules the visit."""
        self._enter(ClaimStage.DISPATCH)
        city = self._view.opening.policyholder.city
        while True:
            agent = await workflow.execute_activity_method(
                DispatchActivities.pick_field_agent,
                AgentQuery(city=city, exclude=self._view.declined_by),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=OUTSIDE_RETRY,
            )
            if agent is None:
                # Nobody available: a manager names the agent.
                result = await self._human(
                    TaskKind.ASSIGN_FIELD_AGENT,
                    Role.MANAGER,
                    None,
                    data={"city": city, "declined_by": self._view.declined_by},
                )
                agent = FieldAgentAssigned.model_validate(result).agent_id
            task = await self._human_task(
                TaskKind.ACCEPT_DISPATCH,
                Role.FIELD_AGENT,
                agent,
                data={"summary": self._view.summary, "city": city},
            )
            answer = DispatchAnswer.model_validate(task.result)
            # A manager may have moved the visit to another agent: he answered.
            agent = task.assignee or task.completed_by or agent
            if answer.accepted:
                self._view.field_agent = agent
                self._view.visit_at = answer.visit_at
                self._record(agent, "dispatch_accepted", {"visit_at": str(answer.visit_at)})
                return
            self._view.declined_by.append(agent)
            self._record(agent, "dispatch_declined", {"reason": answer.decline_reason})

    async def _gather_and_verify(self, codes: list[str]) -> None:
        """Document gathering and verification until the consultant finds the set complete.

        What is missing goes back to the gatherer all at once, never one item at a time.
        """
        pending = codes
        sent_back: list[dict[str, Any]] = []
        while True:
            self._enter(ClaimStage.DOCUMENT_GATHERING)
            role, gatherer = self._gatherer()
            submitted = DocumentsSubmitted.model_validate(
                await self._human(
                    TaskKind.GATHER_DOCUMENTS,
                    role,
                    gatherer,
                    data={"items": pending, "sent_back": sent_back},
                )
            )
            self._apply_progress(submitted.items, submitted.hospital_trips, gatherer or SYSTEM)

            self._enter(ClaimStage.VERIFICATION)
            verified = DocumentsVerified.model_validate(
                await self._human(
                    TaskKind.VERIFY_DOCUMENTS,
                    Role.CONSULTANT,
                    self._view.opening.consultant,
                    data={"items": pending},
                )
            )
            if verified.complete:
                return
            self._apply_progress(verified.sent_back, [], self._view.opening.consultant)
            pending = [u.code for u in verified.sent_back]
            sent_back = [u.model_dump(mode="json") for u in verified.sent_back]

    async def _confirm_filing(self) -> bool:
        """The consultant files on the user's behalf only after the user confirms."""
        self._enter(ClaimStage.FILING)
        role, who = self._explainer()
        confirmed = FilingConfirmed.model_validate(
            await self._human(TaskKind.CONFIRM_FILING, role, who, data={"summary": self._view.summary})
        )
        self._view.user_confirmed_filing = confirmed.confirmed
        return confirmed.confirmed

    async def _file(self) -> None:
        filed = ClaimFiled.model_validate(
            await self._human(TaskKind.FILE_CLAIM, Role.CONSULTANT, self._view.opening.consultant)
        )
        self._view.filing = filed
        expected = compute_payout(self._payout_terms(), filed.expenses)
        self._view.payout.expected = expected
        self._explain_expected_payout()
        self._record(
            SYSTEM,
            "expected_payout_computed",
            {"expected": str(expected.payout), "reference": filed.insurer_claim_reference},
        )
        self._start_statutory_clock(
            "decision",
            self._policy.statutory.decision_within,
            lambda: any(r.decided for r in self._view.insurer_responses),
        )

    async def _explain_expectations(self) -> None:
        """While waiting, the user learns what to expect: ratio, deductible, the estimate."""
        self._enter(ClaimStage.PRE_DECISION_EXPLANATION)
        role, who = self._explainer()
        ExpectationsExplained.model_validate(
            await self._human(
                TaskKind.EXPLAIN_EXPECTATIONS,
                role,
                who,
                data={
                    "explanation_zh": self._view.payout.explanation_zh,
                    "explanation_en": self._view.payout.explanation_en,
                },
            )
        )

    async def _insurer_review(self) -> InsurerResponse:
        """Investigation and review, until the insurer decides. Its answers come from a
        consultant reading the insurer's portal, or from the insurer's API (a Signal)."""
        while True:
            self._enter(ClaimStage.INSURER_REVIEW)
            reference = self._view.filing.insurer_claim_reference if self._view.filing else None
            task = self._open_task(
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
                self._cancel_task(task, "answered by the insurer's API")
            else:
                assert task.result is not None
                response = InsurerResponse.model_validate(task.result)
            self._view.insurer_responses.append(response)
            self._record(
                SYSTEM, "insurer_responded", response.model_dump(mode="json", exclude={"kind"})
            )
            if response.decision is InsurerDecision.SUPPLEMENTAL_DOCUMENTS_REQUESTED:
                self._request_supplements(response.requested_documents)
                await self._gather_and_verify(response.requested_documents)
            elif response.decided:
                return response

    async def _explain_outcome(self, response: InsurerResponse) -> None:
        """Payout and explanation; a contested outcome opens dispute handling."""
        self._enter(ClaimStage.PAYOUT_EXPLANATION)
        if response.amount is not None:
            self._award(response.amount)
        role, who = self._explainer()
        explained = OutcomeExplained.model_validate(
            await self._human(
                TaskKind.EXPLAIN_OUTCOME,
                role,
                who,
                data={
                    "decision": response.decision.value,
                    "claim_report": response.claim_report,
                    "reason": response.reason,
                    "explanation_zh": self._view.payout.explanation_zh,
                    "explanation_en": self._view.payout.explanation_en,
                },
            )
        )
        if not explained.user_accepts:
            self._enter(ClaimStage.DISPUTE)
            dispute = DisputeResolved.model_validate(
                await self._human(
                    TaskKind.RESOLVE_DISPUTE,
                    Role.CONSULTANT,
                    self._view.opening.consultant,
                    data={"decision": response.decision.value, "note": explained.note},
                )
            )
            self._view.dispute = dispute
            if dispute.resolution is DisputeResolution.REVISED:
                assert dispute.revised_amount is not None
                self._award(dispute.revised_amount)
        paid = bool(self._view.payout.awarded)
        await self._close(
            Closure.PAID_AND_EXPLAINED if paid else Closure.DENIED_AND_EXPLAINED,
            response.claim_report or response.reason or "",
        )

    def _payout_terms(self) -> Any:
        o = self._view.opening
        return payout_terms(o.policy, o.policyholder)

    def _explain_expected_payout(self) -> None:
        payout = self._view.payout
        assert payout.expected is not None
        terms = self._payout_terms()
        payout.explanation_zh = explain(payout.expected, terms, language="zh")
        payout.explanation_en = explain(payout.expected, terms, language="en")

    def _award(self, amount: Any) -> None:
        payout = self._view.payout
        old = payout.awarded
        if old is None:
            self._start_statutory_clock(
                "payment", self._policy.statutory.payment_within, self._closed
            )
        payout.awarded = amount
        if payout.expected is not None:
            self._explain_expected_payout()  # an award explains afresh, never on an old one
            payout.reconciliation = reconcile(payout.expected, amount)
            if not payout.reconciliation.matches:
                diff = format_yuan(abs(payout.reconciliation.difference))
                more = payout.reconciliation.difference > 0
                payout.explanation_en = (
                    f"The insurer awarded {format_yuan(amount)} yuan, {diff} yuan "
                    f"{'more' if more else 'less'} than the terms give:\n" + payout.explanation_en
                )
                payout.explanation_zh = (
                    f"保险公司实际赔付 {format_yuan(amount)} 元，比按条款计算的金额"
                    f"{'多' if more else '少'} {diff} 元：\n" + payout.explanation_zh
                )
        self._record(SYSTEM, "payout_awarded", {"old": str(old) if old else None, "new": str(amount)})

    async def _close(self, closure: Closure, explanation: str, actor: str = SYSTEM) -> None:
        for task in list(self._view.tasks):
            self._cancel_task(task, f"claim closed: {closure.value}")
        self._view.status = ClaimStatus.CLOSED
        self._view.closure = closure
        self._view.closed_at = workflow.now()
        self._enter(ClaimStage.CLOSED)
        self._record(actor, "claim_closed", {"closure": closure.value, "explanation": explanation})
        await self._project()
        self._settled = self._changes

    # --- who does what ------------------------------------------------------------------

    def _offline(self) -> bool:
        return self._view.field_agent is not None

    def _gatherer(self) -> tuple[Role, str | None]:
        if self._offline():
            return Role.FIELD_AGENT, self._view.field_agent
        return Role.CONSULTANT, self._view.opening.consultant

    def _explainer(self) -> tuple[Role, str | None]:
        """The agent explains on the offline path; the consultant on the online path."""
        return self._gatherer()

    # --- tasks --------------------------------------------------------------------------

    async def _human(
        self, kind: TaskKind, role: Role, assignee: str | None, data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Open a task, project it, and wait for a person to complete it: the outcome."""
        task = await self._human_task(kind, role, assignee, data)
        assert task.result is not None
        return task.result

    async def _human_task(
        self, kind: TaskKind, role: Role, assignee: str | None, data: dict[str, Any] | None = None
    ) -> Task:
        """The task as completed: its assignee may have changed while it was open."""
        task = self._open_task(kind, role, assignee, data=data)
        await self._project()
        await self._wait_for_people(lambda: task.status is not TaskStatus.OPEN)
        if task.result is None:  # cancelled under us: only a closing claim does that
            raise asyncio.CancelledError()
        return task

    def _open_task(
        self, kind: TaskKind, role: Role, assignee: str | None, data: dict[str, Any] | None = None
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
            due_at=self._due_at(kind, now),
            data=data or {},
        )
        self._tasks[task.task_id] = task
        self._view.tasks.append(task)
        self._touch(task)
        self._watch_task(task)
        self._record(
            SYSTEM,
            "task_opened",
            {"task_id": task.task_id, "kind": kind.value, "role": role.value, "assignee": assignee},
        )
        return task

    def _cancel_task(self, task: Task, reason: str) -> None:
        task.status = TaskStatus.CANCELLED
        task.completed_at = workflow.now()
        self._view.tasks.remove(task)
        self._touch(task)
        self._record(SYSTEM, "task_cancelled", {"task_id": task.task_id, "reason": reason})

    async def _wait_for_people(self, done: Callable[[], bool]) -> None:
        # The workflow has reached a wait: every change so far is digested.
        self._settled = self._changes
        await workflow.wait_condition(done)

    def _find_task(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def _touch(self, task: Task) -> None:
        self._change_gen += 1
        self._changed_tasks[task.task_id] = self._change_gen

    # --- checklist ----------------------------------------------------------------------

    def _item(self, code: str) -> ChecklistItem | None:
        return next((i for i in self._view.checklist if i.code == code), None)

    def _apply_progress(
        self, updates: list[ChecklistUpdate], trips: list[Any], actor: str
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
            self._view.hospital_trips.append(trip)
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
        self._record(SYSTEM, "supplemental_documents_requested", {"codes": codes})

    def _unknown_documents(self, codes: list[str], *, catalogue: bool = False) -> list[str]:
        known = DOCUMENTS.keys() if catalogue else {i.code for i in self._view.checklist}
        return [c for c in codes if c not in known]

    # --- messages from people and insurers ----------------------------------------------

    @workflow.update
    async def opened(self) -> ClaimView:
        """Sent with the start (update-with-start): answers once the claim is projected and
        its first task is open, and answers a duplicate opening with the claim as it is."""
        await workflow.wait_condition(lambda: self._settled >= self._changes)
        return self._view

    @workflow.update
    async def complete_task(self, completion: CompleteTask) -> ClaimView:
        task = self._find_task(completion.task_id)
        # Two updates validated in one activation can both pass the validator: re-check.
        if task is None or task.status is not TaskStatus.OPEN:
            raise ApplicationError("task is no longer open", type=Rejection.TASK_NOT_OPEN)
        task.status = TaskStatus.COMPLETED
        task.completed_at = workflow.now()
        task.completed_by = completion.completed_by
        task.result = completion.outcome.model_dump(mode="json")
        self._view.tasks.remove(task)
        self._touch(task)
        self._record(
            completion.completed_by,
            "task_completed",
            {"task_id": task.task_id, "kind": task.kind.value, "result": task.result},
        )
        if task.kind in SIDE_TASKS:
            await self._project()
            return self._view
        self._mark_progress()
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
        problem = self._rule_broken(task, outcome)
        if problem:
            raise ApplicationError(problem, type=Rejection.NOT_ALLOWED)

    def _rule_broken(self, task: Task, outcome: Any) -> str | None:
        """Rules that depend on the claim, not just on the outcome's own fields."""
        if isinstance(outcome, TriageDecision) and outcome.path is ServicePath.OFFLINE:
            h = self._view.opening.policyholder
            verdict = offline_eligibility(
                h.needs, outcome.meets_pre_audit, h.city, self._policy.offline_cities
            )
            if not verdict.eligible:
                return "the offline path is not available: " + "; ".join(verdict.reasons)
        if isinstance(outcome, DocumentsSubmitted | DocumentsVerified):
            updates = outcome.items if isinstance(outcome, DocumentsSubmitted) else outcome.sent_back
            codes = [u.code for u in updates]
            if isinstance(outcome, DocumentsSubmitted):
                codes += [c for trip in outcome.hospital_trips for c in trip.printed]
            unknown = self._unknown_documents(codes)
            if unknown:
                return f"not on this claim's checklist: {', '.join(unknown)}"
        if isinstance(outcome, DocumentsVerified) and outcome.complete:
            pending = set(task.data.get("items", []))
            missing = [
                i.code
                for i in self._view.checklist
                if i.code in pending and i.status is not ChecklistItemStatus.COLLECTED
            ]
            if missing:
                return f"not complete: still missing {', '.join(missing)}"
        if isinstance(outcome, InsurerResponse):
            unknown = self._unknown_documents(outcome.requested_documents, catalogue=True)
            if unknown:
                return f"unknown documents: {', '.join(unknown)}"
        return None

    @workflow.update
    async def record_progress(self, progress: ChecklistProgress) -> ClaimView:
        """The agent ticks off documents as he goes, before submitting the set."""
        self._apply_progress(progress.items, progress.hospital_trips, progress.recorded_by)
        await self._project()
        return self._view

    @record_progress.validator
    def _validate_progress(self, progress: ChecklistProgress) -> None:
        self._reject_if_closed()
        if self._view.stage is not ClaimStage.DOCUMENT_GATHERING:
            raise ApplicationError(
                f"documents are recorded while gathering, not in {self._view.stage.value}",
                type=Rejection.NOT_ALLOWED,
            )
        codes = [u.code for u in progress.items] + [
            c for trip in progress.hospital_trips for c in trip.printed
        ]
        unknown = self._unknown_documents(codes)
        if unknown:
            raise ApplicationError(
                f"not on this claim's checklist: {', '.join(unknown)}", type=Rejection.NOT_ALLOWED
            )

    @workflow.update
    async def reassign_task(self, change: ReassignTask) -> ClaimView:
        task = self._find_task(change.task_id)
        assert task is not None
        old = task.assignee
        task.assignee = change.assignee
        self._touch(task)
        self._record(
            change.reassigned_by,
            "task_reassigned",
            {"task_id": task.task_id, "old": old, "new": change.assignee, "reason": change.reason},
        )
        await self._project()
        return self._view

    @reassign_task.validator
    def _validate_reassign(self, change: ReassignTask) -> None:
        task = self._open_task_or_reject(change.task_id)
        if task.assignee == change.assignee:
            raise ApplicationError(
                f"task {task.task_id} is assigned to {change.assignee} already",
                type=Rejection.DUPLICATE,
            )

    @workflow.update
    async def add_note(self, note: NoteInput) -> ClaimView:
        self._view.notes.append(Note(at=workflow.now(), **note.model_dump()))
        self._record(note.author, "note_added", {"text": note.text})
        await self._project()
        return self._view

    @add_note.validator
    def _validate_note(self, note: NoteInput) -> None:
        self._reject_if_closed()

    @workflow.update
    async def withdraw(self, withdrawal: Withdrawal) -> ClaimView:
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
        unknown = self._unknown_documents(response.requested_documents, catalogue=True)
        if unknown:
            self._record("insurer", "insurer_message_dropped", {"unknown_documents": unknown})
            return
        self._insurer_inbox.append(response)
        self._record("insurer", "insurer_message_received", {"decision": response.decision.value})

    @workflow.update
    async def change_task(self, change: ChangeTask) -> ClaimView:
        """A manager moves a task's due time or priority."""
        task = self._find_task(change.task_id)
        assert task is not None
        details: dict[str, Any] = {"task_id": task.task_id, "reason": change.reason}
        if change.due_at is not None and change.due_at != task.due_at:
            details["due_at"] = {"old": str(task.due_at), "new": str(change.due_at)}
            self._move_deadline(task, change.due_at)
        if change.priority is not None and change.priority is not task.priority:
            details["priority"] = {"old": task.priority.value, "new": change.priority.value}
            task.priority = change.priority
            self._touch(task)
        self._record(change.changed_by, "task_changed", details)
        await self._project()
        return self._view

    @change_task.validator
    def _validate_change(self, change: ChangeTask) -> None:
        task = self._open_task_or_reject(change.task_id)
        if (change.due_at is None or change.due_at == task.due_at) and (
            change.priority is None or change.priority is task.priority
        ):
            raise ApplicationError("nothing to change", type=Rejection.DUPLICATE)

    @workflow.update
    async def pause_clock(self, pause: ClockPause) -> ClaimView:
        self._pause(pause.paused_by, pause.reason)
        await self._project()
        return self._view

    @pause_clock.validator
    def _validate_pause(self, pause: ClockPause) -> None:
        self._reject_if_closed()
        if self._view.paused_since is not None:
            raise ApplicationError("the clock is paused already", type=Rejection.DUPLICATE)

    @workflow.update
    async def resume_clock(self, resume: ClockResume) -> ClaimView:
        self._resume(resume.resumed_by)
        await self._project()
        return self._view

    @resume_clock.validator
    def _validate_resume(self, resume: ClockResume) -> None:
        self._reject_if_closed()
        if self._view.paused_since is None:
            raise ApplicationError("the clock is not paused", type=Rejection.DUPLICATE)

    @workflow.query
    def state(self) -> ClaimView:
        return self._view

    @workflow.query
    def all_tasks(self) -> list[Task]:
        """Every task of the claim, open or not: what the read model's tasks should hold."""
        return list(self._tasks.values())

    @workflow.update
    async def resync(self) -> ClaimView:
        """Write the claim and every task to the read model again (`claimflow reconcile`)."""
        for task in self._tasks.values():
            self._touch(task)
        await self._project()
        return self._view

    async def _settle(self) -> ClaimView:
        self._changes += 1
        mine = self._changes
        await workflow.wait_condition(lambda: self._settled >= mine)
        return self._view

    def _reject_if_closed(self) -> None:
        if self._view.status is ClaimStatus.CLOSED:
            raise ApplicationError("the claim is closed", type=Rejection.CLAIM_CLOSED)

    def _open_task_or_reject(self, task_id: str) -> Task:
        self._reject_if_closed()
        task = self._find_task(task_id)
        if task is None:
            raise ApplicationError(f"no task {task_id} on this claim", type=Rejection.TASK_NOT_FOUND)
        if task.status is not TaskStatus.OPEN:
            raise ApplicationError(
                f"task {task_id} is {task.status.value} already", type=Rejection.TASK_NOT_OPEN
            )
        return task

    # --- timeline and read model --------------------------------------------------------

    def _enter(self, stage: ClaimStage) -> None:
        old = self._view.stage
        if old is stage:
            return
        self._mark_progress()
        self._view.stage = stage
        self._record(SYSTEM, "stage_changed", {"old": old.value, "new": stage.value})

    def _record(self, actor: str, action: str, details: dict[str, Any]) -> None:
        self._timeline_seq += 1
        now = workflow.now()
        self._view.updated_at = now
        self._unprojected.append(
            TimelineEntry(
                claim_id=self._view.claim_id,
                seq=self._timeline_seq,
                at=now,
                actor=actor,
                action=action,
                details=details,
            )
        )

    def _upsert_search_attributes(self) -> None:
        """Stage, city, assignees and overdue, for `temporal workflow list` and the UI."""
        if not (self._timers and self._policy.search_attributes):
            return
        now = workflow.now()
        open_tasks = self._view.tasks
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
        """Write what changed to the read model. Idempotent, so retries never duplicate.

        What was sent is forgotten only once written: a projection cancelled by a withdrawal
        is sent again with the next one.
        """
        self._view.version = self._timeline_seq
        self._upsert_search_attributes()
        sent_gen = self._change_gen
        sent_seq = self._timeline_seq
        projection = ClaimProjection(
            claim=self._view,
            tasks=[self._tasks[task_id] for task_id in self._changed_tasks],
            timeline=list(self._unprojected),
        )
        await workflow.execute_activity_method(
            ReadModelActivities.project_claim,
            projection,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=OUTSIDE_RETRY,
        )
        self._unprojected = [e for e in self._unprojected if e.seq > sent_seq]
        self._changed_tasks = {k: g for k, g in self._changed_tasks.items() if g > sent_gen}
