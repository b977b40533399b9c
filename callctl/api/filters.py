"""The query parameters every fact and KPI endpoint shares: window, node, line, queue, agent."""

from __future__ import annotations

from dataclasses import dataclass, replace

from fastapi import Query, Request

from callctl.api.errors import ApiError
from callctl.api.window import Window, parse_window
from callctl.auth.principal import Principal
from callctl.auth.roles import Role

ID_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"
"""Lines, queues, agents, nodes and call ids as they may appear in a query."""


@dataclass(frozen=True, slots=True)
class FactFilter:
    window: Window
    line: str | None
    queue: str | None
    agent: str | None
    node: str | None = None
    """One Asterisk node's facts; ``None``: all nodes together."""

    def for_principal(self, principal: Principal) -> FactFilter:
        """An agent reads only its own facts and figures, whatever it asks for."""
        return replace(self, agent=agent_scope(principal, self.agent))


def agent_scope(principal: Principal, agent: str | None) -> str | None:
    if principal.role is not Role.AGENT:
        return agent
    if principal.agent_id is None:
        raise ApiError(403, "auth.no_agent", "this agent user has no agent id")
    if agent is not None and agent != principal.agent_id:
        raise ApiError(403, "auth.other_agent", "an agent may only read its own facts")
    return principal.agent_id


def fact_filter(
    request: Request,
    start: str | None = Query(
        default=None, description="ISO 8601 (no zone: Asia/Shanghai); default: today 00:00"
    ),
    end: str | None = Query(default=None, description="ISO 8601, exclusive"),
    line: str | None = Query(default=None, pattern=ID_PATTERN),
    queue: str | None = Query(default=None, pattern=ID_PATTERN),
    agent: str | None = Query(default=None, pattern=ID_PATTERN),
    node: str | None = Query(
        default=None, pattern=ID_PATTERN, description="one Asterisk node; default: all nodes"
    ),
) -> FactFilter:
    """A FastAPI dependency: ``f: FactFilter = Depends(fact_filter)``."""
    window = parse_window(start, end, request.app.state.settings.timezone)
    return FactFilter(window, line, queue, agent, node)
