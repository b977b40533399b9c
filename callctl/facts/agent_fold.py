"""Agent-level facts: sessions per queue, pause intervals and after-call work.

Decisions (queue_log gives per-queue lines; KPIs want one agent):

- A pause is one agent-level interval. It opens at the first PAUSE or PAUSEALL
  while the agent is not paused; the per-queue PAUSE lines that follow with
  the same reason fold into it. A PAUSE with another reason ends it and opens
  a new one. The first UNPAUSE or UNPAUSEALL, in any queue, ends it: from then
  on the agent can take calls somewhere. (An agent paused in one queue only
  shows as paused; callctl pauses in all queues.)
- A session is per queue: ADDMEMBER to REMOVEMEMBER.
- Logging off (REMOVEMEMBER that leaves the agent in no known queue) ends the
  open pause and ACW: Asterisk writes no UNPAUSE for a removed member.
- ACW is the pause whose reason is ``acw`` (set by the dialplan's hangup
  handler). It is tied to the agent's answered call that ended within
  ``link_window_s`` of its start, whichever of the two lines came first: the
  COMPLETE* line is written from a Stasis callback and can follow the pause.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from callctl.facts.models import (
    AcwEnd,
    AcwInterval,
    AgentSession,
    AgentState,
    AgentStateInterval,
    Fact,
)

EntryId = tuple[str, str, int]
"""(callid, queue, seq): a queue entry's key within one node."""


@dataclass(slots=True)
class _Agent:
    pause: AgentStateInterval | None = None
    acw: AcwInterval | None = None
    sessions: dict[str, AgentSession] = field(default_factory=dict)
    talking: EntryId | None = None
    last_completed: tuple[EntryId, int] | None = None


class AgentFolder:
    """Per-agent state of one node, fed in queue_log order."""

    def __init__(self, node: str, *, acw_reason: str = "acw", link_window_s: int = 5) -> None:
        self._node = node
        self._acw_reason = acw_reason
        self._link_window_s = link_window_s
        self._agents: dict[str, _Agent] = {}
        self.orphans = 0
        """REMOVEMEMBER without a session, and similar lines with nothing to close."""

    def _agent(self, agent: str) -> _Agent:
        return self._agents.setdefault(agent, _Agent())

    def pause(self, agent: str, reason: str, at: int) -> list[Fact]:
        state = self._agent(agent)
        if state.pause is not None and state.pause.reason == reason:
            return []
        facts: list[Fact] = []
        if state.pause is not None:
            facts += self._end_pause(state, at, AcwEnd.REASON_CHANGE)
        state.pause = AgentStateInterval(self._node, agent, AgentState.PAUSED, reason, at)
        facts.append(state.pause)
        if reason == self._acw_reason:
            facts.append(self._start_acw(state, agent, at))
        return facts

    def unpause(self, agent: str, at: int) -> list[Fact]:
        state = self._agent(agent)
        if state.pause is None:
            # Asterisk logs UNPAUSE for members that were not paused.
            return []
        return self._end_pause(state, at, AcwEnd.UNPAUSE)

    def add_member(self, agent: str, queue: str, at: int, *, paused: bool) -> list[Fact]:
        state = self._agent(agent)
        facts: list[Fact] = []
        if queue not in state.sessions:
            state.sessions[queue] = AgentSession(self._node, agent, queue, at)
            facts.append(state.sessions[queue])
        if paused and state.pause is None:
            # Joined paused (persistent member, AddQueueMember paused): reason unknown.
            facts += self.pause(agent, "", at)
        return facts

    def remove_member(self, agent: str, queue: str, at: int) -> list[Fact]:
        state = self._agent(agent)
        facts: list[Fact] = []
        session = state.sessions.pop(queue, None)
        if session is None:
            self.orphans += 1
        else:
            facts.append(replace(session, ended_at=at))
        if not state.sessions and state.pause is not None:
            facts += self._end_pause(state, at, AcwEnd.LOGOFF)
        return facts

    def call_answered(self, agent: str, entry: EntryId) -> None:
        state = self._agent(agent)
        state.talking = entry
        # A new call means the previous one had no ACW of its own.
        state.last_completed = None

    def call_completed(self, agent: str, entry: EntryId, at: int) -> list[Fact]:
        state = self._agent(agent)
        if state.talking == entry:
            state.talking = None
        acw = state.acw
        if acw is not None and acw.callid is None and self._within_window(acw.started_at, at):
            state.acw = _linked(acw, entry)
            return [state.acw]
        state.last_completed = (entry, at)
        return []

    def _within_window(self, earlier: int, later: int) -> bool:
        return 0 <= later - earlier <= self._link_window_s

    def _start_acw(self, state: _Agent, agent: str, at: int) -> AcwInterval:
        acw = AcwInterval(self._node, agent, at)
        completed = state.last_completed
        if completed is not None and self._within_window(completed[1], at):
            acw = _linked(acw, completed[0])
            state.last_completed = None
        state.acw = acw
        return acw

    def _end_pause(self, state: _Agent, at: int, cause: AcwEnd) -> list[Fact]:
        facts: list[Fact] = []
        if state.pause is not None:
            facts.append(replace(state.pause, ended_at=at))
            state.pause = None
        if state.acw is not None:
            facts.append(replace(state.acw, ended_at=at, ended_by=cause))
            state.acw = None
        return facts


def _linked(acw: AcwInterval, entry: EntryId) -> AcwInterval:
    callid, queue, seq = entry
    return replace(acw, callid=callid, queue=queue, seq=seq)
