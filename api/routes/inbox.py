"""The console's inbox: a person's open tasks with the claim facts a list shows (claim type,
policyholder, city, stage, visit time), in one paged request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.auth import CurrentUser, forbidden
from api.deps import PoolDep
from api.schemas import Problem
from domain.limits import MAX_PAGE
from domain.models import Task
from domain.vocabulary import AwareDatetime, ClaimStage, ClaimType, Role
from store import inbox as store_inbox

router = APIRouter(tags=["tasks"])


class InboxItem(Task):
    overdue: bool
    claim_type: ClaimType
    policyholder_name: str
    city: str
    stage: ClaimStage
    visit_at: AwareDatetime | None = None


class Inbox(BaseModel):
    items: list[InboxItem]
    total: int
    """Every open task of the inbox, on all pages."""


@router.get("/inbox", response_model=Inbox, responses={403: {"model": Problem}})
async def my_inbox(
    pool: PoolDep,
    user: CurrentUser,
    assignee: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Inbox:
    """The signed-in person's open tasks, soonest due first; a manager's include the
    unassigned tasks for managers (e.g. naming a field agent), and he may read anyone's
    (`assignee`)."""
    if assignee not in (None, user.user_id) and not user.oversees:
        raise forbidden("you may read only your own inbox")
    who = assignee or user.user_id
    role = Role.MANAGER.value if user.oversees and who == user.user_id else None
    rows, total = await store_inbox.open_tasks(pool, who, role, limit=limit, offset=offset)
    return Inbox(items=[InboxItem.model_validate(r) for r in rows], total=total)
