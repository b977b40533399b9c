"""The query parameters every fact and KPI endpoint shares: window, node, line, queue, agent."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Literal

from fastapi import Depends, Query

from callctl.api.deps import AppSettings
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


IdParam = Annotated[str | None, Query(pattern=ID_PATTERN)]
TimeParam = Annotated[
    str | None,
    Query(
        max_length=64,
        description="ISO 8601, 2000-2100 (no zone: Asia/Shanghai); default: today",
    ),
]
Lang = Annotated[Literal["zh-CN", "en"], Query(description="CSV headers' language")]
MAX_OFFSET = 1_000_000
"""Largest ``offset`` a list accepts (larger ones overflow nothing, but page nowhere)."""
MAX_ROW_ID = 2**62
"""Largest row id a path or query accepts: within PostgreSQL's bigint, so that a huge
id is a 422 rather than an overflow in the driver."""


def fact_filter(
    settings: AppSettings,
    start: TimeParam = None,
    end: TimeParam = None,
    line: IdParam = None,
    queue: IdParam = None,
    agent: IdParam = None,
    node: Annotated[
        str | None,
        Query(pattern=ID_PATTERN, description="one Asterisk node; default: all nodes"),
    ] = None,
) -> FactFilter:
    """The window (default: today in the hotline's zone) and the filters."""
    window = parse_window(start, end, settings.timezone)
    return FactFilter(window, line, queue, agent, node)


Facts = Annotated[FactFilter, Depends(fact_filter)]
