"""Liveness (the process answers) and readiness (Temporal and PostgreSQL reachable, and a
worker polling the claims' task queue)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ClaimsDep, PoolDep, SettingsDep, TemporalDep
from api.schemas import Readiness
from claimflow.temporal import task_queue_pollers
from store import read_model

router = APIRouter(tags=["health"])


class DeploymentReadiness(Readiness):
    worker: str
    """"ok" while Temporal sees a worker polling the task queue; without one, claims cannot
    open or move (POST /claims answers 503 after CLAIMFLOW_CLAIM_OPEN_TIMEOUT)."""


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=DeploymentReadiness,
    responses={503: {"model": DeploymentReadiness}},
)
async def readyz(
    client: TemporalDep, pool: PoolDep, claims: ClaimsDep, settings: SettingsDep
) -> JSONResponse:
    async def check(probe: object) -> str:
        try:
            await asyncio.wait_for(probe, timeout=3)  # type: ignore[arg-type]
            return "ok"
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure
            return f"unavailable: {type(exc).__name__}"

    async def workers() -> str:
        try:
            pollers = await asyncio.wait_for(
                task_queue_pollers(
                    client,
                    settings.temporal_namespace,
                    claims.task_queue,
                    settings.worker_poller_seen_within.total_seconds(),
                ),
                timeout=3,
            )
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure
            return f"unknown: {type(exc).__name__}"
        if not pollers:
            return f"unavailable: no worker polling task queue {claims.task_queue}"
        return "ok"

    temporal, postgres, worker = await asyncio.gather(
        check(client.service_client.check_health()), check(read_model.ping(pool)), workers()
    )
    ok = temporal == "ok" and postgres == "ok" and worker == "ok"
    return JSONResponse(
        status_code=200 if ok else 503,
        content=DeploymentReadiness(temporal=temporal, postgres=postgres, worker=worker).model_dump(),
    )
