"""Signed-in callers for the security tests: each is a user on record (so a token is honoured
whether the API trusts the token's role or reads the caller's current state)."""

from __future__ import annotations

import httpx

from claimflow.settings import Settings
from domain.vocabulary import Role
from tests.support.claims import bearer


async def signed_in(
    api: httpx.AsyncClient, settings: Settings, user_id: str, role: Role, city: str | None = None
) -> dict[str, str]:
    """Registers the user (through the admin's client) and returns his Authorization header."""
    r = await api.put(
        f"/users/{user_id}",
        json={"name": user_id, "role": role.value, "city": city, "password": "p" * 12},
    )
    assert r.status_code == 200, r.text
    return bearer(settings, user_id, role, city)
