"""Users and tokens (admin), ``/me`` for any signed-in user, and the audit log.

Nobody changes their own rights, and nobody grants a right they do not hold (seeing
citizens' numbers); every change is written to the append-only audit log in its own
transaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, Field, field_validator

from callctl.api.deps import Admin, AnyUser, DbPool, client_address, require
from callctl.api.errors import ApiError
from callctl.api.openapi import error_responses
from callctl.api.types import Label, RequestModel
from callctl.auth import audit, tokens, users
from callctl.auth.principal import Principal
from callctl.auth.roles import Role
from callctl.auth.validation import InvalidUserValueError
from callctl.db_types import Pool, Record

router = APIRouter(prefix="/api/v1", tags=["users"])

UserId = Annotated[int, Path(ge=1, le=2**63 - 1)]
AuditReader = Annotated[Principal, Depends(require(Role.ADMIN, Role.AUDITOR))]


class Me(BaseModel):
    user_id: int
    username: str
    role: Role
    agent_id: str | None
    can_see_numbers: bool


class UserIn(RequestModel):
    username: str = Field(min_length=1, max_length=64, description="unique, whatever its case")
    role: Role
    display_name: str = Field(default="", max_length=64)
    agent_id: str | None = Field(default=None, max_length=10)
    can_see_numbers: bool = False


class UserPatch(RequestModel):
    """What to change (absent: unchanged). Not one's own user."""

    role: Role | None = None
    display_name: str | None = Field(default=None, max_length=64)
    agent_id: str | None = Field(default=None, max_length=10)
    can_see_numbers: bool | None = None


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    agent_id: str | None
    can_see_numbers: bool
    created_at: datetime
    disabled_at: datetime | None


class TokenIn(RequestModel):
    label: Label = ""
    expires_at: AwareDatetime | None = Field(
        default=None, description="with a time zone, in the future; absent: never expires"
    )

    @field_validator("expires_at")
    @classmethod
    def _in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= datetime.now(UTC):
            raise ValueError("must be in the future")
        return value


class TokenOut(BaseModel):
    user_id: int
    token: str = Field(description="shown once; only its hash is stored")


class RevokedOut(BaseModel):
    revoked: int


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor_user_id: int | None
    actor: str
    client: str | None
    action: str
    target_kind: str
    target_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@router.get("/me", response_model=Me)
async def me(principal: AnyUser) -> Me:
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


def _actor(request: Request, principal: Principal) -> audit.Actor:
    return audit.Actor(principal.user_id, principal.username, client_address(request))


def _not_self(principal: Principal, user_id: int) -> None:
    if principal.user_id == user_id:
        raise ApiError(
            403, "users.self_change", "nobody may change their own user, rights or state"
        )


def _may_grant(principal: Principal, can_see_numbers: bool | None) -> None:
    if can_see_numbers and not principal.can_see_numbers:
        raise ApiError(
            403,
            "users.cannot_grant",
            "only a user who may see numbers may grant that right",
            {"field": "can_see_numbers"},
        )


async def _active_user(pool: Pool, user_id: int) -> users.User:
    user = await users.get_user(pool, user_id)
    if user is None or user.disabled_at is not None:
        raise ApiError(404, "users.not_found", f"no active user {user_id}")
    return user


@router.get("/users", response_model=list[UserOut])
async def list_users(_: Admin, pool: DbPool) -> list[UserOut]:
    return [_out(u) for u in await users.list_users(pool)]


@router.post("/users", response_model=UserOut, status_code=201, responses=error_responses(409))
async def create_user(request: Request, body: UserIn, who: Admin, pool: DbPool) -> UserOut:
    if body.role is Role.AGENT and body.agent_id is None:
        raise ApiError(422, "users.agent_id_required", "an agent user needs an agent_id")
    _may_grant(who, body.can_see_numbers)
    try:
        async with pool.acquire() as conn, conn.transaction():
            user_id = await users.create_user(
                conn,
                body.username,
                body.role,
                agent_id=body.agent_id,
                can_see_numbers=body.can_see_numbers,
                display_name=body.display_name,
            )
            user = await users.get_user(conn, user_id)
            await audit.record(
                conn, _actor(request, who), "user.create", "user", user_id,
                after=audit.user_state(user),
            )  # fmt: skip
    except InvalidUserValueError as exc:
        raise ApiError(422, "users.invalid", str(exc), {"field": exc.field}) from exc
    except users.UserExistsError as exc:
        raise ApiError(409, exc.error_id, str(exc)) from exc
    assert user is not None
    return _out(user)


@router.patch("/users/{user_id}", response_model=UserOut)
async def update_user(
    request: Request, user_id: UserId, body: UserPatch, who: Admin, pool: DbPool
) -> UserOut:
    """Change a user's role, rights or names; never one's own."""
    _not_self(who, user_id)
    _may_grant(who, body.can_see_numbers)
    before = await _active_user(pool, user_id)
    role = body.role or before.role
    if role is Role.AGENT and (body.agent_id or before.agent_id) is None:
        raise ApiError(422, "users.agent_id_required", "an agent user needs an agent_id")
    try:
        async with pool.acquire() as conn, conn.transaction():
            if not await users.update_user(
                conn, user_id, role=body.role, agent_id=body.agent_id,
                can_see_numbers=body.can_see_numbers, display_name=body.display_name,
            ):  # fmt: skip
                raise ApiError(404, "users.not_found", f"no active user {user_id}")
            after = await users.get_user(conn, user_id)
            await audit.record(
                conn, _actor(request, who), "user.update", "user", user_id,
                before=audit.user_state(before), after=audit.user_state(after),
            )  # fmt: skip
    except InvalidUserValueError as exc:
        raise ApiError(422, "users.invalid", str(exc), {"field": exc.field}) from exc
    assert after is not None
    return _out(after)


@router.post("/users/{user_id}/tokens", response_model=TokenOut, status_code=201)
async def issue_token(
    request: Request, user_id: UserId, body: TokenIn, who: Admin, pool: DbPool
) -> TokenOut:
    """A new token for the user (shown once). Not for a user who may see numbers, unless
    the admin may too: a token is the user's rights in someone else's hands."""
    user = await _active_user(pool, user_id)
    _may_grant(who, user.can_see_numbers)
    async with pool.acquire() as conn, conn.transaction():
        token_id, token = await tokens.issue_token_with_id(
            conn, user_id, body.label, expires_at=body.expires_at
        )
        expires = None if body.expires_at is None else body.expires_at.isoformat()
        await audit.record(
            conn, _actor(request, who), "token.issue", "user", user_id,
            after={"token_id": token_id, "label": body.label, "expires_at": expires},
        )  # fmt: skip
    return TokenOut(user_id=user_id, token=token)


@router.post("/users/{user_id}/disable", status_code=204)
async def disable_user(request: Request, user_id: UserId, who: Admin, pool: DbPool) -> None:
    _not_self(who, user_id)
    async with pool.acquire() as conn, conn.transaction():
        before = await users.get_user(conn, user_id)
        if not await users.disable_user(conn, user_id):
            raise ApiError(404, "users.not_found", f"no active user {user_id}")
        await audit.record(
            conn, _actor(request, who), "user.disable", "user", user_id,
            before=audit.user_state(before),
            after=audit.user_state(await users.get_user(conn, user_id)),
        )  # fmt: skip


@router.post("/users/{user_id}/tokens/revoke", status_code=200, response_model=RevokedOut)
async def revoke_tokens(request: Request, user_id: UserId, who: Admin, pool: DbPool) -> RevokedOut:
    _not_self(who, user_id)  # another admin (or `callctl user token`) recovers an account
    async with pool.acquire() as conn, conn.transaction():
        revoked = await tokens.revoke_user_tokens(conn, user_id)
        if revoked:
            await audit.record(
                conn, _actor(request, who), "token.revoke", "user", user_id,
                after={"revoked": revoked},
            )  # fmt: skip
    return RevokedOut(revoked=revoked)


@router.get("/audit", response_model=list[AuditEntryOut])
async def audit_log(
    _: AuditReader,
    pool: DbPool,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> list[AuditEntryOut]:
    """审计日志 · The audit log, newest first (admin, auditor); nothing can change it."""
    rows = await pool.fetch(
        "SELECT * FROM audit_log WHERE ($1::bigint IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
        before_id,
        limit,
    )
    return [AuditEntryOut(**_decoded(r)) for r in rows]


def _decoded(row: Record) -> dict[str, Any]:
    data = dict(row)
    for key in ("before", "after"):
        if isinstance(data[key], str):
            data[key] = json.loads(data[key])
    return data
