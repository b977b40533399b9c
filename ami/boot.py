"""Asterisk's start time from FullyBooted, and whether it changed: a restart. Pure.

FullyBooted (sent at every login, and when a boot ends) carries ``Uptime``, whole
seconds since Asterisk started. ``received_at - Uptime`` (or the event's own
``Timestamp`` when it has one) is the start time to within a second plus the
network delay, on callctl's clock: a node whose clock is off does not matter, only
a *change* of the start time does. A later start than the one seen before means
the node restarted while this session was away (a crash and restart shorter than
callctl's reconnect, or any longer gap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ami.events import FullyBooted

RESTART_TOLERANCE_S: Final = 2.0
"""Start times closer than this are the same boot (whole-second Uptime, delivery delay)."""


def start_time(event: FullyBooted) -> float | None:
    """When Asterisk started, as this event tells it (None without a usable Uptime)."""
    if event.uptime_s is None or event.uptime_s < 0:
        return None
    now = event.timestamp if event.timestamp is not None else event.received_at
    return now - event.uptime_s


@dataclass(slots=True)
class BootClock:
    """The last start time seen on one node's AMI sessions."""

    started_at: float | None = None

    def observe(self, event: FullyBooted) -> int | None:
        """The new start time (UTC epoch seconds, floored) if ``event`` shows a restart.

        None for the first FullyBooted seen (nothing to compare with) and for a
        repeat of the same boot.
        """
        started = start_time(event)
        if started is None:
            return None
        previous, self.started_at = self.started_at, started
        if previous is None or started - previous <= RESTART_TOLERANCE_S:
            return None
        return int(started)
