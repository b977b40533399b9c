"""Connection states of one AMI node, and the only moves allowed between them. Pure."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ami.errors import InvalidTransitionError


class ConnectionState(enum.Enum):
    DOWN = "down"  # no session: not started, lost, waiting to retry, or stopped
    CONNECTING = "connecting"  # TCP connect and Login under way
    RESYNCING = "resyncing"  # logged in, rebuilding state (QueueStatus...); events flow
    CONNECTED = "connected"  # logged in and in sync


_ALLOWED: Final[Mapping[ConnectionState, frozenset[ConnectionState]]] = {
    ConnectionState.DOWN: frozenset({ConnectionState.CONNECTING}),
    ConnectionState.CONNECTING: frozenset({ConnectionState.RESYNCING, ConnectionState.DOWN}),
    ConnectionState.RESYNCING: frozenset({ConnectionState.CONNECTED, ConnectionState.DOWN}),
    ConnectionState.CONNECTED: frozenset({ConnectionState.RESYNCING, ConnectionState.DOWN}),
}


@dataclass(frozen=True, slots=True)
class StateChange:
    node: str
    old: ConnectionState
    new: ConnectionState
    at: float  # time.time()
    reason: str


def check_transition(old: ConnectionState, new: ConnectionState) -> None:
    """Raise InvalidTransitionError unless ``old -> new`` is an allowed move."""
    if new not in _ALLOWED[old]:
        raise InvalidTransitionError(f"connection state cannot go from {old.name} to {new.name}")
