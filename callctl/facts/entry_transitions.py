"""The life of a queue entry as guarded transitions on an immutable fact.

waiting --CONNECT--> answered --COMPLETE*/transfer--> completed
waiting --ABANDON/EXIT*/WITHDRAW--> closed
waiting --node restarted (QUEUESTART)--> lost

Each function returns the updated fact or raises ``IllegalTransition``; the
folder that drives them turns that into a counted, logged anomaly.
"""

from __future__ import annotations

import re
from dataclasses import replace

from callctl.facts.models import HangupSide, QueueEntryFact
from callctl.facts.queue_log import (
    Abandon,
    AttendedTransfer,
    BlindTransfer,
    CallEnded,
    CompleteAgent,
    CompleteCaller,
    Connect,
    EnterQueue,
    ExitEmpty,
    ExitWithKey,
    ExitWithTimeout,
    RingCanceled,
    RingNoAnswer,
    WaitEnded,
    Withdraw,
)
from kpi.outcome import Outcome


class IllegalTransition(Exception):
    """An event that cannot apply to the entry in its current state."""

    error_id = "queue_entry.illegal_transition"

    def __init__(self, entry: QueueEntryFact, event: str) -> None:
        state = entry.outcome or "waiting"
        super().__init__(f"{event} on {state} entry {entry.key}")
        self.entry = entry
        self.event = event


def open_entry(node: str, event: EnterQueue, seq: int) -> QueueEntryFact:
    return QueueEntryFact(
        node=node,
        callid=event.callid,
        queue=event.queue,
        seq=seq,
        entered_at=event.time,
        caller_num=event.caller_num,
        position=event.position,
        line=line_of(event.url),
    )


LINE_RE = re.compile(r"[0-9A-Za-z_-]{1,32}")


def line_of(value: str | None) -> str | None:
    """The service line the dialplan passed along (Queue's URL argument / CALLCTL_LINE).

    Anything that does not look like a line id is ignored, never stored.
    """
    if value is None or not LINE_RE.fullmatch(value):
        return None
    return value


def _require_waiting(entry: QueueEntryFact, event: str) -> None:
    if entry.outcome is not None:
        raise IllegalTransition(entry, event)


def ring_missed(entry: QueueEntryFact, event: RingNoAnswer | RingCanceled) -> QueueEntryFact:
    """An agent rang without connecting (RINGNOANSWER, RINGCANCELED)."""
    _require_waiting(entry, event.event)
    return replace(entry, ring_attempts=entry.ring_attempts + 1)


def answer(entry: QueueEntryFact, event: Connect, agent: str) -> QueueEntryFact:
    _require_waiting(entry, event.event)
    return replace(
        entry,
        outcome=Outcome.ANSWERED,
        # Derived from Asterisk's own seconds, not the line's time, so that the AMI
        # path (whose Timestamp is read later) builds the identical fact.
        ended_wait_at=entry.entered_at + event.holdtime,
        wait_s=event.holdtime,
        agent=agent,
        ring_attempts=entry.ring_attempts + 1,
    )


_WAIT_OUTCOMES: dict[type[WaitEnded], Outcome] = {
    Abandon: Outcome.ABANDONED,
    ExitWithTimeout: Outcome.TIMEOUT,
    ExitEmpty: Outcome.EMPTY,
    ExitWithKey: Outcome.KEY,
    # QueueWithdrawCaller takes a waiting caller out to send it elsewhere.
    Withdraw: Outcome.TRANSFER,
}


def leave_unanswered(entry: QueueEntryFact, event: WaitEnded) -> QueueEntryFact:
    _require_waiting(entry, event.event)
    position = entry.position if entry.position is not None else event.orig_position
    return replace(
        entry,
        outcome=_WAIT_OUTCOMES[type(event)],
        ended_wait_at=entry.entered_at + event.waittime,
        wait_s=event.waittime,
        position=position,
    )


def lose(entry: QueueEntryFact, restarted_at: int) -> QueueEntryFact:
    """The caller was still waiting when its Asterisk node restarted (kpi-definitions.md).

    ``restarted_at`` is the restart moment (queue_log's QUEUESTART time);
    ``wait_s`` counts whole seconds from ``entered_at`` to it.
    """
    _require_waiting(entry, "QUEUESTART")
    ended = max(restarted_at, entry.entered_at)
    return replace(
        entry, outcome=Outcome.LOST, ended_wait_at=ended, wait_s=ended - entry.entered_at
    )


_HANGUP_SIDES: dict[type[CallEnded], HangupSide] = {
    CompleteCaller: HangupSide.CALLER,
    CompleteAgent: HangupSide.AGENT,
    BlindTransfer: HangupSide.TRANSFER,
    AttendedTransfer: HangupSide.TRANSFER,
}


def complete(entry: QueueEntryFact, event: CallEnded) -> QueueEntryFact:
    if entry.outcome is not Outcome.ANSWERED or entry.completed_at is not None:
        raise IllegalTransition(entry, event.event)
    return replace(
        entry,
        talk_s=event.calltime,
        hangup_side=_HANGUP_SIDES[type(event)],
        completed_at=entry.entered_at + event.holdtime + event.calltime,
    )
