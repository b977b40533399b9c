"""Typed AMI events → call facts, the live twin of the queue_log builder. Pure.

``AmiNormalizer.feed`` takes one event and returns the facts it created or
changed, each as a whole snapshot to upsert on its natural ``key``. A fact built
here equals the one ``callctl.facts.from_queue_log`` builds from the same call's
queue_log lines: each AMI event is turned into the queue_log event Asterisk
writes for the same moment, and the very same transitions
(``callctl.facts.entry_transitions``) and agent fold (``AgentFolder``) apply it.

How AMI is read (checked against Asterisk 22.10.1 ``apps/app_queue.c`` and the
recorded lab transcripts in ``tests/fixtures/ami_recorded``):

- **Times.** ``entered_at`` is the floor of QueueCallerJoin's ``Timestamp``.
  ``ended_wait_at`` is ``entered_at + wait_s`` and ``completed_at`` is
  ``entered_at + HoldTime + TalkTime`` of AgentComplete, not the floor of the
  event's own ``Timestamp``: Asterisk computes HoldTime as ``now - qe->start``
  and TalkTime as ``now - callstart`` with the same ``time(NULL)`` it writes in
  the CONNECT/ABANDON/EXIT*/COMPLETE* line, whereas the AMI ``Timestamp`` is
  taken later, when the manager thread formats the Stasis message, and may
  fall into the next second (``ring_then_answered.ami`` shows it). Agent facts use Asterisk's own
  figures where the event has them (``LastPause`` for a pause, ``LoginTime``
  for a login, the same numbers QueueStatus reports after a resync), else the
  floor of ``Timestamp``.
- **Rings.** ``ring_attempts`` counts RINGNOANSWER, RINGCANCELED and the
  ring that connected. AgentRingNoAnswer and RINGNOANSWER come from the same
  ``rna()`` call. RINGCANCELED has **no AMI event**: Asterisk writes one line
  per agent still ringing when the caller cancels (hangs up, ``*``, exit
  key). So rings are tracked from AgentCalled by the member's Interface (one
  call attempt per member; unlike the agent leg's Uniqueid it survives a call
  forward), dropped by AgentRingNoAnswer (counted), AgentDump, or a DialEnd
  ``ANSWER`` (someone answered: the others are hung up without a queue_log
  line), and those left when the caller abandons or exits with a key count
  as canceled.
- **Abandon or timeout.** QueueCallerAbandon comes from ``record_abandoned()``,
  which Asterisk calls for ABANDON but also for EXITWITHTIMEOUT, EXITEMPTY and
  WITHDRAW (not EXITWITHKEY, which has no AMI event of its own). A real
  abandon is the caller's channel going away, and that always shows on AMI
  *before* QueueCallerAbandon: a HangupRequest (the caller hung up) or a
  SoftHangupRequest (Hangup action, shutdown) on the caller's Uniqueid. So:
  with such a request seen, the entry closes as abandoned at once. Without
  it, the caller is still up and Queue() returned to the dialplan, which
  (``asterisk-config/templates/extensions.conf.in``) emits ``UserEvent
  CallctlQueueExit`` with ``Status: ${QUEUESTATUS}``: TIMEOUT gives timeout,
  LEAVEEMPTY/LEAVEUNAVAIL empty, WITHDRAW transfer. The entry is held until
  that event; if instead the caller's channel hangs up, joins another queue,
  or ``exit_status_grace_s`` passes (an AMI Redirect moves a waiting caller
  with no event, and queue_log calls that ABANDON), it closes as abandoned.
- **Answered.** QueueCallerLeave precedes AgentConnect (Asterisk leaves the
  queue, runs the connect Gosub, then logs CONNECT). A Leave with no
  Connect and no abandon is an EXITWITHKEY, told when the caller hangs up or
  joins another queue; its ``wait_s`` is the Leave's time minus
  ``entered_at``, the only figure AMI gives (queue_log has the exact one).

- **Callers without a snapshot.** An Agent* event whose caller channel is already
  gone carries no caller part at all (no ``Channel``, no ``Uniqueid``; seen under
  load on AgentComplete after the caller hung up). The call is then found from
  what is there: the agent leg's ``DestUniqueid`` (remembered from AgentConnect),
  a ``Linkedid`` that names a known caller, or the one caller of that queue the
  member is with. HoldTime, TalkTime and Reason are the event's own, so
  ``talk_s`` and ``hangup_side`` are kept.
- **Restarts.** FullyBooted's ``Uptime`` gives Asterisk's start time. When it is
  later than the one seen before, the node restarted while callctl was away:
  callers still waiting are closed as ``lost`` at the start time (queue_log's
  QUEUESTART, which reconciliation writes exactly), exits already under way are
  settled, and calls in conversation are dropped as they are in queue_log.

- **Calls.** A ``CallFact`` per Linkedid comes from the call's first channel
  (``Uniqueid == Linkedid``): its Newchannel gives ``started_at``, the caller
  number and name (``<unknown>`` or empty is null) and, when the channel comes
  in through the trunk context (``from-trunk``, rendered by ``routing.render``),
  the dialed number as ``line``; its Hangup gives ``ended_at`` and the cause.
  A Hangup whose Newchannel was not seen (the call began before the AMI
  session) is counted and skipped: its start is unknown, and queue_log
  reconciliation supplies a bound for it.

Each queue entry runs a small state machine (``StayState``): an event that
does not fit raises ``IllegalStayMove`` (or the entry transitions'
``IllegalTransition``); ``feed`` catches both, counts and logs them, and
carries on. Agent facts (pauses, ACW, sessions) are folded by the queue_log
builder's ``AgentFolder`` itself, fed in the same terms, so the two paths
cannot drift apart there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final

from ami.boot import BootClock
from ami.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentDump,
    AgentEvent,
    AgentRingNoAnswer,
    AmiEvent,
    FullyBooted,
    GenericEvent,
    Hangup,
    Newchannel,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueMemberAdded,
    QueueMemberPause,
    QueueMemberRemoved,
    UserEvent,
)
from callctl.facts import entry_transitions as transitions
from callctl.facts.agent_fold import AgentFolder, EntryId
from callctl.facts.ivr import message_from_user_event, step_from_user_event
from callctl.facts.models import CallFact, Fact, QueueEntryFact
from callctl.facts.queue_log import (
    NONE,
    Abandon,
    AttendedTransfer,
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
from callctl.facts.survey import answer_from_user_event
from ivr.compile import IVR_USER_EVENT, MESSAGE_USER_EVENT
from ivr.survey import SURVEY_USER_EVENT
from routing.render import TRUNK_CONTEXT

log = logging.getLogger(__name__)

QUEUE_EXIT_EVENT: Final = "CallctlQueueExit"
"""The dialplan's ``UserEvent`` after Queue() returns (extensions.conf.in)."""

_PRUNE_EVERY_S: Final = 300
_UNKNOWN_NUMBER: Final = "<unknown>"


class StayState(StrEnum):
    """Where one queue entry (one stay of a caller in a queue) stands on AMI."""

    WAITING = "waiting"
    """Joined; no agent has connected and the caller has not left."""
    LEFT = "left"
    """QueueCallerLeave with no outcome yet: AgentConnect follows, or it was an exit key."""
    EXITING = "exiting"
    """QueueCallerAbandon without a hangup request: abandon, timeout, empty or
    withdraw, told by the dialplan's exit event or the caller's hangup."""
    TALKING = "talking"
    """Answered; AgentComplete will end it."""
    CLOSED = "closed"


_MOVES: Final[dict[StayState, frozenset[StayState]]] = {
    # WAITING -> TALKING too: QueueCallerLeave may be filtered out of the session.
    StayState.WAITING: frozenset(
        {StayState.LEFT, StayState.EXITING, StayState.TALKING, StayState.CLOSED}
    ),
    StayState.LEFT: frozenset({StayState.TALKING, StayState.CLOSED}),
    StayState.EXITING: frozenset({StayState.CLOSED}),
    StayState.TALKING: frozenset({StayState.CLOSED}),
    StayState.CLOSED: frozenset(),
}


class IllegalStayMove(Exception):
    """An AMI event that cannot apply to a queue entry in its current state."""

    error_id = "ami_normalizer.illegal_transition"

    def __init__(self, stay: _Stay, event: str, target: StayState | None = None) -> None:
        move = f" -> {target}" if target is not None else ""
        super().__init__(f"{event} on {stay.state}{move} entry {stay.entry.key}")
        self.entry = stay.entry
        self.state = stay.state
        self.event = event


@dataclass(slots=True, eq=False)
class _Stay:
    entry: QueueEntryFact
    state: StayState = StayState.WAITING
    ringing: set[str] = field(default_factory=set)
    leg: str | None = None
    """The agent leg's Uniqueid once answered (AgentConnect's DestUniqueid)."""
    """Members ringing now (AgentCalled's Interface, else the agent leg's Uniqueid)."""
    hangup_requested: bool = False
    # Set when the caller leaves unanswered (QueueCallerAbandon or Leave).
    exit_wait_s: int = 0
    exit_position: int | None = None
    exit_orig_position: int | None = None
    exit_seen_at: int = 0

    @property
    def entry_id(self) -> EntryId:
        return (self.entry.callid, self.entry.queue, self.entry.seq)

    def check(self, target: StayState, event: str) -> None:
        if target not in _MOVES[self.state]:
            raise IllegalStayMove(self, event, target)


@dataclass(frozen=True, slots=True)
class NormalizerStats:
    """What the normalizer saw and could not use, for metrics and logs."""

    events_seen: int = 0
    events_ignored: int = 0
    """Events no fact depends on (Newchannel, VarSet, QueueMemberStatus ...)."""
    malformed_events: int = 0
    """Events with a header that should be a number and is not, or missing one
    they cannot be identified without; used as far as they go."""
    illegal_transitions: int = 0
    """Events out of order for their entry (AgentComplete before AgentConnect ...)."""
    unknown_calls: int = 0
    """Queue events of a caller whose QueueCallerJoin was not seen (e.g. joined
    before the AMI session started): skipped, queue_log reconciles them."""
    lost_entries: int = 0
    """Entries whose caller vanished with no exit event, or that outlived
    ``retention_s``: dropped from the state, left as last emitted."""
    exits_without_status: int = 0
    """Unanswered exits taken as abandons without proof: QueueCallerAbandon with
    no hangup request before it and no dialplan exit event after it (settled by
    the caller's hangup, a new join or the grace period), or an exit Status
    that names no outcome. Expected for an AMI Redirect of a waiting caller;
    many of them mean the UserEvent is filtered out of the AMI session."""
    untimed_events: int = 0
    """Events used without a readable ``Timestamp``: timed by ``received_at``."""
    agent_orphans: int = 0
    """Member removals and similar with nothing to close (``AgentFolder``)."""
    calls_without_start: int = 0
    """Hangups of a call's first channel whose Newchannel was not seen: no call fact."""
    calls_lost: int = 0
    """Calls whose Hangup never came within ``retention_s``: left as last emitted."""
    callerless_events: int = 0
    """Agent* events without the caller's snapshot (no ``Uniqueid``), matched to a
    known caller by the agent leg, a Linkedid or the member."""
    restarts: int = 0
    """Asterisk restarts seen (a later start time in FullyBooted's ``Uptime``)."""
    lost_on_restart: int = 0
    """Waiting entries closed as ``lost`` because their node restarted."""


@dataclass(slots=True)
class _Counts:
    events_seen: int = 0
    events_ignored: int = 0
    malformed_events: int = 0
    illegal_transitions: int = 0
    unknown_calls: int = 0
    lost_entries: int = 0
    exits_without_status: int = 0
    untimed_events: int = 0
    calls_without_start: int = 0
    calls_lost: int = 0
    callerless_events: int = 0
    restarts: int = 0
    lost_on_restart: int = 0


_Handler = Callable[[Any], list[Fact]]
_Reporter = Callable[[str, str | None, Mapping[str, str], int], Fact | None]
"""A dialplan report (UserEvent) to its fact: node, Uniqueid, fields, time."""

_EXIT_STATUSES: Final[dict[str, type[WaitEnded]]] = {
    "TIMEOUT": ExitWithTimeout,
    "LEAVEEMPTY": ExitEmpty,
    "LEAVEUNAVAIL": ExitEmpty,
    "WITHDRAW": Withdraw,
}

_QUEUE_LOG_NAMES: Final[dict[type[WaitEnded], str]] = {
    Abandon: "ABANDON",
    ExitWithTimeout: "EXITWITHTIMEOUT",
    ExitEmpty: "EXITEMPTY",
    Withdraw: "WITHDRAW",
    ExitWithKey: "EXITWITHKEY",
}

_COMPLETIONS: Final[dict[str, type[CallEnded]]] = {
    "caller": CompleteCaller,
    "agent": CompleteAgent,
    "transfer": AttendedTransfer,
}


def event_time(event: AmiEvent) -> int | None:
    """The floor of the event's ``Timestamp`` (manager.conf timestampevents), or None."""
    raw = event.headers.get("Timestamp")
    if raw is None:
        return None
    whole = raw.partition(".")[0]
    return int(whole) if whole.isdigit() else None


class AmiNormalizer:
    """Incremental, pure builder of facts from one Asterisk node's AMI events.

    ``exit_status_grace_s`` bounds how long an unanswered exit waits for the
    dialplan's ``CallctlQueueExit`` event before it is taken as an abandon;
    ``retention_s`` drops entries whose end never arrives.
    """

    def __init__(
        self,
        node: str,
        acw_reason: str = "acw",
        *,
        exit_status_grace_s: int = 5,
        retention_s: int = 12 * 3600,
        queue_exit_event: str = QUEUE_EXIT_EVENT,
        trunk_context: str = TRUNK_CONTEXT,
    ) -> None:
        self._node = node
        self._trunk_context = trunk_context
        self._grace_s = exit_status_grace_s
        self._retention_s = retention_s
        self._queue_exit_event = queue_exit_event
        self._agents = AgentFolder(node, acw_reason=acw_reason)
        # A caller's channel runs one Queue() at a time: its stay before an
        # answer, by Uniqueid. Answered stays wait for AgentComplete by
        # (Uniqueid, queue): a transferred caller may join a queue meanwhile.
        self._waiting: dict[str, _Stay] = {}
        self._talking: dict[tuple[str, str], _Stay] = {}
        # Answered stays by their agent leg's Uniqueid, for events without the caller.
        self._talking_by_leg: dict[str, tuple[str, str]] = {}
        self._exiting: dict[str, _Stay] = {}
        # Last seq per (Uniqueid, queue), in order of last use, so that a second
        # stay in the same queue gets seq 2 and pruning pops from the front.
        self._seq: dict[tuple[str, str], tuple[int, int]] = {}
        # Calls whose first channel is up, by Linkedid, in order of start.
        self._calls: dict[str, CallFact] = {}
        self._counts = _Counts()
        self._last_prune = 0
        self._boot = BootClock()
        self._handlers: dict[type[AmiEvent], _Handler] = {
            QueueCallerJoin: self._on_join,
            QueueCallerLeave: self._on_leave,
            QueueCallerAbandon: self._on_abandon,
            AgentCalled: self._on_agent_called,
            AgentRingNoAnswer: self._on_ring_no_answer,
            AgentDump: self._on_agent_dump,
            AgentConnect: self._on_connect,
            AgentComplete: self._on_complete,
            Hangup: self._on_hangup,
            Newchannel: self._on_new_channel,
            UserEvent: self._on_user_event,
            QueueMemberPause: self._on_member_pause,
            QueueMemberAdded: self._on_member_added,
            QueueMemberRemoved: self._on_member_removed,
            FullyBooted: self._on_fully_booted,
            GenericEvent: self._on_generic,
        }
        self._reporters: dict[str, _Reporter] = {
            SURVEY_USER_EVENT: answer_from_user_event,
            IVR_USER_EVENT: step_from_user_event,
            MESSAGE_USER_EVENT: message_from_user_event,
        }
        # Events ami.events has no model for arrive as GenericEvent, told by name.
        self._by_name: dict[str, _Handler] = {
            "HangupRequest": self._on_hangup_request,
            "SoftHangupRequest": self._on_hangup_request,
            "DialEnd": self._on_dial_end,
        }

    @property
    def stats(self) -> NormalizerStats:
        c = self._counts
        return NormalizerStats(
            events_seen=c.events_seen,
            events_ignored=c.events_ignored,
            malformed_events=c.malformed_events,
            illegal_transitions=c.illegal_transitions,
            unknown_calls=c.unknown_calls,
            lost_entries=c.lost_entries,
            exits_without_status=c.exits_without_status,
            untimed_events=c.untimed_events,
            agent_orphans=self._agents.orphans,
            calls_without_start=c.calls_without_start,
            calls_lost=c.calls_lost,
            callerless_events=c.callerless_events,
            restarts=c.restarts,
            lost_on_restart=c.lost_on_restart,
        )

    @property
    def open_entries(self) -> list[QueueEntryFact]:
        """Entries whose caller waits, or talks to an agent, in arrival order."""
        stays = [*self._waiting.values(), *self._talking.values()]
        return [stay.entry for stay in sorted(stays, key=lambda s: s.entry.entered_at)]

    def feed(self, event: AmiEvent) -> list[Fact]:
        counts = self._counts
        counts.events_seen += 1
        expired = self._expire_exits(event) if self._exiting else None
        handler = self._handlers.get(type(event))
        if handler is None:
            counts.events_ignored += 1
            return expired or []
        if event.invalid_fields and event.name:
            counts.malformed_events += 1
            log.warning("AMI %s with malformed %s", event.name, event.invalid_fields)
        try:
            produced = handler(event)
        except (IllegalStayMove, transitions.IllegalTransition) as illegal:
            counts.illegal_transitions += 1
            log.warning("AMI %s ignored: %s", event.name, illegal)
            return expired or []
        return expired + produced if expired else produced

    def _on_generic(self, event: GenericEvent) -> list[Fact]:
        handler = self._by_name.get(event.name)
        if handler is not None and not event.invalid_fields:
            return handler(event)
        if not (event.invalid_fields and event.name):
            # Not counted as malformed: an event nothing depends on, or no event at all
            # (a response frame).
            self._counts.events_ignored += 1
        return []

    # --- callers ---------------------------------------------------------------------------

    def _on_join(self, event: QueueCallerJoin) -> list[Fact]:
        at = self._time(event)
        self._prune(at)
        facts = self._settle_previous(event.uniqueid, event.name)
        pair = (event.uniqueid, event.queue)
        last = self._seq.pop(pair, None)
        seq = 1 if last is None else last[0] + 1
        self._seq[pair] = (seq, at)
        enter = EnterQueue(
            0,
            at,
            event.uniqueid,
            event.queue,
            NONE,
            event.name,
            url=_chan_variable(event.headers, LINE_VARIABLE) or "",
            caller_num=_known(event.caller_id_num),
            position=event.position,
        )
        stay = _Stay(transitions.open_entry(self._node, enter, seq))
        self._waiting[event.uniqueid] = stay
        facts.append(stay.entry)
        return facts

    def _settle_previous(self, uniqueid: str, cause: str) -> list[Fact]:
        """The caller joins again: whatever its last stay awaited is now told."""
        stay = self._waiting.get(uniqueid)
        if stay is None:
            return []
        if stay.state is StayState.WAITING:
            # Its exit was never seen (events lost): the new stay starts regardless.
            self._counts.lost_entries += 1
            self._drop(stay)
            return []
        return self._settle(stay, cause)

    def _on_leave(self, event: QueueCallerLeave) -> list[Fact]:
        stay = self._waiting.get(event.uniqueid)
        if stay is None or stay.entry.queue != event.queue or stay.state is StayState.EXITING:
            return []  # closed already, or the Leave that follows every abandon
        stay.check(StayState.LEFT, event.name)
        stay.state = StayState.LEFT
        at = self._time(event)
        stay.exit_wait_s = max(at - stay.entry.entered_at, 0)
        stay.exit_position = event.position
        stay.exit_orig_position = event.position
        stay.exit_seen_at = at
        return []

    def _on_abandon(self, event: QueueCallerAbandon) -> list[Fact]:
        stay = self._stay_of(event.uniqueid, event.queue)
        if stay is None:
            return []
        # The caller hung up (or was hung up): an abandon, known now.
        abandoned = stay.hangup_requested
        stay.check(StayState.CLOSED if abandoned else StayState.EXITING, event.name)
        at = self._time(event)
        stay.exit_wait_s = (
            event.wait_s if event.wait_s is not None else max(at - stay.entry.entered_at, 0)
        )
        stay.exit_position = event.position
        stay.exit_orig_position = event.original_position
        stay.exit_seen_at = at
        if abandoned:
            return self._leave_unanswered(stay, Abandon, event.name)
        stay.state = StayState.EXITING
        self._exiting[event.uniqueid] = stay
        return []

    def _on_user_event(self, event: UserEvent) -> list[Fact]:
        reported = self._reporters.get(event.user_event)
        if reported is not None:
            return self._on_report(event, reported)
        if event.user_event != self._queue_exit_event or event.uniqueid is None:
            self._counts.events_ignored += 1
            return []
        stay = self._waiting.get(event.uniqueid)
        if stay is None:
            # JOINEMPTY, FULL ...: never joined, no entry on either path; or
            # the exit of an entry already closed.
            return []
        fields = event.fields
        if fields.get("Queue", stay.entry.queue) != stay.entry.queue:
            raise IllegalStayMove(stay, f"{event.user_event}({fields.get('Queue')})")
        if stay.state is not StayState.EXITING:
            raise IllegalStayMove(stay, event.user_event, StayState.CLOSED)
        kind = _EXIT_STATUSES.get(fields.get("Status", ""))
        if kind is None:
            self._counts.exits_without_status += 1
            kind = Abandon
        return self._leave_unanswered(stay, kind, event.user_event)

    def _on_report(self, event: UserEvent, reported: _Reporter) -> list[Fact]:
        """The dialplan's own reports: survey answers, IVR steps, messages."""
        fact = reported(self._node, event.uniqueid, event.fields, self._time(event))
        if fact is None:
            self._counts.malformed_events += 1
            log.warning("AMI %s %s not whole: %s", event.name, event.user_event, event.fields)
            return []
        return [fact]

    def _on_hangup_request(self, event: GenericEvent) -> list[Fact]:
        uniqueid = event.headers.get("Uniqueid")
        stay = self._waiting.get(uniqueid) if uniqueid is not None else None
        if stay is not None:
            stay.hangup_requested = True
        return []

    def _on_hangup(self, event: Hangup) -> list[Fact]:
        facts = self._end_call(event)
        stay = self._waiting.get(event.uniqueid)
        if stay is None:
            return facts  # an agent leg, a caller not in a queue, or already closed
        if stay.state is StayState.WAITING:
            # Gone with no QueueCallerAbandon/Leave: events were lost.
            self._counts.lost_entries += 1
            self._drop(stay)
            return facts
        return facts + self._settle(stay, event.name)

    # --- calls -----------------------------------------------------------------------------

    def _on_new_channel(self, event: Newchannel) -> list[Fact]:
        if event.linkedid != event.uniqueid or event.uniqueid in self._calls:
            return []  # a further leg of a call (agent, Local ...), or a repeat
        at = self._time(event)
        self._prune(at)
        call = CallFact(
            self._node,
            event.uniqueid,
            at,
            line=(event.exten or None) if event.context == self._trunk_context else None,
            caller_num=_known(event.caller_id_num),
            caller_name=_known(event.caller_id_name),
        )
        self._calls[event.uniqueid] = call
        return [call]

    def _end_call(self, event: Hangup) -> list[Fact]:
        if event.linkedid != event.uniqueid:
            return []
        call = self._calls.pop(event.uniqueid, None)
        if call is None:
            self._counts.calls_without_start += 1
            return []
        ended = replace(
            call, ended_at=max(self._time(event), call.started_at), hangup_cause=event.cause
        )
        return [ended]

    def _settle(self, stay: _Stay, cause: str) -> list[Fact]:
        """Close a LEFT or EXITING stay whose dialplan exit event will not come."""
        if stay.state is StayState.LEFT:
            return self._leave_unanswered(stay, ExitWithKey, cause)
        self._counts.exits_without_status += 1
        return self._leave_unanswered(stay, Abandon, cause)

    def _expire_exits(self, event: AmiEvent) -> list[Fact]:
        now = event_time(event)
        if now is None:
            return []
        facts: list[Fact] = []
        for stay in [s for s in self._exiting.values() if now - s.exit_seen_at > self._grace_s]:
            facts += self._settle(stay, "exit status grace")
        return facts

    def _leave_unanswered(self, stay: _Stay, kind: type[WaitEnded], cause: str) -> list[Fact]:
        stay.check(StayState.CLOSED, cause)
        entry = stay.entry
        if kind is Abandon or kind is ExitWithKey:
            for _ in stay.ringing:
                entry = transitions.ring_missed(entry, self._ring_canceled(entry, cause))
        name = _QUEUE_LOG_NAMES[kind]
        head = (0, entry.entered_at + stay.exit_wait_s, entry.callid, entry.queue, NONE, name)
        positions = (stay.exit_position, stay.exit_orig_position, stay.exit_wait_s)
        left: WaitEnded
        if kind is ExitWithKey:
            left = ExitWithKey(*head, *positions, key="")
        elif kind is Withdraw:
            left = Withdraw(*head, *positions, info="")
        else:
            left = kind(*head, *positions)
        entry = transitions.leave_unanswered(entry, left)
        stay.entry = entry
        self._close(stay)
        return [entry]

    @staticmethod
    def _ring_canceled(entry: QueueEntryFact, cause: str) -> RingCanceled:
        return RingCanceled(0, entry.entered_at, entry.callid, entry.queue, NONE, cause, None)

    # --- rings and answers -----------------------------------------------------------------

    def _on_agent_called(self, event: AgentCalled) -> list[Fact]:
        stay = self._stay_of(self._caller_of(event), event.queue)
        if stay is None:
            return []
        if stay.state is not StayState.WAITING:
            raise IllegalStayMove(stay, event.name)
        stay.ringing.add(_ring_key(event))
        return []

    def _on_ring_no_answer(self, event: AgentRingNoAnswer) -> list[Fact]:
        stay = self._stay_of(self._caller_of(event), event.queue)
        if stay is None:
            return []
        if stay.state is not StayState.WAITING:
            raise IllegalStayMove(stay, event.name)
        entry = stay.entry
        ring_ms = None if event.ring_s is None else round(event.ring_s * 1000)
        agent = event.member_name or event.interface or NONE
        at = self._time(event)
        missed = RingNoAnswer(0, at, entry.callid, entry.queue, agent, event.name, ring_ms)
        stay.entry = transitions.ring_missed(entry, missed)
        stay.ringing.discard(_ring_key(event))
        return [stay.entry]

    def _on_dial_end(self, event: GenericEvent) -> list[Fact]:
        headers = event.headers
        if headers.get("DialStatus") != "ANSWER":
            return []
        stay = self._waiting.get(headers.get("Uniqueid", ""))
        if stay is not None:
            # Asterisk hangs up the other rings without a queue_log line.
            stay.ringing.clear()
        return []

    def _on_agent_dump(self, event: AgentDump) -> list[Fact]:
        uniqueid = self._caller_of(event)
        stay = self._waiting.get(uniqueid) if uniqueid is not None else None
        if stay is not None:
            stay.ringing.discard(_ring_key(event))
        return []

    def _on_connect(self, event: AgentConnect) -> list[Fact]:
        stay = self._stay_of(self._caller_of(event), event.queue)
        if stay is None:
            return []
        stay.check(StayState.TALKING, event.name)
        entry = stay.entry
        wait_s = event.wait_s
        if wait_s is None:
            wait_s = max(self._time(event) - entry.entered_at, 0)
        agent = event.member_name or event.interface or NONE
        connect = Connect(
            0,
            entry.entered_at + wait_s,
            entry.callid,
            entry.queue,
            agent,
            event.name,
            holdtime=wait_s,
            member_uniqueid=event.dest_uniqueid,
            ringtime=None if event.ring_s is None else int(event.ring_s),
        )
        stay.entry = transitions.answer(entry, connect, agent)
        stay.state = StayState.TALKING
        stay.ringing.clear()
        stay.leg = event.dest_uniqueid
        del self._waiting[entry.callid]
        self._exiting.pop(entry.callid, None)
        pair = (entry.callid, entry.queue)
        if pair in self._talking:
            # Answered twice in one queue before the first AgentComplete arrived.
            self._counts.lost_entries += 1
        self._talking[pair] = stay
        if stay.leg is not None:
            self._talking_by_leg[stay.leg] = pair
        self._agents.call_answered(agent, stay.entry_id)
        return [stay.entry]

    def _on_complete(self, event: AgentComplete) -> list[Fact]:
        uniqueid = self._caller_of(event)
        if uniqueid is None:
            self._counts.unknown_calls += 1
            return []
        pair = (uniqueid, event.queue)
        stay = self._talking.get(pair)
        if stay is None:
            waiting = self._waiting.get(uniqueid)
            if waiting is not None and waiting.entry.queue == event.queue:
                raise IllegalStayMove(waiting, event.name, StayState.CLOSED)
            self._counts.unknown_calls += 1
            return []
        stay.check(StayState.CLOSED, event.name)
        entry = stay.entry
        hold_s = event.wait_s if event.wait_s is not None else entry.wait_s or 0
        talk_s = event.talk_s
        if talk_s is None:
            talk_s = max(self._time(event) - entry.entered_at - hold_s, 0)
        kind = _COMPLETIONS.get(event.reason or "", CompleteAgent)
        at = entry.entered_at + hold_s + talk_s
        head = (0, at, entry.callid, entry.queue, entry.agent or NONE, event.name)
        ended: CallEnded
        if kind is AttendedTransfer:
            ended = AttendedTransfer(*head, hold_s, talk_s, None, target=())
        else:
            ended = kind(*head, hold_s, talk_s, None)
        entry = transitions.complete(entry, ended)
        if event.reason is None:
            entry = replace(entry, hangup_side=None)  # Reason unreadable: side unknown
        stay.entry = entry
        del self._talking[pair]
        if stay.leg is not None:
            self._talking_by_leg.pop(stay.leg, None)
        self._close(stay)
        facts: list[Fact] = [entry]
        if entry.agent is not None:
            facts += self._agents.call_completed(entry.agent, stay.entry_id, ended.time)
        return facts

    # --- agents ----------------------------------------------------------------------------

    def _on_member_pause(self, event: QueueMemberPause) -> list[Fact]:
        agent = event.member_name or event.interface
        if event.paused is None:
            return []  # counted as malformed: pause or unpause cannot be told
        at = self._time(event)
        if not event.paused:
            return self._agents.unpause(agent, at)
        return self._agents.pause(agent, event.paused_reason or "", _own_time(event.last_pause, at))

    def _on_member_added(self, event: QueueMemberAdded) -> list[Fact]:
        agent = event.member_name or event.interface
        at = _own_time(event.login_time, self._time(event))
        return self._agents.add_member(agent, event.queue, at, paused=bool(event.paused))

    def _on_member_removed(self, event: QueueMemberRemoved) -> list[Fact]:
        agent = event.member_name or event.interface
        return self._agents.remove_member(agent, event.queue, self._time(event))

    # --- callers without a snapshot, restarts ------------------------------------------------

    def _caller_of(self, event: AgentEvent) -> str | None:
        """The caller's Uniqueid: the event's own, else found from what it does carry."""
        if event.uniqueid is not None:
            return event.uniqueid
        self._counts.callerless_events += 1
        queue = event.queue
        if event.dest_uniqueid is not None:
            pair = self._talking_by_leg.get(event.dest_uniqueid)
            if pair is not None and pair[1] == queue:
                return pair[0]
        for linkedid in (event.linkedid, event.dest_linkedid):
            if linkedid is None:
                continue
            waiting = self._waiting.get(linkedid)
            if (waiting is not None and waiting.entry.queue == queue) or (
                (linkedid, queue) in self._talking
            ):
                return linkedid
        member = event.member_name or event.interface
        if member is None:
            return None
        # The one caller of this queue the member talks to, or is ringing for.
        talking = [
            pair[0]
            for pair, stay in self._talking.items()
            if pair[1] == queue and stay.entry.agent == member
        ]
        if isinstance(event, AgentComplete):
            return talking[0] if len(talking) == 1 else None
        ring_key = event.interface
        ringing = [
            uniqueid
            for uniqueid, stay in self._waiting.items()
            if stay.entry.queue == queue and ring_key is not None and ring_key in stay.ringing
        ]
        return ringing[0] if len(ringing) == 1 else None

    def _on_fully_booted(self, event: FullyBooted) -> list[Fact]:
        restarted_at = self._boot.observe(event)
        if restarted_at is None:
            return []
        return self.node_restarted(restarted_at)

    def node_restarted(self, restarted_at: int) -> list[Fact]:
        """Asterisk restarted at ``restarted_at``: end what it forgot, as queue_log does.

        Callers still waiting are closed as ``lost`` (their stay ends at the restart);
        exits under way are settled as they would have been; answered calls are
        dropped (their end is never told, on either path).
        """
        self._counts.restarts += 1
        facts: list[Fact] = []
        lost = 0
        for stay in list(self._waiting.values()):
            if stay.state is StayState.WAITING:
                stay.check(StayState.CLOSED, "restart")
                stay.entry = transitions.lose(stay.entry, restarted_at)
                self._close(stay)
                lost += 1
                facts.append(stay.entry)
            else:
                facts += self._settle(stay, "restart")
        for stay in list(self._talking.values()):
            self._drop(stay)
        self._counts.lost_on_restart += lost
        log.warning(
            "node %s: Asterisk restarted at %d; %d callers were waiting: closed as lost",
            self._node,
            restarted_at,
            lost,
        )
        return facts

    # --- state -----------------------------------------------------------------------------

    def _time(self, event: AmiEvent) -> int:
        at = event_time(event)
        if at is None:
            # No Timestamp (timestampevents=no) or a broken one: our clock instead.
            self._counts.untimed_events += 1
            return int(event.received_at)
        return at

    def _stay_of(self, uniqueid: str | None, queue: str) -> _Stay | None:
        stay = self._waiting.get(uniqueid) if uniqueid is not None else None
        if stay is None or stay.entry.queue != queue:
            self._counts.unknown_calls += 1
            return None
        return stay

    def _close(self, stay: _Stay) -> None:
        stay.state = StayState.CLOSED
        callid = stay.entry.callid
        if self._waiting.get(callid) is stay:
            del self._waiting[callid]
        if self._exiting.get(callid) is stay:
            del self._exiting[callid]
        entry = stay.entry
        pair = (callid, entry.queue)
        self._seq.pop(pair, None)
        self._seq[pair] = (entry.seq, entry.completed_at or entry.ended_wait_at or entry.entered_at)

    def _drop(self, stay: _Stay) -> None:
        self._close(stay)
        self._talking.pop((stay.entry.callid, stay.entry.queue), None)
        if stay.leg is not None:
            self._talking_by_leg.pop(stay.leg, None)

    def _prune(self, now: int) -> None:
        # Bounded memory over months: forget old seq counters, drop entries
        # whose end never came (AMI gap); queue_log reconciles them.
        if now - self._last_prune < _PRUNE_EVERY_S:
            return
        self._last_prune = now
        horizon = now - self._retention_s
        stale = [
            stay
            for stay in [*self._waiting.values(), *self._talking.values()]
            if stay.entry.entered_at < horizon
        ]
        seq = self._seq
        for stay in stale:
            self._drop(stay)
            del seq[(stay.entry.callid, stay.entry.queue)]
        self._counts.lost_entries += len(stale)
        old = []
        for pair, (_, touched) in seq.items():
            if touched >= horizon:
                break
            old.append(pair)
        for pair in old:
            del seq[pair]
        stale_calls = []
        for linkedid, call in self._calls.items():
            if call.started_at >= horizon:
                break
            stale_calls.append(linkedid)
        for linkedid in stale_calls:
            del self._calls[linkedid]
        self._counts.calls_lost += len(stale_calls)


LINE_VARIABLE = "CALLCTL_LINE"
"""Set by the dialplan on the caller's channel; manager.conf's ``channelvars`` makes
Asterisk add it to every channel event as ``ChanVariable: CALLCTL_LINE=12345``."""


def _chan_variable(headers: Mapping[str, str], name: str) -> str | None:
    raw = headers.get("ChanVariable")
    if raw is None:
        return None
    key, sep, value = raw.partition("=")
    return value if sep and key == name and value else None


def _known(value: str | None) -> str | None:
    """A caller ID field, or None when Asterisk says it is unknown (or sends nothing)."""
    return None if not value or value == _UNKNOWN_NUMBER else value


def _ring_key(event: AgentEvent) -> str:
    return event.interface or event.dest_uniqueid or ""


def _own_time(asterisk_s: int | None, event_s: int) -> int:
    """Asterisk's own epoch for the change (LastPause, LoginTime) if it fits the event."""
    if asterisk_s is not None and 0 <= event_s - asterisk_s <= 2:
        return asterisk_s
    return event_s
