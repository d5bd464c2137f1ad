"""Tasks: the inbox of consultants, field agents and managers, and acting on a task."""

from __future__ import annotations

import asyncio
from typing import Annotated

import structlog
from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from api.auth import CurrentUser, Manager, check_acting_as, check_claim_access, task_for
from api.claims_client import ClaimError
from api.deps import AnswerDep, ClaimsDep, PoolDep
from api.exact import Exact
from api.errors import STATUS
from api.schemas import Problem, TaskList
from domain.models import ClaimStep, ClaimView, Reassignment, Task, TaskChange, TaskCompletion
from domain.vocabulary import Role, TaskStatus
from store import read_model

router = APIRouter(prefix="/tasks", tags=["tasks"])
log = structlog.get_logger(__name__)

_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": Problem},
    403: {"model": Problem},
    404: {"model": Problem},
    409: {"model": Problem},
    422: {"model": Problem},
}


class BulkReassignment(Reassignment):
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
    tasks, or every task of a claim he works on (with `claim_id`)."""
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
    return TaskList(items=items)


@router.post("/bulk-reassign", response_model=BulkResult, responses=_RESPONSES)
async def bulk_reassign(
    change: Exact[BulkReassignment], claims: ClaimsDep, user: Manager
) -> BulkResult:
    """A manager moves many tasks at once; each is its own change, recorded on its claim.

    Answers per task: 200 moved, 404 unknown, 409 no longer open or already there.
    """
    check_acting_as(user, change.reassigned_by)
    single = Reassignment(**change.model_dump(exclude={"task_ids"}))
    gate = asyncio.Semaphore(16)

    async def move(task_id: str) -> BulkItem:
        async with gate:
            try:
                await claims.reassign_task(task_id, single)
                return BulkItem(task_id=task_id, status=200)
            except ClaimError as exc:
                return BulkItem(task_id=task_id, status=STATUS[exc.rejection], detail=exc.message)

    items = await asyncio.gather(*(move(t) for t in dict.fromkeys(change.task_ids)))
    log.info("tasks_bulk_reassigned", assignee=change.assignee, count=len(items))
    return BulkResult(moved=sum(i.status == 200 for i in items), items=list(items))


async def _task(pool: PoolDep, task_id: str, user: CurrentUser) -> Task:
    return await task_for(pool, user, task_id, to_act=False)


@router.get("/{task_id}", response_model=Task, responses=_RESPONSES)
async def get_task(task_id: str, pool: PoolDep, user: CurrentUser) -> Task:
    return await _task(pool, task_id, user)


@router.post("/{task_id}/complete", response_model=ClaimView | ClaimStep, responses=_RESPONSES)
async def complete_task(
    task_id: str,
    completion: Exact[TaskCompletion],
    claims: ClaimsDep,
    answer: AnswerDep,
    pool: PoolDep,
    user: CurrentUser,
) -> ClaimView | ClaimStep:
    """Complete a task; answers with the claim's state after the workflow has moved on."""
    with structlog.contextvars.bound_contextvars(task_id=task_id):
        if not user.oversees:
            await task_for(pool, user, task_id, to_act=True)  # one query: task and owner
        check_acting_as(user, completion.completed_by)
        view = await answer(await claims.complete_task(task_id, completion))
        log.info("task_completed", claim_id=view.claim_id, stage=view.stage.value)
        return view


@router.post("/{task_id}/reassign", response_model=ClaimView | ClaimStep, responses=_RESPONSES)
async def reassign_task(
    task_id: str, change: Exact[Reassignment], claims: ClaimsDep, answer: AnswerDep, user: Manager
) -> ClaimView | ClaimStep:
    """Move an open task to another person; the timeline keeps the old and new assignee."""
    check_acting_as(user, change.reassigned_by)
    return await answer(await claims.reassign_task(task_id, change))


@router.patch("/{task_id}", response_model=ClaimView | ClaimStep, responses=_RESPONSES)
async def change_task(
    task_id: str, change: Exact[TaskChange], claims: ClaimsDep, answer: AnswerDep, user: Manager
) -> ClaimView | ClaimStep:
    """Move a task's due time or priority; the timeline keeps the old and new values."""
    check_acting_as(user, change.changed_by)
    return await answer(await claims.change_task(task_id, change))
