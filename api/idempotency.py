"""Idempotency-Key on every request that creates or changes something.

A client that did not hear the answer (a phone in a lift, a timeout) sends the request again
with the same key: it gets the first answer, and nothing happens twice. The same key with
another body is a mistake: 409. Keys belong to the signed-in user and are kept 24 hours.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Awaitable, Callable

import asyncpg
import jwt
import structlog
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.middleware.base import BaseHTTPMiddleware

from api.auth import ALGORITHM
from api.errors import UNAVAILABLE, UNSTORABLE_TEXT, database_unavailable
from store import idempotency
from store.db import create_pool

log = structlog.get_logger(__name__)

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
        path = request.url.path
        if "\x00" in path:  # PostgreSQL cannot hold it: the route refuses it, nothing to keep
            return await call_next(request)
        response: Response | None = None
        try:
            # Inside the try: a database that cannot be reached to create the pool is the
            # same outage as one that goes away mid-request.
            pool = await _pool(request)
            async with idempotency.taking(
                pool, user_id, key, request.method, path, digest
            ) as held:
                if isinstance(held, idempotency.Stored):
                    if held.body_sha256 != digest:
                        return _problem(409, "this Idempotency-Key was used with another request")
                    return JSONResponse(
                        held.response,
                        status_code=held.status_code,
                        headers={"Idempotent-Replayed": "true"},
                    )
                response = await call_next(request)
                if response.status_code >= 500:
                    return response  # not kept: a retry runs afresh
                content = b"".join([c async for c in response.body_iterator])  # type: ignore[attr-defined]
                response = Response(
                    content=content,
                    status_code=response.status_code,
                    headers=dict(response.headers),
                    media_type=response.media_type,
                )
                try:
                    payload = json.loads(content) if content else None
                except ValueError:
                    payload = None
                try:
                    await held.keep(response.status_code, payload)
                except UNSTORABLE_TEXT:
                    # An answer PostgreSQL cannot hold echoes a NUL the request sent: a
                    # refusal that changed nothing. Not kept: a retry gets the same refusal.
                    pass
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, *UNAVAILABLE) as exc:
            if response is None:
                # The database failed before the work: nothing was done, retry. Answered
                # here: this middleware runs outside the app's exception handlers.
                log.warning("idempotency_database_unavailable", error=type(exc).__name__)
                return database_unavailable()
            # The work is done but its answer could not be kept (the database went away):
            # the caller still gets it; a retry runs afresh, and finds the change made.
            log.warning("idempotency_answer_not_kept", key=key, error=str(exc))
        if random.random() < 0.01:  # now and then, forget keys past their day
            try:
                await idempotency.forget_old(pool)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("idempotency_keys_not_forgotten", error=type(exc).__name__)
        assert response is not None
        return response


async def _pool(request: Request) -> asyncpg.Pool:
    """Keys hold a connection while their request runs: a pool of their own, so that they
    can never take every connection the routes need."""
    state = request.app.state
    if getattr(state, "idempotency_lock", None) is None:
        state.idempotency_lock = asyncio.Lock()
    async with state.idempotency_lock:
        if getattr(state, "idempotency_pool", None) is None:
            settings = state.settings
            if not settings.database_url:
                raise RuntimeError("DATABASE_URL is not set")
            state.idempotency_pool = await create_pool(
                settings.database_url, min_size=0, max_size=settings.idempotency_pool_max
            )
    return state.idempotency_pool


async def close_idempotency_pool(app: object) -> None:
    pool = getattr(app.state, "idempotency_pool", None)  # type: ignore[attr-defined]
    if pool is not None:
        app.state.idempotency_pool = None  # type: ignore[attr-defined]
        await pool.close()


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
