"""Dependencies shared by the routers, named once as ``Annotated`` aliases:

``DbPool`` (the API's asyncpg pool), ``AppSettings``, and the signed-in principal by
the roles it may hold (``Reader``, ``ReaderOrAgent``, ``Writer``, ``Admin``, ``AnyUser``)::

    async def endpoint(pool: DbPool, who: Admin) -> ...

Another set of roles: ``Annotated[Principal, Depends(require(Role.OPS))]``, named once.

Authentication failures are logged (client address, never the token), counted in
``/metrics`` and, past ``auth_failures_per_minute`` from one address, answered 429.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from callctl.api.errors import ApiError
from callctl.api.throttle import AuthThrottle
from callctl.auth.principal import Principal
from callctl.auth.roles import READERS, Role
from callctl.auth.tokens import principal_for_token
from callctl.db_types import Pool
from callctl.settings import Settings

log = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="callctl API token (cct_...)")


def db_pool(request: Request) -> Pool:
    """The API's asyncpg pool (``app.state.db``)."""
    pool: Pool = request.app.state.db
    return pool


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DbPool = Annotated[Pool, Depends(db_pool)]
AppSettings = Annotated[Settings, Depends(app_settings)]
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def client_address(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client is not None else "unknown"


class AuthFailed(Exception):
    """Why a token was refused: ``reason`` is ``missing_token``, ``invalid_token`` or
    ``throttled``; ``retry_after_s`` for the latter."""

    def __init__(self, reason: str, retry_after_s: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


async def check_token(connection: HTTPConnection, token: str | None) -> Principal:
    """The token's principal, for HTTP and websocket alike; raises ``AuthFailed``
    (logged and counted here, the token never written anywhere)."""
    app = connection.app
    throttle: AuthThrottle = app.state.auth_throttle
    client = client_address(connection)
    wait = throttle.retry_after_s(client, time.monotonic())
    if wait:
        app.state.metrics.auth_failures.labels(reason="throttled").inc()
        raise AuthFailed("throttled", wait)
    principal = None if not token else await principal_for_token(app.state.db, token)
    if principal is None:
        reason = "missing_token" if not token else "invalid_token"
        throttle.record_failure(client, time.monotonic())
        app.state.metrics.auth_failures.labels(reason=reason).inc()
        log.warning("authentication failed (%s) from %s on %s", reason, client, connection.url.path)
        raise AuthFailed(reason)
    return principal


async def authenticate(request: Request, token: str | None) -> Principal:
    try:
        return await check_token(request, token)
    except AuthFailed as failed:
        if failed.reason == "throttled":
            raise ApiError(
                429,
                "auth.throttled",
                "too many failed authentications from this address; retry later",
                {"retry_after_s": failed.retry_after_s},
            ) from None
        if failed.reason == "missing_token":
            raise ApiError(401, "auth.missing_token", "a bearer token is required") from None
        raise ApiError(
            401, "auth.invalid_token", "the token is unknown, revoked or expired"
        ) from None


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits a valid token whose user holds one of ``roles``."""
    allowed = frozenset(roles)

    async def dependency(request: Request, credentials: BearerCredentials) -> Principal:
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


AnyUser = Annotated[Principal, Depends(require(*Role))]
Reader = Annotated[Principal, Depends(require(*READERS))]
"""Supervisor, ops, admin or auditor: may read every figure and fact."""
ReaderOrAgent = Annotated[Principal, Depends(require(*READERS, Role.AGENT))]
"""A reader, or an agent (whose reads are scoped to itself)."""
Writer = Annotated[Principal, Depends(require(Role.OPS, Role.ADMIN))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
