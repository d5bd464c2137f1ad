"""Tasks: the inbox of consultants, field agents and managers, and completing a task."""

from __future__ import annotations

from typing import Annotated

import structlog
import asyncio

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from api.claims_client import ClaimError
from api.deps import ClaimsDep, PoolDep
from api.errors import STATUS
from api.schemas import Problem, TaskList
from domain.models import (
    ClaimView,
    Reassignment,
    Role,
    Task,
    TaskChange,
    TaskCompletion,
    TaskStatus,
)
from store import read_model

router = APIRouter(prefix="/tasks", tags=["tasks"])


class BulkReassignment(Reassignment):
    task_ids: Annotated[list[str], Field(min_length=1, max_length=500)]


class BulkItem(BaseModel):
    task_id: str
    status: int
    detail: str | None = None


class BulkResult(BaseModel):
    moved: int
    items: list[BulkItem]
log = structlog.get_logger(__name__)


@router.get("", response_model=TaskList)
async def inbox(
    pool: PoolDep,
    assignee: str | None = None,
    role: Role | None = None,
    status: TaskStatus | None = TaskStatus.OPEN,
    claim_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> TaskList:
    """Open tasks by default, soonest due first."""
    items = await read_model.inbox(
        pool,
        assignee=assignee,
        role=role.value if role else None,
        status=status.value if status else None,
        claim_id=claim_id,
        limit=limit,
    )
    return TaskList(items=items)


@router.post("/bulk-reassign", response_model=BulkResult)
async def bulk_reassign(change: BulkReassignment, claims: ClaimsDep) -> BulkResult:
    """A manager moves many tasks at once; each is its own change, recorded on its claim.

    Answers per task: 200 moved, 404 unknown, 409 no longer open or already there.
    """
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


@router.get("/{task_id}", response_model=Task, responses={404: {"model": Problem}})
async def get_task(task_id: str, pool: PoolDep) -> Task:
    task = await read_model.get_task(pool, task_id)
    if task is None:
        raise HTTPException(status_code=404, detail=f"no task {task_id}")
    return task


@router.post(
    "/{task_id}/complete",
    response_model=ClaimView,
    responses={404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}},
)
async def complete_task(task_id: str, completion: TaskCompletion, claims: ClaimsDep) -> ClaimView:
    """Complete a task; answers with the claim's state after the workflow has moved on."""
    with structlog.contextvars.bound_contextvars(task_id=task_id):
        view = await claims.complete_task(task_id, completion)
        log.info("task_completed", claim_id=view.claim_id, stage=view.stage.value)
        return view


@router.post(
    "/{task_id}/reassign",
    response_model=ClaimView,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
)
async def reassign_task(task_id: str, change: Reassignment, claims: ClaimsDep) -> ClaimView:
    """Move an open task to another person; the timeline keeps the old and new assignee."""
    return await claims.reassign_task(task_id, change)


@router.patch(
    "/{task_id}",
    response_model=ClaimView,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
)
async def change_task(task_id: str, change: TaskChange, claims: ClaimsDep) -> ClaimView:
    """Move a task's due time or priority; the timeline keeps the old and new values."""
    return await claims.change_task(task_id, change)
