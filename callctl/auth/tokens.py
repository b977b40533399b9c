"""Bearer tokens: issued once in clear, stored as SHA-256, revocable.

Tokens carry 256 random bits, so a plain SHA-256 is enough to make a stolen
table useless (no password-style stretching is needed for random secrets).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from callctl.auth.principal import Principal
from callctl.auth.roles import Role
from callctl.auth.validation import TOKEN_PREFIX, looks_like_token
from callctl.db_types import Queryable


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


async def issue_token(
    pool: Queryable, user_id: int, label: str = "", *, expires_at: datetime | None = None
) -> str:
    """A new token for the user; the clear text is returned once and never stored."""
    _, token = await issue_token_with_id(pool, user_id, label, expires_at=expires_at)
    return token


async def issue_token_with_id(
    pool: Queryable, user_id: int, label: str = "", *, expires_at: datetime | None = None
) -> tuple[int, str]:
    """``issue_token``, with the stored token's id (for the audit log)."""
    token = new_token()
    token_id: int = await pool.fetchval(
        "INSERT INTO api_tokens (user_id, token_hash, label, expires_at) "
        "VALUES ($1, $2, $3, $4) RETURNING id",
        user_id,
        token_hash(token),
        label,
        expires_at,
    )
    return token_id, token


# One round trip per request: the lookup, and last_used_at touched at most once a minute.
_LOOKUP = """
    WITH found AS (
        SELECT u.id, u.username, u.role, u.agent_id, u.can_see_numbers, t.id AS token_id,
               t.last_used_at
        FROM api_tokens t JOIN users u ON u.id = t.user_id
        WHERE t.token_hash = $1
          AND t.revoked_at IS NULL
          AND (t.expires_at IS NULL OR t.expires_at > now())
          AND u.disabled_at IS NULL
    ), touched AS (
        UPDATE api_tokens SET last_used_at = now()
        WHERE id = (SELECT token_id FROM found)
          AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
    )
    SELECT id, username, role, agent_id, can_see_numbers FROM found
"""


async def principal_for_token(pool: Queryable, token: str) -> Principal | None:
    """The token's user, or None when it is malformed, unknown, revoked, expired or disabled."""
    if not looks_like_token(token):
        return None
    row = await pool.fetchrow(_LOOKUP, token_hash(token))
    if row is None:
        return None
    return Principal(
        user_id=row["id"],
        username=row["username"],
        role=Role(row["role"]),
        agent_id=row["agent_id"],
        can_see_numbers=row["can_see_numbers"],
    )


async def revoke_token(pool: Queryable, token_id: int) -> bool:
    status: str = await pool.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", token_id
    )
    return status.endswith(" 1")


async def revoke_user_tokens(pool: Queryable, user_id: int) -> int:
    status: str = await pool.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        user_id,
    )
    return int(status.rsplit(" ", 1)[1])
