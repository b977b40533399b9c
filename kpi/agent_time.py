"""Agent utilisation (工时有效利用率) from per-agent durations."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from kpi.definitions import ratio


@dataclass(frozen=True, slots=True)
class AgentTimeCounters:
    """Whole seconds an agent (or a team) spent in each state within a window.

    ``acw_s`` is the capped ACW (each interval at most ``acw_max_s``), the same
    value that counts toward average ACW. Additive like ``KpiCounters``.
    """

    logged_in_s: int = 0
    talking_s: int = 0
    acw_s: int = 0

    def __post_init__(self) -> None:
        if min(self.logged_in_s, self.talking_s, self.acw_s) < 0:
            raise ValueError("agent durations must not be negative")

    def __add__(self, other: AgentTimeCounters) -> AgentTimeCounters:
        if not isinstance(other, AgentTimeCounters):
            return NotImplemented
        return AgentTimeCounters(
            logged_in_s=self.logged_in_s + other.logged_in_s,
            talking_s=self.talking_s + other.talking_s,
            acw_s=self.acw_s + other.acw_s,
        )


def agent_utilisation(time: AgentTimeCounters) -> Fraction | None:
    """(talking + ACW) / logged-in time; ``None`` when the agent was never logged in."""
    return ratio(time.talking_s + time.acw_s, time.logged_in_s)
