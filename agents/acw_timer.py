"""After-call work that outlasts its line's ``acw_max_s`` (pure).

Asterisk owns ACW: the dialplan pauses the agent with reason ``acw`` when a queue
call ends. callctl only watches: it follows the member's pause state (from
QueueMemberPause/QueueMemberStatus events and the QueueMember list after every
(re)connect, whose ``LastPause`` dates a pause that began while callctl was away)
and says which members have been in ACW longer than allowed.

The limit is the line's ``acw_max_s`` (``acw_caps``: the same caps the KPIs, the
rollups and the live view count ACW with); the dialplan names the line in a
``CallctlAcw`` user event. A pause found without that event (callctl was down when it
began) gets the longest limit among the lines whose calls reach the agent's queues,
so callctl never cuts an ACW short, yet a forgotten one still ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from kpi.inputs import DEFAULT_ACW_MAX_S, AcwCaps
from routing.model import ACW_REASON, PbxModel

# Unpause reason written to queue_log when callctl ends an overlong ACW.
ACW_TIMEOUT_REASON = "acw-timeout"
# When the model has no line at all (no limit is configured anywhere).
FALLBACK_ACW_MAX_S = DEFAULT_ACW_MAX_S


@dataclass(frozen=True, slots=True)
class AcwLimits:
    by_line: Mapping[str, int]
    by_interface: Mapping[str, int]
    default_s: int

    def limit_for(self, interface: str, line: str | None) -> int:
        if line is not None and line in self.by_line:
            return self.by_line[line]
        return self.by_interface.get(interface, self.default_s)


def lines_by_queue(model: PbxModel) -> dict[str, set[str]]:
    """Queue → the lines whose callers can wait in it (directly or after a timeout)."""
    next_queue = {q.name: q.timeout_queue for q in model.queues}
    reached: dict[str, set[str]] = {}
    for line in model.lines:
        queue: str | None = line.queue
        seen: set[str] = set()
        while queue is not None and queue not in seen:
            reached.setdefault(queue, set()).add(line.number)
            seen.add(queue)
            queue = next_queue.get(queue)
    return reached


def acw_caps(model: PbxModel) -> AcwCaps:
    """Each line's ``acw_max_s``; an ACW whose line is unknown gets the longest of them
    (never cut short), or kpi-definitions.md's default when there is no line."""
    return line_caps({line.number: line.acw_max_s for line in model.lines})


def line_caps(by_line: Mapping[str, int]) -> AcwCaps:
    """The caps of these lines, with :func:`acw_caps`' default."""
    return AcwCaps.of(by_line, max(by_line.values(), default=FALLBACK_ACW_MAX_S))


def acw_limits(model: PbxModel) -> AcwLimits:
    caps = acw_caps(model)
    by_line = dict(caps.by_line)
    reached = lines_by_queue(model)
    by_interface: dict[str, int] = {}
    for agent in model.agents:
        limits = [by_line[n] for m in agent.memberships for n in reached.get(m.queue, ())]
        if limits:
            by_interface[agent.interface] = max(limits)
    return AcwLimits(by_line, by_interface, caps.default_s)


@dataclass(frozen=True, slots=True)
class AcwSpell:
    """One member's after-call work in progress (``started_at``: epoch seconds)."""

    interface: str
    started_at: float
    line: str | None = None

    def deadline(self, limits: AcwLimits) -> float:
        return self.started_at + limits.limit_for(self.interface, self.line)


@dataclass(frozen=True, slots=True)
class MemberPause:
    """A member's pause state as Asterisk lists it (QueueMember, QueueMemberStatus)."""

    interface: str
    paused: bool
    reason: str | None
    last_pause: float | None  # epoch seconds; None or 0: unknown


def is_acw(paused: bool | None, reason: str | None) -> bool:
    return bool(paused) and reason == ACW_REASON


@dataclass
class AcwTracker:
    """Members in ACW, by interface. Feed it what Asterisk reports; ask what is due."""

    _spells: dict[str, AcwSpell] = field(default_factory=dict)
    _pending_line: dict[str, str] = field(default_factory=dict)

    @property
    def spells(self) -> tuple[AcwSpell, ...]:
        return tuple(self._spells.values())

    def pause_changed(self, interface: str, paused: bool, reason: str | None, at: float) -> bool:
        """A QueueMemberPause (one per queue). True if an ACW spell began here."""
        if not is_acw(paused, reason):
            self._spells.pop(interface, None)
            return False
        if interface in self._spells:
            return False  # the same pause, reported for another queue
        line = self._pending_line.pop(interface, None)
        self._spells[interface] = AcwSpell(interface, at, line)
        return True

    def line_reported(self, interface: str, line: str) -> None:
        """The dialplan's CallctlAcw event: which line's call this ACW follows."""
        spell = self._spells.get(interface)
        if spell is not None and spell.line is None:
            self._spells[interface] = replace(spell, line=line)
        elif spell is None:
            self._pending_line[interface] = line

    def member_seen(self, member: MemberPause, now: float) -> bool:
        """A member's listed state (after a (re)connect, or a status change).
        True if this opened a spell callctl had not seen begin."""
        if not is_acw(member.paused, member.reason):
            self._spells.pop(member.interface, None)
            return False
        if member.interface in self._spells:
            return False
        started = member.last_pause if member.last_pause else now
        self._spells[member.interface] = AcwSpell(member.interface, started)
        return True

    def resynced(self, members: Iterable[MemberPause], now: float) -> bool:
        """The full member list: spells no longer paused for ACW end; true if any opened."""
        members = list(members)
        in_acw = {m.interface for m in members if is_acw(m.paused, m.reason)}
        for interface in list(self._spells):
            if interface not in in_acw:
                del self._spells[interface]
        earliest: dict[str, MemberPause] = {}
        for m in members:
            if m.interface in in_acw and is_acw(m.paused, m.reason):
                known = earliest.get(m.interface)
                if known is None or (m.last_pause or now) < (known.last_pause or now):
                    earliest[m.interface] = m
        opened = False
        for member in earliest.values():
            opened = self.member_seen(member, now) or opened
        return opened

    def due(self, now: float, limits: AcwLimits) -> list[AcwSpell]:
        """Spells past their limit, oldest deadline first."""
        late = [s for s in self._spells.values() if s.deadline(limits) <= now]
        return sorted(late, key=lambda s: s.deadline(limits))

    def released(self, interface: str) -> None:
        self._spells.pop(interface, None)
