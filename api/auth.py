"""Who is calling, and what they may do.

Sign-in with a user id and password gives a standard bearer token (JWT, HS256, expiring).
Every route states what it needs: `CurrentUser` (any signed-in user) or `Manager` (manager or
admin). Ownership is checked against the read model: a field agent acts on his own tasks and
the claims he is dispatched to, a consultant on his queue and his claims, a manager on all.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated

import asyncpg
import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel

from domain.models import Task
from domain.vocabulary import Role
from store import access

ALGORITHM = "HS256"
OVERSEERS = frozenset({Role.MANAGER, Role.ADMIN})


class Principal(BaseModel):
    user_id: str
    role: Role
    city: str | None = None

    @property
    def oversees(self) -> bool:
        """Managers and admins see and act on every claim."""
        return self.role in OVERSEERS


def issue_token(secret: str, who: Principal, ttl: timedelta) -> str:
    now = datetime.now(timezone.utc)
    claims = {"sub": who.user_id, "role": who.role.value, "city": who.city, "iat": now,
              "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


_bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


async def _current_user(
    request: Request,
    token: Annotated[str | None, Depends(_bearer)],
) -> Principal:
    if token is None:
        raise _unauthorized("sign in: Authorization: Bearer <token>")
    secret = request.app.state.settings.auth_secret
    if secret is None:
        raise _unauthorized("sign-in is not configured")
    try:
        claims = jwt.decode(
            token,
            secret.get_secret_value(),
            algorithms=[ALGORITHM],
            options={"require": ["sub", "role", "exp"]},
        )
        return Principal(user_id=claims["sub"], role=Role(claims["role"]), city=claims.get("city"))
    except (jwt.PyJWTError, ValueError) as exc:
        raise _unauthorized(f"invalid token: {exc}") from exc


def forbidden(detail: str) -> HTTPException:
    return HTTPException(status_code=403, detail=detail)


async def _manager(user: Annotated[Principal, Depends(_current_user)]) -> Principal:
    if not user.oversees:
        raise forbidden("managers only")
    return user


async def _admin(user: Annotated[Principal, Depends(_current_user)]) -> Principal:
    if user.role is not Role.ADMIN:
        raise forbidden("admins only")
    return user


async def _opener(user: Annotated[Principal, Depends(_current_user)]) -> Principal:
    if user.role is Role.FIELD_AGENT:
        raise forbidden("claims are opened by consultants and managers")
    return user


CurrentUser = Annotated[Principal, Depends(_current_user)]
require_user = _current_user
require_manager = _manager
Manager = Annotated[Principal, Depends(_manager)]
Admin = Annotated[Principal, Depends(_admin)]
Opener = Annotated[Principal, Depends(_opener)]


# --- ownership --------------------------------------------------------------------------


async def check_claim_access(pool: asyncpg.Pool, user: Principal, claim_id: str) -> None:
    """403 unless the user works this claim; a claim not (yet) in the read model is 404
    for everyone but managers, so its existence is not leaked."""
    if user.oversees:
        return
    row = await pool.fetchrow(
        """
        SELECT consultant, field_agent,
               EXISTS (SELECT 1 FROM tasks WHERE claim_id = $1 AND assignee = $2) AS has_task
          FROM claims WHERE claim_id = $1
        """,
        claim_id,
        user.user_id,
    )
    if row is None:
        raise HTTPException(status_code=404, detail=f"no claim {claim_id}")
    mine = (
        row["has_task"]
        or (user.role is Role.CONSULTANT and row["consultant"] == user.user_id)
        or (user.role is Role.FIELD_AGENT and row["field_agent"] == user.user_id)
    )
    if not mine:
        raise forbidden("not one of your claims")


async def task_for(pool: asyncpg.Pool, user: Principal, task_id: str, *, to_act: bool) -> Task:
    """The task, if the user may see it (or, with `to_act`, complete it): the task and the
    user's standing on its claim come in one query, and the rules are those of
    `check_claim_access` (seeing: his own task, or a task of a claim he works) and
    `check_task_access` (acting: his own task, or an unassigned one of his role on a claim he
    works). 404 for no such task."""
    found = await access.task_for_actor(pool, task_id, user.user_id, user.role.value)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no task {task_id}")
    task = found.task
    if user.oversees or task.assignee == user.user_id:
        return task
    if not found.claim_known:
        raise HTTPException(status_code=404, detail=f"no claim {task.claim_id}")
    if not found.works_claim:
        raise forbidden("not one of your claims")
    if to_act:
        check_task_access(user, task)
    return task


def check_task_access(user: Principal, task: Task) -> None:
    """A task is acted on by its assignee; an unassigned one by anyone of its role."""
    if user.oversees:
        return
    if task.assignee == user.user_id:
        return
    if task.assignee is None and task.role is user.role:
        return
    raise forbidden("not your task")


def check_acting_as(user: Principal, name: str) -> None:
    """People record actions in their own name; managers may record on someone's behalf."""
    if not user.oversees and name != user.user_id:
        raise forbidden(f"you are {user.user_id}, not {name}")
