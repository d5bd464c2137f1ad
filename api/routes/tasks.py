"""Tasks: the inbox of consultants, field agents and managers, and completing a task."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, HTTPException, Query

from api.deps import ClaimsDep, PoolDep
from api.schemas import Problem, TaskList
from domain.models import ClaimView, Reassignment, Role, Task, TaskCompletion, TaskStatus
from store import read_model

router = APIRouter(prefix="/tasks", tags=["tasks"])
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
