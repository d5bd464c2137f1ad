"""The policyholder's progress link: the consultant creates it, the user opens it unsigned."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import structlog
from fastapi import APIRouter, HTTPException, Path, Request, Response
from pydantic import BaseModel, Field

from api.auth import CurrentUser, check_claim_access, forbidden
from api.deps import ClaimsDep, PoolDep, SettingsDep
from api.exact import Exact
from api.progress import (
    AgentContact,
    ExpiredToken,
    InvalidToken,
    Progress,
    expiry,
    make_token,
    progress_of,
    read_token,
)
from api.schemas import Problem
from domain.limits import MAX_LINK_DAYS
from domain.vocabulary import AwareDatetime, Role
from store import agents

router = APIRouter(tags=["progress"])
log = structlog.get_logger(__name__)

CONSOLE_PROGRESS = "console/#/progress/"


class ProgressLinkRequest(BaseModel):
    valid_days: int | None = Field(
        None, ge=1, le=MAX_LINK_DAYS, description="How long the link works; the configured default if unset."
    )


class ProgressLink(BaseModel):
    url: str
    token: str
    expires_at: AwareDatetime


@router.post(
    "/claims/{claim_id}/progress-link",
    status_code=201,
    response_model=ProgressLink,
    tags=["claims"],
    responses={
        403: {"model": Problem},
        404: {"model": Problem},
        422: {"model": Problem},
        503: {"model": Problem, "description": "Signing is not configured"},
    },
)
async def create_progress_link(
    claim_id: str,
    request: Request,
    user: CurrentUser,
    pool: PoolDep,
    settings: SettingsDep,
    body: Exact[ProgressLinkRequest] | None = None,
) -> ProgressLink:
    """A link the consultant sends the policyholder: his claim's progress, no sign-in.

    The consultant of the claim or a manager creates it; it expires (14 days unless
    configured or asked otherwise)."""
    if not user.oversees and user.role is not Role.CONSULTANT:
        raise forbidden("progress links are sent by the claim's consultant or a manager")
    await check_claim_access(pool, user, claim_id)
    if not await pool.fetchval("SELECT EXISTS (SELECT 1 FROM claims WHERE claim_id = $1)", claim_id):
        raise HTTPException(status_code=404, detail=f"no claim {claim_id}")
    if settings.auth_secret is None:
        raise HTTPException(status_code=503, detail="signing is not configured")
    ttl = settings.progress_link_ttl
    if body is not None and body.valid_days is not None:
        ttl = timedelta(days=body.valid_days)
    expires_at = expiry(ttl)
    token = make_token(settings.auth_secret.get_secret_value(), claim_id, expires_at)
    log.info("progress_link_created", claim_id=claim_id, by=user.user_id)
    return ProgressLink(
        url=f"{str(request.base_url).rstrip('/')}/{CONSOLE_PROGRESS}{token}",
        token=token,
        expires_at=expires_at,
    )


Token = Annotated[str, Path(min_length=1, max_length=200)]


@router.get(
    "/progress/{token}",
    response_model=Progress,
    responses={404: {"model": Problem}, 410: {"model": Problem}},
)
async def read_progress(
    token: Token, response: Response, claims: ClaimsDep, pool: PoolDep, settings: SettingsDep
) -> Progress:
    """Public, for the holder of a progress link: where the claim stands in plain words, what
    is still needed from the user, who his agent is and the payout explained."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    gone = HTTPException(
        status_code=404,
        detail="This link does not work. Please ask your claims consultant for a new one.",
    )
    if settings.auth_secret is None:
        raise gone
    try:
        claim_id, expires_at = read_token(settings.auth_secret.get_secret_value(), token)
    except ExpiredToken:
        raise HTTPException(
            status_code=410,
            detail="This link has expired. Please ask your claims consultant for a new one.",
        ) from None
    except InvalidToken:
        raise gone from None
    claim = await claims.get_claim(claim_id)
    if claim is None:
        raise gone
    contact = None
    if claim.field_agent:
        agent = await agents.get(pool, claim.field_agent)
        if agent is not None:
            contact = AgentContact(name=agent.name, phone=agent.phone)
    return progress_of(claim, contact, expires_at)
