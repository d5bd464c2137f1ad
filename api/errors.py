"""Rejected actions as HTTP answers: 404 for what is not there, 409 for stale or duplicate
actions (with the claim's current state), 422 for what does not fit the task, 429 when one
claim has more actions in flight than its workflow takes, 503 when a dependency is down."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from temporalio.service import RPCError, RPCStatusCode

from api.claims_client import ClaimError
from workflows.errors import Rejection

log = structlog.get_logger(__name__)

STATUS = {
    Rejection.NOT_FOUND: 404,
    Rejection.TASK_NOT_FOUND: 404,
    Rejection.TASK_NOT_OPEN: 409,
    Rejection.CLAIM_CLOSED: 409,
    Rejection.DUPLICATE: 409,
    Rejection.DUPLICATE_CLAIM: 409,
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


def database_unavailable() -> JSONResponse:
    return _unavailable("the database")


async def database_unavailable_handler(_: Request, exc: Exception) -> JSONResponse:
    return database_unavailable()


BUSY_RETRY_AFTER_SECONDS = 1
"""A claim's workflow takes a bounded number of Updates in flight (Temporal's
`history.maxInFlightUpdates`, ten by default); the rest are refused at once. One second is
long enough for the ten ahead to finish."""


async def temporal_unavailable_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RPCError)
    if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return _unavailable("the workflow service")
    if exc.status is RPCStatusCode.RESOURCE_EXHAUSTED:
        # Too many actions on one claim at once (or the namespace's rate limit): the request
        # changed nothing and may be sent again shortly.
        return JSONResponse(
            status_code=429,
            content={
                "detail": "too many actions on this claim at once; retry in a moment",
                "code": "Busy",
            },
            headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
        )
    if exc.status in OUR_MISTAKES:
        log.error("temporal_refused", status=exc.status.name, error=str(exc)[:200])
        return JSONResponse(status_code=500, content={"detail": "internal error"})
    # Anything else is the workflow service failing for a moment (seen while it restarts:
    # a stream cut, a call cancelled with the connection): the request may be sent again.
    log.warning("temporal_unavailable", status=exc.status.name, error=str(exc)[:200])
    return _unavailable("the workflow service")


OUR_MISTAKES = frozenset(
    {
        RPCStatusCode.INVALID_ARGUMENT,
        RPCStatusCode.FAILED_PRECONDITION,
        RPCStatusCode.PERMISSION_DENIED,
        RPCStatusCode.UNAUTHENTICATED,
        RPCStatusCode.UNIMPLEMENTED,
        RPCStatusCode.NOT_FOUND,
        RPCStatusCode.ALREADY_EXISTS,
        RPCStatusCode.OUT_OF_RANGE,
    }
)
"""Temporal's answers that retrying cannot change: a bug or a misconfiguration, logged, 500."""


async def temporal_timeout_handler(_: Request, exc: Exception) -> JSONResponse:
    """The workflow did not answer an Update within the client's RPC deadline (a busy or
    stopped worker): whether it was applied is unknown; a retry with the same
    Idempotency-Key finds out."""
    return _unavailable("the workflow service")


# --- 422 that can always be sent ----------------------------------------------------------


def _encodable(value: Any) -> Any:
    """`value` (what FastAPI's encoder made of an error) with every lone surrogate, which
    UTF-8 cannot encode, replaced by U+FFFD: the 422 repeats what it refuses (`input`, a key
    in `loc`), and an answer that cannot be encoded would be a 500."""
    if isinstance(value, str):
        if not _has_surrogate(value):
            return value
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encodable(v) for v in value]
    return value


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def refused_facts(problems: list[tuple[tuple[str | int, ...], str]], *at: str | int) -> None:
    """Facts checked at the door (domain.rules) as FastAPI's own 422: each names its field
    (`loc`, in the body at `at`) and says why (`msg`)."""
    if problems:
        raise RequestValidationError(
            [
                {"type": "value_error", "loc": ("body", *at, *where), "msg": why, "input": None}
                for where, why in problems
            ]
        )


async def request_validation_handler(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own 422 (`detail`: each field that does not fit, and why), always encodable."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        status_code=422, content={"detail": _encodable(jsonable_encoder(exc.errors()))}
    )
