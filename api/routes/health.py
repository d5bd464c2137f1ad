"""Liveness (the process answers) and readiness (Temporal and PostgreSQL reachable)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import PoolDep, TemporalDep
from api.schemas import Readiness
from store import read_model

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(client: TemporalDep, pool: PoolDep) -> JSONResponse:
    async def check(probe: object) -> str:
        try:
            await asyncio.wait_for(probe, timeout=3)  # type: ignore[arg-type]
            return "ok"
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure
            return f"unavailable: {type(exc).__name__}"

    temporal, postgres = await asyncio.gather(
        check(client.service_client.check_health()), check(read_model.ping(pool))
    )
    ok = temporal == "ok" and postgres == "ok"
    return JSONResponse(
        status_code=200 if ok else 503,
        content=Readiness(temporal=temporal, postgres=postgres).model_dump(),
    )
