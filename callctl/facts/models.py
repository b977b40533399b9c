"""Call facts: what happened, in Asterisk's own whole-second figures.

These are the rows both ingest paths produce: the AMI normalizer (live) and the
queue_log builder (durable, used to reconcile). A fact built from AMI and one
rebuilt from queue_log must be equal, so every field is defined by an Asterisk
figure both paths carry. Each fact has a natural ``key``; writers upsert on it,
so replaying a source is always safe.

Times are UTC epoch seconds (``int``): queue_log's first field, or the floor of
an AMI event's ``Timestamp``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kpi.outcome import Outcome


class HangupSide(StrEnum):
    """Who ended an answered queue call (AgentComplete ``Reason``)."""

    CALLER = "caller"
    AGENT = "agent"
    TRANSFER = "transfer"


class AgentState(StrEnum):
    """Agent-level states recorded as intervals.

    queue_log only tells pauses; ringing and talking come from queue entries.
    After-call work is a pause whose reason is ``acw`` (see ``AcwInterval``).
    """

    PAUSED = "paused"


class AcwEnd(StrEnum):
    """What ended an after-call-work interval."""

    UNPAUSE = "unpause"
    """The agent's ``acw`` pause was lifted: available again."""
    REASON_CHANGE = "reason_change"
    """The pause went on under another reason (e.g. a break): ACW is over."""
    LOGOFF = "logoff"
    """The agent left its last queue while in ACW."""


@dataclass(frozen=True, slots=True)
class QueueEntryFact:
    """One stay of one call in one queue (kpi-definitions.md section 1).

    ``seq`` is 1 for the first stay of ``callid`` in ``queue``, 2 for a second
    stay in the same queue (e.g. transferred out and back). ``outcome`` is
    ``None`` while the caller waits. ``wait_s`` and ``talk_s`` are Asterisk's
    HoldTime / TalkTime. ``ring_attempts`` counts rings of agents that did not
    answer (RINGNOANSWER, RINGCANCELED) plus the ring that connected.
    ``completed_at`` is set when an answered call ends (COMPLETE*, transfer).
    """

    node: str
    callid: str
    queue: str
    seq: int
    entered_at: int
    caller_num: str | None = None
    position: int | None = None
    outcome: Outcome | None = None
    ended_wait_at: int | None = None
    wait_s: int | None = None
    agent: str | None = None
    ring_attempts: int = 0
    talk_s: int | None = None
    hangup_side: HangupSide | None = None
    completed_at: int | None = None
    line: str | None = None  # the service line (DNIS) the call came in on, when known

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.node, self.callid, self.queue, self.seq)

    @property
    def is_closed(self) -> bool:
        """Nothing more will happen to this entry."""
        if self.outcome is None:
            return False
        return self.outcome is not Outcome.ANSWERED or self.completed_at is not None


@dataclass(frozen=True, slots=True)
class AgentStateInterval:
    """An agent-level state interval; ``ended_at`` is ``None`` while open.

    One interval per agent, not per queue: a pause in several queues at once
    (PAUSEALL followed by one PAUSE per queue) is one interval.
    """

    node: str
    agent: str
    state: AgentState
    reason: str
    started_at: int
    ended_at: int | None = None

    @property
    def key(self) -> tuple[str, str, AgentState, int]:
        return (self.node, self.agent, self.state, self.started_at)


@dataclass(frozen=True, slots=True)
class AgentSession:
    """An agent logged in to one queue: ADDMEMBER until REMOVEMEMBER."""

    node: str
    agent: str
    queue: str
    started_at: int
    ended_at: int | None = None

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.node, self.agent, self.queue, self.started_at)


@dataclass(frozen=True, slots=True)
class AcwInterval:
    """After-call work (话后处理): the agent's ``acw`` pause, tied to the call behind it.

    ``callid``/``queue``/``seq`` name the answered entry whose end started the
    ACW (the key of its ``QueueEntryFact`` without the node), or are ``None``
    when it cannot be told. The length is uncapped here; ``acw_max_s`` is
    applied by the KPI arithmetic.
    """

    node: str
    agent: str
    started_at: int
    ended_at: int | None = None
    ended_by: AcwEnd | None = None
    callid: str | None = None
    queue: str | None = None
    seq: int | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.node, self.agent, self.started_at)

    @property
    def entry_key(self) -> tuple[str, str, str, int] | None:
        if self.callid is None or self.queue is None or self.seq is None:
            return None
        return (self.node, self.callid, self.queue, self.seq)

    @property
    def length_s(self) -> int | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass(frozen=True, slots=True)
class CallFact:
    """One call (one Asterisk Linkedid), from its first channel (``Uniqueid == Linkedid``).

    ``started_at`` is the earliest moment the evidence shows the call existed:
    the first channel's Newchannel on AMI; from queue_log alone, the caller's
    first ENTERQUEUE (the call began at or before it). ``line`` is the dialed
    number (DNIS) when the call came in through the trunk context. ``ended_at``
    and ``hangup_cause`` come from that channel's Hangup (AMI only). Snapshots
    of one call merge on ``key`` (see ``callctl.ingest.upserts``): the earliest
    ``started_at`` and the latest ``ended_at`` win, a known value is never
    erased, and a value from AMI is never replaced by one from queue_log.
    """

    node: str
    linkedid: str
    started_at: int
    line: str | None = None
    caller_num: str | None = None
    caller_name: str | None = None
    ended_at: int | None = None
    hangup_cause: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.node, self.linkedid)


@dataclass(frozen=True, slots=True)
class SurveyAnswerFact:
    """A caller's post-call survey answer (满意度测评), tied to the queue entry it rates.

    ``answer`` is the DTMF key pressed (0-9; which count as satisfied is the line's
    setting); ``agent`` the member who took the call. Reported by the survey's
    ``UserEvent`` (AMI) and its ``CALLCTL_SURVEY`` queue_log line (``ivr.survey``).
    No fact: no answer (the caller hung up during the survey, or had none).
    ``channel``: ``inbound`` (after the call) or ``outbound`` (a survey call placed
    later, ``POST /api/v1/surveys/outbound``; still keyed by the entry it rates).
    """

    node: str
    callid: str
    queue: str
    seq: int
    answer: int
    answered_at: int
    agent: str | None = None
    channel: str = "inbound"

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.node, self.callid, self.queue, self.seq)


@dataclass(frozen=True, slots=True)
class IvrStepFact:
    """One step of a call through its line's IVR flow (``ivr.compile``).

    ``step`` counts the call's steps from 1; ``digit`` is the key pressed at a
    menu (none: ``None``), ``outcome`` what the step did (``key``, ``invalid``,
    ``timeout`` at a menu; ``on``/``off`` for a notice; ``open``/``closed``; the
    queue's name for a queue step). ``since_start_s``: seconds since the call
    began; at the queue step, the time from system entry to queue entry.
    """

    node: str
    callid: str
    step: int
    line: str
    flow: str
    ivr_node: str
    kind: str
    at: int
    since_start_s: int
    digit: str | None = None
    outcome: str | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.node, self.callid, self.step)


@dataclass(frozen=True, slots=True)
class CallbackTaskFact:
    """A callback task (``callback_tasks``): here, a message left in the IVR (留言).

    ``source_ref`` is ``<node>/<uniqueid>``: the same message reported by AMI and by
    queue_log is one task.
    """

    source: str
    source_ref: str
    line: str
    number: str
    created_at: int
    recording_path: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.source_ref)


Fact = (
    QueueEntryFact
    | AgentStateInterval
    | AgentSession
    | AcwInterval
    | CallFact
    | SurveyAnswerFact
    | IvrStepFact
    | CallbackTaskFact
)
