"""The authenticated caller of an endpoint."""

from __future__ import annotations

from dataclasses import dataclass

from callctl.auth.roles import Role


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    role: Role
    agent_id: str | None
    can_see_numbers: bool
