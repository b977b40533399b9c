"""Dependencies shared by the routers: the database pool and role checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from callctl.api.errors import ApiError
from callctl.auth.principal import Principal
from callctl.auth.roles import Role
from callctl.auth.tokens import principal_for_token

_bearer = HTTPBearer(auto_error=False, description="callctl API token (cct_...)")


def db_pool(request: Request) -> Any:
    """The API's asyncpg pool (``app.state.db``)."""
    return request.app.state.db


async def authenticate(request: Request, token: str | None) -> Principal:
    if not token:
        raise ApiError(401, "auth.missing_token", "a bearer token is required")
    principal = await principal_for_token(db_pool(request), token)
    if principal is None:
        raise ApiError(401, "auth.invalid_token", "the token is unknown, revoked or expired")
    return principal


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits a valid token whose user holds one of ``roles``."""
    allowed = frozenset(roles)

    async def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
    ) -> Principal:
        principal = await authenticate(request, credentials.credentials if credentials else None)
        if principal.role not in allowed:
            raise ApiError(
                403,
                "auth.forbidden",
                f"role {principal.role.value!r} may not use this endpoint",
                {"allowed": sorted(r.value for r in allowed)},
            )
        return principal

    return dependency
