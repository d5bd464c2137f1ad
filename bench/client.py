"""The one place the benchmark makes HTTP requests: every request goes through `api_client`,
and every request's identity through `auth_headers`.

`api_client` spreads requests over one or more API processes, round robin per request (the
way a load balancer in front of several API replicas would), and counts how many each got.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import lru_cache
from typing import Any

import httpx

AUTH_SECRET = secrets.token_urlsafe(32)
"""The sign-in secret of every API process the benchmark starts (CLAIMFLOW_AUTH_SECRET)."""

MANAGER = "bench.manager"


@lru_cache(maxsize=256)
def _token(user_id: str, role: str, city: str | None) -> str:
    from api.auth import Principal, issue_token
    from domain.vocabulary import Role

    who = Principal(user_id=user_id, role=Role(role), city=city)
    return issue_token(AUTH_SECRET, who, timedelta(hours=12))


def auth_headers(user_id: str = MANAGER, role: str = "manager", city: str | None = None) -> dict[str, str]:
    """The headers that make a request as this person: the one place authentication lives.

    Tokens are minted with the deployment's shared secret (as `/auth/token` would after a
    password sign-in), so no passwords are needed; the API reads each caller's current state
    from the users table, so the person must be one of `PEOPLE` (`add_people`)."""
    return {"Authorization": f"Bearer {_token(user_id, role, city)}"}


def people() -> list[tuple[str, str, str | None]]:
    """Everyone the benchmark acts as: (user id, role, city)."""
    from claimflow.reference_case import AGENT, CONSULTANT

    return [(MANAGER, "manager", None), (CONSULTANT, "consultant", None),
            (AGENT, "field_agent", "Beijing")]


async def add_people(dsn: str) -> None:
    """Put the benchmark's people in the users table (active; a password nobody knows)."""
    from domain.vocabulary import Role
    from store import users
    from store.db import create_pool

    pool = await create_pool(dsn, max_size=1)
    try:
        for user_id, role, city in people():
            await users.upsert(pool, user_id, name=user_id, role=Role(role), city=city,
                               password=secrets.token_urlsafe(24))
    finally:
        await pool.close()


class Spread(httpx.AsyncBaseTransport):
    """Sends each request to the next API process in turn; one connection pool for all."""

    def __init__(self, urls: list[str], limits: httpx.Limits) -> None:
        if not urls:
            raise ValueError("no API URL")
        self.targets = [httpx.URL(u) for u in urls]
        self.counts = [0] * len(urls)
        self._n = 0
        self._transport = httpx.AsyncHTTPTransport(limits=limits, retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        i = self._n % len(self.targets)
        self._n += 1
        self.counts[i] += 1
        t = self.targets[i]
        request.url = request.url.copy_with(scheme=t.scheme, host=t.host, port=t.port)
        request.headers["Host"] = f"{t.host}:{t.port}"
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self._transport.aclose()


def api_client(
    urls: list[str] | str, *, connections: int = 100, timeout: float = 120, **kw: Any
) -> httpx.AsyncClient:
    """An HTTP client for the claimflow API at `urls` (requests spread over all of them).

    Requests carry a manager's credentials unless they pass their own `auth_headers(...)`.
    Changes answer with the claim's step only (`Prefer: return=minimal`): a client going
    through a case needs where it stands and its open tasks, not the whole claim each time."""
    spread = Spread(
        [urls] if isinstance(urls, str) else list(urls),
        httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )
    return httpx.AsyncClient(
        base_url="http://claimflow.bench",
        transport=spread,
        timeout=timeout,
        headers={**auth_headers(), "Prefer": "return=minimal"},
        **kw,
    )


def spread_counts(http: httpx.AsyncClient) -> list[int]:
    """How many requests each API process got through this client."""
    transport = http._transport  # noqa: SLF001 - our own transport
    return list(transport.counts) if isinstance(transport, Spread) else []
