"""Sign-in, and the users of the back office (admins manage them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from api.auth import Admin, CurrentUser, Principal, issue_token
from api.deps import PoolDep, SettingsDep
from api.exact import Exact
from api.schemas import Problem
from domain.limits import MAX_NAME
from domain.vocabulary import Name, Role, Storable
from store import users

router = APIRouter(tags=["auth"])

UserId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    user_id: str
    role: Role


@router.post(
    "/auth/token", response_model=Token, responses={401: {"model": Problem}, 503: {"model": Problem}}
)
async def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], pool: PoolDep, settings: SettingsDep
) -> Token:
    """OAuth2 password flow: form fields `username` and `password`."""
    if settings.auth_secret is None:
        raise HTTPException(status_code=503, detail="sign-in is not configured")
    user = await users.authenticate(pool, form.username, form.password)
    if user is None:
        raise HTTPException(
            status_code=401, detail="wrong user or password", headers={"WWW-Authenticate": "Bearer"}
        )
    who = Principal(user_id=user.user_id, role=user.role, city=user.city)
    token = issue_token(settings.auth_secret.get_secret_value(), who, settings.auth_token_ttl)
    return Token(
        access_token=token,
        expires_in=int(settings.auth_token_ttl.total_seconds()),
        user_id=user.user_id,
        role=user.role,
    )


@router.get("/auth/me", response_model=Principal)
async def me(user: CurrentUser) -> Principal:
    return user


class UserInput(BaseModel):
    name: Name
    role: Role
    city: Annotated[str, Field(max_length=MAX_NAME), Storable] | None = None
    password: str = Field(min_length=10, max_length=200)
    active: bool = True


class UserOut(BaseModel):
    user_id: str
    name: str
    role: Role
    city: str | None
    active: bool


ADMINS_ONLY = {403: {"model": Problem, "description": "Admins only"}}


@router.put("/users/{user_id}", response_model=UserOut, tags=["users"], responses=ADMINS_ONLY)
async def put_user(user_id: UserId, body: Exact[UserInput], pool: PoolDep, _: Admin) -> UserOut:
    """Create or replace a user (a field agent's user id is his field agent id)."""
    await users.upsert(
        pool, user_id, name=body.name, role=body.role, city=body.city, password=body.password,
        active=body.active,
    )
    return UserOut(user_id=user_id, **body.model_dump(exclude={"password"}))


@router.get("/users", response_model=list[UserOut], tags=["users"], responses=ADMINS_ONLY)
async def list_users(pool: PoolDep, _: Admin) -> list[UserOut]:
    return [
        UserOut(user_id=u.user_id, name=u.name, role=u.role, city=u.city, active=u.active)
        for u in await users.list_users(pool)
    ]
