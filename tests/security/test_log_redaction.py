"""Logs carry ids, never personal data or secrets.

Mr. Wang's whole lifecycle, requests refused for their bodies, and bad tokens, with every log
line the API and the worker write captured (DEBUG and up, every logger) and scanned for the
case's personal data and for the tokens used: none may appear. Before, a rejected body was
logged whole (diagnosis, phone, policy number, hospital) inside a traceback's local
variables, and so were truncated bearer tokens."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import Any

import httpx
import jwt
import structlog

from api.auth import Principal, issue_token
from claimflow.reference_case import AGENT, CONSULTANT, OPENING, ReferenceCase
from claimflow.settings import Settings
from domain.vocabulary import Role
from tests.security.logcapture import captured_logs
from tests.security.users import signed_in
from tests.support.claims import wang_opening

PHONE = "13800138000"
AGENT_PHONE = "13911112222"
PERSONAL = [
    OPENING["policyholder"]["name"],  # Mr. Wang
    PHONE,
    AGENT_PHONE,
    OPENING["policy"]["policy_number"],
    OPENING["incident"]["diagnosis"],  # cerebral infarction
    OPENING["incident"]["hospital"],  # Beijing Jishuitan Hospital
    "Jishuitan",
]


def _token_parts(authorization: str) -> list[str]:
    """The token, and pieces of it long enough to tell it (a truncated token leaks too)."""
    token = authorization.removeprefix("Bearer ").strip()
    parts = [token, token[:24]]
    if token.count(".") == 2:
        _, payload, signature = token.split(".")
        parts += [payload[:16], signature[:16]] if payload and signature else []
    return [p for p in parts if len(p) >= 12]


async def _as_served(api: httpx.AsyncClient, method: str, url: str, **kw: Any) -> int:
    """The answer's status; an exception the app raises is logged as uvicorn logs it (the
    in-process transport hands it to the test instead) and counts as a 500."""
    try:
        return (await api.request(method, url, **kw)).status_code
    except Exception:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application\n")
        return 500


def _leaks(text: str, secrets: list[str]) -> list[str]:
    lower = text.lower()
    return [s for s in PERSONAL + secrets if s.lower() in lower]


async def test_no_personal_data_or_token_reaches_the_logs(
    api: httpx.AsyncClient, settings: Settings
):
    assert settings.auth_secret is not None
    secret = settings.auth_secret.get_secret_value()
    consultant = await signed_in(api, settings, CONSULTANT, Role.CONSULTANT)
    agent = await signed_in(api, settings, AGENT, Role.FIELD_AGENT, "Beijing")
    other_secret = issue_token("another-secret-entirely-0123456789abc",
                               Principal(user_id="mallory", role=Role.ADMIN), timedelta(hours=1))
    expired = issue_token(secret, Principal(user_id="old", role=Role.ADMIN), timedelta(hours=-1))
    no_role = jwt.encode({"sub": "x", "exp": 4102444800}, secret, algorithm="HS256")
    bad_tokens = [other_secret, expired, no_role, expired[:-10], "not-a-token-at-all-XYZ123"]
    tokens: list[str] = []
    for header in (api.headers["Authorization"], consultant["Authorization"],
                   agent["Authorization"]):
        tokens += _token_parts(header)
    for t in bad_tokens:
        tokens += _token_parts(t)

    with_phone: dict[str, Any] = wang_opening(
        policyholder={**OPENING["policyholder"], "phone": PHONE}
    )
    with captured_logs() as logs:
        # The lifecycle, with the agent's phone on record.
        case = ReferenceCase(api, signed_in={CONSULTANT: consultant, AGENT: agent})
        r = await api.put(f"/field-agents/{AGENT}",
                          json={"name": "Xiao Zheng", "city": "Beijing", "phone": AGENT_PHONE})
        assert r.status_code == 200, r.text
        await case.run()
        r = await api.post("/claims", json=with_phone, headers={
            "Idempotency-Key": f"sec-{uuid.uuid4()}", **consultant})
        assert r.status_code == 201, r.text

        # Bodies refused: a field out of range, unknown fields, text that cannot be stored
        # or encoded (a lone surrogate, which used to be a 500 with the body in its locals).
        refused = [
            wang_opening(policyholder={**with_phone["policyholder"], "age": 500}),
            {**with_phone, "unexpected": "field"},
            wang_opening(incident={**OPENING["incident"], "description": "bad \ud800 text"}),
            wang_opening(incident={**OPENING["incident"], "hospital": "nul \x00 byte"}),
        ]
        for body in refused:
            status = await _as_served(
                api, "POST", "/claims",
                content=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", **consultant,
                         "Idempotency-Key": f"sec-{uuid.uuid4()}"},
            )
            assert status >= 400, status
        r = await api.put(f"/field-agents/{AGENT}",
                          json={"name": "Xiao Zheng", "city": "Beijing", "phone": "9" * 500})
        assert r.status_code == 422, r.text
        r = await api.post(f"/claims/{case.claim_id}/notes",
                           json={"author": CONSULTANT, "text": f"call {PHONE}", "extra": 1},
                           headers=consultant)
        assert r.status_code == 422, r.text

        # Bad tokens, in the header and as a form of sign-in.
        for t in bad_tokens:
            for header in (f"Bearer {t}", t, f"bearer {t} extra"):
                r = await api.get("/claims", headers={"Authorization": header})
                assert r.status_code == 401, r.text
        r = await api.post("/auth/token", data={"username": "admin", "password": "wrong-pw-123"})
        assert r.status_code in (401, 422), r.text

    text = logs.getvalue()
    assert "claim_opened" in text  # the capture saw the API's lines ...
    assert "claim_projected" in text  # ... and the worker's
    assert case.claim_id in text  # ids are logged
    leaks = _leaks(text, tokens + ["wrong-pw-123"])
    assert not leaks, (leaks, text[:5000])


def test_the_redaction_rule_holds_for_any_line():
    """The rule at its one place, for lines written by us and by libraries."""
    token = issue_token("s" * 32, Principal(user_id="u", role=Role.ADMIN), timedelta(hours=1))
    with captured_logs() as logs:
        structlog.get_logger("tests.security").warning(
            "request_refused",
            claim_id="CLM-1",
            body={"policyholder": {"name": "Mr. Wang", "phone": PHONE}},
            authorization=f"Bearer {token}",
            detail=[{"loc": ["body", "policy_number"], "input": "P-2019-000123"}],
            error=f"token {token[:20]}... was cut, policy_number=P-2019-000123",
            hospital="Beijing Jishuitan Hospital",
        )
        logging.getLogger("some.library").warning(
            "failed for {'name': 'Mr. Wang', 'diagnosis': 'cerebral infarction'} with Bearer %s",
            token,
        )
        logging.getLogger("pydantic.like").error(
            "1 validation error\nname\n  Too long [type=too_long, "
            "input_value='Mr. Wang, 13800138000', input_type=str]"
        )
    text = logs.getvalue()
    assert "CLM-1" in text and "request_refused" in text
    assert text.count("[redacted]") >= 6
    assert not _leaks(text, _token_parts(token) + [token[:20]]), text
