"""Typed dependencies: each route states in its signature what it needs."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Header, Request
from temporalio.client import Client

from api.auth import CurrentUser, check_claim_access
from api.claims_client import ClaimsClient
from claimflow.settings import Settings
from domain.models import ClaimStep, ClaimView


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _claims(request: Request) -> ClaimsClient:
    return request.app.state.claims


async def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.claims.pool


async def _temporal(request: Request) -> Client:
    return request.app.state.claims.client


SettingsDep = Annotated[Settings, Depends(_settings)]
ClaimsDep = Annotated[ClaimsClient, Depends(_claims)]
PoolDep = Annotated[asyncpg.Pool, Depends(_pool)]
TemporalDep = Annotated[Client, Depends(_temporal)]


async def _own_claim(claim_id: str, user: CurrentUser, pool: PoolDep) -> str:
    await check_claim_access(pool, user, claim_id)
    return claim_id


OwnClaim = Annotated[str, Depends(_own_claim)]
"""A claim id from the path that the caller works on (403 otherwise)."""


class Answer:
    """How a change answers: with the whole claim, or, when the caller sends
    `Prefer: return=minimal` (RFC 7240), with where it stands only (a ClaimStep: stage,
    status, version, the open tasks), which costs the API no read."""

    def __init__(self, claims: ClaimsClient, minimal: bool) -> None:
        self.claims = claims
        self.minimal = minimal

    async def __call__(self, step: ClaimStep) -> ClaimView | ClaimStep:
        return step if self.minimal else await self.claims.claim_after(step)


async def _answer(
    claims: ClaimsDep,
    prefer: Annotated[
        str | None,
        Header(max_length=200, description="`return=minimal`: answer with the step only"),
    ] = None,
) -> Answer:
    wants = {p.strip().lower() for p in (prefer or "").split(",")}
    return Answer(claims, "return=minimal" in wants)


AnswerDep = Annotated[Answer, Depends(_answer)]
