"""Users and tokens (admin), and ``/me`` for any signed-in user."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from callctl.api.deps import db_pool, require
from callctl.api.errors import ApiError
from callctl.auth import tokens, users
from callctl.auth.principal import Principal
from callctl.auth.roles import Role
from callctl.auth.validation import InvalidUserValueError

router = APIRouter(prefix="/api/v1", tags=["users"])

ANY_ROLE = tuple(Role)


class Me(BaseModel):
    user_id: int
    username: str
    role: Role
    agent_id: str | None
    can_see_numbers: bool


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    role: Role
    display_name: str = Field(default="", max_length=64)
    agent_id: str | None = Field(default=None, max_length=10)
    can_see_numbers: bool = False


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    agent_id: str | None
    can_see_numbers: bool
    created_at: datetime
    disabled_at: datetime | None


class TokenIn(BaseModel):
    label: str = Field(default="", max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$")
    expires_at: datetime | None = None


class TokenOut(BaseModel):
    user_id: int
    token: str = Field(description="shown once; only its hash is stored")


@router.get("/me", response_model=Me)
async def me(principal: Principal = Depends(require(*ANY_ROLE))) -> Me:  # noqa: B008
    return Me(
        user_id=principal.user_id,
        username=principal.username,
        role=principal.role,
        agent_id=principal.agent_id,
        can_see_numbers=principal.can_see_numbers,
    )


def _out(user: users.User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        agent_id=user.agent_id,
        can_see_numbers=user.can_see_numbers,
        created_at=user.created_at,
        disabled_at=user.disabled_at,
    )


@router.get("/users", response_model=list[UserOut])
async def list_users(
    _: Principal = Depends(require(Role.ADMIN)),  # noqa: B008
    pool: Any = Depends(db_pool),  # noqa: B008
) -> list[UserOut]:
    return [_out(u) for u in await users.list_users(pool)]


@router.post("/users", response_model=UserOut, status_code=201)
async def create_user(
    body: UserIn,
    _: Principal = Depends(require(Role.ADMIN)),  # noqa: B008
    pool: Any = Depends(db_pool),  # noqa: B008
) -> UserOut:
    if body.role is Role.AGENT and body.agent_id is None:
        raise ApiError(422, "users.agent_id_required", "an agent user needs an agent_id")
    try:
        user_id = await users.create_user(
            pool,
            body.username,
            body.role,
            agent_id=body.agent_id,
            can_see_numbers=body.can_see_numbers,
            display_name=body.display_name,
        )
    except InvalidUserValueError as exc:
        raise ApiError(422, "users.invalid", str(exc), {"field": exc.field}) from exc
    except users.UserExistsError as exc:
        raise ApiError(409, exc.error_id, str(exc)) from exc
    user = await users.get_user(pool, user_id)
    assert user is not None
    return _out(user)


@router.post("/users/{user_id}/tokens", response_model=TokenOut, status_code=201)
async def issue_token(
    user_id: int,
    body: TokenIn,
    _: Principal = Depends(require(Role.ADMIN)),  # noqa: B008
    pool: Any = Depends(db_pool),  # noqa: B008
) -> TokenOut:
    user = await users.get_user(pool, user_id)
    if user is None or user.disabled_at is not None:
        raise ApiError(404, "users.not_found", f"no active user {user_id}")
    token = await tokens.issue_token(pool, user_id, body.label, expires_at=body.expires_at)
    return TokenOut(user_id=user_id, token=token)


@router.post("/users/{user_id}/disable", status_code=204)
async def disable_user(
    user_id: int,
    _: Principal = Depends(require(Role.ADMIN)),  # noqa: B008
    pool: Any = Depends(db_pool),  # noqa: B008
) -> None:
    if not await users.disable_user(pool, user_id):
        raise ApiError(404, "users.not_found", f"no active user {user_id}")


@router.post("/users/{user_id}/tokens/revoke", status_code=200)
async def revoke_tokens(
    user_id: int,
    _: Principal = Depends(require(Role.ADMIN)),  # noqa: B008
    pool: Any = Depends(db_pool),  # noqa: B008
) -> dict[str, int]:
    return {"revoked": await tokens.revoke_user_tokens(pool, user_id)}
