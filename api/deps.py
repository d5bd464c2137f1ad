"""Typed dependencies: each route states in its signature what it needs."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from temporalio.client import Client

from api.auth import CurrentUser, check_claim_access
from api.claims_client import ClaimsClient
from claimflow.settings import Settings


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
