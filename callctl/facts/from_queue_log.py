"""Fold queue_log events, in file order, into call facts.

``QueueLogFolder.feed`` takes one event and returns the facts it created or
changed, each as its complete new value: upsert them on their ``key``. The
folder holds no file offset, only the open calls and agents, so a tailer can
feed it line by line and a rebuild can replay a whole file: both give the same
facts. To resume after a restart, replay from a point before the oldest call
still open (e.g. the start of the file or the last QUEUESTART): replaying is
idempotent, and events of calls that began before the replay point are
counted as orphans and skipped rather than guessed.

After QUEUESTART (Asterisk restarted) the calls that were open are gone
without a trace in queue_log. Entries still waiting are closed as ``lost``
at the QUEUESTART time (kpi-definitions.md): the caller asked for a human and
never got one. Entries in conversation keep their answer (their end is never
logged). Sessions and pauses are kept, because with ``persistentmembers``
(the default) Asterisk restores dynamic members and their pause state without
logging ADDMEMBER; callctl puts back what a restart loses
(``agents.restore``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from callctl.facts import entry_transitions as transitions
from callctl.facts.agent_fold import AgentFolder, EntryId
from callctl.facts.ivr import message_from_queue_log, step_from_queue_log
from callctl.facts.models import Fact, QueueEntryFact
from callctl.facts.queue_log import (
    AddMember,
    CallEnded,
    Connect,
    EnterQueue,
    Malformed,
    OtherEvent,
    Pause,
    QueueLogEvent,
    QueueStart,
    RemoveMember,
    RingCanceled,
    RingNoAnswer,
    Unpause,
    WaitEnded,
    parse_lines,
)
from callctl.facts.survey import answer_from_queue_log
from ivr.compile import IVR_QUEUE_LOG_EVENT, MESSAGE_QUEUE_LOG_EVENT
from ivr.survey import SURVEY_QUEUE_LOG_EVENT

log = logging.getLogger(__name__)

_E = TypeVar("_E", bound=QueueLogEvent)

_PRUNE_EVERY_S = 300


@dataclass(frozen=True, slots=True)
class FoldStats:
    """What the folder could not turn into facts, for metrics and logs."""

    events: int = 0
    ignored: int = 0
    """Events callctl does not use (PENALTY, CONFIGRELOAD ...)."""
    orphans: int = 0
    """Events for a call or session the folder never saw begin."""
    illegal: int = 0
    """Events out of order for their entry (e.g. COMPLETE before CONNECT)."""
    lost_on_restart: int = 0
    """Entries open at QUEUESTART: the waiting ones closed as lost, the answered dropped."""
    expired: int = 0
    """Entries still open after ``retention_s``, dropped from the state."""


class QueueLogFolder:
    """Incremental, pure builder of facts from one Asterisk node's queue_log.

    ``agent_names`` maps what queue_log writes in the agent field to the agent's
    canonical name. It matters when queues.conf leaves
    ``log_membername_as_agent=no``: ADDMEMBER/REMOVEMEMBER then carry the
    interface (``PJSIP/1001``) while calls and pauses carry the member name.
    """

    def __init__(
        self,
        node: str,
        *,
        agent_names: Mapping[str, str] | None = None,
        acw_reason: str = "acw",
        retention_s: int = 12 * 3600,
    ) -> None:
        self._node = node
        self._agent_names: Mapping[str, str] = agent_names or {}
        self._retention_s = retention_s
        self._agents = AgentFolder(node, acw_reason=acw_reason)
        self._open: dict[tuple[str, str], QueueEntryFact] = {}
        # Last seq used per (callid, queue) and when it was last touched, so
        # that a second stay in the same queue gets seq 2.
        self._seq: dict[tuple[str, str], tuple[int, int]] = {}
        self._counts = _Counts()
        self._last_prune = 0

    @property
    def stats(self) -> FoldStats:
        c = self._counts
        return FoldStats(
            events=c.events,
            ignored=c.ignored,
            orphans=c.orphans + self._agents.orphans,
            illegal=c.illegal,
            lost_on_restart=c.lost_on_restart,
            expired=c.expired,
        )

    @property
    def open_entries(self) -> list[QueueEntryFact]:
        """Entries waiting or in conversation, in arrival order."""
        return list(self._open.values())

    def feed(self, event: QueueLogEvent) -> list[Fact]:
        self._counts.events += 1
        self._prune(event.time)
        match event:
            case EnterQueue():
                return [self._enter(event)]
            case RingNoAnswer() | RingCanceled():
                return _listed(self._update(event, transitions.ring_missed))
            case Connect():
                return self._connect(event)
            case WaitEnded():
                return _listed(self._update(event, transitions.leave_unanswered))
            case CallEnded():
                return self._complete(event)
            case Pause():
                return self._agents.pause(self._agent(event.agent), event.reason, event.time)
            case Unpause():
                return self._agents.unpause(self._agent(event.agent), event.time)
            case AddMember():
                agent = self._agent(event.agent)
                return self._agents.add_member(agent, event.queue, event.time, paused=event.paused)
            case RemoveMember():
                return self._agents.remove_member(self._agent(event.agent), event.queue, event.time)
            case QueueStart():
                return self._restart(event.time)
            case OtherEvent(event=name) if name == SURVEY_QUEUE_LOG_EVENT:
                return self._survey(event)
            case OtherEvent(event=name) if name == IVR_QUEUE_LOG_EVENT:
                return self._custom(
                    step_from_queue_log(self._node, event.callid, event.data, event.time)
                )
            case OtherEvent(event=name) if name == MESSAGE_QUEUE_LOG_EVENT:
                return self._custom(
                    message_from_queue_log(self._node, event.callid, event.data, event.time)
                )
            case _:
                self._counts.ignored += 1
                return []

    def _agent(self, raw: str) -> str:
        return self._agent_names.get(raw, raw)

    def _custom(self, fact: Fact | None) -> list[Fact]:
        """A fact of the dialplan's own QueueLog lines; ``None``: the line was not whole."""
        if fact is None:
            self._counts.illegal += 1
            return []
        return [fact]

    def _survey(self, event: OtherEvent) -> list[Fact]:
        agent = self._agent(event.agent)
        answer = answer_from_queue_log(
            self._node, event.callid, event.queue, agent, event.data, event.time
        )
        if answer is None:
            self._counts.illegal += 1
            return []
        return [answer]

    def _enter(self, event: EnterQueue) -> QueueEntryFact:
        pair = (event.callid, event.queue)
        if pair in self._open:
            # A second ENTERQUEUE while the first stay is open means its end
            # was never logged; the new stay starts regardless.
            self._counts.illegal += 1
        seq = self._seq.get(pair, (0, 0))[0] + 1
        self._seq[pair] = (seq, event.time)
        entry = transitions.open_entry(self._node, event, seq)
        self._open[pair] = entry
        return entry

    def _update(
        self, event: _E, change: Callable[[QueueEntryFact, _E], QueueEntryFact]
    ) -> QueueEntryFact | None:
        """Apply ``change`` to the open entry the event belongs to."""
        pair = (event.callid, event.queue)
        entry = self._open.get(pair)
        if entry is None:
            self._counts.orphans += 1
            return None
        try:
            updated = change(entry, event)
        except transitions.IllegalTransition as illegal:
            self._counts.illegal += 1
            log.warning("queue_log line %d ignored: %s", event.line_no, illegal)
            return None
        if updated.is_closed:
            del self._open[pair]
            self._seq[pair] = (updated.seq, event.time)
        else:
            self._open[pair] = updated
        return updated

    def _connect(self, event: Connect) -> list[Fact]:
        agent = self._agent(event.agent)
        entry = self._update(event, lambda e, ev: transitions.answer(e, ev, agent))
        if entry is None:
            return []
        self._agents.call_answered(agent, _entry_id(entry))
        return [entry]

    def _complete(self, event: CallEnded) -> list[Fact]:
        entry = self._update(event, transitions.complete)
        if entry is None:
            return []
        facts: list[Fact] = [entry]
        if entry.agent is not None:
            facts += self._agents.call_completed(entry.agent, _entry_id(entry), event.time)
        return facts

    def _restart(self, at: int) -> list[Fact]:
        if self._open:
            log.warning("Asterisk restarted with %d queue entries open", len(self._open))
        self._counts.lost_on_restart += len(self._open)
        lost: list[Fact] = []
        for (callid, queue), entry in self._open.items():
            if entry.outcome is None:
                lost.append(transitions.lose(entry, at))
            self._seq[(callid, queue)] = (entry.seq, at)
        self._open.clear()
        return lost

    def _prune(self, now: int) -> None:
        # Bounded memory when tailing for months: forget finished calls' seq
        # counters and drop entries whose end was never logged.
        if now - self._last_prune < _PRUNE_EVERY_S:
            return
        self._last_prune = now
        horizon = now - self._retention_s
        stale = [pair for pair, entry in self._open.items() if entry.entered_at < horizon]
        for pair in stale:
            del self._open[pair]
        self._counts.expired += len(stale)
        self._seq = {
            pair: seen
            for pair, seen in self._seq.items()
            if pair in self._open or seen[1] >= horizon
        }


@dataclass(slots=True)
class _Counts:
    events: int = 0
    ignored: int = 0
    orphans: int = 0
    illegal: int = 0
    lost_on_restart: int = 0
    expired: int = 0


def _listed(entry: QueueEntryFact | None) -> list[Fact]:
    return [] if entry is None else [entry]


def _entry_id(entry: QueueEntryFact) -> EntryId:
    return (entry.callid, entry.queue, entry.seq)


@dataclass(frozen=True, slots=True)
class FoldResult:
    """A whole queue_log folded: the final value of every fact, and what was skipped."""

    facts: list[Fact]
    malformed: list[Malformed] = field(default_factory=list)
    stats: FoldStats = FoldStats()


def latest_facts(facts: Iterable[Fact]) -> list[Fact]:
    """The last value of each fact (upsert semantics), in order of first appearance."""
    latest: dict[tuple[object, ...], Fact] = {}
    for fact in facts:
        latest[(type(fact).__name__, *fact.key)] = fact
    return list(latest.values())


def fold_queue_log(
    lines: Iterable[str],
    node: str,
    *,
    agent_names: Mapping[str, str] | None = None,
    acw_reason: str = "acw",
) -> FoldResult:
    """Parse and fold queue_log lines at once (rebuilds, tests)."""
    folder = QueueLogFolder(node, agent_names=agent_names, acw_reason=acw_reason)
    emitted: list[Fact] = []
    malformed: list[Malformed] = []
    for item in parse_lines(lines):
        if isinstance(item, Malformed):
            malformed.append(item)
        else:
            emitted += folder.feed(item)
    return FoldResult(latest_facts(emitted), malformed, folder.stats)
