"""Who may do what: every route of the API against every kind of caller.

Each route has a row saying who may call it. The test fails when a route has no row, so a new
route cannot ship without deciding who may use it. Forbidden calls get 401 (no or bad token)
or 403 (wrong role, not their claim or task) and change nothing; allowed calls pass the door
(their answer is whatever the request deserves: 200, 404, 409, 422 ...).
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from api.app import create_app
from claimflow.reference_case import AGENT, CONSULTANT, ReferenceCase
from claimflow.settings import Settings
from domain.vocabulary import Role
from tests.support.claims import bearer, wang_opening

CALLERS = {
    "owner_consultant": (CONSULTANT, Role.CONSULTANT, None),
    "other_consultant": ("xiao.li", Role.CONSULTANT, None),
    "owner_agent": (AGENT, Role.FIELD_AGENT, "Beijing"),
    "other_agent": ("xiao.wu", Role.FIELD_AGENT, "Beijing"),
    "manager": ("manager.zhao", Role.MANAGER, None),
    "admin": ("admin", Role.ADMIN, None),
}
EVERYONE = set(CALLERS)
OVERSEERS = {"manager", "admin"}
WORKS_THE_CLAIM = {"owner_consultant", "owner_agent"} | OVERSEERS
PUBLIC = "public"

# (method, path) -> who may pass the door. {claim}, {task}, {agent_task} are filled in.
ACCESS: dict[tuple[str, str], set[str] | str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("POST", "/auth/token"): PUBLIC,
    ("POST", "/insurer/webhook"): PUBLIC,  # HMAC-signed instead, see test_branches
    ("GET", "/auth/me"): EVERYONE,
    ("POST", "/codec/decode"): {"admin"},
    ("POST", "/codec/encode"): {"admin"},
    ("PUT", "/users/{user_id}"): {"admin"},
    ("GET", "/users"): {"admin"},
    ("POST", "/claims"): EVERYONE - {"owner_agent", "other_agent"},
    ("GET", "/claims"): EVERYONE,
    ("GET", "/claims/{claim_id}"): WORKS_THE_CLAIM,
    ("GET", "/claims/{claim_id}/timeline"): WORKS_THE_CLAIM,
    ("GET", "/claims/{claim_id}/checklist"): WORKS_THE_CLAIM,
    ("GET", "/claims/{claim_id}/notifications"): WORKS_THE_CLAIM,
    ("POST", "/claims/{claim_id}/checklist"): WORKS_THE_CLAIM,
    ("POST", "/claims/{claim_id}/notes"): WORKS_THE_CLAIM,
    ("POST", "/claims/{claim_id}/withdraw"): WORKS_THE_CLAIM,
    ("POST", "/claims/{claim_id}/pause"): WORKS_THE_CLAIM,
    ("POST", "/claims/{claim_id}/resume"): WORKS_THE_CLAIM,
    ("GET", "/tasks"): EVERYONE,
    ("GET", "/tasks/{task_id}"): WORKS_THE_CLAIM,
    ("POST", "/tasks/{task_id}/complete"): {"owner_agent"} | OVERSEERS,
    ("POST", "/tasks/{task_id}/reassign"): OVERSEERS,
    ("PATCH", "/tasks/{task_id}"): OVERSEERS,
    ("POST", "/tasks/bulk-reassign"): OVERSEERS,
    ("PUT", "/field-agents/{agent_id}"): OVERSEERS,
    ("GET", "/field-agents"): EVERYONE,
    ("GET", "/field-agents/{agent_id}"): EVERYONE,
    ("GET", "/figures"): OVERSEERS,
    ("POST", "/views"): OVERSEERS,
    ("GET", "/views"): OVERSEERS,
    ("GET", "/views/{view_id}"): OVERSEERS,
    ("DELETE", "/views/{view_id}"): OVERSEERS,
    ("GET", "/views/{view_id}/claims"): OVERSEERS,
    ("GET", "/inbox"): EVERYONE,
    # The policyholder's progress link: sent by the claim's consultant (or a manager), read by
    # whoever holds it (signed and expiring instead of a sign-in, see test_progress).
    ("POST", "/claims/{claim_id}/progress-link"): {"owner_consultant"} | OVERSEERS,
    ("GET", "/progress/{token}"): PUBLIC,
}


def _routes(app: Any) -> set[tuple[str, str]]:
    """Every documented operation (the OpenAPI schema lists included routers' routes too)."""
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }


def test_every_route_says_who_may_call_it(settings: Settings):
    app = create_app(settings)
    assert _routes(app) == set(ACCESS), "add the new routes to ACCESS (and remove gone ones)"


def _request(method: str, path: str, caller: str, ids: dict[str, str]) -> dict[str, Any]:
    """A well-formed request in the caller's name, so only the door can refuse it."""
    who = CALLERS.get(caller, ("nobody",))[0]
    url = path.format(
        claim_id=ids["claim"], task_id=ids["agent_task"], agent_id=AGENT,
        user_id="someone", view_id="no-such-view",
    )
    bodies: dict[tuple[str, str], Any] = {
        ("PUT", "/users/{user_id}"): {"name": "X", "role": "consultant", "password": "p" * 12},
        ("POST", "/claims"): wang_opening(),
        ("POST", "/claims/{claim_id}/checklist"): {"items": [], "recorded_by": who},
        ("POST", "/claims/{claim_id}/notes"): {"author": who, "text": "a note"},
        # Withdrawing for real would close the claim for the next caller: a reason too long
        # is refused by validation, after the door.
        ("POST", "/claims/{claim_id}/withdraw"): {"recorded_by": who, "reason": "x" * 5000},
        ("POST", "/claims/{claim_id}/pause"): {"paused_by": who, "reason": "x" * 5000},
        ("POST", "/claims/{claim_id}/resume"): {"resumed_by": who},
        ("POST", "/tasks/{task_id}/complete"): {
            "completed_by": who, "outcome": {"kind": "triage", "liability": "not_covered",
                                             "explanation": "wrong kind of task"}},
        ("POST", "/tasks/{task_id}/reassign"): {"assignee": AGENT, "reassigned_by": who},
        ("PATCH", "/tasks/{task_id}"): {"changed_by": who, "priority": "normal"},
        ("POST", "/tasks/bulk-reassign"): {"task_ids": [ids["agent_task"]], "assignee": AGENT,
                                           "reassigned_by": who},
        ("PUT", "/field-agents/{agent_id}"): {"name": "Xiao Zheng", "city": "Beijing"},
        ("POST", "/views"): {"team": "t", "name": f"v-{uuid.uuid4()}", "created_by": who,
                             "filters": {}},
        ("POST", "/auth/token"): None,
        ("POST", "/codec/decode"): {"payloads": []},
        ("POST", "/codec/encode"): {"payloads": []},
    }
    kw: dict[str, Any] = {}
    if (method, path) in bodies and bodies[(method, path)] is not None:
        kw["json"] = bodies[(method, path)]
    if (method, path) == ("POST", "/claims"):
        kw["headers"] = {"Idempotency-Key": f"access-{uuid.uuid4()}"}
        kw["params"] = {"confirmed_new": "true"}  # Mr. Wang's case is open already
    return {"method": method, "url": url, **kw}


@pytest.fixture
async def claim_ids(api: httpx.AsyncClient, settings: Settings) -> dict[str, str]:
    """Mr. Wang's claim, worked by Xiao Gao and dispatched to Xiao Zheng, gathering."""
    case = ReferenceCase(api)
    await case.register_agent()
    await case.return_visit_opens_case()
    await case.xiao_gao_triages()
    await case.xiao_zheng_accepts()
    gather = await case.task("gather_documents")
    return {"claim": case.claim_id, "agent_task": gather["task_id"]}


async def _state(pool: asyncpg.Pool, claim_id: str) -> tuple:
    return (
        await pool.fetchval("SELECT version FROM claims WHERE claim_id=$1", claim_id),
        await pool.fetchval("SELECT count(*) FROM timeline WHERE claim_id=$1", claim_id),
        await pool.fetchval("SELECT count(*) FROM claims"),
        await pool.fetchval("SELECT count(*) FROM users"),
        await pool.fetchval("SELECT count(*) FROM saved_views"),
    )


async def test_the_whole_matrix(api: httpx.AsyncClient, settings: Settings, pool, claim_ids):
    refused: list[str] = []
    for (method, path), allowed in sorted(ACCESS.items()):
        if allowed == PUBLIC:
            continue
        # No token, and a token signed with another secret: 401.
        for headers in ({"Authorization": ""}, {"Authorization": "Bearer not-a-token"},
                        bearer(settings.model_copy(update={"auth_secret": SecretStr("another-secret-that-is-long-enough-0123456789")}))):
            before = await _state(pool, claim_ids["claim"])
            req = _request(method, path, "nobody", claim_ids)
            req["headers"] = {**req.get("headers", {}), **headers}
            r = await api.request(**req)
            assert r.status_code == 401, f"{method} {path} without a valid token: {r.status_code}"
            assert await _state(pool, claim_ids["claim"]) == before
        for caller, (user_id, role, city) in CALLERS.items():
            req = _request(method, path, caller, claim_ids)
            headers = {**req.pop("headers", {}), **bearer(settings, user_id, role, city)}
            before = await _state(pool, claim_ids["claim"])
            r = await api.request(**req, headers=headers)
            if caller in allowed:
                assert r.status_code not in (401, 403), f"{caller} {method} {path}: {r.text}"
            else:
                assert r.status_code == 403, f"{caller} {method} {path}: {r.status_code} {r.text}"
                assert await _state(pool, claim_ids["claim"]) == before, f"{caller} {method} {path}"
                refused.append(f"{caller} {method} {path}")
    assert len(refused) > 40  # the matrix really refuses, it is not all open


async def test_acting_in_someone_elses_name_is_refused(api, settings, claim_ids):
    as_agent = bearer(settings, AGENT, Role.FIELD_AGENT, "Beijing")
    r = await api.post(f"/claims/{claim_ids['claim']}/notes",
                       json={"author": CONSULTANT, "text": "not me"}, headers=as_agent)
    assert r.status_code == 403
    r = await api.get("/claims", params={"consultant": "xiao.li"},
                      headers=bearer(settings, CONSULTANT, Role.CONSULTANT))
    assert r.status_code == 403
    mine = await api.get("/claims", headers=bearer(settings, CONSULTANT, Role.CONSULTANT))
    assert [c["claim_id"] for c in mine.json()["items"]] == [claim_ids["claim"]]
    theirs = await api.get("/claims", headers=bearer(settings, "xiao.li", Role.CONSULTANT))
    assert theirs.json()["items"] == []
    inbox = await api.get("/tasks", headers=as_agent)
    assert [t["task_id"] for t in inbox.json()["items"]] == [claim_ids["agent_task"]]


async def test_sign_in_with_a_password(api: httpx.AsyncClient, pool):
    # A user of its own: it is disabled at the end, and users outlive a test.
    r = await api.put("/users/xiao.sun", json={
        "name": "Xiao Sun", "role": "consultant", "password": "correct horse battery"})
    assert r.status_code == 200, r.text
    hashed = await pool.fetchval("SELECT password_hash FROM users WHERE user_id='xiao.sun'")
    assert hashed.startswith("$argon2id$") and "correct" not in hashed

    anonymous = {"Authorization": ""}
    r = await api.post("/auth/token", data={"username": "xiao.sun", "password": "wrong one!"},
                       headers=anonymous)
    assert r.status_code == 401
    r = await api.post("/auth/token", data={"username": "nobody", "password": "whatever12"},
                       headers=anonymous)
    assert r.status_code == 401
    r = await api.post("/auth/token",
                       data={"username": "xiao.sun", "password": "correct horse battery"},
                       headers=anonymous)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    me = await api.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json() == {"user_id": "xiao.sun", "role": "consultant", "city": None}

    await pool.execute("UPDATE users SET active=false WHERE user_id='xiao.sun'")
    r = await api.post("/auth/token",
                       data={"username": "xiao.sun", "password": "correct horse battery"},
                       headers=anonymous)
    assert r.status_code == 401
