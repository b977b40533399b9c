"""The audit log: who changed which user, right or token, what it was and became, when
and from where. Rows are inserted in the change's own transaction, never changed
(the table refuses UPDATE, DELETE and TRUNCATE: migration 0014_audit)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from callctl.auth.users import User
from callctl.db_types import Queryable


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int | None
    name: str
    client: str | None


CLI_ACTOR = Actor(user_id=None, name="cli", client=None)


def user_state(user: User | None) -> dict[str, Any] | None:
    """A user as the log keeps it (JSON-ready)."""
    if user is None:
        return None
    state = asdict(user)
    state["role"] = user.role.value
    for key, value in state.items():
        if isinstance(value, datetime):
            state[key] = value.isoformat()
    return state


async def record(
    conn: Queryable,
    actor: Actor,
    action: str,
    target_kind: str,
    target_id: object,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor_user_id, actor, client, action, target_kind, target_id, "
        "before, after) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb)",
        actor.user_id,
        actor.name,
        actor.client,
        action,
        target_kind,
        str(target_id),
        None if before is None else json.dumps(before, ensure_ascii=False),
        None if after is None else json.dumps(after, ensure_ascii=False),
    )
