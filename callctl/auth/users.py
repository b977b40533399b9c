"""Users: created by an admin (or `callctl user add`), never deleted, only disabled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from callctl.auth.roles import Role
from callctl.auth.validation import check_agent_id, check_display_name, check_username
from callctl.db_types import Queryable, Record


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
    pool: Queryable,
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
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
        username,
        display_name,
        role.value,
        agent_id,
        can_see_numbers,
    )
    if user_id is None:  # the same name, whatever its case (unique on lower(username))
        raise UserExistsError(f"user {username!r} already exists")
    return user_id


def _user(row: Record) -> User:
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


async def list_users(pool: Queryable) -> list[User]:
    rows = await pool.fetch("SELECT * FROM users ORDER BY id")
    return [_user(r) for r in rows]


async def get_user(pool: Queryable, user_id: int) -> User | None:
    row = await pool.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
    return None if row is None else _user(row)


async def disable_user(pool: Queryable, user_id: int) -> bool:
    status: str = await pool.execute(
        "UPDATE users SET disabled_at = now() WHERE id = $1 AND disabled_at IS NULL", user_id
    )
    return status.endswith(" 1")


async def update_user(
    pool: Queryable,
    user_id: int,
    *,
    role: Role | None = None,
    agent_id: str | None = None,
    can_see_numbers: bool | None = None,
    display_name: str | None = None,
) -> bool:
    """Change what is given (``None``: unchanged); False when there is no active user."""
    check_agent_id(agent_id)
    if display_name is not None:
        check_display_name(display_name)
    status: str = await pool.execute(
        "UPDATE users SET role = coalesce($2, role), agent_id = coalesce($3, agent_id), "
        "can_see_numbers = coalesce($4, can_see_numbers), "
        "display_name = coalesce($5, display_name) "
        "WHERE id = $1 AND disabled_at IS NULL",
        user_id,
        None if role is None else role.value,
        agent_id,
        can_see_numbers,
        display_name,
    )
    return status.endswith(" 1")
