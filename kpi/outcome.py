"""How a queue entry ended: the one definition shared by KPIs and call facts."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """The outcome of one queue entry (one stay of a call in one queue).

    Values are stable: they are stored in the fact tables and rollups.
    """

    ANSWERED = "answered"
    """An agent connected (AgentConnect / CONNECT)."""
    ABANDONED = "abandoned"
    """The caller hung up while waiting (QueueCallerAbandon / ABANDON)."""
    TIMEOUT = "timeout"
    """The queue's timeout sent the caller on (EXITWITHTIMEOUT)."""
    EMPTY = "empty"
    """No agents: EXITEMPTY, or joined with no member logged in."""
    KEY = "key"
    """The caller chose to leave by DTMF (EXITWITHKEY), e.g. a callback offer."""
    TRANSFER = "transfer"
    """Moved out of the queue before any agent answered (e.g. withdrawn by the
    control plane to another queue). Offered but not answered: an entry that an
    agent answered and then transferred stays ``ANSWERED`` with hangup side
    ``transfer``."""
