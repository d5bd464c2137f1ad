"""Tasks: the inbox of consultants, field agents and managers, and acting on a task."""

from __future__ import annotations

import asyncio
from typing import Annotated

import structlog
from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from api.acting import (
    CompletionRequest,
    ReassignmentRequest,
    TaskChangeRequest,
    acted,
)
from api.auth import (
    CurrentUser,
    Manager,
    SignedIn,
    caller_and_task,
    check_claim_access,
    task_for,
)
from api.claims_client import ClaimError
from api.deps import AnswerDep, ClaimsDep, PoolDep
from api.errors import STATUS
from api.exact import Exact
from api.schemas import Problem, TaskList
from domain.models import ClaimStep, ClaimView, Reassignment, Task, TaskChange, TaskCompletion
from domain.vocabulary import Role, TaskStatus
from store import access, read_model

router = APIRouter(prefix="/tasks", tags=["tasks"])
log = structlog.get_logger(__name__)

_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": Problem},
    403: {"model": Problem},
    404: {"model": Problem},
    409: {"model": Problem},
    422: {"model": Problem},
}


class BulkReassignment(ReassignmentRequest):
    task_ids: Annotated[list[str], Field(min_length=1, max_length=500)]


class BulkItem(BaseModel):
    task_id: str
    status: int
    detail: str | None = None


class BulkResult(BaseModel):
    moved: int
    items: list[BulkItem]


@router.get("", response_model=TaskList, responses=_RESPONSES)
async def inbox(
    pool: PoolDep,
    user: CurrentUser,
    assignee: str | None = None,
    role: Role | None = None,
    status: TaskStatus | None = TaskStatus.OPEN,
    claim_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> TaskList:
    """Open tasks by default, soonest due first. A consultant or field agent sees his own
    tasks on the claims he works (not those of a visit he declined or a claim he was moved
    off), or every task of a claim he works on (with `claim_id`)."""
    if not user.oversees:
        if claim_id is not None:
            await check_claim_access(pool, user, claim_id)
        elif assignee not in (None, user.user_id):
            raise HTTPException(status_code=403, detail="you may list only your own tasks")
        else:
            assignee = user.user_id
    items = await read_model.inbox(
        pool,
        assignee=assignee,
        role=role.value if role else None,
        status=status.value if status else None,
        claim_id=claim_id,
        limit=limit,
    )
    if not user.oversees and claim_id is None and items:
        caller = access.Caller(user.user_id, user.role, user.city)
        worked = await access.claims_worked(pool, list({t.claim_id for t in items}), caller)
        items = [t for t in items if t.claim_id in worked]
    return TaskList(items=items)


@router.post("/bulk-reassign", response_model=BulkResult, responses=_RESPONSES)
async def bulk_reassign(
    change: Exact[BulkReassignment], claims: ClaimsDep, pool: PoolDep, user: Manager
) -> BulkResult:
    """A manager moves many tasks at once; each is its own change, recorded on its claim.

    Answers per task: 200 moved, 404 unknown, 409 no longer open or already there, 422 the
    assignee may not take it (not an active user of the task's role, or a field agent of
    another city).
    """
    single = acted(user, change, Reassignment, "reassigned_by")
    gate = asyncio.Semaphore(16)
    task_ids = list(dict.fromkeys(change.task_ids))
    refused = await access.why_not_assignable(pool, task_ids, change.assignee)

    async def move(task_id: str) -> BulkItem:
        if task_id in refused:
            return BulkItem(task_id=task_id, status=422, detail=refused[task_id])
        async with gate:
            try:
                await claims.reassign_task(task_id, single)
                return BulkItem(task_id=task_id, status=200)
            except ClaimError as exc:
                return BulkItem(task_id=task_id, status=STATUS[exc.rejection], detail=exc.message)

    items = await asyncio.gather(*(move(t) for t in task_ids))
    log.info("tasks_bulk_reassigned", assignee=change.assignee, count=len(items))
    return BulkResult(moved=sum(i.status == 200 for i in items), items=list(items))


async def _task(pool: PoolDep, task_id: str, user: SignedIn) -> Task:
    return await task_for(pool, user, task_id, to_act=False)


@router.get("/{task_id}", response_model=Task, responses=_RESPONSES)
async def get_task(task_id: str, pool: PoolDep, user: SignedIn) -> Task:
    return await _task(pool, task_id, user)


@router.post("/{task_id}/complete", response_model=ClaimView | ClaimStep, responses=_RESPONSES)
async def complete_task(
    task_id: str,
    completion: Exact[CompletionRequest],
    claims: ClaimsDep,
    answer: AnswerDep,
    pool: PoolDep,
    signed: SignedIn,
) -> ClaimView | ClaimStep:
    """Complete a task; answers with the claim's state after the workflow has moved on."""
    with structlog.contextvars.bound_contextvars(task_id=task_id):
        # One query: the caller as he is now (active, role), the task and his standing.
        user, _ = await caller_and_task(pool, signed, task_id, to_act=True)
        done = acted(user, completion, TaskCompletion, "completed_by")
        view = await answer(await claims.complete_task(task_id, done))
        log.info("task_completed", claim_id=view.claim_id, stage=view.stage.value)
        return view


@router.post("/{task_id}/reassign", response_model=ClaimView | ClaimStep, responses=_RESPONSES)
async def reassign_task(
    task_id: str,
    change: Exact[ReassignmentRequest],
    claims: ClaimsDep,
    answer: AnswerDep,
    pool: PoolDep,
    user: Manager,
) -> ClaimView | ClaimStep:
    """Move an open task to another person; the timeline keeps the old and new assignee.
    422 unless the assignee is an active user of the task's role and, for a field agent's
    task, serves the claim's city."""
    reassignment = acted(user, change, Reassignment, "reassigned_by")
    refused = await access.why_not_assignable(pool, [task_id], change.assignee)
    if task_id in refused:
        raise HTTPException(status_code=422, detail=refused[task_id])
    return await answer(await claims.reassign_task(task_id, reassignment))


@router.patch("/{task_id}", response_model=ClaimView | ClaimStep, responses=_RESPONSES)
async def change_task(
    task_id: str,
    change: Exact[TaskChangeRequest],
    claims: ClaimsDep,
    answer: AnswerDep,
    user: Manager,
) -> ClaimView | ClaimStep:
    """Move a task's due time or priority; the timeline keeps the old and new values."""
    changed = acted(user, change, TaskChange, "changed_by")
    return await answer(await claims.change_task(task_id, changed))
