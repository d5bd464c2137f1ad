"""Who is calling, and what they may do.

Sign-in with a user id and password gives a standard bearer token (JWT, HS256, expiring).
The token says only who is calling: every request reads the caller's current state (active,
role, city) from the users table, so a disabled user's next request is 401 and a demoted
one's has his new role. Every route states what it needs: `CurrentUser` (any signed-in user)
or `Manager` (manager or admin). Ownership is checked against the read model: a field agent
acts on his own tasks and the claims he is dispatched to, a consultant on his queue and his
claims, a manager on all (who works a claim is defined once, in `store/access.py`).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated

import asyncpg
import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel

from api.claims_client import ClaimError
from domain.models import Task
from domain.vocabulary import Role, TaskStatus
from store import access
from workflows.errors import Rejection

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


class Signed(BaseModel):
    """Who a valid token says is calling: only his user id is taken from it. What he may do
    (whether he is still active, his role, his city) is read from the users table on every
    request, so disabling or demoting someone takes effect on his next request."""

    user_id: str


async def _signed(
    request: Request,
    token: Annotated[str | None, Depends(_bearer)],
) -> Signed:
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
        signed = Signed(user_id=claims["sub"])
    except (jwt.PyJWTError, ValueError) as exc:
        raise _unauthorized(f"invalid token: {exc}") from exc
    request.state.user_id = signed.user_id  # for the request's access log line
    return signed


def _no_longer() -> HTTPException:
    return _unauthorized("no such user, or the account is disabled: sign in again")


def _principal(caller: access.Caller | None) -> Principal:
    if caller is None:
        raise _no_longer()
    return Principal(user_id=caller.user_id, role=caller.role, city=caller.city)


async def _current_user(request: Request, signed: Annotated[Signed, Depends(_signed)]) -> Principal:
    """The caller as he is now: one primary-key lookup in `users`; 401 if he is not there or
    disabled (the role and city in his token are not trusted)."""
    pool = request.app.state.claims.pool
    return _principal(await access.current_caller(pool, signed.user_id))


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
SignedIn = Annotated[Signed, Depends(_signed)]
"""A valid token, not yet checked against `users`: for routes whose one query does that
(`caller_and_task`), so the completion path makes one round trip."""
require_user = _current_user
require_manager = _manager
Manager = Annotated[Principal, Depends(_manager)]
Admin = Annotated[Principal, Depends(_admin)]
Opener = Annotated[Principal, Depends(_opener)]


# --- ownership --------------------------------------------------------------------------


async def check_claim_access(pool: asyncpg.Pool, user: Principal, claim_id: str) -> None:
    """403 unless the user works this claim (`store.access`: his current part in it); a
    claim not (yet) in the read model is 404 for everyone but managers, so its existence is
    not leaked. `user` is the caller as he is now (`CurrentUser`)."""
    if user.oversees:
        return
    works = await access.claim_standing(
        pool, claim_id, access.Caller(user.user_id, user.role, user.city)
    )
    if works is None:
        raise HTTPException(status_code=404, detail=f"no claim {claim_id}")
    if not works:
        raise forbidden("not one of your claims")


async def caller_and_task(
    pool: asyncpg.Pool, user: Signed | Principal, task_id: str, *, to_act: bool
) -> tuple[Principal, Task]:
    """The caller as he is now and the task, if he may see it (or, with `to_act`, complete
    it), in one query: his current state from `users` (401 if gone or disabled), the task
    and his standing on its claim. The rules are those of `check_claim_access` (seeing: his
    own open task, or a task of a claim he works) and `check_task_access` (acting: his own
    task, or an unassigned one of his role, on a claim he works). 404 for no such task. Only the
    user id of `user` is used: his role is the one he has now."""
    found = await access.task_for_actor(pool, task_id, user.user_id)
    who = _principal(found.caller)
    task = found.task
    if task is None:  # the answer the workflow gives for a task it does not have
        raise ClaimError(Rejection.TASK_NOT_FOUND, f"no task {task_id}")
    if who.oversees or (_holds(who, task) and task.status is TaskStatus.OPEN):
        return who, task  # an open task of his is a part in its claim (`store.access`)
    if not found.claim_known:
        raise HTTPException(status_code=404, detail=f"no claim {task.claim_id}")
    if not found.works_claim:
        raise forbidden("not one of your claims")
    if to_act:
        check_task_access(who, task)
    return who, task


async def task_for(
    pool: asyncpg.Pool, user: Signed | Principal, task_id: str, *, to_act: bool
) -> Task:
    """The task, if the caller may see it (or act on it): `caller_and_task`."""
    return (await caller_and_task(pool, user, task_id, to_act=to_act))[1]


def _holds(user: Principal, task: Task) -> bool:
    """His own task: assigned to him, and of the role he holds now."""
    return task.assignee == user.user_id and task.role is user.role


def check_task_access(user: Principal, task: Task) -> None:
    """A task is acted on by its assignee; an unassigned one by anyone of its role."""
    if user.oversees:
        return
    if _holds(user, task):
        return
    if task.assignee is None and task.role is user.role:
        return
    raise forbidden("not your task")


def check_acting_as(user: Principal, name: str) -> None:
    """People record actions in their own name; managers may record on someone's behalf."""
    if not user.oversees and name != user.user_id:
        raise forbidden(f"you are {user.user_id}, not {name}")
