"""A new user and its first token, in one transaction (CLI, demo, tests, benchmarks)."""

from __future__ import annotations

import asyncpg

from callctl.auth import audit
from callctl.auth.roles import Role
from callctl.auth.tokens import issue_token_with_id
from callctl.auth.users import create_user, get_user
from callctl.db import asyncpg_dsn


async def create_user_with_token(
    conn: asyncpg.Connection,
    username: str,
    role: Role,
    *,
    label: str,
    agent_id: str | None = None,
    can_see_numbers: bool = False,
    display_name: str = "",
) -> tuple[int, str]:
    """The user's id and its token (clear text, shown once); nothing is kept on failure."""
    async with conn.transaction():
        user_id = await create_user(
            conn,
            username,
            role,
            agent_id=agent_id,
            can_see_numbers=can_see_numbers,
            display_name=display_name,
        )
        token_id, token = await issue_token_with_id(conn, user_id, label)
        actor = audit.CLI_ACTOR
        user = audit.user_state(await get_user(conn, user_id))
        await audit.record(conn, actor, "user.create", "user", user_id, after=user)
        await audit.record(
            conn, actor, "token.issue", "user", user_id,
            after={"token_id": token_id, "label": label, "expires_at": None},
        )  # fmt: skip
        return user_id, token


async def provision_user(database_url: str, username: str, role: Role, *, label: str) -> str:
    """``create_user_with_token`` over a connection of its own; returns the token."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        _, token = await create_user_with_token(conn, username, role, label=label)
        return token
    finally:
        await conn.close()
