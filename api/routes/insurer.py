"""The insurer's webhook, for insurers integrated by API.

The body is signed: X-Claimflow-Signature = hex HMAC-SHA256(secret, "{timestamp}.{body}"),
with X-Claimflow-Timestamp (Unix seconds) within five minutes, and each signature is accepted
once, so a captured request cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

import structlog
from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from api.deps import ClaimsDep, PoolDep, SettingsDep
from api.schemas import Problem
from domain.checklist import DOCUMENTS
from domain.outcomes import InsurerResponse
from domain.vocabulary import Reference
from store import read_model, receipts

router = APIRouter(prefix="/insurer", tags=["insurer"])
log = structlog.get_logger(__name__)

TOLERANCE_SECONDS = 300
MAX_TIMESTAMP_DIGITS = 12
"""Unix seconds have 10 digits until the year 2286; anything longer is refused (422) before
it is parsed."""
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


class InsurerMessage(BaseModel):
    insurer_claim_reference: Reference
    response: InsurerResponse


class Accepted(BaseModel):
    claim_id: str
    accepted: bool = True


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@router.post(
    "/webhook",
    status_code=202,
    response_model=Accepted,
    responses={401: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem}},
)
async def webhook(
    request: Request,
    settings: SettingsDep,
    pool: PoolDep,
    claims: ClaimsDep,
    x_claimflow_timestamp: str = Header(
        min_length=1,
        max_length=MAX_TIMESTAMP_DIGITS,
        description="Unix seconds (at most 12 digits), within five minutes of now",
        examples=["1731024000"],
    ),
    x_claimflow_signature: str = Header(
        min_length=1, max_length=128, description="hex HMAC-SHA256 of '{timestamp}.{body}'"
    ),
) -> Accepted:
    secret = settings.insurer_webhook_secret
    if not secret:
        raise HTTPException(status_code=404, detail="the insurer webhook is not configured")
    body = await request.body()
    if not _UNIX_SECONDS.fullmatch(x_claimflow_timestamp):
        raise HTTPException(
            status_code=401,
            detail="bad timestamp: X-Claimflow-Timestamp is Unix seconds (digits only)",
        )
    # Integers both: at most 12 digits, no float conversion can overflow.
    age = abs(int(time.time()) - int(x_claimflow_timestamp))
    expected = sign(secret, x_claimflow_timestamp, body)
    # Bytes, not str: compare_digest refuses non-ASCII text (a header may carry Latin-1).
    given = x_claimflow_signature.encode("utf-8", "replace")
    if age > TOLERANCE_SECONDS or not hmac.compare_digest(expected.encode(), given):
        raise HTTPException(status_code=401, detail="bad or expired signature")
    try:
        message = InsurerMessage.model_validate_json(body)
    except ValidationError as exc:
        # The same 422 body as any other request FastAPI validates.
        raise RequestValidationError(exc.errors(include_url=False)) from exc
    unknown = [c for c in message.response.requested_documents if c not in DOCUMENTS]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body", "response", "requested_documents"),
                    "msg": f"unknown documents: {', '.join(unknown)}",
                    "input": unknown,
                }
            ]
        )
    found = await read_model.claims_by_insurer_reference(pool, message.insurer_claim_reference)
    if not found:
        raise HTTPException(status_code=404, detail="no claim with this insurer reference")
    if len(found) > 1:
        raise HTTPException(status_code=409, detail="several claims carry this reference")
    # A captured request replayed within the window: each signature is accepted once.
    try:
        async with receipts.receiving(pool, x_claimflow_signature, TOLERANCE_SECONDS):
            await claims.insurer_responded(found[0], message.response)
    except receipts.AlreadyReceived:
        raise HTTPException(status_code=409, detail="this message was received already") from None
    log.info("insurer_message", claim_id=found[0], decision=message.response.decision.value)
    return Accepted(claim_id=found[0])
