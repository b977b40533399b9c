"""``callctl user add``: the first admin (and any later user) from the command line."""

from __future__ import annotations

import sys

import asyncpg

from callctl.auth import audit
from callctl.auth.provision import create_user_with_token
from callctl.auth.roles import Role
from callctl.auth.tokens import issue_token_with_id
from callctl.auth.users import UserExistsError
from callctl.auth.validation import InvalidUserValueError
from callctl.db import asyncpg_dsn, resolve_database_url
from callctl.settings import Settings


async def _migrated(conn: asyncpg.Connection) -> bool:
    if await conn.fetchval("SELECT to_regclass('users')") is None:
        print("callctl: the database has no users table: run `callctl migrate`", file=sys.stderr)
        return False
    return True


async def run_user_add(
    settings: Settings,
    username: str,
    role: str,
    *,
    agent_id: str | None,
    can_see_numbers: bool,
    display_name: str,
) -> int:
    if Role(role) is Role.AGENT and agent_id is None:
        print("callctl: an agent user needs --agent-id", file=sys.stderr)
        return 2
    conn = await asyncpg.connect(asyncpg_dsn(resolve_database_url(settings)), timeout=10)
    try:
        if not await _migrated(conn):
            return 2
        user_id, token = await create_user_with_token(
            conn,
            username,
            Role(role),
            label="created by callctl user add",
            agent_id=agent_id,
            can_see_numbers=can_see_numbers,
            display_name=display_name,
        )
    except (InvalidUserValueError, UserExistsError) as exc:
        print(f"callctl: {exc}", file=sys.stderr)
        return 2
    finally:
        await conn.close()
    print(f"user {username} (id {user_id}, role {role}) created")
    print(f"API token (shown once): {token}")
    return 0


async def run_user_token(settings: Settings, username: str) -> int:
    """A new token for an existing, active user (local operator's recovery path)."""
    conn = await asyncpg.connect(asyncpg_dsn(resolve_database_url(settings)), timeout=10)
    try:
        if not await _migrated(conn):
            return 2
        user_id = await conn.fetchval(
            "SELECT id FROM users WHERE username = $1 AND disabled_at IS NULL", username
        )
        if user_id is None:
            print(f"callctl: no active user {username!r}", file=sys.stderr)
            return 2
        label = "issued by callctl user token"
        async with conn.transaction():
            token_id, token = await issue_token_with_id(conn, user_id, label)
            await audit.record(
                conn, audit.CLI_ACTOR, "token.issue", "user", user_id,
                after={"token_id": token_id, "label": label, "expires_at": None},
            )  # fmt: skip
    finally:
        await conn.close()
    print(token)
    return 0
