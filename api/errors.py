"""Rejected actions as HTTP answers: 404 for what is not there, 409 for stale or duplicate
actions (with the claim's current state), 422 for what does not fit the task."""

from __future__ import annotations

import asyncpg
from fastapi import Request
from fastapi.responses import JSONResponse

from temporalio.service import RPCError, RPCStatusCode

from api.claims_client import ClaimError
from workflows.errors import Rejection

STATUS = {
    Rejection.NOT_FOUND: 404,
    Rejection.TASK_NOT_FOUND: 404,
    Rejection.TASK_NOT_OPEN: 409,
    Rejection.CLAIM_CLOSED: 409,
    Rejection.DUPLICATE: 409,
    Rejection.OUTCOME_MISMATCH: 422,
    Rejection.NOT_ALLOWED: 422,
}


async def claim_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ClaimError)
    body: dict[str, object] = {"detail": exc.message, "code": exc.rejection.value}
    if exc.claim is not None:
        body["claim"] = exc.claim.model_dump(mode="json")
    return JSONResponse(status_code=STATUS[exc.rejection], content=body)


UNSTORABLE_TEXT = (
    asyncpg.CharacterNotInRepertoireError,
    asyncpg.UntranslatableCharacterError,
)
"""What PostgreSQL raises for text it cannot hold (NUL). Text in bodies is refused by its
type (`domain.vocabulary.Storable`); this catches the rest (ids and filters in paths and
queries) on their way into a lookup."""


async def unstorable_text_handler(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        status_code=422,
        content={"detail": "the request holds text with a NUL character (\\u0000)"},
    )


UNAVAILABLE = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
)
"""The database is down or restarting: the request may be retried, it is not our bug."""


def _unavailable(what: str) -> JSONResponse:
    return JSONResponse(
        status_code=503,
        content={"detail": f"{what} is unavailable for a moment; try again"},
        headers={"Retry-After": "5"},
    )


async def database_unavailable_handler(_: Request, exc: Exception) -> JSONResponse:
    return _unavailable("the database")


async def temporal_unavailable_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RPCError)
    if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return _unavailable("the workflow service")
    return JSONResponse(status_code=500, content={"detail": "internal error"})
