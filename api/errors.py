"""Rejected actions as HTTP answers: 404 for what is not there, 409 for stale or duplicate
actions (with the claim's current state), 422 for what does not fit the task."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

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
