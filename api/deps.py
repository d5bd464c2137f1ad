"""Typed dependencies: each route states in its signature what it needs."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from temporalio.client import Client

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
