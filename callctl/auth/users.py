"""Users: created by an admin (or `callctl user add`), never deleted, only disabled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callctl.auth.roles import Role
from callctl.auth.validation import check_agent_id, check_display_name, check_username


class UserExistsError(Exception):
    error_id = "users.exists"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    display_name: str
    role: Role
    agent_id: str | None
    can_see_numbers: bool
    created_at: datetime
    disabled_at: datetime | None


async def create_user(
    pool: Any,
    username: str,
    role: Role,
    *,
    agent_id: str | None = None,
    can_see_numbers: bool = False,
    display_name: str = "",
) -> int:
    check_username(username)
    check_agent_id(agent_id)
    check_display_name(display_name)
    user_id: int | None = await pool.fetchval(
        "INSERT INTO users (username, display_name, role, agent_id, can_see_numbers) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING RETURNING id",
        username,
        display_name,
        role.value,
        agent_id,
        can_see_numbers,
    )
    if user_id is None:
        raise UserExistsError(f"user {username!r} already exists")
    return user_id


def _user(row: Any) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        agent_id=row["agent_id"],
        can_see_numbers=row["can_see_numbers"],
        created_at=row["created_at"],
        disabled_at=row["disabled_at"],
    )


async def list_users(pool: Any) -> list[User]:
    rows = await pool.fetch("SELECT * FROM users ORDER BY id")
    return [_user(r) for r in rows]


async def get_user(pool: Any, user_id: int) -> User | None:
    row = await pool.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
    return None if row is None else _user(row)


async def disable_user(pool: Any, user_id: int) -> bool:
    status: str = await pool.execute(
        "UPDATE users SET disabled_at = now() WHERE id = $1 AND disabled_at IS NULL", user_id
    )
    return status.endswith(" 1")
