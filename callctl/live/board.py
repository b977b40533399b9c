"""One node's board (pure): callers waiting per queue and each agent's state.

Folded from AMI events and rebuilt from resync snapshots. Every update is an
idempotent "set" (a queue's whole waiting list, an agent's whole state), so a
client that applies a delta twice, or a delta already contained in the snapshot
it started from, ends in the same state.

An agent's state (one per agent, across its queues), in this order of precedence:

- ``offline``: the device is unavailable, invalid or unknown (softphone gone);
- ``talking``: in use, busy or on hold;
- ``ringing``;
- ``acw``: paused with reason ``acw`` (after-call work), else ``paused`` with its reason;
- ``available``: logged in, idle and not paused.

A member removed from its last queue has logged off and leaves the board.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from ami.events import (
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueEntry,
    QueueMember,
    QueueMemberEvent,
    QueueMemberRemoved,
)


class AgentLiveState(StrEnum):
    AVAILABLE = "available"
    RINGING = "ringing"
    TALKING = "talking"
    ACW = "acw"
    PAUSED = "paused"
    OFFLINE = "offline"


# QueueMemberStatus ``Status``: Asterisk's device states (app_queue.c / devicestate.h).
_TALKING_STATUSES: Final = frozenset({2, 3, 8})  # in use, busy, on hold
_RINGING_STATUSES: Final = frozenset({6, 7})  # ringing, ring in use
_OFFLINE_STATUSES: Final = frozenset({0, 4, 5})  # unknown, invalid, unavailable


@dataclass(frozen=True, slots=True)
class Member:
    """An agent's membership of one queue, as Asterisk last reported it."""

    status: int | None
    paused: bool
    reason: str


@dataclass(frozen=True, slots=True)
class AgentView:
    agent: str
    state: AgentLiveState
    reason: str
    queues: tuple[str, ...]
    since: float | None = None
    """When the agent entered this state (and reason), as far as callctl has seen."""

    def as_json(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "reason": self.reason,
            "queues": list(self.queues),
            "since": self.since,
        }


def agent_state(members: dict[str, Member], acw_reason: str) -> tuple[AgentLiveState, str]:
    """One agent's state from its memberships (see the module's precedence)."""
    statuses = {m.status for m in members.values() if m.status is not None}
    paused = [m.reason for m in members.values() if m.paused]
    if statuses and statuses <= _OFFLINE_STATUSES:
        return AgentLiveState.OFFLINE, ""
    if statuses & _TALKING_STATUSES:
        return AgentLiveState.TALKING, ""
    if statuses & _RINGING_STATUSES:
        return AgentLiveState.RINGING, ""
    if acw_reason in paused:
        return AgentLiveState.ACW, acw_reason
    if paused:
        return AgentLiveState.PAUSED, paused[0]
    return AgentLiveState.AVAILABLE, ""


@dataclass(slots=True)
class NodeBoard:
    """Callers waiting (queue → Uniqueid → join time) and agents (agent → queue → member)."""

    node: str
    acw_reason: str = "acw"
    waiting: dict[str, dict[str, float]] = field(default_factory=dict)
    members: dict[str, dict[str, Member]] = field(default_factory=dict)
    # The node's AMI link as callctl sees it: "connected", "down", "auth_failed" or
    # "unknown" (a board made from events of a node the runtime does not report on).
    ami: str = "unknown"
    # agent → (state, reason, since): when each agent's state last changed.
    since: dict[str, tuple[AgentLiveState, str, float]] = field(default_factory=dict)

    # --- callers ---------------------------------------------------------------------------

    def join(self, event: QueueCallerJoin) -> str:
        joined_at = event.timestamp if event.timestamp is not None else event.received_at
        self.waiting.setdefault(event.queue, {}).setdefault(event.uniqueid, joined_at)
        return event.queue

    def leave(self, event: QueueCallerLeave | QueueCallerAbandon) -> str | None:
        callers = self.waiting.get(event.queue)
        if callers is None or callers.pop(event.uniqueid, None) is None:
            return None
        return event.queue

    def hang_up(self, uniqueid: str) -> list[str]:
        """The channel is gone: it waits nowhere (a Leave that was never seen)."""
        return [queue for queue, callers in self.waiting.items() if callers.pop(uniqueid, None)]

    def queue_view(self, queue: str) -> dict[str, object]:
        callers = self.waiting.get(queue, {})
        return {
            "waiting": len(callers),
            "oldest_joined_at": min(callers.values()) if callers else None,
        }

    # --- agents ----------------------------------------------------------------------------

    def member(self, event: QueueMemberEvent) -> str:
        agent = event.member_name or event.interface
        queues = self.members.setdefault(agent, {})
        if isinstance(event, QueueMemberRemoved):
            queues.pop(event.queue, None)
            if not queues:
                del self.members[agent]
                self.since.pop(agent, None)
            else:
                self._note_since(agent, queues, event.received_at)
            return agent
        previous = queues.get(event.queue)
        if event.paused is None:  # unreadable: keep what was known
            paused, reason = _pause_of(previous)
        else:
            paused, reason = event.paused, (event.paused_reason or "") if event.paused else ""
        status = event.status if event.status is not None else _status_of(previous)
        queues[event.queue] = Member(status, paused, reason)
        if event.status is not None:
            # Device state is the device's, not the membership's: the same in every queue.
            for queue, member in queues.items():
                if queue != event.queue and member.status != event.status:
                    queues[queue] = Member(event.status, member.paused, member.reason)
        self._note_since(agent, queues, event.received_at)
        return agent

    def _note_since(self, agent: str, members: dict[str, Member], at: float) -> None:
        state, reason = agent_state(members, self.acw_reason)
        known = self.since.get(agent)
        if known is None or known[0] is not state or known[1] != reason:
            self.since[agent] = (state, reason, at)

    def agent_view(self, agent: str) -> AgentView | None:
        members = self.members.get(agent)
        if not members:
            return None
        state, reason = agent_state(members, self.acw_reason)
        known = self.since.get(agent)
        since = known[2] if known is not None and known[:2] == (state, reason) else None
        return AgentView(agent, state, reason, tuple(sorted(members)), since)

    # --- resync ----------------------------------------------------------------------------

    def rebuild(
        self, entries: tuple[QueueEntry, ...], members: tuple[QueueMember, ...], at: float
    ) -> None:
        """Replace the board with Asterisk's own lists (QueueStatus at ``at``).

        A caller already known keeps its join time (from the join event's own clock);
        one first seen here joined ``Wait`` seconds before the lists were asked for.
        """
        waiting: dict[str, dict[str, float]] = {}
        for entry in entries:
            known = self.waiting.get(entry.queue, {}).get(entry.uniqueid)
            joined_at = known if known is not None else at - (entry.hold_s or 0.0)
            waiting.setdefault(entry.queue, {})[entry.uniqueid] = joined_at
        self.waiting = waiting
        self.members = {}
        for member in members:
            self.member(member)
        for gone in set(self.since) - set(self.members):
            del self.since[gone]

    def queues(self) -> set[str]:
        """Queues with callers now or before, or with members."""
        known = set(self.waiting)
        for members in self.members.values():
            known.update(members)
        return known

    def as_json(self) -> dict[str, object]:
        queues = sorted(self.queues())
        agents = (self.agent_view(agent) for agent in sorted(self.members))
        return {
            "ami": self.ami,
            "queues": {queue: self.queue_view(queue) for queue in queues},
            "agents": {view.agent: view.as_json() for view in agents if view is not None},
        }


def _status_of(previous: Member | None) -> int | None:
    return None if previous is None else previous.status


def _pause_of(previous: Member | None) -> tuple[bool, str]:
    return (False, "") if previous is None else (previous.paused, previous.reason)
