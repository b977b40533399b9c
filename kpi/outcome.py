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
    LOST = "lost"
    """Still waiting when its Asterisk node restarted (queue_log QUEUESTART with the
    entry open, or AMI back with a new Asterisk start time): the caller asked for a
    human and never got one. Offered, neither answered nor abandoned."""


OUTCOME_LABELS: dict[Outcome, dict[str, str]] = {
    Outcome.ANSWERED: {"zh-CN": "人工接通", "en": "answered"},
    Outcome.ABANDONED: {"zh-CN": "放弃", "en": "abandoned"},
    Outcome.TIMEOUT: {"zh-CN": "排队超时", "en": "timeout"},
    Outcome.EMPTY: {"zh-CN": "无坐席", "en": "no agents"},
    Outcome.KEY: {"zh-CN": "按键离开", "en": "left by key"},
    Outcome.TRANSFER: {"zh-CN": "转出", "en": "transferred"},
    Outcome.LOST: {"zh-CN": "丢失（系统重启）", "en": "lost"},
}
"""User-facing names of each outcome (reports, CSV)."""


def outcome_label(value: str, lang: str) -> str:
    """The label of a stored outcome value in ``lang`` (the value itself if unknown)."""
    try:
        return OUTCOME_LABELS[Outcome(value)].get(lang, value)
    except ValueError:
        return value
