"""Idempotency-Key on every request that creates or changes something.

A client that did not hear the answer (a phone in a lift, a timeout) sends the request again
with the same key: it gets the first answer, and nothing happens twice. The same key with
another body is a mistake: 409. Keys belong to the signed-in user and are kept 24 hours.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Awaitable, Callable

import jwt
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.middleware.base import BaseHTTPMiddleware

from api.auth import ALGORITHM
from store import idempotency

CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Sign-in changes nothing; the insurer's webhook has its own replay protection.
EXEMPT = frozenset({"/auth/token", "/insurer/webhook"})


class IdempotencyMiddleware(BaseHTTPMiddleware):
    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        key = request.headers.get("idempotency-key")
        if not key or request.method not in CHANGES or request.url.path in EXEMPT:
            return await call_next(request)
        if not 8 <= len(key) <= 128:
            return _problem(422, "Idempotency-Key must have 8 to 128 characters")
        user_id = _user_id(request)
        if user_id is None:  # the route itself answers 401
            return await call_next(request)

        body = await request.body()
        digest = hashlib.sha256(
            request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
        ).hexdigest()
        pool = request.app.state.claims.pool
        stored = await idempotency.claim(
            pool, user_id, key, request.method, request.url.path, digest
        )
        if stored is not None:
            if stored.body_sha256 != digest:
                return _problem(409, "this Idempotency-Key was used with another request")
            if stored.status_code is None:
                return _problem(409, "a request with this Idempotency-Key is in progress")
            return JSONResponse(
                stored.response, status_code=stored.status_code,
                headers={"Idempotent-Replayed": "true"},
            )

        try:
            response = await call_next(request)
        except Exception:
            await idempotency.release(pool, user_id, key)
            raise
        if response.status_code >= 500:
            await idempotency.release(pool, user_id, key)
            return response
        content = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
        try:
            payload = json.loads(content) if content else None
        except ValueError:
            payload = None
        await idempotency.store(pool, user_id, key, response.status_code, payload)
        if random.random() < 0.01:  # now and then, forget keys past their day
            await idempotency.forget_old(pool)
        return Response(
            content=content,
            status_code=response.status_code,
            headers=dict(response.headers),
            media_type=response.media_type,
        )


def _user_id(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    secret = request.app.state.settings.auth_secret
    if not auth.lower().startswith("bearer ") or secret is None:
        return None
    try:
        claims = jwt.decode(auth[7:], secret.get_secret_value(), algorithms=[ALGORITHM])
    except jwt.PyJWTError:
        return None
    return str(claims.get("sub")) if claims.get("sub") else None


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)
