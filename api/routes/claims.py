"""Claims: open (discovery), read live state, list, timeline, and the claim-wide actions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
import structlog
from fastapi import APIRouter, Header, HTTPException, Query
from pydantic import BaseModel

from api.acting import (
    NoteRequest,
    PauseRequest,
    ProgressRequest,
    ResumeRequest,
    WithdrawalRequest,
    acted,
)
from api.auth import CurrentUser, Opener, Principal, forbidden
from api.claims_client import ClaimError
from api.deps import AnswerDep, ClaimsDep, OwnClaim, PoolDep, SettingsDep
from api.errors import refused_facts
from api.exact import Exact
from api.schemas import ClaimListQuery, ClaimQuery, ClaimsPage, Problem, Timeline
from domain.checklist import ChecklistItem
from domain.models import (
    ClaimOpening,
    ClaimStep,
    ClaimView,
    ClockPause,
    ClockResume,
    NoteInput,
    Withdrawal,
)
from domain.outcomes import ChecklistProgress
from domain.rules import opening_problems, progress_problems
from domain.vocabulary import AwareDatetime, Role
from store import claim_list, notifications, read_model

router = APIRouter(prefix="/claims", tags=["claims"])
log = structlog.get_logger(__name__)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        description="The same key twice opens one claim. Without it every request opens a new one.",
    ),
]

_READ_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": Problem},
    403: {"model": Problem},
    404: {"model": Problem},
}
_CHANGE_RESPONSES: dict[int | str, dict[str, object]] = {
    **_READ_RESPONSES,
    409: {"model": Problem},
    422: {"model": Problem},
}


@router.post("", status_code=201, response_model=ClaimView | ClaimStep, responses=_CHANGE_RESPONSES)
async def open_claim(
    opening: Exact[ClaimOpening],
    claims: ClaimsDep,
    answer: AnswerDep,
    settings: SettingsDep,
    user: Opener,
    idempotency_key: IdempotencyKey = None,
    confirmed_new: Annotated[
        bool,
        Query(
            description="A second claim for the policy and incident of an existing one is "
            "refused (409 DuplicateClaim, naming it) unless the caller confirms it is another."
        ),
    ] = False,
) -> ClaimView | ClaimStep:
    """Discovery: a return visit, hotline call or self-report opens a claim case.

    Answers once the claim is recorded and its triage task is open for the consultant.
    The claim is keyed by the opener and the Idempotency-Key: the same request twice is one
    claim. One policy and incident, one claim: see `confirmed_new`.
    """
    refused_facts(opening_problems(opening, datetime.now(UTC)))
    key = f"{user.user_id}:{idempotency_key}" if idempotency_key else str(uuid.uuid4())
    try:
        step = await claims.open_claim(
            opening, key, settings.service_policy(), confirmed_new=confirmed_new
        )
    except ClaimError as exc:
        # The existing claim is shown to those who may see it; the others learn its id.
        if exc.claim is not None and not may_see(user, exc.claim):
            exc.claim = None
        raise
    view = await answer(step)
    log.info("claim_opened", claim_id=view.claim_id, source=opening.source.value)
    return view


def may_see(user: Principal, claim: ClaimView) -> bool:
    """Whether the opener may see the claim that holds the incident: managers, and its own
    consultant (who works it)."""
    return user.oversees or claim.opening.consultant == user.user_id


async def search_claims(
    pool: asyncpg.Pool, query: ClaimQuery, *, limit: int, cursor: str | None
) -> ClaimsPage:
    """Run a claim query (from the list or a saved view); a bad cursor is the caller's 422."""
    try:
        page = await claim_list.list_claims(pool, query, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=f"cursor: {exc}") from exc
    return ClaimsPage(items=page.items, next_cursor=page.next_cursor, total=page.total)


def own_claims_only(user: Principal, query: ClaimListQuery) -> ClaimListQuery:
    """Consultants list their claims, field agents the claims they are dispatched to."""
    if user.oversees:
        return query
    field = "consultant" if user.role is Role.CONSULTANT else "field_agent"
    asked = getattr(query, field)
    if asked not in (None, user.user_id):
        raise forbidden(f"you may list only your own claims ({field}={user.user_id})")
    return query.model_copy(update={field: user.user_id})


@router.get("", response_model=ClaimsPage, responses={422: {"model": Problem}})
async def list_claims(
    pool: PoolDep, user: CurrentUser, query: Annotated[ClaimListQuery, Query()]
) -> ClaimsPage:
    """The manager's view of every claim: the filters combine (all must hold), the order is
    `sort` and `order` (newest created first by default), pages follow `next_cursor`, and
    `total` counts every matching claim. Consultants and field agents see their own."""
    query = own_claims_only(user, query)
    return await search_claims(pool, query, limit=query.limit, cursor=query.cursor)


@router.get("/{claim_id}", response_model=ClaimView, responses=_READ_RESPONSES)
async def get_claim(claim_id: OwnClaim, claims: ClaimsDep) -> ClaimView:
    """The claim's live state from its workflow; from the read model once it has closed."""
    view = await claims.get_claim(claim_id)
    if view is None:
        raise HTTPException(status_code=404, detail=f"no claim {claim_id}")
    return view


@router.get("/{claim_id}/timeline", response_model=Timeline, responses=_READ_RESPONSES)
async def get_timeline(claim_id: OwnClaim, pool: PoolDep) -> Timeline:
    entries = await read_model.timeline(pool, claim_id)
    if not entries:
        raise HTTPException(status_code=404, detail=f"no claim {claim_id}")
    return Timeline(claim_id=claim_id, entries=entries)


@router.get("/{claim_id}/checklist", response_model=list[ChecklistItem], responses=_READ_RESPONSES)
async def get_checklist(claim_id: OwnClaim, claims: ClaimsDep) -> list[ChecklistItem]:
    """The document checklist with each item's status (Claims Data Manager)."""
    view = await claims.get_claim(claim_id)
    if view is None:
        raise HTTPException(status_code=404, detail=f"no claim {claim_id}")
    return view.checklist


@router.post(
    "/{claim_id}/checklist", response_model=ClaimView | ClaimStep, responses=_CHANGE_RESPONSES
)
async def record_checklist_progress(
    claim_id: OwnClaim,
    progress: Exact[ProgressRequest],
    claims: ClaimsDep,
    answer: AnswerDep,
    user: CurrentUser,
) -> ClaimView | ClaimStep:
    """The agent records documents as he collects or rejects them, and hospital trips."""
    recorded = acted(user, progress, ChecklistProgress, "recorded_by")
    refused_facts(progress_problems(recorded, datetime.now(UTC)))
    return await answer(await claims.record_progress(claim_id, recorded))


@router.post("/{claim_id}/notes", response_model=ClaimView | ClaimStep, responses=_CHANGE_RESPONSES)
async def add_note(
    claim_id: OwnClaim,
    note: Exact[NoteRequest],
    claims: ClaimsDep,
    answer: AnswerDep,
    user: CurrentUser,
) -> ClaimView | ClaimStep:
    written = acted(user, note, NoteInput, "author")
    return await answer(await claims.add_note(claim_id, written))


@router.post(
    "/{claim_id}/withdraw", response_model=ClaimView | ClaimStep, responses=_CHANGE_RESPONSES
)
async def withdraw(
    claim_id: OwnClaim,
    withdrawal: Exact[WithdrawalRequest],
    claims: ClaimsDep,
    answer: AnswerDep,
    user: CurrentUser,
) -> ClaimView | ClaimStep:
    """The user withdraws the claim: open tasks are cancelled and the claim closes."""
    recorded = acted(user, withdrawal, Withdrawal, "recorded_by")
    view = await answer(await claims.withdraw(claim_id, recorded))
    log.info("claim_withdrawn", claim_id=claim_id)
    return view


@router.post("/{claim_id}/pause", response_model=ClaimView | ClaimStep, responses=_CHANGE_RESPONSES)
async def pause_clock(
    claim_id: OwnClaim,
    pause: Exact[PauseRequest],
    claims: ClaimsDep,
    answer: AnswerDep,
    user: CurrentUser,
) -> ClaimView | ClaimStep:
    """The claim waits on the user: pausable task clocks and the stall clock stop."""
    paused = acted(user, pause, ClockPause, "paused_by")
    return await answer(await claims.pause_clock(claim_id, paused))


@router.post(
    "/{claim_id}/resume", response_model=ClaimView | ClaimStep, responses=_CHANGE_RESPONSES
)
async def resume_clock(
    claim_id: OwnClaim,
    resume: Exact[ResumeRequest],
    claims: ClaimsDep,
    answer: AnswerDep,
    user: CurrentUser,
) -> ClaimView | ClaimStep:
    """The clocks run again; open tasks' due times move by the time paused."""
    resumed = acted(user, resume, ClockResume, "resumed_by")
    return await answer(await claims.resume_clock(claim_id, resumed))


class NotificationOut(BaseModel):
    notification_id: str
    task_id: str | None
    kind: str
    recipient: str | None
    role: str | None
    channel: str
    message: str
    created_at: AwareDatetime
    delivered_at: AwareDatetime | None
    attempts: int


@router.get(
    "/{claim_id}/notifications", response_model=list[NotificationOut], responses=_READ_RESPONSES
)
async def list_notifications(claim_id: OwnClaim, pool: PoolDep) -> list[NotificationOut]:
    """Every nudge and alert sent about this claim, from the outbox."""
    rows = await notifications.for_claim(pool, claim_id)
    return [NotificationOut.model_validate(r) for r in rows]
